"""The buffer models against SCALE-Sim's own buffer classes driven with random request streams."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.systolic.buffers import (ReadBufferGeometry, _Lines, misses_block_repeats, misses_repeated_unique,
                                      read_timing, scan_misses, simulate_write_buffer)

# SCALE-Sim is the live reference (a test dependency): imported, never skipped
from scalesim.memory import read_buffer_estimate_bw
from scalesim.memory import write_buffer as write_buffer_mod
from scalesim.memory.read_port import read_port
from scalesim.memory.write_port import write_port


def scalesim_reads(lines: np.ndarray, words: int):
    """DRAM reads and DRAM trace window of SCALE-Sim's CALC-mode read buffer for demand ``lines``."""
    buf = read_buffer_estimate_bw.ReadBufferEstimateBw()
    buf.set_params(backing_buf_obj=read_port(), total_size_bytes=words, word_size=1, active_buf_frac=0.5,
                   backing_buf_default_bw=10)
    for i, line in enumerate(lines):
        buf.service_reads(line.reshape(1, -1), np.array([[i]]))
    buf.complete_all_prefetches()
    start, stop = buf.get_external_access_start_stop_cycles()
    return buf.get_num_accesses(), int(start), int(stop)


def ours_reads(lines: np.ndarray, words: int, passes: int = 1):
    width = lines.shape[1]
    geometry = ReadBufferGeometry.for_words(words)
    pass_stream = lines[: lines.shape[0] // passes].ravel()
    result = scan_misses(pass_stream, passes, geometry.chunk)
    valid = np.flatnonzero(lines.ravel() >= 0)
    timing = read_timing(result, [p // width for p in result.swap_positions], int(valid[0]) // width, geometry)
    return result.misses, timing.start_cycle, timing.stop_cycle


@pytest.mark.parametrize("seed", range(6))
def test_scan_matches_scalesim_read_buffer(seed):
    rng = np.random.default_rng(seed)
    words = int(rng.choice([1024, 2048]))
    width = int(rng.integers(2, 9))
    passes = int(rng.integers(1, 4))
    lines_per_pass = int(rng.integers(200, 900))
    # addresses with locality and reuse, some idle slots (-1)
    walk = np.cumsum(rng.integers(-3, 5, size=lines_per_pass * width)) % int(rng.integers(300, 3000))
    one_pass = np.where(rng.random(walk.size) < 0.1, -1, walk).reshape(lines_per_pass, width)
    one_pass[0, 0] = 7                                    # a request in the first line
    lines = np.tile(one_pass, (passes, 1))
    assert ours_reads(lines, words, passes) == scalesim_reads(lines, words)


@pytest.mark.parametrize("unique, passes", [(300, 4), (499, 3), (500, 3), (1700, 2), (2500, 1)])
def test_repeated_unique_closed_form(unique, passes):
    chunk = ReadBufferGeometry.for_words(1024).chunk      # 500
    stream = np.tile(np.arange(unique), passes)
    assert misses_repeated_unique(unique, passes, chunk).misses == scan_misses(np.arange(unique), passes, chunk).misses
    expected = scalesim_reads(stream.reshape(-1, 1 if unique % 2 else 2), 1024)[0]
    assert misses_repeated_unique(unique, passes, chunk).misses == expected


@pytest.mark.parametrize("lengths, repeats", [([120, 120, 120, 120, 120, 60], 3), ([450, 450, 100], 2),
                                              ([700, 700, 30], 4), ([499, 1], 2), ([250, 250, 250], 1)])
def test_block_repeats_closed_form(lengths, repeats):
    chunk = ReadBufferGeometry.for_words(1024).chunk
    blocks, start = [], 0
    for length in lengths:
        block = np.arange(start, start + length)
        blocks += [block] * repeats
        start += length
    stream = np.concatenate(blocks)
    closed = misses_block_repeats(np.array(lengths), repeats, chunk)
    scanned = scan_misses(stream, 1, chunk)
    assert closed.misses == scanned.misses == scalesim_reads(stream.reshape(-1, 1), 1024)[0]
    assert closed.swap_positions == scanned.swap_positions


def scalesim_writes(counts: np.ndarray, width: int, words: int, drain_width: int):
    """Drive SCALE-Sim's write buffer as double_buffered_scratchpad does (OFMAP part only)."""
    buf = write_buffer_mod.write_buffer()
    buf.set_params(backing_buf_obj=write_port(), total_size_bytes=words, word_size=1, active_buf_frac=0.5,
                   backing_buf_bw=drain_width)
    stalls, address, out = 0, 0, None
    for i, count in enumerate(counts):
        line = -np.ones((1, width))
        line[0, :count] = np.arange(address, address + count)
        address += count
        cycle = np.zeros((1, 1)) + i + stalls
        out = buf.service_writes(line, cycle)
        stalls += int(max(0, out[0][0] - cycle[0][0] - 1))
    buf.empty_all_buffers(out[0])
    start, stop = buf.get_external_access_start_stop_cycles()
    return buf.get_num_accesses(), int(start), int(stop), stalls


@pytest.mark.parametrize("seed", range(8))
def test_write_buffer_matches_scalesim(seed):
    rng = np.random.default_rng(100 + seed)
    width = int(rng.integers(4, 40))
    drain_width = width if seed % 2 == 0 else int(rng.integers(1, width + 1))   # CALC: width; USER: a bandwidth
    words = int(rng.choice([1024, 2048]))
    n = int(rng.integers(300, 2500))
    counts = np.where(rng.random(n) < 0.3, 0, rng.integers(1, width + 1, size=n))
    counts[-1] = max(counts[-1], 1)
    lines = _Lines(np.array([counts.sum()]), n, lambda fold: counts)
    ours = simulate_write_buffer(lines, n, words, drain_width)
    theirs = scalesim_writes(counts, width, words, drain_width)
    assert (ours.dram_writes, ours.start_cycle, ours.stop_cycle, ours.stall_cycles) == theirs
    if drain_width == width:
        assert ours.stall_cycles == 0     # CALC mode never stalls: drains keep up with the array


def test_calc_write_buffer_never_stalls_even_when_tiny():
    """Full-width output every cycle into a 1 kB buffer drained at array width: no stall."""
    for width in (8, 64, 256, 512):
        n = 3000
        counts = np.full(n, width)
        lines = _Lines(np.array([counts.sum()]), n, lambda fold, counts=counts: counts)
        assert simulate_write_buffer(lines, n, 1024, width).stall_cycles == 0


@pytest.mark.parametrize("seed", range(6))
def test_compiled_write_buffer_equals_python_replay_over_folds(seed):
    """The compiled write buffer == the Python event replay on lines split into folds of
    several kinds (per-fold lookups, no all-lines table), stalls included."""
    from imaclab.systolic.buffers import replay_write_buffer

    rng = np.random.default_rng(200 + seed)
    width = int(rng.integers(4, 40))
    drain_width = width if seed % 2 == 0 else int(rng.integers(1, 4))     # narrow drains stall
    per_fold = int(rng.integers(20, 300))
    folds = int(rng.integers(2, 12))
    patterns = [np.where(rng.random(per_fold) < 0.3, 0, rng.integers(1, width + 1, size=per_fold))
                for _ in range(3)]
    for p in patterns:
        p[-1] = max(p[-1], 1)
    kind = lambda fold: np.asarray(fold) % 3   # noqa: E731
    lines = _Lines(np.array([patterns[f % 3].sum() for f in range(folds)]), per_fold, lambda f: patterns[kind(f)],
                   kind, table=False)
    words = int(rng.choice([1024, 2048]))
    ours = simulate_write_buffer(lines, folds * per_fold, words, drain_width)
    assert ours == replay_write_buffer(lines, folds * per_fold, words, drain_width)
    assert ours.drains > 1      # (seeds 3 and 5 stall)
