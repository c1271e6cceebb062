"""Compiled loops of the IFMAP read-buffer model (numba): one pass over the read stream each.

A convolution's IFMAP operand is the im2col matrix: ``M x K`` reads of far fewer addresses,
streamed in the dataflow's order.  The read buffer's DRAM traffic depends on when each address
was read before (:mod:`imaclab.systolic.buffers`).  Both questions are sequential walks over the
stream, which compiled code does at a few nanoseconds per read, where vectorized numpy needs a
sort or an inverse permutation of the whole ``M x K`` table (and its page faults).

* :func:`ifmap_previous_reads` walks one pass of the stream in order, computing each read's
  address from the im2col geometry on the fly, and notes the previous read of every address;
* :func:`scan_misses` replays the flush-on-full buffer over that (every pass) and returns
  the misses and the positions of the swaps.

The stream orders are those of :func:`imaclab.systolic.operands.ifmap_pass_stream` (which
builds the stream explicitly; the tests compare the two).
"""

from __future__ import annotations

import numba
import numpy as np

#: Dataflow codes of the kernels.
DATAFLOW_CODES = {"os": 0, "ws": 1, "is": 2}


@numba.njit(cache=True, nogil=True)
def ifmap_previous_reads(dataflow, rows, cols, t, sr, sc, row_fold, col_fold, pixel_base, window_offset, r, s,
                         rows_left, cols_left, all_valid, addresses, prev):
    """Previous-read position of every read of one IFMAP pass, written into ``prev`` (length ``M*K``).

    ``prev[n]``: position of the previous read of the same address in the pass, or, for the first
    read of an address, its last read minus the pass length (its last read one pass earlier, a
    negative number); the dtype's maximum for a read of window padding (no address).  Returns the
    positions of the first reads (in address order).  ``addresses``: IFMAP words (the size of the
    per-address tables).  Fold geometry as :class:`~imaclab.systolic.operands.OperandLayout`.
    """
    no_read = np.iinfo(prev.dtype).max
    last = np.full(addresses, -1, dtype=np.int64)
    first = np.full(addresses, -1, dtype=np.int64)
    position = 0
    # (the address and bookkeeping are written out in both loops: a helper taking the arrays
    # costs a reference-count update per call, ten times the work of the loop body, and one
    # shared loop over per-fold (pixel, window) buffers was measured 30-40 % slower)
    if dataflow != 2:
        # os: PE row u holds output pixel fr*R + u and streams its window; ws: PE row u holds
        # window element fr*R + u and the T output pixels stream through; both skewed (by u + e, then u)
        for fr in range(row_fold):
            ru = min(rows, sr - fr * rows)
            for d in range(ru + t - 1):
                for u in range(max(0, d - t + 1), min(ru - 1, d) + 1):
                    if dataflow == 0:
                        p, j = fr * rows + u, d - u
                    else:
                        p, j = d - u, fr * rows + u
                    if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                        a = pixel_base[p] + window_offset[j]
                        q = last[a]
                        if q < 0:
                            first[a] = position
                        else:
                            prev[position] = q
                        last[a] = position
                    else:
                        prev[position] = no_read
                    position += 1
    else:
        # is: fold (fc, fr) pushes window rows fr*R + (ru-1 .. 0), each across pixels fc*C + (0 .. cu-1)
        for fc in range(col_fold):
            cu = min(cols, sc - fc * cols)
            for fr in range(row_fold):
                ru = min(rows, sr - fr * rows)
                for w in range(ru - 1, -1, -1):
                    j = fr * rows + w
                    for p in range(fc * cols, fc * cols + cu):
                        if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                            a = pixel_base[p] + window_offset[j]
                            q = last[a]
                            if q < 0:
                                first[a] = position
                            else:
                                prev[position] = q
                            last[a] = position
                        else:
                            prev[position] = no_read
                        position += 1
    count = 0
    for a in range(addresses):
        if first[a] >= 0:
            count += 1
    firsts = np.empty(count, dtype=np.int64)
    count = 0
    for a in range(addresses):
        if first[a] >= 0:
            prev[first[a]] = last[a] - position
            firsts[count] = first[a]
            count += 1
    return firsts


@numba.njit(cache=True, nogil=True)
def scan_misses(prev, passes, chunk):
    """Misses of the flush-on-full read buffer over ``passes`` repeats of a pass (``prev`` as
    :func:`ifmap_previous_reads` gives it) and the global stream positions of its swaps.

    A read misses iff its previous read lies before the current segment (the reads since the
    last swap); the read that brings a segment's misses to ``chunk`` swaps the buffer.  Stops
    after a pass without a miss (every later pass is the same).
    """
    length = prev.size
    # at most one swap per chunk of misses (an array grown inside the loop would cost a
    # reference-count update per read)
    swaps = np.empty(passes * length // chunk + 1, dtype=np.int64)
    misses = 0
    count = 0
    segment_start = 0
    in_chunk = 0
    for p in range(passes):
        base = p * length
        threshold = segment_start - base        # previous read before this -> miss
        misses_this_pass = 0
        for n in range(length):
            if prev[n] < threshold:
                misses_this_pass += 1
                in_chunk += 1
                if in_chunk == chunk:
                    swaps[count] = base + n
                    count += 1
                    in_chunk = 0
                    segment_start = base + n + 1
                    threshold = n + 1
        misses += misses_this_pass
        if misses_this_pass == 0:
            break
    return misses, swaps[:count].copy()
