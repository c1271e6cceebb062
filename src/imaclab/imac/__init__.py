"""imaclab.imac: evaluate an MLP on IMAC -- accuracy, power, latency, area; backend spice | fast.

    from imaclab.imac import ImacConfig, evaluate, load_mlp
    result = evaluate(config=ImacConfig(), model=load_mlp("model.npz"), dataset=data)
"""

from imaclab.circuit.mlp import MLPModel
from imaclab.imac.api import build_config, run_files
from imaclab.imac.area import AreaReport, circuit_area
from imaclab.imac.config import AreaConfig, ImacConfig, SimulationConfig
from imaclab.imac.evaluate import ImacResult, evaluate
from imaclab.imac.model_io import load_mlp, save_npz

__all__ = ["AreaConfig", "AreaReport", "ImacConfig", "ImacResult", "MLPModel", "SimulationConfig", "build_config", "circuit_area",
           "evaluate", "load_mlp", "run_files", "save_npz"]
