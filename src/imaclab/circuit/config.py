"""Circuit-level configuration: crossbar size, parasitics, amplifiers, loading."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from imaclab.config import ConfigModel
from imaclab.devices.inputs import InputConfig
from imaclab.devices.memristor import MAX_RESISTANCE_OHM, DeviceConfig
from imaclab.devices.neuron import NeuronConfig
from imaclab.devices.wires import WireConfig
from imaclab.errors import ConfigError

#: Differential-amplifier gains of IMAC-Sim's 400-120-84-10 example, one per layer.
DEFAULT_GAINS = (30.0, 30.0, 10.0)
#: IMAC-Sim ties the per-partition amplifier outputs with 1 mOhm resistors.
IMAC_SIM_TIE_OHM = 1e-3


class CrossbarConfig(ConfigModel):
    """Physical crossbar (tile) size: rows are input lines, columns are outputs (each a line pair)."""

    rows: int = Field(32, ge=1, description="input lines per crossbar (the bias row counts as one)")
    columns: int = Field(32, ge=1, description="outputs per crossbar (each a positive/negative line pair)")

    @classmethod
    def parse(cls, text: str) -> CrossbarConfig:
        """``'32x32'`` -> rows 32, columns 32."""
        try:
            r, c = (int(p) for p in text.lower().replace(" ", "").split("x"))
        except ValueError:
            raise ConfigError(f"cannot read crossbar size '{text}': use ROWSxCOLUMNS, e.g. 32x32") from None
        if r < 1 or c < 1:
            raise ConfigError(f"crossbar size '{text}' must be at least 1x1")
        return cls(rows=r, columns=c)


class AmplifierConfig(ConfigModel):
    """The differential transimpedance amplifier at the end of each output's line pair."""

    gains: list[float] = Field(list(DEFAULT_GAINS), min_length=1, description=(
        "voltage gain A per layer (transimpedance R_f = A / (rows * G_mid)); the last value repeats "
        "for deeper networks"))
    input_resistance_ohm: float = Field(0.0, ge=0, le=MAX_RESISTANCE_OHM,
                                        description="resistance of each amplifier input to "
                                                    "ground, ohms; 0 = ideal virtual ground")
    output_clamp_v: float | None = Field(None, gt=0, description="clip outputs to +-this, volts "
                                                                 "(None = unclamped ideal amplifier)")
    join: Literal["auto", "sum", "average"] = Field("auto", description=(
        "sum: the partial line currents of one output meet at one amplifier; average: one amplifier "
        "per horizontal partition, outputs averaged through tie resistors (IMAC-Sim); auto: the "
        "circuit convention's join, sum under imaclab, average under imacsim"))
    tie_resistance_ohm: float = Field(IMAC_SIM_TIE_OHM, gt=0, le=MAX_RESISTANCE_OHM,
                                      description="tie resistors of join=average, ohms")
    static_power_w: float = Field(0.0, ge=0, description="static power added per amplifier, watts "
                                                         "(the ideal amplifier itself draws none)")

    @field_validator("gains")
    @classmethod
    def _gains(cls, v: list[float]) -> list[float]:
        if any(g <= 0 for g in v):
            raise ValueError("amplifier gains must be > 0")
        return v

    def gain(self, layer: int) -> float:
        return self.gains[min(layer, len(self.gains) - 1)]


class LoadingConfig(ConfigModel):
    """How a hidden neuron's output drives the next layer's input lines."""

    mode: Literal["direct", "ideal_buffer", "buffer"] = Field("direct", description=(
        "direct: neuron output drives the lines (as IMAC-Sim); ideal_buffer: unity buffer of zero output "
        "resistance; buffer: unity buffer with buffer_output_resistance_ohm"))
    buffer_output_resistance_ohm: float = Field(1.0, ge=0, le=MAX_RESISTANCE_OHM,
                                                description="output resistance of the modelled "
                                                            "buffer, ohms")


#: Circuit conventions (docs/imac-circuit.md, "Two conventions"): signal polarity through
#: amplifiers and neurons, output-layer neurons and the decision rule.
CONVENTIONS = ("imaclab", "imacsim")


class CircuitConfig(ConfigModel):
    """Crossbar partitioning, interconnect parasitics and peripherals."""

    convention: Literal["auto", "imaclab", "imacsim"] = Field("auto", description=(
        "imaclab: inverting hidden amplifiers + neuron (f increasing in the column sum, neuron on "
        "+-VDD), no output neurons, class = largest amplifier output; imacsim: IMAC-Sim's circuit: "
        "non-inverting difference amplifiers, inverting neuron on 0..VDD after every layer (the output "
        "layer too), class = largest output-neuron voltage; auto: imacsim for a model read from an "
        "IMAC-Sim folder (W1.csv, B1.csv, ...), else imaclab"))
    crossbar: CrossbarConfig = Field(default_factory=CrossbarConfig, description="crossbar size")
    parasitics: WireConfig = Field(default_factory=WireConfig, description="wire geometry and R/C switches")
    amplifier: AmplifierConfig = Field(default_factory=AmplifierConfig, description="column amplifiers")
    loading: LoadingConfig = Field(default_factory=LoadingConfig, description="neuron-to-next-layer drive")


class NetworkConfig(ConfigModel):
    """Everything :func:`~imaclab.circuit.build_circuit` reads: devices, circuit, neuron, inputs.

    ``imaclab.imac.ImacConfig`` extends it with ``simulation``; rooms that may not import
    ``imac`` (the solver) build circuits from this class directly.
    """

    devices: DeviceConfig = Field(default_factory=DeviceConfig, description="memristor levels, mapping, "
                                                                            "variation, faults")
    circuit: CircuitConfig = Field(default_factory=CircuitConfig, description="crossbars, parasitics, "
                                                                              "amplifiers, loading")
    neuron: NeuronConfig = Field(default_factory=NeuronConfig, description="hidden-layer neuron; its vdd_v "
                                                                           "is the supply of the whole circuit")
    inputs: InputConfig = Field(default_factory=InputConfig, description="input drivers and sampling")
