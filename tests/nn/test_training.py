"""Training runs at tiny size: learning, determinism, resume after interruption, CLI, load_run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.data.datasets import FASHION_MNIST_DEFAULT_ROOT
from imaclab.nn.progress import TrainObserver
from imaclab.nn.api import NoiseConfig, TrainJob
from imaclab.nn.training import build_network, evaluate, load_data, load_run, predict, train

DIGITS_MLP = dict(model="mlp-64-32-10", data="digits", policy="tpu-imac", batch_size=32, lr=0.03, threads=1)


def test_tiny_binary_mlp_training_improves_accuracy(tmp_path):
    config = TrainJob(**DIGITS_MLP, epochs=3)
    data = load_data(config)
    torch.manual_seed(config.seed)
    untrained, _ = build_network(config.resolved(), data.input_shape, data.num_classes)
    before = evaluate(untrained, data.test)["accuracy"]
    result = train(config, tmp_path / "run")
    hist = result.report["history"]
    assert len(hist) == 3 and result.report["status"] == "complete"
    assert result.test_accuracy > 0.75 and result.test_accuracy > before + 0.4
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    for name in ("config.yaml", "checkpoint.pt", "report.json", "accuracy.png", "layers.json", "imac.npz"):
        assert (tmp_path / "run" / name).is_file(), name
    # the saved config replays: the same config file gives the same run
    replay = TrainJob.load(tmp_path / "run" / "config.yaml")
    assert replay == config.resolved()
    again = train(replay, tmp_path / "replay")
    assert again.report["history"][-1]["test_accuracy"] == hist[-1]["test_accuracy"]
    assert again.report["history"][-1]["train_loss"] == pytest.approx(hist[-1]["train_loss"], rel=1e-6)


class _Interrupt(TrainObserver):
    def __init__(self, after_epoch: int):
        self.after_epoch = after_epoch

    def end_epoch(self, record):
        if record["epoch"] == self.after_epoch:
            raise KeyboardInterrupt


def test_resume_after_interruption_gives_the_uninterrupted_weights(tmp_path):
    # dropout and noise-aware training exercise every random stream that the checkpoint must restore
    config = TrainJob(**DIGITS_MLP, epochs=3, dropout=0.1, noise=NoiseConfig(train=True, eval_trials=2))
    config = config.with_overrides({"policy.imac.devices.variation_sigma_pct": 5.0})
    straight = train(config, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", observer=_Interrupt(after_epoch=2))
    partial = json.loads((tmp_path / "resumed" / "report.json").read_text())
    assert partial["status"] == "interrupted" and partial["epochs_completed"] == 2
    resumed = train(config, tmp_path / "resumed")
    assert [h["test_accuracy"] for h in resumed.report["history"]] == \
           [h["test_accuracy"] for h in straight.report["history"]]
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    noisy = resumed.report["device_noise_eval"]
    assert noisy["trials"] == 2 and 0 < noisy["mean_accuracy"] <= 1
    assert noisy == straight.report["device_noise_eval"]
    # more epochs continue the same run; a different config is refused
    longer = train(config.model_copy(update={"epochs": 4}), tmp_path / "resumed")
    assert longer.report["epochs_completed"] == 4
    with pytest.raises(ConfigError, match="differs in: lr"):
        train(config.model_copy(update={"lr": 0.1}), tmp_path / "resumed")


def test_load_run_reproduces_predictions(tmp_path):
    result = train(TrainJob(**DIGITS_MLP, epochs=1), tmp_path / "run")
    run = load_run(tmp_path / "run")
    data = load_data(run.config)
    np.testing.assert_array_equal(predict(run.model, data.test.x), predict(result.model, data.test.x))
    assert run.epoch == 1 and run.num_classes == 10 and run.imac_npz is not None
    assert run.layers()["imac"]["dims"] == [64, 32, 10]


def test_config_round_trip(tmp_path):
    config = TrainJob(model="lenet5", policy="tpu-imac-ternary", epochs=3, hidden=[5], noise=NoiseConfig(train=True))
    resolved = config.resolved()
    assert TrainJob.load(resolved.save(tmp_path / "c.yaml")) == resolved
    assert TrainJob.load(resolved.save(tmp_path / "c.json")) == resolved
    assert TrainJob.load(config.save(tmp_path / "named.yaml")) == config
    changed = TrainJob.load(tmp_path / "c.yaml").with_overrides({"epochs": 7, "policy.imac.input_mode": "binary"})
    assert changed.epochs == 7 and changed.precision_policy.imac.inputs.mode == "binary"
    with pytest.raises(ConfigError, match="no field 'nope'"):
        TrainJob().with_overrides({"noise.nope": 1})


@pytest.mark.skipif(not FASHION_MNIST_DEFAULT_ROOT.is_dir(), reason="dataset-fashion-mnist not installed")
def test_tiny_lenet_tpu_imac_on_fashion_mnist(tmp_path):
    config = TrainJob(model="lenet5", data="fashion-mnist", policy="tpu-imac", epochs=2, train_samples=256,
                         test_samples=200, batch_size=32, lr=0.003, threads=1)
    result = train(config, tmp_path / "lenet")
    hist = result.report["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert result.test_accuracy > 0.3  # 10 classes: chance is 0.1
    layers = json.loads((tmp_path / "lenet" / "layers.json").read_text())
    convs = [r for r in layers["layers"] if r["type"] == "conv"]
    assert [c["ifmap"] for c in convs] == [[1, 28, 28], [6, 14, 14]]
    assert [c["ofmap"] for c in convs] == [[6, 28, 28], [16, 10, 10]]
    assert all(c["target"] == "tpu" and c["weight_bits"] == 8 and c["act_bits"] == 8 for c in convs)
    assert convs[0]["macs"] == 6 * 28 * 28 * 25
    fcs = [r for r in layers["layers"] if r["type"] == "fc"]
    assert [(f["in_features"], f["out_features"], f["target"]) for f in fcs] == \
           [(400, 120, "imac"), (120, 84, "imac"), (84, 10, "imac")]
    assert layers["imac"]["feature_full_scale"] > 0
    with np.load(tmp_path / "lenet" / "tpu_weights.npz") as z:
        assert int(np.abs(z["features.0.weight_codes"]).max()) <= 127


def test_cli_train_both_forms_and_show(tmp_path, capsys):
    common = ["--model", "mlp-64-32-10", "--data", "digits", "--epochs", "1", "--threads", "1", "--lr", "0.03"]
    assert main(["train", *common, "-o", str(tmp_path / "a")]) == 0
    assert main(["train", "run", *common, "-o", str(tmp_path / "b"), "--baseline", "--hidden", "16"]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["model"] == "mlp-64-32-10" and "baseline" in report
    assert report["baseline"]["run_dir"] == str(tmp_path / "b" / "baseline")
    assert report["accuracy_drop_points"] == pytest.approx(
        100 * (report["baseline"]["test_accuracy"] - report["test_accuracy"]))
    assert (tmp_path / "b" / "baseline" / "report.json").is_file()
    assert main(["train", "show", str(tmp_path / "b")]) == 0
    assert "FP32 baseline" in capsys.readouterr().out
    assert main(["train", "--model", "lenet9", "--data", "digits", "-o", str(tmp_path / "c")]) == 2
    assert "unknown model 'lenet9'" in capsys.readouterr().err
    assert main(["train", "run", *common, "-o", str(tmp_path / "a"), "--set", "seed=5"]) == 2
    assert "different config" in capsys.readouterr().err


def test_optimizer_groups_learning_rate_schedule_and_augmentation():
    from imaclab.nn.training import augment_batch, learning_rate, make_optimizer

    config = TrainJob(model="lenet5", policy="tpu-imac", imac_lr_scale=0.5, epochs=4, lr=0.01).resolved()
    torch.manual_seed(0)
    model, _ = build_network(config, (1, 28, 28), 10)
    optimizer = make_optimizer(config, model)
    scales = [g["lr_scale"] for g in optimizer.param_groups]
    assert scales == [1.0, 0.5]
    n_imac = sum(p.numel() for p in optimizer.param_groups[1]["params"])
    assert n_imac == sum(p.numel() for p in model.classifier.imac.parameters() if p.requires_grad)
    assert [learning_rate(config, e) for e in range(4)] == pytest.approx(
        [0.01, 0.01 * 0.8535534, 0.005, 0.01 * 0.1464466])
    step = config.model_copy(update={"schedule": "step"})
    assert [learning_rate(step, e) for e in range(4)] == pytest.approx([0.01, 0.01, 0.001, 0.0001])
    # crops are shifted windows of the zero-padded image; the same generator seed gives the same batch
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    crop = config.model_copy(update={"augment": "crop"})
    a = augment_batch(x, crop, torch.Generator().manual_seed(3))
    b = augment_batch(x, crop, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for n in range(2):
        windows = [padded[n, 0, i:i + 6, j:j + 6] for i in range(9) for j in range(9)]
        assert any(torch.equal(a[n, 0], w) for w in windows)
