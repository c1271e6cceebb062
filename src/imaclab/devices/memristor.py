"""Memristive devices: resistance levels, differential weight mapping, variation and faults.

Every weight ``w`` (normalized to [-1, 1]) becomes a pair of devices, one on the output's
positive line and one on its negative line, with conductances::

    G+ = G_high + (1 + w)/2 * dG        G- = G_high + (1 - w)/2 * dG        dG = G_low - G_high

so that ``G+ - G- = w * dG`` and ``G+ + G- = G_low + G_high`` (G_low = 1/R_low is the larger
conductance).  Binary +1 -> (R_low, R_high), -1 -> (R_high, R_low); multi-level with ``n``
levels puts both devices on the grid ``G_high + k dG/(n-1)``.  Ternary 0 maps to two equal
devices, chosen by ``ternary_zero``: ``high`` (both R_high, least power), ``low`` (both
R_low, as IMAC-Sim does) or ``mid`` (both at G_mid, keeps ``G+ + G-`` constant).

Non-idealities act on the programmed resistance of each device, seeded and reproducible:
``R' = R (1 + d)`` with ``d ~ U(-p, p)`` (uniform, ``p = variation_uniform_pct/100``) or
``d ~ N(0, sigma)`` (Gaussian), then stuck-at faults replace a device by R_low or R_high
with the given rates.

Effects over time (:mod:`imaclab.devices.aging`, all off by default): programming noise of
the PCM polynomial, conductance drift ``G(t) = G(t0) ((t + t0)/t0)^-nu`` with a per-device
``nu``, RRAM relaxation, retention failures appearing over time, read noise per read, and
global drift compensation, at ``time_s`` after programming.  Presets with their sources are in
:mod:`imaclab.devices.presets` (``--device NAME``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.errors import InputError

WeightKind = Literal["binary", "ternary", "multilevel", "real"]
#: Largest resistance a config accepts, ohms: a cell of 1e20 ohm next to wires of ohms is below
#: the double-precision range of the circuit equations (the fast solver's powers turn negative).
MAX_RESISTANCE_OHM = 1e12
#: Smallest device resistance, ohms (below it the wires, not the devices, set the currents).
MIN_DEVICE_RESISTANCE_OHM = 1.0


class DeviceConfig(ConfigModel):
    """Memristor levels, weight mapping and device non-idealities."""

    r_low_ohm: float = Field(5e3, ge=MIN_DEVICE_RESISTANCE_OHM, le=MAX_RESISTANCE_OHM,
                             description="low-resistance state, ohms (1 to 1e12)")
    r_high_ohm: float = Field(15e3, ge=MIN_DEVICE_RESISTANCE_OHM, le=MAX_RESISTANCE_OHM,
                              description="high-resistance state, ohms (1 to 1e12)")
    weight_kind: WeightKind | None = Field(
        None, description="binary | ternary | multilevel | real; None = take it from the model file")
    levels: int = Field(16, ge=2, description="conductance levels per device for multilevel weights")
    weight_scale: Literal["auto"] | float = Field(
        "auto", description="divide a layer's weights and bias by this before mapping; auto = max |w| "
                            "over the layer (multilevel/real), 1 for binary/ternary")
    ternary_zero: Literal["high", "low", "mid"] = Field(
        "high", description="devices for a ternary 0: both R_high, both R_low, or both G_mid")
    variation_uniform_pct: float = Field(0.0, ge=0, lt=100, description="uniform programming variation, "
                                                                         "+- percent of R")
    variation_sigma_pct: float = Field(0.0, ge=0, lt=100, description="Gaussian programming variation, "
                                                                       "sigma in percent of R")
    stuck_at_low_rate: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at R_low")
    stuck_at_high_rate: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at R_high")
    seed: int = Field(0, description="seed of variation and fault draws (per layer: [seed, layer])")
    # ---- device model over time (imaclab.devices.aging); the defaults switch every effect off
    preset: str | None = Field(None, description="name of the device preset these values came from "
                                                 "(imaclab.devices.presets; informational)")
    programming_model: Literal["resistance", "pcm"] = Field(
        "resistance", description="resistance: only the variation_* fields; pcm: also aihwkit's PCM programming "
                                  "noise, sigma(G) = (c0 + c1 g + c2 g^2) g_max/25uS, g = G/g_max")
    programming_coeffs: tuple[float, float, float] = Field(
        (0.26348, 1.9650, -1.1731), description="PCM programming-noise polynomial c0, c1, c2 in uS at g_max 25 uS "
                                                "(aihwkit PCMLikeNoiseModel)")
    g_max_s: float | None = Field(None, gt=0, description="g_max of the PCM statistics, siemens (None: 1/r_low_ohm)")
    drift: Literal["none", "power-law", "pcm"] = Field(
        "none", description="conductance drift G(t) = G(t0) ((t + t0)/t0)^-nu: none; power-law (nu ~ "
                            "|N(drift_nu_mean, drift_nu_std)| per device); pcm (aihwkit's G-dependent nu statistics)")
    drift_nu_mean: float = Field(0.0, ge=0, description="power-law drift: mean drift exponent nu")
    drift_nu_std: float = Field(0.0, ge=0, description="power-law drift: device-to-device std of nu")
    drift_t0_s: float = Field(20.0, gt=0, description="drift reference time t0 after programming, s (aihwkit: 20)")
    read_noise: Literal["none", "relative", "pcm"] = Field(
        "none", description="read noise per read: relative (G (1 + N(0, read_noise_pct/100))); pcm (aihwkit's "
                            "accumulated 1/f noise, sigma = Q_s(G) sqrt(ln((t + t_read)/(2 t_read))))")
    read_noise_pct: float = Field(0.0, ge=0, lt=100, description="relative read noise, sigma in percent of G")
    read_noise_draw: Literal["evaluation", "sample"] = Field(
        "evaluation", description="evaluation: one read-noise draw of the arrays per evaluation (every sample reads "
                                  "it); sample: a fresh draw per sample (cycle-to-cycle, the fast backend)")
    read_time_s: float = Field(250e-9, gt=0, description="pcm read noise: t_read of the 1/f fit, s (aihwkit: 250 ns)")
    relaxation_pct_per_decade: float = Field(
        0.0, ge=0, lt=100, description="RRAM relaxation: sigma of G(t)/G_prog grows by this many percent per decade "
                                       "of t/relaxation_tau_s (per-device, fixed direction)")
    relaxation_tau_s: float = Field(1.0, gt=0, description="RRAM relaxation onset time, s")
    retention_tau_s: float | None = Field(None, gt=0, description="retention failures: fraction failed by t is "
                                                                  "1 - exp(-(t/tau)^beta); None: none")
    retention_beta: float = Field(1.0, gt=0, description="Weibull shape of the retention failures (1: exponential)")
    retention_to: Literal["low", "high", "flip"] = Field(
        "high", description="a failed device sits at R_low, at R_high, or flips to the other binary state (MTJ)")
    time_s: float = Field(0.0, ge=0, description="time after programming at which the crossbars are read, s")
    drift_compensation: bool = Field(False, description="global drift compensation: a reference read (all inputs "
                                                        "1) rescales each layer by its t=0 / t ratio (aihwkit)")

    @model_validator(mode="after")
    def _check(self) -> DeviceConfig:
        problems = []
        if self.r_high_ohm <= self.r_low_ohm:
            problems.append(f"r_high_ohm ({self.r_high_ohm:g}) must exceed r_low_ohm ({self.r_low_ohm:g})")
        if self.stuck_at_low_rate + self.stuck_at_high_rate > 1:
            problems.append("stuck_at_low_rate + stuck_at_high_rate must not exceed 1")
        if isinstance(self.weight_scale, float) and self.weight_scale <= 0:
            problems.append("weight_scale must be > 0 or 'auto'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def g_low_s(self) -> float:
        return 1.0 / self.r_low_ohm

    @property
    def g_high_s(self) -> float:
        return 1.0 / self.r_high_ohm


def quantize_weights(w: np.ndarray, kind: WeightKind, levels: int = 16) -> np.ndarray:
    """Normalized weights in [-1, 1] snapped to what the devices can hold.

    binary: sign (0 -> +1); ternary: round to {-1, 0, 1}; multilevel: the ``levels``-point grid
    ``-1 + 2k/(levels-1)``; real: clipped, unquantized.
    """
    w = np.asarray(w, dtype=np.float64)
    if kind == "binary":
        return np.where(w >= 0, 1.0, -1.0)
    if kind == "ternary":
        return np.clip(np.round(w), -1.0, 1.0)
    if kind == "multilevel":
        steps = levels - 1
        return np.round((np.clip(w, -1.0, 1.0) + 1.0) * steps / 2.0) * 2.0 / steps - 1.0
    if kind == "real":
        return np.clip(w, -1.0, 1.0)
    raise InputError(f"unknown weight kind '{kind}': use binary, ternary, multilevel or real")


def layer_weight_scale(weights: np.ndarray, bias: np.ndarray, kind: WeightKind,
                       setting: Literal["auto"] | float = "auto") -> float:
    """The per-layer divisor that brings weights and bias into [-1, 1]."""
    if setting != "auto":
        return float(setting)
    if kind in ("binary", "ternary"):
        return 1.0
    peak = float(max(np.max(np.abs(weights), initial=0.0), np.max(np.abs(bias), initial=0.0)))
    return peak if peak > 0 else 1.0


def map_conductances(w_norm: np.ndarray, config: DeviceConfig, kind: WeightKind) -> tuple[np.ndarray, np.ndarray]:
    """Nominal (G+, G-) in siemens for normalized, already-quantized weights."""
    w = np.asarray(w_norm, dtype=np.float64)
    g_lo, g_hi = config.g_low_s, config.g_high_s
    dg = g_lo - g_hi
    g_pos = g_hi + (1.0 + w) / 2.0 * dg
    g_neg = g_hi + (1.0 - w) / 2.0 * dg
    if kind == "ternary" and config.ternary_zero != "mid":
        zero = w == 0
        g_zero = g_hi if config.ternary_zero == "high" else g_lo
        g_pos = np.where(zero, g_zero, g_pos)
        g_neg = np.where(zero, g_zero, g_neg)
    return g_pos, g_neg


def apply_nonidealities(g: np.ndarray, config: DeviceConfig, rng: np.random.Generator) -> np.ndarray:
    """Programming variation then stuck-at faults on conductances ``g`` (any shape)."""
    g = np.asarray(g, dtype=np.float64)
    r = 1.0 / g
    if config.variation_uniform_pct > 0:
        p = config.variation_uniform_pct / 100.0
        r = r * (1.0 + rng.uniform(-p, p, size=r.shape))
    if config.variation_sigma_pct > 0:
        sigma = config.variation_sigma_pct / 100.0
        # a resistance cannot reach zero: truncate the (rare) draws below -90 %
        r = r * np.maximum(1.0 + rng.normal(0.0, sigma, size=r.shape), 0.1)
    if config.stuck_at_low_rate > 0 or config.stuck_at_high_rate > 0:
        draw = rng.random(size=r.shape)
        r = np.where(draw < config.stuck_at_low_rate, config.r_low_ohm, r)
        hi = (draw >= config.stuck_at_low_rate) & (draw < config.stuck_at_low_rate + config.stuck_at_high_rate)
        r = np.where(hi, config.r_high_ohm, r)
    return 1.0 / r


def age_pair(g_pos: np.ndarray, g_neg: np.ndarray, config: DeviceConfig,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A layer's (G+, G-) at ``config.time_s`` after programming (:func:`imaclab.devices.aging.age`);
    unchanged, with no draw from ``rng``, when every time effect is off (the defaults)."""
    from imaclab.devices.aging import age, is_static

    if is_static(config):
        return g_pos, g_neg
    return age(g_pos, g_neg, config, rng)


def layer_rng(config: DeviceConfig, layer_index: int) -> np.random.Generator:
    """The seeded generator of one layer's draws (independent of other layers)."""
    return np.random.default_rng([config.seed, layer_index])
