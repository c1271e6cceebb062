"""Systolic-array (TPU) performance model equal to SCALE-Sim v2.0.2, without walking cycles.

>>> from imaclab.systolic import TpuJob, run
>>> result = run(TpuJob(systolic="edge-32x32", topology="resnet18"))    # one topology on one array
>>> from imaclab.systolic import SystolicConfig, GemmLayer, simulate_layer, compute_cycles
>>> cfg = SystolicConfig.preset("edge-32x32")
>>> simulate_layer(cfg, GemmLayer(name="q_proj", m=1, n=4096, k=4096)).total_cycles
>>> compute_cycles(cfg, [1, 128], [4096, 4096], [4096, 4096])

Modules: :mod:`.api` (the job :class:`TpuJob`, :func:`run`, :class:`TpuResult`),
:mod:`.config` (array configs, SCALE-Sim .cfg, presets), :mod:`.layers`
(GEMM / conv / depthwise layers and their lowering), :mod:`.topology` (SCALE-Sim
CSVs), :mod:`.schedule` (fold schedule, closed forms), :mod:`.buffers` (SRAM/DRAM
buffer models), :mod:`.model` (simulation entry points), :mod:`.report`
(results and SCALE-Sim's CSV reports), :mod:`.reference` (running SCALE-Sim itself).
"""

from imaclab.systolic.api import TpuJob, TpuResult, run  # noqa: E402  (api imports the modules above)
from imaclab.systolic.config import SystolicConfig
from imaclab.systolic.layers import ConvLayer, DepthwiseConvLayer, GemmLayer, Layer, layer_from_dict
from imaclab.systolic.model import compute_cycles, simulate_layer, simulate_topology
from imaclab.systolic.report import LayerReport, summarize, write_reports
from imaclab.systolic.topology import load_topology, save_topology

__all__ = [
    "SystolicConfig", "GemmLayer", "ConvLayer", "DepthwiseConvLayer", "Layer", "layer_from_dict",
    "simulate_layer", "simulate_topology", "compute_cycles", "LayerReport", "summarize", "write_reports",
    "load_topology", "save_topology", "TpuJob", "TpuResult", "run",
]
