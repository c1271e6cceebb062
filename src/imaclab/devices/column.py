"""The ideal (parasitic-free) relation between a layer's input voltages, weights and neuron input.

Topology (see docs/imac-circuit.md): each output has a positive and a negative column line;
cell (i, j) connects input line i to both lines through conductances ``G+_ij`` and ``G-_ij``.
Both line ends sit on the virtual-ground inputs of a differential transimpedance amplifier
(all partial lines of one output on the same amplifier), so with ideal wires the line
currents are exactly ``I+- = sum_i v_i G+-_ij`` and the amplifier outputs::

    u_j = R_f * (I+_j - I-_j)

Weights map differentially, ``G+ - G- = w * dG`` with ``dG = 1/R_low - 1/R_high`` and
``w`` in [-1, 1] (binary, ternary and multi-level alike), so ``u_j = R_f * dG * sum_i v_i w_ij``.

The transimpedance is set from the amplifier's voltage gain ``A`` as ``R_f = A / (N * G_mid)``
with ``N = fan_in + 1`` rows (inputs and the bias row) and ``G_mid = (1/R_low + 1/R_high)/2``:
``1/(N G_mid)`` is the resistance of a whole line's cells in parallel, so ``A`` keeps the
meaning it has in earlier IMAC tools (IMAC-Sim's gain on a conductance-averaging line
voltage) while the relation here is exactly linear.  Hence

    u_j = ideal_column_gain(...) * (sum_i v_i w_ij + v_bias * b_j)

exactly, without parasitics and device variation.
"""

from __future__ import annotations

from imaclab.errors import ConfigError


def mid_conductance_s(r_low_ohm: float, r_high_ohm: float) -> float:
    """G_mid = (1/R_low + 1/R_high) / 2, siemens."""
    _check_r(r_low_ohm, r_high_ohm)
    return 0.5 * (1.0 / r_low_ohm + 1.0 / r_high_ohm)


def delta_conductance_s(r_low_ohm: float, r_high_ohm: float) -> float:
    """dG = 1/R_low - 1/R_high, siemens: the conductance difference of a weight of +1."""
    _check_r(r_low_ohm, r_high_ohm)
    return 1.0 / r_low_ohm - 1.0 / r_high_ohm


def transimpedance_ohm(rows: int, r_low_ohm: float, r_high_ohm: float, amplifier_gain: float) -> float:
    """R_f = A / (rows * G_mid): the amplifier's transimpedance for ``rows`` summed rows, ohms."""
    if rows < 1:
        raise ConfigError(f"a column needs at least one row, got {rows}")
    return amplifier_gain / (rows * mid_conductance_s(r_low_ohm, r_high_ohm))


def ideal_column_gain(fan_in: int, r_low_ohm: float, r_high_ohm: float, amplifier_gain: float) -> float:
    """Volts of neuron input per (volt x unit weight): ``u = gain * (x_volts @ w + v_bias * b)``.

    ``fan_in`` counts the layer's inputs (the bias row is added here).  Equal to
    ``A * dG / ((fan_in + 1) * G_mid)``; with the default 5k/15k devices ``dG/G_mid = 1``,
    so the gain is ``A / (fan_in + 1)``.
    """
    rf = transimpedance_ohm(fan_in + 1, r_low_ohm, r_high_ohm, amplifier_gain)
    return rf * delta_conductance_s(r_low_ohm, r_high_ohm)


def _check_r(r_low_ohm: float, r_high_ohm: float) -> None:
    if not (r_low_ohm > 0 and r_high_ohm > r_low_ohm):
        raise ConfigError(f"need 0 < r_low_ohm < r_high_ohm, got {r_low_ohm:g} and {r_high_ohm:g}")
