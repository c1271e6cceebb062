"""Devices over time: programming noise, drift, relaxation, retention failures, read noise.

:func:`age` turns a layer's programmed conductance pairs ``(G+, G-)`` (siemens, after the
resistance variation and stuck-at faults of :func:`imaclab.devices.memristor.apply_nonidealities`)
into what a read at ``t = config.time_s`` seconds after programming sees.  In order:

1. **Programming noise, PCM** (``programming_model: pcm``; IBM aihwkit ``PCMLikeNoiseModel``,
   Nandakumar et al., ICECS 2019): ``G_p = G_T + sigma_p(G_T) N(0, 1)``, clipped at 0, with
   ``sigma_p = (c0 + c1 g + c2 g^2) g_max / 25 uS`` in uS, ``g = G_T/g_max``,
   ``(c0, c1, c2) = (0.26348, 1.9650, -1.1731)``.
2. **Relaxation, RRAM** (``relaxation_pct_per_decade``): ``G = G_p (1 + s(t) z)`` with ``z ~ N(0, 1)``
   fixed per device and ``s(t) = pct/100 log10(1 + t/tau)`` -- the spread of the programmed
   distribution widens by a fixed amount per decade of time, as measured for HfO2/TaOx cells
   (phenomenological; parameters illustrative, see docs/devices.md).
3. **Drift** (``drift``): ``G(t) = G ((t + t0)/t0)^-nu`` (aihwkit's convention: ``t`` counts from
   the end of programming, the fit's first read is at ``t0`` = 20 s).  ``nu`` per device:
   ``power-law``: ``|N(nu_mean, nu_std)|``; ``pcm``: aihwkit's ``mu_nu = clip(-0.0155 ln g +
   0.0244, 0.049, 0.1)``, ``sigma_nu = clip(-0.0125 ln g - 0.0059, 0.008, 0.045)``, ``g = G_T/g_max``.
4. **Retention failures** (``retention_tau_s``): a device has failed by ``t`` with probability
   ``F(t) = 1 - exp(-(t/tau)^beta)`` (one uniform draw per device, so a device that failed
   at 1 h is still failed at 1 d); a failed device sits at R_low, R_high or flips state.
5. **Read noise**, drawn anew per read: ``relative``: ``G (1 + N(0, pct/100))``; ``pcm``:
   aihwkit's accumulated 1/f noise ``G + |G| Q_s sqrt(ln((t + t0 + t_read)/(2 t_read))) N(0, 1)``
   with ``Q_s = min(0.0088 / max((G_p/g_max)^0.65, 1e-3), 0.2)``.  ``read_noise_draw: evaluation``
   draws it here, once (every sample of an evaluation reads the same draw);
   ``sample`` leaves it to the fast solver, which draws it per sample
   (:func:`age_for_sampled_reads` gives the relative sigma of each device).
6. **Global drift compensation** (``drift_compensation``; aihwkit ``GlobalDriftCompensation``):
   a reference read with every input at 1 gives column currents ``y`` at programming
   (``G_p``) and at ``t``; every conductance of the layer is scaled by
   ``alpha = sum|y(0)| / sum|y(t)|`` -- in the circuit, the same as scaling the layer's column
   amplifier gain by ``alpha`` (exact when the wires carry no resistance).

The draws of one layer come from its own generator in a fixed order that does not depend on
``t`` (per-device values first, the read last), so a seed is one set of physical devices
read at several times.  Conductances stay >= 1e-12 S (the circuit's largest resistance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from imaclab.devices.memristor import DeviceConfig

#: Smallest conductance a device keeps, siemens (1 / MAX_RESISTANCE_OHM).
G_FLOOR_S = 1e-12
#: aihwkit's reference g_max of the programming polynomial, siemens (25 uS).
PCM_REFERENCE_G_MAX_S = 25e-6


def is_static(config: DeviceConfig) -> bool:
    """True when no time or read effect is on (the devices are read as programmed)."""
    return (config.programming_model == "resistance" and config.drift == "none" and config.read_noise == "none"
            and config.relaxation_pct_per_decade == 0 and config.retention_tau_s is None)


def g_max_of(config: DeviceConfig) -> float:
    return float(config.g_max_s) if config.g_max_s else 1.0 / config.r_low_ohm


# ---------------------------------------------------------------------------- closed forms
def pcm_programming_sigma(g_target: np.ndarray, g_max: float,
                          coeffs: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)) -> np.ndarray:
    """Standard deviation of PCM programming noise, siemens (aihwkit's polynomial)."""
    g = np.asarray(g_target, dtype=np.float64) / g_max
    sigma_us = coeffs[0] + coeffs[1] * g + coeffs[2] * g * g
    return sigma_us * 1e-6 * (g_max / PCM_REFERENCE_G_MAX_S)


def pcm_drift_stats(g_target: np.ndarray, g_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the PCM drift exponent nu at target conductances (aihwkit's fit)."""
    g = np.clip(np.abs(np.asarray(g_target, dtype=np.float64)) / g_max, 1e-7, None)
    mu = np.clip(-0.0155 * np.log(g) + 0.0244, 0.049, 0.1)
    sigma = np.clip(-0.0125 * np.log(g) - 0.0059, 0.008, 0.045)
    return mu, sigma


def pcm_read_sigma(g_prog: np.ndarray, g_max: float, t_s: float, t0_s: float = 20.0,
                   t_read_s: float = 250e-9) -> np.ndarray:
    """Relative sigma of the PCM read (accumulated 1/f) noise at ``t_s`` after programming."""
    q_s = np.minimum(0.0088 / np.maximum((np.abs(np.asarray(g_prog, dtype=np.float64)) / g_max) ** 0.65, 1e-3), 0.2)
    t = t_s + t0_s
    return q_s * np.sqrt(np.log((t + t_read_s) / (2.0 * t_read_s)))


def drift_factor(nu: np.ndarray, t_s: float, t0_s: float = 20.0) -> np.ndarray:
    """``((t + t0)/t0)^-nu``: 1 at t = 0."""
    return ((t_s + t0_s) / t0_s) ** (-np.asarray(nu, dtype=np.float64))


def failed_fraction(t_s: float, tau_s: float, beta: float = 1.0) -> float:
    """Fraction of devices failed by ``t_s``: ``1 - exp(-(t/tau)^beta)``."""
    return float(-np.expm1(-(t_s / tau_s) ** beta))


def relaxation_sigma(t_s: float, pct_per_decade: float, tau_s: float = 1.0) -> float:
    """Relative spread of the relaxed conductances at ``t_s``: ``pct/100 log10(1 + t/tau)``."""
    return pct_per_decade / 100.0 * float(np.log10(1.0 + t_s / tau_s))


def _reference_read(g_pos: np.ndarray, g_neg: np.ndarray, row_axis: int) -> float:
    diff = g_pos - g_neg
    y = diff.sum(axis=row_axis) if diff.ndim == 2 else diff
    return float(np.sum(np.abs(y)))


# ---------------------------------------------------------------------------- the model
def age(g_pos: np.ndarray, g_neg: np.ndarray, config: DeviceConfig, rng: np.random.Generator, *,
        row_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(G+, G-) read at ``config.time_s`` after programming (see the module docstring).

    ``row_axis``: the axis along which a read with all inputs at 1 sums currents (0 for the
    circuit's [rows, columns] arrays, 1 for a torch layer's [out, in] weights).
    """
    g, _ = _age(g_pos, g_neg, config, rng, row_axis=row_axis, read=True)
    return g[0], g[1]


def age_for_sampled_reads(g_pos: np.ndarray, g_neg: np.ndarray, config: DeviceConfig, rng: np.random.Generator, *,
                          row_axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(G+, G-, sigma+, sigma-)``: the devices at ``config.time_s`` without a read-noise draw
    (steps 1-4 and 6, the same draws as :func:`age`'s), and the relative standard deviation of
    one read of each device (step 5), for a backend that draws the read noise per sample
    (``devices.read_noise_draw: sample``): a read is ``G (1 + sigma N(0, 1))``."""
    g, programmed = _age(g_pos, g_neg, config, rng, row_axis=row_axis, read=False)
    sigma = read_sigma(programmed, config)
    return g[0], g[1], sigma[0], sigma[1]


def read_sigma(programmed: np.ndarray, config: DeviceConfig) -> np.ndarray:
    """Relative standard deviation of one read of each device (``programmed``: the conductances
    after programming, siemens): ``read_noise_pct/100`` (relative), aihwkit's ``Q_s sqrt(ln(...))``
    (pcm), 0 (none)."""
    programmed = np.asarray(programmed, dtype=np.float64)
    if config.read_noise == "relative":
        return np.full(programmed.shape, config.read_noise_pct / 100.0)
    if config.read_noise == "pcm":
        return pcm_read_sigma(programmed, g_max_of(config), float(config.time_s), config.drift_t0_s,
                              config.read_time_s)
    return np.zeros(programmed.shape)


def _age(g_pos: np.ndarray, g_neg: np.ndarray, config: DeviceConfig, rng: np.random.Generator, *,
         row_axis: int, read: bool) -> tuple[np.ndarray, np.ndarray]:
    """(stacked [G+, G-] at t, stacked programmed conductances); ``read``: draw the read noise."""
    g = np.stack([np.asarray(g_pos, dtype=np.float64), np.asarray(g_neg, dtype=np.float64)])
    target = g.copy()
    t = float(config.time_s)
    g_max = g_max_of(config)
    g_lo, g_hi = 1.0 / config.r_low_ohm, 1.0 / config.r_high_ohm
    # 1. programming noise (PCM polynomial)
    if config.programming_model == "pcm":
        sigma = np.maximum(pcm_programming_sigma(target, g_max, config.programming_coeffs), 0.0)
        g = np.maximum(g + sigma * rng.standard_normal(g.shape), 0.0)
    programmed = np.maximum(g, G_FLOOR_S)
    # per-device draws, in a fixed order whatever t is
    nu = None
    if config.drift == "pcm":
        mu, sd = pcm_drift_stats(target, g_max)
        nu = np.abs(mu + sd * rng.standard_normal(g.shape))
    elif config.drift == "power-law":
        nu = np.abs(config.drift_nu_mean + config.drift_nu_std * rng.standard_normal(g.shape))
    z_relax = rng.standard_normal(g.shape) if config.relaxation_pct_per_decade > 0 else None
    u_fail = rng.random(g.shape) if config.retention_tau_s is not None else None
    # 2. relaxation
    if z_relax is not None:
        s = relaxation_sigma(t, config.relaxation_pct_per_decade, config.relaxation_tau_s)
        g = g * np.maximum(1.0 + s * z_relax, 0.0)
    # 3. drift
    if nu is not None and t > 0:
        g = g * drift_factor(nu, t, config.drift_t0_s)
    # 4. retention failures
    if u_fail is not None and config.retention_tau_s is not None and t > 0:
        failed = u_fail < failed_fraction(t, config.retention_tau_s, config.retention_beta)
        if config.retention_to == "low":
            stuck = np.full_like(g, g_lo)
        elif config.retention_to == "high":
            stuck = np.full_like(g, g_hi)
        else:  # flip: the other binary state (mirror within [G_high, G_low] for multi-level)
            stuck = np.clip(g_lo + g_hi - target, g_hi, g_lo)
        g = np.where(failed, stuck, g)
    # 5. read noise (a fresh draw per read; drawn by the backend per sample when not here)
    if read and config.read_noise == "relative" and config.read_noise_pct > 0:
        g = g * (1.0 + config.read_noise_pct / 100.0 * rng.standard_normal(g.shape))
    elif read and config.read_noise == "pcm":
        sig = pcm_read_sigma(programmed, g_max, t, config.drift_t0_s, config.read_time_s)
        g = g + np.abs(g) * sig * rng.standard_normal(g.shape)
    g = np.maximum(g, G_FLOOR_S)
    # 6. global drift compensation
    if config.drift_compensation:
        ref0 = _reference_read(programmed[0], programmed[1], row_axis)
        ref_t = _reference_read(g[0], g[1], row_axis)
        if ref_t > 0 and ref0 > 0:
            g = g * (ref0 / ref_t)
    return g, programmed
