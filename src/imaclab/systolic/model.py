"""The systolic-array model: SCALE-Sim v2.0.2's results without walking cycles.

* :func:`compute_cycles` -- total cycles of many GEMMs at once (numpy, closed form);
* :func:`simulate_layer` -- everything SCALE-Sim reports for one layer;
* :func:`simulate_topology` -- a list of layers, one report each.

How each number is obtained (see ``docs/systolic.md``): cycles, SRAM accesses,
mapping efficiency and compute utilization are closed forms of the fold schedule
(:mod:`~imaclab.systolic.schedule`); DRAM reads come from SCALE-Sim's read-buffer
rule applied to the operand's read stream (:mod:`~imaclab.systolic.buffers`), in
closed form where every address is read once per pass (GEMMs, filters) and by a
vectorized scan for im2col operands; DRAM writes, OFMAP stalls and the DRAM
trace windows from an event-by-event replay of the OFMAP write buffer (one event
per drain).

With a user DRAM bandwidth (SCALE-Sim's USER mode, ``dram_model="scalesim"``, the
default) the read buffers are SCALE-Sim's prefetching ones: a compiled walk of each
operand's prefetch order and demand gives the lines where prefetches are issued, and
one compiled scan over the demand lines gives the stalls, the OFMAP write buffer and
every cycle stamp (:func:`_simulate_user`).  ``dram_model="bound"`` keeps the CALC
traffic and bounds the stalls by the bandwidth (:func:`_user_read_stalls`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from imaclab.errors import ConfigError
from imaclab.systolic.buffers import (ReadBufferGeometry, ReadMisses, UserReadBuffer, _Lines,
                                      misses_block_repeats, misses_repeated_unique, read_timing,
                                      simulate_write_buffer, user_memory, user_reads_walk)
from imaclab.systolic.config import SystolicConfig
from imaclab.systolic.layers import ConvLayer, DepthwiseConvLayer, GemmLayer, Layer
from imaclab.systolic.operands import OperandLayout, operand_im2col, stationary_ifmap_misses
from imaclab.systolic.report import LayerReport
from imaclab.systolic.schedule import (SRAM_HIT_LATENCY, fold_geometry, per_fold_efficiencies, sram_accesses,
                                       total_cycles_calc)


# ------------------------------------------------------------------ vectorized cycles
def compute_cycles(cfg: SystolicConfig, m, n, k) -> np.ndarray:
    """Total cycles (stalls included) of GEMMs ``(m, n, k)`` on ``cfg`` -- numpy arrays in, int64 array out.

    ``m`` = rows of the input operand (SCALE-Sim M), ``n`` = output columns (N), ``k`` =
    reduction (K).  Equals :func:`simulate_layer`'s ``total_cycles`` for
    ``GemmLayer(m=m, n=n, k=k)``: in CALC mode a closed form (no stalls); with a user
    DRAM bandwidth each distinct shape is simulated once.
    """
    m_arr, n_arr, k_arr = np.broadcast_arrays(np.asarray(m, dtype=np.int64), np.asarray(n, dtype=np.int64),
                                              np.asarray(k, dtype=np.int64))
    if cfg.calc_bandwidth:
        geom = fold_geometry(cfg.dataflow, cfg.array_rows, cfg.array_cols, m_arr, n_arr, k_arr)
        return np.asarray(total_cycles_calc(geom), dtype=np.int64)
    shapes = np.stack([m_arr.ravel(), n_arr.ravel(), k_arr.ravel()], axis=1)
    unique, inverse = np.unique(shapes, axis=0, return_inverse=True)
    cycles = np.array([simulate_layer(cfg, GemmLayer(name="gemm", m=int(a), n=int(b), k=int(c))).total_cycles
                       for a, b, c in unique], dtype=np.int64)
    return cycles[inverse.ravel()].reshape(m_arr.shape)


# ------------------------------------------------------------------ work estimate
#: Memory the model may use for one layer (a 24 GiB machine keeps room for the rest).
WORK_MEMORY_LIMIT_BYTES = 12 * 2 ** 30
#: Time the model may take for one layer, seconds (on one core of a small machine).
WORK_TIME_LIMIT_S = 3600.0
#: Rough costs of the model's steps: Python work per write-buffer drain or read-buffer swap,
#: compiled work per IFMAP read (previous-read walk plus one scan per pass), per array element.
_SECONDS_PER_DRAIN = 30e-6
_SECONDS_PER_SWAP = 2e-6
_SECONDS_PER_READ = 5e-9
_SECONDS_PER_ELEMENT = 20e-9
_BYTES_PER_SWAP = 120


def estimate_work(cfg: SystolicConfig, layer: Layer) -> tuple[float, float]:
    """``(bytes, seconds)`` :func:`simulate_layer` is estimated to need for ``layer`` on ``cfg``.

    Counted from what the model allocates and walks: per-line tables of one fold
    (``lines_per_fold``), per-fold tables (``folds``), the skewed streams, the im2col
    previous-read table of a convolution's IFMAP (``M x K``), the read-buffer swaps and
    the write-buffer drains (one Python step each).  An order-of-magnitude guide, not a bound.
    """
    from imaclab.systolic.buffers import ACTIVE_BUFFER_FRACTION

    unit = layer.per_channel() if isinstance(layer, DepthwiseConvLayer) else layer
    m, n, k = unit.gemm_dims()
    rows, cols = cfg.array_rows, cfg.array_cols
    sr, sc, t = {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[cfg.dataflow]
    row_fold, col_fold = -(-sr // rows), -(-sc // cols)
    folds = row_fold * col_fold
    lines_per_fold = t + rows + cols - 2 if cfg.dataflow == "os" else 2 * rows + cols + t - 2
    elements = 4 * lines_per_fold + 10 * folds + 4 * (max(rows, cols) + t)
    seconds = elements * _SECONDS_PER_ELEMENT
    nbytes = 8.0 * elements
    # read-buffer swaps (Python lists of stream positions)
    reads = {"os": (col_fold * sr * t, row_fold * t * sc), "ws": (col_fold * t * sr, sr * sc),
             "is": (sr * sc, col_fold * t * sr)}[cfg.dataflow]
    for op, count in zip(("ifmap", "filter"), reads):
        chunk = max(1, cfg.sram_words(op) // 100) * 50
        swaps = count / chunk
        nbytes += swaps * _BYTES_PER_SWAP
        seconds += swaps * _SECONDS_PER_SWAP
    # OFMAP write-buffer drains (one Python step each)
    words = cfg.sram_words("ofmap")
    drain = max(1, words - math.ceil(words * ACTIVE_BUFFER_FRACTION))
    seconds += (m * n / drain) * _SECONDS_PER_DRAIN
    if isinstance(unit, ConvLayer) and not _unique_addresses(unit):
        passes = 1 if cfg.dataflow == "is" else col_fold
        nbytes += (4 if m * k < 2 ** 31 - 1 else 8) * float(m * k)
        nbytes += 8.0 * 4 * (unit.ofmap_height * unit.ofmap_width + k)
        seconds += m * k * (1 + passes) * _SECONDS_PER_READ
    return nbytes, seconds


def check_work(cfg: SystolicConfig, layers: Iterable[Layer]) -> None:
    """Refuse, with one line, a layer whose estimated memory or time (:func:`estimate_work`) is too large."""
    for layer in layers:
        nbytes, seconds = estimate_work(cfg, layer)
        if nbytes > WORK_MEMORY_LIMIT_BYTES or seconds > WORK_TIME_LIMIT_S:
            raise ConfigError(
                f"layer '{layer.name}' on the {cfg.array_rows}x{cfg.array_cols} {cfg.dataflow} array: about "
                f"{nbytes / 2 ** 30:.3g} GiB of memory and {_duration(seconds)} estimated (limits "
                f"{WORK_MEMORY_LIMIT_BYTES / 2 ** 30:g} GiB, {_duration(WORK_TIME_LIMIT_S)}); use a smaller "
                f"array or layer, split the layer, or imaclab.systolic.compute_cycles for cycles only")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


# ------------------------------------------------------------------ one layer
def simulate_layer(cfg: SystolicConfig, layer: Layer) -> LayerReport:
    """Everything SCALE-Sim reports for ``layer`` on ``cfg`` (see :class:`LayerReport`)."""
    unit: GemmLayer | ConvLayer
    if isinstance(layer, DepthwiseConvLayer):
        unit = layer.per_channel()
    elif isinstance(layer, (GemmLayer, ConvLayer)):
        unit = layer
    else:
        raise ConfigError(f"cannot simulate {type(layer).__name__}: expected GemmLayer, ConvLayer or "
                          "DepthwiseConvLayer")
    instances = layer.instances
    m, n, k = unit.gemm_dims()
    rows, cols = cfg.array_rows, cfg.array_cols
    check_work(cfg, [layer])
    geom = fold_geometry(cfg.dataflow, rows, cols, m, n, k)
    lines = int(geom.lines)

    sram_ifmap, sram_filter, sram_ofmap = (int(x) for x in sram_accesses(geom))
    mapping, util = per_fold_efficiencies(geom)

    layouts = {op: OperandLayout(geom, op) for op in ("ifmap", "filter", "ofmap")}
    starts = {op: np.concatenate(([0], np.cumsum(layouts[op].fold_elements()))) for op in ("ifmap", "filter")}

    if not cfg.calc_bandwidth and cfg.dram_model == "scalesim":
        return _simulate_user(cfg, layer, unit, geom, layouts, sram_ifmap, sram_filter, sram_ofmap, mapping, util)

    # OFMAP write buffer: DRAM writes and stalls (drain width = array columns in CALC,
    # the user bandwidth otherwise, as SCALE-Sim's single_layer_sim sets it up)
    ofmap_layout = layouts["ofmap"]
    drain_width = cols if cfg.calc_bandwidth else int(cfg.dram_bandwidth_words_per_cycle or cols)
    fold_words = ofmap_layout.fold_elements()
    ofmap_lines = _Lines(fold_words, geom.lines_per_fold, ofmap_layout.line_counts, ofmap_layout.fold_kind,
                         table=False)
    writes = simulate_write_buffer(ofmap_lines, lines, cfg.sram_words("ofmap"), drain_width)
    stall_cycles = writes.stall_cycles

    # read buffers: DRAM reads and the DRAM prefetch trace
    reads = {}
    timings = {}
    first_valid = {}
    last_valid = {}
    for op in ("ifmap", "filter"):
        buffer = ReadBufferGeometry.for_words(cfg.sram_words(op))
        result, first_pos, last_pos = _read_misses(geom, layouts[op], unit, op, buffer.chunk, starts[op])
        layout = layouts[op]
        first_valid[op] = layout.cycle_of_position(first_pos, starts[op][:-1])
        last_valid[op] = layout.cycle_of_position(last_pos, starts[op][:-1])
        swap_cycles = layout.cycles_of_positions(result.swap_positions, starts[op][:-1])
        reads[op] = result.misses
        timings[op] = read_timing(result, swap_cycles, first_valid[op], buffer)

    if not cfg.calc_bandwidth:     # dram_model "bound"
        stall_cycles = max(stall_cycles, _user_read_stalls(cfg, reads, lines))
    total_cycles = lines - 1 + stall_cycles

    # SRAM trace windows: reads are served one hit-latency after their demand cycle
    ofmap_first = ofmap_layout.first_cycle()
    ofmap_last = ofmap_layout.last_cycle()
    peak_sram = _peak_sram(layouts)

    return LayerReport(
        name=layer.name, kind=layer.kind, dataflow=cfg.dataflow, array_rows=rows, array_cols=cols,
        m=m, n=n, k=k, instances=instances, macs=m * n * k * instances,
        total_cycles=total_cycles * instances, stall_cycles=stall_cycles * instances,
        mapping_efficiency=mapping, compute_utilization=util,
        sram_ifmap_reads=sram_ifmap * instances, sram_filter_reads=sram_filter * instances,
        sram_ofmap_writes=sram_ofmap * instances,
        dram_ifmap_reads=reads["ifmap"] * instances, dram_filter_reads=reads["filter"] * instances,
        dram_ofmap_writes=writes.dram_writes * instances,
        sram_ifmap_start_cycle=first_valid["ifmap"] + SRAM_HIT_LATENCY,
        sram_ifmap_stop_cycle=last_valid["ifmap"] + SRAM_HIT_LATENCY + stall_cycles,
        sram_filter_start_cycle=first_valid["filter"] + SRAM_HIT_LATENCY,
        sram_filter_stop_cycle=last_valid["filter"] + SRAM_HIT_LATENCY + stall_cycles,
        sram_ofmap_start_cycle=ofmap_first, sram_ofmap_stop_cycle=ofmap_last + stall_cycles,
        dram_ifmap_start_cycle=timings["ifmap"].start_cycle, dram_ifmap_stop_cycle=timings["ifmap"].stop_cycle,
        dram_filter_start_cycle=timings["filter"].start_cycle, dram_filter_stop_cycle=timings["filter"].stop_cycle,
        dram_ofmap_start_cycle=writes.start_cycle, dram_ofmap_stop_cycle=writes.stop_cycle,
        peak_sram_ifmap_bw=peak_sram["ifmap"], peak_sram_filter_bw=peak_sram["filter"],
        peak_sram_ofmap_bw=peak_sram["ofmap"],
        peak_dram_ifmap_bw=timings["ifmap"].peak_words_per_cycle,
        peak_dram_filter_bw=timings["filter"].peak_words_per_cycle,
        peak_dram_ofmap_bw=float(min(drain_width, writes.dram_writes)) if writes.dram_writes else 0.0,
        clock_hz=cfg.clock_hz, word_size_bytes=cfg.word_size_bytes,
        bandwidth_mode="CALC" if cfg.calc_bandwidth else "USER",
    )


def _simulate_user(cfg: SystolicConfig, layer: Layer, unit: Layer, geom, layouts, sram_ifmap: int, sram_filter: int,
                   sram_ofmap: int, mapping: float, util: float) -> LayerReport:
    """SCALE-Sim 2.0.2's USER mode: its prefetching read buffers, write buffer and stall rule.

    Each read operand's demand stream is replayed through SCALE-Sim's USER read buffer (a
    window of address sets over the operand's prefetch order, moved one prefetch at a time on a
    miss; one compiled scan, :func:`imaclab.systolic.kernels.user_read_misses`); the prefetches
    it issues complete at fixed cycles (every ``ceil(prefetch/bw) + 1`` cycles after the first),
    so the stalls follow from one compiled scan over the demand lines that also replays the
    OFMAP write buffer (:func:`imaclab.systolic.kernels.user_stall_scan`).
    """
    assert cfg.dram_bandwidth_words_per_cycle is not None  # USER bandwidth: set by the caller's mode check
    bw = int(cfg.dram_bandwidth_words_per_cycle)
    instances = layer.instances
    m, n, k = unit.gemm_dims()
    rows, cols = cfg.array_rows, cfg.array_cols
    lines = int(geom.lines)
    im2col = operand_im2col(unit)
    unique = _unique_addresses(unit)
    reads = {op: user_reads_walk(UserReadBuffer(cfg.sram_words(op), bw), layouts[op], im2col, k, unique, unit)
             for op in ("ifmap", "filter")}
    ofmap_layout = layouts["ofmap"]
    ofmap_lines = _Lines(ofmap_layout.fold_elements(), geom.lines_per_fold, ofmap_layout.line_counts,
                         ofmap_layout.fold_kind, table=False)
    counts = ofmap_lines._all_counts(ofmap_lines.fold_words.size)      # words per line, every line
    mem = user_memory(lines, reads["ifmap"], reads["filter"], counts, cfg.sram_words("ofmap"), bw)
    sram = mem.sram_cycles
    peak_sram = _peak_sram(layouts)
    return LayerReport(
        name=layer.name, kind=layer.kind, dataflow=cfg.dataflow, array_rows=rows, array_cols=cols,
        m=m, n=n, k=k, instances=instances, macs=m * n * k * instances,
        total_cycles=mem.total_cycles * instances, stall_cycles=mem.stall_cycles * instances,
        mapping_efficiency=mapping, compute_utilization=util,
        sram_ifmap_reads=sram_ifmap * instances, sram_filter_reads=sram_filter * instances,
        sram_ofmap_writes=sram_ofmap * instances,
        dram_ifmap_reads=reads["ifmap"].dram_reads * instances,
        dram_filter_reads=reads["filter"].dram_reads * instances,
        dram_ofmap_writes=mem.dram_writes * instances,
        sram_ifmap_start_cycle=sram["ifmap"][0], sram_ifmap_stop_cycle=sram["ifmap"][1],
        sram_filter_start_cycle=sram["filter"][0], sram_filter_stop_cycle=sram["filter"][1],
        sram_ofmap_start_cycle=sram["ofmap"][0], sram_ofmap_stop_cycle=sram["ofmap"][1],
        dram_ifmap_start_cycle=reads["ifmap"].start_cycle, dram_ifmap_stop_cycle=reads["ifmap"].stop_cycle,
        dram_filter_start_cycle=reads["filter"].start_cycle, dram_filter_stop_cycle=reads["filter"].stop_cycle,
        dram_ofmap_start_cycle=mem.write_start_cycle, dram_ofmap_stop_cycle=mem.write_stop_cycle,
        peak_sram_ifmap_bw=peak_sram["ifmap"], peak_sram_filter_bw=peak_sram["filter"],
        peak_sram_ofmap_bw=peak_sram["ofmap"],
        peak_dram_ifmap_bw=float(bw), peak_dram_filter_bw=float(bw),
        peak_dram_ofmap_bw=float(min(bw, mem.dram_writes)) if mem.dram_writes else 0.0,
        clock_hz=cfg.clock_hz, word_size_bytes=cfg.word_size_bytes,
        bandwidth_mode="USER",
    )


def simulate_topology(cfg: SystolicConfig, layers: Iterable[Layer]) -> list[LayerReport]:
    """One :class:`LayerReport` per layer, in order (layers run one after another)."""
    return [simulate_layer(cfg, layer) for layer in layers]


# ------------------------------------------------------------------ helpers
def _unique_addresses(layer: Layer) -> bool:
    """True when every IFMAP operand element is a distinct, valid address (GEMM, 1x1 stride-1 conv)."""
    if isinstance(layer, GemmLayer):
        return True
    return (layer.filter_height == 1 and layer.filter_width == 1 and layer.stride_height == 1
            and layer.stride_width == 1)


def _read_misses(geom, layout: OperandLayout, unit: Layer, operand: str, chunk: int,
                 starts: np.ndarray) -> tuple[ReadMisses, int, int]:
    """DRAM reads of ``operand`` and the stream positions of its first and last valid read."""
    df = geom.dataflow
    total = int(starts[-1])
    m, n, k = unit.gemm_dims()
    if operand == "filter" or _unique_addresses(unit):
        extent = k * n if operand == "filter" else m * k
        if (df, operand) in (("os", "ifmap"), ("ws", "ifmap"), ("is", "filter")):
            result = misses_repeated_unique(extent, int(geom.col_fold), chunk)
        elif (df, operand) == ("os", "filter"):
            blocks = layout.fold_elements()[:: int(geom.row_fold)]
            result = misses_block_repeats(blocks, int(geom.row_fold), chunk)
        else:   # ws filter, is ifmap: every element once
            result = misses_repeated_unique(extent, 1, chunk)
        return result, 0, total - 1
    covered = _covered_ifmap_words(unit) if isinstance(unit, ConvLayer) else None
    if covered is not None and covered < chunk:
        # every IFMAP word read is fetched once and the buffer never swaps; no padding reads
        return ReadMisses(covered), 0, total - 1
    # a convolution whose windows overlap: distinct words over runs of contiguous addresses,
    # replayed in stream order only around the swaps
    assert isinstance(unit, ConvLayer)      # a GEMM's addresses are unique (above)
    misses, swaps, first_pos, last_pos = stationary_ifmap_misses(unit, layout, chunk)
    return ReadMisses(misses, swaps.tolist()), first_pos, last_pos


def _covered_ifmap_words(conv: ConvLayer) -> int | None:
    """Distinct IFMAP words a convolution reads, or None when windows overhang the IFMAP edge."""
    rows = _covered(conv.ifmap_height, conv.filter_height, conv.stride_height, conv.ofmap_height)
    cols = _covered(conv.ifmap_width, conv.filter_width, conv.stride_width, conv.ofmap_width)
    if rows is None or cols is None:
        return None
    return rows * cols * conv.channels


def _covered(size: int, window: int, stride: int, out: int) -> int | None:
    if (out - 1) * stride + window > size:
        return None                  # the last window hangs over the edge: padding reads exist
    if stride >= window:
        return out * window          # windows do not overlap
    return (out - 1) * stride + window


def _peak_sram(layouts: dict[str, OperandLayout]) -> dict[str, float]:
    """Largest number of words one operand's SRAM serves in a single cycle."""
    peak = {}
    for op, layout in layouts.items():
        stream = layout.fold_stream(0)
        if stream.pattern == "skewed":
            peak[op] = float(min(stream.used, stream.length))
        else:
            peak[op] = float(stream.length)
    return peak


def _user_read_stalls(cfg: SystolicConfig, reads: dict[str, int], lines: int) -> int:
    """``dram_model="bound"``: imaclab's bandwidth-bound stall estimate (not SCALE-Sim's USER mode).

    Each operand has its own DRAM port of ``bw`` words/cycle (as in SCALE-Sim); the
    layer cannot finish before every operand's DRAM words have streamed in.
    """
    assert cfg.dram_bandwidth_words_per_cycle is not None  # USER bandwidth: set by the caller's mode check
    bw = int(cfg.dram_bandwidth_words_per_cycle)
    need = max(-(-words // bw) for words in reads.values())
    return max(0, need - lines)
