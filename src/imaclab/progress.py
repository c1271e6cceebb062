"""Progress and notice lines for long work: flushed plain lines on stderr, readable in a log or
a pipe as on a terminal (neuron characterizations, ngspice batches, hetero stages, time sweeps).

The training room's epoch observer (:mod:`imaclab.nn.progress`) and the sweep's progress
(:mod:`imaclab.sweep.pipeline`) draw a live bar on a terminal and fall back to such lines.
"""

from __future__ import annotations

import sys


def progress_line(message: str) -> None:
    """One line ``imaclab: MESSAGE`` on stderr, flushed at once."""
    print(f"imaclab: {message}", file=sys.stderr, flush=True)
