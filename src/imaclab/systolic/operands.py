"""Where each operand's SRAM reads and OFMAP writes fall, fold by fold, for one layer.

:class:`OperandLayout` knows, for one operand of one layer under one dataflow, the
block every fold streams (:class:`~imaclab.systolic.streams.FoldStream`) in
SCALE-Sim's fold order (``for fc: for fr:``), so a position in the operand's read
stream maps to a cycle.  :func:`ifmap_pass_stream` builds the address stream of a
convolution's im2col operand (``operand_matrix.calc_ifmap_elem_addr``);
:func:`ifmap_previous_reads` walks the same stream without building it.
"""

from __future__ import annotations

import threading

import numpy as np

from imaclab.systolic import kernels
from imaclab.systolic.schedule import FoldGeometry
from imaclab.systolic.streams import FoldStream, antidiagonal_order


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
        self._elements: np.ndarray | None = None

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
        if self._elements is None:      # asked for several times per layer
            self._elements = self._fold_elements()
            self._elements.setflags(write=False)
        return self._elements

    def _fold_elements(self) -> np.ndarray:
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
        """Cycle (stall free) at which stream element ``position`` is read (scalar arithmetic:
        :meth:`cycles_of_positions` for one element, without its array set-up)."""
        fold = int(np.searchsorted(fold_starts, position, side="right")) - 1
        within = int(position) - int(fold_starts[fold])
        return fold * self.lines_per_fold + self.fold_stream(fold).cycle_of(within)

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


