"""``ImacConfig``: the typed tree of one IMAC evaluation (round-trips to YAML/JSON).

``.devices`` memristors, mapping, variation, faults; ``.circuit`` crossbar, parasitics,
amplifiers, loading; ``.neuron`` the hidden-layer neuron (its ``vdd_v`` is the supply);
``.inputs`` input drivers and sampling; ``.simulation`` backend, samples, workers, SPICE
options; ``.area`` peripheral area assumptions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from imaclab.circuit.config import NetworkConfig
from imaclab.config import ConfigModel
from imaclab.spice.runner import SpiceOptions

#: Line-switch area per crossbar line, um^2 (IMAC-Sim's area model, testIMAC.py).
IMAC_SIM_SWITCH_AREA_UM2 = 0.56
#: Layout area of a transistor as a multiple of its gate area W x L (contacts, diffusion,
#: spacing); a common rule of thumb for analog blocks, stated as an assumption in docs.
TRANSISTOR_LAYOUT_FACTOR = 4.0


class AreaConfig(ConfigModel):
    """Peripheral-area assumptions (crossbar area comes from the cell geometry)."""

    switch_area_um2: float = Field(IMAC_SIM_SWITCH_AREA_UM2, ge=0, description="area per crossbar line "
                                                                                "switch, um^2")
    amplifier_area_um2: float = Field(0.0, ge=0, description="area per column amplifier, um^2 (0 = not counted)")
    transistor_layout_factor: float = Field(TRANSISTOR_LAYOUT_FACTOR, gt=0, description="neuron transistor "
                                                                                       "area / gate area")
    neuron_resistor_area_um2: float = Field(0.0, ge=0, description="area of the neuron's two resistors, um^2")


class SimulationConfig(ConfigModel):
    """Which backend evaluates the circuit and on how many samples."""

    backend: Literal["spice", "fast"] = Field("spice", description="spice: ngspice; fast: the sparse nodal "
                                                                   "solver (imaclab.solver)")
    samples: int = Field(200, ge=1, description="test samples to evaluate (the first N of the split)")
    first_sample: int = Field(0, ge=0, description="index of the first test sample")
    spice: SpiceOptions = Field(default_factory=SpiceOptions, description="ngspice options")
    neuron_cache_dir: str | None = Field(None, description="where characterized neuron curves are cached "
                                                           "(None = ~/.cache/imaclab/neuron)")


class ImacConfig(NetworkConfig):
    """One IMAC evaluation: the circuit (devices, circuit, neuron, inputs) plus simulation and area."""

    simulation: SimulationConfig = Field(default_factory=SimulationConfig, description="backend and samples")
    area: AreaConfig = Field(default_factory=AreaConfig, description="peripheral area assumptions")
