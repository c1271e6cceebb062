"""One exception tree for the whole package.

Every error a user can cause (a malformed config, a missing file, an unknown
name, a netlist that does not converge) is an :class:`ImaclabError` whose
message is one line naming the problem and how to fix it.  The CLI prints that
line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class ImaclabError(Exception):
    """Base of every user-facing error; ``str(err)`` is a one-line explanation."""

    exit_code = 2


class ConfigError(ImaclabError, ValueError):
    """A configuration file or value is malformed or out of range."""


class InputError(ImaclabError, ValueError):
    """An input file or data set is missing, malformed or inconsistent."""


class UnknownNameError(ImaclabError, KeyError):
    """A model, preset, device or data set name is not known."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OutputError(ImaclabError, OSError):
    """A result cannot be written (read-only folder, full disk, a target that is not a regular file)."""


class SimulationError(ImaclabError, RuntimeError):
    """An external simulator failed (did not converge, missing model, not installed)."""


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build an :class:`UnknownNameError` that lists the closest known names."""
    import difflib

    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=5, cutoff=0.4)
    lookup = {k.lower(): k for k in known}
    suggestions = [lookup[c] for c in close]
    hint = f"did you mean {', '.join(suggestions)}?" if suggestions else f"known: {', '.join(sorted(known))}"
    return UnknownNameError(f"unknown {kind} '{name}': {hint}")
