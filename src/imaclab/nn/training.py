"""Seeded, resumable hardware-aware training: one entry point, :func:`train`.

A run folder holds everything needed to replay, resume and reuse a run::

    DIR/config.yaml      the full TrainJob (policy resolved), replayable with -c
    DIR/checkpoint.pt    model, optimizer, history and RNG states after the last finished epoch
    DIR/report.json      final (or partial, status 'interrupted') report
    DIR/accuracy.png     accuracy per epoch (and the FP32 baseline's, when trained)
    DIR/layers.json      per-layer targets, precisions and shapes (systolic model, hetero)
    DIR/imac.npz         the IMAC part: weights, biases, gains (imaclab.imac.load_mlp)
    DIR/tpu_weights.npz  integer codes and scales of the TPU layers
    DIR/baseline/        the FP32 twin (same budget), when ``baseline`` is set

Determinism: every random draw (initialization, shuffling, dropout, augmentation,
device noise) comes from generators seeded by ``seed`` whose states are checkpointed,
and the CPU kernels used are deterministic, so an interrupted and resumed run
ends with the same weights as an uninterrupted one (on the same machine and thread
count).  Runs are CPU-only.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from imaclab.data.datasets import Dataset, Normalization, load_dataset
from imaclab.errors import ConfigError, InputError
from imaclab.files import check_writable_dir, write_with
from imaclab.nn.api import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    REPORT_FILE,
    NoiseConfig,  # noqa: F401  (re-exported: imaclab.nn.training.NoiseConfig)
    TrainJob,
    TrainResult,
)
from imaclab.nn.imac_layers import IMACHead
from imaclab.nn.policy import MixedHead, apply_policy
from imaclab.nn.progress import SilentObserver, TrainObserver
from imaclab.nn.zoo import Normalize, ZooModel, build_model
from imaclab.result import SUMMARY_FILE

CHECKPOINT_FORMAT = 1
"""Version of the checkpoint layout; a newer layout refuses older files with a clear error."""
CROP_PADDING = 4
"""Zero padding of the random-crop augmentation (the CIFAR standard, He et al. 2016)."""
BASELINE_DIR = "baseline"
# fields that may differ when resuming (more epochs, another thread count, the baseline flag)
_RESUME_FREE_FIELDS = ("epochs", "threads", "baseline")



# ------------------------------------------------------------------------------ data and model
@dataclass(frozen=True)
class DataBundle:
    train: Dataset
    test: Dataset

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.train.input_shape

    @property
    def num_classes(self) -> int:
        return self.train.num_classes


def load_data(config: TrainJob) -> DataBundle:
    """The train and test sets ``config`` names (subsets applied)."""
    kwargs: dict[str, Any] = dict(root=config.data_root, crop=config.crop, resize=config.resize)
    train_set = load_dataset(config.data, split="train", **kwargs)
    test_set = load_dataset(config.data, split="test", **kwargs)
    if config.train_samples is not None:
        train_set = train_set.subset(config.train_samples, seed=config.seed)
    if config.test_samples is not None:
        test_set = test_set.head(config.test_samples)
    return DataBundle(train_set, test_set)


def build_network(config: TrainJob, input_shape, num_classes: int,
                  normalization: Normalization | None = None) -> tuple[ZooModel, dict]:
    """The zoo model of ``config`` with its policy applied; returns ``(model, {layer: precision})``.

    Initialization draws from torch's global generator (seed it first for a replayable model).
    """
    model = build_model(config.model, num_classes, input_shape, width=config.width, hidden=config.hidden,
                        dropout=config.dropout)
    if normalization is not None and isinstance(model.normalize, Normalize):  # else nn.Identity
        model.normalize.set(normalization.mean, normalization.std)
    assigned = apply_policy(model, config.precision_policy)
    return model, assigned


def imac_head(model: torch.nn.Module) -> IMACHead | None:
    """The model's IMAC tail, if its policy put one there."""
    head = model.classifier
    return head.imac if isinstance(head, MixedHead) else None


