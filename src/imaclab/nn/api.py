"""The train room's API: a job, one ``run``, a result.

::

    from imaclab.nn import TrainJob, run, load_result

    result = run(TrainJob(model="mlp-64-32-10", data="digits", epochs=2), out_dir="runs/digits")
    result.test_accuracy          # the final test accuracy (also in runs/digits/report.json)
    result.metrics()              # the flat figures a sweep stores per point
    load_result("runs/digits")    # the same result, read back from the run folder

Training needs a run folder (checkpoints every epoch, resume after an interruption), so
``out_dir`` is required.  The folder holds ``config.yaml`` (the resolved job: replayable with
``imaclab train -c DIR/config.yaml -o DIR``), ``checkpoint.pt``, ``report.json`` (the result's
figures), ``accuracy.png``, the exports (``layers.json``, ``imac.npz``, ``tpu_weights.npz``)
and, written last, ``summary.json`` (the run marker of :class:`imaclab.result.Result`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from imaclab.config import ConfigModel
from imaclab.errors import InputError
from imaclab.nn.policy import POLICIES, PrecisionPolicy, get_policy
from imaclab.nn.zoo import MODELS, canonical_model_name
from imaclab.result import Result, Scalar, Table, flat_scalars

__all__ = ["Catalogue", "CircuitLoopConfig", "NoiseConfig", "TrainJob", "TrainResult", "load_result", "model_zoo",
           "policy_presets", "resume_command", "run"]

CONFIG_FILE, CHECKPOINT_FILE, REPORT_FILE, CURVE_FILE = "config.yaml", "checkpoint.pt", "report.json", "accuracy.png"

#: Report entries that are metrics of the trained network (the rest describes the run).
METRIC_KEYS = ("test_accuracy", "best_test_accuracy", "epochs_completed", "parameters", "seconds_per_epoch",
               "train_seconds_this_call", "accuracy_drop_points", "circuit_test_accuracy", "ideal_test_accuracy")


# ------------------------------------------------------------------------------ the job
class NoiseConfig(ConfigModel):
    """Device variation and faults (from the policy's ``imac.devices``) in training and evaluation."""

    train: bool = Field(False, description="noise-aware training: draw fresh device variation/faults for "
                                           "every batch (needs non-zero variation or fault rates in "
                                           "policy.imac.devices)")
    eval_trials: int = Field(0, ge=0, description="at the end, evaluate this many seeded device draws and "
                                                  "report their mean/min accuracy (0 = ideal devices only)")


class CircuitLoopConfig(ConfigModel):
    """Circuit-in-the-loop training (:mod:`imaclab.nn.circuit_loop`): the IMAC layers' forward pass is
    the circuit of ``policy.imac`` (crossbars, parasitics, join, loading, neurons) as the fast solver
    solves it."""

    enabled: bool = Field(False, description="train and evaluate through the circuit (fast solver) instead of "
                                             "the ideal crossbar model")
    refresh_steps: int = Field(50, ge=1, description="rebuild and reduce the circuit of the current weights "
                                                     "every this many optimizer steps (always before an "
                                                     "evaluation); in between, cells changed since the last "
                                                     "programming enter as ideal cells")
    batch_size: int | None = Field(None, ge=1, description="samples the solver takes at once (None: its default)")
    array_backend: Literal["numpy", "torch"] = Field("numpy", description="the solver's arrays: numpy (CPU), or "
                                                                          "torch (a CUDA GPU when present)")
    device: str = Field("auto", description="torch backend's device: auto (cuda if available, else cpu), cpu, "
                                            "cuda, cuda:N")


class TrainJob(ConfigModel):
    """Everything that defines a training run (saved as the run folder's config.yaml)."""

    model: str = Field("lenet5", description="zoo model name (imaclab.nn.zoo.MODELS) or mlp-<in>-...-<out>")
    data: str = Field("fashion-mnist", description="data set name (imaclab.data.datasets.DATASETS)")
    data_root: str | None = Field(None, description="folder of the data files (mnist, cifar10; overrides "
                                                    "the Debian fashion-mnist location)")
    crop: int | None = Field(None, ge=1, description="centre crop to crop x crop pixels (20 -> 400 inputs)")
    resize: int | None = Field(None, ge=1, description="resize images to resize x resize pixels")
    policy: PrecisionPolicy | str = Field("tpu-imac", description=f"precision policy: a preset "
                                                                  f"({', '.join(POLICIES)}), a YAML file, or inline")
    epochs: int = Field(10, ge=1, description="training epochs")
    batch_size: int = Field(128, ge=1, description="training batch size")
    eval_batch_size: int = Field(1000, ge=1, description="evaluation batch size")
    lr: float = Field(1e-3, gt=0, description="peak learning rate")
    imac_lr_scale: float = Field(1.0, gt=0, description="learning-rate multiplier of the IMAC layers' latent "
                                                        "weights, biases and gains (binary/ternary latent "
                                                        "weights live in [-1, 1] and may need a larger step)")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="optimizer")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay (adamw: decoupled)")
    schedule: Literal["cosine", "constant", "step"] = Field(
        "cosine", description="learning-rate schedule over epochs: cosine decay to 0, constant, or x0.1 at 50%/75%")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy label smoothing")
    seed: int = Field(0, description="seed of initialization, shuffling, dropout, augmentation and noise")
    width: float = Field(1.0, gt=0, description="channel width multiplier of CNNs")
    hidden: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="hidden layer sizes of model 'mlp' (default [32]); a list or a comma-separated "
                          "string such as '120,84'")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between fully connected layers")
    augment: Literal["none", "crop-flip", "crop"] = Field(
        "none", description="training augmentation: random 4-pixel-padded crops (and horizontal flips)")
    train_samples: int | None = Field(None, ge=1, description="train on a seeded subset of this many samples")
    test_samples: int | None = Field(None, ge=1, description="evaluate on the first this many test samples "
                                                             "(None = the full test set)")
    noise: NoiseConfig = Field(default_factory=NoiseConfig, description="device noise in training/evaluation")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None = torch's default)")
    baseline: bool = Field(False, description="also train the FP32 twin (same config, policy fp32) in "
                                              "DIR/baseline and report the accuracy gap")
    circuit_loop: CircuitLoopConfig = Field(default_factory=CircuitLoopConfig,
                                            description="circuit-in-the-loop training (imaclab train --circuit)")
    init_from: str | None = Field(None, description="start from the trained weights of this run folder "
                                                    "(fine-tuning: imaclab train finetune --checkpoint RUN)")

    @field_validator("hidden", mode="before")
    @classmethod
    def _hidden_from_text(cls, value: Any) -> Any:
        # the command line's --hidden 120,84 (and a YAML '120,84' or a single number)
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",")]
            if not all(re.fullmatch(r"\d+", p) for p in parts):
                raise ValueError(f"'{value}' is not a comma-separated list of layer sizes (e.g. 32 or 120,84)")
            return [int(p) for p in parts]
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        return value

    @field_validator("model")
    @classmethod
    def _layers_have_units(cls, value: str) -> str:
        match = re.fullmatch(r"\s*mlp((?:-\d+)+)\s*", value, flags=re.IGNORECASE)
        if match and any(int(s) < 1 for s in match.group(1).strip("-").split("-")):
            raise ValueError(f"'{value}': every MLP layer needs at least one unit")
        return value

    def with_overrides(self, overrides: dict[str, Any]) -> TrainJob:
        """Dotted overrides; a path into ``policy`` (``policy.imac.inputs.mode``) first expands a preset name.

        The flat keys of earlier versions (``policy.imac.input_mode``, ``.input_threshold``,
        ``.amplifier_gain``) are read as their new paths (:data:`~imaclab.nn.imac_layers.LEGACY_SPEC_KEYS`).
        """
        from imaclab.nn.imac_layers import LEGACY_SPEC_KEYS

        overrides = dict(overrides)
        for old, (section, key) in LEGACY_SPEC_KEYS.items():
            if f"policy.imac.{old}" in overrides:
                new_key = "policy.imac." + ".".join(filter(None, (section, key)))
                overrides.setdefault(new_key, overrides.pop(f"policy.imac.{old}"))
        job = self
        if "policy" in overrides:
            job = ConfigModel.with_overrides(job, {"policy": overrides.pop("policy")})
        if isinstance(job.policy, str) and any(k.startswith("policy.") for k in overrides):
            job = job.model_copy(update={"policy": get_policy(job.policy)})
        return ConfigModel.with_overrides(job, overrides) if overrides else job

    def resolved(self) -> TrainJob:
        """A copy whose policy is the full PrecisionPolicy (so config.yaml is self-contained).

        Sweeps use it to expand a preset name so that axes reach inside the policy.
        """
        return self.model_copy(update={"policy": get_policy(self.policy), "model": canonical_model_name(self.model)})

    @property
    def precision_policy(self) -> PrecisionPolicy:
        return get_policy(self.policy)

    def baseline_config(self) -> TrainJob:
        """The FP32 twin: same model, data, budget and seed; no quantization, no device noise."""
        return self.model_copy(update={"policy": get_policy("fp32"), "baseline": False, "noise": NoiseConfig()})


