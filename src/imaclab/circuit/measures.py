"""What a simulation of a circuit measures per sample, whichever backend produced it.

ngspice (`imaclab.spice.runner.SpiceResult`) and the fast solver
(`imaclab.solver.forward.SolverResult`) both return these fields, so the IMAC room evaluates
either without knowing which ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np


@dataclass(kw_only=True)
class CircuitMeasures:
    """Per-sample measures of one run over ``n`` samples (NaN where a sample failed)."""

    outputs: np.ndarray                      # [n, n_outputs] volts
    power_w: dict[str, np.ndarray]           # component -> [n] watts
    latency_s: np.ndarray                    # [n] seconds (NaN when not measured)
    ok: np.ndarray                           # [n] bool
    wall_s: float = 0.0                      # wall-clock time of the run, seconds
    analysis: str = ""                       # dc | tran (ngspice) or fast
    errors: list[str] = field(default_factory=list)
    batches: list = field(default_factory=list)     # ngspice: one outcome per netlist
    netlists: list = field(default_factory=list)    # ngspice: the netlist files
    ngspice_s: float = 0.0                   # summed ngspice wall time, seconds
    ngspice_cpu_s: float = 0.0               # summed ngspice CPU time (user + system), seconds

    @property
    def total_power_w(self) -> np.ndarray:
        return cast(np.ndarray, sum(self.power_w.values()))  # every component is an [n] array

    @property
    def n_failed(self) -> int:
        return int((~self.ok).sum())

    def to_dict(self) -> dict:
        return {"analysis": self.analysis, "samples": int(self.ok.size), "failed": self.n_failed,
                "ngspice_s": self.ngspice_s, "ngspice_cpu_s": self.ngspice_cpu_s, "wall_s": self.wall_s,
                "errors": self.errors, "netlists": [str(p) for p in self.netlists]}
