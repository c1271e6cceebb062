"""Every file imaclab writes goes through here: written whole or not at all.

A result is written to a temporary file in the target's own folder and renamed over the
target (``os.replace`` is atomic on POSIX within one file system), so a kill mid-write
leaves the previous file intact and never an empty or half-written one.

* A target that exists and is not a regular file (a device such as ``/dev/full``, a socket,
  a folder) is refused: replacing it would destroy what it is.
* A symbolic link is written through: its target file is replaced, the link stays.
* :func:`check_writable_dir` lets a command refuse an output folder before any work starts.

Every ``OSError`` (read-only folder, full disk, permission) becomes one
:class:`~imaclab.errors.OutputError` line naming the path.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from imaclab.errors import OutputError


def _json_default(value: Any) -> Any:
    from imaclab.config import json_default

    return json_default(value)


def resolve_target(path: str | Path) -> Path:
    """The file a write to ``path`` replaces: symlinks followed; devices, sockets and folders refused."""
    path = Path(path).expanduser()
    real = Path(os.path.realpath(path))
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        return real
    except OSError as err:
        raise OutputError(f"{path}: cannot write here ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise OutputError(f"{path}: is a folder; name a file to write")
    if not stat.S_ISREG(mode):
        raise OutputError(f"{path}: is not a regular file (a device, pipe or socket); name a file to write")
    return real


@contextlib.contextmanager
def _replaced_on_success(path: str | Path, suffix: str) -> Iterator[Path]:
    """A temporary path beside ``path``: renamed over ``path`` when the block succeeds, removed otherwise."""
    target = resolve_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        os.close(fd)
    except OSError as err:
        raise OutputError(f"{path}: cannot write ({err.strerror}); choose a writable folder") from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        with contextlib.suppress(OSError):  # an existing file keeps its permissions; a new one gets 0644
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644)
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({err.strerror}); free space or choose another folder") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, on error it is removed."""
    with _replaced_on_success(path, ".tmp") as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_open(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int = 2) -> Path:
    """JSON with numpy scalars/arrays and paths converted; NaN written as JSON's NaN extension."""
    return write_text(path, json.dumps(data, indent=indent, default=_json_default) + "\n")


def write_npz(path: str | Path, **arrays: Any) -> Path:
    """``numpy.savez`` of ``arrays`` to ``path`` atomically (the name is kept as given)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())


def write_csv(path: str | Path, frame: Any) -> Path:
    """A pandas DataFrame (or anything with ``to_csv``) as CSV, without its index."""
    with atomic_open(path, "w") as handle:
        frame.to_csv(handle, index=False)
    return Path(path)


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Atomic write through a library's own saver that wants a path (``torch.save``, ``fig.savefig``).

    ``writer(tmp_path)`` writes a temporary file beside ``path``, which then replaces it.
    """
    with _replaced_on_success(path, Path(path).suffix) as tmp:
        writer(tmp)
    return Path(path)


def check_writable_dir(path: str | Path) -> Path:
    """Create folder ``path`` if needed and prove it writable now, before any work is done.

    Refuses an existing file of that name, a read-only folder and one on a full disk.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: exists and is not a folder; choose another output folder with -o")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"0")
            probe.flush()
    except OSError as err:
        raise OutputError(f"{folder}: output folder is not writable ({err.strerror}); choose another with -o") from None
    return folder


def check_writable_file(path: str | Path) -> Path:
    """The same check for a single output file: its folder writable, the target a regular file or absent."""
    target = resolve_target(path)
    check_writable_dir(target.parent)
    return Path(path)