def resume_command(run_dir: str | Path) -> str:
    """The command that resumes (or replays) the run in ``run_dir``."""
    run_dir = Path(run_dir)
    return f"imaclab train -c {run_dir / CONFIG_FILE} -o {run_dir}"


# ------------------------------------------------------------------------------ the result
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


@dataclass
class TrainResult(Result):
    """A training run: the job, its run folder, the report (``report.json``) and the model (when trained here)."""

    kind: ClassVar[str] = "train.run"

    job: TrainJob
    run_dir: Path
    report: dict[str, Any]
    #: The trained :class:`~imaclab.nn.zoo.ZooModel`; None for a result read back by :func:`load_result`.
    model: Any = field(default=None, repr=False)

    @property
    def test_accuracy(self) -> float | None:
        value = self.report.get("test_accuracy")
        return None if value is None else float(value)

    @property
    def status(self) -> str:
        return str(self.report.get("status", "complete"))

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.report)

    def metrics(self) -> dict[str, Scalar]:
        """Figures of the trained network (the sweep's columns); ``device_noise.*`` and the baseline's accuracy."""
        report = self.report
        out: dict[str, Scalar] = {k: report[k] for k in METRIC_KEYS if k in report}
        out.update(flat_scalars(report.get("device_noise_eval", {}), "device_noise."))
        if report.get("baseline"):
            out["baseline_test_accuracy"] = report["baseline"]["test_accuracy"]
        return out

    def tables(self) -> list[Table]:
        r = self.report
        rows = [("test accuracy", _pct(r.get("test_accuracy")))]
        if r.get("circuit_test_accuracy") is not None:
            loop = r.get("circuit_loop", {})
            crossbar = (loop.get("circuit") or {}).get("crossbar", "?")
            rows[0] = (f"test accuracy, circuit ({crossbar} crossbars, fast solver)", _pct(r["circuit_test_accuracy"]))
            rows.append(("same weights, ideal crossbar model", _pct(r.get("ideal_test_accuracy"))))
            rows.append(("circuit programmings", f"{loop.get('programmings', 0)} "
                                                 f"({loop.get('programming_seconds', 0.0):.1f} s)"))
        if r.get("baseline"):
            rows.append(("FP32 baseline", _pct(r["baseline"]["test_accuracy"])))
            if r.get("accuracy_drop_points") is not None:
                rows.append(("drop vs FP32", f"{r['accuracy_drop_points']:.2f} points"))
        noisy = r.get("device_noise_eval")
        if noisy:
            rows.append((f"with device noise ({noisy['trials']} draws)",
                         f"{100 * noisy['mean_accuracy']:.2f} % (min {100 * noisy['min_accuracy']:.2f})"))
        rows.append(("epochs", f"{r['epochs_completed']}/{r['epochs']}"))
        spe = r.get("seconds_per_epoch")
        rows.append(("seconds per epoch", "-" if spe is None else f"{spe:.1f}"))
        title = f"{r['model']} on {r['data']['name']} ({r['policy']})"
        return [Table(title, ("quantity", "value"), tuple(rows))]

    def notes(self) -> list[str]:
        lines = [f"export: {kind}: {path}" for kind, path in self.report.get("exports", {}).items()]
        report = self.files.get("report") or self.run_dir / REPORT_FILE
        lines.append(f"report: {report}")
        if not self.complete:
            lines.append(f"the run is incomplete ({self.status} after {self.report.get('epochs_completed', 0)} of "
                         f"{self.report.get('epochs')} epochs); resume it with: {resume_command(self.run_dir)}")
        return lines

    def write_files(self, out_dir: Path) -> dict[str, Path]:
        from imaclab.files import write_json

        files = {"report": write_json(Path(out_dir) / REPORT_FILE, self.report)}
        for kind, path in self.report.get("exports", {}).items():
            files[kind] = Path(path)
        return files

    def plot(self, out_dir: str | Path) -> dict[str, Path]:
        """``accuracy.png``: test and train accuracy per epoch (and the FP32 baseline's)."""
        if not self.report.get("history"):
            return {}
        from imaclab.report.train_plots import plot_accuracy

        files = {"accuracy": plot_accuracy(self.report, Path(out_dir) / CURVE_FILE)}
        self.files.update(files)
        return files


