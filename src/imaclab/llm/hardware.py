"""Hardware names used by the LLM analysis.

``--hardware`` names a systolic array: ``edge`` = the ``edge-32x32`` preset,
``cloud`` = ``cloud-128x128``, or any :mod:`imaclab.systolic` preset name or
config file.  Each array is paired with a roofline device for the memory and
roofline costs (``edge`` -> ``edge-npu``, ``cloud`` -> ``tpu-v4``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError
from imaclab.llm.roofline import RooflineHardware

SYSTOLIC_ALIASES = {"edge": "edge-32x32", "cloud": "cloud-128x128"}
ROOFLINE_PAIRS = {"edge-32x32": "edge-npu", "cloud-128x128": "tpu-v4", "cloud-256x256": "tpu-v4"}
DEFAULT_ROOFLINE = "tpu-v4"
#: Clock when a systolic config carries none: 1 GHz (TPU v4 runs at 1050 MHz, Jouppi et al. 2023).
DEFAULT_CLOCK_HZ = 1e9


def parse_array(text: str) -> tuple[int, int]:
    """``'32x32'`` -> (32, 32)."""
    try:
        rows, cols = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ConfigError(f"cannot read array size '{text}': use ROWSxCOLS, e.g. 32x32") from None
    if rows < 1 or cols < 1:
        raise ConfigError(f"array size '{text}' must be at least 1x1")
    return rows, cols


def resolve_systolic(name: str, *, array: str | None = None, dataflow: str | None = None) -> Any:
    """A :class:`imaclab.systolic.SystolicConfig` from an alias, preset name or file, with overrides."""
    from imaclab.systolic import SystolicConfig

    key = name.strip()
    preset = SYSTOLIC_ALIASES.get(key.lower(), key)
    if Path(key).suffix.lower() in (".cfg", ".yaml", ".yml", ".json"):
        cfg = SystolicConfig.load(key) if Path(key).suffix.lower() != ".cfg" else _load_cfg(SystolicConfig, key)
    else:
        cfg = SystolicConfig.preset(preset)
    overrides: dict[str, Any] = {}
    if array:
        overrides["array_rows"], overrides["array_cols"] = parse_array(array)
    if dataflow:
        overrides["dataflow"] = dataflow.strip().lower()
    return cfg.with_overrides(overrides) if overrides else cfg


def _load_cfg(cls: Any, path: str) -> Any:
    for loader in ("from_cfg", "load_cfg", "from_scalesim_cfg", "read_cfg"):
        if hasattr(cls, loader):
            return getattr(cls, loader)(path)
    return cls.load(path)


def systolic_label(name: str) -> str:
    """The preset name an alias stands for (``edge`` -> ``edge-32x32``)."""
    return SYSTOLIC_ALIASES.get(name.strip().lower(), name.strip())


def clock_of(systolic_config: Any, override_hz: float | None = None) -> float:
    """Clock frequency for cycles -> seconds: an explicit value, the config's own, or 1 GHz."""
    if override_hz:
        return float(override_hz)
    for attr in ("clock_hz", "frequency_hz", "clock_frequency_hz"):
        value = getattr(systolic_config, attr, None)
        if value:
            return float(value)
    return DEFAULT_CLOCK_HZ


def roofline_for(hardware_name: str, override: str | None = None) -> RooflineHardware:
    """The roofline device paired with a systolic hardware name (or ``override``)."""
    if override:
        return RooflineHardware.preset(override)
    return RooflineHardware.preset(ROOFLINE_PAIRS.get(systolic_label(hardware_name), DEFAULT_ROOFLINE))