def ifmap_previous_reads(conv, layout: OperandLayout) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Previous-read positions of every read of a convolution's IFMAP pass (as
    :func:`imaclab.systolic.buffers.previous_reads` gives them for the explicit stream of
    :func:`ifmap_pass_stream`), the positions of the first reads, the distinct addresses read
    and the number of passes.

    One compiled walk over the pass in stream order (:func:`imaclab.systolic.kernels.ifmap_previous_reads`),
    each read's address computed from the im2col geometry on the way: no ``M x K`` address or
    position table, no sort.  Positions are int32 when a pass fits, else int64.
    """
    m, _, k = conv.gemm_dims()
    length = m * k
    im2col = Im2col(conv.ifmap_height, conv.ifmap_width, conv.filter_height, conv.filter_width, conv.channels,
                    conv.stride_height, conv.stride_width, conv.ofmap_height, conv.ofmap_width)
    prev = np.empty(length, dtype=np.int32 if length < 2 ** 31 - 1 else np.int64)
    first = kernels.ifmap_previous_reads(
        kernels.DATAFLOW_CODES[layout.geom.dataflow], layout.rows, layout.cols, layout.t, layout.sr, layout.sc,
        layout.row_fold, layout.col_fold, im2col.pixel_base, im2col.window_offset, im2col.r, im2col.s,
        im2col.rows_left, im2col.cols_left, im2col.all_valid,
        conv.ifmap_height * conv.ifmap_width * conv.channels, prev)
    passes = 1 if layout.geom.dataflow == "is" else layout.col_fold
    return prev, first, int(first.size), passes


#: Largest work array kept between calls (bytes); a larger one is allocated for its call only.
SCRATCH_LIMIT_BYTES = 64 * 2 ** 20
_scratch = threading.local()


def _zeroed_bytes(n: int) -> np.ndarray:
    """A zeroed ``uint8`` work array of ``n`` bytes, on this thread's reused buffer: a fresh
    allocation of a few hundred kB per layer costs more in page faults than the count itself."""
    if n > SCRATCH_LIMIT_BYTES:
        return np.zeros(n, dtype=np.uint8)
    buffer = getattr(_scratch, "bytes", None)
    if buffer is None or buffer.size < n:
        buffer = np.empty(n, dtype=np.uint8)
        _scratch.bytes = buffer
    view = buffer[:n]
    view.fill(0)
    return view


def ws_reads_all_miss(conv, layout: OperandLayout, chunk: int) -> bool:
    """:func:`imaclab.systolic.kernels.ws_reads_all_miss` for a weight-stationary convolution."""
    return bool(kernels.ws_reads_all_miss(
        layout.rows, layout.t, layout.sr, layout.row_fold, layout.col_fold, conv.filter_width, conv.channels,
        conv.stride_height, conv.stride_width, conv.ofmap_height, conv.ofmap_width, int(chunk)))


def stationary_ifmap_misses(conv, layout: OperandLayout, chunk: int,
                            band_reads: int = kernels.BAND_READS) -> tuple[int, np.ndarray, int, int]:
    """CALC read-buffer misses of a convolution's IFMAP over all its passes (os, ws, is), the swap
    positions, and the first and last stream positions holding a real read (not window padding).

    Counts distinct words over runs of contiguous addresses wherever no swap can fall, and replays
    in stream order only around the swaps (:func:`imaclab.systolic.kernels.os_ifmap_misses`,
    :func:`~imaclab.systolic.kernels.ws_ifmap_misses`, :func:`~imaclab.systolic.kernels.is_ifmap_misses`);
    a ws layer that reads no word twice within a chunk is a closed form (:func:`ws_reads_all_miss`).
    ``band_reads``: reads replayed in order around a swap (any value gives the same answer; the
    tests use small ones to exercise every path).  The per-read walk (:func:`ifmap_previous_reads`) and
    the explicit stream (:func:`ifmap_pass_stream`) remain as the tests' references.
    """
    im2col = operand_im2col(conv)
    dataflow = layout.geom.dataflow
    length = layout.sr * (layout.t if dataflow != "is" else layout.sc)
    passes = 1 if dataflow == "is" else layout.col_fold
    if dataflow == "ws" and im2col.all_valid and ws_reads_all_miss(conv, layout, chunk):
        # no word read twice within a chunk: every read misses, the buffer swaps every chunk reads
        total = passes * length
        return total, np.arange(chunk - 1, total, chunk, dtype=np.int64), 0, total - 1
    stamp = _zeroed_bytes(conv.ifmap_height * conv.ifmap_width * conv.channels)
    geometry = (im2col.pixel_base, im2col.window_offset, im2col.r, im2col.s, im2col.rows_left, im2col.cols_left,
                im2col.all_valid, conv.ifmap_height, conv.ifmap_width)
    if dataflow == "os":
        misses, swaps = kernels.os_ifmap_misses(
            layout.rows, layout.t, layout.sr, layout.row_fold, passes, *geometry, conv.filter_height,
            conv.filter_width, conv.channels, conv.stride_height, conv.stride_width, conv.ofmap_width, int(chunk),
            stamp, int(band_reads))
    elif dataflow == "ws":
        misses, swaps = kernels.ws_ifmap_misses(
            layout.rows, layout.t, layout.sr, layout.row_fold, passes, *geometry, conv.filter_width,
            conv.channels, conv.stride_height, conv.stride_width, conv.ofmap_width, int(chunk), stamp,
            int(band_reads))
    else:
        misses, swaps = kernels.is_ifmap_misses(
            layout.rows, layout.cols, layout.sr, layout.sc, layout.row_fold, layout.col_fold, *geometry,
            conv.filter_width, conv.channels, conv.stride_height, conv.stride_width, conv.ofmap_width, int(chunk),
            stamp)
    first, last = 0, length - 1
    if not im2col.all_valid:
        first, last = kernels.real_read_span(kernels.DATAFLOW_CODES[dataflow], layout.rows, layout.cols, layout.t,
                                             layout.sr, layout.sc, layout.row_fold, layout.col_fold, im2col.r,
                                             im2col.s, im2col.rows_left, im2col.cols_left)
        if first < 0:           # no real read at all: as the walk reports it
            first, last = 0, length - 1
    return int(misses), swaps, int(first), (passes - 1) * length + int(last)


def operand_im2col(layer) -> Im2col:
    """The IFMAP operand's address map of a GEMM or convolution (SCALE-Sim's lowering)."""
    if hasattr(layer, "ifmap_height"):
        return Im2col(layer.ifmap_height, layer.ifmap_width, layer.filter_height, layer.filter_width,
                      layer.channels, layer.stride_height, layer.stride_width, layer.ofmap_height,
                      layer.ofmap_width)
    m, _, k = layer.gemm_dims()
    return Im2col(m, k, 1, k, 1, 1, 1, m, 1)


def _ifmap_address(im2col: Im2col, pixels: np.ndarray, window: np.ndarray) -> np.ndarray:
    addr = im2col.pixel_base[pixels].astype(np.int64) + im2col.window_offset[window]
    if not im2col.all_valid:
        ok = (im2col.r[window] < im2col.rows_left[pixels]) & (im2col.s[window] < im2col.cols_left[pixels])
        addr = np.where(ok, addr, -1)
    return addr


def _diagonal_cells(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of a ``rows x cols`` matrix in SCALE-Sim's diagonal prefetch roll-out order."""
    col, row = antidiagonal_order(cols, rows)
    return row, col


