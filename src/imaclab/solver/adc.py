"""Converters in the accuracy path: the input DAC and the output ADC of an IMAC network.

* **DAC** (``converters.dac_bits = b``): a data value ``x`` in [0, 1] reaches the input driver as
  ``round(x (2^b - 1)) / (2^b - 1)``, one of ``2^b`` evenly spaced levels.
* **ADC** (``converters.adc_bits = b``): each output column's voltage ``v`` is read as the signed
  code ``k = clip(round(v / lsb), -2^(b-1), 2^(b-1) - 1)`` with ``lsb = FS / 2^(b-1)``; the
  prediction is the argmax of the codes (ties go to the lower column).  The full scale ``FS``
  per column: a number (volts, the same for every column), or ``calibrated`` -- the largest
  ``|output|`` of that column in the software reference (nominal devices, no parasitics, no
  drift) over the evaluated samples, i.e. the range a designer sets once at programming time.
"""

from __future__ import annotations

import numpy as np


def dac_levels(x: np.ndarray, bits: int | None) -> np.ndarray:
    """``x`` in [0, 1] on the ``2^bits``-level DAC grid (unchanged when ``bits`` is None)."""
    x = np.asarray(x, dtype=np.float64)
    if bits is None:
        return x
    steps = 2 ** int(bits) - 1
    return np.round(np.clip(x, 0.0, 1.0) * steps) / steps


def calibrated_full_scale(reference: np.ndarray) -> np.ndarray:
    """Per-column full scale: the largest ``|v|`` of each column of ``reference`` [n, columns]
    (a column that never leaves 0 gets 1 V so its LSB stays finite)."""
    fs = np.max(np.abs(np.asarray(reference, dtype=np.float64)), axis=0)
    return np.where(fs > 0, fs, 1.0)


def adc_codes(v: np.ndarray, bits: int, full_scale: np.ndarray | float) -> np.ndarray:
    """Signed ADC codes of voltages ``v`` [n, columns] (see the module docstring)."""
    half = 2 ** (int(bits) - 1)
    lsb = np.asarray(full_scale, dtype=np.float64) / half
    codes = np.round(np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0) / lsb)
    return np.clip(codes, -half, half - 1).astype(np.int64)


def adc_read(v: np.ndarray, bits: int, full_scale: np.ndarray | float) -> np.ndarray:
    """The voltages the ADC reports: ``code * lsb`` (NaN kept where the backend failed)."""
    half = 2 ** (int(bits) - 1)
    lsb = np.asarray(full_scale, dtype=np.float64) / half
    out = adc_codes(v, bits, full_scale) * lsb
    return np.where(np.isnan(v), np.nan, out)
