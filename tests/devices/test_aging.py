"""Devices over time (imaclab.devices.aging) against their closed forms, and the presets."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.devices import aging
from imaclab.devices.memristor import DeviceConfig, age_pair, layer_rng
from imaclab.devices.presets import DEVICE_PRESETS, device_overrides, device_values
from imaclab.errors import ConfigError, UnknownNameError

N = 40_000


def _cfg(**values) -> DeviceConfig:
    return DeviceConfig(**values)


def _read(config: DeviceConfig, g: np.ndarray, t: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return age_pair(g, g.copy(), config.with_overrides({"time_s": t}), np.random.default_rng(seed))


def test_defaults_leave_conductances_and_generator_alone():
    g = np.full((4, 3), 1e-4)
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    a, b = age_pair(g, g, DeviceConfig(), rng)
    assert a is g and b is g
    assert rng.bit_generator.state == state
    assert aging.is_static(DeviceConfig(time_s=1e6))  # a time alone changes nothing


def test_drift_exponent_recovered_from_simulated_conductances():
    """log G(t) vs log((t + t0)/t0) per device has slope -nu; nu ~ |N(0.06, 0.01)|."""
    cfg = _cfg(drift="power-law", drift_nu_mean=0.06, drift_nu_std=0.01, drift_t0_s=20.0)
    g0 = np.full(N, 2e-4)
    times = [0.0, 60.0, 3600.0, 86400.0, 3.15e7]
    logs = np.array([np.log(_read(cfg, g0, t, seed=7)[0]) for t in times])
    x = np.log((np.array(times) + 20.0) / 20.0)
    slope = np.polyfit(x, logs, 1)[0]             # one fit per device
    nu = -slope
    assert np.allclose(logs[0], np.log(g0))      # G(0) = G(t0): no drift at t = 0
    assert abs(nu.mean() - 0.06) < 3 * 0.01 / np.sqrt(N) + 1e-4
    assert abs(nu.std() - 0.01) < 0.0005
    # every device follows an exact power law (no read noise here)
    assert np.max(np.abs(np.polyval(np.polyfit(x, logs, 1), x[:, None]) - logs)) < 1e-9


def test_pcm_drift_statistics_follow_aihwkit_fit():
    g_max = 25e-6
    cfg = _cfg(r_low_ohm=40e3, r_high_ohm=1e6, drift="pcm", g_max_s=g_max)
    for g_t in (1e-6, 5e-6):
        g0 = np.full(N, g_t)
        ratio = _read(cfg, g0, 3600.0, seed=1)[0] / g0
        nu = -np.log(ratio) / np.log((3600.0 + 20.0) / 20.0)
        mu, sd = aging.pcm_drift_stats(np.array([g_t]), g_max)
        assert abs(nu.mean() - mu[0]) < 4 * sd[0] / np.sqrt(N) + 1e-4
        assert abs(nu.std() - sd[0]) < 0.05 * sd[0]
    # the closed form itself (aihwkit: clip(-0.0155 ln g + 0.0244, 0.049, 0.1), ...)
    mu, sd = aging.pcm_drift_stats(np.array([1.0, 0.04, 1e-6]) * g_max, g_max)
    assert np.allclose(mu, [0.049, -0.0155 * np.log(0.04) + 0.0244, 0.1])
    assert np.allclose(sd, [0.008, -0.0125 * np.log(0.04) - 0.0059, 0.045])


def test_relative_read_noise_variance_and_fresh_draw_per_read():
    cfg = _cfg(read_noise="relative", read_noise_pct=2.0)
    g0 = np.full(N, 1e-4)
    a = _read(cfg, g0, 0.0, seed=1)[0] / g0 - 1
    b = _read(cfg, g0, 0.0, seed=2)[0] / g0 - 1
    assert abs(a.std() - 0.02) < 0.02 * 0.03
    assert abs(a.mean()) < 4 * 0.02 / np.sqrt(N)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.03    # another read, another draw


def test_pcm_read_and_programming_noise_variance():
    g_max = 25e-6
    g_t = 10e-6
    cfg = _cfg(r_low_ohm=40e3, r_high_ohm=1e6, g_max_s=g_max, programming_model="pcm")
    g = _read(cfg, np.full(N, g_t), 0.0)[0]
    sigma_p = aging.pcm_programming_sigma(np.array([g_t]), g_max)[0]
    assert np.isclose(sigma_p, (0.26348 + 1.9650 * 0.4 - 1.1731 * 0.16) * 1e-6)
    assert abs(g.std() - sigma_p) < 0.03 * sigma_p
    cfg = _cfg(r_low_ohm=40e3, r_high_ohm=1e6, g_max_s=g_max, read_noise="pcm")
    t = 86400.0
    rel = _read(cfg, np.full(N, g_t), t)[0] / g_t - 1
    expected = 0.0088 / 0.4 ** 0.65 * np.sqrt(np.log((t + 20.0 + 250e-9) / (2 * 250e-9)))
    assert np.isclose(aging.pcm_read_sigma(np.array([g_t]), g_max, t)[0], expected)
    assert abs(rel.std() - expected) < 0.03 * expected


def test_seeded_reproducible_and_the_same_devices_at_every_time():
    cfg = DeviceConfig(**{k: v for k, v in device_values("pcm").items()})
    g = np.full((64, 10), 20e-6)
    one = _read(cfg, g, 3600.0, seed=5)
    again = _read(cfg, g, 3600.0, seed=5)
    other = _read(cfg, g, 3600.0, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(one, again))
    assert not np.array_equal(one[0], other[0])
    # without read noise, the ratio of two times is the devices' own drift factor
    quiet = cfg.with_overrides({"read_noise": "none", "programming_model": "resistance"})
    g1, g2 = _read(quiet, g, 3600.0, seed=5)[0], _read(quiet, g, 3.15e7, seed=5)[0]
    nu = np.log(g1 / g2) / np.log((3.15e7 + 20) / (3600.0 + 20))
    assert np.allclose(nu, nu.mean(), atol=0.2) and np.all(nu > 0)
    assert np.allclose(g1 / g, ((3600.0 + 20) / 20) ** -nu)


def test_retention_failures_follow_weibull_and_accumulate():
    tau = 1e6
    cfg = _cfg(retention_tau_s=tau, retention_beta=0.7, retention_to="high")
    g0 = np.full(N, 1 / 5e3)
    failed = {t: _read(cfg, g0, t, seed=2)[0] == 1 / 15e3 for t in (1e4, 1e6, 1e8)}
    for t, mask in failed.items():
        p = aging.failed_fraction(t, tau, 0.7)
        assert np.isclose(p, 1 - np.exp(-(t / tau) ** 0.7))
        assert abs(mask.mean() - p) < 4 * np.sqrt(p * (1 - p) / N)
    assert np.all(failed[1e6][failed[1e4]]) and np.all(failed[1e8][failed[1e6]])  # once failed, failed


def test_mtj_flips_to_the_other_state():
    cfg = _cfg(r_low_ohm=5e3, r_high_ohm=10e3, retention_tau_s=1.0, retention_to="flip")
    gp, gn = age_pair(np.full(10, 1 / 5e3), np.full(10, 1 / 10e3), cfg.with_overrides({"time_s": 1e3}),
                      np.random.default_rng(0))
    assert np.allclose(gp, 1 / 10e3) and np.allclose(gn, 1 / 5e3)  # F(1000 tau) = 1: every device flipped


def test_relaxation_spread_grows_per_decade():
    cfg = _cfg(relaxation_pct_per_decade=1.0, relaxation_tau_s=1.0)
    g0 = np.full(N, 1e-4)
    for t in (9.0, 999.0):
        rel = _read(cfg, g0, t, seed=4)[0] / g0 - 1
        s = aging.relaxation_sigma(t, 1.0, 1.0)
        assert np.isclose(s, 0.01 * np.log10(1 + t))
        assert abs(rel.std() - s) < 0.03 * s


def test_global_drift_compensation_undoes_a_common_drift():
    cfg = _cfg(drift="power-law", drift_nu_mean=0.05, drift_nu_std=0.0, drift_compensation=True)
    rng = np.random.default_rng(0)
    gp, gn = rng.uniform(1e-5, 2e-4, (33, 8)), rng.uniform(1e-5, 2e-4, (33, 8))
    a, b = age_pair(gp, gn, cfg.with_overrides({"time_s": 3.15e7}), np.random.default_rng(1))
    assert np.allclose(a, gp) and np.allclose(b, gn)
    off = cfg.with_overrides({"drift_compensation": False, "time_s": 3.15e7})
    a, _ = age_pair(gp, gn, off, np.random.default_rng(1))
    assert np.allclose(a / gp, ((3.15e7 + 20) / 20) ** -0.05)


def test_presets_are_valid_device_configs_and_files_work(tmp_path):
    for name in DEVICE_PRESETS:
        over = device_overrides(name)
        cfg = DeviceConfig(**{k.removeprefix("devices."): v for k, v in over.items()})
        assert cfg.preset == name
    pcm = device_values("pcm")
    assert (pcm["r_low_ohm"], pcm["drift"], pcm["read_noise"], pcm["drift_t0_s"]) == (40e3, "pcm", "pcm", 20.0)
    assert np.isclose(device_values("mtj")["retention_tau_s"], 1e-9 * np.exp(40))
    path = tmp_path / "mine.yaml"
    path.write_text("devices:\n  r_low_ohm: 4000\n  r_high_ohm: 20000\n  drift: power-law\n  drift_nu_mean: 0.03\n")
    mine = device_values(path)
    assert mine["preset"] == "mine" and mine["drift_nu_mean"] == 0.03
    with pytest.raises(UnknownNameError):
        device_values("flash")
    bad = tmp_path / "bad.yaml"
    bad.write_text("r_low_ohm: 4000\nr_high_ohm: 100\n")
    with pytest.raises(ConfigError):
        device_overrides(bad)
    with pytest.raises(ConfigError):
        device_values(tmp_path / "missing.yaml")


def test_layer_generator_gives_one_device_set_per_seed():
    cfg = DeviceConfig(**device_values("rram"))
    g = np.full((10, 4), 1 / 5e3)
    x = age_pair(g, g, cfg.with_overrides({"time_s": 5.0}), layer_rng(cfg, 0))
    y = age_pair(g, g, cfg.with_overrides({"time_s": 5.0}), layer_rng(cfg, 0))
    assert np.array_equal(x[0], y[0])


def test_aihwkit_cross_check_moments():
    """Same PCM statistics as aihwkit's PCMLikeNoiseModel (runs only where aihwkit is installed)."""
    pytest.importorskip("aihwkit")
    import torch
    from aihwkit.inference import PCMLikeNoiseModel

    model = PCMLikeNoiseModel(g_max=25.0)
    cfg = DeviceConfig(**device_values("pcm"))
    for g_us in (2.0, 10.0, 25.0):
        for t in (1.0, 86400.0, 3.15e7):
            torch.manual_seed(0)
            gt = torch.full((N,), g_us)
            gp = model.apply_programming_noise_to_conductance(gt)
            ref = model.apply_drift_noise_to_conductance(gp, model.generate_drift_coefficients(gt), t).numpy()
            ours = _read(cfg, np.full(N, g_us * 1e-6), t)[0] * 1e6
            assert abs(ours.mean() - ref.mean()) < 0.01 * g_us + 4 * ref.std() / np.sqrt(N)
            assert abs(ours.std() - ref.std()) < 0.05 * ref.std()


