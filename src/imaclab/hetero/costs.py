"""The cost model: pure functions from a placed layer to a :class:`LayerCost`, and design totals.

Every cost is a :class:`LayerCost`; costs add with ``+`` field by field, so a design's total is
``sum(layer_costs, LayerCost.zero())`` and every total equals the sum of its parts.

Systolic layers (conv, depthwise, pointwise, linear-as-GEMM) -- :func:`tpu_layer_cost`
    cycles, stalls and SRAM/DRAM word counts from :func:`imaclab.systolic.simulate_layer`
    (SCALE-Sim v2.0.2, DRAM stalls at the configured bandwidth); latency = cycles / clock;
    energy = MACs * E_mac + sum over operands (SRAM accesses * bytes * E_sram(operand SRAM size))
    + DRAM bytes * E_dram + P_static * latency.
Vector unit (pooling, residual adds) -- :func:`vector_layer_cost`
    ``ops`` = output elements * window (pooling) or elements (add), processed ``array_cols`` per
    cycle (the vector unit is as wide as the array's output row, as in TPU v1, Jouppi et al. 2017);
    energy = ops * E_vector + SRAM bytes read and written * E_sram; no DRAM traffic (activations
    stay in the on-chip buffers).
IMAC layers -- :func:`imac_layer_cost`
    latency = the layer's measured settling time; energy = measured power * latency; weights
    held in the crossbars as device levels (``imac_weight_bits``), none in the digital memory.
    The measurement is the trained network's own circuit run (``imac_costs: measured``) or, with
    ``imac_costs: tiles``, the circuit room's characterized tile (:func:`tile_measurements`):
    ``ceil((fan_in + 1) / size) * ceil(fan_out / size)`` tiles per layer, each input row one
    product of the tile's settling time (the tiles work in parallel) and analog energy.
Hand-offs -- :func:`handoff_cost`
    to IMAC: the activations are read from the output SRAM (``values`` bytes at
    ``buffer_read_bytes_per_cycle``), then converted by the input DACs or comparators; to
    digital: the outputs are converted by ADCs or comparators and written to the SRAM.

Pipelining: every cost belongs to a ``stage`` (``tpu`` or ``imac``).  Single-image latency
is the sum of all latencies; with pipelining the steady-state throughput is one image per
``max(stage latency)``, without it one per single-image latency.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from imaclab.errors import ConfigError
from imaclab.hetero.config import EnergyTable, HandoffConfig
from imaclab.hetero.layers import BIAS_BITS
from imaclab.hetero.mapping import Handoff, MappedLayer, systolic_layer

BITS_PER_BYTE = 8
DEVICES_PER_WEIGHT = 2
"""Each crossbar weight is a differential pair of devices (G+ on the positive, G- on the negative line),
as imaclab.circuit maps it."""

_TEXT_FIELDS = ("name", "kind", "unit", "stage")


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer (or a sum of layers) for one image.

    Cycles are of the TPU clock; ``latency_s`` is what the layer adds to the single-image
    latency.  Bytes are per image.  ``weight_bytes`` is what the digital memory stores
    (weights and int32 biases of TPU layers); ``imac_weight_bits`` / ``imac_devices`` /
    ``imac_crossbars`` what the crossbars hold.
    """

    name: str
    kind: str
    unit: str                         # tpu | vector | imac | handoff | total
    stage: str                        # tpu | imac | mixed (sum over stages)
    macs: int = 0
    tpu_cycles: float = 0.0           # cycles the TPU (array, vector unit or buffer port) is busy
    stall_cycles: float = 0.0         # of which DRAM stalls (systolic layers)
    latency_s: float = 0.0
    energy_mac_j: float = 0.0         # digital MACs and vector ops
    energy_sram_j: float = 0.0
    energy_dram_j: float = 0.0
    energy_static_j: float = 0.0
    energy_imac_j: float = 0.0        # crossbars, amplifiers, neurons: power x settling time
    energy_conversion_j: float = 0.0  # DACs, ADCs, comparators
    weight_bytes: float = 0.0
    imac_weight_bits: float = 0.0
    imac_devices: int = 0
    imac_crossbars: int = 0
    sram_read_bytes: float = 0.0
    sram_write_bytes: float = 0.0
    dram_read_bytes: float = 0.0
    dram_write_bytes: float = 0.0
    dram_weight_bytes: float = 0.0    # of the DRAM reads, the weights (filter operand) moved per image

    @classmethod
    def zero(cls, name: str = "total", stage: str = "mixed") -> LayerCost:
        return cls(name=name, kind="total", unit="total", stage=stage)

    def __add__(self, other: LayerCost) -> LayerCost:
        if not isinstance(other, LayerCost):
            return NotImplemented
        values: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in _TEXT_FIELDS:
                values[f.name] = a if a == b else ("mixed" if f.name == "stage" else
                                                   ("total" if f.name in ("unit", "kind") else a))
            else:
                values[f.name] = a + b
        return LayerCost(**values)

    def __radd__(self, other):  # sum() starts from 0
        if other == 0:
            return self
        return self.__add__(other)

    @property
    def energy_j(self) -> float:
        """Total energy, J: the sum of the energy fields."""
        return (self.energy_mac_j + self.energy_sram_j + self.energy_dram_j + self.energy_static_j
                + self.energy_imac_j + self.energy_conversion_j)

    @property
    def sram_bytes(self) -> float:
        return self.sram_read_bytes + self.sram_write_bytes

    @property
    def dram_bytes(self) -> float:
        return self.dram_read_bytes + self.dram_write_bytes

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(energy_j=self.energy_j, sram_bytes=self.sram_bytes, dram_bytes=self.dram_bytes)
        return out