# ------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Dataset, batch_size: int = 1000) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on ``data`` (eval mode, restored after)."""
    was_training = model.training
    model.eval()
    x_all = torch.from_numpy(data.x)
    y_all = torch.from_numpy(data.y)
    correct, loss_sum = 0, 0.0
    for start in range(0, len(data), batch_size):
        x, y = x_all[start:start + batch_size], y_all[start:start + batch_size]
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    model.train(was_training)
    n = max(len(data), 1)
    return {"accuracy": correct / n, "loss": loss_sum / n}


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted class indices for images ``x`` (float32 in [0, 1])."""
    was_training = model.training
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[s:s + batch_size], dtype=np.float32))).argmax(1)
           for s in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def evaluate_with_device_noise(model: ZooModel, data: Dataset, trials: int, *, seed: int = 0,
                               batch_size: int = 1000) -> dict[str, Any]:
    """Accuracy over ``trials`` seeded draws of the IMAC devices' variation and faults."""
    head = imac_head(model)
    if head is None or trials <= 0:
        return {}
    accuracies = []
    try:
        for trial in range(trials):
            head.set_noise(True, seed=seed + trial)
            accuracies.append(evaluate(model, data, batch_size)["accuracy"])
    finally:
        head.set_noise(False)
    acc = np.asarray(accuracies)
    return {"trials": trials, "mean_accuracy": float(acc.mean()), "std_accuracy": float(acc.std()),
            "min_accuracy": float(acc.min()), "max_accuracy": float(acc.max()), "accuracies": acc.tolist(),
            "devices": head.spec.devices.to_dict()}


# ------------------------------------------------------------------------------ helpers
def learning_rate(config: TrainJob, epoch: int) -> float:
    """Learning rate of 0-based ``epoch`` under ``config.schedule``."""
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":
        return config.lr * (0.1 ** (int(epoch >= 0.5 * config.epochs) + int(epoch >= 0.75 * config.epochs)))
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * epoch / config.epochs))


def make_optimizer(config: TrainJob, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer over two parameter groups: digital layers, and IMAC layers (``imac_lr_scale``)."""
    head = imac_head(model)
    imac_ids = {id(p) for p in head.parameters()} if head is not None else set()
    digital = [p for p in model.parameters() if p.requires_grad and id(p) not in imac_ids]
    analog = [p for p in model.parameters() if p.requires_grad and id(p) in imac_ids]
    groups = [{"params": digital, "lr_scale": 1.0}, {"params": analog, "lr_scale": config.imac_lr_scale}]
    groups = [g for g in groups if g["params"]]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               nesterov=config.momentum > 0)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


def augment_batch(x: torch.Tensor, config: TrainJob, generator: torch.Generator) -> torch.Tensor:
    """Random padded crops (and flips) per sample, drawn from ``generator``."""
    if config.augment == "none":
        return x
    n, _, h, w = x.shape
    pad = CROP_PADDING
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, :]
    out = padded.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols].permute(0, 3, 1, 2)
    if config.augment == "crop-flip":
        flip = torch.rand(n, generator=generator) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out.contiguous()


def _epoch_permutation(config: TrainJob, epoch: int, n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


@contextmanager
def _torch_settings(config: TrainJob):
    # The CPU kernels these models use are deterministic for a fixed thread count, so
    # torch.use_deterministic_algorithms is not needed (it also imports torch._inductor,
    # which costs seconds); the resume test checks bit-identical weights.
    previous_threads = torch.get_num_threads()
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        yield
    finally:
        torch.set_num_threads(previous_threads)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def load_checkpoint(path: str | Path) -> dict:
    """Read a run's checkpoint file (InputError if missing, corrupt or of another format)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found (train first: imaclab train ... -o {path.parent})")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a torn/corrupt file
        raise InputError(f"{path}: cannot read checkpoint ({type(err).__name__}); delete it to start over") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not an imaclab checkpoint of format {CHECKPOINT_FORMAT}")
    return ckpt


def _comparable(config: TrainJob) -> dict:
    data = config.resolved().to_dict()
    for key in _RESUME_FREE_FIELDS:
        data.pop(key, None)
    data["noise"].pop("eval_trials", None)
    return data


def train_step(model: ZooModel, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               config: TrainJob) -> tuple[float, int]:
    """One optimizer step on batch ``(x, y)``; returns the batch's mean loss and correct count.

    Latent IMAC weights are clipped to [-1, 1] after the step.
    """
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    head = imac_head(model)
    if head is not None:
        head.clip_latent()
    return loss.item(), int((logits.detach().argmax(1) == y).sum())


def _load_trained_weights(model: torch.nn.Module, run_dir: str | Path) -> None:
    """Fine-tuning: the weights of the run in ``run_dir`` (same model and policy) into ``model``."""
    path = Path(run_dir) / CHECKPOINT_FILE
    ckpt = load_checkpoint(path)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{path}: its model does not match this job's ({first}); fine-tune a run with the "
                          "same model, width and policy") from None


