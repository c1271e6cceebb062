"""Area of an IMAC circuit (formula and assumptions: docs/imac-circuit.md).

    crossbars  = n_crossbars * rows * columns * cell_length * cell_width
    switches   = n_crossbars * (rows + columns) * switch_area          (IMAC-Sim's model)
    neurons    = n_neurons * layout_factor * L * (W_n * m_n + W_p * m_p) + resistors
    amplifiers = n_amplifiers * amplifier_area

A tile occupies a whole crossbar even when a partition leaves rows or columns unused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from imaclab.circuit.description import NetworkCircuit
from imaclab.imac.config import AreaConfig

_UM2_PER_M2 = 1e12


@dataclass(frozen=True)
class AreaReport:
    crossbars_um2: float
    switches_um2: float
    neurons_um2: float
    amplifiers_um2: float

    @property
    def total_um2(self) -> float:
        return self.crossbars_um2 + self.switches_um2 + self.neurons_um2 + self.amplifiers_um2

    def to_dict(self) -> dict:
        return {**asdict(self), "total_um2": self.total_um2}


def circuit_area(circuit: NetworkCircuit, config: AreaConfig) -> AreaReport:
    n_xbar = sum(circuit.crossbars_per_layer)
    rows, cols = circuit.crossbar_rows, circuit.crossbar_columns
    xbar = n_xbar * rows * cols * circuit.cell_area_m2 * _UM2_PER_M2
    switches = n_xbar * (rows + cols) * config.switch_area_um2
    neu = circuit.neuron
    n_neurons = sum(len(lay.neurons) for lay in circuit.layers)
    gate_m2 = neu.length_m * (neu.nmos_width_m * neu.nmos_fingers + neu.pmos_width_m * neu.pmos_fingers)
    neurons = n_neurons * (config.transistor_layout_factor * gate_m2 * _UM2_PER_M2 + config.neuron_resistor_area_um2)
    n_amps = sum(len(lay.amplifiers) for lay in circuit.layers)
    return AreaReport(crossbars_um2=xbar, switches_um2=switches, neurons_um2=neurons,
                      amplifiers_um2=n_amps * config.amplifier_area_um2)