def total_cost(costs, name: str = "total") -> LayerCost:
    """The sum of ``costs`` (a zero cost when empty), named ``name``."""
    total = LayerCost.zero(name)
    for cost in costs:
        total = total + cost
    return replace(total, name=name)


# ------------------------------------------------------------------------------ systolic part
def digital_weight_bytes(mapped: MappedLayer) -> float:
    """Bytes the digital memory stores for a TPU layer: weights at its bit width plus int32 biases."""
    layer = mapped.layer
    return layer.params * (mapped.weight_bits or 0) / BITS_PER_BYTE + layer.bias * BIAS_BITS / BITS_PER_BYTE


def operand_sram_energies(systolic_cfg, energy: EnergyTable) -> dict[str, float]:
    """J per byte of the ifmap, filter and ofmap SRAM (each sized by the systolic config)."""
    from imaclab.systolic.config import BYTES_PER_KB

    return {op: energy.sram_energy_per_byte(getattr(systolic_cfg, f"{op}_sram_kb") * BYTES_PER_KB)
            for op in ("ifmap", "filter", "ofmap")}


def simulate_systolic(mapped: MappedLayer, systolic_cfg):
    """``(LayerReport, repeats)`` of a TPU layer from :func:`imaclab.systolic.simulate_layer`."""
    from imaclab.systolic import simulate_layer

    layer, repeats = systolic_layer(mapped.layer)
    return simulate_layer(systolic_cfg, layer), repeats


def tpu_layer_cost(mapped: MappedLayer, report, systolic_cfg, energy: EnergyTable, *, repeats: int = 1) -> LayerCost:
    """Cost of a systolic layer from its :class:`imaclab.systolic.LayerReport` (``repeats`` identical runs)."""
    word = report.word_size_bytes
    sram_e = operand_sram_energies(systolic_cfg, energy)
    sram_read = (report.sram_ifmap_reads + report.sram_filter_reads) * word * repeats
    sram_write = report.sram_ofmap_writes * word * repeats
    dram_read = (report.dram_ifmap_reads + report.dram_filter_reads) * word * repeats
    dram_write = report.dram_ofmap_writes * word * repeats
    cycles = report.total_cycles * repeats
    latency = cycles / report.clock_hz
    macs = report.macs * repeats
    e_sram = word * repeats * (report.sram_ifmap_reads * sram_e["ifmap"] + report.sram_filter_reads * sram_e["filter"]
                               + report.sram_ofmap_writes * sram_e["ofmap"])
    return LayerCost(
        name=mapped.layer.name, kind=mapped.layer.kind, unit="tpu", stage="tpu", macs=macs,
        tpu_cycles=float(cycles), stall_cycles=float(report.stall_cycles * repeats), latency_s=latency,
        energy_mac_j=macs * energy.mac_j, energy_sram_j=e_sram,
        energy_dram_j=(dram_read + dram_write) * energy.dram_j_per_byte,
        energy_static_j=energy.leakage_power(systolic_cfg) * latency, weight_bytes=digital_weight_bytes(mapped),
        sram_read_bytes=float(sram_read), sram_write_bytes=float(sram_write), dram_read_bytes=float(dram_read),
        dram_write_bytes=float(dram_write), dram_weight_bytes=float(report.dram_filter_reads * word * repeats))


