"""Systolic-array configuration: array shape, dataflow, SRAM sizes, DRAM interface.

:class:`SystolicConfig` is an imaclab :class:`~imaclab.config.ConfigModel` (YAML/JSON
round trip, dotted overrides) that also reads and writes SCALE-Sim v2 ``.cfg`` files
with SCALE-Sim's own section and key names, so existing SCALE-Sim configs work
unchanged::

    [general]
    run_name = scale_example_run_32x32_os

    [architecture_presets]
    ArrayHeight:    32          -> array_rows
    ArrayWidth:     32          -> array_cols
    IfmapSramSzkB:  64          -> ifmap_sram_kb   (1 kB = 1024 bytes, as SCALE-Sim)
    FilterSramSzkB: 64          -> filter_sram_kb
    OfmapSramSzkB:  64          -> ofmap_sram_kb
    IfmapOffset:    0           -> ifmap_offset
    FilterOffset:   10000000    -> filter_offset
    OfmapOffset:    20000000    -> ofmap_offset
    Dataflow : os               -> dataflow (os | ws | is)
    Bandwidth : 10              -> dram_bandwidth_words_per_cycle (used only with USER)
    WordSizeBytes: 1            -> word_size_bytes (imaclab key; SCALE-Sim ignores it, fixes 1)
    ClockMHz: 1000              -> clock_hz / 1e6 (imaclab key; SCALE-Sim ignores it)

    [run_presets]
    InterfaceBandwidth: CALC    -> dram_bandwidth_words_per_cycle = None (CALC) or the
                                   Bandwidth value (USER)

Keys are case-insensitive (SCALE-Sim uses :mod:`configparser`); keys SCALE-Sim
reads but imaclab does not model (``MemoryBanks``, ``SRAM_row_size`` ...) are
accepted and ignored, like SCALE-Sim v2.0.2 itself does.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, InputError, unknown_name

DATAFLOWS = ("os", "ws", "is")
#: SCALE-Sim's kB: ``ifmap_buf_size_bytes = 1024 * ifmap_sram_kb`` (single_layer_sim.py).
BYTES_PER_KB = 1024
PRESET_DIR = Path(__file__).with_name("presets")

# SCALE-Sim .cfg keys (lower case, as configparser stores them) -> field names.
_ARCH_INT_KEYS = {
    "arrayheight": "array_rows",
    "arraywidth": "array_cols",
    "ifmapsramszkb": "ifmap_sram_kb",
    "filtersramszkb": "filter_sram_kb",
    "ofmapsramszkb": "ofmap_sram_kb",
    "ifmapoffset": "ifmap_offset",
    "filteroffset": "filter_offset",
    "ofmapoffset": "ofmap_offset",
    "wordsizebytes": "word_size_bytes",
}
_REQUIRED_ARCH_KEYS = ("arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb", "dataflow")
_CFG_SPELLING = {"arrayheight": "ArrayHeight", "arraywidth": "ArrayWidth", "ifmapsramszkb": "IfmapSramSzkB",
                 "filtersramszkb": "FilterSramSzkB", "ofmapsramszkb": "OfmapSramSzkB", "ifmapoffset": "IfmapOffset",
                 "filteroffset": "FilterOffset", "ofmapoffset": "OfmapOffset", "dataflow": "Dataflow",
                 "bandwidth": "Bandwidth", "wordsizebytes": "WordSizeBytes", "clockmhz": "ClockMHz",
                 "interfacebandwidth": "InterfaceBandwidth", "run_name": "run_name",
                 "topologycsvloc": "TopologyCsvLoc"}


class SystolicConfig(ConfigModel):
    """One systolic array with its three double-buffered SRAMs and DRAM interface."""

    run_name: str = Field("imaclab_run", description="Run name (SCALE-Sim [general] run_name); names output folders")
    array_rows: int = Field(32, ge=1, description="Processing-element rows (SCALE-Sim ArrayHeight)")
    array_cols: int = Field(32, ge=1, description="Processing-element columns (SCALE-Sim ArrayWidth)")
    dataflow: Literal["os", "ws", "is"] = Field(
        "os", description="Stationary operand: os = output, ws = weight (filter), is = input (ifmap)")
    ifmap_sram_kb: int = Field(64, ge=1, description="IFMAP SRAM size in kB (1 kB = 1024 bytes), double buffered")
    filter_sram_kb: int = Field(64, ge=1, description="Filter SRAM size in kB (1 kB = 1024 bytes), double buffered")
    ofmap_sram_kb: int = Field(64, ge=1, description="OFMAP SRAM size in kB (1 kB = 1024 bytes), double buffered")
    dram_bandwidth_words_per_cycle: int | None = Field(
        None, ge=1, description="DRAM interface bandwidth per operand in words/cycle (SCALE-Sim USER mode); "
                                "None = CALC: the bandwidth needed for stall-free operation is computed")
    dram_model: Literal["scalesim", "bound"] = Field(
        "scalesim", description="Stall model with a user DRAM bandwidth: scalesim = SCALE-Sim 2.0.2's "
                                "USER-mode read buffers (prefetch-order refetches, its stalls and DRAM words "
                                "exactly); bound = CALC-mode DRAM traffic streamed at the bandwidth (a lower "
                                "bound on stalls for an ideal prefetcher)")
    word_size_bytes: int = Field(1, ge=1, description="Bytes per data word (SCALE-Sim fixes 1)")
    clock_hz: float = Field(1e9, gt=0, description="Array clock in Hz (cycles -> seconds, words/cycle -> bytes/s)")
    ifmap_offset: int = Field(0, ge=0, description="Base word address of the IFMAP operand (SCALE-Sim IfmapOffset)")
    filter_offset: int = Field(10_000_000, ge=0,
                               description="Base word address of the filters (SCALE-Sim FilterOffset)")
    ofmap_offset: int = Field(20_000_000, ge=0, description="Base word address of the OFMAP (SCALE-Sim OfmapOffset)")
    topology_csv: str | None = Field(None, description="Topology CSV named by the .cfg "
                                                       "([network_presets] TopologyCsvLoc)")

    @field_validator("dataflow", mode="before")
    @classmethod
    def _lower_dataflow(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    # derived quantities ---------------------------------------------------------------
    @property
    def num_pes(self) -> int:
        """Multiply-accumulate units in the array."""
        return self.array_rows * self.array_cols

    @property
    def calc_bandwidth(self) -> bool:
        """True in SCALE-Sim's CALC mode (no user DRAM bandwidth, stall-free reads)."""
        return self.dram_bandwidth_words_per_cycle is None

    def sram_words(self, operand: str) -> int:
        """Capacity of one operand SRAM in words: ``floor(kB * 1024 / word_size)``."""
        kb = {"ifmap": self.ifmap_sram_kb, "filter": self.filter_sram_kb, "ofmap": self.ofmap_sram_kb}[operand]
        return (kb * BYTES_PER_KB) // self.word_size_bytes

    # presets ----------------------------------------------------------------------------
    @classmethod
    def presets(cls) -> list[str]:
        """Names of the shipped presets (``edge-32x32``, ``cloud-128x128``, ...)."""
        return sorted(p.stem for p in PRESET_DIR.glob("*.cfg"))

    @classmethod
    def preset(cls, name: str) -> SystolicConfig:
        """A shipped preset by name (see :meth:`presets`)."""
        path = PRESET_DIR / f"{name}.cfg"
        if not path.is_file():
            raise unknown_name("systolic preset", name, cls.presets())
        return cls.from_scalesim_cfg(path)

    @classmethod
    def resolve(cls, spec: str | Path) -> SystolicConfig:
        """A preset name, a SCALE-Sim ``.cfg`` file, or an imaclab YAML/JSON config file."""
        text = str(spec).strip()
        path = Path(text)
        suffix = path.suffix.lower()
        if suffix == ".cfg":
            return cls.from_scalesim_cfg(path)
        if suffix in (".yaml", ".yml", ".json"):
            return cls.load(path)
        if path.is_file():
            return cls.from_scalesim_cfg(path)
        return cls.preset(text)

    # SCALE-Sim .cfg ---------------------------------------------------------------------
    @classmethod
    def from_scalesim_cfg(cls, path: str | Path) -> SystolicConfig:
        """Read a SCALE-Sim ``.cfg`` file; errors name the file, line and key."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: SCALE-Sim config file not found")
        text = path.read_text()
        parser = configparser.ConfigParser()
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as err:
            line = getattr(err, "lineno", None)
            errors = getattr(err, "errors", None)  # ParsingError: [(line number, line), ...]
            if line is None and errors:
                line = errors[0][0]
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: not a valid SCALE-Sim .cfg file: {str(err).splitlines()[0]}") from None
        locate = _KeyLocator(path, text)

        if not parser.has_section("architecture_presets"):
            raise ConfigError(f"{path}: missing section [architecture_presets] (SCALE-Sim needs ArrayHeight, "
                              "ArrayWidth, IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB, Dataflow)")
        arch = parser["architecture_presets"]
        for key in _REQUIRED_ARCH_KEYS:
            if key not in arch:
                raise ConfigError(f"{path}: [architecture_presets] is missing {_CFG_SPELLING[key]}")

        data: dict[str, Any] = {}
        if parser.has_option("general", "run_name"):
            data["run_name"] = parser.get("general", "run_name").strip().strip('"')
        else:
            data["run_name"] = path.stem
        for key, field in _ARCH_INT_KEYS.items():
            if key in arch:
                data[field] = _parse_int(arch[key], locate, "architecture_presets", key)
        data["dataflow"] = arch["dataflow"].strip().lower()
        if data["dataflow"] not in DATAFLOWS:
            raise ConfigError(f"{locate('architecture_presets', 'dataflow')}: Dataflow '{arch['dataflow'].strip()}' "
                              "is not one of os, ws, is")
        if "clockmhz" in arch:
            try:
                data["clock_hz"] = float(arch["clockmhz"]) * 1e6
            except ValueError:
                raise ConfigError(f"{locate('architecture_presets', 'clockmhz')}: ClockMHz "
                                  f"'{arch['clockmhz'].strip()}' is not a number") from None

        mode = "CALC"
        if parser.has_option("run_presets", "InterfaceBandwidth"):
            mode = parser.get("run_presets", "InterfaceBandwidth").strip().upper()
            if mode not in ("CALC", "USER"):
                raise ConfigError(f"{locate('run_presets', 'interfacebandwidth')}: InterfaceBandwidth "
                                  f"'{mode}' must be CALC or USER")
        if mode == "USER":
            if "bandwidth" not in arch:
                raise ConfigError(f"{path}: InterfaceBandwidth is USER but [architecture_presets] has no Bandwidth")
            # SCALE-Sim reads a comma list and uses its first entry for every operand.
            first = arch["bandwidth"].split(",")[0]
            data["dram_bandwidth_words_per_cycle"] = _parse_int(first, locate, "architecture_presets", "bandwidth")
        else:
            data["dram_bandwidth_words_per_cycle"] = None

        if parser.has_option("network_presets", "TopologyCsvLoc"):
            data["topology_csv"] = parser.get("network_presets", "TopologyCsvLoc").strip().strip('"')
        try:
            return cls.model_validate(data)
        except Exception as err:  # pydantic ValidationError: name the offending key and its line
            errors = getattr(err, "errors", None)
            if not callable(errors):
                raise
            parts = []
            for item in errors():
                field = str(item["loc"][0]) if item["loc"] else ""
                key = next((k for k, f in _ARCH_INT_KEYS.items() if f == field), field)
                parts.append(f"{locate('architecture_presets', key)}: {_CFG_SPELLING.get(key, key)}: {item['msg']}")
            raise ConfigError("; ".join(parts)) from None

    def to_scalesim_text(self) -> str:
        """This config as the text of a SCALE-Sim ``.cfg`` file."""
        bandwidth = self.dram_bandwidth_words_per_cycle
        lines = [
            "[general]",
            f"run_name = {self.run_name}",
            "",
            "[architecture_presets]",
            f"ArrayHeight:    {self.array_rows}",
            f"ArrayWidth:     {self.array_cols}",
            f"IfmapSramSzkB:  {self.ifmap_sram_kb}",
            f"FilterSramSzkB: {self.filter_sram_kb}",
            f"OfmapSramSzkB:  {self.ofmap_sram_kb}",
            f"IfmapOffset:    {self.ifmap_offset}",
            f"FilterOffset:   {self.filter_offset}",
            f"OfmapOffset:    {self.ofmap_offset}",
            f"Dataflow : {self.dataflow}",
            # SCALE-Sim requires a Bandwidth entry only in USER mode; keep a harmless value otherwise.
            f"Bandwidth : {bandwidth if bandwidth is not None else 10}",
            f"WordSizeBytes: {self.word_size_bytes}",
            f"ClockMHz: {self.clock_hz / 1e6:g}",
            "",
            "[run_presets]",
            f"InterfaceBandwidth: {'CALC' if bandwidth is None else 'USER'}",
            "",
        ]
        if self.topology_csv:
            lines += ["[network_presets]", f'TopologyCsvLoc: "{self.topology_csv}"', ""]
        return "\n".join(lines)

    def to_scalesim_cfg(self, path: str | Path) -> Path:
        """Write a SCALE-Sim ``.cfg`` file (readable by SCALE-Sim v2.0.2 and :meth:`from_scalesim_cfg`)."""
        from imaclab.files import write_text

        return write_text(Path(path), self.to_scalesim_text())


class _KeyLocator:
    """Finds ``file:line`` of a key in a .cfg text, for error messages."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def __call__(self, section: str, key: str) -> str:
        current = None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*[:=]", re.IGNORECASE)
        for number, line in enumerate(self.lines, start=1):
            header = re.match(r"^\s*\[(.+)\]\s*$", line)
            if header:
                current = header.group(1).strip().lower()
                continue
            if current == section.lower() and pattern.match(line):
                return f"{self.path}:{number}"
        return str(self.path)


def _parse_int(raw: str, locate: _KeyLocator, section: str, key: str) -> int:
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{locate(section, key)}: {_CFG_SPELLING.get(key, key)} '{text}' is not an integer") from None
