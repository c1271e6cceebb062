"""The one cache of device characterizations (neuron curves, loaded tables, dynamic models).

``cached(kind, key, compute, load, save, cache_dir=...)`` returns the object stored as
``<cache_dir>/<key>.npz``, computing it once when it is absent or unreadable:

* **Race-free.**  A lock file per key (``.<key>.lock``, ``fcntl.flock``) serializes the
  processes that need the same characterization: the first computes it, the others wait
  and then read its result (they print that they wait).  Each computation runs in its own
  private folder (``tempfile.mkdtemp`` inside the cache folder), and the result is published
  with an atomic rename (:mod:`imaclab.files`), so a reader never sees half a file and no
  process deletes another's work.
* **One way to keep failures.**  A characterization that fails leaves its private folder
  (netlists, ngspice logs) in place and the error names the netlist in it; a success
  removes it.  Nothing about a failure is cached: the next run tries again.
* **Damaged files.**  A cache file that cannot be read (truncated, not an archive, NaN
  values: ``load`` raises :class:`~imaclab.errors.InputError`) is characterized again with a
  one-line notice on stderr, never a traceback.
* **Progress.**  Characterizations take seconds to minutes: every stage prints one line to
  stderr (:func:`progress`), with or without a terminal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from imaclab.errors import InputError, OutputError
from imaclab.progress import progress_line

T = TypeVar("T")

#: Seconds between "still waiting" lines while another process holds a key's lock.
_WAIT_NOTICE_S = 30.0


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/imaclab/neuron`` (``~/.cache/imaclab/neuron``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imaclab" / "neuron"


@contextlib.contextmanager
def _key_lock(cache_dir: Path, key: str, kind: str) -> Iterator[None]:
    """Exclusive lock of ``key`` among processes (a no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    lock_path = cache_dir / f".{key}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise OutputError(f"{lock_path}: cannot create the cache lock ({err.strerror}); set XDG_CACHE_HOME "
                          "to a writable folder") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress_line(f"waiting for another process characterizing the {kind} ({cache_dir / key}.npz)")
            waited = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.1)
                    if time.monotonic() - waited > _WAIT_NOTICE_S:
                        progress_line(f"still waiting for the {kind} characterization of another process")
                        waited = time.monotonic()
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _try_load(path: Path, load: Callable[[Path], T], kind: str, notice: bool = True) -> tuple[bool, T | None]:
    """(found, value); a damaged file is reported (once: ``notice``) and counts as absent."""
    if not path.is_file():
        return False, None
    try:
        return True, load(path)
    except InputError as err:
        if notice:
            progress_line(f"the cached {kind} {path} is unreadable ({short_error(err)}); characterizing it again")
        return False, None


def short_error(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def cached(kind: str, key: str, compute: Callable[[Path], T], load: Callable[[Path], T],
           save: Callable[[T, Path], object], *, cache_dir: str | Path | None = None) -> T:
    """The ``kind`` characterization stored under ``key``: read from the cache, or computed once.

    ``compute(workdir)`` characterizes in a private, empty folder and returns the object;
    ``load(path)`` reads a cache file (raising :class:`InputError` when it is damaged);
    ``save(obj, path)`` writes one (atomically: through :mod:`imaclab.files`).
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{key}.npz"
    existed = path.is_file()
    found, value = _try_load(path, load, kind)
    if found:
        return value  # type: ignore[return-value]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{folder}: cannot create the cache folder ({err.strerror}); set XDG_CACHE_HOME to a "
                          "writable folder") from None
    with _key_lock(folder, key, kind):
        # another process may have published it while this one waited for the lock
        found, value = _try_load(path, load, kind, notice=not existed)
        if found:
            return value  # type: ignore[return-value]
        try:
            workdir = Path(tempfile.mkdtemp(prefix=f"{key}.work-", dir=folder))
        except OSError as err:
            raise OutputError(f"{folder}: cannot create a work folder ({err.strerror})") from None
        start = time.perf_counter()
        progress_line(f"characterizing the {kind} (once; cached in {folder}) ...")
        value = compute(workdir)  # on failure the work folder stays for the netlists and logs
        save(value, path)
        shutil.rmtree(workdir, ignore_errors=True)
        progress_line(f"{kind} characterized in {time.perf_counter() - start:.1f} s")
        return value
