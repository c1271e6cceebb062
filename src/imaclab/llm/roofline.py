"""Roofline hardware: peak arithmetic rate per operand width and memory bandwidth.

Presets live in ``roofline_presets.yaml`` with the datasheet each number comes
from.  ``'h100'``, ``'tpu'``, ``'edge'`` are accepted as short names; a path to a
YAML/JSON file with the same fields loads a custom device.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import Field, field_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, unknown_name

PRESET_FILE = "roofline_presets.yaml"
SHORT_NAMES = {"h100": "h100-sxm", "a100": "a100-sxm", "tpu": "tpu-v4", "tpuv4": "tpu-v4",
               "edge": "edge-npu", "npu": "edge-npu"}


class RooflineHardware(ConfigModel):
    """A device seen as a roofline: ``time = max(ops / peak(bits), bytes / bandwidth)``."""

    name: str = Field(default="custom", description="preset or device name")
    peak_ops_per_s: dict[int, float] = Field(description=(
        "dense peak arithmetic rate, ops/s (1 MAC = 2 ops), keyed by operand width in bits"))
    memory_bandwidth_bytes_per_s: float = Field(gt=0, description="DRAM/HBM bandwidth, bytes/s")
    vector_ops_per_s: float | None = Field(default=None, description=(
        "rate of vector (non-matrix) arithmetic, ops/s; None: vector work is bounded by memory only"))
    source: str = Field(default="", description="datasheet or paper the numbers come from")
    energy_per_op_j: dict[int, float] | None = Field(default=None, description=(
        "energy per arithmetic op (1 MAC = 2 ops), J, keyed by operand width in bits; None = no energy model"))
    energy_per_byte_j: float | None = Field(default=None, gt=0, description="energy per DRAM/HBM byte moved, J")
    energy_source: str = Field(default="", description="where the energy figures come from")

    @field_validator("peak_ops_per_s")
    @classmethod
    def _positive(cls, value: dict[int, float]) -> dict[int, float]:
        if not value or any(b <= 0 or r <= 0 for b, r in value.items()):
            raise ValueError("needs at least one (bits > 0: ops/s > 0) entry")
        return dict(sorted(value.items()))

    @field_validator("energy_per_op_j")
    @classmethod
    def _positive_energy(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is None:
            return None
        if not value or any(b <= 0 or e <= 0 for b, e in value.items()):
            raise ValueError("needs at least one (bits > 0: J > 0) entry")
        return dict(sorted(value.items()))

    def energy_for_bits(self, bits: float) -> float:
        """Energy per op on operands ``bits`` wide: the narrowest listed width >= bits (else the widest)."""
        if not self.energy_per_op_j:
            raise ConfigError(f"{self.name}: no energy_per_op_j figures")
        width = math.ceil(bits - 1e-9)
        for listed, value in self.energy_per_op_j.items():
            if listed >= width:
                return value
        return list(self.energy_per_op_j.values())[-1]

    @classmethod
    def preset(cls, name: str) -> RooflineHardware:
        """A shipped preset (``h100-sxm``, ``a100-sxm``, ``tpu-v4``, ``edge-npu``) or a config file."""
        key = SHORT_NAMES.get(name.strip().lower(), name.strip().lower())
        presets = _presets()
        if key in presets:
            return cls.from_dict({"name": key, **presets[key]}, source=f"{PRESET_FILE}:{key}")
        if Path(name).suffix.lower() in (".yaml", ".yml", ".json"):
            return cls.load(name)
        raise unknown_name("roofline hardware", name, [*presets, *SHORT_NAMES])

    @staticmethod
    def preset_names() -> list[str]:
        return list(_presets())

    def peak_for_bits(self, bits: float) -> float:
        """Peak rate for arithmetic on operands ``bits`` wide: the narrowest listed width >= bits."""
        width = math.ceil(bits - 1e-9)
        for listed, rate in self.peak_ops_per_s.items():
            if listed >= width:
                return rate
        raise ConfigError(f"{self.name}: no peak rate for {bits:g}-bit arithmetic "
                          f"(listed widths: {', '.join(map(str, self.peak_ops_per_s))})")


@lru_cache(maxsize=1)
def _presets() -> dict[str, dict]:
    return yaml.safe_load(resources.files("imaclab.llm").joinpath(PRESET_FILE).read_text())
