"""Compiled inner loops of the loaded-neuron solve, for the numpy backend (numba).

Each Newton iteration of :func:`imaclab.solver.neurons.solve_loaded` does a bilinear table
lookup and a dozen elementwise operations per neuron; written as numpy calls that is ~40
passes over the batch's [samples x neurons] arrays per iteration, and those passes, not the
flops, set the solver's speed.  Each kernel here fuses one group of them into a single pass
and computes the same formulas as the backend-neutral methods of
:class:`~imaclab.solver.neurons.TransistorNeuron` (to round-off: the tests compare the two).

Kernels release the GIL (``nogil``), so batches on several threads run on several cores,
and are compiled once per machine (``cache``: the machine code is kept in ``__pycache__``).
They use numpy's floating-point error model (a division by zero gives inf, as in numpy,
instead of raising: without it every division carries a branch that keeps the compiler
from vectorizing the loop, 11 % on the Newton step) and let the compiler fuse a multiply and
an add into one instruction (``contract``: results differ in the last bit; 4 % on the
benchmark).  No other fast-math license: no reassociation, NaN and infinity kept.
"""

from __future__ import annotations

import numba

from imaclab.grid import axis_cell, patch_at, patch_slope_at


def _jit(fn):
    return numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})(fn)


@_jit
def _current_cell(current, row, c0, inv_dc, n_c):
    """The table cell of output current ``current`` (A) in the pin row starting at cell ``row``,
    and the fraction ``fy`` within it (:mod:`imaclab.grid`; scalars: compiled inline into the
    kernels below)."""
    j, fy = axis_cell(current, c0, inv_dc, n_c)
    return row + j, fy


@numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _pin_current_and_supply(aux_table, cell, fx, fy):
    """(current into the pin, A; supply power, W) in table cell ``cell`` at fractions (fx, fy):
    the bilinear patches of ``aux_table`` [cells, 8] (pin current in columns 0-3, supply power in
    4-7).  Inlined where it is called (no call, no reference counting of the table)."""
    return patch_at(aux_table, cell, 0, 1, fx, fy), patch_at(aux_table, cell, 4, 1, fx, fy)


@_jit
def pin_cells_start(pin, p0, inv_dp, n_p, n_c, start_v, row, fx, v0):
    """Per neuron: the pin interval's first table cell ``row``, the fraction ``fx`` within it, and
    the starting output ``v0`` from the linear patches ``start_v`` [pin intervals, 2], volts."""
    batch, n = pin.shape
    for b in range(batch):
        for k in range(n):
            i, f = axis_cell(pin[b, k], p0, inv_dp, n_p)
            row[b, k] = i * (n_c - 1)
            fx[b, k] = f
            v0[b, k] = start_v[i, 0] + start_v[i, 1] * f


@_jit
def rank1_newton_step(v, current, row, fx, v_table, c0, inv_dc, n_c, diag, block_lo, block_hi, sigma, u, w,
                      scratch, steps):
    """One Newton step of the loaded neurons, in place on ``v`` [B, n]; returns the largest |step|, volts.

    At (pin cell ``row``/``fx``, output current ``current``) the table gives ``f = v_out`` and
    ``s = dv/di``; the residual ``v - f`` is solved against ``J = D - S Y_off`` with ``D = 1 - s diag``
    and the load's off-diagonal part ``Y_off`` replaced by its rank-one part ``sigma u w^T`` per
    row block (Sherman-Morrison: ``J^-1 r = D^-1 r + sigma D^-1 S u (w^T D^-1 r) / (1 - sigma w^T
    D^-1 S u)``).  ``v_table``: bilinear patches [cells, 4]; ``c0``/``inv_dc``: first current point
    and inverse step (A, 1/A); ``diag`` (S): the load's diagonal; ``block_lo/hi``: the row blocks;
    ``scratch`` [4, n]; the steps are written to ``steps`` [B, n] (for :func:`finish_loaded`).
    """
    batch, n = v.shape
    peak = 0.0
    f_row, s_row, r_row, a_row = scratch[0], scratch[1], scratch[2], scratch[3]
    for b in range(batch):
        current_b, row_b, fx_b, v_b, steps_b = current[b], row[b], fx[b], v[b], steps[b]
        # a sample's neurons in stages, each a loop over independent elements (the processor
        # overlaps them; one loop doing everything per neuron was 1.35x slower)
        for k in range(n):
            cell, fy = _current_cell(current_b[k], row_b[k], c0, inv_dc, n_c)
            f_row[k], slope = patch_slope_at(v_table, cell, 0, 1, fx_b[k], fy)
            s_row[k] = slope * inv_dc
        for k in range(n):
            dfdi = s_row[k]
            d_inv = 1.0 / (1.0 - dfdi * diag[k])
            r_row[k] = (v_b[k] - f_row[k]) * d_inv
            a_row[k] = dfdi * u[k] * d_inv
        for blk in range(block_lo.size):
            lo, hi = block_lo[blk], block_hi[blk]
            alpha = 0.0
            beta = 0.0
            for k in range(lo, hi):
                alpha += w[k] * r_row[k]
                beta += w[k] * a_row[k]
            coef = sigma[blk] * alpha / (1.0 - sigma[blk] * beta)
            for k in range(lo, hi):
                step = r_row[k] + a_row[k] * coef
                v_b[k] -= step
                steps_b[k] = step
                peak = max(peak, abs(step))
    return peak


