"""The input drivers' mapping from data to line voltages (one source of truth).

Data arrive in [0, 1].  ``binary`` (the classic IMAC set-up) drives ``+VDD`` for values at or
above the threshold and ``-VDD`` below it; ``analog`` scales linearly onto [-VDD, +VDD].
The bias row is driven from the positive supply, ``v_bias = +VDD`` (:func:`bias_voltage`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.devices.column import ideal_column_gain  # noqa: F401  (re-exported: the ideal relation)
from imaclab.errors import ConfigError, InputError

#: Default binarization threshold on data scaled to [0, 1].
DEFAULT_BINARY_THRESHOLD = 0.5


def encode_inputs(x: np.ndarray, mode: Literal["binary", "analog"] = "binary", vdd_v: float = 0.8,
                  threshold: float = DEFAULT_BINARY_THRESHOLD) -> np.ndarray:
    """Volts on the input lines for data ``x`` in [0, 1] (any shape; float64 out)."""
    x = np.asarray(x, dtype=np.float64)
    if vdd_v <= 0:
        raise ConfigError(f"vdd_v must be > 0, got {vdd_v}")
    if not np.all(np.isfinite(x)):
        raise InputError("input data contain NaN or infinite values")
    if x.size and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise InputError(f"input data must lie in [0, 1] (got [{x.min():.3g}, {x.max():.3g}]): scale them first")
    if mode == "binary":
        return np.where(x >= threshold, vdd_v, -vdd_v)
    if mode == "analog":
        return vdd_v * (2.0 * np.clip(x, 0.0, 1.0) - 1.0)
    raise ConfigError(f"unknown input mode '{mode}': use binary or analog")


def bias_voltage(vdd_v: float = 0.8) -> float:
    """The bias row's drive: the positive supply."""
    return float(vdd_v)


class InputConfig(ConfigModel):
    """How test samples drive the first layer's input lines."""

    mode: Literal["binary", "analog"] = Field("binary", description="binary: +-VDD by threshold (classic IMAC); "
                                                                     "analog: linear onto [-VDD, VDD]")
    threshold: float = Field(DEFAULT_BINARY_THRESHOLD, ge=0, le=1, description="binarization threshold on "
                                                                               "data in [0, 1]")
    sampling_period_s: float = Field(1e-9, gt=0, description="time each sample is applied, seconds")
    rise_time_s: float = Field(0.1e-9, gt=0, description="input transition time at the start of a period, "
                                                         "seconds (IMAC-Sim: 0.1 ns)")
    driver_resistance_ohm: float = Field(0.0, ge=0, le=1e12, description="output resistance of each input driver, "
                                                                "ohms (0 = ideal source)")

    @model_validator(mode="after")
    def _check(self) -> InputConfig:
        if self.rise_time_s >= self.sampling_period_s:
            raise ValueError("rise_time_s must be shorter than sampling_period_s")
        return self
