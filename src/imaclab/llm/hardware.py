"""Hardware names used by the LLM analysis.

``--hardware`` names a systolic array: ``edge`` = the ``edge-32x32`` preset,
``cloud`` = ``cloud-128x128``, or any :mod:`imaclab.systolic` preset name or
config file.  Each array is paired with a roofline device for the memory and
roofline costs (``edge`` -> ``edge-npu``, ``cloud`` -> ``tpu-v4``).
"""

from __future__ import annotations

from typing import Any

from imaclab.errors import ConfigError
from imaclab.llm.roofline import RooflineHardware

SYSTOLIC_ALIASES = {"edge": "edge-32x32", "cloud": "cloud-128x128"}
ROOFLINE_PAIRS = {"edge-32x32": "edge-npu", "cloud-128x128": "tpu-v4", "cloud-256x256": "tpu-v4"}
DEFAULT_ROOFLINE = "tpu-v4"
#: The LLM analysis runs every array output stationary unless told otherwise.
DEFAULT_DATAFLOW = "os"
KEEP_PRESET_DATAFLOW = "preset"


def parse_array(text: str) -> tuple[int, int]:
    """``'32x32'`` -> (32, 32)."""
    try:
        rows, cols = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ConfigError(f"cannot read array size '{text}': use ROWSxCOLS, e.g. 32x32") from None
    if rows < 1 or cols < 1:
        raise ConfigError(f"array size '{text}' must be at least 1x1")
    return rows, cols


def resolve_systolic(name: str, *, array: str | None = None, dataflow: str | None = DEFAULT_DATAFLOW) -> Any:
    """A :class:`imaclab.systolic.SystolicConfig` from an alias, preset name, SCALE-Sim ``.cfg`` or
    YAML/JSON file, with the array size (``'64x64'``) and dataflow overridden.

    The dataflow is output stationary unless given; ``None`` or ``'preset'`` keeps the file's own
    (``cloud-128x128`` is weight stationary, like a TPU).
    """
    from imaclab.systolic import SystolicConfig

    cfg = SystolicConfig.resolve(systolic_label(name))
    overrides: dict[str, Any] = {}
    if array:
        overrides["array_rows"], overrides["array_cols"] = parse_array(array)
    if dataflow and dataflow.strip().lower() != KEEP_PRESET_DATAFLOW:
        overrides["dataflow"] = dataflow.strip().lower()
    return cfg.with_overrides(overrides) if overrides else cfg


def systolic_label(name: str) -> str:
    """The preset name an alias stands for (``edge`` -> ``edge-32x32``)."""
    return SYSTOLIC_ALIASES.get(name.strip().lower(), name.strip())


def clock_of(systolic_config: Any, override_hz: float | None = None) -> float:
    """Clock frequency for cycles -> seconds: an explicit value, else the config's ``clock_hz``."""
    return float(override_hz or systolic_config.clock_hz)


def roofline_for(hardware_name: str, override: str | None = None) -> RooflineHardware:
    """The roofline device paired with a systolic hardware name (or ``override``)."""
    if override:
        return RooflineHardware.preset(override)
    return RooflineHardware.preset(ROOFLINE_PAIRS.get(systolic_label(hardware_name), DEFAULT_ROOFLINE))
