"""Live cross-check against SCALE-Sim v2.0.2 run in-process on generated layers.

Default run: 45 tiny layers (3 dataflows x 3 array shapes x 5 layers: GEMMs with
M = 1, layers larger than the array in every dimension, strided convolutions),
with 1-2 kB SRAMs so the buffers swap and drain many times.  ``slow``: larger
layers on 32x32 and non-square arrays, depthwise layers, USER-less CALC mode.

Exact: total cycles, stall cycles, mapping efficiency, compute and overall
utilization, SRAM reads/writes and their start/stop cycles.  DRAM reads/writes
within 2 % (the DRAM trace window is then compared exactly when the counts are).
"""

from __future__ import annotations

import random

import pytest

import scalesim.scale_sim  # noqa: F401  the live reference, a test dependency: never skipped

from imaclab.systolic import ConvLayer, DepthwiseConvLayer, GemmLayer, SystolicConfig, reference, simulate_topology

EXACT = ["total_cycles", "stall_cycles", "mapping_efficiency_pct", "compute_util_pct", "overall_util_pct",
         "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
         "sram_ifmap_start_cycle", "sram_ifmap_stop_cycle", "sram_filter_start_cycle", "sram_filter_stop_cycle",
         "sram_ofmap_start_cycle", "sram_ofmap_stop_cycle"]
DRAM = {"dram_ifmap_reads": "ifmap", "dram_filter_reads": "filter", "dram_ofmap_writes": "ofmap"}
DRAM_TOLERANCE = 0.02


def check_against_scalesim(cfg: SystolicConfig, layers) -> int:
    """Assert our reports equal SCALE-Sim's; returns the number of layers compared."""
    ours = simulate_topology(cfg, layers)
    theirs = reference.run_scalesim(cfg, layers)
    assert len(ours) == len(theirs) == len(layers)
    for layer, mine, ref in zip(layers, ours, theirs):
        where = f"{cfg.dataflow} {cfg.array_rows}x{cfg.array_cols} {layer!r}"
        for field in EXACT:
            assert getattr(mine, field) == ref[field], f"{field} {where}"
        for field, operand in DRAM.items():
            value, expected = getattr(mine, field), ref[field]
            assert abs(value - expected) <= DRAM_TOLERANCE * expected, f"{field} {value} vs {expected} {where}"
            if value == expected:
                for edge in ("start_cycle", "stop_cycle"):
                    name = f"dram_{operand}_{edge}"
                    assert getattr(mine, name) == ref[name], f"{name} {where}"
                assert mine.avg_dram_bw(operand) == ref[f"avg_dram_{operand}_bw"], f"avg DRAM BW {operand} {where}"
        for operand in ("ifmap", "filter", "ofmap"):
            assert mine.avg_sram_bw(operand) == ref[f"avg_sram_{operand}_bw"]
    return len(layers)


def tiny_layers(rng: random.Random, rows: int, cols: int) -> list:
    big = max(rows, cols) + 1
    return [
        GemmLayer(name="gemv", m=1, n=rng.randint(big, 3 * big), k=rng.randint(big, 3 * big)),
        GemmLayer(name="gemm", m=rng.randint(big, 4 * big), n=rng.randint(big, 4 * big), k=rng.randint(big, 4 * big)),
        GemmLayer(name="small", m=rng.randint(1, rows), n=rng.randint(1, cols), k=rng.randint(1, 6)),
        ConvLayer(name="conv", ifmap_height=rng.randint(6, 12), ifmap_width=rng.randint(6, 12), filter_height=3,
                  filter_width=rng.randint(2, 3), channels=rng.randint(2, 6), num_filters=rng.randint(big, 2 * big)),
        ConvLayer(name="strided", ifmap_height=rng.randint(7, 13), ifmap_width=rng.randint(7, 13), filter_height=2,
                  filter_width=3, channels=rng.randint(1, 5), num_filters=rng.randint(1, 2 * big), stride_height=2,
                  stride_width=rng.randint(1, 3)),
    ]


SHAPES = [(4, 4), (8, 4), (3, 5)]


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_tiny_layers_equal_scalesim(dataflow, shape):
    rows, cols = shape
    rng = random.Random(f"{dataflow}{rows}x{cols}")
    cfg = SystolicConfig(array_rows=rows, array_cols=cols, dataflow=dataflow, ifmap_sram_kb=1,
                         filter_sram_kb=1, ofmap_sram_kb=rng.choice([1, 2]))
    assert check_against_scalesim(cfg, tiny_layers(rng, rows, cols)) == 5


def test_regression_cases_equal_scalesim():
    """Cases that once differed: folds with equal OFMAP word counts but different shapes (8x3 vs 6x4)."""
    cfg = SystolicConfig(array_rows=8, array_cols=4, dataflow="os", ifmap_sram_kb=4, filter_sram_kb=1,
                         ofmap_sram_kb=1)
    conv = ConvLayer(name="c0", ifmap_height=8, ifmap_width=19, filter_height=4, filter_width=2, channels=7,
                     num_filters=19, stride_height=2, stride_width=2)
    assert check_against_scalesim(cfg, [conv]) == 1


SLOW_SHAPES = [(32, 32), (16, 8), (8, 32), (12, 14)]


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("shape", SLOW_SHAPES, ids=[f"{r}x{c}" for r, c in SLOW_SHAPES])
def test_larger_layers_equal_scalesim(dataflow, shape):
    rows, cols = shape
    rng = random.Random(f"slow{dataflow}{rows}x{cols}")
    cfg = SystolicConfig(array_rows=rows, array_cols=cols, dataflow=dataflow, ifmap_sram_kb=rng.choice([2, 8]),
                         filter_sram_kb=rng.choice([1, 4]), ofmap_sram_kb=rng.choice([1, 4]))
    big = 2 * max(rows, cols) + 3
    layers = [
        GemmLayer(name="gemv", m=1, n=rng.randint(big, 2 * big), k=rng.randint(big, 2 * big)),
        GemmLayer(name="gemm", m=rng.randint(big, 2 * big), n=rng.randint(big, 2 * big), k=rng.randint(big, 2 * big)),
        ConvLayer(name="conv3x3", ifmap_height=18, ifmap_width=rng.randint(14, 20), filter_height=3, filter_width=3,
                  channels=rng.randint(8, 24), num_filters=rng.randint(big, 2 * big)),
        ConvLayer(name="conv5x5s2", ifmap_height=rng.randint(15, 21), ifmap_width=17, filter_height=5, filter_width=5,
                  channels=rng.randint(3, 8), num_filters=rng.randint(cols, 2 * cols), stride_height=2,
                  stride_width=2),
        ConvLayer(name="pointwise", ifmap_height=9, ifmap_width=9, filter_height=1, filter_width=1,
                  channels=rng.randint(rows, 3 * rows), num_filters=rng.randint(cols, 3 * cols)),
        DepthwiseConvLayer(name="dw_DP", ifmap_height=10, ifmap_width=10, filter_height=3, filter_width=3,
                           channels=3, multiplier=rng.randint(1, 2)),
    ]
    check_against_scalesim(cfg, layers)
