"""imaclab.imac: evaluate an MLP on IMAC -- accuracy, power, latency, area; backend spice | fast.

    from imaclab.imac import ImacJob, run
    result = run(ImacJob(model="model.npz", data="digits"), out_dir="runs/x")   # files in, a result out
    result.accuracy, result.metrics()["mean_power_w"]

    from imaclab.imac import ImacConfig, evaluate, load_mlp                     # in memory
    result = evaluate(config=ImacConfig(), model=load_mlp("model.npz"), dataset=(x, y))

Jobs: :class:`ImacJob` (``imac run``), :class:`ValidateJob` (``imac validate``),
:class:`NetlistJob` (``imac netlist``), :class:`NeuronJob` (``imac neuron``); results:
:class:`ImacResult`, :class:`ValidateResult`, :class:`NetlistResult`, :class:`NeuronCurveResult`.
:class:`DriftJob` (``imac run --at 1s,1h,1d --trials N``): accuracy over time after programming,
:class:`DriftResult`.
"""

from imaclab.circuit.mlp import MLPModel
from imaclab.imac.api import ImacJob, NetlistJob, NetlistResult, NeuronCurveResult, NeuronJob, ValidateJob, run
from imaclab.imac.area import AreaReport, circuit_area
from imaclab.imac.config import AreaConfig, ConverterConfig, FastConfig, ImacConfig, SimulationConfig
from imaclab.imac.drift import DriftJob, DriftResult
from imaclab.imac.evaluate import ImacResult, evaluate
from imaclab.imac.model_io import load_mlp, save_npz
from imaclab.imac.validate import ValidateResult

__all__ = ["AreaConfig", "AreaReport", "ConverterConfig", "DriftJob", "DriftResult", "FastConfig", "ImacConfig",
           "ImacJob", "ImacResult", "MLPModel", "NetlistJob", "NetlistResult", "NeuronCurveResult", "NeuronJob",
           "SimulationConfig", "ValidateJob", "ValidateResult", "circuit_area", "evaluate", "load_mlp", "run",
           "save_npz"]
