"""Crossbar tiles characterized by the circuit room: latency, energy per matrix-vector product, area.

A *tile* is one ``size x size`` crossbar (``size - 1`` input rows plus the bias row, ``size``
outputs, each a positive/negative line pair, as :mod:`imaclab.circuit` maps a signed weight) with
its peripherals: a driver per input row (a binary +-VDD driver, or a DAC of ``dac_bits``) and a
converter per output column (a comparator, or an ADC of ``adc_bits``).
:func:`characterize_tile` measures one; :func:`tile_table` a list of them.  Numbers are cached
(:func:`imaclab.cache.cached`, under ``$XDG_CACHE_HOME/imaclab/tiles``): a tile is solved once.

How a tile's numbers come about (docs/tpu-imac.md, "Crossbar tiles"):

1. A one-layer network with random weights of the device kind (binary +-1, ternary -1/0/+1, or
   multi-level with ``levels`` conductance levels; seed ``seed``) is mapped onto one crossbar by
   :func:`imaclab.circuit.build_circuit` with the configured wire parasitics (R and C of every
   segment, :class:`imaclab.devices.WireConfig` defaults) and devices (R_low 5 kOhm, R_high 15 kOhm).
2. ``samples`` random input vectors (uniform in [0, 1]; binary drivers threshold them at 0.5 to
   +-VDD, DACs drive them as analog levels) are solved by the fast solver (:mod:`imaclab.solver`,
   or ngspice with ``backend='spice'``, the spot-check path): per sample the power of crossbars,
   amplifiers and neurons and the settling time (to the solver's settling band).
3. Settling latency = the mean settling time over the input transitions (samples 1..n-1; sample 0
   starts at its own operating point).  Circuit energy per product = mean power x settling latency
   (the drivers hold the inputs until the outputs settle), per component.
4. Peripherals from the converter model of :class:`imaclab.hetero.ConverterConfig` (Kull et al.
   ISSCC 2013 SAR ADC: 2.58 pJ per 8-bit conversion, 1.2 GS/s; energy x 2^(bits-8), time x bits/8):
   ``size`` output conversions and ``size - 1`` input conversions (a comparator / binary driver is
   the 1-bit case) per product.  Tile latency = DAC time + settling + ADC time (converters of one
   kind work in parallel).
5. Area: the circuit room's area model (:func:`imaclab.imac.area.circuit_area`: cells and line
   switches) plus converters scaled from ISAAC (Shafiee et al. ISCA 2016, Table 2): an 8-bit
   1.2 GS/s ADC 0.0012 mm^2 (x 2^(bits-8)); a 1-bit DAC 0.00017 mm^2 / 1024 = 0.166 um^2 (x 2^(bits-1)).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import InputError

#: Device kinds a tile can hold.
DEVICE_KINDS = ("binary", "ternary", "multilevel")
#: ISAAC Table 2 (Shafiee et al. ISCA 2016): 8 ADCs (8 bits, 1.2 GS/s) 0.0096 mm^2; 8x128 1-bit DACs 0.00017 mm^2.
ISAAC_ADC_8BIT_AREA_UM2 = 0.0096e6 / 8
ISAAC_DAC_1BIT_AREA_UM2 = 0.00017e6 / (8 * 128)
#: Energy components of a tile's matrix-vector product, in report order.
TILE_ENERGY_PARTS = ("crossbar", "amplifiers", "neurons", "adc", "dac")
_VERSION = 1


class TileSpec(ConfigModel):
    """One crossbar tile: size, device kind and peripherals."""

    size: int = Field(128, ge=2, le=512, description="crossbar rows = columns (32 to 256 in the shipped table)")
    device: Literal["binary", "ternary", "multilevel"] = Field("ternary", description=(
        "weights held by the devices: binary (+-1), ternary (-1/0/+1), multilevel (levels per device)"))
    levels: int = Field(4, ge=2, le=64, description="conductance levels per device for device=multilevel")
    input_driver: Literal["binary", "dac"] = Field("dac", description=(
        "per input row: binary (+-VDD driver, a comparator decides the level) or dac (dac_bits analog levels)"))
    dac_bits: int = Field(8, ge=1, le=16, description="DAC resolution for input_driver=dac")
    output: Literal["adc", "comparator"] = Field("adc", description="per output column: adc (adc_bits) or comparator")
    adc_bits: int = Field(8, ge=1, le=16, description="ADC resolution for output=adc")
    parasitics: bool = Field(True, description="wire resistance and capacitance on (the default wire geometry)")
    samples: int = Field(5, ge=2, le=1000, description="random input vectors solved (latency: transitions 1..n-1)")
    seed: int = Field(0, description="seed of the random weights and inputs")
    backend: Literal["fast", "spice"] = Field("fast", description="fast solver, or ngspice (the spot check)")

    @property
    def input_bits(self) -> int:
        """Activation bits one product takes in per row."""
        return self.dac_bits if self.input_driver == "dac" else 1

    @property
    def output_bits(self) -> int:
        return self.adc_bits if self.output == "adc" else 1

    @property
    def label(self) -> str:
        drv = f"dac{self.dac_bits}" if self.input_driver == "dac" else "bin"
        out = f"adc{self.adc_bits}" if self.output == "adc" else "cmp"
        dev = f"ml{self.levels}" if self.device == "multilevel" else self.device
        return f"{self.size}x{self.size}-{dev}-{drv}-{out}{'' if self.parasitics else '-ideal'}"

    def key(self) -> str:
        text = json.dumps({**self.to_dict(), "version": _VERSION}, sort_keys=True)
        return f"tile-{self.label}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class TileCosts:
    """What one tile costs per matrix-vector product (SI units)."""

    label: str
    size: int
    inputs: int                 # weight rows (size - 1: the bias row takes one)
    outputs: int                # signed outputs (each a line pair)
    input_bits: int
    output_bits: int
    settling_s: float
    dac_s: float
    adc_s: float
    crossbar_j: float
    amplifiers_j: float
    neurons_j: float
    adc_j: float
    dac_j: float
    power_w: float              # circuit power (crossbar + amplifiers + neurons) while settling
    array_area_um2: float       # cells and line switches
    adc_area_um2: float
    dac_area_um2: float
    backend: str

    @property
    def latency_s(self) -> float:
        """One product: DAC, settling, ADC."""
        return self.dac_s + self.settling_s + self.adc_s

    @property
    def analog_j(self) -> float:
        """Energy of one product in the analog parts (crossbar, amplifiers, neurons): the product without its
        converters, for a design that counts the conversions where data cross into or out of the crossbars."""
        return self.crossbar_j + self.amplifiers_j + self.neurons_j

    @property
    def energy_j(self) -> float:
        """Energy of one product, all parts."""
        return sum(getattr(self, f"{p}_j") for p in TILE_ENERGY_PARTS)

    @property
    def area_um2(self) -> float:
        return self.array_area_um2 + self.adc_area_um2 + self.dac_area_um2

    @property
    def energy_per_mac_j(self) -> float:
        return self.energy_j / (self.inputs * self.outputs)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "latency_s": self.latency_s, "energy_j": self.energy_j, "analog_j": self.analog_j,
                "area_um2": self.area_um2,
                "energy_per_mac_j": self.energy_per_mac_j}


def tile_network(spec: TileSpec):
    """The one-layer network and inputs a tile is measured on: ``(mlp, x01, labels, ImacConfig)``."""
    from imaclab.circuit.mlp import MLPModel
    from imaclab.imac.config import ImacConfig, SimulationConfig

    rng = np.random.default_rng(spec.seed)
    n_in, n_out = spec.size - 1, spec.size
    if spec.device == "binary":
        draw = lambda shape: rng.choice([-1.0, 1.0], size=shape)  # noqa: E731
    elif spec.device == "ternary":
        draw = lambda shape: rng.choice([-1.0, 0.0, 1.0], size=shape)  # noqa: E731
    else:
        grid = np.linspace(-1.0, 1.0, 2 * spec.levels - 1)
        draw = lambda shape: rng.choice(grid, size=shape)  # noqa: E731
    mlp = MLPModel(weights=(draw((n_in, n_out)),), biases=(draw(n_out),), weight_kind=spec.device,
                   levels=spec.levels if spec.device == "multilevel" else None, source=f"tile {spec.label}")
    x01 = rng.random((spec.samples, n_in))
    overrides: dict[str, Any] = {
        "circuit.crossbar.rows": spec.size, "circuit.crossbar.columns": spec.size,
        "devices.weight_kind": spec.device, "devices.levels": spec.levels,
        "inputs.mode": "binary" if spec.input_driver == "binary" else "analog",
        "circuit.parasitics.resistance": spec.parasitics, "circuit.parasitics.capacitance": spec.parasitics,
        "simulation.samples": spec.samples, "simulation.first_sample": 0}
    if spec.backend == "spice":
        overrides["simulation.spice.analysis"] = "tran"
    config = ImacConfig(simulation=SimulationConfig(backend=spec.backend)).with_overrides(overrides)
    return mlp, x01, np.zeros(spec.samples, dtype=np.int64), config


def _converter(bits: int):
    from imaclab.hetero.config import ConverterConfig

    return ConverterConfig(bits=bits)


def measure_tile(spec: TileSpec) -> TileCosts:
    """Solve the tile's circuit (no cache): see the module docstring for each step."""
    from imaclab.hetero.imac_part import settling_mean
    from imaclab.imac.evaluate import evaluate

    mlp, x01, labels, config = tile_network(spec)
    result = evaluate(config=config, model=mlp, dataset=(x01, labels), progress=False)
    ok = np.asarray(result.ok, dtype=bool)
    settling = settling_mean(result.latency_s, ok)
    if not np.isfinite(settling):
        raise InputError(f"tile {spec.label}: the {spec.backend} backend gave no settling time")
    power = {k: float(np.mean(np.asarray(v, dtype=np.float64)[ok])) for k, v in result.power_w.items()}
    n_in, n_out = spec.size - 1, spec.size
    dac, adc = _converter(spec.input_bits), _converter(spec.output_bits)
    area = result.area
    return TileCosts(
        label=spec.label, size=spec.size, inputs=n_in, outputs=n_out, input_bits=spec.input_bits,
        output_bits=spec.output_bits, settling_s=settling, dac_s=dac.time_s, adc_s=adc.time_s,
        crossbar_j=power.get("crossbars", 0.0) * settling, amplifiers_j=power.get("amplifiers", 0.0) * settling,
        neurons_j=(power.get("neurons", 0.0) + power.get("buffers", 0.0)) * settling,
        adc_j=n_out * adc.energy_j, dac_j=n_in * dac.energy_j,
        power_w=power.get("crossbars", 0.0) + power.get("amplifiers", 0.0) + power.get("neurons", 0.0)
        + power.get("buffers", 0.0),
        array_area_um2=area.total_um2, adc_area_um2=n_out * ISAAC_ADC_8BIT_AREA_UM2 * 2.0 ** (spec.output_bits - 8),
        dac_area_um2=n_in * ISAAC_DAC_1BIT_AREA_UM2 * 2.0 ** (spec.input_bits - 1), backend=spec.backend)


