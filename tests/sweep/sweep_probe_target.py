"""A test-only sweep target: a small real computation with knobs to fail, hang or die.

Workers import it as ``sweep_probe_target:run_probe`` (the tests put this folder on
PYTHONPATH).  It is not a registered target: it exists to kill workers on purpose.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import numpy as np
from pydantic import Field

from imaclab.config import ConfigModel

#: This folder: workers import this module from it (tests put it on PYTHONPATH).
HERE = Path(__file__).resolve().parent
#: The target name a spec uses for the probe.
PROBE = f"{__name__}:run_probe"


class ProbeConfig(ConfigModel):
    """Taylor series of exp(x) truncated to ``terms`` terms, plus a seeded normal draw."""

    terms: int = Field(8, ge=1, description="terms of the series")
    x: float = Field(1.0, description="argument of exp")
    seed: int = Field(0, description="seed of the normal draw")
    delay_s: float = Field(0.0, ge=0, description="seconds to sleep before returning")
    raise_error: bool = Field(False, description="raise ValueError instead of returning")
    die_marker: str | None = Field(None, description="file: if absent, create it and SIGKILL this process")
    always_die: bool = Field(False, description="SIGKILL this process on every attempt")
    kill_parent_marker: str | None = Field(None, description="file: if absent, create it and SIGKILL the parent "
                                                             "process (the Dask worker hosting this runner)")
    print_noise: bool = Field(False, description="print to stdout (must not corrupt the runner protocol)")


def run_probe(config: ProbeConfig) -> dict[str, float]:
    if config.print_noise:
        print("noise on stdout {not json")
    if config.always_die:
        os.kill(os.getpid(), signal.SIGKILL)
    if config.die_marker is not None and not Path(config.die_marker).exists():
        Path(config.die_marker).write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    if config.kill_parent_marker is not None and not Path(config.kill_parent_marker).exists():
        Path(config.kill_parent_marker).write_text("killed the parent once")
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(1.0)  # the answer is lost with the parent; the point must be rerun elsewhere
    if config.raise_error:
        raise ValueError(f"probe asked to fail at x={config.x}")
    time.sleep(config.delay_s)
    series = sum(config.x**k / math.factorial(k) for k in range(config.terms))
    draw = float(np.random.default_rng(config.seed).normal())
    return {"series": series, "error": abs(series - math.exp(config.x)), "draw": draw,
            "omp_threads": int(os.environ.get("OMP_NUM_THREADS", "0"))}
