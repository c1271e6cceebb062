"""The neurons as the solver sees them: the only nonlinear elements of the circuit.

* Behavioral neuron: the ideal source the netlist writes, ``v_out = VDD tanh(-slope v_pin / VDD)``
  (the pin carries ``-u``), drawing no input current and no supply power.
* Transistor neuron: the loaded two-port table of :mod:`imaclab.devices.neuron_loaded`
  (``v_out``, pin current and supply power as functions of pin voltage and output current),
  solved together with the next layer's exact source admittance by Newton's method
  (:func:`solve_loaded`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imaclab.devices.neuron import NeuronConfig, NeuronCurve
from imaclab.devices.neuron_loaded import LoadedNeuronTable, bilinear_patches
from imaclab.errors import SimulationError
from imaclab.solver import kernels
from imaclab.solver.blocks import BlockProduct


@dataclass
class BehavioralNeuron:
    """``v_out = vdd * tanh(slope * u / vdd)`` at ``u = -v_pin`` (the netlist's B-source)."""

    vdd_v: float
    slope: float

    @classmethod
    def from_curve(cls, config: NeuronConfig, curve: NeuronCurve) -> "BehavioralNeuron":
        # the netlist writer takes the slope from the curve's meta, else the config
        return cls(vdd_v=float(config.vdd_v), slope=float(curve.meta.get("slope", config.behavioral_slope)))

    def output(self, be, pin):
        return self.vdd_v * be.tanh((-self.slope / self.vdd_v) * pin)


class TransistorNeuron:
    """The loaded table on the backend, as bilinear patches: one gather per lookup.

    Cell ``(i, j)`` of a table ``t`` holds ``(t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00)``
    so that ``t(x, y) = c0 + c1 fx + c2 fy + c3 fx fy`` inside it.  The pin part of a lookup
    (row ``i``, ``fx``) is computed once per solve (:meth:`pin_cells`): the pins do not move
    while Newton iterates on the output currents.
    """

    def __init__(self, table: LoadedNeuronTable, be):
        self.table = table
        self.be = be
        self.p0 = float(table.pin_v[0])
        self.dp = float(table.pin_v[1] - table.pin_v[0])
        self.c0 = float(table.current_a[0])
        self.dc = float(table.current_a[1] - table.current_a[0])
        self.n_p = table.pin_v.size
        self.n_c = table.current_a.size
        self.v_out = be.asarray(self._patches(table.v_out))
        self.aux = be.asarray(np.concatenate([self._patches(table.i_pin), self._patches(table.p_supply)], axis=1))
        self.current_range_a = table.current_range_a
        # the fused kernels of the numpy backend (the generic methods serve torch)
        self._compiled = be.name == "numpy" and kernels.AVAILABLE

    @staticmethod
    def _patches(t: np.ndarray) -> np.ndarray:
        return bilinear_patches(t).reshape(-1, 4)

    def pin_cells(self, pin):
        """The pin part of a lookup: (pin interval i, first cell of its row, fraction fx)."""
        be = self.be
        x = be.clip((pin - self.p0) * (1.0 / self.dp), 0.0, self.n_p - 1.0)
        i = be.floor_index(x, self.n_p - 2)
        return i, i * (self.n_c - 1), x - i

    def _cell(self, pins, current):
        be = self.be
        _, row, fx = pins
        y = be.clip((current - self.c0) * (1.0 / self.dc), 0.0, self.n_c - 1.0)
        j = be.floor_index(y, self.n_c - 2)
        return row + j, fx, y - j

    def output(self, pins, current):
        """(v_out, d v_out / d i_out); ``pins`` from :meth:`pin_cells`."""
        cell, fx, fy = self._cell(pins, current)
        c = self.be.take(self.v_out, cell)
        slope_cell = c[..., 2] + c[..., 3] * fx
        return c[..., 0] + c[..., 1] * fx + slope_cell * fy, slope_cell * (1.0 / self.dc)

    def unloaded(self, pins):
        """(v_out, d v_out / d i_out) at zero output current (a grid column: one gather)."""
        _, row, fx = pins
        c = self.be.take(self.v_out, row + (self.n_c - 1) // 2)
        return c[..., 0] + c[..., 1] * fx, (c[..., 2] + c[..., 3] * fx) * (1.0 / self.dc)

    def currents(self, pins, current):
        """(current into the pin, supply power) at the solved point."""
        cell, fx, fy = self._cell(pins, current)
        c = self.be.take(self.aux, cell)
        i_pin = c[..., 0] + c[..., 1] * fx + (c[..., 2] + c[..., 3] * fx) * fy
        p_sup = c[..., 4] + c[..., 5] * fx + (c[..., 6] + c[..., 7] * fx) * fy
        return i_pin, p_sup

    def pin_current(self, pins, current):
        return self.currents(pins, current)[0]

    def newton_terms(self, pins, v, current, diag):
        """The diagonal part of a Newton step at (``v``, ``current``): ``(z, de)`` with
        ``d = 1 / (1 - s diag)``, ``de = d s``, ``z = (v - v_out) d``, ``s = d v_out / d i_out``."""
        if self._compiled:
            _, row, fx = pins
            z, de = kernels.empty_like(v), kernels.empty_like(v)
            kernels.newton_terms(v, current, row, fx, self.v_out, self.c0, 1.0 / self.dc, self.n_c, diag, z, de)
            return z, de
        f, dfdi = self.output(pins, current)
        return _diagonal_terms(v, f, dfdi, diag)

    def apply_step(self, v, z, z1, de, coupled):
        """``(v - step, max |step|)`` for ``step = z + z1 + de * coupled`` (``v`` may be updated in place)."""
        if self._compiled:
            return v, kernels.apply_step(v, z, z1, de, coupled)
        step = z + z1 + de * coupled
        return v - step, self.be.abs_max(step)

    def power(self, pin, pins, current):
        """Per sample: (power into the pins ``sum pin * i_pin``, supply power), watts [B]."""
        if self._compiled:
            _, row, fx = pins
            pin_power, supply_power = np.zeros(pin.shape[0]), np.zeros(pin.shape[0])
            kernels.pin_and_supply_power(pin, current, row, fx, self.aux, self.c0, 1.0 / self.dc, self.n_c,
                                         pin_power, supply_power)
            return pin_power, supply_power
        i_pin, p_supply = self.currents(pins, current)
        return (pin * i_pin).sum(axis=1), p_supply.sum(axis=1)


def _diagonal_terms(v, f, dfdi, diag):
    d = 1.0 / (1.0 - dfdi * diag)
    return (v - f) * d, d * dfdi


@dataclass(frozen=True)
class NewtonSettings:
    tolerance_v: float = 1e-8     # converged when every Newton step on the table is below this, volts
    max_iterations: int = 60
    jacobi_iterations: int = 12   # diagonal (per-neuron) Newton first; full Newton if not converged


class NeuronLoad:
    """The linear load on a hidden layer's neurons: the next layer's rows (its exact source
    admittance ``Y`` without the bias row), ``i_out = v @ Y^T + i_bias``.

    Products with ``Y`` and with its off-diagonal part (the rows' coupling through the
    output-line wires of shared tiles) go block by block over the row partitions
    (:class:`~imaclab.solver.blocks.BlockProduct`).
    """

    def __init__(self, be, admittance: np.ndarray, bias_v: float):
        y = np.asarray(admittance, dtype=np.float64)
        n = y.shape[0] - 1
        load = y[:n, :n]
        self.n = n
        self.matrix = be.asarray(load)                   # dense, for the full-Newton fallback
        self.diag = be.asarray(np.diagonal(load).copy())
        self.bias = be.asarray(y[:n, n] * bias_v)        # current the bias row adds to each output
        self.product = BlockProduct(be, load)
        self.coupling = BlockProduct(be, load - np.diag(np.diagonal(load)))

    def current(self, v):
        return self.product(v) + self.bias


def solve_loaded(be, neuron: TransistorNeuron, pin_in, load: NeuronLoad, *, tie_ohm: float = 0.0,
                 settings: NewtonSettings = NewtonSettings(), layer: int = 0):
    """Output voltages of transistor neurons that drive a linear load.

    ``pin_in`` [B, n]: the voltage the amplifiers hold the neuron inputs at (for
    ``join='average'`` the ideal average, from which the neuron's own input current through
    the tie resistors, ``tie_ohm`` in parallel, is subtracted).  ``load``: the next layer's
    rows, ``i_out = v @ Y^T + i_bias``.  Solves ``v - v_out(pin, i_out(v)) = 0`` by Newton
    steps whose Jacobian ``I - diag(dv/di) Y`` is inverted to second order in the rows'
    coupling (rows couple only through the output-line wires of shared tiles); full Newton (a
    dense solve per sample) if that has not converged after ``jacobi_iterations``.  The first
    step uses the neuron linearized at zero output current; converged when a step on the
    table is below ``settings.tolerance_v`` everywhere.

    Returns (v_out, i_out, pin) [B, n] each and the pin part of the table lookups there.
    """
    diag = load.diag
    pin = pin_in
    pins = neuron.pin_cells(pin_in)
    # first step: the unloaded neuron linearized at zero output current, v = v0 + s0 i(v), one
    # Newton step from v0 (cheaper than the cubic-in-current guess it replaces: fewer passes
    # over the batch for the same number of table evaluations afterwards)
    v, dfdi = neuron.unloaded(pins)
    f = v + dfdi * load.current(v)
    z, de = _diagonal_terms(v, f, dfdi, diag)
    for it in range(settings.max_iterations):
        if it <= settings.jacobi_iterations:
            # Newton with J = D - E, D = 1 - dfdi * y_diag, E = diag(dfdi) Y_off, inverted to
            # second order in the (weak) coupling: J^-1 ~ D^-1 + D^-1 E D^-1 + (D^-1 E)^2 D^-1
            # (one more block product than first order, and ~quadratic convergence instead of
            # a factor of ~100 per step); z = D^-1 res, de = D^-1 diag(dfdi)
            z1 = de * load.coupling(z)
            v, peak = neuron.apply_step(v, z, z1, de, load.coupling(z1))
        else:
            # not converged yet: full Newton, a dense solve per sample
            f, dfdi = neuron.output(pins, current)
            jac = be.eye(v.shape[-1])[None, :, :] - dfdi[:, :, None] * load.matrix[None, :, :]
            step = be.solve(jac, v - f)
            v, peak = v - step, be.abs_max(step)
        current = load.current(v)
        # converged once a Newton step on the table is below the tolerance: the residual left
        # after it is that step times the Jacobian's relative error (the dropped third-order
        # coupling, < 1 %), and the table lookup that would confirm it is skipped
        if it > 0 and peak < settings.tolerance_v:
            _check_range(be, neuron, current, layer)
            return v, current, pin, pins
        if tie_ohm > 0:
            pin = pin_in - tie_ohm * neuron.pin_current(pins, current)
            pins = neuron.pin_cells(pin)
        if it < settings.jacobi_iterations:
            z, de = neuron.newton_terms(pins, v, current, diag)
    f, _ = neuron.output(pins, current)
    raise SimulationError(f"layer {layer + 1}: the loaded transistor neurons did not converge in "
                          f"{settings.max_iterations} Newton iterations (residual {be.abs_max(v - f):.3g} V)")


def _check_range(be, neuron: TransistorNeuron, current, layer: int) -> None:
    peak = be.abs_max(current)
    if peak > neuron.current_range_a:
        raise SimulationError(f"layer {layer + 1}: neuron output current {peak * 1e3:.3g} mA exceeds the "
                              f"characterized range +-{neuron.current_range_a * 1e3:.3g} mA: this is a bug in the "
                              "load bound, please report it")