def default_tile_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imaclab/tiles`` (``~/.cache/imaclab/tiles``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imaclab" / "tiles"


def _save(costs: TileCosts, path: Path) -> None:
    from imaclab.files import write_npz

    write_npz(path, costs=np.array(json.dumps(asdict(costs))))


def _load(path: Path) -> TileCosts:
    try:
        with np.load(path, allow_pickle=False) as data:
            values = json.loads(str(data["costs"]))
        costs = TileCosts(**values)
    except Exception as err:  # damaged file: characterized again
        raise InputError(f"{path}: not a tile cache file ({err})") from None
    if not all(math.isfinite(v) for v in asdict(costs).values() if isinstance(v, float)):
        raise InputError(f"{path}: non-finite tile costs")
    return costs


def characterize_tile(spec: TileSpec | None = None, *, cache_dir: str | Path | None = None,
                      use_cache: bool = True, **fields: Any) -> TileCosts:
    """Latency, energy per matrix-vector product and area of one tile, cached.

    ``characterize_tile(TileSpec(size=64, device="binary"))`` or ``characterize_tile(size=64)``.
    """
    from imaclab.cache import cached

    spec = (spec or TileSpec()).with_overrides(fields) if fields else (spec or TileSpec())
    if not use_cache:
        return measure_tile(spec)
    folder = Path(cache_dir) if cache_dir is not None else default_tile_cache_dir()
    return cached(f"crossbar tile {spec.label}", spec.key(), lambda _work: measure_tile(spec), _load, _save,
                  cache_dir=folder)


def tile_table(sizes=(32, 64, 128, 256), devices=DEVICE_KINDS, *, base: TileSpec | None = None,
               cache_dir: str | Path | None = None) -> list[TileCosts]:
    """One :class:`TileCosts` per size x device kind (peripherals as ``base``), each cached."""
    base = base or TileSpec()
    return [characterize_tile(base.with_overrides({"size": s, "device": d}), cache_dir=cache_dir)
            for s in sizes for d in devices]
