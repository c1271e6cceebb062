"""The shape every room's job returns: a typed result with ``to_dict()``, ``save(dir)`` and ``plot(dir)``.

Each room's ``api.py`` exports job configs (:class:`~imaclab.config.ConfigModel`) and
``run(job) -> Result``.  A result is data: the CLI prints its :meth:`Result.tables` with one
shared renderer, sweeps store its :meth:`Result.metrics`, a notebook reads its attributes.

A saved run folder is never left contradicting itself: :meth:`Result.save` first removes the
folder's ``summary.json`` (the run marker), writes every other file atomically, and writes
``summary.json`` last.  A folder without ``summary.json`` holds an unfinished run.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.yaml"

Scalar = float | int | str | bool | None


@dataclass(frozen=True)
class Table:
    """A table of formatted cells for a person to read (the CLI and the HTML report draw it)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: The first ``text_columns`` columns are text (left-aligned); the rest are numbers.
    text_columns: int = 1
    #: Print without a header row (a two-column "quantity / value" table).
    show_header: bool = True


def flat_scalars(data: Mapping[str, Any], prefix: str = "", *, strict: bool = False) -> dict[str, Scalar]:
    """The scalar entries of a nested mapping, keys joined with dots, numpy scalars as Python ones.

    Lists, arrays and other values are left out, or with ``strict`` refused (a sweep metric must
    be one number, string, bool or None): :class:`~imaclab.errors.ConfigError` naming the key.
    """
    out: dict[str, Scalar] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_scalars(value, f"{name}.", strict=strict))
            continue
        if hasattr(value, "item") and getattr(value, "shape", None) == ():
            value = value.item()  # a numpy scalar
        if value is None or isinstance(value, (bool, str)):
            out[name] = value
        elif isinstance(value, numbers.Integral):
            out[name] = int(value)
        elif isinstance(value, numbers.Real):
            out[name] = float(value)
        elif strict:
            from imaclab.errors import ConfigError

            raise ConfigError(f"metric '{name}' is a {type(value).__name__}; a metric must be a number, "
                              f"a string, a bool or None")
    return out


@dataclass
class Result:
    """Base of the rooms' results.  Subclasses set ``kind`` and implement :meth:`to_dict`."""

    #: ``room.job`` (``imac.run``, ``tpu.simulate``, ...), written into ``summary.json``.
    kind: ClassVar[str] = "result"
    #: Files written by :meth:`save` / :meth:`plot`, by name.
    files: dict[str, Path] = field(default_factory=dict, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """Every figure of the result as JSON-compatible data (the content of ``summary.json``)."""
        raise NotImplementedError

    def metrics(self) -> dict[str, Scalar]:
        """The scalar figures, flat (what a sweep stores per point)."""
        return flat_scalars(self.to_dict())

    def tables(self) -> list[Table]:
        """What the CLI prints."""
        return []

    def notes(self) -> list[str]:
        """Lines printed after the tables (warnings, where the files went)."""
        return [f"{name}: {path}" for name, path in self.files.items()]

    # files ----------------------------------------------------------------------------
    def write_files(self, out_dir: Path) -> dict[str, Path]:
        """Write the room's own files (CSVs, reports) into ``out_dir``; each write atomic."""
        return {}

    def job_config(self) -> Any:
        """The job config that produced this result (written as ``config.yaml``), or None."""
        return getattr(self, "job", None)

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the run folder: ``config.yaml``, the room's files, then ``summary.json`` (last)."""
        from imaclab.files import check_writable_dir, write_json

        folder = check_writable_dir(out_dir)
        (folder / SUMMARY_FILE).unlink(missing_ok=True)
        files: dict[str, Path] = {}
        job = self.job_config()
        if job is not None:
            files["config"] = job.save(folder / CONFIG_FILE)
        files.update(self.write_files(folder))
        files["summary"] = write_json(folder / SUMMARY_FILE, {"kind": self.kind, **self.to_dict()})
        self.files.update(files)
        return files

    def write_run(self, out_dir: str | Path | None) -> dict[str, Path]:
        """The run folder, when ``out_dir`` is given: :meth:`save`, then :meth:`plot`; nothing otherwise."""
        if out_dir is None:
            return {}
        files = self.save(out_dir)
        files.update(self.plot(out_dir))
        return files

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        """Draw the result's plots into ``out_dir`` (drawn by ``imaclab.report``); none by default."""
        return {}
