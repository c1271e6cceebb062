"""imaclab.devices: memristor levels, variation and faults; wire R/C; neurons; input drivers.

Other rooms import from here::

    from imaclab.devices import (NeuronConfig, NeuronCurve, load_neuron_curve,
                                 encode_inputs, bias_voltage, ideal_column_gain)
"""

from imaclab.devices.column import delta_conductance_s, ideal_column_gain, mid_conductance_s, transimpedance_ohm
from imaclab.devices.inputs import InputConfig, bias_voltage, encode_inputs
from imaclab.devices.memristor import DeviceConfig, map_conductances, quantize_weights
from imaclab.devices.neuron import (
                                    NeuronConfig,
                                    NeuronCurve,
                                    behavioral_curve,
                                    calibrate_offset,
                                    load_neuron_curve,
                                    row_load_ohm,
)
from imaclab.devices.transistors import TransistorModelConfig, sky130_available
from imaclab.devices.wires import WireConfig, segment_parasitics

__all__ = ["DeviceConfig", "InputConfig", "NeuronConfig", "NeuronCurve", "TransistorModelConfig", "WireConfig",
           "behavioral_curve", "bias_voltage", "calibrate_offset", "delta_conductance_s", "encode_inputs",
           "ideal_column_gain", "load_neuron_curve", "map_conductances", "mid_conductance_s", "quantize_weights",
           "row_load_ohm", "segment_parasitics", "sky130_available", "transimpedance_ohm"]
