"""Energy of a systolic array run: per layer and in total, from the counts SCALE-Sim reports.

    E_layer = MACs * E_mac(bits)                                     (arithmetic)
            + sum_op accesses_op * word_bytes * E_sram(size_op)      (ifmap/filter reads, ofmap writes)
            + DRAM bytes * E_dram                                    (off-chip traffic)
            + P_leak * latency                                       (leakage over the run time)

Every figure is a field of :class:`SystolicEnergy` (a :class:`~imaclab.config.ConfigModel`,
overridable as ``energy.<field>`` on a :class:`~imaclab.systolic.TpuJob`); the defaults and
their sources are tabled in docs/systolic.md (energy section):

* MAC: Horowitz, "Computing's energy problem", ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V): an
  8-bit integer multiply 0.2 pJ, a 32-bit integer add 0.1 pJ.  A MAC of ``b``-bit operands
  costs ``0.2 pJ * (b / 8)^2`` (an array multiplier's energy grows with the product of the
  operand widths: the same table gives 3.1 pJ for a 32-bit multiply, 0.2 * 16 = 3.2 pJ) plus
  the accumulator add (0.1 pJ, 32-bit accumulator).
* SRAM: Horowitz 2014, 64-bit read from an 8 kB / 32 kB / 1 MB SRAM: 10 / 20 / 100 pJ, log-log
  interpolated in the size; an access of a ``w``-byte word costs ``w / 8`` of a 64-bit read.
* DRAM: 640 pJ per 32-bit access (Han et al., "EIE", ISCA 2016, Table I, from Horowitz 2014):
  160 pJ per byte.
* Leakage: no 45 nm figure is adopted (Horowitz's energies are dynamic): 0 W unless set,
  as a fixed power, per PE and per kB of SRAM.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError

# ---------------------------------------------------------------------------------------- sources
#: Horowitz ISSCC 2014 Fig. 1.1.9, 45 nm, 0.9 V: 8-bit integer multiply, 32-bit and 8-bit integer add.
HOROWITZ_INT8_MULT_PJ = 0.2
HOROWITZ_INT32_ADD_PJ = 0.1
HOROWITZ_INT8_ADD_PJ = 0.03
#: Same figure: a 64-bit read from an SRAM cache of 8 kB, 32 kB and 1 MB, pJ.
HOROWITZ_SRAM_64BIT_PJ = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))
#: DRAM: 640 pJ per 32-bit word (Han et al. ISCA 2016 Table I, from Horowitz 2014).
HAN_DRAM_32BIT_PJ = 640.0
BITS_PER_BYTE = 8
#: Energy categories of a layer, in report order.
ENERGY_PARTS = ("mac", "sram", "dram", "leakage")


def horowitz_sram_pj_per_byte(size_bytes: float) -> float:
    """Read energy per byte of an SRAM of ``size_bytes``: log-log interpolation of Horowitz's
    64-bit read energies (8 kB: 10 pJ, 32 kB: 20 pJ, 1 MB: 100 pJ), extrapolated with the end
    segments' slopes."""
    if size_bytes <= 0:
        raise ConfigError(f"SRAM size must be positive, got {size_bytes} bytes")
    logs = [(math.log(s), math.log(e)) for s, e in HOROWITZ_SRAM_64BIT_PJ]
    x = math.log(size_bytes)
    (x0, y0), (x1, y1) = (logs[0], logs[1]) if x <= logs[1][0] else (logs[1], logs[2])
    y = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return math.exp(y) / 8.0