# ------------------------------------------------------------------------------ run / load
def run(job: TrainJob, *, out_dir: str | Path, progress: bool = False, resume: bool = True,
        observer: Any = None) -> TrainResult:
    """Train ``job`` into run folder ``out_dir`` and return its :class:`TrainResult`.

    A checkpoint in ``out_dir`` of the same job is resumed (``resume=False`` starts over);
    more ``epochs`` extend a finished run.  ``progress`` shows a bar per epoch on stderr
    (a plain line per epoch when stderr is not a terminal); ``observer`` (a
    :class:`~imaclab.nn.progress.TrainObserver`) replaces it.
    """
    from imaclab.files import check_writable_dir
    from imaclab.nn.progress import RichProgress
    from imaclab.nn.training import train

    if not isinstance(job, TrainJob):
        raise TypeError(f"run() takes a TrainJob, not {type(job).__name__}")
    job.resolved()  # an unknown model or policy fails here, before the folder is touched
    check_writable_dir(out_dir)
    if observer is None and progress:
        observer = RichProgress()
    return train(job, out_dir, resume=resume, observer=observer)


def load_result(run_dir: str | Path) -> TrainResult:
    """The :class:`TrainResult` of a run folder written by :func:`run` (without the model)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run folder not found")
    path = run_dir / REPORT_FILE
    if not path.is_file():
        if (run_dir / CHECKPOINT_FILE).is_file() or (run_dir / CONFIG_FILE).is_file():
            raise InputError(f"{run_dir}: the run is incomplete (stopped before it wrote report.json); "
                             f"resume it with: {resume_command(run_dir)}")
        raise InputError(f"{path}: no training run here; train into it first: imaclab train ... -o {run_dir}")
    try:
        report = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({getattr(err, 'msg', err)})") from None
    if not isinstance(report, dict) or not isinstance(report.get("config"), dict):
        raise InputError(f"{path}: not an imaclab training report")
    job = TrainJob.from_dict(report["config"], source=f"{path} (config)")
    files = {name: run_dir / file for name, file in (("config", CONFIG_FILE), ("report", REPORT_FILE),
                                                     ("accuracy", CURVE_FILE), ("summary", "summary.json"))
             if (run_dir / file).is_file()}
    return TrainResult(job=job, run_dir=run_dir, report=report, files=files)


# ------------------------------------------------------------------------------ catalogues
@dataclass
class Catalogue(Result):
    """A listing of names (``imaclab train models``, ``imaclab train policies``): one row of text each."""

    kind: ClassVar[str] = "train.catalogue"

    title: str
    rows: list[dict[str, str]]  # column -> cell, the same columns in every row

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": self.rows}

    def tables(self) -> list[Table]:
        columns = tuple(self.rows[0]) if self.rows else ()
        return [Table(self.title, columns, tuple(tuple(row.values()) for row in self.rows),
                      text_columns=len(columns))]


def model_zoo() -> Catalogue:
    """The model zoo (``imaclab train models``): name and the first paragraph of its builder's docstring."""
    rows = [{"name": name, "architecture": " ".join((builder.__doc__ or "").strip().split("\n\n")[0].split())}
            for name, builder in MODELS.items()]
    return Catalogue("model zoo (imaclab.nn.zoo)", rows)


def policy_presets() -> Catalogue:
    """The precision-policy presets (``imaclab train policies``): where conv and FC layers run, at what precision."""
    rows = []
    for name in POLICIES:
        p = get_policy(name)
        imac = (f"{p.imac.neuron.kind} neuron, {p.imac.inputs.mode} inputs, {p.imac.circuit.crossbar.rows}x"
                f"{p.imac.circuit.crossbar.columns} crossbars" if p.uses_imac else "-")
        rows.append({"policy": name, "conv": f"{p.conv.target} ({p.conv.weight.kind})",
                     "fc": f"{p.fc.target} ({p.fc.weight.kind})", "imac circuit": imac})
    return Catalogue("precision policies (imaclab.nn.policy)", rows)
