"""Run points in isolated worker processes.

Every executor runs a point the same way: in a persistent child process
(``python -m imaclab.sweep.runner``) that reads one task per line on stdin and
answers one JSON line.  The parent enforces the time limit and watches the child:

* the job raises -> the child answers ``failed`` with the error; the child lives on;
* the job runs past its limit -> the parent kills the child: ``timeout``;
* the child dies (killed, out of memory, a segfault in a native library) ->
  ``crashed``; the executor retries the point up to ``execution.max_attempts``;
* tasks queued behind a killed or dead child's running task come back as
  ``requeue`` and are resubmitted without spending an attempt.

Anything a job prints goes to the worker's log, never into the protocol.

A runner never outlives its client: on Linux it asks the kernel for SIGKILL when the
thread that started it dies (``prctl(PR_SET_PDEATHSIG)``, set when the client starts it
from its main thread), and in every case a watchdog thread kills the runner's process
group (the runner and anything its job started) within :data:`PARENT_POLL_S` once its
parent is gone (SIGKILL of ``sweep run``, a Dask worker that died).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections import deque
from pathlib import Path
from typing import IO, Any

from imaclab.sweep.result import TIMEOUT, WORKER_DIED

#: Characters of traceback kept per failed point (the innermost frames).
TRACEBACK_CHARS = 4000
#: Characters of the one-line error kept per failed point (the full text is in the traceback).
ERROR_CHARS = 600
#: Seconds a runner gets to exit after its stdin closes, before it is killed.
EXIT_GRACE_S = 2.0
#: Seconds between a runner's checks that its parent process is still alive.
PARENT_POLL_S = 0.5
#: ``prctl`` option: the signal the kernel sends when the parent thread dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------------------ child side
def _error_line(err: BaseException) -> str:
    """One line: the message, and for non-imaclab errors the innermost frame."""
    from imaclab.errors import ImaclabError

    message = " ".join(str(err).split()) or type(err).__name__
    if len(message) > ERROR_CHARS:
        message = message[:ERROR_CHARS - 3] + "..."
    if isinstance(err, ImaclabError):
        return message
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{message}{where}"


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task in this process; never raises (errors become a ``failed`` reply)."""
    from imaclab.sweep.targets import load_target

    reply: dict[str, Any] = {"key": task["key"], "worker": f"{socket.gethostname()}:{os.getpid()}",
                             "started_at": time.time()}
    start = time.perf_counter()
    try:
        target = load_target(task["target"])
        reply.update(status="ok", metrics=target.evaluate(task["config"], task.get("workdir")))
    except Exception as err:  # noqa: BLE001 - isolation: any error of the job is recorded, not raised
        lines = traceback.format_exception(err)
        reply.update(status="failed", error_type=type(err).__name__, error=_error_line(err),
                     traceback="".join(lines)[-TRACEBACK_CHARS:])
    reply["run_s"] = time.perf_counter() - start
    reply["finished_at"] = time.time()
    return reply


def _kill_own_group() -> None:
    """SIGKILL this runner's process group: the runner and every process its job started."""
    try:
        os.killpg(os.getpgid(0), signal.SIGKILL)
    finally:
        os._exit(1)


def die_with_parent(parent: int, *, kernel: bool) -> None:
    """End this process (and its group) when process ``parent`` is gone.

    ``kernel``: also ask Linux for SIGKILL when the parent *thread* ends (only right when the
    parent started this process from a thread that lives as long as it does: its main thread).
    """
    if kernel and sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl here: the watchdog below still applies
    if os.getppid() != parent:  # the parent died before the request above took effect
        _kill_own_group()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                _kill_own_group()

    import threading

    threading.Thread(target=watch, name="imaclab-parent-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Child entry point: serve tasks from stdin until it closes."""
    argv = sys.argv[1:] if argv is None else argv
    if "--parent" in argv:
        die_with_parent(int(argv[argv.index("--parent") + 1]), kernel="--pdeathsig" in argv)
    # The protocol gets private copies of stdin and stdout; fd 1 then points at stderr (the
    # log) and fd 0 at /dev/null, so a job that prints or reads cannot corrupt the exchange.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    tasks = os.fdopen(os.dup(0), "r")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)
    # Ctrl-C in a terminal is the client's to handle; it stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if "--target" in argv:  # import the target up front so the first point is not charged for it
        from imaclab.sweep.targets import load_target

        try:
            load_target(argv[argv.index("--target") + 1])
        except Exception:  # noqa: BLE001 - reported per point when a task arrives
            pass
    protocol.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in tasks:
        if not line.strip():
            continue
        reply = run_task(json.loads(line))
        try:
            protocol.write(json.dumps(reply) + "\n")
        except BrokenPipeError:
            return 0  # the client is gone
    return 0


# ------------------------------------------------------------------------------ parent side
#: Environment variables that size the thread pools of numpy's BLAS, OpenMP (torch) and numexpr.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def _child_env(threads: int | None = None) -> dict[str, str]:
    """The parent's environment, with its extra import paths so custom targets import in the child,
    and ``threads`` threads for BLAS/OpenMP (the same in every executor, so results agree to the bit)."""
    env = dict(os.environ)
    if threads is not None:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    extra = []
    for entry in sys.path:
        path = os.path.realpath(entry or os.getcwd())
        if os.path.isdir(path) and not any(path.startswith(prefix + os.sep) or path == prefix
                                           for prefix in prefixes):
            extra.append(path)
    if env.get("PYTHONPATH"):
        extra.append(env["PYTHONPATH"])
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(extra))
    return env


