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
from imaclab.devices.neuron_loaded import LoadedNeuronTable
from imaclab.errors import SimulationError


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
    so that ``t(x, y) = c0 + c1 fx + c2 fy + c3 fx fy`` inside it.
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
        # per pin-grid row, a cubic in the output current (least squares over the table's range):
        # a cheap first guess for Newton, evaluated without touching the 2-D table
        basis = np.vander(table.current_a, _GUESS_DEGREE + 1, increasing=True)
        coef, *_ = np.linalg.lstsq(basis, table.v_out.T, rcond=None)
        self.guess = be.asarray(np.ascontiguousarray(coef.T))  # [P, degree + 1]

    @staticmethod
    def _patches(t: np.ndarray) -> np.ndarray:
        t00, t10, t01, t11 = t[:-1, :-1], t[1:, :-1], t[:-1, 1:], t[1:, 1:]
        return np.stack([t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00], axis=-1).reshape(-1, 4)

    def _cell(self, pin, current):
        be = self.be
        x = be.clip((pin - self.p0) * (1.0 / self.dp), 0.0, self.n_p - 1.0)
        y = be.clip((current - self.c0) * (1.0 / self.dc), 0.0, self.n_c - 1.0)
        i = be.floor_index(x, self.n_p - 2)
        j = be.floor_index(y, self.n_c - 2)
        return i * (self.n_c - 1) + j, x - i, y - j

    def output(self, pin, current):
        """(v_out, d v_out / d i_out)."""
        cell, fx, fy = self._cell(pin, current)
        c = self.v_out[cell]
        slope_cell = c[..., 2] + c[..., 3] * fx
        return c[..., 0] + c[..., 1] * fx + slope_cell * fy, slope_cell * (1.0 / self.dc)

    def currents(self, pin, current):
        """(current into the pin, supply power) at the solved point."""
        cell, fx, fy = self._cell(pin, current)
        c = self.aux[cell]
        i_pin = c[..., 0] + c[..., 1] * fx + (c[..., 2] + c[..., 3] * fx) * fy
        p_sup = c[..., 4] + c[..., 5] * fx + (c[..., 6] + c[..., 7] * fx) * fy
        return i_pin, p_sup

    def pin_current(self, pin, current):
        return self.currents(pin, current)[0]

    def guess_polynomial(self, pin):
        """Coefficients [..., degree + 1] of v_out(pin, i) ~ sum_k c_k i^k at these pins."""
        be = self.be
        x = be.clip((pin - self.p0) * (1.0 / self.dp), 0.0, self.n_p - 1.0)
        i = be.floor_index(x, self.n_p - 2)
        fx = (x - i)[..., None]
        lo = self.guess[i]
        return lo + fx * (self.guess[i + 1] - lo)


#: Degree of the per-pin polynomial in the output current used for Newton's first guess.
_GUESS_DEGREE = 3
#: Newton steps on that polynomial before the exact (table) iterations.
_GUESS_STEPS = 3


@dataclass(frozen=True)
class NewtonSettings:
    tolerance_v: float = 1e-8     # converged when every |v - f(pin, i)| is below this, volts
    max_iterations: int = 60
    jacobi_iterations: int = 12   # diagonal (per-neuron) Newton first; full Newton if not converged


def solve_loaded(be, neuron: TransistorNeuron, pin_in, load, load_bias, *, tie_ohm: float = 0.0,
                 settings: NewtonSettings = NewtonSettings(), layer: int = 0):
    """Output voltages of transistor neurons that drive a linear load.

    ``pin_in`` [B, n]: the voltage the amplifiers hold the neuron inputs at (for
    ``join='average'`` the ideal average, from which the neuron's own input current through
    the tie resistors, ``tie_ohm`` in parallel, is subtracted).  The load: the next layer's
    source admittance, ``i_out = v_out @ load.T + load_bias`` (``load`` [n, n],
    ``load_bias`` [n], bias column times the bias voltage).  Solves
    ``v - v_out(pin, i_out(v)) = 0`` by Newton steps whose Jacobian ``I - diag(dv/di) Y`` is
    inverted to first order in the rows' coupling (rows couple only through the output-line
    wires of shared tiles); full Newton (a dense solve per sample) if that has not converged
    after ``jacobi_iterations``.

    Returns (v_out, i_out, pin) [B, n] each.
    """
    diag = load.diagonal() if hasattr(load, "diagonal") else np.diagonal(load)
    load_t = load.T
    off_t = load_t - be.eye(load.shape[0]) * diag  # the rows' coupling through the output-line wires
    # first guess: the same Newton on a cubic-in-current model of the neuron (no table lookups)
    poly = neuron.guess_polynomial(pin_in)
    v = poly[..., 0]
    for _ in range(_GUESS_STEPS):
        current = v @ load_t + load_bias
        f, dfdi = poly[..., -1], 0.0
        for k in range(poly.shape[-1] - 2, -1, -1):  # Horner for the value and its derivative
            dfdi = dfdi * current + f
            f = f * current + poly[..., k]
        d = 1.0 / (1.0 - dfdi * diag)
        z = (v - f) * d
        v = v - (z + d * dfdi * (z @ off_t))
    pin = pin_in
    full = False
    for it in range(settings.max_iterations):
        current = v @ load_t + load_bias
        if tie_ohm > 0:
            pin = pin_in - tie_ohm * neuron.pin_current(pin, current)
        f, dfdi = neuron.output(pin, current)
        res = v - f
        if be.abs_max(res) < settings.tolerance_v:
            _check_range(be, neuron, current, layer)
            return v, current, pin
        if not full and it >= settings.jacobi_iterations:
            full = True
        if not full:
            # Newton with J = D - diag(dfdi) Y_off, D = 1 - dfdi * y_diag, inverted to first order
            # in the (weak) coupling: J^-1 ~ D^-1 + D^-1 diag(dfdi) Y_off D^-1
            d = 1.0 / (1.0 - dfdi * diag)
            z = res * d
            v = v - (z + d * dfdi * (z @ off_t))
        else:
            jac = be.eye(v.shape[-1])[None, :, :] - dfdi[:, :, None] * load[None, :, :]
            v = v - be.solve(jac, res)
    raise SimulationError(f"layer {layer + 1}: the loaded transistor neurons did not converge in "
                          f"{settings.max_iterations} Newton iterations (residual {be.abs_max(res):.3g} V)")


def _check_range(be, neuron: TransistorNeuron, current, layer: int) -> None:
    peak = be.abs_max(current)
    if peak > neuron.current_range_a:
        raise SimulationError(f"layer {layer + 1}: neuron output current {peak * 1e3:.3g} mA exceeds the "
                              f"characterized range +-{neuron.current_range_a * 1e3:.3g} mA: this is a bug in the "
                              "load bound, please report it")
