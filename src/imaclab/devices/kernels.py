"""Compiled per-neuron loop of the two-node neuron transient (numba).

:meth:`imaclab.devices.neuron_loaded.NeuronDynamics.step` advances every neuron of a batch
by one trapezoidal step: a lookup of five bilinear tables, then two Newton iterations of a
2x2 system, each with a lookup of the inverter current.  As numpy calls that is ~150 passes
over the batch per step, for a latency transient of ~100 steps per sample; here it is one
pass.  The kernel releases the GIL and its machine code is cached in ``__pycache__``.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True)
def dynamics_step(gate, out, pin_now, pin_next, h, load_g, load_rest, extra_c, patches, patches_inv,
                  g0, inv_dg, n_g, o0, inv_do, n_o, r_in, r_fb, offset, scale_gate, scale_out, c_gate, c_miller,
                  c_out, newton, gate_next, out_next):
    """One trapezoidal step of ``h`` seconds for every element of the flat arrays ``gate``/``out``
    (volts) into ``gate_next``/``out_next``; the formulas of
    :meth:`~imaclab.devices.neuron_loaded.NeuronDynamics.step` (divisions by constants written as
    products with their reciprocals: equal to a few units in the last place).

    ``patches`` [cells, 20]: bilinear patches of (i_inv, c_gg, c_go, c_og, c_oo), corner-major
    (column ``corner * 5 + table``); ``patches_inv`` [cells, 4]: those of i_inv alone.
    ``load_g`` (S), ``load_rest`` (A), ``extra_c`` (F): per element.
    """
    g_top = n_g - 1.0
    o_top = n_o - 1.0
    # conductances and 1/h once (divisions are the slow part of this loop)
    g_in = 1.0 / r_in
    g_fb = 1.0 / r_fb
    inv_h = 1.0 / h
    for e in range(gate.size):
        g_start = gate[e]
        o_start = out[e]
        x = min(max((g_start - g0) * inv_dg, 0.0), g_top)
        y = min(max((o_start - o0) * inv_do, 0.0), o_top)
        i = min(int(x), n_g - 2)
        j = min(int(y), n_o - 2)
        cell = i * (n_o - 1) + j
        fx = x - i
        fy = y - j
        # the five tables at (g_start, o_start); corner k of table t is column k * 5 + t
        v0 = patches[cell, 0] + patches[cell, 5] * fx + (patches[cell, 10] + patches[cell, 15] * fx) * fy
        v1 = patches[cell, 1] + patches[cell, 6] * fx + (patches[cell, 11] + patches[cell, 16] * fx) * fy
        v2 = patches[cell, 2] + patches[cell, 7] * fx + (patches[cell, 12] + patches[cell, 17] * fx) * fy
        v3 = patches[cell, 3] + patches[cell, 8] * fx + (patches[cell, 13] + patches[cell, 18] * fx) * fy
        v4 = patches[cell, 4] + patches[cell, 9] * fx + (patches[cell, 14] + patches[cell, 19] * fx) * fy
        c11 = scale_gate * v1 + c_gate + c_miller
        c12 = scale_gate * v2 - c_miller
        c21 = scale_out * v3 - c_miller
        c22 = scale_out * v4 + c_out + c_miller
        c22 = c22 + extra_c[e]
        lg = load_g[e]
        lr = load_rest[e]
        fg0 = (pin_now[e] + offset - g_start) * g_in + (o_start - g_start) * g_fb
        fo0 = v0 + (g_start - o_start) * g_fb - lg * o_start - lr
        g = g_start
        o = o_start
        j11 = c11 * inv_h + 0.5 * (g_in + g_fb)
        j12 = c12 * inv_h - 0.5 * g_fb
        for _ in range(newton):
            x = min(max((g - g0) * inv_dg, 0.0), g_top)
            y = min(max((o - o0) * inv_do, 0.0), o_top)
            i = min(int(x), n_g - 2)
            j = min(int(y), n_o - 2)
            cell = i * (n_o - 1) + j
            fx = x - i
            fy = y - j
            slope_out = patches_inv[cell, 2] + patches_inv[cell, 3] * fx
            current = patches_inv[cell, 0] + patches_inv[cell, 1] * fx + slope_out * fy
            d_gate = (patches_inv[cell, 1] + patches_inv[cell, 3] * fy) * inv_dg
            d_out = slope_out * inv_do
            fg = (pin_next[e] + offset - g) * g_in + (o - g) * g_fb
            fo = current + (g - o) * g_fb - lg * o - lr
            rg = (c11 * (g - g_start) + c12 * (o - o_start)) * inv_h - 0.5 * (fg + fg0)
            ro = (c21 * (g - g_start) + c22 * (o - o_start)) * inv_h - 0.5 * (fo + fo0)
            j21 = c21 * inv_h - 0.5 * (d_gate + g_fb)
            j22 = c22 * inv_h - 0.5 * (d_out - g_fb - lg)
            inv_det = 1.0 / (j11 * j22 - j12 * j21)
            g, o = g - (j22 * rg - j12 * ro) * inv_det, o - (j11 * ro - j21 * rg) * inv_det
        gate_next[e] = g
        out_next[e] = o