class Runner:
    """One worker child process, seen from the parent.

    The parent may queue a few tasks in the child's stdin (``depth``) so the child
    goes straight from one point to the next while the client stores results; the
    child runs them in order.  The time limit of a task starts when the child reaches
    it (its predecessor's reply arrived, or it was sent to an idle child).

    Replies are read from the raw pipe into a line buffer, so ``select`` on
    :meth:`fileno` never misses a line already read ahead.
    """

    def __init__(self, *, target: str, log_path: Path | None, label: str, timeout_s: float | None = None,
                 threads: int | None = None):
        self.target = target
        self.threads = threads
        self.log_path = log_path
        self.label = label
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.tasks: deque[dict[str, Any]] = deque()  # sent and not answered, in order; [0] is running
        self.deadline: float | None = None  # monotonic limit of tasks[0], once the child runs it
        self.ready = False
        self._buffer = bytearray()
        self._log: IO[bytes] | None = None

    # lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")
        import threading

        command = [sys.executable, "-m", "imaclab.sweep.runner", "--target", self.target, "--parent", str(os.getpid())]
        if threading.current_thread() is threading.main_thread():
            command.append("--pdeathsig")  # the kernel's signal follows this thread, which lives as long as we do
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL,
            env=_child_env(self.threads), start_new_session=True, bufsize=0)
        self.ready = False
        self._buffer.clear()
        self.tasks.clear()
        self.deadline = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def busy(self) -> bool:
        return bool(self.tasks)

    def fileno(self) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout.fileno()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the child has imported its target (True), or died / timed out (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.ready:
            wait = None if end is None else max(0.0, end - time.monotonic())
            if not self._wait_readable(wait):
                return False
            if not self._fill():
                return False
            self._take_lines()
        return True

    # tasks ---------------------------------------------------------------------------
    def send(self, task: dict[str, Any]) -> None:
        """Queue a task in the child."""
        assert self.proc is not None and self.proc.stdin is not None
        self.tasks.append(task)
        if len(self.tasks) == 1:
            self._arm()
        try:
            self.proc.stdin.write((json.dumps(task) + "\n").encode())
        except (BrokenPipeError, OSError):
            pass  # the child is dead; the next read reports it

    def _arm(self) -> None:
        """Start the time limit of the task the child is now running."""
        self.deadline = time.monotonic() + self.timeout_s if (self.timeout_s and self.ready and self.tasks) else None

    def on_readable(self) -> list[dict[str, Any]]:
        """Read what the child wrote; replies to finished tasks (a dead child answers all of them)."""
        if not self._fill():
            return self._crashed()
        return self._take_lines()

    def _take_lines(self) -> list[dict[str, Any]]:
        replies: list[dict[str, Any]] = []
        while b"\n" in self._buffer:
            line, _, rest = bytes(self._buffer).partition(b"\n")
            self._buffer[:] = rest
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = None
            if isinstance(message, dict) and "ready" in message:
                self.ready = True
                self._arm()
                continue
            if not self.tasks:
                continue  # nothing asked; ignore
            if not isinstance(message, dict) or message.get("key") != self.tasks[0]["key"]:
                self.kill()  # out of step: the protocol cannot be trusted any more
                return replies + self._crashed()
            self.tasks.popleft()
            self._arm()
            replies.append(message)
        return replies

    def _fill(self) -> bool:
        """One read from the pipe into the buffer; False at end of file (the child is gone)."""
        try:
            chunk = os.read(self.fileno(), 1 << 16)
        except OSError:
            chunk = b""
        self._buffer.extend(chunk)
        return bool(chunk)

    def _wait_readable(self, timeout: float | None) -> bool:
        sel = selectors.DefaultSelector()
        sel.register(self.fileno(), selectors.EVENT_READ)
        try:
            return bool(sel.select(timeout))
        finally:
            sel.close()

    def _requeue_rest(self) -> list[dict[str, Any]]:
        """Tasks queued behind the running one: handed back unrun (no attempt spent)."""
        rest = [{"key": task["key"], "status": "requeue"} for task in list(self.tasks)[1:]]
        self.tasks.clear()
        self.deadline = None
        return rest

    def _crashed(self) -> list[dict[str, Any]]:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        self._close_pipes()
        if not self.tasks:
            return []
        head = self.tasks[0]
        return [{"key": head["key"], "status": "crashed", "error_type": WORKER_DIED,
                 "error": f"worker process {self.label} (pid {self.proc.pid}) died while running the point ({how})",
                 "worker": f"{socket.gethostname()}:{self.proc.pid}"}] + self._requeue_rest()

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def timed_out(self) -> list[dict[str, Any]]:
        """Kill the child for running past the limit: a timeout for the running task, the rest handed back."""
        head = self.tasks[0]
        self.kill()
        limit = self.timeout_s or 0.0
        return [{"key": head["key"], "status": "timeout", "error_type": TIMEOUT,
                 "error": f"point ran longer than {limit:g} s and was stopped (raise execution.timeout_s)",
                 "worker": f"{socket.gethostname()}:{self.proc.pid if self.proc else 0}",
                 "run_s": float(limit)}] + self._requeue_rest()

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        """Blocking: run one task with the time limit (used inside Dask tasks)."""
        if not self.alive:
            self.start()
        self.send(task)
        while True:
            wait = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            if not self._wait_readable(wait):
                if self.expired():
                    return self.timed_out()[0]
                continue
            replies = self.on_readable()
            if replies:
                return replies[0]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def stop(self) -> None:
        """Close stdin so the child exits; kill it if it does not within the grace period."""
        if self.proc is None:
            return
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    if pipe:
                        pipe.close()
                except OSError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None


if __name__ == "__main__":
    sys.exit(main())