def fetch_sequence(layout: OperandLayout, im2col: Im2col, k: int) -> tuple[np.ndarray, int]:
    """The read operand's USER-mode prefetch order (``get_prefetch_matrices``): valid addresses in
    order and the element count of the prefetch matrix (null entries included)."""
    df, op = layout.geom.dataflow, layout.operand
    rows, cols, sr, sc, t = layout.rows, layout.cols, layout.sr, layout.sc, layout.t
    if (df, op) == ("os", "ifmap"):
        r, c = _diagonal_cells(layout.row_fold * t, rows)
        p, e = (r // t) * rows + c, r % t
        ok = p < sr
        addr = _ifmap_address(im2col, p[ok], e[ok])
        total = layout.row_fold * t * rows
    elif (df, op) == ("os", "filter"):
        r, c = _diagonal_cells(layout.col_fold * t, cols)
        n, kk = (r // t) * cols + c, r % t
        ok = n < sc
        addr = n[ok] * k + kk[ok]
        total = layout.col_fold * t * cols
    elif (df, op) == ("ws", "ifmap"):
        r, c = _diagonal_cells(layout.row_fold * t, rows)
        j, p = (r // t) * rows + c, r % t
        ok = j < sr
        addr = _ifmap_address(im2col, p[ok], j[ok])
        total = layout.row_fold * t * rows
    elif (df, op) == ("ws", "filter"):
        total = layout.col_fold * sr * cols
        r, c = np.divmod(np.arange(total, dtype=np.int64), cols)
        n, kk = (r // sr) * cols + c, r % sr
        ok = n < sc
        addr = n[ok] * k + kk[ok]
    elif (df, op) == ("is", "ifmap"):
        total = layout.col_fold * sr * cols
        r, c = np.divmod(np.arange(total, dtype=np.int64), cols)
        p, j = (r // sr) * cols + c, r % sr
        ok = p < sc
        addr = _ifmap_address(im2col, p[ok], j[ok])
    else:   # is filter
        r, c = _diagonal_cells(layout.row_fold * t, rows)
        kk, n = (r // t) * rows + c, r % t
        ok = kk < sr
        addr = n[ok] * k + kk[ok]
        total = layout.row_fold * t * rows
    addr = np.asarray(addr, dtype=np.int64)
    return addr[addr >= 0], int(total)


def filter_pass_stream(layout: OperandLayout, k: int) -> tuple[np.ndarray, int]:
    """Filter read addresses (``n*K + k``) of one pass in demand order and the number of passes."""
    df = layout.geom.dataflow
    rows, cols, t = layout.rows, layout.cols, layout.t
    pieces = []
    if df == "os":
        for fc in range(layout.col_fold):
            cu = layout.cols_used(fc)
            u, e = antidiagonal_order(cu, t)
            block = (fc * cols + u) * k + e
            pieces.extend([block] * layout.row_fold)
        return np.concatenate(pieces), 1
    if df == "ws":
        for fc in range(layout.col_fold):
            cu = layout.cols_used(fc)
            n = fc * cols + np.arange(cu, dtype=np.int64)
            for fr in range(layout.row_fold):
                ru = layout.rows_used(fr)
                kk = fr * rows + np.arange(ru - 1, -1, -1, dtype=np.int64)
                pieces.append((n[None, :] * k + kk[:, None]).ravel())
        return np.concatenate(pieces), 1
    for fr in range(layout.row_fold):     # is: PE row u holds window element fr*R + u, filters stream
        ru = layout.rows_used(fr)
        u, e = antidiagonal_order(ru, t)
        pieces.append(e * k + fr * rows + u)
    return np.concatenate(pieces), layout.col_fold


def demand_stream(layout: OperandLayout, layer, im2col: Im2col | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every valid SRAM read of a read operand in demand order and its (stall-free) demand line."""
    _, _, k = layer.gemm_dims()
    if layout.operand == "ifmap":
        stream, passes = ifmap_pass_stream(layout, im2col if im2col is not None else operand_im2col(layer))
    else:
        stream, passes = filter_pass_stream(layout, k)
    stream = np.asarray(stream, dtype=np.int64)
    if passes > 1:
        stream = np.tile(stream, passes)
    starts = np.concatenate(([0], np.cumsum(layout.fold_elements())))
    positions = np.flatnonzero(stream >= 0)
    lines = layout.cycles_of_positions(positions, starts[:-1])
    return stream[positions], np.asarray(lines, dtype=np.int64)
