"""Device presets: documented sets of :class:`~imaclab.devices.memristor.DeviceConfig` values.

``--device NAME`` (``imac run``, ``imac validate``, ``train``) applies one as dotted overrides
of ``devices.*`` (``policy.imac.devices.*`` in training); ``--device FILE.yaml`` reads a
user's own (DeviceConfig fields, at the top level or under ``devices:``).  Sources and the
reasoning behind every number are in docs/devices.md.

* ``rram`` -- binary RRAM, 5 kOhm / 15 kOhm (imaclab's and IMAC-Sim's default levels), 5 %
  Gaussian programming variation, 1 % read noise, conductance relaxation 1 % per decade of
  time, retention failures to R_high with a 10-year characteristic time.
* ``pcm`` -- multi-level PCM with IBM aihwkit's ``PCMLikeNoiseModel`` statistics
  (Nandakumar et al. 2019; Joshi et al. 2020): g_max = 25 uS (40 kOhm), g_min = 1 uS (1 MOhm),
  PCM programming noise, G-dependent drift exponent (t0 = 20 s), accumulated 1/f read noise.
* ``mtj`` -- binary STT-MTJ, R_P = 5 kOhm, R_AP = 10 kOhm (TMR 100 %), 2 % programming
  variation, 0.5 % read noise, no drift, thermally activated flips with the Neel-Arrhenius time
  ``tau = tau0 exp(Delta)``, tau0 = 1 ns, Delta = 40 (about 7.5 years).
* ``ideal`` -- today's defaults (5 kOhm / 15 kOhm, no variation, no time effects).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from imaclab.errors import ConfigError, UnknownNameError

#: Thermal stability factor and attempt time of the MTJ preset (retention tau = tau0 e^Delta).
MTJ_DELTA = 40.0
MTJ_TAU0_S = 1e-9

DEVICE_PRESETS: dict[str, dict[str, Any]] = {
    "ideal": {"r_low_ohm": 5e3, "r_high_ohm": 15e3},
    "rram": {"r_low_ohm": 5e3, "r_high_ohm": 15e3, "variation_sigma_pct": 5.0,
             "read_noise": "relative", "read_noise_pct": 1.0,
             "relaxation_pct_per_decade": 1.0, "relaxation_tau_s": 1.0,
             "retention_tau_s": 10 * 365.25 * 86400.0, "retention_beta": 1.0, "retention_to": "high"},
    "pcm": {"r_low_ohm": 40e3, "r_high_ohm": 1e6, "g_max_s": 25e-6, "programming_model": "pcm",
            "drift": "pcm", "drift_t0_s": 20.0, "read_noise": "pcm", "read_time_s": 250e-9},
    "mtj": {"r_low_ohm": 5e3, "r_high_ohm": 10e3, "variation_sigma_pct": 2.0,
            "read_noise": "relative", "read_noise_pct": 0.5,
            "retention_tau_s": MTJ_TAU0_S * math.exp(MTJ_DELTA), "retention_beta": 1.0, "retention_to": "flip"},
}

#: The time-model fields a preset resets to their defaults before applying its own values, so a
#: preset fully describes the device (and ``--device ideal`` turns everything off).
_RESET = {"variation_uniform_pct": 0.0, "variation_sigma_pct": 0.0, "programming_model": "resistance",
          "g_max_s": None, "drift": "none", "drift_nu_mean": 0.0, "drift_nu_std": 0.0, "drift_t0_s": 20.0,
          "read_noise": "none", "read_noise_pct": 0.0, "read_time_s": 250e-9, "relaxation_pct_per_decade": 0.0,
          "relaxation_tau_s": 1.0, "retention_tau_s": None, "retention_beta": 1.0, "retention_to": "high"}


def device_values(name: str | Path) -> dict[str, Any]:
    """The DeviceConfig values of a preset name or a YAML file (``preset`` set to its name)."""
    text = str(name).strip()
    if text.lower() in DEVICE_PRESETS:
        key = text.lower()
        return {**_RESET, **DEVICE_PRESETS[key], "preset": key}
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise ConfigError(f"--device {text}: no such file")
        import yaml

        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--device {text}: cannot read it ({type(exc).__name__})") from None
        if isinstance(data, dict) and isinstance(data.get("devices"), dict):
            data = data["devices"]
        if not isinstance(data, dict):
            raise ConfigError(f"--device {text}: expected a mapping of device fields")
        return {**_RESET, "preset": path.stem, **data}
    raise UnknownNameError(f"unknown device '{text}': use {', '.join(DEVICE_PRESETS)} or a YAML file")


def device_overrides(name: str | Path, prefix: str = "devices.") -> dict[str, Any]:
    """``--device NAME`` as dotted overrides (``prefix`` ``devices.`` or ``policy.imac.devices.``),
    checked against DeviceConfig so a bad file fails with one line."""
    from imaclab.devices.memristor import DeviceConfig

    values = device_values(name)
    DeviceConfig.from_dict(values, source=f"--device {name}")
    return {prefix + k: v for k, v in values.items()}
