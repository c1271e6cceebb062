"""The config convention every room follows.

Configs are pydantic models derived from :class:`ConfigModel`:

* SI units inside; a field's unit is in its name (``r_low_ohm``) or description.
* Unknown keys are refused, values are validated on construction and on assignment.
* Every config round-trips through YAML and JSON (``save``/``load``), so a run can be
  replayed from the file it wrote; ``load(dump(cfg)) == cfg``.
* ``with_overrides({"devices.r_low_ohm": 4e3})`` applies dotted overrides (sweeps);
  :func:`parse_set` turns the command line's ``--set key=value`` strings into such a mapping
  (the one parser of ``--set`` in the package).
* Validation failures become one :class:`~imaclab.errors.ConfigError` line that
  names the file and every offending field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from imaclab.errors import ConfigError, InputError


def format_validation_error(err: ValidationError, source: str | None = None) -> str:
    """One line listing every invalid field as ``field.path: message``."""
    parts = []
    for item in err.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        parts.append(f"{where}: {msg}")
    prefix = f"{source}: " if source else ""
    return f"{prefix}invalid {err.title}: " + "; ".join(parts)


class ConfigModel(BaseModel):
    """Base of all imaclab configs: strict keys, validated, YAML/JSON round trip."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # construction ---------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> Self:
        """Validate ``data``; errors become one ConfigError line naming ``source``."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source or cls.__name__}: expected a mapping of fields, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, source)) from None

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a config from a ``.yaml``/``.yml`` or ``.json`` file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: config file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a text file (not UTF-8); give a YAML or JSON config") from None
        except OSError as err:
            raise InputError(f"{path}: cannot read ({err.strerror})") from None
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as err:
            line = getattr(getattr(err, "problem_mark", None), "line", None)
            line = line + 1 if line is not None else getattr(err, "lineno", None)
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                              f"{str(err).splitlines()[0]}") from None
        return cls.from_dict(data if data is not None else {}, source=str(path))

    # serialization --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict of every field (defaults included)."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_yaml(cls, text: str) -> Self:
        return cls.from_dict(yaml.safe_load(text) or {})

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write YAML (``.yaml``/``.yml``) or JSON (``.json``) by the file's suffix."""
        from imaclab.files import write_text

        path = Path(path)
        return write_text(path, self.to_json() if path.suffix.lower() == ".json" else self.to_yaml())

    # overrides ------------------------------------------------------------------
    def with_overrides(self, overrides: dict[str, Any]) -> Self:
        """A copy with dotted-path overrides applied, e.g. ``{"crossbar.rows": 64}``.

        Unknown paths raise ConfigError naming the path; the result is re-validated.
        """
        data = self.to_dict()
        for dotted, value in overrides.items():
            node = data
            keys = dotted.split(".")
            for key in keys[:-1]:
                if not isinstance(node, dict) or key not in node:
                    raise ConfigError(f"override '{dotted}': no field '{key}' in {type(self).__name__}")
                node = node[key]
            if not isinstance(node, dict) or keys[-1] not in node:
                raise ConfigError(f"override '{dotted}': no field '{keys[-1]}' in {type(self).__name__}")
            node[keys[-1]] = value
        return type(self).from_dict(data, source=f"{type(self).__name__} overrides")

    def with_set(self, items: list[str] | tuple[str, ...] | None) -> Self:
        """A copy with ``--set key=value`` strings applied (see :func:`parse_set`)."""
        overrides = parse_set(items)
        return self.with_overrides(overrides) if overrides else self


def parse_set(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["circuit.crossbar.rows=64", "epochs=3"]`` -> ``{"circuit.crossbar.rows": 64, "epochs": 3}``.

    The one parser of ``--set``: a value is read as YAML (``64`` an int, ``[1, 2]`` a list,
    ``on`` a bool, ``5k`` a string the field may parse); a malformed item raises one
    :class:`~imaclab.errors.ConfigError` line naming it.
    """
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set '{item}': use dotted.path=value, e.g. --set circuit.crossbar.rows=64")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"--set '{item}': the value is not valid YAML ({problem}); quote a string, "
                              f"e.g. --set '{key}=\"text\"'") from None
    return out


def parse_si(text: str | float | int) -> float:
    """Parse a number with an optional SI suffix: ``'5k'`` -> 5000.0, ``'1n'`` -> 1e-9.

    Accepts SPICE-style ``meg`` for 1e6; plain numbers pass through.
    """
    if isinstance(text, (int, float)):
        return float(text)
    s = text.strip().lower().replace("ω", "")
    for unit in ("ohms", "ohm", "hz", "v", "s"):
        if s.endswith(unit) and len(s) > len(unit):
            s = s[: -len(unit)]
            break
    scales = {"meg": 1e6, "t": 1e12, "g": 1e9, "m": 1e-3, "k": 1e3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12,
              "f": 1e-15}
    for suffix in ("meg", "t", "g", "k", "m", "u", "µ", "n", "p", "f"):
        if s.endswith(suffix) and s[: -len(suffix)]:
            try:
                return float(s[: -len(suffix)]) * scales[suffix]
            except ValueError:
                break
    try:
        return float(s)
    except ValueError:
        raise ConfigError(f"cannot read '{text}' as a number (use e.g. 5k, 15000, 1e-9, 1n)") from None


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for result objects: numpy scalars and arrays, paths."""
    import numpy as np  # numpy is a dependency of every room; imported here to keep config.py light

    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
