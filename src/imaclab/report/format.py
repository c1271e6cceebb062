"""Numbers for a person: units from a figure's name, SI prefixes, sensible precision.

``format_value("mean_power_w", 0.3232516)`` -> ``"323.3 mW"``; ``format_value("total_cycles", 413949)``
-> ``"413,949 cycles"``; ``format_value("test_accuracy", 0.3398)`` -> ``"33.98 %"``.  Never a float
with 16 digits: four significant digits unless the figure is an integer.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

#: SI prefixes from pico to tera (micro written as the Greek letter).
_PREFIXES = (
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
    (1e-15, "f"),
)
#: significant digits of a formatted float
DIGITS = 4

# (suffix of the name, unit, SI prefixes?) -- the first match wins, so longer suffixes come first
_SUFFIX_UNITS: tuple[tuple[str, str, bool], ...] = (
    ("bytes_per_s", "B/s", True),
    ("_per_s", "/s", True),
    ("_s_per_sample", "s", True),
    ("_um2", "µm²", False),
    ("_w", "W", True),
    ("_j", "J", True),
    ("_hz", "Hz", True),
    ("_ohm", "Ω", True),
    ("_v", "V", True),
    ("_f", "F", True),
    ("_m", "m", True),
    ("_s", "s", True),
    ("seconds", "s", True),
    ("bytes", "B", True),
    ("_kb", "kB", False),
)
#: name fragments of fractions shown as percentages (when the value lies in [0, 1])
_PERCENT_WORDS = ("accuracy", "utilization", "utilisation", "reduction", "agreement", "efficiency")
#: name fragments of ratios shown with a times sign
_RATIO_WORDS = ("speedup", "ceiling", "_gain", "energy_ratio", "ratio")


def unit_of(name: str) -> tuple[str, bool]:
    """The unit of a figure called ``name`` and whether it takes SI prefixes (``("", False)`` if none)."""
    key = name.lower().rsplit(".", 1)[-1]
    if "cycles" in key or key.endswith("_cycle"):
        return "cycles", False
    if key.endswith("_points") or key == "points":
        return "points", False
    if key.startswith("seconds") or key.endswith("seconds") or key.endswith("_s_per_sample"):
        return "s", True
    if "tokens_per_s" in key:
        return "tokens/s", False
    for suffix, unit, si in _SUFFIX_UNITS:
        if key.endswith(suffix) or (key == suffix and not suffix.startswith("_")):
            return unit, si
    return "", False


def is_percent(name: str, value: Any) -> bool:
    key = name.lower().rsplit(".", 1)[-1]
    if key.endswith(("_pct", " %", "_percent")) or key.endswith("%"):
        return False  # already in percent
    return (
        any(word in key for word in _PERCENT_WORDS)
        and isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and 0.0 <= float(value) <= 1.0
    )


def is_ratio(name: str) -> bool:
    key = name.lower().rsplit(".", 1)[-1]
    return any(word in key for word in _RATIO_WORDS) and not key.startswith("s_")


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A float with ``digits`` significant digits, no exponent between 1e-3 and 1e6; integers with commas."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
        text = f"{value:,.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return f"{value:.{digits - 1}e}"


def format_si(value: Any, unit: str, digits: int = DIGITS) -> str:
    """``0.000323 W`` -> ``323 µW``: the prefix that puts the mantissa in [1, 1000)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{format_number(value, digits)} {unit}".strip()
    magnitude = abs(value)
    scale, prefix = _PREFIXES[-1]
    for candidate, candidate_prefix in _PREFIXES:
        if magnitude >= candidate * (1 - 1e-12):
            scale, prefix = candidate, candidate_prefix
            break
    mantissa = value / scale
    if round(abs(mantissa), digits - 1 - int(math.floor(math.log10(abs(mantissa))))) >= 1000 and scale < 1e12:
        index = [s for s, _ in _PREFIXES].index(scale)
        scale, prefix = _PREFIXES[index - 1]
        mantissa = value / scale
    return f"{format_number(mantissa, digits)} {prefix}{unit}"


def format_value(name: str, value: Any, digits: int = DIGITS) -> str:
    """``value`` of the figure called ``name``, with its unit and sensible precision."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(name, v, digits) for v in value) if len(value) <= 12 else f"{len(value)} values"
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if not isinstance(value, numbers.Real):
        return str(value)
    if is_percent(name, value):
        return f"{format_number(float(value) * 100, digits)} %"
    if is_ratio(name) and not isinstance(value, numbers.Integral):
        return f"{format_number(value, digits)}×"
    unit, si = unit_of(name)
    if not unit:
        return format_number(value, digits)
    if unit == "cycles" or unit == "points":
        return f"{format_number(value, digits)} {unit}"
    if si:
        return format_si(value, unit, digits)
    return f"{format_number(value, digits)} {unit}"


def label_of(name: str) -> str:
    """``tpu_imac_latency_s`` -> ``TPU-IMAC latency``: a readable label (units dropped, they are in the value)."""
    key = name.rsplit(".", 1)[-1]
    for suffix in ("_um2", "_per_s", "_w", "_j", "_hz", "_s", "_ohm", "_v", "_m", "_f"):
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            key = key[: -len(suffix)] + (" per s" if suffix == "_per_s" else "")
            break
    words = key.replace("_", " ").split()
    upper = {
        "tpu": "TPU",
        "imac": "IMAC",
        "dram": "DRAM",
        "sram": "SRAM",
        "fp32": "FP32",
        "llm": "LLM",
        "mac": "MAC",
        "macs": "MACs",
        "adc": "ADC",
        "dac": "DAC",
        "fc": "FC",
    }
    text = " ".join(upper.get(w.lower(), w) for w in words).replace("TPU IMAC", "TPU-IMAC")
    return text[:1].upper() + text[1:] if text else name