def vector_ops(mapped: MappedLayer) -> int:
    """Elementwise operations of a pooling (window compares/adds per output) or residual add layer."""
    layer = mapped.layer
    if layer.kind == "pool":
        return layer.out_elements * layer.kernel[0] * layer.kernel[1]
    if layer.kind == "add":
        return layer.out_elements
    raise ConfigError(f"layer {layer.name} ({layer.kind}) does not run on the vector unit")


def vector_layer_cost(mapped: MappedLayer, systolic_cfg, energy: EnergyTable) -> LayerCost:
    """Cost of pooling / residual add on the vector unit (``array_cols`` lanes, one op per lane per cycle)."""
    layer = mapped.layer
    ops = vector_ops(mapped)
    cycles = math.ceil(ops / systolic_cfg.array_cols)
    word = systolic_cfg.word_size_bytes
    read_values = layer.in_elements * (2 if layer.kind == "add" else 1)
    sram_e = operand_sram_energies(systolic_cfg, energy)["ofmap"]
    latency = cycles / systolic_cfg.clock_hz
    read_b, write_b = read_values * word, layer.out_elements * word
    return LayerCost(name=layer.name, kind=layer.kind, unit="vector", stage="tpu", tpu_cycles=float(cycles),
                     latency_s=latency, energy_mac_j=ops * energy.vector_op_j,
                     energy_sram_j=(read_b + write_b) * sram_e,
                     energy_static_j=energy.leakage_power(systolic_cfg) * latency,
                     sram_read_bytes=float(read_b), sram_write_bytes=float(write_b))


# ------------------------------------------------------------------------------ IMAC part
@dataclass(frozen=True)
class ImacLayerMeasurement:
    """What the IMAC room measured (or attributed) for one crossbar layer, per image."""

    name: str
    latency_s: float
    power_w: float
    crossbars: int
    devices: int
    source: str = ""
    #: Energy per image, J, when known directly (tile costs); None = ``power_w * latency_s``.
    energy_j: float | None = None

    @property
    def energy(self) -> float:
        """Energy per image, J."""
        return self.energy_j if self.energy_j is not None else self.power_w * self.latency_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "energy_j": self.energy}


def imac_devices(fan_in: int, fan_out: int) -> int:
    """Devices of a layer: a differential pair per weight, bias row included."""
    return DEVICES_PER_WEIGHT * (fan_in + 1) * fan_out