def test_noise_aware_training_layers_see_the_same_device_models():
    """IMACLinear's noisy weights (noise-train) drift like the circuit's devices: with a common
    nu, w_eff(t) = w ((t + t0)/t0)^-nu; compensated, w_eff = w."""
    import torch

    from imaclab.nn.imac_layers import IMACLinear, IMACSpec
    from imaclab.nn.quantizers import QuantSpec

    t, nu = 3.15e7, 0.05
    factor = ((t + 20.0) / 20.0) ** -nu
    for comp, expected in ((False, factor), (True, 1.0)):
        devices = DeviceConfig(drift="power-law", drift_nu_mean=nu, time_s=t, drift_compensation=comp)
        spec = IMACSpec(devices=devices, learn_amplifier_gain=False, amplifier_gain=2.0)
        layer = IMACLinear(7, 3, weight=QuantSpec(kind="binary", bits=8, scale="none", per_channel=False),
                           spec=spec, curve=None)
        torch.nn.init.uniform_(layer.weight, -1, 1)
        layer.noise_enabled = True
        layer.noise_generator = np.random.default_rng(0)
        wq, _ = layer.quantized()
        w_eff, _ = layer.effective()
        # G+ and G- both scale by the factor, so does their difference
        assert torch.allclose(w_eff.detach(), wq.detach() * expected, atol=1e-9)


def test_train_cli_takes_a_device_and_a_time(tmp_path):
    from imaclab.cli import main
    from imaclab.nn.api import TrainJob

    out = tmp_path / "t"
    assert main(["train", "--model", "mlp-64-8-10", "--data", "digits", "--policy", "tpu-imac", "--epochs", "1",
                 "--train-samples", "64", "--test-samples", "32", "--noise-train", "--noise-trials", "1",
                 "--device", "pcm", "--time", "1d", "--threads", "1", "--no-html", "-o", str(out)]) == 0
    devices = TrainJob.load(out / "config.yaml").precision_policy.imac.devices
    assert devices.preset == "pcm" and devices.drift == "pcm" and devices.time_s == 86400.0
    assert main(["train", "--model", "mlp-64-8-10", "--data", "digits", "--device", "flash", "-o",
                 str(tmp_path / "u")]) == 2