@_jit
def finish_loaded(v, current, steps, pin, row, fx, aux_table, c0, inv_dc, n_c, diag, block_lo, block_hi, sigma, u,
                  w, source_ohm, bias_row, bias_self_a, pin_power, supply_power, delivered, lost, bias_current):
    """Everything at the solved operating point of a hidden layer's loaded neurons, in one pass;
    returns the largest |output current|, amperes.

    * ``current`` [B, n] (in place): the load currents before Newton's last step, moved by that
      step ``-steps`` through the load with its coupling to rank one (as in
      :func:`rank1_newton_step`): ``-= diag steps + sigma u (w^T steps)`` per row block;
    * per sample, watts: ``pin_power = sum pin i_pin`` and ``supply_power = sum p_supply`` from the
      table's pin-current and supply-power patches ``aux_table`` [cells, 8] (as
      :func:`pin_and_supply_power`);
    * the next layer's rows, which the neurons drive through their resistances ``source_ohm``:
      ``delivered = sum v i`` and ``lost = sum r i^2`` (as :func:`row_power`), watts, and the
      current of its bias source ``bias_current = bias_row . v + bias_self_a``, amperes.
    """
    batch, n = v.shape
    peak = 0.0
    for b in range(batch):
        current_b, steps_b, v_b, pin_b, row_b, fx_b = current[b], steps[b], v[b], pin[b], row[b], fx[b]
        for blk in range(block_lo.size):
            lo, hi = block_lo[blk], block_hi[blk]
            coupled = 0.0
            for k in range(lo, hi):
                coupled += w[k] * steps_b[k]
            coupled *= sigma[blk]
            for k in range(lo, hi):
                current_b[k] -= diag[k] * steps_b[k] + u[k] * coupled
        amp = 0.0
        sup = 0.0
        p_in = 0.0
        p_lost = 0.0
        bias = 0.0
        for k in range(n):
            i = current_b[k]
            peak = max(peak, abs(i))
            cell, fy = _current_cell(i, row_b[k], c0, inv_dc, n_c)
            i_pin, p_supply = _pin_current_and_supply(aux_table, cell, fx_b[k], fy)
            amp += pin_b[k] * i_pin
            sup += p_supply
            v_k = v_b[k]
            p_in += v_k * i
            p_lost += source_ohm[k] * i * i
            bias += bias_row[k] * v_k
        pin_power[b] = amp
        supply_power[b] = sup
        delivered[b] = p_in
        lost[b] = p_lost
        bias_current[b] = bias + bias_self_a
    return peak


@_jit
def pin_and_supply_power(pin, current, row, fx, aux_table, c0, inv_dc, n_c, pin_power, supply_power):
    """Per sample: ``sum_k pin * i_pin`` and ``sum_k p_supply`` at the solved point, watts,
    added to ``pin_power`` and ``supply_power`` [B].  ``aux_table``: the bilinear patches of
    the pin current (columns 0-3) and supply power (4-7) [cells, 8]."""
    batch, n = pin.shape
    for b in range(batch):
        amp = 0.0
        sup = 0.0
        for k in range(n):
            cell, fy = _current_cell(current[b, k], row[b, k], c0, inv_dc, n_c)
            i_pin, p_supply = _pin_current_and_supply(aux_table, cell, fx[b, k], fy)
            amp += pin[b, k] * i_pin
            sup += p_supply
        pin_power[b] += amp
        supply_power[b] += sup


@_jit
def row_power(source_v, row_current, source_ohm, delivered, lost):
    """Per sample: ``sum_i s_i i_i`` (power the row drivers deliver, incl. their resistance) and
    ``sum_i r_i i_i^2`` (the part lost in the driver resistance), watts, into ``delivered``/``lost``."""
    batch, n = row_current.shape
    for b in range(batch):
        p_in = 0.0
        p_lost = 0.0
        for k in range(n):
            i = row_current[b, k]
            p_in += source_v[b, k] * i
            p_lost += source_ohm[k] * i * i
        delivered[b] = p_in
        lost[b] = p_lost