def _circuit_loop(config: TrainJob, head: IMACHead | None):
    """The attached :class:`~imaclab.nn.circuit_loop.CircuitLoop` when the job trains through the circuit."""
    if not config.circuit_loop.enabled:
        return None
    if head is None:
        raise ConfigError("circuit-in-the-loop training needs IMAC layers: use a tpu-imac policy")
    from imaclab.nn.circuit_loop import CircuitLoop

    return CircuitLoop(head, head.network_config(), config.circuit_loop).attach()


# ------------------------------------------------------------------------------ the training loop
def train(config: TrainJob, out_dir: str | Path, *, resume: bool = True,
          observer: TrainObserver | None = None, _label: str = "train") -> TrainResult:
    """Train ``config`` into run folder ``out_dir`` (resuming a checkpoint there by default).

    Every epoch ends with a checkpoint; an exception (including Ctrl-C) writes a partial
    report (status ``interrupted``) and re-raises, and calling again resumes after the
    last finished epoch.  ``resume=False`` starts over.  With ``config.baseline`` the
    FP32 twin is trained (and resumed) in ``out_dir/baseline`` afterwards.
    """
    observer = observer or SilentObserver()
    config = config.resolved()
    out = check_writable_dir(out_dir)
    ckpt_path = out / CHECKPOINT_FILE
    with _torch_settings(config):
        data = load_data(config)
        norm = Normalization.fit(data.train)
        start_epoch, history, ckpt = 0, [], None
        if resume and ckpt_path.is_file():
            ckpt = load_checkpoint(ckpt_path)
            saved = TrainJob.from_dict(ckpt["config"], source=str(ckpt_path))
            if _comparable(saved) != _comparable(config):
                diff = sorted(k for k in _comparable(config) if _comparable(saved).get(k) != _comparable(config)[k])
                raise ConfigError(f"{out}: holds a run with a different config (differs in: {', '.join(diff)}); "
                                  "use another -o DIR, or --no-resume to overwrite it")
            start_epoch, history = int(ckpt["epoch"]), list(ckpt["history"])
            observer.message(f"resuming {out} after epoch {start_epoch}")
        _seed_everything(config.seed)
        model, assigned = build_network(config, data.input_shape, data.num_classes, norm)
        optimizer = make_optimizer(config, model)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            _set_rng_state(ckpt["rng"])
        elif config.init_from is not None:
            _load_trained_weights(model, config.init_from)
        (out / SUMMARY_FILE).unlink(missing_ok=True)  # the folder holds an unfinished run until save()
        config.save(out / CONFIG_FILE)
        head = imac_head(model)
        loop = _circuit_loop(config, head)
        train_noise = config.noise.train and head is not None
        if config.noise.train and head is None:
            raise ConfigError("noise.train needs IMAC layers: use a tpu-imac policy or turn noise-aware training off")
        x_train = torch.from_numpy(data.train.x)
        y_train = torch.from_numpy(data.train.y)
        aug_gen = torch.Generator()
        t_start = time.perf_counter()
        epoch = start_epoch
        try:
            for epoch in range(start_epoch, config.epochs):
                t0 = time.perf_counter()
                lr = learning_rate(config, epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                aug_gen.manual_seed(config.seed * 7_919 + epoch)
                perm = _epoch_permutation(config, epoch, len(data.train))
                batches = perm.split(config.batch_size)
                observer.start_epoch(epoch + 1, config.epochs, len(batches), _label)
                model.train()
                if head is not None:
                    head.set_noise(train_noise)
                loss_sum, correct, seen = 0.0, 0, 0
                for idx in batches:
                    x = augment_batch(x_train[idx], config, aug_gen)
                    loss, hits = train_step(model, optimizer, x, y_train[idx], config)
                    if not math.isfinite(loss):
                        raise InputError(f"training diverged at epoch {epoch + 1} (loss {loss}): "
                                         f"lower --lr (now {config.lr:g})")
                    loss_sum += loss * len(idx)
                    correct += hits
                    seen += len(idx)
                    observer.batch(loss_sum / seen, correct / seen)
                if head is not None:
                    head.set_noise(False)
                test = evaluate(model, data.test, config.eval_batch_size)
                record = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / seen,
                          "train_accuracy": correct / seen, "test_loss": test["loss"],
                          "test_accuracy": test["accuracy"], "seconds": time.perf_counter() - t0}
                history.append(record)
                state = {"format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "config": config.to_dict(),
                         "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "history": history, "rng": _rng_state(),
                         "data": {"input_shape": list(data.input_shape),
                                  "num_classes": data.num_classes, "classes": list(data.train.classes),
                                  "normalization": norm.to_dict()}}
                write_with(ckpt_path, functools.partial(torch.save, state))
                observer.end_epoch(record)
        except BaseException:
            partial = TrainResult(job=config, run_dir=out, model=model,
                                  report=_report(out, config, data, model, assigned, history, status="interrupted",
                                                 train_seconds=time.perf_counter() - t_start))
            partial.write_files(out)
            partial.plot(out)
            raise
        if head is not None:
            head.set_noise(False)
        circuit_accuracy = ideal_accuracy = None
        if loop is not None:
            # the epochs' test accuracy is the circuit's; report the ideal crossbar model's beside it
            circuit_accuracy = history[-1]["test_accuracy"] if history else None
            loop.detach()
            ideal_accuracy = evaluate(model, data.test, config.eval_batch_size)["accuracy"]
            loop.attach()
        from imaclab.nn.export import export_run

        exports = export_run(model, out, config=config, assigned=assigned, data=data)
        noisy = evaluate_with_device_noise(model, data.test, config.noise.eval_trials,
                                           seed=config.precision_policy.imac.devices.seed,
                                           batch_size=config.eval_batch_size)
        baseline = None
        if config.baseline:
            observer.message(f"training the FP32 baseline in {out / BASELINE_DIR}")
            baseline = train(config.baseline_config(), out / BASELINE_DIR, resume=resume, observer=observer,
                             _label="fp32 baseline").report
        report = _report(out, config, data, model, assigned, history, status="complete",
                         train_seconds=time.perf_counter() - t_start, exports=exports, noisy=noisy,
                         baseline=baseline)
        if loop is not None:
            report.update(circuit_test_accuracy=circuit_accuracy, ideal_test_accuracy=ideal_accuracy,
                          circuit_loop={"programmings": loop.programmings,
                                        "programming_seconds": loop.programming_seconds,
                                        "circuit": loop.programmed.circuit.to_dict() if loop.programmed else None})
        result = TrainResult(job=config, run_dir=out, report=report, model=model)
        result.save(out)
        result.plot(out)
        observer.message(f"test accuracy {report['test_accuracy']:.2%}; report in {out / REPORT_FILE}")
        return result


