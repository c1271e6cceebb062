"""Where each operand's SRAM reads and OFMAP writes fall, fold by fold, for one layer.

:class:`OperandLayout` knows, for one operand of one layer under one dataflow, the
block every fold streams (:class:`~imaclab.systolic.streams.FoldStream`) in
SCALE-Sim's fold order (``for fc: for fr:``), so a position in the operand's read
stream maps to a cycle.  :func:`ifmap_pass_stream` builds the address stream of a
convolution's im2col operand (``operand_matrix.calc_ifmap_elem_addr``).
"""

from __future__ import annotations

import numpy as np

from imaclab.systolic.schedule import FoldGeometry
from imaclab.systolic.streams import FoldStream, antidiagonal_counts, antidiagonal_order


class OperandLayout:
    """Fold-by-fold demand of ``operand`` (``ifmap``, ``filter`` or ``ofmap``) for one layer."""

    def __init__(self, geom: FoldGeometry, operand: str):
        self.geom = geom
        self.operand = operand
        self.rows = geom.rows
        self.cols = geom.cols
        self.sr, self.sc, self.t = int(geom.sr), int(geom.sc), int(geom.t)
        self.row_fold, self.col_fold = int(geom.row_fold), int(geom.col_fold)
        self.lines_per_fold = int(geom.lines_per_fold)
        self.pattern = _PATTERNS[geom.dataflow][operand]

    # used rows / columns of the array in a fold
    def rows_used(self, fr: int) -> int:
        return min(self.rows, self.sr - fr * self.rows)

    def cols_used(self, fc: int) -> int:
        return min(self.cols, self.sc - fc * self.cols)

    def fold_stream(self, fold: int) -> FoldStream:
        fc, fr = divmod(int(fold), self.row_fold)
        ru, cu = self.rows_used(fr), self.cols_used(fc)
        kind, used, length, offset = self.pattern(self, ru, cu)
        return FoldStream(kind, used, length, offset, self.rows)

    def fold_elements(self) -> np.ndarray:
        """Elements of each fold's block, in fold order (``fc`` outer, ``fr`` inner)."""
        ru = np.minimum(self.rows, self.sr - np.arange(self.row_fold, dtype=np.int64) * self.rows)
        cu = np.minimum(self.cols, self.sc - np.arange(self.col_fold, dtype=np.int64) * self.cols)
        used_r = np.tile(ru, self.col_fold)
        used_c = np.repeat(cu, self.row_fold)
        return np.asarray(_ELEMENTS[self.geom.dataflow][self.operand](self, used_r, used_c), dtype=np.int64)

    def fold_kind(self, fold):
        """A key equal for folds whose streams are the same (an int or an array of folds).

        A fold's used rows and columns, hence its stream, depend only on whether it is the last
        row fold and the last column fold: at most four kinds.
        """
        fc, fr = divmod(fold, self.row_fold)      # builtin: fast on ints, elementwise on arrays
        return (fr == self.row_fold - 1) * 2 + (fc == self.col_fold - 1)

    def cycle_of_position(self, position: int, fold_starts: np.ndarray) -> int:
        """Cycle (stall free) at which stream element ``position`` is read."""
        return int(self.cycles_of_positions([position], fold_starts)[0])

    def cycles_of_positions(self, positions, fold_starts: np.ndarray) -> np.ndarray:
        """Cycles (stall free) at which the stream elements ``positions`` are read."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return positions
        fold = np.searchsorted(fold_starts, positions, side="right") - 1
        within = positions - fold_starts[fold]
        cycles = fold * self.lines_per_fold
        kinds = self.fold_kind(fold)
        for kind in sorted(set(kinds.tolist())):     # (np.unique's first call costs ~20 ms of imports)
            sel = kinds == kind
            cycles[sel] += self.fold_stream(int(fold[np.argmax(sel)])).cycles_of(within[sel])
        return cycles

    def first_cycle(self) -> int:
        return self.fold_stream(0).first_cycle()

    def last_cycle(self) -> int:
        folds = self.row_fold * self.col_fold
        return (folds - 1) * self.lines_per_fold + self.fold_stream(folds - 1).last_cycle()

    def line_counts(self, fold: int) -> np.ndarray:
        """Elements per line over all ``lines_per_fold`` lines of ``fold``."""
        stream = self.fold_stream(fold)
        first, counts = stream.counts()
        out = np.zeros(self.lines_per_fold, dtype=np.int64)
        out[first:first + counts.size] = counts
        return out


# pattern(layout, rows_used, cols_used) -> (kind, used, length, offset)
_PATTERNS = {
    "os": {
        # ifmap rows (ofmap pixels) on PE rows, window streamed; skewed from cycle 0
        "ifmap": lambda lay, ru, cu: ("skewed", ru, lay.t, 0),
        "filter": lambda lay, ru, cu: ("skewed", cu, lay.t, 0),
        # outputs leave after the K-deep accumulation, bottom row first
        "ofmap": lambda lay, ru, cu: ("skewed", cu, ru, lay.t - 1 + lay.rows - ru),
    },
    "ws": {
        "ifmap": lambda lay, ru, cu: ("skewed", ru, lay.t, lay.rows),
        "filter": lambda lay, ru, cu: ("flipped", ru, cu, 0),
        "ofmap": lambda lay, ru, cu: ("skewed", cu, lay.t, 2 * lay.rows - 1),
    },
    "is": {
        "ifmap": lambda lay, ru, cu: ("flipped", ru, cu, 0),
        "filter": lambda lay, ru, cu: ("skewed", ru, lay.t, lay.rows),
        "ofmap": lambda lay, ru, cu: ("skewed", cu, lay.t, 2 * lay.rows - 1),
    },
}

# elements per fold, vectorized over folds: f(layout, rows_used, cols_used)
_ELEMENTS = {
    "os": {"ifmap": lambda lay, r, c: r * lay.t, "filter": lambda lay, r, c: c * lay.t,
           "ofmap": lambda lay, r, c: r * c},
    "ws": {"ifmap": lambda lay, r, c: r * lay.t, "filter": lambda lay, r, c: r * c,
           "ofmap": lambda lay, r, c: c * lay.t},
    "is": {"ifmap": lambda lay, r, c: r * c, "filter": lambda lay, r, c: r * lay.t,
           "ofmap": lambda lay, r, c: c * lay.t},
}


# ------------------------------------------------------------------ im2col addresses
class Im2col:
    """Addresses of the IFMAP operand of a convolution (relative to the IFMAP offset).

    Element ``(p, j)``: output pixel ``p = oy * ofmap_w + ox`` (row-major), window
    element ``j = (r * filter_w + s) * channels + c`` (channel fastest), address
    ``((oy*stride_h + r) * ifmap_w + ox*stride_w + s) * channels + c``, or ``-1``
    where the window hangs over the IFMAP edge (SCALE-Sim's ceil-rounded output size
    allows that).  The address separates into a pixel part plus a window part,
    so whole blocks are built by broadcasting.
    """

    def __init__(self, ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                 stride_h: int, stride_w: int, ofmap_h: int, ofmap_w: int):
        dtype = np.int32 if ifmap_h * ifmap_w * channels < 2 ** 31 else np.int64
        oy, ox = np.divmod(np.arange(ofmap_h * ofmap_w, dtype=np.int64), ofmap_w)
        r, rest = np.divmod(np.arange(filter_h * filter_w * channels, dtype=np.int64), filter_w * channels)
        s, ch = np.divmod(rest, channels)
        self.pixel_base = ((oy * stride_h * ifmap_w + ox * stride_w) * channels).astype(dtype)
        self.window_offset = ((r * ifmap_w + s) * channels + ch).astype(dtype)
        # room left below / right of each window corner, and each window element's reach
        self.rows_left = (ifmap_h - oy * stride_h).astype(dtype)
        self.cols_left = (ifmap_w - ox * stride_w).astype(dtype)
        self.r = r.astype(dtype)
        self.s = s.astype(dtype)
        self.all_valid = ((ofmap_h - 1) * stride_h + filter_h <= ifmap_h
                          and (ofmap_w - 1) * stride_w + filter_w <= ifmap_w)

    def block(self, pixels: np.ndarray, window: np.ndarray) -> np.ndarray:
        """Addresses of ``pixels x window`` (outer product of index vectors)."""
        addr = self.pixel_base[pixels][:, None] + self.window_offset[window][None, :]
        if not self.all_valid:
            ok = (self.r[window][None, :] < self.rows_left[pixels][:, None]) & \
                 (self.s[window][None, :] < self.cols_left[pixels][:, None])
            addr = np.where(ok, addr, -1)
        return addr


def _skew_permutation(rows: int, cols: int, used_on_rows: bool) -> np.ndarray:
    """Flat indices into a ``rows x cols`` block, in skewed (anti-diagonal) read order.

    The PE line index is the row index when ``used_on_rows`` else the column index.
    """
    if used_on_rows:
        u, e = antidiagonal_order(rows, cols)
        return u * cols + e
    u, e = antidiagonal_order(cols, rows)
    return e * cols + u


def ifmap_pass_stream(layout: OperandLayout, im2col: Im2col) -> tuple[np.ndarray, int]:
    """IFMAP read addresses of one *pass* and the number of passes.

    os/ws read the whole IFMAP operand once per column fold, identically each time
    (pass = the row folds of one column fold); is reads each element once (one pass
    over all folds).
    """
    df = layout.geom.dataflow
    rows, cols, t = layout.rows, layout.cols, layout.t
    pieces = []
    perms: dict[int, np.ndarray] = {}
    if df == "os":
        window = np.arange(t, dtype=np.int64)
        for fr in range(layout.row_fold):
            ru = layout.rows_used(fr)
            if ru not in perms:
                perms[ru] = _skew_permutation(ru, t, used_on_rows=True)
            # PE row u holds output pixel fr*R + u and streams its window
            block = im2col.block(fr * rows + np.arange(ru, dtype=np.int64), window)
            pieces.append(block.ravel()[perms[ru]])
        return np.concatenate(pieces), layout.col_fold
    if df == "ws":
        pixels = np.arange(t, dtype=np.int64)
        for fr in range(layout.row_fold):
            ru = layout.rows_used(fr)
            if ru not in perms:
                perms[ru] = _skew_permutation(t, ru, used_on_rows=False)
            # PE row u holds window element fr*R + u; the output pixels stream through
            block = im2col.block(pixels, fr * rows + np.arange(ru, dtype=np.int64))
            pieces.append(block.ravel()[perms[ru]])
        return np.concatenate(pieces), layout.col_fold
    # is: fold (fc, fr) pushes window rows fr*R + (ru-1 .. 0), each across pixels fc*C + (0 .. cu-1)
    for fc in range(layout.col_fold):
        cu = layout.cols_used(fc)
        pixels = fc * cols + np.arange(cu, dtype=np.int64)
        for fr in range(layout.row_fold):
            ru = layout.rows_used(fr)
            window = fr * rows + np.arange(ru - 1, -1, -1, dtype=np.int64)
            pieces.append(im2col.block(pixels, window).T.ravel())
    return np.concatenate(pieces), 1


def _skew_ranks(used: int, length: int, line_major: bool = True, elements=None) -> np.ndarray:
    """Rank of each ``(u, e)`` of a skewed ``used x length`` block in its read order (int64).

    The inverse of :func:`~imaclab.systolic.streams.antidiagonal_order` in closed form:
    element ``(u, e)`` lies on anti-diagonal ``d = u + e``, after every element of the
    earlier diagonals and after the ``u - max(0, d - length + 1)`` elements of its own
    diagonal with a smaller ``u``.  Shape ``used x length``, or ``length x used`` when
    ``line_major`` is False; ``elements`` restricts ``e`` to those indices.
    """
    before = np.concatenate(([0], np.cumsum(antidiagonal_counts(used, length))))   # elements on diagonals < d
    u = np.arange(used, dtype=np.int64)
    e = np.arange(length, dtype=np.int64) if elements is None else np.asarray(elements, dtype=np.int64)
    u, e = (u[:, None], e[None, :]) if line_major else (u[None, :], e[:, None])
    d = u + e
    ranks = before.take(d)
    ranks += u
    ranks -= np.maximum(0, d - (length - 1))
    return ranks


def _ws_positions(positions: np.ndarray, rows: int, row_fold: int, last_rows: int) -> None:
    """ws IFMAP positions: window columns ``fr*R .. fr*R + ru`` on PE rows, the ``T`` pixels streamed.

    In fold ``fr`` (start ``fr*R*T``) element ``(p, fr*R + u)`` has rank ``rank_ru(u, p)`` in the
    skewed ``ru x T`` block.  Where every anti-diagonal through row ``p`` is full
    (``R - 1 <= p <= T - R``) the rank is linear in ``p``:
    ``p*ru + ru*(ru-1)/2 + (u - ru + 1)*ru + u``, so those rows are one outer sum; the
    ``2(R - 1)`` edge rows come from the rank tables.
    """
    t, k = positions.shape
    j = np.arange(k, dtype=np.int64)
    fr, u = np.divmod(j, rows)
    ru = np.where(fr == row_fold - 1, last_rows, rows)
    lo, hi = rows - 1, t - rows + 1                  # linear rows: lo <= p < hi
    edge = np.arange(t, dtype=np.int64)
    if hi > lo:
        # computed in the table's own dtype (int64 operands into an int32 table cost a cast per
        # element, twice as slow), in blocks of rows that stay in cache between the two passes
        slope = ru.astype(positions.dtype)
        offset = (fr * rows * t + ru * (ru - 1) // 2 + (u - ru + 1) * ru + u).astype(positions.dtype)
        pixel = np.arange(lo, hi, dtype=positions.dtype)[:, None]
        step = max(1, READS_PER_BLOCK // k)
        for start in range(0, hi - lo, step):
            rows_block = positions[lo + start:lo + min(start + step, hi - lo)]
            np.multiply(pixel[start:start + step], slope[None, :], out=rows_block)
            rows_block += offset[None, :]
        edge = np.concatenate((edge[:lo], edge[hi:]))
    if edge.size:
        full = row_fold if last_rows == rows else row_fold - 1
        if full:
            starts = np.arange(full, dtype=np.int64) * (rows * t)
            table = _skew_ranks(rows, t, False, edge)                       # (edge rows, R)
            positions[edge, :full * rows] = (starts[None, :, None] + table[:, None, :]).reshape(edge.size, -1)
        if full < row_fold:
            positions[edge, full * rows:] = full * rows * t + _skew_ranks(last_rows, t, False, edge)


def ifmap_pass_positions(layout: OperandLayout, padded: bool = False) -> tuple[np.ndarray, int]:
    """Position in the pass's read stream of every IFMAP operand element ``(p, j)``, and the pass count.

    The inverse of :func:`ifmap_pass_stream`'s order, as an ``M x K`` int array:
    os/ws streams are skewed blocks (inverse of the anti-diagonal order), is pushes
    window rows in reverse order, pixels ascending.  Built by broadcasting per-fold
    rank tables (one table per fold size), no loop over folds.  ``padded=True`` appends
    a row ``M`` filled with ``M * K`` (one past the last position), used as the
    "no reader" sentinel by :func:`im2col_previous_reads`.  int32 when the positions fit (half
    the memory traffic of the table), int64 otherwise; the gathers that use them as indices
    cast them to int64 first (numpy gathers several times faster with int64 indices).
    """
    df = layout.geom.dataflow
    rows, cols, t = layout.rows, layout.cols, layout.t
    m = layout.sr if df == "os" else (layout.t if df == "ws" else layout.sc)
    k = layout.t if df == "os" else layout.sr
    storage = np.empty((m + 1 if padded else m, k), dtype=np.int32 if m * k < 2 ** 31 - 1 else np.int64)
    if padded:
        storage[m] = m * k
    positions = storage[:m]
    last_rows = layout.rows_used(layout.row_fold - 1)
    full = layout.row_fold if last_rows == rows else layout.row_fold - 1
    starts = np.arange(full, dtype=np.int64) * (rows * t)
    if df == "os":
        # operand rows fr*R .. fr*R + ru (output pixels on PE rows), whole window, fold starts fr*R*K
        if full:
            np.add(starts[:, None, None], _skew_ranks(rows, t)[None, :, :],
                   out=positions[:full * rows].reshape(full, rows, t))
        if full < layout.row_fold:
            np.add(full * rows * t, _skew_ranks(last_rows, t), out=positions[full * rows:])
        return storage, layout.col_fold
    if df == "ws":
        _ws_positions(positions, rows, layout.row_fold, last_rows)
        return storage, layout.col_fold
    # is: fold (fc, fr) starts at fc*C*K + fr*R*cu (earlier folds are full) and pushes window
    # rows fr*R + (ru-1 .. 0), each across pixels fc*C + (0 .. cu-1):
    # position(p, j) = fc*C*K + p mod C + cu(fc) * (fr*R + ru(fr) - 1 - j mod R)
    p = np.arange(m, dtype=np.int64)
    fc = p // cols
    cu = np.minimum(cols, m - fc * cols)
    j = np.arange(k, dtype=np.int64)
    fr = j // rows
    ru = np.minimum(rows, k - fr * rows)
    window_rank = fr * rows + ru - 1 - (j - fr * rows)
    np.multiply(cu[:, None], window_rank[None, :], out=positions)
    positions += (fc * cols * k + p - fc * cols)[:, None]
    return storage, 1


def _same_order_every_channel(conv, layout: "OperandLayout | None") -> bool:
    """True when the readers of IFMAP elements ``(y, x, c)`` come in the same stream order for every ``c``.

    The readers of element ``(y, x, c)`` are operand entries ``(p, rs*C + c)`` for the window
    offsets ``rs = r*filter_w + s`` that land on a pixel ``p``.  os streams the window, and its
    order ``(p // R, p mod R + j, p mod R)`` moves every reader alike with ``c``.  ws and is put
    window elements on PE rows: the order depends on ``c`` only through the row fold ``j // R``,
    so it is shared when the fold offsets ``(rs*C + c) // R - c // R`` are the same for every
    channel (always when ``R`` divides ``C`` or ``C`` divides ``R``).
    """
    if layout is None:
        return conv.channels == 1
    if layout.geom.dataflow == "os":
        return True
    rs = np.arange(conv.filter_height * conv.filter_width, dtype=np.int64)[:, None]
    ch = np.arange(conv.channels, dtype=np.int64)[None, :]
    folds = (rs * conv.channels + ch) // layout.rows - ch // layout.rows
    return bool(np.all(folds == folds[:, :1]))


def im2col_previous_reads(conv, positions: np.ndarray, layout: "OperandLayout | None" = None, *,
                          overwrite_positions: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """Previous-read positions of every read of a convolution's IFMAP pass (see ``buffers.previous_reads``).

    Instead of sorting the reads by address, enumerate each IFMAP element's readers:
    element ``(y, x, c)`` is read by output pixel ``((y - r) / stride_h, (x - s) / stride_w)``
    at window element ``(r, s, c)`` for every filter offset ``(r, s)`` that lands on
    a pixel; sorting each element's (at most ``R x S``) read positions gives its reads in
    stream order.  IFMAP pixels are taken one stride phase ``(y mod stride_h, x mod stride_w)``
    at a time, so every pixel of a phase has the same candidate offsets (no empty reader
    slots for strided convolutions).  When the order of readers is the same for every
    channel (:func:`_same_order_every_channel`: os, and ws/is when ``C`` and ``R`` divide
    one another) one sort per IFMAP *pixel* suffices and each reader's channels are gathered
    as one contiguous row of the operand.

    ``positions`` is :func:`ifmap_pass_positions`' ``M x K`` array, padded (``M + 1`` rows)
    or not; ``layout`` is the operand's :class:`OperandLayout` (None: sort every element).
    ``overwrite_positions=True`` lets the result reuse the memory of a padded ``positions`` (ws
    with a shared reader order), which is then garbage: one fresh ``M x K`` table less.
    """
    h, w, c = conv.ifmap_height, conv.ifmap_width, conv.channels
    fh, fw = conv.filter_height, conv.filter_width
    sh, sw = conv.stride_height, conv.stride_width
    oh, ow = conv.ofmap_height, conv.ofmap_width
    m = oh * ow
    k = fh * fw * c
    length = m * k
    if positions.shape[0] == m:
        positions = np.concatenate((positions, np.full((1, k), length, dtype=positions.dtype)))
    dtype = np.int32 if length + 1 < 2 ** 31 else np.int64          # previous-read positions
    # operand row p*(R*S) + rs of the operand viewed as (M*R*S) x C; "no reader" = row M*R*S,
    # the padding row (positions M*K, past every real read)
    sentinel = m * fh * fw
    index = np.int64             # numpy's index type: fancy indexing with it is fastest
    shared = c > 1 and _same_order_every_channel(conv, layout)
    flat_positions = positions.reshape(-1)
    # ws with one reader order for every channel: previous reads are written in *operand* order,
    # whole channel rows at a time, then moved to stream order by one strided copy
    # (:func:`_ws_operand_to_stream`) instead of one scattered write per read
    operand_order = shared and layout is not None and layout.geom.dataflow == "ws"
    # every real read is some element's reader; only reads of window padding keep "no read"
    fill = None if conv_all_valid(conv) else np.iinfo(dtype).max
    if operand_order:
        prev_operand = _new_table((m + 1) * k, dtype, fill)
        edge = _ws_edge_rows(m, layout.rows)
        edge_positions = positions[edge]
        if overwrite_positions and positions.dtype == dtype and positions.size > length:
            # the positions are dead once every block has read them: the stream-order table takes
            # their memory (one fresh table less: fewer page faults)
            prev_ext = positions.reshape(-1)
        else:
            prev_ext = np.empty(length + 1, dtype=dtype)
        block_reads = _pixel_block_reads_by_row
        target = prev_operand
    else:
        prev_ext = _new_table(length + 1, dtype, fill)
        block_reads = _pixel_block_reads
        target = prev_ext
    firsts = []
    for qy in range(min(sh, fh)):               # rows y = qy (mod sh); phases >= filter are never read
        row_part, rows_read = _phase_readers(h, fh, sh, oh, qy, ow * fh * fw, fw, sentinel, index)
        for qx in range(min(sw, fw)):
            col_part, cols_read = _phase_readers(w, fw, sw, ow, qx, fh * fw, 1, sentinel, index)
            if row_part.size == 0 or col_part.size == 0:
                continue
            ny, a = row_part.shape
            nx, b = col_part.shape
            pixels, slots = ny * nx, a * b
            slot_bits = max(1, (slots - 1).bit_length())
            # blocks of whole pixel rows, so that the temporaries (the reader table included) stay
            # small: cache resident, no page faults
            block_rows = max(1, READS_PER_BLOCK // (slots * c * nx))
            for lo in range(0, ny, block_rows):
                # reader row of each slot of each pixel; a slot with an invalid row or column part
                # sums to >= sentinel and is clipped to it (every real row is below the sentinel)
                reader = row_part[lo:lo + block_rows, None, :, None] + col_part[None, :, None, :]
                np.minimum(reader, sentinel, out=reader)
                count = (rows_read[lo:lo + block_rows, None] * cols_read[None, :]).reshape(-1)
                firsts.append(block_reads(reader.reshape(count.size, slots), count, c, shared,
                                          slot_bits, flat_positions, target, length))
    first = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    if operand_order:
        _ws_operand_to_stream(prev_operand.reshape(m + 1, k)[:m], edge, edge_positions, prev_ext, layout)
    return prev_ext[:length], first, int(first.size)


#: Reader slots handled per vectorized step of :func:`im2col_previous_reads` (keeps temporaries in cache).
READS_PER_BLOCK = 1 << 16


def _readers_in_read_order(reader: np.ndarray, c: int, slot_bits: int, flat_positions: np.ndarray) -> np.ndarray:
    """Each pixel's reader rows (``pixels x slots``) sorted by when they read channel 0.

    (position, slot) are packed in one int64 so that a plain sort (faster than argsort on
    short rows) gives the order, which is every channel's order when the order is shared.
    """
    pixels, slots = reader.shape
    key = flat_positions.take(reader * c).astype(np.int64)
    key <<= slot_bits
    key |= np.arange(slots, dtype=np.int64)
    key.sort(axis=1)
    key &= (1 << slot_bits) - 1
    key += np.arange(0, pixels * slots, slots, dtype=np.int64)[:, None]
    return reader.reshape(-1).take(key)


def _pixel_block_reads(reader: np.ndarray, count: np.ndarray, c: int, shared: bool, slot_bits: int,
                       flat_positions: np.ndarray, prev_ext: np.ndarray, length: int) -> np.ndarray:
    """Previous reads of the elements of a block of IFMAP pixels, written into ``prev_ext``.

    ``reader``: operand row of each reader slot (``pixels x slots``, sentinel row for none),
    ``count``: real readers per pixel.  Returns the positions of the elements' first reads.
    """
    pixels, slots = reader.shape
    if shared:
        first_channel = _readers_in_read_order(reader, c, slot_bits, flat_positions) * c
        read_pos = flat_positions.take(first_channel[:, :, None] + np.arange(c, dtype=np.int64))  # (pixel, slot, c)
        slot_stride, channel_stride = c, 1
    else:
        read_pos = flat_positions.take(reader[:, None, :] * c + np.arange(c, dtype=np.int64)[None, :, None])
        read_pos.sort(axis=2)                                                                   # (pixel, c, slot)
        slot_stride, channel_stride = 1, slots
    # each read's predecessor is the element's previous reader, one slot earlier in read_pos
    # (sentinels land in the spare slot `length`; an element's first read gets a wrong
    # predecessor here, overwritten below)
    flat_read = read_pos.reshape(-1)
    targets = flat_read.astype(np.int64)
    prev_ext[targets[slot_stride:]] = flat_read[:-slot_stride]
    # an element's first read's predecessor is its last read one pass earlier
    covered = np.arange(pixels, dtype=np.int64) if count.all() else np.flatnonzero(count)
    first_index = (covered * (slots * c))[:, None] + np.arange(c, dtype=np.int64) * channel_stride
    last_index = first_index + ((count.take(covered) - 1) * slot_stride)[:, None]
    first = targets.take(first_index.reshape(-1))
    prev_ext[first] = targets.take(last_index.reshape(-1)) - length
    return first


def _pixel_block_reads_by_row(reader: np.ndarray, count: np.ndarray, c: int, shared: bool, slot_bits: int,
                              flat_positions: np.ndarray, prev_operand: np.ndarray, length: int) -> np.ndarray:
    """:func:`_pixel_block_reads` with a shared reader order, writing ``prev_operand`` in operand order.

    Each reader is one row of ``C`` operand entries (the operand viewed as ``(M*R*S) x C``), so
    positions are gathered and previous reads written a whole row at a time.
    """
    pixels, slots = reader.shape
    rows = _readers_in_read_order(reader, c, slot_bits, flat_positions)   # (pixel, slot) in read order
    position_rows = flat_positions.reshape(-1, c)
    prev_rows = prev_operand.reshape(-1, c)
    read_pos = position_rows.take(rows, axis=0)                           # (pixel, slot, c)
    # each read's predecessor is the previous slot's read (sentinel slots write the padding rows)
    prev_rows[rows[:, 1:]] = read_pos[:, :-1]
    # an element's first read's predecessor is its last read one pass earlier
    covered = np.arange(pixels, dtype=np.int64) if count.all() else np.flatnonzero(count)
    first = read_pos[covered, 0]
    prev_rows[rows[covered, 0]] = read_pos[covered, count.take(covered) - 1] - length
    return first.reshape(-1).astype(np.int64)


def _new_table(size: int, dtype, fill) -> np.ndarray:
    return np.empty(size, dtype=dtype) if fill is None else np.full(size, fill, dtype=dtype)


def _ws_edge_rows(t: int, rows: int) -> np.ndarray:
    """Operand rows (output pixels) of a ws pass whose stream positions are not linear in ``p``
    (:func:`_ws_positions`): ``p < R - 1`` or ``p > T - R``; every row when ``T < R``."""
    if t < rows:
        return np.arange(t, dtype=np.int64)
    return np.r_[0:rows - 1, max(rows - 1, t - rows + 1):t].astype(np.int64)


def _ws_operand_to_stream(operand: np.ndarray, edge: np.ndarray, edge_positions: np.ndarray, out: np.ndarray,
                          layout: OperandLayout) -> None:
    """``out[positions[p, j]] = operand[p, j]`` for a ws IFMAP pass (``M x K``), without a scattered write.

    A fold's stream is its ``ru x T`` block in anti-diagonal order (``d = p + u``, then ``u``):
    the full diagonals ``ru - 1 <= d <= T - 1`` are one contiguous run of ``out`` starting at
    ``start(fr) + ru*(ru-1)/2``, read from ``operand`` along ``(d - u, fr*R + u)`` (a strided view,
    one per fold size; ``u`` innermost on both sides, so the copy walks both in cache-friendly order).
    The rows ``edge`` (:func:`_ws_edge_rows`, positions ``edge_positions``) hold every element of a
    partial diagonal and are scattered.
    """
    t, k = operand.shape
    rows, row_fold = layout.rows, layout.row_fold
    last_rows = layout.rows_used(row_fold - 1)
    full = row_fold if last_rows == rows else row_fold - 1
    item = out.itemsize
    source = operand.reshape(-1)
    folds = [(0, full, rows)] if full else []
    if full < row_fold:
        folds.append((full, 1, last_rows))
    for first_fold, count, used in (folds if t >= rows else []):
        diagonals = t - used + 1
        base = first_fold * rows * t + used * (used - 1) // 2
        target = np.lib.stride_tricks.as_strided(out[base:], shape=(count, diagonals, used),
                                                 strides=(rows * t * item, used * item, item))
        origin = (used - 1) * k + first_fold * rows                 # operand[d - u, fr*R + u] at d = used - 1
        read = np.lib.stride_tricks.as_strided(source[origin:], shape=(count, diagonals, used),
                                               strides=(rows * item, k * item, (1 - k) * item))
        np.copyto(target, read)
    out[edge_positions.reshape(-1)] = operand[edge].reshape(-1)


def _phase_readers(size: int, window: int, stride: int, out: int, phase: int, pixel_scale: int,
                   offset_scale: int, sentinel: int, index) -> tuple[np.ndarray, np.ndarray]:
    """Readers of the IFMAP coordinates ``y = phase + stride * t`` along one axis.

    Coordinate ``y`` is reached by filter offsets ``r = phase + i * stride`` (``r < window``)
    from output coordinate ``o = t - i`` when ``0 <= o < out``.  Returns the reader part
    ``o * pixel_scale + r * offset_scale`` (``sentinel`` where ``o`` is out of range) as a
    ``(coordinates, offsets)`` array, and the number of valid offsets of each coordinate.
    """
    t = np.arange(len(range(phase, size, stride)), dtype=np.int64)[:, None]
    i = np.arange(-(-(window - phase) // stride), dtype=np.int64)[None, :]
    o = t - i
    valid = (o >= 0) & (o < out)
    part = np.where(valid, o * pixel_scale + (phase + i * stride) * offset_scale, sentinel).astype(index)
    return part, valid.sum(axis=1)


def conv_all_valid(conv) -> bool:
    """True when no window of ``conv`` hangs over the IFMAP edge (every operand element is a real read)."""
    return ((conv.ofmap_height - 1) * conv.stride_height + conv.filter_height <= conv.ifmap_height
            and (conv.ofmap_width - 1) * conv.stride_width + conv.filter_width <= conv.ifmap_width)
