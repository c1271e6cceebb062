"""SCALE-Sim v2.0.2's double-buffered SRAMs in CALC mode, as closed forms and compiled scans.

Read buffers (``memory/read_buffer_estimate_bw.py``)
-----------------------------------------------------
In CALC mode every SRAM read hits (no stalls); the buffer only decides which
reads go to DRAM.  It keeps the addresses fetched since its last *swap* in sets
of ``items = floor(words / 100)`` addresses; a read misses when its address is
not among them, and every miss is one DRAM word.  After ``50`` full sets
(``chunk = 50 * items`` misses: the active half of the double buffer) it swaps:
the remembered addresses are forgotten and a prefetch of that chunk is logged.
So DRAM reads = misses of a "flush when ``chunk`` distinct addresses were
fetched" cache over the operand's SRAM read stream:

* a stream of distinct addresses repeated ``P`` times (GEMM operands, filters):
  ``U`` misses if ``U < chunk`` else ``U * P``;
* a block of ``L < chunk`` distinct addresses read ``R >= 2`` times in a row,
  entering with ``m`` misses in the chunk: ``L`` misses, plus ``chunk - m`` more if the
  chunk fills during its first read (the part read before the swap is re-fetched);
* any other stream (im2col rows of a convolution, which repeat addresses): one
  compiled pass over the stream with each read's previous read of the same address
  (:func:`scan_misses`, :func:`scan_previous_reads`).

Write buffer (``memory/write_buffer.py``)
-----------------------------------------
OFMAP words enter a buffer of ``S`` words; when more than ``S - ceil(S/2)`` are
held (and no drain is running) the buffer drains ``ceil((S - ceil(S/2)) / C)``
lines of ``C = array_cols`` words, one line per cycle.  :func:`simulate_write_buffer`
replays that state machine event by event (one event per drain, not per cycle).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import SupportsInt

import numpy as np

from imaclab.errors import SimulationError
from imaclab.systolic import kernels

#: Sets the read buffer is split into (read_buffer_estimate_bw.py: 100 sets).
READ_BUFFER_SETS = 100
#: Fraction of each SRAM that is the active (vs prefetch / drain) half (single_layer_sim.py).
ACTIVE_BUFFER_FRACTION = 0.5
#: Words per cycle SCALE-Sim assumes for the first DRAM prefetch in CALC mode (single_layer_sim.py).
CALC_FIRST_PREFETCH_WORDS_PER_CYCLE = 10
#: DRAM read port latency in cycles (memory/read_port.py).
DRAM_READ_LATENCY = 1


@dataclass(frozen=True)
class ReadBufferGeometry:
    """Set size and swap chunk of one read SRAM."""

    items_per_set: int
    active_sets: int

    @classmethod
    def for_words(cls, words: int) -> ReadBufferGeometry:
        items = max(1, words // READ_BUFFER_SETS)
        return cls(items_per_set=items, active_sets=int(ACTIVE_BUFFER_FRACTION * READ_BUFFER_SETS))

    @property
    def chunk(self) -> int:
        """Misses between two swaps of the double buffer."""
        return self.items_per_set * self.active_sets


@dataclass
class ReadMisses:
    """DRAM reads of one operand and the stream positions where the buffer swapped.

    ``swap_positions`` are indices into the operand's SRAM read stream (every
    element of every streamed block, padding included, in demand order).
    """

    misses: int
    swap_positions: list[int] = field(default_factory=list)


# ------------------------------------------------------------------ closed forms
def misses_repeated_unique(unique: int, passes: int, chunk: int) -> ReadMisses:
    """A stream of ``unique`` distinct addresses read ``passes`` times in the same order."""
    if unique < chunk:
        return ReadMisses(unique)
    total = unique * passes
    return ReadMisses(total, list(range(chunk - 1, total, chunk)))


def misses_block_repeats(block_lengths: np.ndarray, repeats: int, chunk: int) -> ReadMisses:
    """Blocks of distinct addresses (disjoint between blocks), each read ``repeats`` times in a row."""
    misses = 0
    in_chunk = 0            # misses since the last swap
    base = 0                # stream position of the current block's first read
    swaps: list[int] = []
    for length in (int(x) for x in block_lengths):
        if length >= chunk or repeats == 1:
            # every read of the block misses (nothing of it survives a full chunk)
            run = length * repeats if length >= chunk else length
            first = chunk - in_chunk - 1
            swaps.extend(range(base + first, base + run, chunk))
            in_chunk = (in_chunk + run) % chunk
            misses += run
        elif in_chunk + length < chunk:
            misses += length
            in_chunk += length
        else:
            head = chunk - in_chunk              # reads before the swap, fetched again next time
            swaps.append(base + head - 1)
            misses += length + head
            in_chunk = length                    # after the second read the whole block is held
        base += length * repeats
    return ReadMisses(misses, swaps)


# ------------------------------------------------------------------ vectorized scan
def _stable_argsort(keys: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative int keys by 16-bit radix passes (O(n); numpy radix-sorts 16-bit keys)."""
    top = int(keys.max()) if keys.size else 0
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    shift = 16
    while top >> shift:
        digit = ((keys[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def previous_reads(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per read of one pass: position of the previous read of its address.

    Returns ``(prev, first, unique)``: ``prev[n]`` is the position of the previous read
    of ``stream[n]`` in the same pass, or ``last - len(stream)`` (its last read in the
    previous pass) for the first read of an address; a huge value for ``-1`` (no read).
    ``first`` lists the positions of first reads; ``unique`` counts distinct addresses.
    """
    length = stream.size
    index_type = np.int32 if length < 2 ** 30 else np.int64
    positions = np.flatnonzero(stream >= 0).astype(index_type)
    prev = np.full(length, np.iinfo(index_type).max, dtype=index_type)
    if positions.size == 0:
        return prev, positions, 0
    addresses = stream[positions]
    order = _stable_argsort(addresses)
    sorted_addr = addresses[order]
    sorted_pos = positions[order]
    new_address = np.empty(sorted_addr.size, dtype=bool)
    new_address[0] = True
    np.not_equal(sorted_addr[1:], sorted_addr[:-1], out=new_address[1:])
    prev_sorted = np.empty_like(sorted_pos)
    prev_sorted[1:] = sorted_pos[:-1]
    group_start = np.flatnonzero(new_address)
    group_end = np.append(group_start[1:], sorted_addr.size) - 1
    prev_sorted[group_start] = sorted_pos[group_end] - length
    prev[sorted_pos] = prev_sorted
    return prev, sorted_pos[group_start], int(group_start.size)


def scan_misses(stream: np.ndarray, passes: int, chunk: int) -> ReadMisses:
    """Misses of the flush-on-full cache over ``stream`` (one pass; ``-1`` = no read) repeated ``passes`` times."""
    stream = np.asarray(stream)
    prev, _, unique = previous_reads(stream)
    return scan_previous_reads(prev, unique, passes, chunk)


def scan_previous_reads(prev: np.ndarray, unique: int, passes: int, chunk: int) -> ReadMisses:
    """Misses of the flush-on-full cache, given each read's previous-read position (see :func:`previous_reads`).

    A read misses iff the previous read of its address lies before the current segment (the
    reads since the last swap); the read that brings a segment's misses to ``chunk`` swaps.
    One compiled pass over the reads (:func:`imaclab.systolic.kernels.scan_misses`).
    """
    if unique < chunk:
        # the first pass fetches every address once and never swaps; later passes hit
        return ReadMisses(unique)
    misses, swaps = kernels.scan_misses(prev, int(passes), int(chunk))
    return ReadMisses(int(misses), swaps.tolist())


# ------------------------------------------------------------------ read timing
@dataclass(frozen=True)
class ReadTiming:
    """DRAM trace window and prefetch bandwidths of one read buffer (SCALE-Sim's definitions)."""

    start_cycle: int
    stop_cycle: int
    peak_words_per_cycle: float


def read_timing(result: ReadMisses, swap_cycles, first_request_cycle: int,
                geometry: ReadBufferGeometry) -> ReadTiming:
    """Start/stop cycles of the DRAM prefetch trace and the largest prefetch bandwidth.

    Mirrors ``ReadBufferEstimateBw``: the first chunk is prefetched at 10 words/cycle
    so that it ends one cycle before the first request; each later chunk must
    arrive within the cycles the previous chunk was consumed in.
    """
    items = geometry.items_per_set
    chunk = geometry.chunk
    sets_total = -(-result.misses // items)
    first_bw = CALC_FIRST_PREFETCH_WORDS_PER_CYCLE
    if len(swap_cycles) == 0:
        cycles = -(-sets_total * items // first_bw)
        return ReadTiming(-cycles, -1, float(first_bw))
    first_cycles = -(-chunk // first_bw)
    start = first_request_cycle - first_cycles
    swaps = np.asarray(swap_cycles, dtype=np.int64)
    # the chunk prefetched at swap i+1 arrives within the cycles of the previous chunk:
    # windows[i] = swaps[i] - swaps[i-1] (the first: swaps[0] - first request + 2)
    windows = np.diff(np.concatenate(([first_request_cycle - 2], swaps)))
    peak = float(first_bw)
    between = windows[:-1]
    between = between[between > 0]
    if between.size:
        peak = max(peak, float(-(-chunk // int(between.min()))))
    remaining_sets = sets_total - geometry.active_sets * swaps.size
    if remaining_sets > 0 and windows[-1] > 0:
        peak = max(peak, float(math.ceil(remaining_sets * items / int(windows[-1]))))
    last_end = int(swaps[-1])
    return ReadTiming(start, last_end + DRAM_READ_LATENCY, peak)


# ------------------------------------------------------------------ write buffer
@dataclass
class WriteBufferResult:
    """OFMAP DRAM writes, trace window and stalls of the write buffer."""

    dram_writes: int
    start_cycle: int
    stop_cycle: int
    stall_cycles: int
    drains: int


#: Below this many demand lines the write-buffer replay keeps one cumulative array over all lines.
FULL_LINE_TABLE_LIMIT = 1 << 22


class _Lines:
    """Cumulative OFMAP words per demand line, from per-fold closed forms."""

    def __init__(self, fold_words: np.ndarray, lines_per_fold: SupportsInt, fold_counts, fold_kind=None,
                 table: bool | None = None):
        """``fold_counts(fold)``: words per line of a fold; ``fold_kind(fold)``: a key equal for folds
        whose line pattern is the same (default: every fold its own).  ``table``: keep one cumulative
        array over all lines (None: below ``FULL_LINE_TABLE_LIMIT`` lines); without it each lookup
        goes through its fold's pattern (a write-buffer replay makes a few lookups per drain, far
        fewer than the lines)."""
        self.fold_kind = fold_kind if fold_kind is not None else (lambda fold: fold)
        self.fold_words = np.asarray(fold_words, dtype=np.int64)
        self.fold_cum = np.concatenate(([0], np.cumsum(self.fold_words)))
        self.lines_per_fold = int(lines_per_fold)
        self.fold_counts = fold_counts          # fold index -> words per line of that fold
        self._cache: dict[int, list[int]] = {}
        self.total = int(self.fold_cum[-1])
        # the replay makes a few lookups per drain: Python lists and bisect cost a fraction of a
        # numpy searchsorted call's overhead on them (per-fold cumulative counts cached likewise)
        self._fold_cum = self.fold_cum.tolist()
        self.full = None
        folds = self.fold_words.size
        if table or (table is None and folds * self.lines_per_fold <= FULL_LINE_TABLE_LIMIT):
            self.full = np.concatenate(([0], np.cumsum(self._all_counts(folds))))

    def _all_counts(self, folds: int) -> np.ndarray:
        # group the folds by pattern (fold_kind takes an array of folds), then one row assignment per
        # pattern (not one per fold)
        out = np.empty((folds, self.lines_per_fold), dtype=np.int64)
        kinds = np.asarray(self.fold_kind(np.arange(folds, dtype=np.int64)))
        if kinds.shape == (folds,):
            for kind in sorted(set(kinds.tolist())):      # (np.unique's first call costs ~20 ms of imports)
                members = kinds == kind
                out[members] = self.fold_counts(int(np.argmax(members)))
            return out.reshape(-1)
        groups: dict = {}           # a fold_kind that does not take arrays: one call per fold
        for f in range(folds):
            groups.setdefault(self.fold_kind(f), []).append(f)
        for members_list in groups.values():
            out[members_list] = self.fold_counts(members_list[0])
        return out.reshape(-1)

    def _cum(self, fold: int) -> list[int]:
        kind = self.fold_kind(fold)         # folds of one kind share their line pattern
        cum = self._cache.get(kind)
        if cum is None:
            if len(self._cache) > 64:
                self._cache.clear()
            cum = [0, *np.cumsum(self.fold_counts(fold)).tolist()]
            self._cache[kind] = cum
        return cum

    def line_of_word(self, word: int) -> int:
        """Demand line holding the ``word``-th OFMAP word (0-based)."""
        if self.full is not None:
            return int(self.full.searchsorted(word, side="right")) - 1
        fold = bisect_right(self._fold_cum, word) - 1
        within = word - self._fold_cum[fold]
        return fold * self.lines_per_fold + bisect_right(self._cum(fold), within) - 1

    def words_before_line(self, line: int) -> int:
        """OFMAP words in demand lines ``0 .. line-1``."""
        if self.full is not None:
            return int(self.full[min(int(line), self.full.size - 1)])
        fold, within = divmod(int(line), self.lines_per_fold)
        if fold >= self.fold_words.size:
            return self.total
        cum = self._cum(fold)
        return self._fold_cum[fold] + cum[min(within, len(cum) - 1)]

    def words_in_line(self, line: int) -> int:
        return self.words_before_line(line + 1) - self.words_before_line(line)


def simulate_write_buffer(lines: _Lines, total_lines: int, buffer_words: int, drain_width: int) -> WriteBufferResult:
    """Replay SCALE-Sim's OFMAP write buffer (``write_buffer.service_writes``) event by event, compiled.

    The steps of :func:`replay_write_buffer` (which documents them) in one compiled loop
    (:func:`imaclab.systolic.kernels.calc_write_buffer`): the per-drain line lookups go through
    the folds' cumulative line counts, one row per fold kind.
    """
    folds = int(lines.fold_words.size)
    if lines.full is not None:          # one cumulative table over all lines: one "fold"
        fold_cum = np.array([0, lines.total], dtype=np.int64)
        fold_kind = np.zeros(1, dtype=np.int64)
        table = lines.full.reshape(1, -1)
        lines_per_fold = int(lines.full.size - 1)
    else:
        kinds = np.asarray(lines.fold_kind(np.arange(folds, dtype=np.int64)))
        if kinds.shape != (folds,):
            kinds = np.array([lines.fold_kind(f) for f in range(folds)])
        keys, fold_kind = np.unique(kinds, return_inverse=True)
        fold_kind = np.asarray(fold_kind, dtype=np.int64).reshape(-1)
        table = np.zeros((keys.size, lines.lines_per_fold + 1), dtype=np.int64)
        first_fold = np.zeros(keys.size, dtype=np.int64)
        first_fold[fold_kind[::-1]] = np.arange(folds - 1, -1, -1)      # first fold of each kind
        for row in range(keys.size):
            np.cumsum(lines.fold_counts(int(first_fold[row])), out=table[row, 1:])
        fold_cum = lines.fold_cum
        lines_per_fold = lines.lines_per_fold
    active = int(math.ceil(buffer_words * ACTIVE_BUFFER_FRACTION))
    writes, start, stop, stalls, drains = kernels.calc_write_buffer(
        fold_cum, fold_kind, table, lines_per_fold, int(total_lines), int(buffer_words), active, int(drain_width))
    if drains == -1:
        raise SimulationError("SCALE-Sim write-buffer model: drain with no data (SCALE-Sim itself fails here)")
    if drains == -2:
        raise SimulationError("write-buffer model: repeated stall within one line is not modelled")
    if drains == -3:
        raise SimulationError("write-buffer model out of sync")
    return WriteBufferResult(int(writes), int(start), int(stop), int(stalls), int(drains))


def replay_write_buffer(lines: _Lines, total_lines: int, buffer_words: int, drain_width: int) -> WriteBufferResult:
    """Replay SCALE-Sim's OFMAP write buffer (``write_buffer.service_writes``) event by event.

    Words arrive in demand order, a line per cycle.  The buffer keeps a free-space
    count; a drain starts when free space drops below the active half and no drain
    is running, and takes one trace line (``drain_width`` words, the last line of a
    drain possibly partial) per cycle.  A word that finds no free space while a
    drain runs stalls the array until the drain ends.  The trace lines are packed
    ``drain_width`` words each, a partially filled line being closed when a drain
    starts -- SCALE-Sim counts such lines as full unless they end the drain.
    """
    size = buffer_words
    active = int(math.ceil(size * ACTIVE_BUFFER_FRACTION))
    drain_size = size - active
    lines_per_drain = -(-drain_size // drain_width)
    free = size
    drain_end = 0
    total_words = lines.total

    # trace lines: `closed_lines` lines exist; `partial_fill[line]` for lines closed early
    closed_lines = 0
    partial_fill: dict[int, int] = {}
    fill = 0                 # words in the open (current) line
    drained_lines = 0
    dram_writes = 0
    drain_starts: list[int] = []
    last_drain_cycle = None
    stall_total = 0

    def close_open_line() -> None:
        nonlocal closed_lines, fill
        if fill:
            partial_fill[closed_lines] = fill
            closed_lines += 1
            fill = 0

    def drain(start_cycle: int) -> int:
        nonlocal drained_lines, dram_writes, free, last_drain_cycle
        end_line = min(drained_lines + lines_per_drain, closed_lines)
        count = end_line - drained_lines
        if count <= 0:
            raise SimulationError("SCALE-Sim write-buffer model: drain with no data (SCALE-Sim itself fails here)")
        last = end_line - 1
        data = count * drain_width - (drain_width - partial_fill.get(last, drain_width))
        dram_writes += data
        free += data
        drained_lines = end_line
        drain_starts.append(start_cycle)
        last_drain_cycle = start_cycle + count - 1
        return last_drain_cycle

    def store(n: int) -> None:
        """Store ``n`` words into the open line / closed full lines."""
        nonlocal fill, closed_lines, free
        free -= n
        total = fill + n
        closed_lines += total // drain_width
        fill = total % drain_width

    word = 0                 # words stored so far
    while word < total_words:
        line = lines.line_of_word(word)
        cycle = line + stall_total
        if cycle >= drain_end:
            # next trigger: the word that makes free < active, at a cycle >= drain_end
            need = free - active + 1                      # words until free < active
            if need <= 0:
                need = 1
            target = word + need - 1                     # index of the triggering word
            if target >= total_words:
                store(total_words - word)
                word = total_words
                break
            store(target + 1 - word)
            word = target + 1
            trig_cycle = lines.line_of_word(target) + stall_total
            close_open_line()
            drain_end = drain(trig_cycle)
            continue
        # a drain is running: words up to drain_end's line go in unless space runs out
        first_free_line = drain_end - stall_total        # first line at a cycle >= drain_end
        words_until = lines.words_before_line(first_free_line) - word
        if free - words_until > 0 or words_until <= 0:
            n = max(words_until, 0)
            n = min(n, total_words - word)
            store(n)
            word += n
            if word < total_words and lines.line_of_word(word) + stall_total < drain_end:
                # words_until was 0 but we are still before drain_end: cannot happen
                raise SimulationError("write-buffer model out of sync")
            continue
        # free space runs out before the drain ends: stall at the word that empties it
        target = word + free - 1 if free > 0 else word
        store(target + 1 - word)
        word = target + 1
        stall_line = lines.line_of_word(target)
        offset = drain_end - (stall_line + stall_total)
        # the rest of this line is written at drain_end; SCALE-Sim adds offset - 1 stall cycles
        rest = lines.words_before_line(stall_line + 1) - word
        current = drain_end
        # words of the same line after the stall: at cycle drain_end they may trigger a drain
        while rest > 0:
            need = max(free - active + 1, 1)
            if need > rest:
                store(rest)
                word += rest
                rest = 0
                break
            store(need)
            word += need
            rest -= need
            close_open_line()
            drain_end = drain(current)
            if rest > 0 and current < drain_end and free <= 0:
                raise SimulationError("write-buffer model: repeated stall within one line is not modelled")
        stall_total += max(0, offset - 1)

    # empty_all_buffers at the last line's cycle: drain everything left, one drain after another
    close_open_line()
    cycle = total_lines - 1 + stall_total
    while drained_lines < closed_lines:
        end = drain(cycle)
        cycle = end + 1
    if not drain_starts:
        return WriteBufferResult(0, 0, 0, stall_total, 0)
    assert last_drain_cycle is not None  # set by the drains just counted
    return WriteBufferResult(dram_writes, drain_starts[0], last_drain_cycle, stall_total, len(drain_starts))


# ------------------------------------------------------------------ USER mode (SCALE-Sim's read_buffer.py)
@dataclass(frozen=True)
class UserReadBuffer:
    """Geometry of SCALE-Sim's USER-mode read buffer for one operand (``read_buffer.set_params``)."""

    words: int
    bandwidth: int

    @property
    def active_words(self) -> int:
        return int(math.ceil(self.words * ACTIVE_BUFFER_FRACTION))

    @property
    def prefetch_words(self) -> int:
        return self.words - self.active_words

    @property
    def items_per_set(self) -> int:
        return int(math.ceil(self.words / READ_BUFFER_SETS))

    @property
    def lines_per_prefetch(self) -> int:
        """DRAM request lines of one prefetch (each ``bandwidth`` words, one per cycle)."""
        return -(-self.prefetch_words // self.bandwidth)

    def sets(self, valid_fetches: int) -> tuple[int, int, int]:
        """``(sets, active sets, prefetch sets)`` for a prefetch sequence of ``valid_fetches`` addresses."""
        items = self.items_per_set
        n = valid_fetches // items + 1
        active = min(n, -(-self.active_words // items))
        prefetch = min(n - active, -(-self.prefetch_words // items))
        return n, active, prefetch

    def first_lines(self, fetch_elements: int) -> int:
        """Request lines of the first (active-half) prefetch."""
        return min(-(-self.active_words // self.bandwidth), -(-fetch_elements // self.bandwidth))


@dataclass
class UserReads:
    """One read operand in USER mode: its prefetch events and DRAM traffic."""

    event_lines: np.ndarray       # demand lines with a miss
    event_prefetches: np.ndarray  # prefetches issued so far after each such line
    dram_reads: int
    start_cycle: int
    stop_cycle: int
    lines_per_prefetch: int
    first_line: int               # first / last demand line with a valid read
    last_line: int


def user_reads(buffer: UserReadBuffer, fetch: np.ndarray, fetch_elements: int, demand: np.ndarray,
               demand_lines: np.ndarray, addresses: int) -> UserReads:
    """Replay SCALE-Sim's USER-mode read buffer over one operand's demand (one compiled scan)."""
    n, active, prefetch = buffer.sets(fetch.size)
    lines, ks = kernels.user_read_misses(fetch, buffer.items_per_set, active, prefetch, demand, demand_lines,
                                         int(addresses))
    prefetches = int(ks[-1]) if ks.size else 0
    first = buffer.first_lines(fetch_elements)
    step = buffer.lines_per_prefetch
    reads = (first + prefetches * step) * buffer.bandwidth
    stop = -1 + prefetches * (step + 1)
    first_line = int(demand_lines[0]) if demand_lines.size else -1
    last_line = int(demand_lines[-1]) if demand_lines.size else -1
    return UserReads(lines, ks, reads, -first, stop, step, first_line, last_line)


@dataclass
class UserMemoryResult:
    """SCALE-Sim's USER-mode memory system for one layer (``service_memory_requests``)."""

    stall_cycles: int
    total_cycles: int
    dram_writes: int
    write_start_cycle: int
    write_stop_cycle: int
    drains: int
    sram_cycles: dict[str, tuple[int, int]]    # served cycle of the first / last valid line per operand


def user_memory(total_lines: int, ifmap: UserReads, filt: UserReads, ofmap_counts: np.ndarray,
                ofmap_words: int, bandwidth: int) -> UserMemoryResult:
    """Stalls, total cycles and OFMAP DRAM writes: one compiled scan over the demand lines."""
    size = int(ofmap_words)
    active = int(math.ceil(size * ACTIVE_BUFFER_FRACTION))
    nz = np.flatnonzero(ofmap_counts)
    of_first, of_last = (int(nz[0]), int(nz[-1])) if nz.size else (-1, -1)
    first = np.array([ifmap.first_line, filt.first_line, of_first], dtype=np.int64)
    last = np.array([ifmap.last_line, filt.last_line, of_last], dtype=np.int64)
    ints, cycles = kernels.user_stall_scan(
        int(total_lines), ifmap.event_lines, ifmap.event_prefetches, ifmap.lines_per_prefetch + 1,
        filt.event_lines, filt.event_prefetches, filt.lines_per_prefetch + 1,
        np.ascontiguousarray(ofmap_counts, dtype=np.int64), size, active, size - active, int(bandwidth), first, last)
    if ints[6]:
        raise SimulationError("SCALE-Sim write-buffer model: drain with no data (SCALE-Sim itself fails here)")
    c = [int(x) for x in cycles]
    return UserMemoryResult(int(ints[0]), int(ints[1]), int(ints[2]), int(ints[3]), int(ints[4]), int(ints[5]),
                            {"ifmap": (c[0], c[1]), "filter": (c[2], c[3]), "ofmap": (c[4], c[5])})


def user_reads_walk(buffer: UserReadBuffer, layout, im2col, k: int, unique_ifmap: bool = False,
                    conv=None, closed_form: bool = True) -> UserReads:
    """:func:`user_reads` with the prefetch order and demand walked in place (no stream arrays).

    ``closed_form``: where every operand cell is a valid read, each cell's set is a closed form of
    its place in the prefetch order and runs of hits are passed over (False: walk the prefetch order
    and every read, as for IFMAPs whose windows overhang; same results, the tests compare them).
    """
    geom = layout.geom
    is_ifmap = layout.operand == "ifmap"
    if is_ifmap:
        addresses = int(im2col.pixel_base.max(initial=0)) + int(im2col.window_offset.max(initial=0)) + 1
    else:       # filter n * K + k < N * K (N = Sc in os/ws, T in is)
        addresses = int(geom.t if geom.dataflow == "is" else geom.sc) * int(k)
    lines, ks, stats = kernels.user_read_walk(
        kernels.DATAFLOW_CODES[geom.dataflow], is_ifmap, layout.rows, layout.cols, layout.t, layout.sr, layout.sc,
        layout.row_fold, layout.col_fold, layout.lines_per_fold, int(k), im2col.pixel_base, im2col.window_offset,
        im2col.r, im2col.s, im2col.rows_left, im2col.cols_left, im2col.all_valid, addresses,
        buffer.items_per_set, buffer.active_words, buffer.prefetch_words, bool(unique_ifmap or not is_ifmap),
        _im2col_geometry(conv), bool(closed_form))
    prefetches = int(ks[-1]) if ks.size else 0
    first = buffer.first_lines(int(stats[1]))
    step = buffer.lines_per_prefetch
    reads = (first + prefetches * step) * buffer.bandwidth
    return UserReads(lines, ks, reads, -first, -1 + prefetches * (step + 1), step, int(stats[2]), int(stats[3]))


def _im2col_geometry(conv) -> np.ndarray:
    """IFMAP width, channels, filter height/width, strides, OFMAP height/width of a convolution."""
    if conv is None or not hasattr(conv, "ifmap_width"):
        return np.ones(8, dtype=np.int64)
    return np.array([conv.ifmap_width, conv.channels, conv.filter_height, conv.filter_width, conv.stride_height,
                     conv.stride_width, conv.ofmap_height, conv.ofmap_width], dtype=np.int64)