def _report(out: Path, config: TrainJob, data: DataBundle, model: ZooModel, assigned: dict,
                  history: list[dict], *, status: str, train_seconds: float, exports: dict | None = None,
                  noisy: dict | None = None, baseline: dict | None = None) -> dict[str, Any]:
    final = history[-1]["test_accuracy"] if history else None
    report: dict[str, Any] = {
        "status": status,
        "run_dir": str(out),
        "model": config.model,
        "data": data.test.to_dict() | {"train_samples": len(data.train)},
        "policy": config.precision_policy.name,
        "epochs_completed": len(history),
        "epochs": config.epochs,
        "test_accuracy": final,
        "best_test_accuracy": max((h["test_accuracy"] for h in history), default=None),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "layers": {name: p.target + ("" if p.target == "fp32" else f":{_describe(p)}") for name, p in assigned.items()},
        "history": history,
        "seconds_per_epoch": (float(np.mean([h["seconds"] for h in history])) if history else None),
        "train_seconds_this_call": train_seconds,
        "config": config.to_dict(),
    }
    if noisy:
        report["device_noise_eval"] = noisy
    if baseline is not None:
        report["baseline"] = {"run_dir": baseline["run_dir"], "test_accuracy": baseline["test_accuracy"],
                              "seconds_per_epoch": baseline["seconds_per_epoch"], "history": baseline["history"]}
        if final is not None and baseline["test_accuracy"] is not None:
            report["accuracy_drop_points"] = 100.0 * (baseline["test_accuracy"] - final)
    if exports:
        report["exports"] = exports
    return report


