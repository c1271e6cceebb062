"""Closed forms and properties of the model (no SCALE-Sim needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imaclab.systolic import (ConvLayer, DepthwiseConvLayer, GemmLayer, SystolicConfig, compute_cycles,
                              simulate_layer, simulate_topology, write_reports)
from imaclab.systolic.report import COMPUTE_HEADER, DETAIL_HEADER, read_scalesim_csv
from imaclab.systolic.schedule import fold_geometry, mapping_efficiency_closed_form, per_fold_efficiencies


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_compute_cycles_vectorized_equals_simulate_layer(dataflow):
    rng = np.random.default_rng(7)
    cfg = SystolicConfig(array_rows=8, array_cols=5, dataflow=dataflow)
    m, n, k = (rng.integers(1, 70, size=12) for _ in range(3))
    m[0] = 1                                                   # a GEMV
    cycles = compute_cycles(cfg, m, n, k)
    assert cycles.dtype == np.int64 and cycles.shape == (12,)
    for i in range(12):
        assert cycles[i] == simulate_layer(cfg, GemmLayer(m=int(m[i]), n=int(n[i]), k=int(k[i]))).total_cycles


def test_cycle_formulas_by_hand():
    # os: folds x (K + R + C - 2) - 1 ; 4x8 array, M=N=K=64: 16 x 8 folds of 64 + 10 lines
    assert compute_cycles(SystolicConfig(array_rows=4, array_cols=8, dataflow="os"), 64, 64, 64) == 128 * 74 - 1
    # ws: folds x (2R + C + M - 2) - 1 ; ceil(11/8) x ceil(17/4) folds of 16 + 4 + 30 - 2
    assert compute_cycles(SystolicConfig(array_rows=8, array_cols=4, dataflow="ws"), 30, 17, 11) == 10 * 48 - 1
    # is: folds over K x M, N streamed
    assert compute_cycles(SystolicConfig(array_rows=8, array_cols=4, dataflow="is"), 30, 17, 11) == 2 * 8 * 35 - 1


def test_gemv_on_large_array_maps_badly_in_os():
    cfg = SystolicConfig.preset("cloud-128x128").with_overrides({"dataflow": "os"})
    rep = simulate_layer(cfg, GemmLayer(name="q_proj", m=1, n=4096, k=4096))
    assert rep.mapping_efficiency == pytest.approx(1 / 128)
    assert rep.overall_utilization < rep.mapping_efficiency


def test_mapping_efficiency_sequential_sum_matches_closed_form():
    geom = fold_geometry("ws", 7, 9, 100, 50, 33)
    mapping, util = per_fold_efficiencies(geom)
    assert mapping == pytest.approx(float(mapping_efficiency_closed_form(geom)), rel=1e-12)
    assert 0 < util < mapping <= 1


def test_depthwise_is_channels_times_one_channel():
    cfg = SystolicConfig(array_rows=8, array_cols=8, dataflow="ws", ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1)
    dw = DepthwiseConvLayer(name="dw", ifmap_height=12, ifmap_width=12, filter_height=3, filter_width=3,
                            channels=16, multiplier=2)
    one = simulate_layer(cfg, dw.per_channel())
    rep = simulate_layer(cfg, dw)
    assert rep.total_cycles == 16 * one.total_cycles and rep.macs == 16 * one.macs
    assert rep.dram_ifmap_reads == 16 * one.dram_ifmap_reads
    assert rep.mapping_efficiency == one.mapping_efficiency
    assert rep.avg_dram_bw("ifmap") == pytest.approx(one.avg_dram_bw("ifmap"))


def test_pointwise_conv_equals_its_gemm():
    cfg = SystolicConfig(array_rows=8, array_cols=4, dataflow="os", ifmap_sram_kb=1)
    conv = ConvLayer(name="pw", ifmap_height=7, ifmap_width=9, filter_height=1, filter_width=1, channels=20,
                     num_filters=13)
    a, b = simulate_layer(cfg, conv), simulate_layer(cfg, GemmLayer(m=63, n=13, k=20))
    for field in ("total_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "sram_ifmap_reads"):
        assert getattr(a, field) == getattr(b, field)


def test_dram_reads_bounded_by_footprint_and_sram_reads():
    cfg = SystolicConfig(array_rows=16, array_cols=16, dataflow="os", ifmap_sram_kb=2)
    conv = ConvLayer(name="c", ifmap_height=20, ifmap_width=20, filter_height=3, filter_width=3, channels=8,
                     num_filters=40)
    rep = simulate_layer(cfg, conv)
    footprint = 20 * 20 * 8
    assert footprint <= rep.dram_ifmap_reads <= rep.sram_ifmap_reads
    big = simulate_layer(cfg.with_overrides({"ifmap_sram_kb": 64}), conv)
    assert big.dram_ifmap_reads == footprint                  # fits: every pixel fetched exactly once


def test_reports_csv_and_summary(tmp_path):
    cfg = SystolicConfig.preset("edge-32x32")
    reports = simulate_topology(cfg, [GemmLayer(name="a", m=5, n=40, k=33), GemmLayer(name="b", m=1, n=8, k=8)])
    paths = write_reports(reports, tmp_path)
    assert paths["compute"].read_text().splitlines()[0] == ", ".join(COMPUTE_HEADER) + ","
    rows = read_scalesim_csv(paths["detail"])
    assert [int(r["SRAM IFMAP Reads"]) for r in rows] == [r.sram_ifmap_reads for r in reports]
    assert list(rows[0]) == DETAIL_HEADER
    summary = json.loads(paths["summary"].read_text())
    assert summary["totals"]["total_cycles"] == sum(r.total_cycles for r in reports)
    assert summary["layers"][1]["name"] == "b" and summary["layers"][1]["latency_s"] > 0


def test_user_bandwidth_never_faster_than_calc():
    layer = ConvLayer(name="c", ifmap_height=16, ifmap_width=16, filter_height=3, filter_width=3, channels=16,
                      num_filters=32)
    calc = SystolicConfig(array_rows=8, array_cols=8, dataflow="ws", ifmap_sram_kb=1, ofmap_sram_kb=1)
    slow = simulate_layer(calc.with_overrides({"dram_bandwidth_words_per_cycle": 1}), layer)
    fast = simulate_layer(calc.with_overrides({"dram_bandwidth_words_per_cycle": 64}), layer)
    base = simulate_layer(calc, layer)
    assert base.stall_cycles == 0
    assert slow.total_cycles >= fast.total_cycles >= base.total_cycles
    assert slow.stall_cycles > 0 and slow.compute_cycles == base.compute_cycles
    calc_1 = calc.with_overrides({"dram_bandwidth_words_per_cycle": 1})
    assert compute_cycles(calc_1, 5, 6, 7) == simulate_layer(calc_1, GemmLayer(m=5, n=6, k=7)).total_cycles


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_compiled_stream_walk_equals_sorting_the_read_stream(dataflow):
    """ifmap_previous_reads (a compiled walk that computes each read's address on the way) ==
    previous_reads on the explicit address stream (a sort by address), and the compiled miss scan
    == the closed forms where they apply."""
    from imaclab.systolic.buffers import previous_reads, scan_previous_reads
    from imaclab.systolic.operands import Im2col, OperandLayout, ifmap_pass_stream, ifmap_previous_reads

    rng = np.random.default_rng({"os": 1, "ws": 2, "is": 3}[dataflow])
    for case in range(12):
        fh, fw = (int(x) for x in rng.integers(1, 6, size=2))
        sh, sw = (int(x) for x in rng.integers(1, 4, size=2))
        conv = ConvLayer(name="c", ifmap_height=int(rng.integers(fh, 15)), ifmap_width=int(rng.integers(fw, 15)),
                         filter_height=fh, filter_width=fw, channels=int(rng.choice([1, 2, 3, 4, 5, 8])),
                         num_filters=3, stride_height=sh, stride_width=sw)
        m, n, k = conv.gemm_dims()
        layout = OperandLayout(fold_geometry(dataflow, 4 if case % 2 else 3, 3, m, n, k), "ifmap")
        stream, passes = ifmap_pass_stream(layout, Im2col(conv.ifmap_height, conv.ifmap_width, fh, fw, conv.channels,
                                                          sh, sw, conv.ofmap_height, conv.ofmap_width))
        prev_a, first_a, unique_a = previous_reads(stream)
        prev_b, first_b, unique_b, passes_b = ifmap_previous_reads(conv, layout)
        assert passes == passes_b and unique_a == unique_b
        assert set(first_a.tolist()) == set(first_b.tolist())
        assert np.array_equal(prev_a.astype(np.int64), prev_b.astype(np.int64))
        for chunk in (1, 3, max(1, unique_a // 2), unique_a + 1):
            result = scan_previous_reads(prev_b, unique_b, passes, chunk)
            assert result.misses == _misses_by_replay(stream, passes, chunk)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_run_count_equals_the_read_by_read_replay(dataflow):
    """The IFMAP run count of each dataflow (distinct words over runs of contiguous addresses,
    replay in stream order only around swaps, passes stopped once they repeat) == the
    flush-on-full buffer replayed over the explicit stream: misses, every swap position, and the
    first/last real read; convolutions with window padding, strides wider than the filter, many
    passes (filters >> array columns) and chunks from 1 word to more than the layer holds."""
    from imaclab.systolic.buffers import previous_reads, scan_previous_reads
    from imaclab.systolic.operands import (Im2col, OperandLayout, ifmap_pass_stream, stationary_ifmap_misses,
                                           ws_reads_all_miss)
    from imaclab.systolic.operands import ifmap_previous_reads as walk

    rng = np.random.default_rng({"os": 11, "ws": 12, "is": 13}[dataflow])
    passes_seen, closed_form = set(), 0
    for _ in range(40):
        fh, fw = (int(x) for x in rng.integers(1, 6, size=2))
        sh, sw = (int(x) for x in rng.integers(1, 4, size=2))
        cols = int(rng.integers(1, 4))
        conv = ConvLayer(name="c", ifmap_height=int(rng.integers(fh, 15)), ifmap_width=int(rng.integers(fw, 15)),
                         filter_height=fh, filter_width=fw, channels=int(rng.choice([1, 2, 3, 4, 5, 8])),
                         num_filters=int(rng.integers(1, 25)), stride_height=sh, stride_width=sw)
        m, n, k = conv.gemm_dims()
        layout = OperandLayout(fold_geometry(dataflow, int(rng.integers(2, 7)), cols, m, n, k), "ifmap")
        stream, _ = ifmap_pass_stream(layout, Im2col(conv.ifmap_height, conv.ifmap_width, fh, fw, conv.channels,
                                                     sh, sw, conv.ofmap_height, conv.ofmap_width))
        passes = 1 if dataflow == "is" else int(layout.col_fold)
        passes_seen.add(passes)
        prev, _, unique = previous_reads(stream)
        assert np.array_equal(prev.astype(np.int64), walk(conv, layout)[0].astype(np.int64))
        real = np.flatnonzero(stream >= 0)
        for chunk in (1, 2, 7, max(1, unique // 3), max(1, unique // 2), unique, unique + 1):
            reference = _replay(stream, passes, chunk)
            if dataflow == "ws" and np.all(stream >= 0) and ws_reads_all_miss(conv, layout, chunk):
                closed_form += 1        # every read misses: checked against the replay below
                assert reference[0] == passes * stream.size
            for band_reads in (1, 5, 64, 2048):
                misses, swaps, first, last = stationary_ifmap_misses(conv, layout, chunk, band_reads)
                assert (misses, swaps.tolist()) == reference
            if unique >= chunk:     # the compiled scan (passes stopped once they repeat) agrees too
                scanned = scan_previous_reads(prev, unique, passes, chunk)
                assert (scanned.misses, scanned.swap_positions) == (misses, swaps.tolist())
            if real.size:
                assert (first, last) == (int(real[0]), (passes - 1) * stream.size + int(real[-1]))
    assert max(passes_seen) >= (1 if dataflow == "is" else 8)
    assert dataflow != "ws" or closed_form >= 10


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_run_count_equals_the_walk_on_resnet18_layers(dataflow):
    """At full size (ResNet-18's convolutions on a 32x32 array, 64 kB and 2 kB IFMAP SRAMs: tens to
    thousands of swaps, up to 16 passes, the ws closed form on the layers where it holds): the run
    count == the per-read walk and scan it replaced, misses and every swap position."""
    from importlib import resources

    from imaclab.systolic import load_topology
    from imaclab.systolic.buffers import ReadBufferGeometry, scan_previous_reads
    from imaclab.systolic.operands import (OperandLayout, ifmap_previous_reads, stationary_ifmap_misses,
                                           ws_reads_all_miss)

    with resources.as_file(resources.files("imaclab.systolic") / "topologies" / "resnet18.csv") as path:
        layers = [layer for layer in load_topology(path, gemm=False)
                  if layer.name in ("conv1", "layer1_0_conv1", "layer2_0_conv1", "layer3_0_conv1", "layer4_0_conv2")]
    closed_form = 0
    for words in (64 * 1024, 2 * 1024):
        chunk = ReadBufferGeometry.for_words(words).chunk
        for conv in layers:
            m, n, k = conv.gemm_dims()
            layout = OperandLayout(fold_geometry(dataflow, 32, 32, m, n, k), "ifmap")
            prev, _, unique, passes = ifmap_previous_reads(conv, layout)
            walked = scan_previous_reads(prev, unique, passes, chunk)
            misses, swaps, _, _ = stationary_ifmap_misses(conv, layout, chunk)
            assert (misses, swaps.tolist()) == (walked.misses, walked.swap_positions), (conv.name, words)
            closed_form += dataflow == "ws" and ws_reads_all_miss(conv, layout, chunk)
    assert dataflow != "ws" or closed_form >= 2


def _misses_by_replay(stream, passes, chunk):
    """The flush-on-full buffer replayed read by read with a Python set (the definition)."""
    return _replay(stream, passes, chunk)[0]


def _replay(stream, passes, chunk):
    """:func:`_misses_by_replay` and the stream positions where the buffer swapped."""
    held, misses, swaps = set(), 0, []
    for p in range(passes):
        for n, address in enumerate(stream.tolist()):
            if address < 0 or address in held:
                continue
            held.add(address)
            misses += 1
            if len(held) == chunk:
                held.clear()
                swaps.append(p * stream.size + n)
    return misses, swaps


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_ofmap_line_table_equals_per_fold_patterns(dataflow):
    """Folds with equal word counts but different shapes (8x3 vs 6x4 used PEs) keep their own line pattern."""
    from imaclab.systolic.buffers import _Lines
    from imaclab.systolic.operands import OperandLayout

    geom = fold_geometry(dataflow, 8, 4, 30, 19, 56)
    layout = OperandLayout(geom, "ofmap")
    row_fold, col_fold = int(geom.row_fold), int(geom.col_fold)
    lines = _Lines(layout.fold_elements(), geom.lines_per_fold, layout.line_counts,
                   lambda f: (f % row_fold == row_fold - 1, f // row_fold == col_fold - 1))
    counts = np.concatenate([layout.line_counts(f) for f in range(int(geom.folds))])
    assert np.array_equal(lines.full, np.concatenate(([0], np.cumsum(counts))))


def test_fold_stream_cycle_of_closed_form_equals_the_vectorized_lookup():
    """FoldStream.cycle_of (integer closed form, used per swap and per first/last read) == cycles_of
    (a search in the cumulative diagonal counts) for every element of skewed and flipped blocks."""
    from imaclab.systolic.streams import FoldStream

    for pattern in ("skewed", "flipped"):
        for used in range(1, 9):
            for length in range(1, 9):
                stream = FoldStream(pattern, used, length, 3, 8)
                index = np.arange(used * length)
                assert [stream.cycle_of(i) for i in index] == stream.cycles_of(index).tolist()
