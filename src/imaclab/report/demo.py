"""The end-to-end default job behind ``make demo`` / ``imaclab demo``.

One pipeline of small stages, each calling one room's public entry point and writing its
own sub-folder of the report; a summary (``summary.json``, ``README.md``) and one HTML page
(``index.html``, :mod:`imaclab.report.html`) index them:

1. ``train``   -- a 64-32-10 MLP with binary IMAC weights and the IMAC neuron as activation,
   trained on the embedded digits set, beside its FP32 twin (:mod:`imaclab.nn.training`).
2. ``imac-fast`` -- its exported circuit (32x32 crossbars, parasitics on) on the whole digits
   test set with the fast solver (:func:`imaclab.imac.evaluate`, backend ``fast``).
3. ``imac-spice`` -- the same circuit in ngspice (operating point) on a few samples.
4. ``tpu``     -- ResNet-18's convolutions on the 32x32 edge systolic array (SCALE-Sim reports).
5. ``llm``     -- Amdahl's law for 1-bit projections over a few LLMs, contexts and arrays.

A stage that fails with a user error is recorded in the summary and the later stages still
run, so nothing already computed is lost; the job then reports the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from imaclab.errors import ImaclabError, SimulationError
from imaclab.files import write_json, write_text
from imaclab.report.html import INDEX_FILE, write_index

#: the demo's network: the classic small IMAC benchmark (64 inputs of 8x8 digits, 32 hidden, 10 classes)
DEMO_MODEL = "mlp-64-32-10"
#: training budget of the demo network (about a second per epoch on one core)
DEMO_TRAIN = {"model": DEMO_MODEL, "data": "digits", "policy": "tpu-imac", "epochs": 15, "batch_size": 32,
              "lr": 0.03, "threads": 1, "baseline": True}
#: ngspice samples in the demo (each SPICE sample takes about a second for this network)
DEMO_SPICE_SAMPLES = 20
DEMO_LLM = {"models": ["gpt2-medium", "opt-1.3b", "llama-2-7b", "llama-2-70b"], "contexts": [128, 512, 2048],
            "hardware": ["edge", "cloud"], "phases": ["decode"]}


@dataclass
class DemoResult:
    """What each stage produced (metrics and files), and the errors of stages that failed."""

    out_dir: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "stages": self.stages, "errors": self.errors,
                "seconds": self.seconds}


def _train(out: Path, _: DemoResult) -> dict[str, Any]:
    from imaclab.nn import TrainJob, run

    report = run(TrainJob().with_overrides(DEMO_TRAIN), out_dir=out).report
    return {"test_accuracy": report["test_accuracy"],
            "fp32_baseline_accuracy": report.get("baseline", {}).get("test_accuracy"),
            "epochs": report["epochs_completed"], "imac_model": report["exports"]["imac"],
            "plot": str(out / "accuracy.png")}


def _imac(backend: str, samples: int | None) -> Callable[[Path, DemoResult], dict[str, Any]]:
    def stage(out: Path, demo: DemoResult) -> dict[str, Any]:
        from imaclab.imac import ImacJob, run
        from imaclab.imac.api import parse_crossbar, parse_parasitics

        model = demo.stages.get("train", {}).get("imac_model")
        if model is None:
            raise SimulationError("no trained model to evaluate (the train stage failed)")
        job = ImacJob(model=str(model), data="digits").with_overrides({
            **parse_crossbar("32x32"), **parse_parasitics("on"), "neuron.kind": "behavioral",
            "simulation.backend": backend, **({"simulation.samples": samples} if samples else {})})
        summary = run(job, out_dir=out).to_dict()
        keep = ("accuracy", "software_accuracy", "samples", "mean_power_w", "mean_latency_s",
                "simulation_s_per_sample", "crossbars_per_layer")
        return {key: summary[key] for key in keep if key in summary}

    return stage


def _tpu(out: Path, _: DemoResult) -> dict[str, Any]:
    from imaclab.systolic import TpuJob, run

    result = run(TpuJob(systolic="edge-32x32", topology="resnet18"), out_dir=out)
    totals = result.totals
    return {"layers": len(result.reports), "total_cycles": int(totals["total_cycles"]),
            "stall_cycles": int(totals["stall_cycles"]), "latency_s": totals["latency_s"],
            "overall_utilization": totals["overall_utilization"]}


def _llm(out: Path, _: DemoResult) -> dict[str, Any]:
    from imaclab.llm import AmdahlJob, StudyResult, run

    result = cast(StudyResult, run(AmdahlJob(**DEMO_LLM), out_dir=out))  # singledispatch: the study's result
    return {"cases": len(result.rows), "headline": result.to_dict()["headline"],
            "files": {k: str(v) for k, v in result.files.items()}}


STAGES: tuple[tuple[str, Callable[[Path, DemoResult], dict[str, Any]]], ...] = (
    ("train", _train),
    ("imac-fast", _imac("fast", 10_000)),  # the whole test split
    ("imac-spice", _imac("spice", DEMO_SPICE_SAMPLES)),
    ("tpu", _tpu),
    ("llm", _llm),
)


def _write_summary(demo: DemoResult) -> None:
    write_json(demo.out_dir / "summary.json", {"kind": "demo", **demo.to_dict()})
    lines = ["# imaclab demo report", ""]
    for name, _ in STAGES:
        if name in demo.errors:
            lines.append(f"- **{name}**: FAILED: {demo.errors[name]}")
        elif name in demo.stages:
            flat = {k: v for k, v in demo.stages[name].items() if not isinstance(v, (dict, list))}
            lines.append(f"- **{name}** ({demo.seconds[name]:.1f} s, folder `{name}/`): "
                         + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                     for k, v in flat.items()))
    lines += ["", "Open `index.html` in a browser: every stage's figures, tables and plots on one page."]
    write_text(demo.out_dir / "README.md", "\n".join(lines) + "\n")
    write_index(demo.out_dir)


def run_demo(*, out_dir: str | Path = "report", log: Callable[[str], None] = print) -> DemoResult:
    """Run every stage into ``out_dir``; raise the first stage error after all stages ran."""
    demo = DemoResult(Path(out_dir))
    demo.out_dir.mkdir(parents=True, exist_ok=True)
    for name, stage in STAGES:
        log(f"[demo] {name} ...")
        started = time.perf_counter()
        try:
            demo.stages[name] = stage(demo.out_dir / name, demo)
        except ImaclabError as err:
            demo.errors[name] = str(err)
            log(f"[demo] {name} failed: {err}")
        demo.seconds[name] = time.perf_counter() - started
        _write_summary(demo)  # after every stage: an interrupted demo keeps what it computed (and its page)
    log(f"[demo] report: {(demo.out_dir / INDEX_FILE).resolve()}")
    if demo.errors:
        first = next(iter(demo.errors))
        raise SimulationError(f"demo stage '{first}' failed: {demo.errors[first]} "
                              f"(the other stages' results are in {demo.out_dir})")
    return demo
