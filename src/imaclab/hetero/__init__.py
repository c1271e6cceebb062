"""imaclab.hetero: TPU-IMAC -- a network split between a systolic array and IMAC crossbars,
costed against a TPU-only baseline (latency, throughput, memory, energy, accuracy).

    from imaclab.hetero import HeteroJob, run
    result = run(HeteroJob(checkpoint="runs/mobilenet-v2", tpu="edge"), out_dir="out/hetero")
    result.summary()["speedup"]

Modules: :mod:`.api` (the jobs, ``run`` and the results), :mod:`.layers` (tracing a model into
layers), :mod:`.config` (parameters and their sources), :mod:`.mapping` (placement, hand-offs,
lowering to the systolic room), :mod:`.costs` (the cost model), :mod:`.imac_part` (the IMAC
room's measurements), :mod:`.evaluate` (the pipeline's steps).  See docs/tpu-imac.md.
"""

from imaclab.hetero.api import CompareResult, HeteroCompareJob, HeteroJob, HeteroResult, run
from imaclab.hetero.config import (
                                   AccuracyConfig,
                                   ConverterConfig,
                                   EnergyTable,
                                   HandoffConfig,
                                   HeteroConfig,
                                   horowitz_sram_pj_per_byte,
                                   imac_config_for_model,
)
from imaclab.hetero.costs import (
                                   DesignCost,
                                   ImacLayerMeasurement,
                                   LayerCost,
                                   handoff_cost,
                                   imac_layer_cost,
                                   total_cost,
                                   tpu_layer_cost,
                                   vector_layer_cost,
)
from imaclab.hetero.evaluate import DesignComparison, cost_design, cost_designs, design_ratios
from imaclab.hetero.layers import LayerSpec, extract_layers, layer_counts
from imaclab.hetero.mapping import DesignMapping, Handoff, MappedLayer, map_design, systolic_layer

__all__ = ["AccuracyConfig", "CompareResult", "ConverterConfig", "DesignComparison", "DesignCost", "DesignMapping",
           "EnergyTable", "Handoff", "HandoffConfig", "HeteroCompareJob", "HeteroConfig", "HeteroJob", "HeteroResult",
           "ImacLayerMeasurement", "LayerCost", "LayerSpec", "MappedLayer", "cost_design", "cost_designs",
           "design_ratios", "extract_layers", "handoff_cost", "horowitz_sram_pj_per_byte", "imac_config_for_model",
           "imac_layer_cost", "layer_counts", "map_design", "run", "systolic_layer", "total_cost", "tpu_layer_cost",
           "vector_layer_cost"]
