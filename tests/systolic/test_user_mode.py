"""SCALE-Sim 2.0.2's USER mode (a fixed DRAM bandwidth): live cross-checks, every figure exact.

Default run: 60 generated layers -- 3 dataflows x 4 array shapes (7x13, 13x7, 24x24, 8x4) x
5 layers (a GEMV, a GEMM larger than the array, a small GEMM, a convolution and a strided
convolution whose windows overhang the IFMAP), with 1-8 kB SRAMs and bandwidths 1, 2, 4 and 10
words/cycle (each bandwidth with each dataflow).  ``slow``: larger layers, depthwise layers,
bandwidths up to 64.  Compared exactly: total and stall cycles, utilizations, mapping
efficiency, SRAM and DRAM accesses per operand, their start/stop cycles and average bandwidths.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from imaclab.systolic import (
    ConvLayer,
    DepthwiseConvLayer,
    GemmLayer,
    SystolicConfig,
    reference,
    simulate_layer,
    simulate_topology,
)
from imaclab.systolic.model import compute_cycles

import scalesim.scale_sim  # noqa: E402,F401  the live reference (test extra): a missing SCALE-Sim fails, never skips

OPERANDS = ("ifmap", "filter", "ofmap")
EXACT = ["total_cycles", "stall_cycles", "mapping_efficiency_pct", "compute_util_pct", "overall_util_pct",
         "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
         "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
         *(f"{mem}_{op}_{edge}_cycle" for mem in ("sram", "dram") for op in OPERANDS for edge in ("start", "stop"))]


def check_user_mode(cfg: SystolicConfig, layers) -> int:
    """Assert imaclab's USER-mode reports equal SCALE-Sim's in every figure; returns the layers compared."""
    ours = simulate_topology(cfg, layers)
    theirs = reference.run_scalesim(cfg, layers)
    assert len(ours) == len(theirs) == len(layers)
    for layer, mine, ref in zip(layers, ours, theirs):
        where = (f"{cfg.dataflow} {cfg.array_rows}x{cfg.array_cols} bw={cfg.dram_bandwidth_words_per_cycle} "
                 f"sram={cfg.ifmap_sram_kb}/{cfg.filter_sram_kb}/{cfg.ofmap_sram_kb} kB {layer!r}")
        for field in EXACT:
            assert getattr(mine, field) == ref[field], f"{field}: {getattr(mine, field)} vs {ref[field]} {where}"
        for op in OPERANDS:
            assert mine.avg_sram_bw(op) == ref[f"avg_sram_{op}_bw"], f"avg SRAM BW {op} {where}"
            assert mine.avg_dram_bw(op) == ref[f"avg_dram_{op}_bw"], f"avg DRAM BW {op} {where}"
        assert mine.bandwidth_mode == "USER"
    return len(layers)


def user_layers(rng: random.Random, rows: int, cols: int) -> list:
    big = max(rows, cols) + 1
    return [
        GemmLayer(name="gemv", m=1, n=rng.randint(big, 2 * big), k=rng.randint(big, 2 * big)),
        GemmLayer(name="gemm", m=rng.randint(big, 2 * big), n=rng.randint(big, 2 * big), k=rng.randint(8, 40)),
        GemmLayer(name="small", m=rng.randint(1, rows), n=rng.randint(1, cols), k=rng.randint(1, 6)),
        ConvLayer(name="conv", ifmap_height=rng.randint(5, 9), ifmap_width=rng.randint(5, 9), filter_height=3,
                  filter_width=rng.randint(2, 3), channels=rng.randint(2, 5), num_filters=rng.randint(4, big)),
        ConvLayer(name="strided", ifmap_height=rng.randint(7, 11), ifmap_width=rng.randint(7, 11), filter_height=2,
                  filter_width=3, channels=rng.randint(1, 4), num_filters=rng.randint(1, big), stride_height=2,
                  stride_width=rng.randint(2, 3)),
    ]


SHAPES = [(7, 13), (13, 7), (24, 24), (8, 4)]
BANDWIDTHS = (1, 2, 4, 10)
DATAFLOWS = ("os", "ws", "is")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_user_mode_equals_scalesim(dataflow, shape):
    rows, cols = shape
    rng = random.Random(f"user-{dataflow}{rows}x{cols}")
    bw = BANDWIDTHS[(SHAPES.index(shape) + DATAFLOWS.index(dataflow)) % len(BANDWIDTHS)]
    cfg = SystolicConfig(array_rows=rows, array_cols=cols, dataflow=dataflow, dram_bandwidth_words_per_cycle=bw,
                         ifmap_sram_kb=rng.choice([1, 2, 4, 8]), filter_sram_kb=rng.choice([1, 2, 4]),
                         ofmap_sram_kb=rng.choice([1, 2, 8]))
    assert check_user_mode(cfg, user_layers(rng, rows, cols)) == 5


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("bw", [1, 3, 16, 64])
def test_user_mode_larger_layers(dataflow, bw):
    rng = random.Random(f"user-slow-{dataflow}{bw}")
    rows, cols = rng.choice([(16, 16), (12, 20), (32, 8), (9, 9)])
    cfg = SystolicConfig(array_rows=rows, array_cols=cols, dataflow=dataflow, dram_bandwidth_words_per_cycle=bw,
                         ifmap_sram_kb=rng.choice([1, 2, 8]), filter_sram_kb=rng.choice([1, 4, 8]),
                         ofmap_sram_kb=rng.choice([1, 2, 4]))
    layers = user_layers(rng, rows, cols) + [
        ConvLayer(name="conv5", ifmap_height=15, ifmap_width=14, filter_height=5, filter_width=5, channels=3,
                  num_filters=rng.randint(8, 40), stride_height=2, stride_width=2),
        ConvLayer(name="pointwise", ifmap_height=9, ifmap_width=9, filter_height=1, filter_width=1, channels=24,
                  num_filters=rng.randint(8, 40)),
        DepthwiseConvLayer(name="dw", ifmap_height=8, ifmap_width=8, filter_height=3, filter_width=3, channels=3,
                           multiplier=2),
        GemmLayer(name="gemm_big", m=rng.randint(40, 90), n=rng.randint(40, 90), k=rng.randint(40, 90)),
    ]
    check_user_mode(cfg, layers)


def test_user_cfg_selects_scalesim_model(tmp_path):
    path = tmp_path / "user.cfg"
    SystolicConfig(array_rows=8, array_cols=8, dram_bandwidth_words_per_cycle=4).to_scalesim_cfg(path)
    cfg = SystolicConfig.from_scalesim_cfg(path)
    assert cfg.dram_bandwidth_words_per_cycle == 4 and cfg.dram_model == "scalesim"


def test_bound_model_is_an_explicit_option():
    base = SystolicConfig(array_rows=8, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1,
                          dram_bandwidth_words_per_cycle=2)
    conv = ConvLayer(name="c", ifmap_height=12, ifmap_width=12, filter_height=3, filter_width=3, channels=8,
                     num_filters=16)
    scalesim = simulate_layer(base, conv)
    bound = simulate_layer(base.with_overrides({"dram_model": "bound"}), conv)
    # SCALE-Sim's buffer re-fetches in prefetch order: more DRAM words than the CALC traffic the bound streams
    assert scalesim.dram_ifmap_reads > bound.dram_ifmap_reads
    calc = simulate_layer(base.with_overrides({"dram_bandwidth_words_per_cycle": None}), conv)
    assert bound.dram_ifmap_reads == calc.dram_ifmap_reads
    assert bound.total_cycles - bound.stall_cycles == calc.total_cycles


def test_compute_cycles_user_mode():
    cfg = SystolicConfig(array_rows=7, array_cols=13, dataflow="ws", ifmap_sram_kb=1, filter_sram_kb=1,
                         ofmap_sram_kb=1, dram_bandwidth_words_per_cycle=2)
    m, n, k = np.array([3, 20, 3]), np.array([30, 5, 30]), np.array([17, 40, 17])
    expected = [simulate_layer(cfg, GemmLayer(name="g", m=int(a), n=int(b), k=int(c))).total_cycles
                for a, b, c in zip(m, n, k)]
    assert compute_cycles(cfg, m, n, k).tolist() == expected


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_walk_equals_explicit_streams(dataflow):
    """The in-place walk (fold skipping, pass replay, cell-first lookups; sets from the prefetch walk or in
    closed form with runs of hits skipped) equals the read buffer replayed over explicitly built prefetch
    and demand streams."""
    from imaclab.systolic.buffers import UserReadBuffer, user_reads, user_reads_walk
    from imaclab.systolic.model import _unique_addresses
    from imaclab.systolic.operands import OperandLayout, demand_stream, fetch_sequence, operand_im2col
    from imaclab.systolic.schedule import fold_geometry

    layers = [GemmLayer(name="g", m=70, n=45, k=33), GemmLayer(name="v", m=1, n=90, k=40),
              GemmLayer(name="h", m=71, n=47, k=29),
              ConvLayer(name="c", ifmap_height=13, ifmap_width=12, filter_height=3, filter_width=3, channels=5,
                        num_filters=20, stride_height=2, stride_width=1),
              ConvLayer(name="p", ifmap_height=6, ifmap_width=6, filter_height=1, filter_width=1, channels=30,
                        num_filters=9)]
    for layer in layers:
        m, n, k = layer.gemm_dims()
        geom = fold_geometry(dataflow, 7, 5, m, n, k)
        im2col = operand_im2col(layer)
        for op in ("ifmap", "filter"):
            layout = OperandLayout(geom, op)
            for words, bw in ((300, 1), (1024, 3), (2048, 10)):
                buffer = UserReadBuffer(words, bw)
                fetch, elements = fetch_sequence(layout, im2col, k)
                demand, lines = demand_stream(layout, layer, im2col)
                addresses = int(max(fetch.max(initial=0), demand.max(initial=0))) + 1
                ref = user_reads(buffer, fetch, elements, demand, lines, addresses)
                for closed_form in (True, False):     # sets in closed form (runs of hits skipped) / walked
                    got = user_reads_walk(buffer, layout, im2col, k, _unique_addresses(layer), layer, closed_form)
                    where = (layer.name, op, words, closed_form)
                    assert got.event_lines.tolist() == ref.event_lines.tolist(), where
                    assert got.event_prefetches.tolist() == ref.event_prefetches.tolist(), where
                    assert (got.dram_reads, got.start_cycle, got.stop_cycle, got.first_line, got.last_line) == \
                           (ref.dram_reads, ref.start_cycle, ref.stop_cycle, ref.first_line, ref.last_line), where
