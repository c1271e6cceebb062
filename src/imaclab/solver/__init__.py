"""imaclab.solver: the exact steady state of an IMAC circuit description, batched over samples.

    from imaclab.solver import simulate, prepare, SolverOptions
    result = simulate(circuit, input_volts)          # outputs, power_w, latency_s (SpiceResult fields)

The crossbars, wires and amplifiers are reduced exactly (sparse LU, once per layer) to an
affine map per layer (:mod:`~imaclab.solver.reduction`); the neurons are the only
nonlinearity (:mod:`~imaclab.solver.neurons`); latency comes from a reduced-order transient
(:mod:`~imaclab.solver.latency`).  See docs/solver.md.
"""

from imaclab.solver.forward import POWER_COMPONENTS, SolverOptions, SolverPlan, SolverResult, prepare, simulate
from imaclab.solver.reduction import LayerMap, reduce_layer, reduce_network, reduce_tile

__all__ = ["LayerMap", "POWER_COMPONENTS", "SolverOptions", "SolverPlan", "SolverResult", "prepare", "reduce_layer",
           "reduce_network", "reduce_tile", "simulate"]
