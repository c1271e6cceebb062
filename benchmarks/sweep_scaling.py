"""Sweep executor scaling: the same points with 1 and 2 workers, local and Dask, in one run.

    .venv/bin/python benchmarks/sweep_scaling.py                 # 200 fast-backend IMAC points
    .venv/bin/python benchmarks/sweep_scaling.py --spec S.yaml --points 100

The points are the first ``--points`` of an example spec: by default the IMAC
crossbar study on the fast backend (examples/sweeps/imac_crossbar_study.yaml).  If
``imac.evaluate`` is not available in this install, the script says so and falls back,
clearly labelled, to the next available example (tpu.simulate, then llm.amdahl).

Printed, from one run:

* ``T_serial``: the points evaluated one after another in this process, no executor;
* per executor and worker count: execution time (runners / cluster already started),
  start-up time, and the sum of per-point run times inside the workers;
* scaling efficiency ``E = T1 / (2 * T2)`` of the execution phase (and with start-up);
* executor overhead per point ``(T1 - T_serial) / n`` (one worker, so no parallelism hides it);
* a check that every run stored identical metrics.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imaclab.errors import ImaclabError
from imaclab.sweep import ExecutorSettings, ResultStore, load_spec, plan_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "sweeps"
#: Example specs tried in order: the IMAC study first (the benchmark's subject), then fallbacks.
CANDIDATES = (("imac.evaluate", EXAMPLES / "imac_crossbar_study.yaml"),
              ("tpu.simulate", EXAMPLES / "tpu_simulate.yaml"),
              ("llm.amdahl", EXAMPLES / "llm_amdahl.yaml"))
#: Efficiency the issue asks for on a 2-core machine.
TARGET_EFFICIENCY = 0.80
DEFAULT_POINTS = 200


#: The IMAC example's network, trained on first use by the example's own script.
TRAIN_SCRIPT = ROOT / "examples" / "train_digits_mlp.py"


def ensure_model(plan) -> None:
    """Train the IMAC example's network if its file is missing (about a minute)."""
    model = plan.points[0].config.get("model") if plan.target.name == "imac.evaluate" else None
    if model and not Path(model).exists():
        print(f"  training the example network first: {TRAIN_SCRIPT.relative_to(ROOT)} -o {model}")
        subprocess.run([sys.executable, str(TRAIN_SCRIPT), "-o", model], check=True, stdout=subprocess.DEVNULL)


def choose_spec(path: str | None) -> tuple[Path, str]:
    """The spec to benchmark and a label saying whether it is the intended one.

    A candidate counts as available when its first point evaluates in this process.
    """
    if path:
        return Path(path), "as given with --spec"
    reasons = []
    for target, candidate in CANDIDATES:
        try:
            plan = plan_sweep(load_spec(candidate))
            ensure_model(plan)
            plan.target.evaluate(plan.points[0].config)
        except ImaclabError as err:
            reasons.append(f"{target}: {err}")
            continue
        label = "the intended IMAC study" if target == "imac.evaluate" else (
            f"FALLBACK to {target} because imac.evaluate is not available here")
        for reason in reasons:
            print(f"  unavailable: {reason}")
        return candidate, label
    raise SystemExit("no example sweep target is available:\n  " + "\n  ".join(reasons))


def stored_metrics(directory: Path) -> dict[str, object]:
    with ResultStore.open_existing(directory) as store:
        return {row["key"]: (row["status"], row["metrics"]) for row in store.rows()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", help="sweep spec to benchmark (default: the IMAC example, else a fallback)")
    parser.add_argument("--points", type=int, default=DEFAULT_POINTS, help="points to run (the spec's first N)")
    parser.add_argument("--no-dask", action="store_true", help="local executor only")
    args = parser.parse_args(argv)

    spec_path, label = choose_spec(args.spec)
    spec = load_spec(spec_path)
    plan = plan_sweep(spec)
    points = plan.points[:args.points]
    n = len(points)
    print(f"spec {spec_path.relative_to(ROOT) if spec_path.is_relative_to(ROOT) else spec_path} "
          f"({label}): target {plan.target.name}, {n} of {len(plan.points)} points")

    # In-process reference: the same points, no executor.
    target = plan.target
    start = time.perf_counter()
    per_point = []
    for point in points:
        t0 = time.perf_counter()
        target.evaluate(point.config, Path(tempfile.mkdtemp(prefix="imaclab-bench-")) if target.uses_workdir
                        else None)
        per_point.append(time.perf_counter() - t0)
    serial = time.perf_counter() - start
    print(f"T_serial (one process, no executor): {serial:.2f} s = {serial / n * 1e3:.2f} ms/point "
          f"(median {statistics.median(per_point) * 1e3:.2f} ms)")

    runs = [("local", 1, ExecutorSettings(workers=1)), ("local", 2, ExecutorSettings(workers=2))]
    if not args.no_dask:
        runs += [("dask", 1, ExecutorSettings(dask_local=1)), ("dask", 2, ExecutorSettings(dask_local=2))]
    results: dict[tuple[str, int], dict[str, float]] = {}
    reference = None
    with tempfile.TemporaryDirectory(prefix="imaclab-sweep-scaling-") as tmp:
        for name, workers, settings in runs:
            directory = Path(tmp) / f"{name}-{workers}"
            summary = run_sweep(spec=spec, directory=directory, executor=settings, limit=n)
            if summary.ran != n:
                raise SystemExit(f"{name} x{workers}: ran {summary.ran} of {n} points")
            with ResultStore.open_existing(directory) as store:
                inside = sum(row["run_s"] for row in store.rows())
            metrics = stored_metrics(directory)
            same = "reference" if reference is None else ("identical" if metrics == reference else "DIFFERENT")
            reference = reference or metrics
            execution = summary.wall_s - summary.startup_s
            results[(name, workers)] = {"exec": execution, "wall": summary.wall_s}
            print(f"{name:5s} x{workers}: execution {execution:7.2f} s, start-up {summary.startup_s:5.2f} s, "
                  f"sum of run_s in workers {inside:7.2f} s, {summary.ok} ok / {summary.failed} failed, "
                  f"metrics {same}")
    print()
    for name in ("local", "dask"):
        if (name, 1) not in results:
            continue
        one, two = results[(name, 1)], results[(name, 2)]
        efficiency = one["exec"] / (2 * two["exec"])
        with_startup = one["wall"] / (2 * two["wall"])
        overhead = (one["exec"] - serial) / n
        verdict = "meets" if efficiency >= TARGET_EFFICIENCY else "BELOW"
        print(f"{name:5s}: scaling efficiency 1->2 workers E = {efficiency:.1%} ({verdict} the "
              f"{TARGET_EFFICIENCY:.0%} target); with start-up {with_startup:.1%}; executor overhead "
              f"{overhead * 1e3:+.2f} ms/point")
    return 0


if __name__ == "__main__":
    sys.exit(main())
