"""Compiled per-neuron loop of the two-node neuron transient (numba).

:meth:`imaclab.devices.neuron_loaded.NeuronDynamics.step` advances every neuron of a batch
by one trapezoidal step: a lookup of five bilinear tables, then two Newton iterations of a
2x2 system, each with a lookup of the inverter current.  As numpy calls that is ~150 passes
over the batch per step, for a latency transient of ~100 steps per sample; here it is one
pass.  The kernel releases the GIL and its machine code is cached in ``__pycache__``.  It may
fuse a multiply and an add into one instruction (``contract``: the step is a long chain of
dependent operations, 24 % faster; results differ in the last bit), no other fast-math license.
"""

from __future__ import annotations

import numba
import numpy as np

from imaclab.grid import axis_cell, patch_at, patch_slope_at


def _jit(fn):
    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})(fn)


@_jit
def _cell(gate, out, g0, inv_dg, n_g, o0, inv_do, n_o):
    """Table cell of (gate, out) volts and the fractions (fx, fy) within it (:mod:`imaclab.grid`;
    scalars: compiled inline into the kernel)."""
    i, fx = axis_cell(gate, g0, inv_dg, n_g)
    j, fy = axis_cell(out, o0, inv_do, n_o)
    return i * (n_o - 1) + j, fx, fy


#: Neurons advanced together, stage by stage (independent elements the processor overlaps).
CHUNK = 32


@_jit
def dynamics_step(gate, out, pin_now, pin_next, h, load_g, load_rest, extra_c, patches, patches_inv,
                  g0, inv_dg, n_g, o0, inv_do, n_o, r_in, r_fb, offset, scale_gate, scale_out, c_gate, c_miller,
                  c_out, newton, gate_next, out_next):
    """One trapezoidal step of ``h`` seconds for every element of the flat arrays ``gate``/``out``
    (volts) into ``gate_next``/``out_next``; the formulas of
    :meth:`~imaclab.devices.neuron_loaded.NeuronDynamics.step` (divisions by constants written as
    products with their reciprocals: equal to a few units in the last place).

    ``patches`` [cells, 20]: bilinear patches of (i_inv, c_gg, c_go, c_og, c_oo), corner-major
    (column ``corner * 5 + table``); ``patches_inv`` [cells, 4]: those of i_inv alone.
    ``load_g`` (S), ``load_rest`` (A), ``extra_c`` (F): per element.  Elements go in chunks of
    :data:`CHUNK`, each stage a loop over the chunk: one neuron's step is a long chain of
    dependent operations (two table lookups deep), and the chunk lets the processor run many
    chains at once (2-3x faster than one neuron at a time).
    """
    # conductances and 1/h once
    g_in = 1.0 / r_in
    g_fb = 1.0 / r_fb
    inv_h = 1.0 / h
    work = np.empty((11, CHUNK))
    c11, c12, c21, c22, fg0, fo0, j11, j12, g, o, i_inv = (work[0], work[1], work[2], work[3], work[4], work[5],
                                                           work[6], work[7], work[8], work[9], work[10])
    d_g = np.empty(CHUNK)
    d_o = np.empty(CHUNK)
    for start in range(0, gate.size, CHUNK):
        count = min(CHUNK, gate.size - start)
        for q in range(count):
            e = start + q
            g_start = gate[e]
            o_start = out[e]
            cell, fx, fy = _cell(g_start, o_start, g0, inv_dg, n_g, o0, inv_do, n_o)
            # the five tables at (g_start, o_start); corner k of table t is column k * 5 + t
            v0 = patch_at(patches, cell, 0, 5, fx, fy)
            v1 = patch_at(patches, cell, 1, 5, fx, fy)
            v2 = patch_at(patches, cell, 2, 5, fx, fy)
            v3 = patch_at(patches, cell, 3, 5, fx, fy)
            v4 = patch_at(patches, cell, 4, 5, fx, fy)
            c11[q] = scale_gate * v1 + c_gate + c_miller
            c12[q] = scale_gate * v2 - c_miller
            c21[q] = scale_out * v3 - c_miller
            c22[q] = scale_out * v4 + c_out + c_miller + extra_c[e]
            fg0[q] = (pin_now[e] + offset - g_start) * g_in + (o_start - g_start) * g_fb
            fo0[q] = v0 + (g_start - o_start) * g_fb - load_g[e] * o_start - load_rest[e]
            j11[q] = c11[q] * inv_h + 0.5 * (g_in + g_fb)
            j12[q] = c12[q] * inv_h - 0.5 * g_fb
            g[q] = g_start
            o[q] = o_start
        for _ in range(newton):
            for q in range(count):
                cell, fx, fy = _cell(g[q], o[q], g0, inv_dg, n_g, o0, inv_do, n_o)
                i_inv[q], slope_out = patch_slope_at(patches_inv, cell, 0, 1, fx, fy)
                d_g[q] = (patches_inv[cell, 1] + patches_inv[cell, 3] * fy) * inv_dg
                d_o[q] = slope_out * inv_do
            for q in range(count):
                e = start + q
                gq = g[q]
                oq = o[q]
                lg = load_g[e]
                fg = (pin_next[e] + offset - gq) * g_in + (oq - gq) * g_fb
                fo = i_inv[q] + (gq - oq) * g_fb - lg * oq - load_rest[e]
                rg = (c11[q] * (gq - gate[e]) + c12[q] * (oq - out[e])) * inv_h - 0.5 * (fg + fg0[q])
                ro = (c21[q] * (gq - gate[e]) + c22[q] * (oq - out[e])) * inv_h - 0.5 * (fo + fo0[q])
                j21 = c21[q] * inv_h - 0.5 * (d_g[q] + g_fb)
                j22 = c22[q] * inv_h - 0.5 * (d_o[q] - g_fb - lg)
                inv_det = 1.0 / (j11[q] * j22 - j12[q] * j21)
                g[q] = gq - (j22 * rg - j12[q] * ro) * inv_det
                o[q] = oq - (j11[q] * ro - j21 * rg) * inv_det
        for q in range(count):
            gate_next[start + q] = g[q]
            out_next[start + q] = o[q]
