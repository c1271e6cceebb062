"""Compiled loops of the systolic model's buffers (numba).

A convolution's IFMAP operand is the im2col matrix: ``M x K`` reads of far fewer addresses,
streamed in the dataflow's order.  The CALC read buffer's DRAM traffic depends on which words
were read since its last swap (:mod:`imaclab.systolic.buffers`):

* :func:`os_ifmap_misses`, :func:`ws_ifmap_misses`, :func:`is_ifmap_misses` count the words each
  stretch of the stream reads that were not read since the last swap, over runs of contiguous
  addresses wherever no swap can fall, and replay the stream read by read only around the swaps;
  :func:`ws_reads_all_miss` recognises ws layers where every read misses; the passes of a stream
  stop once they repeat (:func:`_close_pass`);
* :func:`ifmap_previous_reads` (each read's previous read of its word, one pass in order) and
  :func:`scan_misses` (the buffer replayed over that) are the per-read references the tests
  compare the counts with.

The in-order replays write their bookkeeping out in each loop: a helper per read (a function
taking the arrays), inlined or not, doubled the time of the ResNet-18 rows (measured).  The USER
mode's walks and the write buffer follow below.  The stream orders are those of
:func:`imaclab.systolic.operands.ifmap_pass_stream` (which builds the stream explicitly).
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
    # per-address tables in the positions' own width (int32 for a pass below 2**31 reads): half the
    # cache footprint of int64 for the random accesses of the walk
    last = np.full(addresses, -1, dtype=prev.dtype)
    first = np.full(addresses, -1, dtype=prev.dtype)
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
    unique = 0
    for a in range(addresses):
        if first[a] >= 0:
            unique += 1
    firsts = np.empty(unique, dtype=np.int64)
    unique = 0
    for a in range(addresses):
        if first[a] >= 0:
            prev[first[a]] = last[a] - position
            firsts[unique] = first[a]
            unique += 1
    return firsts


@numba.njit(cache=True, nogil=True)
def _close_pass(p, passes, length, misses, misses_this_pass, in_chunk, segment_start, swaps, count,
                pass_misses, pass_first, end_in_chunk, end_segment, earliest):
    """Book pass ``p`` of a repeated read stream (its misses, its swaps ``swaps[pass_first[p]:count]``,
    the state it ended in) and say whether the rest is known.

    The buffer's state at a pass boundary is (misses since the last swap, last swap relative to
    the boundary); the passes read the same stream, so a pass that ends in the state an earlier
    pass ``q`` (``>= earliest``) ended in is followed by repeats of passes ``q+1 .. p``, and a pass
    without a miss by passes without one.  Then the later passes' swaps are written and their
    misses added.  Returns ``(misses, count, done)``.
    """
    pass_misses[p] = misses_this_pass
    pass_first[p + 1] = count
    if misses_this_pass == 0:
        return misses, count, True
    end_in_chunk[p] = in_chunk
    end_segment[p] = segment_start - (p + 1) * length
    for q in range(earliest, p):
        if end_in_chunk[q] == in_chunk and end_segment[q] == end_segment[p]:
            period = p - q
            for x in range(p + 1, passes):
                src = q + 1 + (x - p - 1) % period
                for i in range(pass_first[src], pass_first[src + 1]):
                    swaps[count] = swaps[i] + (x - src) * length
                    count += 1
                misses += pass_misses[src]
            return misses, count, True
    return misses, count, False


@numba.njit(cache=True, nogil=True)
def scan_misses(prev, passes, chunk, first_pass=0, misses=0, in_chunk=0, segment_start=0):
    """Misses of the flush-on-full read buffer over ``passes`` repeats of a pass (``prev`` as
    :func:`ifmap_previous_reads` gives it) and the global stream positions of its swaps.

    A read misses iff its previous read lies before the current segment (the reads since the
    last swap); the read that brings a segment's misses to ``chunk`` swaps the buffer.  Stops
    once the passes repeat (:func:`_close_pass`).  ``first_pass``, ``misses``, ``in_chunk``,
    ``segment_start``: resume after passes already replayed (the walk's first pass); the swaps
    returned are those of the passes from ``first_pass`` on.
    """
    length = prev.size
    # at most one swap per chunk of misses (an array grown inside the loop would cost a
    # reference-count update per read)
    swaps = np.empty(passes * length // chunk + 1, dtype=np.int64)
    pass_misses = np.zeros(passes, dtype=np.int64)
    pass_first = np.zeros(passes + 1, dtype=np.int64)
    end_in_chunk = np.full(passes, -1, dtype=np.int64)
    end_segment = np.zeros(passes, dtype=np.int64)
    earliest = max(0, first_pass - 1)
    if first_pass > 0:          # the state the replayed passes ended in
        end_in_chunk[first_pass - 1] = in_chunk
        end_segment[first_pass - 1] = segment_start - first_pass * length
    count = 0
    for p in range(first_pass, passes):
        base = p * length
        threshold = segment_start - base        # previous read before this -> miss
        misses_this_pass = 0
        pass_first[p] = count
        # (the loop keeps its rare swap branch inside: an exit from the loop at a swap stops the
        # compiler from turning the miss test into branch-free adds, twice the time per read)
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
        misses, count, done = _close_pass(p, passes, length, misses, misses_this_pass, in_chunk, segment_start,
                                          swaps, count, pass_misses, pass_first, end_in_chunk, end_segment, earliest)
        if done:
            break
    return misses, swaps[:count].copy()


@numba.njit(cache=True, nogil=True, inline="always")
def _stamp_run(stamp, start, stop, segment):
    """Stamp the words ``start .. stop-1`` as read in ``segment``; return how many were not yet.

    Unsigned indices: with signed ones the compiler keeps a negative-index check per word and
    does not vectorize the loop (measured: 15.7 vs 1.7 ns for a 32-word run).
    """
    if stop <= start:
        return 0
    mark = np.uint8(segment)
    fresh = np.uint64(0)
    first = np.uint64(start)
    for k in range(np.uint64(stop - start)):
        fresh += np.uint64(stamp[first + k] != mark)
        stamp[first + k] = mark
    return np.int64(fresh)


@numba.njit(cache=True, nogil=True, inline="always")
def _stamp_rectangle(stamp, q0, q1, j0, j1, ofmap_w, row_words, stride_h, step, ifmap_h, ifmap_w, channels, segment):
    """:func:`_stamp_run` over the IFMAP words that output pixels ``q0 .. q1`` read at window
    elements ``j0 .. j1-1``: per output row and per window row of the elements, one run of
    contiguous words (or one per window where neighbouring windows, ``step`` words apart, do not
    touch), clipped at the IFMAP's edges.  Returns the words not yet read in ``segment``."""
    fresh = 0
    p = q0
    while p <= q1:
        oy = p // ofmap_w
        oxa = p - oy * ofmap_w
        oxb = min(ofmap_w - 1, oxa + q1 - p)
        j = j0
        while j < j1:
            wr = j // row_words
            ea = j - wr * row_words
            eb = min(row_words - 1, j1 - 1 - wr * row_words)
            iy = oy * stride_h + wr
            if iy < ifmap_h:
                line = iy * ifmap_w * channels
                line_end = line + ifmap_w * channels - 1
                if eb - ea + 1 >= step:         # the windows' runs touch: one run
                    fresh += _stamp_run(stamp, line + oxa * step + ea, min(line + oxb * step + eb, line_end) + 1,
                                        segment)
                else:
                    for ox in range(oxa, oxb + 1):
                        fresh += _stamp_run(stamp, line + ox * step + ea, min(line + ox * step + eb, line_end) + 1,
                                            segment)
            j = (wr + 1) * row_words
        p += oxb - oxa + 1
    return fresh


#: Reads per band of diagonals replayed in stream order around a swap (:func:`os_ifmap_misses`,
#: :func:`ws_ifmap_misses`); elsewhere the order does not matter.
BAND_READS = 512


@numba.njit(cache=True, nogil=True)
def os_ifmap_misses(rows, t, sr, row_fold, passes, pixel_base, window_offset, r, s, rows_left, cols_left,
                    all_valid, ifmap_h, ifmap_w, filter_h, filter_w, channels, stride_h, stride_w, ofmap_w, chunk,
                    stamp, band_reads=BAND_READS):
    """Misses and swap positions of the CALC read buffer over an output-stationary convolution's
    IFMAP stream (``passes`` repeats of the pass), as :func:`ifmap_previous_reads` and
    :func:`scan_misses` give them, without a per-read walk where no swap can happen.

    Between two swaps the order of the reads does not matter: a segment's misses are its distinct
    words.  An os fold reads the windows of ``ru`` consecutive output pixels, i.e. for each output
    row it spans, a rectangle of IFMAP rows x columns (all channels: contiguous addresses), so a
    fold whose distinct words cannot reach the next swap is counted word by word over those
    rectangles (each word stamped with the segment that read it); one that may reach it is counted
    tentatively and undone if it does.  A fold in which the buffer swaps is cut into bands of
    diagonals (a pixel's reads in a band: one run of window elements per window row) as long as a
    band's reads cannot reach the swap; the last ``band_reads`` reads before it are replayed in
    stream order (the skewed walk of :func:`ifmap_previous_reads`).  Passes stop once they repeat
    (:func:`_close_pass`).  Fold geometry as
    :class:`~imaclab.systolic.operands.OperandLayout`, addresses as :class:`~imaclab.systolic.operands.Im2col`.
    ``stamp``: one zeroed byte per IFMAP word (the segment that last read it, numbers wrapping at
    256 with a clear: every word is stale after a swap anyway).
    """
    length = sr * t
    fresh = np.empty(chunk, dtype=np.int64)         # words counted tentatively in a fold
    swaps = np.empty(passes * length // chunk + 1, dtype=np.int64)
    pass_misses = np.zeros(passes, dtype=np.int64)
    pass_first = np.zeros(passes + 1, dtype=np.int64)
    end_in_chunk = np.full(passes, -1, dtype=np.int64)
    end_segment = np.zeros(passes, dtype=np.int64)
    count = 0
    segment = 1              # stamp of the words read since the last swap (0: never)
    segment_start = 0
    misses = 0
    in_chunk = 0
    last_fresh = 0           # new words of the last fold
    row_words = filter_w * channels     # window elements per window row
    step = stride_w * channels          # words between neighbouring windows of an output row
    for ps in range(passes):
        pass_base = ps * length
        pass_first[ps] = count
        misses_before = misses
        for fr in range(row_fold):
            ru = min(rows, sr - fr * rows)
            p0 = fr * rows
            p1 = p0 + ru
            # words of the fold's rectangles, overlaps counted twice: an upper bound of its distinct words
            bound = 0
            p = p0
            while p < p1:
                oy = p // ofmap_w
                ox0 = p - oy * ofmap_w
                ox1 = min(ofmap_w - 1, ox0 + p1 - p - 1)
                height = max(0, min(oy * stride_h + filter_h, ifmap_h) - oy * stride_h)
                if stride_w <= filter_w:
                    width = max(0, min(ox1 * stride_w + filter_w, ifmap_w) - ox0 * stride_w)
                else:
                    width = (ox1 - ox0 + 1) * filter_w
                bound += height * width * channels
                p += ox1 - ox0 + 1
            certain = in_chunk + bound < chunk       # no swap can fall inside this fold
            # (a fold expected to swap -- the last fold's new words would reach the chunk -- goes
            # straight to the bands: counting it whole first would be undone)
            if certain or (bound < chunk and in_chunk + last_fresh < chunk):
                if certain:
                    fresh_count = _stamp_rectangle(stamp, p0, p1 - 1, 0, t, ofmap_w, row_words, stride_h, step,
                                                   ifmap_h, ifmap_w, channels, segment)
                else:
                    # tentatively, noting each new word, so that a swap inside can be undone
                    fresh_count = 0
                    p = p0
                    while p < p1:
                        oy = p // ofmap_w
                        ox0 = p - oy * ofmap_w
                        ox1 = min(ofmap_w - 1, ox0 + p1 - p - 1)
                        iy0 = oy * stride_h
                        iy1 = min(iy0 + filter_h, ifmap_h)
                        # one column range when the windows of the row overlap or touch, else one per window
                        runs = 1 if stride_w <= filter_w else ox1 - ox0 + 1
                        for run in range(runs):
                            if stride_w <= filter_w:
                                ix0 = ox0 * stride_w
                                ix1 = min(ox1 * stride_w + filter_w, ifmap_w)
                            else:
                                ix0 = (ox0 + run) * stride_w
                                ix1 = min(ix0 + filter_w, ifmap_w)
                            for iy in range(iy0, iy1):
                                line = iy * ifmap_w
                                for a in range((line + ix0) * channels, (line + ix1) * channels):
                                    if stamp[a] != segment:
                                        stamp[a] = segment
                                        fresh[fresh_count] = a
                                        fresh_count += 1
                        p += ox1 - ox0 + 1
                if in_chunk + fresh_count < chunk:
                    misses += fresh_count
                    in_chunk += fresh_count
                    last_fresh = fresh_count
                    continue
                for i in range(fresh_count):        # the buffer swaps inside: undo, replay in order
                    stamp[fresh[i]] = 0
            fold_misses = misses
            # the buffer swaps inside this fold: bands of diagonals (a pixel's reads in a band are
            # one run of window elements) as long as the band's reads cannot reach the swap, then
            # ``band_reads`` reads in stream order, and so on
            position = pass_base + p0 * t
            min_band = max(1, band_reads // ru)
            diagonals = ru + t - 1
            d0 = 0
            while d0 < diagonals:
                band = (chunk - in_chunk - 1) // ru         # its reads cannot reach the swap
                if band >= min_band:
                    d1 = min(diagonals, d0 + band)
                    reads = 0
                    fresh_count = 0
                    for u in range(ru):
                        pp = p0 + u
                        j_lo = max(0, d0 - u)
                        j_hi = min(t - 1, d1 - 1 - u)
                        reads += max(0, j_hi - j_lo + 1)
                        # a window row's elements are contiguous words: one branch-free run per row
                        while j_lo <= j_hi:
                            row_start = j_lo - j_lo % row_words
                            stop = min(j_hi, row_start + row_words - 1)
                            if not all_valid:
                                if r[row_start] >= rows_left[pp]:
                                    break           # this and later window rows hang below the IFMAP
                                stop = min(stop, row_start + cols_left[pp] * channels - 1)
                            base = pixel_base[pp] + window_offset[row_start] - row_start
                            fresh_count += _stamp_run(stamp, base + j_lo, base + stop + 1, segment)
                            j_lo = row_start + row_words
                    misses += fresh_count
                    in_chunk += fresh_count
                    position += reads
                    d0 = d1
                    continue
                # the swap is near: these diagonals in stream order
                d1 = min(diagonals, d0 + min_band)
                for d in range(d0, d1):
                    for u in range(max(0, d - t + 1), min(ru - 1, d) + 1):
                        pp = p0 + u
                        j = d - u
                        if all_valid or (r[j] < rows_left[pp] and s[j] < cols_left[pp]):
                            a = pixel_base[pp] + window_offset[j]
                            if stamp[a] != segment:
                                stamp[a] = segment
                                misses += 1
                                in_chunk += 1
                                if in_chunk == chunk:
                                    swaps[count] = position
                                    count += 1
                                    in_chunk = 0
                                    segment += 1
                                    if segment == 256:
                                        stamp[:] = 0
                                        segment = 1
                                    segment_start = position + 1
                        position += 1
                d0 = d1
            last_fresh = misses - fold_misses
        misses, count, done = _close_pass(ps, passes, length, misses, misses - misses_before, in_chunk,
                                          segment_start, swaps, count, pass_misses, pass_first, end_in_chunk,
                                          end_segment, 0)
        if done:
            break
    return misses, swaps[:count].copy()


@numba.njit(cache=True, nogil=True)
def ws_ifmap_misses(rows, t, sr, row_fold, passes, pixel_base, window_offset, r, s, rows_left, cols_left,
                    all_valid, ifmap_h, ifmap_w, filter_w, channels, stride_h, stride_w, ofmap_w, chunk,
                    stamp, band_reads=BAND_READS):
    """:func:`os_ifmap_misses` for a weight-stationary convolution: misses and swap positions of the
    CALC read buffer over the IFMAP stream, ``passes`` repeats of the pass.

    A ws fold holds ``ru`` window elements on the PE rows while the ``t`` output pixels stream
    through, skewed: diagonal ``d`` reads pixel ``d - u`` at element ``u``.  A band of diagonals
    reads, besides two small triangles at its ends, every element of the fold at a run of
    pixels; for one output row and the fold's elements within one window row, those words are
    runs of contiguous addresses (one run when neighbouring windows overlap).  A band that
    cannot reach the next swap (its reads fit in what is left of the chunk) is counted word by
    word over those runs, in any order; bands shrink as the chunk fills, and the last
    ``band_reads`` reads before each swap are replayed in stream order.  Passes stop once they
    repeat (:func:`_close_pass`).  ``stamp`` as :func:`os_ifmap_misses`.
    """
    length = sr * t
    swaps = np.empty(passes * length // chunk + 1, dtype=np.int64)
    pass_misses = np.zeros(passes, dtype=np.int64)
    pass_first = np.zeros(passes + 1, dtype=np.int64)
    end_in_chunk = np.full(passes, -1, dtype=np.int64)
    end_segment = np.zeros(passes, dtype=np.int64)
    count = 0
    segment = 1
    segment_start = 0
    misses = 0
    in_chunk = 0
    row_words = filter_w * channels
    step = stride_w * channels             # words between neighbouring windows of an output row
    for ps in range(passes):
        pass_base = ps * length
        pass_first[ps] = count
        misses_before = misses
        for fr in range(row_fold):
            ru = min(rows, sr - fr * rows)
            j0 = fr * rows
            diagonals = ru + t - 1
            min_band = max(1, band_reads // ru)
            triangle = ru * (ru - 1) // 2
            d0 = 0      # the reads on diagonals before d0 are counted
            while d0 < diagonals:
                if chunk - in_chunk - 1 >= 2 * triangle + min_band * ru:
                    # no swap before a few blocks: cut along pixels instead of diagonals (every
                    # element of a block of pixels: runs of words), with a triangle of reads at each end
                    fresh_count = 0
                    for u in range(1, ru):      # the rest of the pixels before d0
                        j = j0 + u
                        for p in range(max(0, d0 - u), min(t, d0)):
                            if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                                a = pixel_base[p] + window_offset[j]
                                fresh_count += stamp[a] != segment
                                stamp[a] = segment
                    in_chunk += fresh_count
                    misses += fresh_count
                    q0 = min(d0, t)
                    while q0 < t:
                        pixels = (chunk - in_chunk - 1 - triangle) // ru     # a triangle kept in reserve
                        if pixels < min_band:
                            break
                        q1 = min(t, q0 + pixels) - 1
                        fresh_count = _stamp_rectangle(stamp, q0, q1, j0, j0 + ru, ofmap_w, row_words, stride_h,
                                                       step, ifmap_h, ifmap_w, channels, segment)
                        in_chunk += fresh_count
                        misses += fresh_count
                        q0 = q1 + 1
                    fresh_count = 0
                    for u in range(ru - 1):     # back to a diagonal: the reads before q0 + ru - 1
                        j = j0 + u
                        for p in range(q0, min(t, q0 + ru - 1 - u)):
                            if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                                a = pixel_base[p] + window_offset[j]
                                fresh_count += stamp[a] != segment
                                stamp[a] = segment
                    in_chunk += fresh_count
                    misses += fresh_count
                    d0 = q0 + ru - 1
                    continue
                # the swap is near: diagonals in stream order
                position = pass_base + j0 * t
                for u in range(ru):
                    position += min(t, max(0, d0 - u))
                d1 = min(diagonals, d0 + min_band)
                for d in range(d0, d1):
                    for u in range(max(0, d - t + 1), min(ru - 1, d) + 1):
                        p = d - u
                        j = j0 + u
                        if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                            a = pixel_base[p] + window_offset[j]
                            if stamp[a] != segment:
                                stamp[a] = segment
                                misses += 1
                                in_chunk += 1
                                if in_chunk == chunk:
                                    swaps[count] = position
                                    count += 1
                                    in_chunk = 0
                                    segment += 1
                                    if segment == 256:
                                        stamp[:] = 0
                                        segment = 1
                                    segment_start = position + 1
                        position += 1
                d0 = d1
        misses, count, done = _close_pass(ps, passes, length, misses, misses - misses_before, in_chunk,
                                          segment_start, swaps, count, pass_misses, pass_first, end_in_chunk,
                                          end_segment, 0)
        if done:
            break
    return misses, swaps[:count].copy()


@numba.njit(cache=True, nogil=True)
def is_ifmap_misses(rows, cols, sr, sc, row_fold, col_fold, pixel_base, window_offset, r, s, rows_left, cols_left,
                    all_valid, ifmap_h, ifmap_w, filter_w, channels, stride_h, stride_w, ofmap_w, chunk, stamp):
    """:func:`os_ifmap_misses` for an input-stationary convolution (one pass): fold ``(fc, fr)``
    holds output pixels ``fc*C ..`` on the array columns and window elements ``fr*R ..`` on the
    rows, pushed one window element per cycle (last first), each across the fold's pixels.  A fold
    whose reads cannot reach the next swap is counted over runs of words (:func:`_stamp_rectangle`);
    one that may is replayed in stream order.  ``stamp`` as :func:`os_ifmap_misses`."""
    swaps = np.empty(sr * sc // chunk + 1, dtype=np.int64)
    count = 0
    segment = 1
    misses = 0
    in_chunk = 0
    row_words = filter_w * channels
    step = stride_w * channels
    position = 0
    for fc in range(col_fold):
        cu = min(cols, sc - fc * cols)
        p0 = fc * cols
        for fr in range(row_fold):
            ru = min(rows, sr - fr * rows)
            j0 = fr * rows
            if in_chunk + ru * cu < chunk:
                fresh = _stamp_rectangle(stamp, p0, p0 + cu - 1, j0, j0 + ru, ofmap_w, row_words, stride_h, step,
                                         ifmap_h, ifmap_w, channels, segment)
                misses += fresh
                in_chunk += fresh
                position += ru * cu
                continue
            for w in range(ru - 1, -1, -1):
                j = j0 + w
                for p in range(p0, p0 + cu):
                    if all_valid or (r[j] < rows_left[p] and s[j] < cols_left[p]):
                        a = pixel_base[p] + window_offset[j]
                        if stamp[a] != segment:
                            stamp[a] = segment
                            misses += 1
                            in_chunk += 1
                            if in_chunk == chunk:
                                swaps[count] = position
                                count += 1
                                in_chunk = 0
                                segment += 1
                                if segment == 256:
                                    stamp[:] = 0
                                    segment = 1
                    position += 1
    return misses, swaps[:count].copy()


@numba.njit(cache=True, nogil=True)
def _clamped_sum(z, n, t):
    """sum(clamp(z + u, 0, t) for u in range(n)), in closed form."""
    lo = min(n, max(0, -z))             # terms below 0 before lo
    hi = max(lo, min(n, t - z + 1))     # terms above t from hi on
    return (hi - lo) * z + (hi * (hi - 1) - lo * (lo - 1)) // 2 + (n - hi) * t


#: Pieces a pixel range is cut into when bounding the distance between two reads of one word
#: (:func:`ws_reads_all_miss`).
GAP_PIECES = 8


@numba.njit(cache=True, nogil=True)
def ws_reads_all_miss(rows, t, sr, row_fold, passes, filter_w, channels, stride_h, stride_w, ofmap_h, ofmap_w,
                      chunk):
    """True when a weight-stationary IFMAP stream without window padding reads no word twice within
    ``chunk`` positions: then every read misses, whatever the buffer's phase (each segment is
    exactly ``chunk`` reads long, so a read's previous read of its word lies before its segment;
    by induction from the first read).

    Two window elements read a common word iff they have the same channel and their window
    offsets ``(dr, ds)`` are multiples of the strides that output pixels can span; element ``ua``
    at pixel ``p`` and element ``ub`` at pixel ``p + dp`` (``dp = -(dr/sh)*OW - ds/sw``).  Between
    such reads in folds ``f < g`` lie the folds between them, the reads of fold ``f`` on later
    diagonals and those of fold ``g`` on earlier ones: sums of clamped arithmetic sequences,
    monotone in ``p``, bounded below piece by piece over the pixel range.  Folds farther apart
    than a chunk of reads are not checked; a fold whose own elements share a word, or a reach of
    more than 64 folds, gives up (False): the caller then counts.
    """
    folds = row_fold * passes
    row_words = filter_w * channels
    for f in range(min(folds, row_fold)):       # every fold of a pass, against the folds after it
        a0 = f * rows
        ru_f = min(rows, sr - a0)
        between = 0                             # reads of the folds strictly between f and g
        for g in range(f, folds):
            if g > f + 64:
                return False
            b0 = (g % row_fold) * rows
            ru_g = min(rows, sr - b0)
            if g > f + 1:
                between += min(rows, sr - ((g - 1) % row_fold) * rows) * t
            if g > f and between >= chunk:
                break
            for ua in range(ru_f):
                ja = a0 + ua
                ra, sa, ca = ja // row_words, (ja // channels) % filter_w, ja % channels
                # the elements of fold g on channel ca only
                for jb in range(b0 + (ca - b0 % channels) % channels, b0 + ru_g, channels):
                    ub = jb - b0
                    if g == f and jb == ja:
                        continue        # one element reads each word once in a fold
                    dr = jb // row_words - ra
                    ds = (jb // channels) % filter_w - sa
                    if dr % stride_h != 0 or abs(dr // stride_h) >= ofmap_h or ds % stride_w != 0 \
                            or abs(ds // stride_w) >= ofmap_w:
                        continue
                    if g == f:
                        return False    # a fold's own elements share a word
                    dp = -(dr // stride_h) * ofmap_w - ds // stride_w
                    p_lo = max(0, -dp)
                    p_hi = min(t - 1, t - 1 - dp)
                    if p_hi < p_lo:
                        continue
                    width = (p_hi - p_lo) // GAP_PIECES + 1
                    q0 = p_lo
                    while q0 <= p_hi:
                        q1 = min(p_hi, q0 + width - 1)
                        # reads of fold f on diagonals after (q1 + ua): fewest at the piece's end;
                        # reads of fold g on diagonals before (q0 + dp + ub): fewest at its start
                        after_f = _clamped_sum(t - q1 - ua - 1, ru_f, t)
                        before_g = _clamped_sum(q0 + dp + ub - ru_g + 1, ru_g, t)
                        if between + after_f + before_g < chunk:
                            return False
                        q0 = q1 + 1
    return True


@numba.njit(cache=True, nogil=True)
def real_read_span(dataflow, rows, cols, t, sr, sc, row_fold, col_fold, r, s, rows_left, cols_left):
    """Stream positions (within one pass) of the first and the last IFMAP read of a convolution
    that is not window padding, in the order of :func:`ifmap_previous_reads`; -1 if none.
    Walks the stream from each end until it finds one."""
    first = -1
    last = -1
    if dataflow == 2:
        # is: fold (fc, fr) pushes elements fr*R + (ru-1 .. 0), each across pixels fc*C + (0 .. cu-1)
        position = 0
        for fc in range(col_fold):
            cu = min(cols, sc - fc * cols)
            for fr in range(row_fold):
                ru = min(rows, sr - fr * rows)
                for w in range(ru - 1, -1, -1):
                    j = fr * rows + w
                    for p in range(fc * cols, fc * cols + cu):
                        if r[j] < rows_left[p] and s[j] < cols_left[p]:
                            first = position
                            break
                        position += 1
                    if first >= 0:
                        break
                if first >= 0:
                    break
            if first >= 0:
                break
        position = sr * sc - 1
        for fc in range(col_fold - 1, -1, -1):
            cu = min(cols, sc - fc * cols)
            for fr in range(row_fold - 1, -1, -1):
                ru = min(rows, sr - fr * rows)
                for w in range(ru):
                    j = fr * rows + w
                    for p in range(fc * cols + cu - 1, fc * cols - 1, -1):
                        if r[j] < rows_left[p] and s[j] < cols_left[p]:
                            last = position
                            break
                        position -= 1
                    if last >= 0:
                        break
                if last >= 0:
                    break
            if last >= 0:
                break
        return first, last
    position = 0
    for fr in range(row_fold):
        ru = min(rows, sr - fr * rows)
        for d in range(ru + t - 1):
            for u in range(max(0, d - t + 1), min(ru - 1, d) + 1):
                p, j = (fr * rows + u, d - u) if dataflow == 0 else (d - u, fr * rows + u)
                if r[j] < rows_left[p] and s[j] < cols_left[p]:
                    first = position
                    break
                position += 1
            if first >= 0:
                break
        if first >= 0:
            break
    position = sr * t - 1
    for fr in range(row_fold - 1, -1, -1):
        ru = min(rows, sr - fr * rows)
        for d in range(ru + t - 2, -1, -1):
            for u in range(min(ru - 1, d), max(0, d - t + 1) - 1, -1):
                p, j = (fr * rows + u, d - u) if dataflow == 0 else (d - u, fr * rows + u)
                if r[j] < rows_left[p] and s[j] < cols_left[p]:
                    last = position
                    break
                position -= 1
            if last >= 0:
                break
        if last >= 0:
            break
    return first, last


# ------------------------------------------------------------------ USER mode (SCALE-Sim's read_buffer.py)
@numba.njit(cache=True, nogil=True)
def user_read_misses(fetch, items_per_set, active_sets, prefetch_sets, demand, demand_line, addresses):
    """Replay SCALE-Sim's USER-mode read buffer (``memory/read_buffer.py``) over a demand stream.

    ``fetch``: the operand's prefetch order (valid addresses only); set ``j`` holds fetch
    elements ``j*items_per_set ..`` (``len(fetch) // items_per_set + 1`` sets, the last one
    possibly empty).  The active window is ``active_sets`` consecutive sets (cyclic) starting at
    set 0; a demanded address in none of them moves the window by ``prefetch_sets`` (one
    prefetch) until it is.  ``demand``/``demand_line``: valid demanded addresses in request order
    and their demand line.  Returns ``(event_lines, event_prefetches)``: per demand line with a
    miss, the number of prefetches issued so far after that line.
    """
    n_fetch = fetch.size
    n_sets = n_fetch // items_per_set + 1
    empty = np.zeros(0, dtype=np.int64)
    if active_sets >= n_sets:
        return empty, empty
    # CSR: address -> set ids of its fetch positions (ascending)
    count = np.zeros(addresses + 1, dtype=np.int64)
    for q in range(n_fetch):
        count[fetch[q] + 1] += 1
    for a in range(addresses):
        count[a + 1] += count[a]
    sets = np.empty(n_fetch, dtype=np.int64)
    fill = count[:-1].copy()
    for q in range(n_fetch):
        a = fetch[q]
        sets[fill[a]] = q // items_per_set
        fill[a] += 1
    ev_line = np.empty(demand.size, dtype=np.int64)
    ev_k = np.empty(demand.size, dtype=np.int64)
    n_ev = 0
    start = 0
    k = 0
    for i in range(demand.size):
        a = demand[i]
        lo = count[a]
        hi = count[a + 1]
        missed = False
        while True:
            hit = False
            for q in range(lo, hi):
                if (sets[q] - start) % n_sets < active_sets:
                    hit = True
                    break
            if hit:
                break
            if hi == lo:
                raise ValueError("demanded address was never prefetched")
            start = (start + prefetch_sets) % n_sets
            k += 1
            missed = True
        if missed:
            line = demand_line[i]
            if n_ev > 0 and ev_line[n_ev - 1] == line:
                ev_k[n_ev - 1] = k
            else:
                ev_line[n_ev] = line
                ev_k[n_ev] = k
                n_ev += 1
    return ev_line[:n_ev].copy(), ev_k[:n_ev].copy()


@numba.njit(cache=True, nogil=True)
def _wb_drain(start_cycle, drained, closed, part_line, part_fill, width, lines_per_drain, state):
    # state: [dram_writes, free, first_drain_start (-1 none), last_drain_cycle, drains, partial lines,
    # first partial line not yet passed]; trace lines are full (width words) except those in part_line
    end_line = min(drained + lines_per_drain, closed)
    count = end_line - drained
    if count <= 0:
        return -1, drained
    last_fill = width
    while state[6] < state[5] and part_line[state[6]] < end_line - 1:
        state[6] += 1
    if state[6] < state[5] and part_line[state[6]] == end_line - 1:
        last_fill = part_fill[state[6]]
    data = count * width - (width - last_fill)
    state[0] += data
    state[1] += data
    if state[2] < 0 and state[4] == 0:
        state[2] = start_cycle
    state[4] += 1
    state[3] = start_cycle + count - 1
    return state[3], end_line


@numba.njit(cache=True, nogil=True)
def user_stall_scan(lines, if_lines, if_k, if_step, fl_lines, fl_k, fl_step, ofmap_counts,
                    buffer_words, active_words, drain_words, width, first_valid, last_valid):
    """Cycle stamps of SCALE-Sim's USER-mode memory system (``service_memory_requests``), line by line.

    Line ``i`` is served at cycle ``c = i + stalls so far``.  A read operand whose demand line
    missed finishes at its last prefetch's response ``-1 + k * step`` (``k`` prefetches so far),
    else at ``c + 1``; the OFMAP write buffer (``write_buffer.service_writes``, drain width
    ``width``) replayed word by word gives the line's write offset.  The line's stall is
    ``max(read_if - c - 1, read_fl - c - 1, write_offset - 1)`` (negative allowed, as in
    SCALE-Sim).  ``first_valid``/``last_valid``: per operand (ifmap, filter, ofmap) the first and
    last demand line with a valid request.  Returns ``(ints, cycles)``: ints = [stall cycles,
    total cycles, DRAM writes, first drain start, last drain cycle, drains, error];
    cycles = served cycle of first/last valid line per operand (6 values).
    """
    # lines closed before they were full (at a drain start, and the last): where, and their words
    part_line = np.empty(int(ofmap_counts.sum()) + 2, dtype=np.int64)
    part_fill = np.empty(int(ofmap_counts.sum()) + 2, dtype=np.int64)
    state = np.zeros(7, dtype=np.int64)
    state[1] = buffer_words
    state[2] = -1
    closed = 0
    drained = 0
    fill = 0
    drain_end = 0
    stalls = 0
    ii = 0
    jf = 0
    out = np.zeros(6, dtype=np.int64)
    ints = np.zeros(7, dtype=np.int64)
    last_out = 0
    for i in range(lines):
        c = i + stalls
        # reads
        if_out = c + 1
        if ii < if_lines.size and if_lines[ii] == i:
            if_out = -1 + if_k[ii] * if_step
            ii += 1
        fl_out = c + 1
        if jf < fl_lines.size and fl_lines[jf] == i:
            fl_out = -1 + fl_k[jf] * fl_step
            jf += 1
        # writes
        cur = c
        offset = 0
        # the line's words in runs up to the next event (the word that fills the buffer while a drain
        # runs, or the word that brings free space below the active half when none runs); within a
        # run a word only takes space and fills trace lines
        rem = ofmap_counts[i]
        while rem > 0:
            draining = cur < drain_end
            if draining:
                take = min(rem, state[1]) if state[1] >= 1 else 1
            else:
                take = min(rem, state[1] - active_words + 1) if state[1] >= active_words else 1
            rem -= take
            state[1] -= take
            total = fill + take
            closed += total // width
            fill = total % width
            if draining:
                if state[1] <= 0:
                    offset += max(drain_end - cur, 0)
                    cur = drain_end
            elif state[1] < active_words:
                if fill > 0:
                    part_line[state[5]] = closed
                    part_fill[state[5]] = fill
                    state[5] += 1
                    closed += 1
                    fill = 0
                end, drained = _wb_drain(cur, drained, closed, part_line, part_fill, width,
                                         -(-drain_words // width), state)
                if end < 0:
                    ints[6] = 1
                    return ints, out
                drain_end = end
        wr_out = c + offset
        if i == first_valid[0]:
            out[0] = if_out
        if i == last_valid[0]:
            out[1] = if_out
        if i == first_valid[1]:
            out[2] = fl_out
        if i == last_valid[1]:
            out[3] = fl_out
        if i == first_valid[2]:
            out[4] = wr_out
        if i == last_valid[2]:
            out[5] = wr_out
        last_out = wr_out
        stalls += max(if_out - c - 1, fl_out - c - 1, offset - 1)
    # empty_all_buffers at the last line's served cycle
    if fill > 0:
        part_line[state[5]] = closed
        part_fill[state[5]] = fill
        state[5] += 1
        closed += 1
        fill = 0
    cycle = last_out
    while drained < closed:
        end, drained = _wb_drain(cycle, drained, closed, part_line, part_fill, width, -(-drain_words // width),
                                 state)
        cycle = end + 1
    ints[0] = stalls
    ints[1] = last_out
    ints[2] = state[0]
    ints[3] = state[2]
    ints[4] = state[3]
    ints[5] = state[4]
    return ints, out


@numba.njit(cache=True, nogil=True)
def _grown(ev_line, ev_k, n_ev, need):
    """The two event arrays with room for ``need`` entries (capacity doubled), the first ``n_ev`` kept."""
    cap = ev_line.size
    while cap < need:
        cap *= 2
    nl = np.empty(cap, dtype=np.int64)
    nk = np.empty(cap, dtype=np.int64)
    nl[:n_ev] = ev_line[:n_ev]
    nk[:n_ev] = ev_k[:n_ev]
    return nl, nk


@numba.njit(cache=True, nogil=True)
def _below_antidiagonal(x, a, b):
    """Cells ``(i, j)`` of an ``a x b`` rectangle with ``i + j < x`` (closed form)."""
    if x <= 0:
        return np.int64(0)
    if x >= a + b - 1:
        return np.int64(a) * b
    below = x * (x + 1) // 2 if x <= b else b * (b + 1) // 2 + (x - b) * b
    if x > a:
        below -= (x - a) * (x - a + 1) // 2
    return np.int64(below)


@numba.njit(cache=True, nogil=True)
def _prefetch_position(ii, jj, y_is_row, width, blk_len, mrows, r0, c0, diag):
    """Rank of operand cell ``(ii, jj)`` among the valid cells of the prefetch order (closed form).

    The prefetch matrix has ``mrows = blocks * blk_len`` rows and ``width`` columns; cell ``y``
    (pixel, window element or filter, as ``y_is_row`` says) of block ``y // width`` sits at row
    ``block * blk_len + x``, column ``y % width``; the last block has valid columns ``< c0`` only
    (rows ``r0 ..``).  ``diag``: rolled out along anti-diagonals (rows descending within one),
    else row by row.  Every operand cell must be valid (no window overhang).
    """
    if y_is_row:
        y = ii
        x = jj
    else:
        y = jj
        x = ii
    blk = y // width
    col = y - blk * width
    row = blk * blk_len + x
    b = width - c0              # invalid columns of the last block's rows
    if not diag:
        pos = np.int64(row) * width + col
        if b > 0 and row > r0:
            pos -= np.int64(row - r0) * b
        return pos
    d = row + col
    pos = _below_antidiagonal(d, mrows, width) + min(d, mrows - 1) - row
    if b > 0:
        pos -= _below_antidiagonal(d - r0 - c0, mrows - r0, b)
        lo_r = max(r0, d - width + 1, row + 1)
        hi_r = min(mrows - 1, d - c0)
        if hi_r >= lo_r:
            pos -= hi_r - lo_r + 1
    return pos


@numba.njit(cache=True, nogil=True)
def _window_cells(start, active, n_sets, per_set, y_is_row, width, blk_len, mrows, r0, c0, diag, nblk):
    """Range ``[y_lo, y_hi)`` of operand lines ``y`` (prefetch blocks of ``width``) that can hold a
    cell of the window's sets ``start .. start + active - 1``: the blocks whose prefetch positions
    meet the window's (each block's cells lie between its first and last cell's positions, both
    increasing with the block).  Everything when the window wraps around."""
    if start + active > n_sets:
        return np.int64(0), np.int64(nblk) * width
    p0 = np.int64(start) * per_set
    p1 = np.int64(start + active) * per_set
    # first block whose last cell is at or after p0
    lo_b = 0
    hi_b = nblk
    while lo_b < hi_b:
        mid = (lo_b + hi_b) // 2
        last_col = c0 - 1 if mid == nblk - 1 else width - 1
        y = mid * width + last_col
        x = blk_len - 1
        ii, jj = (y, x) if y_is_row else (x, y)
        if _prefetch_position(ii, jj, y_is_row, width, blk_len, mrows, r0, c0, diag) >= p0:
            hi_b = mid
        else:
            lo_b = mid + 1
    first = lo_b
    # first block whose first cell is at or after p1
    lo_b = first
    hi_b = nblk
    while lo_b < hi_b:
        mid = (lo_b + hi_b) // 2
        y = mid * width
        ii, jj = (y, np.int64(0)) if y_is_row else (np.int64(0), y)
        if _prefetch_position(ii, jj, y_is_row, width, blk_len, mrows, r0, c0, diag) >= p1:
            hi_b = mid
        else:
            lo_b = mid + 1
    return np.int64(first) * width, np.int64(lo_b) * width


@numba.njit(cache=True, nogil=True)
def _walk_fold(mode, dataflow, is_ifmap, rows, cols, t, sr, sc, row_fold, lines_per_fold, k,
               pixel_base, window_offset, r, s, rows_left, cols_left, all_valid, fc, fr,
               geo, sets, n_sets, active, step_sets, start, kk, ev_line, ev_k, n_ev, unique, track, cell_set,
               closed, pf, pix_oy, pix_ox, win_r, win_s, win_ch):
    """One fold's demand through the USER read buffer (mode 0), or (mode 1) the lowest and highest
    set holding any address of the fold (returned as the first two values).

    ``closed``: every cell is valid, so a cell's set is its prefetch rank (:func:`_prefetch_position`,
    geometry ``pf``) over the items per set, no table needed; and since a skewed fold demands its
    block in prefetch order (sets never decrease along it), a run of cycles whose sets all lie in the
    window is passed over in one step (a binary search for its last cycle) -- only the cycles
    where the window must move, or an im2col read finds its own copy outside, are walked read by read.
    """
    pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0, pf_diag, per_set, pf_nblk = (
        pf[0] != 0, pf[1], pf[2], pf[3], pf[4], pf[5], pf[6] != 0, pf[7], pf[8])
    window_at = -1          # the window start the candidate lines and positions below were found for
    y_lo = np.int64(0)
    y_hi = np.int64(0)
    win_lo = np.int64(0)
    win_hi = np.int64(0)
    win_wrap = False
    cu = min(cols, sc - fc * cols)
    ru = min(rows, sr - fr * rows)
    base = (fc * row_fold + fr) * lines_per_fold
    g_w, g_c, g_fh, g_fw, g_sh, g_sw, g_oh, g_ow = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], geo[6], geo[7]
    skewed = True
    used, u_base, u_is_row, offset, w_is_row = 0, 0, False, 0, False
    if dataflow == 0:
        if is_ifmap:
            used, u_base, u_is_row, offset = ru, fr * rows, True, 0
        else:
            used, u_base, u_is_row, offset = cu, fc * cols, False, 0
    elif dataflow == 1:
        if is_ifmap:
            used, u_base, u_is_row, offset = ru, fr * rows, False, rows
        else:
            skewed = False
            w_is_row = True
    else:
        if is_ifmap:
            skewed = False
            w_is_row = False
        else:
            used, u_base, u_is_row, offset = ru, fr * rows, True, rows
    ncyc = used + t - 1 if skewed else ru
    first_line = -1
    last_line = -1
    lo_set = n_sets
    hi_set = -1
    ulo = 0
    nit = cu
    if closed and not skewed and not track:
        # a flipped block is whole rows of a row-by-row prefetch order: one range of positions; when
        # all its sets lie in the window every read hits (its first and last lines are all that matter)
        w = fr * rows + ru - 1                    # the first line's row; the last line's is fr * rows
        ii, jj = (w, fc * cols + cu - 1) if w_is_row else (fc * cols + cu - 1, w)
        pos_hi = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0, pf_diag)
        ii, jj = (fr * rows, fc * cols) if w_is_row else (fc * cols, fr * rows)
        pos_lo = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0, pf_diag)
        s_lo = min(pos_lo, pos_hi) // per_set
        s_hi = max(pos_lo, pos_hi) // per_set
        rel_lo = s_lo - start
        if rel_lo < 0:
            rel_lo += n_sets
        if rel_lo < active and s_hi - s_lo + rel_lo < active:
            return (start, kk, n_ev, base + rows - ru, base + rows - 1, ev_line, ev_k, lo_set, hi_set)
    cyc = -1
    while cyc < ncyc - 1:
        cyc += 1
        if skewed:
            line = base + offset + cyc
            ulo = max(0, cyc - t + 1)
            nit = min(used - 1, cyc) - ulo + 1
        else:
            line = base + rows - ru + cyc
        if closed and not track:
            # the cycle's first read: its set and its place in the window
            if skewed:
                u = ulo
                e = cyc - u
                if u_is_row:
                    ii, jj = u_base + u, e
                else:
                    ii, jj = e, u_base + u
            else:
                w = fr * rows + ru - 1 - cyc
                v = fc * cols
                if w_is_row:
                    ii, jj = w, v
                else:
                    ii, jj = v, w
            s_first = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0,
                                         pf_diag) // per_set
            rel_first = s_first - start
            if rel_first < 0:
                rel_first += n_sets
            if rel_first < active:
                limit = s_first + active - 1 - rel_first     # highest set still in the window
                if skewed:
                    # last cycle (from cyc on) whose last read's set is <= limit (sets never decrease)
                    lo_c = cyc - 1
                    hi_c = ncyc - 1
                    while lo_c < hi_c:
                        mid = (lo_c + hi_c + 1) // 2
                        u = min(used - 1, mid)
                        e = mid - u
                        if u_is_row:
                            ii, jj = u_base + u, e
                        else:
                            ii, jj = e, u_base + u
                        s_mid = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0,
                                                   pf_c0, pf_diag) // per_set
                        if s_mid <= limit:
                            lo_c = mid
                        else:
                            hi_c = mid - 1
                    if lo_c >= cyc:
                        if first_line < 0:
                            first_line = line
                        last_line = base + offset + lo_c
                        cyc = lo_c
                        continue
                else:
                    # a flipped line is one prefetch row: its reads' sets never decrease along it
                    v = fc * cols + cu - 1
                    if w_is_row:
                        ii, jj = w, v
                    else:
                        ii, jj = v, w
                    s_last = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0,
                                                pf_diag) // per_set
                    if s_last <= limit:
                        if first_line < 0:
                            first_line = line
                        last_line = line
                        continue
        missed = False
        for it in range(nit):
            if skewed:
                u = ulo + it
                e = cyc - u
                if u_is_row:
                    ii = u_base + u
                    jj = e
                else:
                    ii = e
                    jj = u_base + u
            else:
                w = fr * rows + ru - 1 - cyc
                v = fc * cols + it
                if w_is_row:
                    ii = w
                    jj = v
                else:
                    ii = v
                    jj = w
            if is_ifmap:
                if not (all_valid or (r[jj] < rows_left[ii] and s[jj] < cols_left[ii])):
                    continue
                a = -1          # computed below where needed
            else:
                a = np.int64(jj) * k + ii
            if first_line < 0:
                first_line = line
            last_line = line
            if is_ifmap and unique:
                a = np.int64(pixel_base[ii]) + np.int64(window_offset[jj])
            if closed and not unique:
                # im2col IFMAP, every cell valid: positions compared with the window's position range
                # (no division by the set size), copies enumerated from per-pixel / per-window-element
                # tables (no division), only those on operand lines that can hold the window looked up
                if window_at != start:
                    y_lo, y_hi = _window_cells(start, active, n_sets, per_set, pf_y_is_row, pf_width, pf_blk_len,
                                               pf_mrows, pf_r0, pf_c0, pf_diag, pf_nblk)
                    window_at = start
                    win_lo = np.int64(start) * per_set
                    win_wrap = start + active > n_sets
                    win_hi = np.int64(start + active - n_sets if win_wrap else start + active) * per_set
                own_pos = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0,
                                             pf_diag)
                if (own_pos >= win_lo or own_pos < win_hi) if win_wrap else (win_lo <= own_pos < win_hi):
                    continue
                oy0 = pix_oy[ii]
                ox0 = pix_ox[ii]
                jr = win_r[jj]
                js = win_s[jj]
                ch = win_ch[jj]
                iy = oy0 * g_sh + jr
                ix = ox0 * g_sw + js
                rr_first = jr % g_sh if g_sh > 1 else 0
                ss_first = js % g_sw if g_sw > 1 else 0
                oy_first = oy0 + (jr - rr_first) // g_sh if g_sh > 1 else oy0 + jr
                ox_first = ox0 + (js - ss_first) // g_sw if g_sw > 1 else ox0 + js
                rr_last = min(g_fh - 1, iy)
                ss_last = min(g_fw - 1, ix)
                while True:
                    hit = False
                    rr = rr_first
                    oy = oy_first
                    while rr <= rr_last:
                        if oy < g_oh:
                            ss = ss_first
                            ox = ox_first
                            while ss <= ss_last:
                                if ox < g_ow:
                                    ii2 = oy * g_ow + ox
                                    jj2 = (rr * g_fw + ss) * g_c + ch
                                    y2 = ii2 if pf_y_is_row else jj2
                                    if y_lo <= y2 < y_hi:
                                        pos = _prefetch_position(ii2, jj2, pf_y_is_row, pf_width, pf_blk_len,
                                                                 pf_mrows, pf_r0, pf_c0, pf_diag)
                                        if (pos >= win_lo or pos < win_hi) if win_wrap else (win_lo <= pos < win_hi):
                                            hit = True
                                            break
                                ss += g_sw
                                ox -= 1
                            if hit:
                                break
                        rr += g_sh
                        oy -= 1
                    if hit:
                        break
                    start += step_sets
                    if start >= n_sets:
                        start -= n_sets
                    kk += 1
                    missed = True
                    y_lo, y_hi = _window_cells(start, active, n_sets, per_set, pf_y_is_row, pf_width, pf_blk_len,
                                               pf_mrows, pf_r0, pf_c0, pf_diag, pf_nblk)
                    window_at = start
                    win_lo = np.int64(start) * per_set
                    win_wrap = start + active > n_sets
                    win_hi = np.int64(start + active - n_sets if win_wrap else start + active) * per_set
                continue
            if not unique:
                # im2col IFMAP (sets from the prefetch walk): the demanded cell's own copy first, then
                # every other copy of the address
                own = cell_set[ii * k + jj]
                if track:
                    if own < lo_set:
                        lo_set = own
                    if own > hi_set:
                        hi_set = own
                rel = own - start
                if rel < 0:
                    rel += n_sets
                if rel < active:
                    continue
                a = np.int64(pixel_base[ii]) + np.int64(window_offset[jj])
                ch = a % g_c
                pix = a // g_c
                iy = pix // g_w
                ix = pix - iy * g_w
                while True:
                    hit = False
                    for rr in range(iy % g_sh, min(g_fh - 1, iy) + 1, g_sh):
                        oy = (iy - rr) // g_sh
                        if oy >= g_oh:
                            continue
                        for ss in range(ix % g_sw, min(g_fw - 1, ix) + 1, g_sw):
                            ox = (ix - ss) // g_sw
                            if ox >= g_ow:
                                continue
                            rel = cell_set[(oy * g_ow + ox) * k + (rr * g_fw + ss) * g_c + ch] - start
                            if rel < 0:
                                rel += n_sets
                            if rel < active:
                                hit = True
                                break
                        if hit:
                            break
                    if hit:
                        break
                    start += step_sets
                    if start >= n_sets:
                        start -= n_sets
                    kk += 1
                    missed = True
                continue
            if closed:
                set_a = _prefetch_position(ii, jj, pf_y_is_row, pf_width, pf_blk_len, pf_mrows, pf_r0, pf_c0,
                                           pf_diag) // per_set
            else:
                set_a = np.int64(sets[a])
            if track:
                if set_a < lo_set:
                    lo_set = set_a
                if set_a > hi_set:
                    hi_set = set_a
            while True:
                rel = set_a - start
                if rel < 0:
                    rel += n_sets
                if rel < active:
                    break
                start += step_sets
                if start >= n_sets:
                    start -= n_sets
                kk += 1
                missed = True
        if missed:
            if n_ev == ev_line.size:
                ev_line, ev_k = _grown(ev_line, ev_k, n_ev, n_ev + 1)
            ev_line[n_ev] = line
            ev_k[n_ev] = kk
            n_ev += 1
    return start, kk, n_ev, first_line, last_line, ev_line, ev_k, lo_set, hi_set


@numba.njit(cache=True, nogil=True)
def user_read_walk(dataflow, is_ifmap, rows, cols, t, sr, sc, row_fold, col_fold, lines_per_fold, k,
                   pixel_base, window_offset, r, s, rows_left, cols_left, all_valid, addresses,
                   items_per_set, active_words, prefetch_words, unique, geo, closed_form=True):
    """:func:`user_read_misses` without building the streams: the prefetch order and the demand are
    walked in place (SCALE-Sim's ``create_*_prefetch_mat`` / ``create_*_demand_mat`` orders).

    Returns ``(event_lines, event_prefetches, stats)``, stats = [valid fetches, prefetch-matrix
    elements, first valid demand line, last valid demand line].  ``closed_form``: where every cell
    is valid, sets come from :func:`_prefetch_position` instead of a walk of the prefetch order
    (False: always walk it -- the tests compare the two).
    """
    # ---- prefetch matrix geometry: rows = nblk * blk_len, width columns
    if dataflow == 0:
        if is_ifmap:
            blk_len, width, nblk, ylim, y_is_row, diag = t, rows, row_fold, sr, True, True
        else:
            blk_len, width, nblk, ylim, y_is_row, diag = t, cols, col_fold, sc, False, True
    elif dataflow == 1:
        if is_ifmap:
            blk_len, width, nblk, ylim, y_is_row, diag = t, rows, row_fold, sr, False, True
        else:
            blk_len, width, nblk, ylim, y_is_row, diag = sr, cols, col_fold, sc, False, False
    else:
        if is_ifmap:
            blk_len, width, nblk, ylim, y_is_row, diag = sr, cols, col_fold, sc, True, False
        else:
            blk_len, width, nblk, ylim, y_is_row, diag = t, rows, row_fold, sr, True, True
    mrows = nblk * blk_len
    # folds whose demand is the same block of addresses: os/ws IFMAP and is filter (one block per
    # row fold, a pass = the row folds of one column fold), os filter (one block per column fold);
    # the lowest / highest set of each block's cells, noted during the prefetch walk
    if dataflow == 0 and not is_ifmap:
        nblocks = col_fold
    elif (dataflow == 0 and is_ifmap) or (dataflow == 1 and is_ifmap) or (dataflow == 2 and not is_ifmap):
        nblocks = row_fold
    else:
        nblocks = 0
    block_lo = np.full(max(nblocks, 1), 1 << 62, dtype=np.int64)
    block_hi = np.full(max(nblocks, 1), -1, dtype=np.int64)
    sets = np.empty(0, dtype=np.int32)
    # every cell valid (filters, IFMAPs without window overhang): sets in closed form, no prefetch walk
    closed = closed_form and (all_valid or not is_ifmap)
    c0 = ylim - (nblk - 1) * width          # valid columns of the last block
    pf = np.array([1 if y_is_row else 0, width, blk_len, mrows, mrows - blk_len, c0, 1 if diag else 0,
                   items_per_set, nblk], dtype=np.int64)
    # closed-form im2col: output row / column of each pixel, window row / column / channel of each
    # window element (the copies of an address are enumerated from these)
    g_c, g_fw, g_ow = geo[1], geo[3], geo[7]
    n_pix = max(sr, sc, t) if closed and is_ifmap and not unique else 0
    n_win = k if closed and is_ifmap and not unique else 0
    pix_oy = np.empty(n_pix, dtype=np.int64)
    pix_ox = np.empty(n_pix, dtype=np.int64)
    for p in range(n_pix):
        pix_oy[p] = p // g_ow
        pix_ox[p] = p - pix_oy[p] * g_ow
    win_r = np.empty(n_win, dtype=np.int64)
    win_s = np.empty(n_win, dtype=np.int64)
    win_ch = np.empty(n_win, dtype=np.int64)
    for j in range(n_win):
        ch = j % g_c
        rs = j // g_c
        win_r[j] = rs // g_fw
        win_s[j] = rs - win_r[j] * g_fw
        win_ch[j] = ch
    # IFMAP with repeated addresses: the set of each operand cell (pixel, window element), the copy
    # a demand read most likely finds in the window (checked before the address's other copies)
    cell_set = np.empty(0 if unique or closed else max(sr, sc, t) * k if is_ifmap else 0, dtype=np.int32)
    if closed:
        valid = mrows * width - blk_len * (width - c0)
        for bk in range(nblocks):
            last_col = c0 - 1 if bk == nblk - 1 else width - 1
            for end in range(2):
                y = bk * width + (last_col if end else 0)
                x = blk_len - 1 if end else 0
                ii, jj = (y, x) if y_is_row else (x, y)
                set_id = _prefetch_position(ii, jj, y_is_row, width, blk_len, mrows, mrows - blk_len, c0,
                                            diag) // items_per_set
                if end:
                    block_hi[bk] = set_id
                else:
                    block_lo[bk] = set_id
    # one walk over the prefetch order: the set of each address (unique) or of each operand cell
    # unique addresses (GEMM IFMAP, filters): set of address a is sets[a] (one walk, no table)
    for phase in range(1, 1 if closed else 2):     # (no walk in closed form)
        if phase == 1:
            if unique:
                sets = np.empty(addresses, dtype=np.int32)
        valid = 0
        ndiag = mrows + width - 1 if diag else mrows
        for d in range(ndiag):
            if diag:
                hi = min(d, mrows - 1)
                lo = max(0, d - width + 1)
            else:
                hi = width - 1     # row-major: "d" is the row, walk columns ascending
                lo = 0
            for step in range(hi - lo + 1):
                if diag:
                    row = hi - step
                    col = d - row
                else:
                    row = d
                    col = step
                blk = row // blk_len
                x = row - blk * blk_len
                y = blk * width + col
                if y >= ylim:
                    continue
                if y_is_row:
                    ii = y
                    jj = x
                else:
                    ii = x
                    jj = y
                if is_ifmap:
                    if all_valid or (r[jj] < rows_left[ii] and s[jj] < cols_left[ii]):
                        a = np.int64(pixel_base[ii]) + np.int64(window_offset[jj])
                    else:
                        a = -1
                else:
                    a = np.int64(jj) * k + ii
                if a < 0:
                    continue
                set_id = valid // items_per_set
                if unique:
                    sets[a] = set_id
                else:
                    cell_set[ii * k + jj] = set_id
                if nblocks > 0:
                    if dataflow == 0 and not is_ifmap:
                        bk = jj // cols
                    elif dataflow == 1:
                        bk = jj // rows
                    else:
                        bk = ii // rows
                    if set_id < block_lo[bk]:
                        block_lo[bk] = set_id
                    if set_id > block_hi[bk]:
                        block_hi[bk] = set_id
                valid += 1
    stats = np.zeros(4, dtype=np.int64)
    stats[0] = valid
    stats[1] = mrows * width
    n_sets = valid // items_per_set + 1
    active = min(n_sets, -(-active_words // items_per_set))
    step_sets = min(n_sets - active, -(-prefetch_words // items_per_set))
    cap = 1024
    ev_line = np.empty(cap, dtype=np.int64)
    ev_k = np.empty(cap, dtype=np.int64)
    n_ev = 0
    start = 0
    kk = 0
    first_line = -1
    last_line = -1
    always_hit = active >= n_sets
    # ---- demand walk, folds in SCALE-Sim's order (for fc: for fr)
    folds = row_fold * col_fold
    passes = nblocks == row_fold and nblocks > 0 and not (dataflow == 0 and not is_ifmap)
    memo_ev0 = np.full(n_sets if passes else 1, -1, dtype=np.int64)
    memo_ev1 = np.zeros(n_sets if passes else 1, dtype=np.int64)
    memo_dk = np.zeros(n_sets if passes else 1, dtype=np.int64)
    memo_end = np.zeros(n_sets if passes else 1, dtype=np.int64)
    memo_last = np.zeros(n_sets if passes else 1, dtype=np.int64)
    memo_k0 = np.zeros(n_sets if passes else 1, dtype=np.int64)
    pass_lines = row_fold * lines_per_fold
    if always_hit:
        # nothing misses: only the first and last lines with a valid read matter
        for direction in range(2):
            for idx in range(folds):
                fold = idx if direction == 0 else folds - 1 - idx
                res = _walk_fold(0, dataflow, is_ifmap, rows, cols, t, sr, sc, row_fold, lines_per_fold, k,
                                 pixel_base, window_offset, r, s, rows_left, cols_left, all_valid,
                                 fold // row_fold, fold % row_fold, geo, sets, n_sets, n_sets, 0, 0, 0,
                                 ev_line, ev_k, 0, unique, False, cell_set, closed, pf,
                                 pix_oy, pix_ox, win_r, win_s, win_ch)
                if res[3] >= 0:
                    if direction == 0:
                        first_line = res[3]
                    else:
                        last_line = res[4]
                    break
        col_fold = 0        # skip the walk below
    for fc in range(col_fold):
        pass_base = fc * pass_lines
        if passes and 0 < fc < col_fold - 1 and not always_hit and memo_ev0[start] >= 0:
            # the same pass from the same window: replay its events
            s0 = start
            e0 = memo_ev0[s0]
            e1 = memo_ev1[s0]
            need = n_ev + (e1 - e0)
            if need > ev_line.size:
                ev_line, ev_k = _grown(ev_line, ev_k, n_ev, need)
            for q in range(e0, e1):
                ev_line[n_ev] = ev_line[q] - memo_last[s0] + pass_base
                ev_k[n_ev] = ev_k[q] - memo_k0[s0] + kk
                n_ev += 1
            kk += memo_dk[s0]
            start = memo_end[s0]
            continue
        s0 = start
        k0 = kk
        e0 = n_ev
        for fr in range(row_fold):
            fold = fc * row_fold + fr
            if not always_hit and nblocks > 0 and fold != 0 and fold != folds - 1:
                b = fc if dataflow == 0 and not is_ifmap else fr
                rlo = block_lo[b] - start
                if rlo < 0:
                    rlo += n_sets
                rhi = block_hi[b] - start
                if rhi < 0:
                    rhi += n_sets
                if block_hi[b] >= 0 and rlo < active and rhi < active and rlo <= rhi:
                    continue            # every address of the fold is in the window: all hits
            b = 0
            if nblocks > 0:
                b = fc if dataflow == 0 and not is_ifmap else fr
            track = False       # block ranges are known from the prefetch walk
            res = _walk_fold(0, dataflow, is_ifmap, rows, cols, t, sr, sc, row_fold, lines_per_fold, k,
                             pixel_base, window_offset, r, s, rows_left, cols_left, all_valid, fc, fr,
                             geo, sets, n_sets, active, step_sets, start, kk, ev_line, ev_k, n_ev, unique,
                             track, cell_set, closed, pf, pix_oy, pix_ox, win_r, win_s, win_ch)
            start, kk, n_ev = res[0], res[1], res[2]
            if track:
                block_lo[b] = res[7]
                block_hi[b] = res[8]
            if res[3] >= 0 and first_line < 0:
                first_line = res[3]
            if res[4] >= 0:
                last_line = res[4]
            ev_line, ev_k = res[5], res[6]
        if passes and not always_hit and memo_ev0[s0] < 0:
            memo_ev0[s0] = e0
            memo_ev1[s0] = n_ev
            memo_dk[s0] = kk - k0
            memo_end[s0] = start
            memo_last[s0] = pass_base
            memo_k0[s0] = k0
    stats[2] = first_line
    stats[3] = last_line
    return ev_line[:n_ev].copy(), ev_k[:n_ev].copy(), stats


# ------------------------------------------------------------------ CALC write buffer (write_buffer.py)
@numba.njit(cache=True, nogil=True)
def _wb_line_of_word(word, fold_cum, fold_kind, table, lines_per_fold):
    fold = np.searchsorted(fold_cum, word, side="right") - 1
    cum = table[fold_kind[fold]]
    return fold * lines_per_fold + np.searchsorted(cum, word - fold_cum[fold], side="right") - 1


@numba.njit(cache=True, nogil=True)
def _wb_words_before_line(line, fold_cum, fold_kind, table, lines_per_fold):
    fold = line // lines_per_fold
    if fold >= fold_kind.size:
        return fold_cum[-1]
    within = min(line - fold * lines_per_fold, table.shape[1] - 1)
    return fold_cum[fold] + table[fold_kind[fold], within]


@numba.njit(cache=True, nogil=True)
def calc_write_buffer(fold_cum, fold_kind, table, lines_per_fold, total_lines, size, active, drain_width):
    """:func:`imaclab.systolic.buffers.simulate_write_buffer`'s replay, compiled (the same steps).

    ``fold_cum``: OFMAP words before each fold (and the total); ``table[fold_kind[f]]``: words before
    each line of fold ``f`` (cumulative, from 0).  Returns ``(dram_writes, first drain start, last
    drain cycle, stall cycles, drains)``; drains = -1 for a drain with no data (SCALE-Sim fails there),
    -2 for a repeated stall within one line (not modelled), -3 for a replay out of sync.
    """
    drain_size = size - active
    lines_per_drain = -(-drain_size // drain_width)
    free = size
    drain_end = 0
    total_words = fold_cum[-1]
    closed_lines = 0
    partial_line = np.empty(16, dtype=np.int64)     # lines closed early and their fill, in line order
    partial_fill = np.empty(16, dtype=np.int64)
    n_partial = 0
    partial_ptr = 0
    fill = 0
    drained_lines = 0
    dram_writes = 0
    drains = 0
    first_start = 0
    last_drain_cycle = 0
    stall_total = 0
    word = 0
    while True:
        # one event: a drain trigger, a run of words up to the drain's end, or a stall
        do_drain = False
        drain_cycle = 0
        if word >= total_words:
            break
        line = _wb_line_of_word(word, fold_cum, fold_kind, table, lines_per_fold)
        cycle = line + stall_total
        rest = 0
        if cycle >= drain_end:
            need = free - active + 1
            if need <= 0:
                need = 1
            target = word + need - 1
            if target >= total_words:
                n = total_words - word
                free -= n
                fill += n
                closed_lines += fill // drain_width
                fill = fill % drain_width
                word = total_words
                break
            n = target + 1 - word
            free -= n
            fill += n
            closed_lines += fill // drain_width
            fill = fill % drain_width
            word = target + 1
            drain_cycle = _wb_line_of_word(target, fold_cum, fold_kind, table, lines_per_fold) + stall_total
            do_drain = True
        else:
            first_free_line = drain_end - stall_total
            words_until = _wb_words_before_line(first_free_line, fold_cum, fold_kind, table, lines_per_fold) - word
            if free - words_until > 0 or words_until <= 0:
                n = max(words_until, 0)
                n = min(n, total_words - word)
                free -= n
                fill += n
                closed_lines += fill // drain_width
                fill = fill % drain_width
                word += n
                if word < total_words and (_wb_line_of_word(word, fold_cum, fold_kind, table, lines_per_fold)
                                           + stall_total < drain_end):
                    return 0, 0, 0, 0, -3
                continue
            target = word + free - 1 if free > 0 else word
            n = target + 1 - word
            free -= n
            fill += n
            closed_lines += fill // drain_width
            fill = fill % drain_width
            word = target + 1
            stall_line = _wb_line_of_word(target, fold_cum, fold_kind, table, lines_per_fold)
            offset = drain_end - (stall_line + stall_total)
            rest = _wb_words_before_line(stall_line + 1, fold_cum, fold_kind, table, lines_per_fold) - word
            stall_total += max(0, offset - 1)
            drain_cycle = drain_end        # the stall's drains start at the running drain's end
            # (stall_total grows after the same-line drains in the Python replay; they use drain_end only)
        # drains: one for a trigger, or as many as the stalled line's remaining words trigger
        while True:
            if do_drain:
                if fill:
                    if n_partial == partial_line.size:
                        partial_line = np.concatenate((partial_line, np.empty(n_partial, dtype=np.int64)))
                        partial_fill = np.concatenate((partial_fill, np.empty(n_partial, dtype=np.int64)))
                    partial_line[n_partial] = closed_lines
                    partial_fill[n_partial] = fill
                    n_partial += 1
                    closed_lines += 1
                    fill = 0
                end_line = min(drained_lines + lines_per_drain, closed_lines)
                count = end_line - drained_lines
                if count <= 0:
                    return 0, 0, 0, 0, -1
                last = end_line - 1
                while partial_ptr < n_partial and partial_line[partial_ptr] < last:
                    partial_ptr += 1
                last_fill = drain_width
                if partial_ptr < n_partial and partial_line[partial_ptr] == last:
                    last_fill = partial_fill[partial_ptr]
                data = count * drain_width - (drain_width - last_fill)
                dram_writes += data
                free += data
                drained_lines = end_line
                if drains == 0:
                    first_start = drain_cycle
                drains += 1
                last_drain_cycle = drain_cycle + count - 1
                drain_end = last_drain_cycle
                if rest > 0 and drain_cycle < drain_end and free <= 0:
                    return 0, 0, 0, 0, -2
                do_drain = False
            if rest <= 0:
                break
            need = max(free - active + 1, 1)
            if need > rest:
                free -= rest
                fill += rest
                closed_lines += fill // drain_width
                fill = fill % drain_width
                word += rest
                rest = 0
                break
            free -= need
            fill += need
            closed_lines += fill // drain_width
            fill = fill % drain_width
            word += need
            rest -= need
            do_drain = True
    # empty_all_buffers at the last line's cycle: drain everything left, one drain after another
    if fill:
        if n_partial == partial_line.size:
            partial_line = np.concatenate((partial_line, np.empty(n_partial, dtype=np.int64)))
            partial_fill = np.concatenate((partial_fill, np.empty(n_partial, dtype=np.int64)))
        partial_line[n_partial] = closed_lines
        partial_fill[n_partial] = fill
        n_partial += 1
        closed_lines += 1
        fill = 0
    cycle = total_lines - 1 + stall_total
    while drained_lines < closed_lines:
        end_line = min(drained_lines + lines_per_drain, closed_lines)
        count = end_line - drained_lines
        last = end_line - 1
        while partial_ptr < n_partial and partial_line[partial_ptr] < last:
            partial_ptr += 1
        last_fill = drain_width
        if partial_ptr < n_partial and partial_line[partial_ptr] == last:
            last_fill = partial_fill[partial_ptr]
        data = count * drain_width - (drain_width - last_fill)
        dram_writes += data
        free += data
        drained_lines = end_line
        if drains == 0:
            first_start = cycle
        drains += 1
        last_drain_cycle = cycle + count - 1
        cycle = last_drain_cycle + 1
    return dram_writes, first_start, last_drain_cycle, stall_total, drains