def _describe(precision) -> str:
    w = precision.weight
    weight = f"{w.kind}" if w.kind in ("binary", "ternary") else f"w{w.bits}"
    act = f"/a{precision.act_bits}" if precision.act_bits else ""
    return weight + act


# ------------------------------------------------------------------------------ reuse
@dataclass
class TrainedRun:
    """A finished (or checkpointed) run folder, loaded: config, model in eval mode, report."""

    run_dir: Path
    config: TrainJob
    model: ZooModel = field(repr=False)
    report: dict[str, Any]
    input_shape: tuple[int, ...]
    num_classes: int
    classes: tuple[str, ...]
    epoch: int

    @property
    def imac_npz(self) -> Path | None:
        path = self.run_dir / "imac.npz"
        return path if path.is_file() else None

    @property
    def layers_json(self) -> Path:
        return self.run_dir / "layers.json"

    def layers(self) -> dict[str, Any]:
        """The per-layer precision/shape description (``layers.json``)."""
        if not self.layers_json.is_file():
            raise InputError(f"{self.layers_json}: not found; the run has not finished (resume it)")
        return json.loads(self.layers_json.read_text())

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "epoch": self.epoch, "model": self.config.model,
                "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "test_accuracy": self.report.get("test_accuracy")}


def load_run(run_dir: str | Path) -> TrainedRun:
    """Load a run folder written by :func:`train`: its config, the model (eval mode) and report."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run folder not found")
    ckpt = load_checkpoint(run_dir / CHECKPOINT_FILE)
    config = TrainJob.from_dict(ckpt["config"], source=str(run_dir / CHECKPOINT_FILE))
    meta = ckpt["data"]
    model, _ = build_network(config, tuple(meta["input_shape"]), int(meta["num_classes"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    report_path = run_dir / REPORT_FILE
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return TrainedRun(run_dir, config, model, report, tuple(meta["input_shape"]), int(meta["num_classes"]),
                      tuple(meta["classes"]), int(ckpt["epoch"]))
