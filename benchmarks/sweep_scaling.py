"""Sweep executor scaling: 200 points with 1 and 2 workers, local and Dask, in one run.

    .venv/bin/python benchmarks/sweep_scaling.py                  # 200 fast-backend IMAC points
    .venv/bin/python benchmarks/sweep_scaling.py --spec S.yaml --points 100 --executors local

The default points are IMAC evaluations on the fast solver: the base config of the
example study (examples/sweeps/imac_crossbar_study.yaml: a 64-32-10 digits MLP, trained
on first use by examples/train_digits_mlp.py) over 16x16 and 32x32 crossbars x 10
R_high/R_low ratios x 10 variation levels, with the behavioral neuron.  Two choices keep
the benchmark about the executor: the transistor neuron is characterized in ngspice for
every new load (each ratio) and cached on disk, so a first run would pay for
characterizations a second run finds cached; and the example's 128x128 tiles take ~20 s a
point, which would make the benchmark take an hour on two cores.
If ``imac.evaluate`` cannot run here, the script says why and falls back, clearly
labelled, to the tpu.simulate example.

Printed, from one run, per executor and worker count: the execution time (workers or
cluster already started), the start-up time, and the sum of per-point run times measured
inside the workers; then

* scaling efficiency ``E = T1 / (2 * T2)`` of the execution phase (and with start-up);
* executor overhead per point ``(T1 - sum run_s) / n`` with one worker, where ``run_s`` is
  the time inside the worker (config validation + the job): what the executor adds
  (IPC, scheduling, storing the row), since one worker leaves nothing in parallel;
* with two workers, how busy they were (``sum run_s / (2 T2)``: the executor's share of a
  loss) and how much longer a point took than with one worker (``sum run_s`` ratio: the
  CPU's share, when other processes compete for the two cores);
* a check that every run stored identical metrics.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from imaclab.errors import ImaclabError
from imaclab.sweep import ExecutorSettings, ResultStore, SweepSpec, load_spec, plan_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
IMAC_EXAMPLE = ROOT / "examples" / "sweeps" / "imac_crossbar_study.yaml"
TPU_EXAMPLE = ROOT / "examples" / "sweeps" / "tpu_simulate.yaml"
TRAIN_SCRIPT = ROOT / "examples" / "train_digits_mlp.py"
#: The benchmark's IMAC axes: 2 x 10 x 10 = 200 points.
IMAC_AXES = [
    {"zip": [{"field": "circuit.crossbar.rows", "values": [16, 32]},
             {"field": "circuit.crossbar.columns", "values": [16, 32]}]},
    {"var": "ratio", "logspace": {"start": 2, "stop": 50, "num": 10}},
    {"field": "devices.variation_sigma_pct", "linspace": {"start": 0, "stop": 30, "num": 10}},
]
#: Metrics that are wall-clock times of the backend, not results: left out of the identity check.
TIMING_METRICS = ("simulation_s", "simulation_s_per_sample")
#: Efficiency the issue asks for on a 2-core machine.
TARGET_EFFICIENCY = 0.80
DEFAULT_POINTS = 200


def imac_spec() -> SweepSpec:
    """The IMAC example's base and derived fields over the benchmark's axes, behavioral neuron."""
    example = load_spec(IMAC_EXAMPLE)
    base = {**example.base, "neuron": {"kind": "behavioral"}}
    return example.model_copy(update={"name": "sweep_scaling_imac", "base": base, "axes": SweepSpec.from_dict(
        {"target": example.target, "axes": IMAC_AXES}).axes})


def ensure_model(spec: SweepSpec) -> None:
    """Train the example network if its file is missing (about a minute)."""
    model = spec.base.get("model")
    if model and not Path(model).exists():
        print(f"  training the example network first: python {TRAIN_SCRIPT.relative_to(ROOT)} -o {model}")
        subprocess.run([sys.executable, str(TRAIN_SCRIPT), "-o", model], check=True, stdout=subprocess.DEVNULL)


def choose_spec(path: str | None) -> tuple[SweepSpec, str]:
    """The spec to benchmark and a label saying whether it is the intended one."""
    if path:
        return load_spec(path), f"{path}, as given with --spec"
    try:
        spec = imac_spec()
        ensure_model(spec)
        plan = plan_sweep(spec)
        plan.target.evaluate(plan.points[0].config)  # fails here if the fast backend cannot run
        return spec, "IMAC on the fast backend"
    except ImaclabError as err:
        print(f"  imac.evaluate is not usable here: {err}")
        return load_spec(TPU_EXAMPLE), "FALLBACK: tpu.simulate example, because imac.evaluate cannot run here"


def stored(directory: Path) -> tuple[dict[str, object], float]:
    """Metrics by key (timings left out), and the sum of the per-point run times inside the workers."""
    with ResultStore.open_existing(directory) as store:
        rows = list(store.rows())
    results = {row["key"]: (row["status"], {k: v for k, v in row["metrics"].items() if k not in TIMING_METRICS})
               for row in rows}
    return results, sum(row["run_s"] for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", help="sweep spec to benchmark instead of the IMAC points")
    parser.add_argument("--points", type=int, default=DEFAULT_POINTS, help="points to run (the spec's first N)")
    parser.add_argument("--executors", default="local,dask", help="executors to measure: local, dask or both")
    args = parser.parse_args(argv)
    executors = [e.strip() for e in args.executors.split(",") if e.strip()]

    spec, label = choose_spec(args.spec)
    plan = plan_sweep(spec)
    n = min(args.points, len(plan.points))
    print(f"{label}: target {plan.target.name}, {n} of {len(plan.points)} points")

    settings = {"local": lambda w: ExecutorSettings(workers=w), "dask": lambda w: ExecutorSettings(dask_local=w)}
    runs = [(name, workers, settings[name](workers)) for name in executors for workers in (1, 2)]
    results: dict[tuple[str, int], dict[str, float]] = {}
    reference = None
    with tempfile.TemporaryDirectory(prefix="imaclab-sweep-scaling-") as tmp:
        for name, workers, settings in runs:
            directory = Path(tmp) / f"{name}-{workers}"
            summary = run_sweep(spec=spec, directory=directory, executor=settings, limit=n)
            if summary.ran != n:
                raise SystemExit(f"{name} x{workers}: ran {summary.ran} of {n} points")
            metrics, inside = stored(directory)
            same = "reference" if reference is None else ("identical" if metrics == reference else "DIFFERENT")
            reference = reference if reference is not None else metrics
            execution = summary.wall_s - summary.startup_s
            results[(name, workers)] = {"exec": execution, "wall": summary.wall_s, "inside": inside}
            print(f"{name:5s} x{workers}: execution {execution:7.2f} s, start-up {summary.startup_s:5.2f} s, "
                  f"sum of run_s in workers {inside:7.2f} s ({inside / n * 1e3:.1f} ms/point), "
                  f"{summary.ok} ok / {summary.failed} failed, metrics {same}", flush=True)
    print()
    for name in ("local", "dask"):
        if (name, 1) not in results:
            continue
        one, two = results[(name, 1)], results[(name, 2)]
        efficiency = one["exec"] / (2 * two["exec"])
        with_startup = one["wall"] / (2 * two["wall"])
        overhead = (one["exec"] - one["inside"]) / n
        busy = two["inside"] / (2 * two["exec"])
        slowdown = two["inside"] / one["inside"]
        verdict = "meets" if efficiency >= TARGET_EFFICIENCY else "BELOW"
        print(f"{name:5s}: scaling efficiency 1->2 workers E = {efficiency:.1%} ({verdict} the "
              f"{TARGET_EFFICIENCY:.0%} target); with start-up {with_startup:.1%}; executor overhead "
              f"{overhead * 1e3:.2f} ms/point; with 2 workers they were busy {busy:.1%} of the time and a "
              f"point took {slowdown:.2f}x as long as with 1 (CPU shared with other processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
