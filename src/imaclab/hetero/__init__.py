"""imaclab.hetero: TPU-IMAC -- a network split between a systolic array and IMAC crossbars,
costed against a TPU-only baseline (latency, throughput, memory, energy, accuracy).

    from imaclab.hetero import HeteroConfig, evaluate_run, compare_runs, cost_designs, extract_layers
    result = evaluate_run(checkpoint="runs/mobilenet-v2", config=HeteroConfig(tpu="edge"), out_dir="out/hetero")
    result.summary()["speedup"]

Modules: :mod:`.layers` (tracing a model into layers), :mod:`.config` (parameters and their
sources), :mod:`.mapping` (placement, hand-offs, lowering to the systolic room),
:mod:`.costs` (the cost model), :mod:`.imac_part` (the IMAC room's measurements),
:mod:`.evaluate` (the pipeline and its files).  See docs/tpu-imac.md.
"""

from imaclab.hetero.config import (AccuracyConfig, ConverterConfig, EnergyTable, HandoffConfig, HeteroConfig,
                                   hetero_config, horowitz_sram_pj_per_byte, imac_config_for_model)
from imaclab.hetero.costs import (DesignCost, ImacLayerMeasurement, LayerCost, handoff_cost, imac_layer_cost,
                                  total_cost, tpu_layer_cost, vector_layer_cost)
from imaclab.hetero.evaluate import (CompareResult, DesignComparison, HeteroResult, compare_runs, cost_design,
                                     cost_designs, design_ratios, evaluate_run)
from imaclab.hetero.layers import LayerSpec, extract_layers, layer_counts
from imaclab.hetero.mapping import DesignMapping, Handoff, MappedLayer, map_design, systolic_layer

__all__ = ["AccuracyConfig", "CompareResult", "ConverterConfig", "DesignComparison", "DesignCost", "DesignMapping",
           "EnergyTable", "Handoff", "HandoffConfig", "HeteroConfig", "HeteroResult", "ImacLayerMeasurement",
           "LayerCost", "LayerSpec", "MappedLayer", "compare_runs", "cost_design", "cost_designs", "design_ratios",
           "evaluate_run", "extract_layers", "handoff_cost", "hetero_config", "horowitz_sram_pj_per_byte", "imac_config_for_model",
           "imac_layer_cost", "layer_counts", "map_design", "systolic_layer", "total_cost", "tpu_layer_cost",
           "vector_layer_cost"]