def tile_measurements(layers: list[MappedLayer], tile: Any) -> list[ImacLayerMeasurement]:
    """Per-layer IMAC costs from a characterized crossbar tile (:class:`imaclab.imac.tiles.TileCosts`).

    A fully connected layer ``fan_in -> fan_out`` takes ``ceil((fan_in + 1) / size) *
    ceil(fan_out / size)`` tiles (:func:`imaclab.circuit.description.partition_counts`, the bias row
    included, as the circuit room partitions it).  Each of its input rows (one per image for the
    classifier layers) is one product: the tiles work in parallel, so latency = rows x the tile's
    settling time, and energy = rows x tiles x the tile's analog energy per product (crossbar,
    amplifiers, neurons).  The converters are not taken from the tile: the hand-offs count them
    (:func:`handoff_cost`), as they do for the measured costs.
    """
    from imaclab.circuit.description import partition_counts

    out = []
    for mapped in layers:
        layer = mapped.layer
        fan_in, fan_out = layer.in_channels, layer.out_channels
        across, down = partition_counts(fan_in, fan_out, tile.size, tile.size)
        tiles = across * down
        rows = max(1, layer.macs // max(1, fan_in * fan_out))
        latency = rows * tile.settling_s
        energy = rows * tiles * tile.analog_j
        out.append(ImacLayerMeasurement(
            name=layer.name, latency_s=latency, power_w=energy / latency if latency > 0 else 0.0, crossbars=tiles,
            devices=imac_devices(fan_in, fan_out), energy_j=energy,
            source=f"tile {tile.label} ({tile.backend}): {across} x {down} tiles, {rows} product(s) of "
                   f"{tile.settling_s:.3g} s and {tile.analog_j:.3g} J per tile"))
    return out


def imac_layer_cost(mapped: MappedLayer, measurement: ImacLayerMeasurement, clock_hz: float) -> LayerCost:
    """Cost of a crossbar layer: measured settling time, power x settling time, weights in devices."""
    layer = mapped.layer
    bits = mapped.weight_bits or 1
    return LayerCost(name=layer.name, kind=layer.kind, unit="imac", stage="imac", macs=layer.macs,
                     tpu_cycles=0.0, latency_s=measurement.latency_s,
                     energy_imac_j=measurement.energy,
                     imac_weight_bits=float((layer.params + layer.bias) * bits), imac_devices=measurement.devices,
                     imac_crossbars=measurement.crossbars)


def handoff_cost(handoff: Handoff, config: HandoffConfig, systolic_cfg, energy: EnergyTable, *,
                 input_mode: str = "analog") -> LayerCost:
    """Cost of one digital <-> IMAC boundary for one image (see the module docstring).

    ``input_mode`` is the trained model's IMAC input drive (``analog`` or ``binary``), used when
    ``config.input_conversion`` is ``auto``.
    """
    word = systolic_cfg.word_size_bytes
    sram_e = operand_sram_energies(systolic_cfg, energy)["ofmap"]
    if handoff.direction == "to-imac":
        mode: str = config.input_conversion
        if mode == "auto":
            mode = "binarize" if input_mode == "binary" else "dac"
        converter = config.binarizer if mode == "binarize" else config.dac
        read_bytes = handoff.values * word
        per_cycle = config.buffer_read_bytes_per_cycle or systolic_cfg.array_cols * word
        read_cycles = math.ceil(read_bytes / per_cycle)
        conv_e, conv_t = converter.batch(handoff.values)
        return LayerCost(name=handoff.name, kind=f"handoff-{mode}", unit="handoff", stage="imac",
                         tpu_cycles=float(read_cycles), latency_s=read_cycles / systolic_cfg.clock_hz + conv_t,
                         energy_sram_j=read_bytes * sram_e, energy_conversion_j=conv_e,
                         sram_read_bytes=float(read_bytes))
    mode = config.output_conversion
    if mode == "none":
        return LayerCost(name=handoff.name, kind="handoff-none", unit="handoff", stage="imac")
    converter = config.adc if mode == "adc" else config.comparator
    conv_e, conv_t = converter.batch(handoff.values)
    write_bytes = handoff.values * math.ceil(converter.bits / BITS_PER_BYTE)
    return LayerCost(name=handoff.name, kind=f"handoff-{mode}", unit="handoff", stage="imac", latency_s=conv_t,
                     energy_sram_j=write_bytes * sram_e, energy_conversion_j=conv_e,
                     sram_write_bytes=float(write_bytes))


# ------------------------------------------------------------------------------ designs
@dataclass
class DesignCost:
    """Per-layer costs of one design (hand-offs in execution order) and its totals."""

    design: str
    layers: list[LayerCost]
    pipeline: bool
    clock_hz: float
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> LayerCost:
        return total_cost(self.layers, "total")

    def stage_latency_s(self) -> dict[str, float]:
        """Single-image latency of each pipeline stage."""
        out: dict[str, float] = {}
        for cost in self.layers:
            out[cost.stage] = out.get(cost.stage, 0.0) + cost.latency_s
        return out

    @property
    def latency_s(self) -> float:
        """Single-image latency: every layer and hand-off one after the other."""
        return self.total.latency_s

    @property
    def throughput_per_s(self) -> float:
        """Steady-state images per second (pipelined stages: one per slowest stage)."""
        period = max(self.stage_latency_s().values()) if self.pipeline else self.latency_s
        return 1.0 / period if period > 0 else math.inf

    @property
    def energy_j(self) -> float:
        return self.total.energy_j

    def by_unit(self) -> dict[str, LayerCost]:
        out: dict[str, LayerCost] = {}
        for cost in self.layers:
            out[cost.unit] = out[cost.unit] + cost if cost.unit in out else cost
        return {unit: replace(cost, name=unit) for unit, cost in out.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "pipeline": self.pipeline, "clock_hz": self.clock_hz,
                "latency_s": self.latency_s, "throughput_per_s": self.throughput_per_s, "energy_j": self.energy_j,
                "stage_latency_s": self.stage_latency_s(), "total": self.total.to_dict(),
                "by_unit": {k: v.to_dict() for k, v in self.by_unit().items()},
                "layers": [c.to_dict() for c in self.layers], "notes": list(self.notes)}
