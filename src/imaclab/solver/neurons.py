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
from imaclab.grid import UniformGrid, axis_cells, flat_patches, patch_slopes, patch_value
from imaclab.solver import kernels
from imaclab.solver.blocks import BlockProduct, contiguous_blocks


@dataclass
class BehavioralNeuron:
    """``v_out = vdd * tanh(slope * u / vdd)`` at ``u = -v_pin`` (the netlist's B-source)."""

    vdd_v: float
    slope: float

    @classmethod
    def from_curve(cls, config: NeuronConfig, curve: NeuronCurve) -> BehavioralNeuron:
        # the netlist writer takes the slope from the curve's meta, else the config
        return cls(vdd_v=float(config.vdd_v), slope=float(curve.meta.get("slope", config.behavioral_slope)))

    def output(self, be, pin):
        return self.vdd_v * be.tanh((-self.slope / self.vdd_v) * pin)


class TransistorNeuron:
    """The loaded table on the backend, as bilinear patches (:mod:`imaclab.grid`): one gather
    per lookup.  The pin part of a lookup
    (row, ``fx``) is computed once per solve (:meth:`pin_cells`): the pins do not move
    while Newton iterates on the output currents.
    """

    def __init__(self, table: LoadedNeuronTable, be):
        self.table = table
        self.be = be
        self.grid = grid = UniformGrid.of(table.pin_v, table.current_a)
        self.p0, self.dp, self.n_p = grid.x0, grid.dx, grid.nx
        self.c0, self.dc, self.n_c = grid.y0, grid.dy, grid.ny
        self.v_out = be.asarray(flat_patches(table.v_out))
        self.aux = be.asarray(np.concatenate([flat_patches(table.i_pin), flat_patches(table.p_supply)], axis=1))
        self.current_range_a = table.current_range_a
        # the fused kernels of the numpy backend (the generic methods serve torch)
        self._compiled = be.name == "numpy"
        self._start_curves: dict[float, np.ndarray] = {}

    def pin_cells(self, pin):
        """The pin part of a lookup: (first cell of the pin interval's row, fraction fx)."""
        return self.grid.x_cells(pin, self.be)

    def start_curve(self, conductance_s: float):
        """Starting outputs for Newton as linear patches over the table's pin intervals [P - 1, 2]
        (value at the interval's start, change across it; on the backend), volts: each neuron
        loaded by a conductance ``conductance_s`` to ground alone, ``v = v_out(pin, conductance_s v)``.

        A neuron's own row (the diagonal of the next layer's source admittance) carries most of
        its load; the coupling to the other rows is left to Newton.  On the 400-120-84-10
        benchmark this start is 5-7x closer to the solution than the unloaded outputs, and the
        first step, being shorter, also loses less to the table's curvature.
        """
        key = float(conductance_s)
        if key not in self._start_curves:
            table = self.table
            pin = table.pin_v
            v = table.output(pin, np.zeros_like(pin))[0]
            for _ in range(100):  # scalar Newton per pin point; |slope g| < 1, converges in a few
                f, slope = table.output(pin, key * v)
                step = (v - f) / (1.0 - slope * key)
                v = v - step
                if np.abs(step).max() < 1e-12:
                    break
            self._start_curves[key] = self.be.asarray(np.stack([v[:-1], np.diff(v)], axis=1))
        return self._start_curves[key]

    def start(self, pin, conductance_s: float = 0.0):
        """(:meth:`pin_cells`, the starting outputs of :meth:`start_curve` at ``pin``) in one
        pass; ``conductance_s`` 0 starts from the unloaded outputs."""
        curve = self.start_curve(conductance_s)
        if self._compiled:
            row = np.empty(pin.shape, dtype=np.int64)
            fx, v0 = np.empty(pin.shape), np.empty(pin.shape)
            kernels.pin_cells_start(pin, self.p0, 1.0 / self.dp, self.n_p, self.n_c, curve, row, fx, v0)
            return (row, fx), v0
        pins = self.pin_cells(pin)
        row, fx = pins
        c = self.be.take(curve, row // (self.n_c - 1))
        return pins, c[..., 0] + c[..., 1] * fx

    def _cell(self, pins, current):
        row, fx = pins
        j, fy = axis_cells(current, self.c0, 1.0 / self.dc, self.n_c, self.be)
        return row + j, fx, fy

    def output(self, pins, current):
        """(v_out, d v_out / d i_out); ``pins`` from :meth:`pin_cells`."""
        cell, fx, fy = self._cell(pins, current)
        c = self.be.take(self.v_out, cell)
        return patch_value(c, fx, fy), patch_slopes(c, fx, fy)[1] * (1.0 / self.dc)

    def currents(self, pins, current):
        """(current into the pin, supply power) at the solved point."""
        cell, fx, fy = self._cell(pins, current)
        c = self.be.take(self.aux, cell)
        return patch_value(c[..., 0:4], fx, fy), patch_value(c[..., 4:8], fx, fy)

    def pin_current(self, pins, current):
        return self.currents(pins, current)[0]

    def newton_step(self, pins, v, current, load: NeuronLoad):
        """One Newton step at (``v``, ``current``) with the load's coupling taken to rank one per
        row block (:func:`imaclab.solver.kernels.rank1_newton_step`): ``(v - step, step, max
        |step|)`` (``v`` may be updated in place)."""
        if self._compiled:
            row, fx = pins
            steps = np.empty(v.shape)
            peak = kernels.rank1_newton_step(v, current, row, fx, self.v_out, self.c0, 1.0 / self.dc, self.n_c,
                                             load.diag, load.block_lo, load.block_hi, load.sigma, load.u, load.w,
                                             np.empty((4, v.shape[-1])), steps)
            return v, steps, peak
        f, dfdi = self.output(pins, current)
        d_inv = 1.0 / (1.0 - dfdi * load.diag)
        r = (v - f) * d_inv
        a = dfdi * load.u * d_inv
        alpha = (r * load.w) @ load.indicator            # per row block [B, blocks]
        beta = (a * load.w) @ load.indicator
        coef = load.sigma * alpha / (1.0 - load.sigma * beta)
        step = r + a * (coef @ load.indicator.T)
        return v - step, step, self.be.abs_max(step)

    def power(self, pin, pins, current):
        """Per sample: (power into the pins ``sum pin * i_pin``, supply power), watts [B]."""
        if self._compiled:
            row, fx = pins
            pin_power, supply_power = np.zeros(pin.shape[0]), np.zeros(pin.shape[0])
            kernels.pin_and_supply_power(pin, current, row, fx, self.aux, self.c0, 1.0 / self.dc, self.n_c,
                                         pin_power, supply_power)
            return pin_power, supply_power
        i_pin, p_supply = self.currents(pins, current)
        return (pin * i_pin).sum(axis=1), p_supply.sum(axis=1)


@dataclass(frozen=True)
class NewtonSettings:
    tolerance_v: float = 1e-5     # converged when the estimated error left is below this, volts
    max_iterations: int = 60
    jacobi_iterations: int = 12   # rank-one-coupling Newton steps first; full Newton if not converged


class NeuronLoad:
    """The linear load on a hidden layer's neurons: the next layer's rows (its exact source
    admittance ``Y`` without the bias row), ``i_out = v @ Y^T + i_bias``, driven through the
    row drivers' resistances ``source_ohm``.

    Products with ``Y`` go block by block over the row partitions
    (:class:`~imaclab.solver.blocks.BlockProduct`).  For the Newton steps, each block's
    off-diagonal part (the rows' coupling through the output-line wires of a shared tile) is
    also kept as its rank-one part ``sigma u w^T`` (its largest singular triplet: on 32x32 tiles
    the next singular value is ~12 % of it), which the steps invert exactly per sample.
    """

    def __init__(self, be, admittance: np.ndarray, bias_v: float, source_ohm: np.ndarray | None = None):
        y = np.asarray(admittance, dtype=np.float64)
        n = y.shape[0] - 1
        load = y[:n, :n]
        self.be = be
        self.matrix = be.asarray(load)                   # dense, for the full-Newton fallback
        self.diag = be.asarray(np.diagonal(load).copy())
        #: the rows' mean self-admittance, siemens: the load of Newton's starting point
        self.self_conductance_s = float(np.diagonal(load).mean())
        self.bias = be.asarray(y[:n, n] * bias_v)        # current the bias row adds to each output
        self.bias_row = be.asarray(y[n, :n].copy())      # outputs -> the bias source's current
        self.bias_self_a = float(y[n, n] * bias_v)       # the bias source's current at zero outputs
        self.source_ohm = be.asarray(np.zeros(n) if source_ohm is None else np.asarray(source_ohm, dtype=float)[:n])
        self.product = BlockProduct(be, load)
        bounds = contiguous_blocks(load) or [(0, n)]
        off = load - np.diag(np.diagonal(load))
        sigma, u, w = np.zeros(len(bounds)), np.zeros(n), np.zeros(n)
        indicator = np.zeros((n, len(bounds)))
        for k, (lo, hi) in enumerate(bounds):
            left, values, right = np.linalg.svd(off[lo:hi, lo:hi])
            sigma[k], u[lo:hi], w[lo:hi] = values[0], left[:, 0], right[0]
            indicator[lo:hi, k] = 1.0
        self.block_lo = np.array([lo for lo, _ in bounds], dtype=np.int64)
        self.block_hi = np.array([hi for _, hi in bounds], dtype=np.int64)
        self.sigma, self.u, self.w = be.asarray(sigma), be.asarray(u), be.asarray(w)
        self.indicator = be.asarray(indicator)           # rows -> blocks, for the generic step

    def current(self, v):
        out = self.product(v)
        out += self.bias
        return out


@dataclass
class LoadedSolution:
    """Loaded neurons at their solved operating point, and the next layer's rows they drive.
    Arrays [B, n] per neuron, [B] per sample."""

    v: object              # output voltages, volts
    current: object        # output currents (the rows' currents), amperes
    pin: object            # pin voltages, volts
    pin_power: object      # sum over the neurons of pin * i_pin: power into their inputs, watts
    supply_power: object   # power their supplies deliver, watts
    row_delivered: object  # sum v i over the rows: power the neurons deliver into them, watts
    row_lost: object       # sum r i^2: the part lost in the row drivers' resistances, watts
    bias_current: object   # current of the next layer's bias source, amperes


def solve_loaded(be, neuron: TransistorNeuron, pin_in, load: NeuronLoad, *, tie_ohm: float = 0.0,
                 settings: NewtonSettings = NewtonSettings(), layer: int = 0) -> LoadedSolution:
    """Transistor neurons that drive a linear load: their outputs, currents and powers.

    ``pin_in`` [B, n]: the voltage the amplifiers hold the neuron inputs at (for
    ``join='average'`` the ideal average, from which the neuron's own input current through
    the tie resistors, ``tie_ohm`` in parallel, is subtracted).  ``load``: the next layer's
    rows, ``i_out = v @ Y^T + i_bias``.  Solves ``v - v_out(pin, i_out(v)) = 0`` by Newton
    steps, from the outputs each neuron gives into its own row alone
    (:meth:`TransistorNeuron.start_curve`), whose Jacobian ``I - diag(dv/di) Y`` keeps the rows'
    coupling (through the output-line wires of shared tiles) to rank one per tile, inverted
    exactly (:meth:`TransistorNeuron.newton_step`): one table lookup and one product with ``Y``
    per step, converging by a factor of ~100 per step or faster.  Full Newton (a dense solve
    per sample) if that has not converged after ``jacobi_iterations``.  Converged when the
    error left, estimated from the last two steps, is below ``settings.tolerance_v`` everywhere.

    The last step is not followed by a product: the currents move with it through the load's
    diagonal and rank-one coupling (off by the coupling beyond rank one times a step already
    below the tolerance), and the powers are taken there (:meth:`_finish`).
    """
    pin = pin_in
    pins, v = neuron.start(pin_in, load.self_conductance_s)
    current = load.current(v)
    previous = 0.0
    for it in range(settings.max_iterations):
        if it < settings.jacobi_iterations:
            v, step, peak = neuron.newton_step(pins, v, current, load)
        else:
            # not converged yet: full Newton, a dense solve per sample
            f, dfdi = neuron.output(pins, current)
            jac = be.eye(v.shape[-1])[None, :, :] - dfdi[:, :, None] * load.matrix[None, :, :]
            step = be.solve(jac, v - f)
            v, peak = v - step, be.abs_max(step)
        # converged when the error left after this step, estimated from the observed contraction
        # (next step ~ peak * peak / previous; conservative once convergence turns quadratic),
        # or the step itself, is below the tolerance
        left = min(peak, peak * peak / previous) if previous > 0 else peak
        if left < settings.tolerance_v:
            solution, peak_current = _finish(be, neuron, load, v, current, step, pin, pins)
            if peak_current > neuron.current_range_a:
                raise SimulationError(f"layer {layer + 1}: neuron output current {peak_current * 1e3:.3g} mA exceeds "
                                      f"the characterized range +-{neuron.current_range_a * 1e3:.3g} mA: this is a "
                                      "bug in the load bound, please report it")
            return solution
        current = load.current(v)
        previous = peak
        if tie_ohm > 0:
            pin = pin_in - tie_ohm * neuron.pin_current(pins, current)
            pins = neuron.pin_cells(pin)
    f, _ = neuron.output(pins, current)
    raise SimulationError(f"layer {layer + 1}: the loaded transistor neurons did not converge in "
                          f"{settings.max_iterations} Newton iterations (residual {be.abs_max(v - f):.3g} V)")


def _finish(be, neuron: TransistorNeuron, load: NeuronLoad, v, current, step, pin, pins):
    """(the solution after Newton's last step ``step``, taken at ``current``: currents moved with
    it and the powers there (:func:`imaclab.solver.kernels.finish_loaded`), the largest |output
    current|, amperes); ``current`` may be updated in place."""
    if neuron._compiled:
        row, fx = pins
        out = [np.empty(v.shape[0]) for _ in range(5)]
        peak = kernels.finish_loaded(v, current, step, pin, row, fx, neuron.aux, neuron.c0, 1.0 / neuron.dc,
                                     neuron.n_c, load.diag, load.block_lo, load.block_hi, load.sigma, load.u, load.w,
                                     load.source_ohm, load.bias_row, load.bias_self_a, *out)
        return LoadedSolution(v, current, pin, *out), peak
    coupled = load.sigma * ((step * load.w) @ load.indicator)
    current = current - (load.diag * step + load.u * (coupled @ load.indicator.T))
    pin_power, supply_power = neuron.power(pin, pins, current)
    solution = LoadedSolution(v, current, pin, pin_power, supply_power, (v * current).sum(axis=1),
                              (current * current * load.source_ohm).sum(axis=1),
                              v @ load.bias_row + load.bias_self_a)
    return solution, be.abs_max(current)
