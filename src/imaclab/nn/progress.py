"""Training progress reporting: an observer interface and a rich progress bar.

The training loop never prints; it calls a :class:`TrainObserver`.  The CLI passes
:class:`RichProgress` (a bar per epoch with running loss/accuracy); tests and
libraries pass nothing (:class:`SilentObserver`) or their own observer.
"""

from __future__ import annotations

from typing import Any


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
    """A rich progress bar per epoch with loss/accuracy, and one summary line per epoch."""

    def __init__(self, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress = None
        self._task = None
        self._label = ""

    def message(self, text: str) -> None:
        self.console.print(text)

    def start_epoch(self, epoch: int, epochs: int, batches: int, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._label = label
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.2%}"),
                                  TimeElapsedColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(f"{label} epoch {epoch}/{epochs}", total=batches, loss=0.0, acc=0.0)

    def batch(self, loss: float, accuracy: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=accuracy)

    def end_epoch(self, record: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.console.print(f"{self._label} epoch {record['epoch']}: loss {record['train_loss']:.4f}  "
                           f"train {record['train_accuracy']:.2%}  test {record['test_accuracy']:.2%}  "
                           f"({record['seconds']:.1f} s)")
