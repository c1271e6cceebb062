"""Training progress reporting: an observer interface and a rich progress bar.

The training loop never prints; it calls a :class:`TrainObserver`.  The CLI passes
:class:`RichProgress` (a bar per epoch with running loss/accuracy on a terminal; plain
lines when stderr is a file or a pipe, so that logs of long runs show progress); tests and
libraries pass nothing (:class:`SilentObserver`) or their own observer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

#: Without a terminal, a long epoch also prints a line this often (seconds).
PLAIN_INTERVAL_S = 30.0


class TrainObserver:
    """Callbacks of :func:`imaclab.nn.training.train`; every method is optional to override."""

    def message(self, text: str) -> None:
        """A one-line status (resuming, baseline run, exports written)."""

    def start_epoch(self, epoch: int, epochs: int, batches: int, label: str) -> None:
        """Epoch ``epoch`` (1-based) of ``epochs`` starts with ``batches`` batches."""

    def batch(self, loss: float, accuracy: float) -> None:
        """A batch finished: running mean loss and accuracy of the epoch so far."""

    def end_epoch(self, record: dict[str, Any]) -> None:
        """An epoch finished and was checkpointed; ``record`` is its history entry."""


class SilentObserver(TrainObserver):
    """Reports nothing."""


class RichProgress(TrainObserver):
    """A rich progress bar per epoch with loss/accuracy, and one summary line per epoch.

    When the console is not a terminal (stderr redirected to a log), no bar is drawn:
    each epoch prints its summary line, and an epoch longer than :data:`PLAIN_INTERVAL_S`
    also prints a line with its batch count so far.
    """

    def __init__(self, console=None, interval_s: float = PLAIN_INTERVAL_S):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.interval_s = interval_s
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._epoch = (0, 0)
        self._batches = (0, 0)
        self._last_line = 0.0

    @property
    def live(self) -> bool:
        """Whether a live bar can be drawn (the console is a terminal)."""
        return bool(self.console.is_terminal)

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        self._line(text)

    def start_epoch(self, epoch: int, epochs: int, batches: int, label: str) -> None:
        self._label = label
        self._epoch = (epoch, epochs)
        self._batches = (0, batches)
        self._last_line = time.monotonic()
        if not self.live:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.2%}"),
                                  TimeElapsedColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(f"{label} epoch {epoch}/{epochs}", total=batches, loss=0.0, acc=0.0)

    def batch(self, loss: float, accuracy: float) -> None:
        done, total = self._batches
        self._batches = (done + 1, total)
        if self._progress is not None and self._task is not None:  # set together in start_epoch
            self._progress.update(self._task, advance=1, loss=loss, acc=accuracy)
        elif time.monotonic() - self._last_line >= self.interval_s:
            self._last_line = time.monotonic()
            epoch, epochs = self._epoch
            self._line(f"{self._label} epoch {epoch}/{epochs}: batch {done + 1}/{total}  loss {loss:.4f}  "
                       f"acc {accuracy:.2%}")

    def end_epoch(self, record: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._line(f"{self._label} epoch {record['epoch']}/{self._epoch[1]}: loss {record['train_loss']:.4f}  "
                   f"train {record['train_accuracy']:.2%}  test {record['test_accuracy']:.2%}  "
                   f"({record['seconds']:.1f} s)")
