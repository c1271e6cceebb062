"""imaclab.spice: run circuit descriptions through ngspice (batches, parallel, raw parsing, measures).

    from imaclab.spice import SpiceOptions, run_spice
"""

from imaclab.devices.ngspice_io import RawPlot, find_ngspice, read_raw, run_ngspice
from imaclab.spice.runner import POWER_COMPONENTS, SpiceInterrupted, SpiceOptions, SpiceResult, run_spice, settling_time

__all__ = ["POWER_COMPONENTS", "RawPlot", "SpiceInterrupted", "SpiceOptions", "SpiceResult", "find_ngspice",
           "read_raw", "run_ngspice", "run_spice", "settling_time"]
