"""``HeteroConfig``: every parameter of the TPU-only vs TPU-IMAC comparison, with its source.

The tree (all SI units; energies in joules, times in seconds):

* ``tpu`` / ``tpu_overrides`` -- the systolic array (:class:`imaclab.systolic.SystolicConfig`
  preset, SCALE-Sim ``.cfg`` or YAML, plus dotted overrides).  The default adds a DRAM
  interface of :data:`DEFAULT_DRAM_WORDS_PER_CYCLE` words/cycle per operand so that DRAM
  stalls are modelled (the ``edge-32x32`` preset alone is SCALE-Sim's stall-free CALC mode).
* ``energy`` -- per-operation energies of the digital part (:class:`EnergyTable`, Horowitz
  ISSCC 2014, 45 nm).
* ``handoff`` -- the TPU -> IMAC -> digital boundary (:class:`HandoffConfig`): buffer read,
  input DAC or binarization, output ADC or comparator (:class:`ConverterConfig`, scaled from
  Kull et al. ISSCC 2013).
* ``imac`` -- the IMAC circuit (:class:`imaclab.imac.ImacConfig`: crossbar size, parasitics,
  devices with variation, neuron).  The trained model's own device resistances, supply,
  neuron and input mode replace the corresponding fields (:func:`imac_config_for_model`; a model
  exported with its whole circuit, ``network_config``, brings every circuit field the user's
  ``imac.*`` settings leave at their defaults).
* ``imac_costs`` / ``imac_tile`` -- where the IMAC layers' latency and energy come from: the
  trained network's own circuit measurement (``measured``, the default) or the circuit room's
  characterized crossbar tile (``tiles``, :func:`imaclab.hetero.costs.tile_measurements`).
* ``accuracy`` -- how many test samples both designs are scored on, and the solver backend.
* ``pipeline`` -- whether the TPU part and the IMAC part overlap across images.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.imac.config import ImacConfig, SimulationConfig
from imaclab.imac.tiles import TileSpec

# ---------------------------------------------------------------------------------------- sources
# The digital energies (Horowitz ISSCC 2014, Han et al. ISCA 2016) live in the systolic room,
# imaclab.systolic.energy; the hetero room reuses them (EnergyTable is its SystolicEnergy).
from imaclab.systolic.energy import (HAN_DRAM_32BIT_PJ, HOROWITZ_INT8_ADD_PJ,  # noqa: E402,F401
                                     HOROWITZ_INT8_MULT_PJ, HOROWITZ_INT32_ADD_PJ, HOROWITZ_SRAM_64BIT_PJ,
                                     SystolicEnergy, horowitz_sram_pj_per_byte)

#: Kull et al., "A 3.1 mW 8b 1.2 GS/s single-channel asynchronous SAR ADC with alternate
#: comparators for enhanced speed in 32 nm digital SOI CMOS", ISSCC 2013 (the ADC ISAAC,
#: Shafiee et al. ISCA 2016, scales for its crossbars): 3.1 mW at 1.2 GS/s, 8 bits.
KULL_ADC_POWER_W = 3.1e-3
KULL_ADC_RATE_HZ = 1.2e9
KULL_ADC_BITS = 8
#: SCALE-Sim v2's example configuration (configs/scale.cfg) sets ``Bandwidth : 10`` words/cycle.
DEFAULT_DRAM_WORDS_PER_CYCLE = 10
#: TPU presets by short name (the llm room's ``--hardware edge|cloud`` uses the same mapping).
TPU_ALIASES = {"edge": "edge-32x32", "cloud": "cloud-128x128"}


class EnergyTable(SystolicEnergy):
    """Per-operation energies of the digital (systolic) part, joules: the systolic room's
    :class:`~imaclab.systolic.energy.SystolicEnergy` with a fixed int8 MAC energy.  Defaults:
    Horowitz 2014, 45 nm."""

    mac_j: float = Field((HOROWITZ_INT8_MULT_PJ + HOROWITZ_INT32_ADD_PJ) * 1e-12, gt=0, description=(
        "energy of one int8 multiply-accumulate, J (Horowitz 2014: 8-bit mult 0.2 pJ + 32-bit add 0.1 pJ)"))


class ConverterConfig(ConfigModel):
    """A data converter (DAC, ADC or comparator) scaled from a SAR ADC reference design.

    Energy per conversion ``E = E_ref * 2^(bits - ref_bits)`` (a constant Walden figure of
    merit, ``P / (2^bits * f_s)``); conversion time ``t = (bits / ref_bits) / f_ref`` (a SAR
    converter resolves one bit per comparator decision).  A comparator is the 1-bit case.
    """

    bits: int = Field(KULL_ADC_BITS, ge=1, le=16, description="resolution, bits (1 = comparator)")
    reference_bits: int = Field(KULL_ADC_BITS, ge=1, le=16, description="resolution of the reference design")
    reference_energy_j: float = Field(KULL_ADC_POWER_W / KULL_ADC_RATE_HZ, gt=0, description=(
        "energy per conversion of the reference design, J (Kull et al. ISSCC 2013: 3.1 mW / 1.2 GS/s "
        "= 2.58 pJ at 8 bits)"))
    reference_rate_hz: float = Field(KULL_ADC_RATE_HZ, gt=0, description=(
        "conversion rate of the reference design, conversions/s (Kull et al. 2013: 1.2 GS/s)"))
    energy_per_conversion_j: float | None = Field(None, gt=0, description=(
        "override: energy per conversion, J (None = scaled from the reference)"))
    conversion_time_s: float | None = Field(None, gt=0, description=(
        "override: time per conversion, s (None = scaled from the reference)"))
    count: int | None = Field(None, ge=1, description=(
        "converters working in parallel; None = one per line (every row / output converts at once)"))

    @property
    def energy_j(self) -> float:
        """Energy of one conversion, J."""
        if self.energy_per_conversion_j is not None:
            return self.energy_per_conversion_j
        return self.reference_energy_j * 2.0 ** (self.bits - self.reference_bits)

    @property
    def time_s(self) -> float:
        """Time of one conversion, s."""
        if self.conversion_time_s is not None:
            return self.conversion_time_s
        return (self.bits / self.reference_bits) / self.reference_rate_hz

    def batch(self, lines: int) -> tuple[float, float]:
        """``(energy J, latency s)`` of converting ``lines`` values with ``count`` converters."""
        if lines <= 0:
            return 0.0, 0.0
        parallel = lines if self.count is None else min(self.count, lines)
        return lines * self.energy_j, math.ceil(lines / parallel) * self.time_s


def _comparator() -> ConverterConfig:
    return ConverterConfig(bits=1)


class HandoffConfig(ConfigModel):
    """The boundary between the digital TPU part and the analog IMAC part."""

    input_conversion: Literal["auto", "dac", "binarize"] = Field("auto", description=(
        "activations -> crossbar input voltages: dac (analog drive at dac.bits), binarize (a comparator "
        "per input, +-VDD drive), auto = as the trained model's IMAC input mode (analog -> dac, binary -> "
        "binarize)"))
    dac: ConverterConfig = Field(default_factory=ConverterConfig, description=(
        "input DAC (default 8 bits: the 8-bit grid imaclab.nn hands to the IMAC drivers); energy scaled "
        "from Kull 2013 on the assumption that an N-bit DAC conversion costs no more than an N-bit SAR "
        "conversion, whose capacitive DAC it contains"))
    binarizer: ConverterConfig = Field(default_factory=_comparator, description=(
        "comparator per input used by input_conversion=binarize (1-bit case of the converter model)"))
    output_conversion: Literal["adc", "comparator", "none"] = Field("adc", description=(
        "IMAC outputs -> digital when the next consumer is digital: adc (adc.bits), comparator (1 bit per "
        "output, enough for a sign / threshold), none (outputs stay analog)"))
    adc: ConverterConfig = Field(default_factory=ConverterConfig, description="output ADC (Kull 2013, 8 bits)")
    comparator: ConverterConfig = Field(default_factory=_comparator, description="output comparator (1 bit)")
    buffer_read_bytes_per_cycle: int | None = Field(None, ge=1, description=(
        "bytes per TPU cycle read from the output SRAM when the activations move to IMAC; None = one "
        "array row (array_cols words), the rate at which the array writes the OFMAP in SCALE-Sim"))


class AccuracyConfig(ConfigModel):
    """How the two designs are scored on the same test images."""

    test_samples: int | None = Field(1000, ge=1, description=(
        "score both designs on the first N test images (None = the whole test split)"))
    backend: Literal["fast", "spice"] = Field("fast", description=(
        "IMAC layers evaluated by the fast circuit solver or by ngspice"))
    latency_backend: Literal["solver", "spice", "none"] = Field("solver", description=(
        "where IMAC settling time comes from: the solver's measured settling time, an ngspice transient "
        "run on latency_samples images, or none (IMAC latency = 0, a lower bound)"))
    latency_samples: int = Field(4, ge=1, description="images simulated for the IMAC settling time")
    enabled: bool = Field(True, description="score accuracy (False: costs only)")


class HeteroConfig(ConfigModel):
    """Everything one TPU-only vs TPU-IMAC comparison uses."""

    tpu: str = Field("edge", description=(
        "systolic array: edge (edge-32x32), cloud (cloud-128x128), a systolic preset name, a SCALE-Sim .cfg "
        "or an imaclab YAML/JSON file"))
    tpu_overrides: dict[str, Any] = Field(
        default_factory=lambda: {"dram_bandwidth_words_per_cycle": DEFAULT_DRAM_WORDS_PER_CYCLE},
        description=("dotted overrides of the SystolicConfig, e.g. {array_rows: 64, dataflow: ws}; the default "
                     "sets a DRAM interface of 10 words/cycle per operand (SCALE-Sim's example Bandwidth) so "
                     "DRAM stalls are counted; set it to null for SCALE-Sim's stall-free CALC mode"))
    energy: EnergyTable = Field(default_factory=EnergyTable, description="digital per-operation energies")
    handoff: HandoffConfig = Field(default_factory=HandoffConfig, description="TPU <-> IMAC boundary")
    imac: ImacConfig = Field(default_factory=lambda: ImacConfig(simulation=SimulationConfig(backend="fast")),
                             description=("IMAC circuit settings: crossbar size, parasitics, device variation "
                                          "and faults, amplifiers; the trained model's resistances, supply, "
                                          "neuron and input mode replace those fields"))
    imac_layers: Literal["auto", "all-fc", "none"] | list[str] = Field("auto", description=(
        "which layers TPU-IMAC runs on crossbars: auto = the model's IMAC layers (or, for a model without "
        "IMAC layers, every linear layer after the last convolution), all-fc = every linear layer, none, "
        "or a list of layer names"))
    imac_costs: Literal["measured", "tiles"] = Field("measured", description=(
        "IMAC layer latency and energy: measured = the trained network's own circuit run (its weights, layer "
        "sizes, partitions, device variation and neuron; the more exact, the default); tiles = the circuit "
        "room's characterized crossbar tile imac_tile (ceil((fan_in+1)/size) x ceil(fan_out/size) tiles per "
        "layer x the tile's settling time and analog energy per product; no per-model circuit run needed for "
        "the costs)"))
    imac_tile: TileSpec = Field(default_factory=lambda: TileSpec(size=32), description=(
        "the crossbar tile for imac_costs=tiles (imaclab.imac.tiles; characterized once and cached): default "
        "32x32 (the IMAC room's crossbar size), ternary devices, 8-bit DAC drivers; set device to the "
        "model's weight kind and input_driver=binary for a binary-input model"))
    pipeline: bool = Field(True, description=(
        "TPU-IMAC: the TPU part of image i+1 overlaps the IMAC part of image i (throughput = 1 / slowest "
        "stage); the TPU-only design has one stage"))
    accuracy: AccuracyConfig = Field(default_factory=AccuracyConfig, description="accuracy scoring")

    def systolic(self):
        """The resolved :class:`imaclab.systolic.SystolicConfig` with ``tpu_overrides`` applied."""
        from imaclab.systolic import SystolicConfig

        name = TPU_ALIASES.get(self.tpu.strip().lower(), self.tpu)
        base = SystolicConfig.resolve(name)
        return base.with_overrides(self.tpu_overrides) if self.tpu_overrides else base

    def with_overrides(self, overrides: dict[str, Any]) -> HeteroConfig:
        """Dotted overrides as :meth:`ConfigModel.with_overrides`, plus new keys of ``tpu_overrides``.

        ``tpu_overrides`` is an open mapping of SystolicConfig overrides: ``tpu_overrides.dataflow``
        adds (or replaces) that key instead of being refused as an unknown field; the systolic room
        validates it when the array is resolved (:meth:`systolic`).
        """
        plain: dict[str, Any] = {}
        systolic: dict[str, Any] = {}
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            if head == "tpu_overrides" and rest:
                systolic[rest] = value
            else:
                plain[key] = value
        config = super().with_overrides(plain) if plain else self
        if systolic:
            data = config.to_dict()
            data["tpu_overrides"] = {**(data.get("tpu_overrides") or {}), **systolic}
            config = type(self).from_dict(data, source=f"{type(self).__name__} overrides")
        return config

    @property
    def tpu_label(self) -> str:
        name = self.tpu.strip()
        return TPU_ALIASES.get(name.lower(), Path(name).stem if ("/" in name or "." in name) else name)


def imac_config_for_model(base: ImacConfig, mlp) -> tuple[ImacConfig, list[str]]:
    """``base`` evaluating the trained model ``mlp`` with the circuit it was trained for.

    A model that carries its circuit (``imac.npz``'s ``network_config``, written by ``imaclab
    train``): every circuit field comes from it except those ``base`` sets away from their
    defaults (the user's ``imac.*`` settings), :func:`imaclab.imac.api.trained_config`; the IMAC
    evaluation names those in one notice line, so no notes here.  An older export: the trained
    model's device resistances, supply, neuron and input mode replace ``base``'s, one note per
    field that was replaced (so a user who set e.g. ``imac.devices.r_low_ohm`` sees that the
    trained weights fixed it).
    """
    from imaclab.imac.api import trained_config
    from imaclab.imac.model_io import trained_settings

    if trained_settings(mlp) is not None:
        return trained_config(base, mlp), []
    meta = getattr(mlp, "meta", None) or {}
    updates: dict[str, Any] = {}
    notes = []
    for key, path in (("r_low_ohm", "devices.r_low_ohm"), ("r_high_ohm", "devices.r_high_ohm"),
                      ("vdd_v", "neuron.vdd_v"), ("input_mode", "inputs.mode"),
                      ("input_threshold", "inputs.threshold")):
        if key in meta:
            updates[path] = meta[key]
    cfg = base
    neuron = meta.get("neuron_config")
    if isinstance(neuron, dict):
        data = cfg.to_dict()
        if data["neuron"] != neuron:
            notes.append("neuron: taken from the trained model")
        data["neuron"] = neuron
        cfg = ImacConfig.from_dict(data, source="trained model neuron_config")
    current = cfg.to_dict()
    for path, value in updates.items():
        node = current
        for key in path.split(".")[:-1]:
            node = node[key]
        old = node[path.split(".")[-1]]
        if old != value:
            notes.append(f"{path}: {old} -> {value} (trained model)")
    return (cfg.with_overrides(updates) if updates else cfg), notes
