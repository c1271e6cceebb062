"""Compiled inner loops of the loaded-neuron solve, for the numpy backend (numba).

Each Newton iteration of :func:`imaclab.solver.neurons.solve_loaded` does a bilinear table
lookup and a dozen elementwise operations per neuron; written as numpy calls that is ~40
passes over the batch's [samples x neurons] arrays per iteration, and those passes, not the
flops, set the solver's speed.  Each kernel here fuses one group of them into a single pass
and computes the same formula, in the same order of operations, as the backend-neutral
methods of :class:`~imaclab.solver.neurons.TransistorNeuron` (the tests compare the two).

Kernels release the GIL (``nogil``), so batches on several threads run on several cores,
and are compiled once per machine (``cache``: the machine code is kept in ``__pycache__``).
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; the generic path still works
    numba = None

AVAILABLE = numba is not None


def _jit(fn):
    return numba.njit(nogil=True, cache=True)(fn) if AVAILABLE else fn


@_jit
def newton_terms(v, current, row, fx, v_table, c0, inv_dc, n_c, diag, z, de):
    """One lookup of the loaded table and the diagonal part of the Newton step, per neuron.

    At (pin cell ``row``/``fx``, output current ``current``): ``f = v_out``, ``s = dv/di``;
    writes ``d = 1 / (1 - s diag)``, ``de = d s`` and ``z = (v - f) d`` (volts) into ``z``
    and ``de`` [B, n].  ``v_table``: bilinear patches [cells, 4]; ``c0``/``inv_dc``: first
    current point and inverse step of the table (A, 1/A); ``diag``: the load's diagonal (S).
    """
    batch, n = v.shape
    top = n_c - 1.0
    for b in range(batch):
        for k in range(n):
            y = (current[b, k] - c0) * inv_dc
            y = min(max(y, 0.0), top)
            j = min(int(y), n_c - 2)
            fy = y - j
            cell = row[b, k] + j
            fxk = fx[b, k]
            slope = v_table[cell, 2] + v_table[cell, 3] * fxk
            f = v_table[cell, 0] + v_table[cell, 1] * fxk + slope * fy
            dfdi = slope * inv_dc
            d = 1.0 / (1.0 - dfdi * diag[k])
            de[b, k] = d * dfdi
            z[b, k] = (v[b, k] - f) * d


@_jit
def apply_step(v, z, z1, de, coupled):
    """``v -= z + z1 + de * coupled`` in place; returns the largest |step|, volts."""
    batch, n = v.shape
    peak = 0.0
    for b in range(batch):
        for k in range(n):
            step = z[b, k] + z1[b, k] + de[b, k] * coupled[b, k]
            v[b, k] -= step
            peak = max(peak, abs(step))
    return peak


@_jit
def pin_and_supply_power(pin, current, row, fx, aux_table, c0, inv_dc, n_c, pin_power, supply_power):
    """Per sample: ``sum_k pin * i_pin`` and ``sum_k p_supply`` at the solved point, watts,
    added to ``pin_power`` and ``supply_power`` [B].  ``aux_table``: the bilinear patches of
    the pin current (columns 0-3) and supply power (4-7) [cells, 8]."""
    batch, n = pin.shape
    top = n_c - 1.0
    for b in range(batch):
        amp = 0.0
        sup = 0.0
        for k in range(n):
            y = (current[b, k] - c0) * inv_dc
            y = min(max(y, 0.0), top)
            j = min(int(y), n_c - 2)
            fy = y - j
            cell = row[b, k] + j
            fxk = fx[b, k]
            i_pin = aux_table[cell, 0] + aux_table[cell, 1] * fxk + (aux_table[cell, 2] + aux_table[cell, 3] * fxk) * fy
            amp += pin[b, k] * i_pin
            sup += aux_table[cell, 4] + aux_table[cell, 5] * fxk + (aux_table[cell, 6] + aux_table[cell, 7] * fxk) * fy
        pin_power[b] += amp
        supply_power[b] += sup


def empty_like(x) -> np.ndarray:
    return np.empty(x.shape, dtype=np.float64)
