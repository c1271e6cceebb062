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

    def cycle_of_position(self, position: int, fold_starts: np.ndarray) -> int:
        """Cycle (stall free) at which stream element ``position`` is read."""
        fold = int(np.searchsorted(fold_starts, position, side="right")) - 1
        within = position - int(fold_starts[fold])
        return fold * self.lines_per_fold + self.fold_stream(fold).cycle_of(within)

    def cycles_of_positions(self, positions, fold_starts: np.ndarray) -> np.ndarray:
        """Vectorized :meth:`cycle_of_position` for an array of stream positions."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return positions
        fold = np.searchsorted(fold_starts, positions, side="right") - 1
        within = positions - fold_starts[fold]
        fc, fr = np.divmod(fold, self.row_fold)
        ru = np.minimum(self.rows, self.sr - fr * self.rows)
        cu = np.minimum(self.cols, self.sc - fc * self.cols)
        cycles = fold * self.lines_per_fold
        out = np.empty(positions.size, dtype=np.int64)
        # the pattern of a fold depends only on (rows used, cols used): at most four kinds
        keys = ru * (self.cols + 1) + cu
        for key in np.unique(keys):
            sel = keys == key
            r_used, c_used = divmod(int(key), self.cols + 1)
            kind, used, length, offset = self.pattern(self, r_used, c_used)
            if kind == "skewed":
                cum = np.cumsum(antidiagonal_counts(used, length))
                out[sel] = offset + np.searchsorted(cum, within[sel], side="right")
            else:
                out[sel] = self.rows - used + within[sel] // length
        return cycles + out

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


def ifmap_pass_positions(layout: OperandLayout) -> tuple[np.ndarray, int]:
    """Position in the pass's read stream of every IFMAP operand element ``(p, j)``, and the pass count.

    The inverse of :func:`ifmap_pass_stream`'s order, as an ``M x K`` int array:
    os/ws streams are skewed blocks (inverse of the anti-diagonal order), is pushes
    window rows in reverse order, pixels ascending.
    """
    df = layout.geom.dataflow
    rows, cols, t = layout.rows, layout.cols, layout.t
    m = layout.sr if df == "os" else (layout.t if df == "ws" else layout.sc)
    k = layout.t if df == "os" else layout.sr
    dtype = np.int32 if m * k < 2 ** 31 else np.int64
    positions = np.empty((m, k), dtype=dtype)
    start = 0
    inverses: dict[int, np.ndarray] = {}
    if df in ("os", "ws"):
        for fr in range(layout.row_fold):
            ru = layout.rows_used(fr)
            if ru not in inverses:
                perm = _skew_permutation(ru, t, True) if df == "os" else _skew_permutation(t, ru, False)
                inverse = np.empty(perm.size, dtype=dtype)
                inverse[perm] = np.arange(perm.size, dtype=dtype)
                inverses[ru] = inverse
            if df == "os":       # rows fr*R .. fr*R+ru of the operand, whole window
                positions[fr * rows:fr * rows + ru, :] = start + inverses[ru].reshape(ru, t)
            else:                # all pixels, window columns fr*R .. fr*R+ru
                positions[:, fr * rows:fr * rows + ru] = start + inverses[ru].reshape(t, ru)
            start += ru * t
        return positions, layout.col_fold
    for fc in range(layout.col_fold):
        cu = layout.cols_used(fc)
        for fr in range(layout.row_fold):
            ru = layout.rows_used(fr)
            window_rank = np.arange(ru - 1, -1, -1, dtype=dtype)[None, :] * cu      # window row fr*R + i
            positions[fc * cols:fc * cols + cu, fr * rows:fr * rows + ru] = \
                start + window_rank + np.arange(cu, dtype=dtype)[:, None]
            start += ru * cu
    return positions, 1


def im2col_previous_reads(conv, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Previous-read positions of every read of a convolution's IFMAP pass (see ``buffers.previous_reads``).

    Instead of sorting the reads by address, enumerate each IFMAP element's readers:
    element ``(y, x, c)`` is read by output pixel ``((y - r) / stride_h, (x - s) / stride_w)``
    at window element ``(r, s, c)`` for every filter offset ``(r, s)`` that lands on
    a pixel.  Sorting each element's (at most ``R x S``) read positions gives its
    reads in stream order.
    """
    h, w, c = conv.ifmap_height, conv.ifmap_width, conv.channels
    fh, fw = conv.filter_height, conv.filter_width
    sh, sw = conv.stride_height, conv.stride_width
    oh, ow = conv.ofmap_height, conv.ofmap_width
    m, k = positions.shape
    length = m * k
    dtype = positions.dtype
    big = np.iinfo(dtype).max
    index = np.int32 if length + c < 2 ** 31 else np.int64
    # filter rows r that can put IFMAP row y on an output row: r = y mod sh + i * sh (likewise columns)
    r, oy, ok_y = _offsets(h, fh, sh, oh)
    s_, ox, ok_x = _offsets(w, fw, sw, ow)
    row_part = (oy * ow * k + r * fw * c).astype(index)                 # (y, i)
    col_part = (ox * k + s_ * c).astype(index)                          # (x, i')
    flat = row_part[:, None, :, None] + col_part[None, :, None, :]      # (y, x, i, i') -> (p, j of channel 0)
    ok = ok_y[:, None, :, None] & ok_x[None, :, None, :]
    slots = ok.shape[2] * ok.shape[3]
    # an offset that lands on no output pixel points past the operand, where every slot holds
    # the sentinel `length` (sorts after every real position)
    flat[~ok] = length
    readers = (flat.reshape(h * w, 1, slots) + np.arange(c, dtype=index)[None, :, None]).reshape(h * w * c, slots)
    pos_ext = np.full(length + c, length, dtype=dtype)
    pos_ext[:length] = positions.reshape(-1)
    read_pos = pos_ext[readers]
    read_pos.sort(axis=1)
    # readers per element: the same for every channel of a pixel
    count = np.repeat(ok.reshape(h * w, slots).sum(axis=1), c)
    rows = np.flatnonzero(count)
    last = read_pos[rows, count[rows] - 1]
    flat_pos = read_pos.reshape(-1)
    prev_ext = np.full(length + 1, big, dtype=dtype)
    # each read's predecessor in its row (sentinels land in the spare slot `length`) ...
    prev_ext[flat_pos[1:]] = flat_pos[:-1]
    # ... except a row's first read, whose predecessor is the row's last read one pass earlier
    prev_ext[read_pos[rows, 0]] = last - length
    prev = prev_ext[:length]
    first = read_pos[rows, 0]
    return prev, first, int(rows.size)


def _offsets(size: int, window: int, stride: int, out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each IFMAP coordinate, the filter offsets that map it onto an output coordinate.

    Returns ``(offset, output, valid)`` of shape ``(size, ceil(window / stride))``:
    offset ``y mod stride + i * stride``, output ``(y - offset) / stride``.
    """
    y = np.arange(size)[:, None]
    offset = y % stride + stride * np.arange(-(-window // stride))[None, :]
    delta = y - offset
    valid = (offset < window) & (delta >= 0) & (delta // stride < out)
    return np.where(valid, offset, 0), np.where(valid, delta // stride, 0), valid