class SystolicEnergy(ConfigModel):
    """Per-operation energies of a systolic array, joules (defaults: Horowitz ISSCC 2014, 45 nm).

    The hetero room's :class:`imaclab.hetero.EnergyTable` is this model with its own default
    MAC energy; the llm room's ``tpu`` and ``hybrid-pim`` designs use it for the array.
    """

    mac_j: float | None = Field(None, gt=0, description=(
        "energy of one multiply-accumulate, J; None = from operand_bits: multiply_8bit_j * (bits/8)^2 + "
        "accumulate_j (Horowitz 2014: 8-bit mult 0.2 pJ, 32-bit add 0.1 pJ -> 0.3 pJ at 8 bits)"))
    operand_bits: float | None = Field(None, gt=0, description=(
        "operand width of the MACs, bits; None = the array's word size (word_size_bytes * 8)"))
    multiply_8bit_j: float = Field(HOROWITZ_INT8_MULT_PJ * 1e-12, gt=0, description=(
        "energy of an 8x8-bit integer multiply, J (Horowitz 2014: 0.2 pJ); scales with (bits/8)^2"))
    accumulate_j: float = Field(HOROWITZ_INT32_ADD_PJ * 1e-12, ge=0, description=(
        "energy of the accumulator add, J (Horowitz 2014: 32-bit add 0.1 pJ)"))
    sram_j_per_byte: float | None = Field(None, gt=0, description=(
        "SRAM access energy per byte, J; None = from the operand SRAM size by Horowitz 2014's 64-bit read "
        "energies (8 kB 10 pJ, 32 kB 20 pJ, 1 MB 100 pJ, log-log interpolated); an access of a w-byte "
        "word costs w times this"))
    dram_j_per_byte: float = Field(HAN_DRAM_32BIT_PJ / 4 * 1e-12, gt=0, description=(
        "DRAM access energy per byte, J (640 pJ per 32-bit word: Han et al. ISCA 2016 / Horowitz 2014)"))
    vector_op_j: float = Field(HOROWITZ_INT8_ADD_PJ * 1e-12, gt=0, description=(
        "energy of one 8-bit compare or add of the vector unit (pooling, residual adds, norms), J "
        "(Horowitz 2014: 8-bit add 0.03 pJ)"))
    static_power_w: float = Field(0.0, ge=0, description=(
        "static (leakage + clock) power of the accelerator, W, charged over the run time; 0 = dynamic "
        "energy only (Horowitz's figures are dynamic)"))
    leakage_w_per_pe: float = Field(0.0, ge=0, description=(
        "leakage per processing element, W (added to static_power_w; 0 = not counted)"))
    leakage_w_per_sram_kb: float = Field(0.0, ge=0, description=(
        "leakage per kB of the three operand SRAMs, W (added to static_power_w; 0 = not counted)"))

    # ------------------------------------------------------------------ per-operation figures
    def mac_energy(self, bits: float) -> float:
        """Energy of one MAC of ``bits``-wide operands, J (``mac_j`` when set)."""
        if self.mac_j is not None:
            return self.mac_j
        return self.multiply_8bit_j * (bits / BITS_PER_BYTE) ** 2 + self.accumulate_j

    def sram_energy_per_byte(self, sram_bytes: float) -> float:
        """The configured per-byte SRAM energy, or Horowitz's for an SRAM of ``sram_bytes``."""
        if self.sram_j_per_byte is not None:
            return self.sram_j_per_byte
        return horowitz_sram_pj_per_byte(sram_bytes) * 1e-12

    def sram_energy_per_access(self, sram_bytes: float, word_bytes: float) -> float:
        """Energy of one access of a ``word_bytes`` word in an SRAM of ``sram_bytes``, J."""
        return word_bytes * self.sram_energy_per_byte(sram_bytes)

    def leakage_power(self, cfg: Any) -> float:
        """Leakage power of array ``cfg`` (a SystolicConfig), W."""
        kb = cfg.ifmap_sram_kb + cfg.filter_sram_kb + cfg.ofmap_sram_kb
        return self.static_power_w + self.leakage_w_per_pe * cfg.num_pes + self.leakage_w_per_sram_kb * kb

    def operand_bits_of(self, cfg: Any) -> float:
        return self.operand_bits if self.operand_bits is not None else cfg.word_size_bytes * BITS_PER_BYTE

    def operand_sram_energies(self, cfg: Any) -> dict[str, float]:
        """J per byte of the ifmap, filter and ofmap SRAM (each sized by ``cfg``)."""
        from imaclab.systolic.config import BYTES_PER_KB

        return {op: self.sram_energy_per_byte(getattr(cfg, f"{op}_sram_kb") * BYTES_PER_KB)
                for op in ("ifmap", "filter", "ofmap")}


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer (or a total), joules, by part."""

    name: str
    mac_j: float
    sram_j: float
    dram_j: float
    leakage_j: float
    sram_ifmap_j: float = 0.0
    sram_filter_j: float = 0.0
    sram_ofmap_j: float = 0.0

    @property
    def total_j(self) -> float:
        return self.mac_j + self.sram_j + self.dram_j + self.leakage_j

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_j": self.total_j}

    def __add__(self, other: LayerEnergy) -> LayerEnergy:
        return LayerEnergy(self.name, *(getattr(self, f) + getattr(other, f) for f in
                                        ("mac_j", "sram_j", "dram_j", "leakage_j", "sram_ifmap_j",
                                         "sram_filter_j", "sram_ofmap_j")))


def layer_energy(report: Any, cfg: Any, energy: SystolicEnergy) -> LayerEnergy:
    """Energy of one :class:`~imaclab.systolic.LayerReport` on array ``cfg``."""
    word = report.word_size_bytes
    per_byte = energy.operand_sram_energies(cfg)
    sram = {"ifmap": report.sram_ifmap_reads * word * per_byte["ifmap"],
            "filter": report.sram_filter_reads * word * per_byte["filter"],
            "ofmap": report.sram_ofmap_writes * word * per_byte["ofmap"]}
    return LayerEnergy(name=report.name, mac_j=report.macs * energy.mac_energy(energy.operand_bits_of(cfg)),
                       sram_j=sram["ifmap"] + sram["filter"] + sram["ofmap"],
                       dram_j=report.dram_bytes * energy.dram_j_per_byte,
                       leakage_j=energy.leakage_power(cfg) * report.latency_s,
                       sram_ifmap_j=sram["ifmap"], sram_filter_j=sram["filter"], sram_ofmap_j=sram["ofmap"])


def total_energy(energies: list[LayerEnergy]) -> LayerEnergy:
    total = LayerEnergy("total", 0.0, 0.0, 0.0, 0.0)
    for item in energies:
        total = total + item
    return total


def energy_totals(energies: list[LayerEnergy]) -> dict[str, float]:
    """Flat totals for ``summary.json`` / sweep metrics: ``energy_j``, ``energy_<part>_j``."""
    total = total_energy(energies)
    return {"energy_j": total.total_j, **{f"energy_{p}_j": getattr(total, f"{p}_j") for p in ENERGY_PARTS},
            **{f"energy_sram_{op}_j": getattr(total, f"sram_{op}_j") for op in ("ifmap", "filter", "ofmap")}}
