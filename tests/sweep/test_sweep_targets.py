"""Sweeps over the real targets: each row equals the room's own library call on that config."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.errors import ConfigError
from imaclab.sweep import ExecutorSettings, ResultStore, SweepSpec, plan_sweep, run_sweep

TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 18, 18, 3, 3, 3, 8, 1,
Conv2, 9, 9, 3, 3, 8, 16, 2,
"""
# MACs of the two layers: ofmap pixels x filter volume x filters (18-3+1 = 16; (9-3)/2+1 = 4)
TOPOLOGY_MACS = 16 * 16 * 3 * 3 * 3 * 8 + 4 * 4 * 3 * 3 * 8 * 16


def rows_by_index(directory) -> dict[int, dict]:
    with ResultStore.open_existing(directory) as store:
        return {row["point_index"]: row for row in store.rows()}


@pytest.fixture
def topology(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TOPOLOGY)
    return path


def tpu_spec(topology, axes, **base) -> SweepSpec:
    return SweepSpec.from_dict({"name": "tpu", "target": "tpu.simulate",
                                "base": {"systolic": "edge-32x32", "topology": str(topology), **base},
                                "axes": axes})


def test_tpu_simulate_rows_equal_the_systolic_model(tmp_path, topology):
    from imaclab.systolic import TpuJob, run
    from imaclab.systolic.config import SystolicConfig
    from imaclab.systolic.model import simulate_topology
    from imaclab.systolic.report import summarize
    from imaclab.systolic.topology import load_topology

    axes = [{"zip": [{"field": "systolic.array_rows", "values": [4, 8, 16]},
                     {"field": "systolic.array_cols", "values": [4, 8, 16]}]},
            {"field": "systolic.dataflow", "values": ["os", "ws", "is"]}]
    summary = run_sweep(spec=tpu_spec(topology, axes), directory=tmp_path / "s", executor=ExecutorSettings(workers=2))
    assert (summary.ok, summary.failed) == (9, 0)
    layers = load_topology(topology)
    for index, row in rows_by_index(tmp_path / "s").items():
        cfg = SystolicConfig.preset("edge-32x32").with_overrides(
            {k.removeprefix("systolic."): v for k, v in row["overrides"].items()})
        direct = summarize(simulate_topology(cfg, layers))
        metrics = row["metrics"]
        assert {k: metrics[k] for k in direct} == pytest.approx(direct), index
        # the rest of the row is the energy totals, equal to the room's own run of that job
        energy = {k: v for k, v in metrics.items() if k not in direct}
        assert energy and all(k.startswith("energy_") and k.endswith("_j") for k in energy), index
        own = run(TpuJob(systolic=cfg, topology=str(topology))).to_dict()["energy"]
        assert energy == pytest.approx({k: own[k] for k in energy}), index
        assert set(energy) == {k for k in own if k != "parameters"}, index
        assert energy["energy_j"] > 0
        assert energy["energy_j"] == pytest.approx(sum(energy[f"energy_{p}_j"]
                                                       for p in ("mac", "sram", "dram", "leakage"))), index
        assert metrics["macs"] == TOPOLOGY_MACS
        pes = row["overrides"]["systolic.array_rows"] * row["overrides"]["systolic.array_cols"]
        assert metrics["overall_utilization"] == pytest.approx(TOPOLOGY_MACS / (metrics["total_cycles"] * pes))
        assert metrics["total_cycles"] * pes >= TOPOLOGY_MACS  # no array does more than one MAC per PE-cycle


def test_validation_against_the_real_config_names_the_axis(topology):
    with pytest.raises(ConfigError) as err:
        plan_sweep(tpu_spec(topology, [{"field": "systolic.rows", "values": [8]}]))
    assert str(err.value).startswith("axis 'systolic.rows': no field 'rows' under 'systolic'")
    assert "array_rows" in str(err.value)
    with pytest.raises(ConfigError, match=r"axis 'systolic.array_rows' value 0: Input should be greater than or "
                                          r"equal to 1"):
        plan_sweep(tpu_spec(topology, [{"field": "systolic.array_rows", "values": [8, 0]}]))
    with pytest.raises(ConfigError, match=r"axis 'systolic.dataflow' value 'xs'"):
        plan_sweep(tpu_spec(topology, [{"field": "systolic.dataflow", "values": ["os", "xs"]}]))


def test_dask_local_cluster_of_two_gives_the_rows_of_local(tmp_path, topology):
    axes = [{"field": "topology", "values": [str(topology), str(tmp_path / "missing.csv")]},
            {"random": {"samples": 6, "seed": 2024, "fields": [
                {"field": "systolic.array_rows", "integers": [2, 32]},
                {"field": "systolic.array_cols", "integers": [2, 32]},
                {"field": "systolic.dataflow", "choice": ["os", "ws", "is"]}]}}]
    local = run_sweep(spec=tpu_spec(topology, axes), directory=tmp_path / "local",
                      executor=ExecutorSettings(workers=2))
    dask = run_sweep(spec=tpu_spec(topology, axes), directory=tmp_path / "dask",
                     executor=ExecutorSettings(dask_local=2))
    assert (dask.executor, dask.workers) == ("dask", 2)
    assert (local.ok, local.failed) == (dask.ok, dask.failed) == (6, 6)
    stable = ("key", "point_index", "status", "config", "metrics", "error_type", "error")
    a, b = rows_by_index(tmp_path / "local"), rows_by_index(tmp_path / "dask")
    assert {i: {c: r[c] for c in stable} for i, r in a.items()} == {i: {c: r[c] for c in stable} for i, r in b.items()}
    assert all("missing.csv' not found" in r["error"] for r in a.values() if r["status"] == "failed")


def _random_digits_mlp(path, hidden: int = 8, seed: int = 0):
    from imaclab.imac import MLPModel, save_npz

    rng = np.random.default_rng(seed)
    model = MLPModel(weights=(np.sign(rng.normal(size=(64, hidden))), np.sign(rng.normal(size=(hidden, 10)))),
                     biases=(np.sign(rng.normal(size=hidden)), np.sign(rng.normal(size=10))), weight_kind="binary")
    return save_npz(model, path)


@pytest.mark.slow
def test_imac_evaluate_rows_equal_direct_evaluation(tmp_path):
    from imaclab.imac import ImacConfig, evaluate, load_mlp
    from imaclab.data.datasets import load_dataset

    model = _random_digits_mlp(tmp_path / "mlp.npz")
    base = {"model": str(model), "data": "digits", "neuron": {"kind": "behavioral"},
            "simulation": {"backend": "spice", "samples": 4, "spice": {"workers": 1}}}
    spec = SweepSpec.from_dict({"target": "imac.evaluate", "base": base, "axes": [{"var": "ratio", "values": [3, 10]}],
                                "derived": {"devices.r_high_ohm": "devices.r_low_ohm * ratio"}})
    summary = run_sweep(spec=spec, directory=tmp_path / "s", executor=ExecutorSettings(workers=2))
    assert (summary.ok, summary.failed) == (2, 0)
    data = load_dataset("digits", split="test", flatten=True)
    for row in rows_by_index(tmp_path / "s").values():
        config = ImacConfig.from_dict({k: v for k, v in row["config"].items()
                                       if k not in ("model", "data", "data_root", "crop", "resize")})
        direct = evaluate(config=config, model=load_mlp(model), dataset=data, progress=False)
        assert row["metrics"]["accuracy"] == direct.accuracy
        assert row["metrics"]["mean_power_w"] == pytest.approx(float(np.mean(direct.total_power_w)))
    powers = [r["metrics"]["power_w.crossbars"] for r in rows_by_index(tmp_path / "s").values()]
    assert powers[0] != powers[1]  # R_high changed with the ratio, so did the crossbar power


@pytest.mark.slow
def test_train_rows_equal_direct_training(tmp_path):
    from imaclab.nn.api import TrainJob
    from imaclab.nn.training import train

    base = {"model": "mlp", "hidden": [16], "crop": 14, "epochs": 1, "train_samples": 400, "test_samples": 200,
            "threads": 1, "lr": 0.01}
    spec = SweepSpec.from_dict({"target": "train", "base": base, "axes": [{"field": "seed", "values": [0, 1]}]})
    summary = run_sweep(spec=spec, directory=tmp_path / "s", executor=ExecutorSettings(workers=2))
    assert (summary.ok, summary.failed) == (2, 0)
    for row in rows_by_index(tmp_path / "s").values():
        direct = train(TrainJob.from_dict(row["config"]), tmp_path / f"direct-{row['point_index']}")
        assert row["metrics"]["test_accuracy"] == direct.test_accuracy
        assert (tmp_path / "s" / "points" / row["key"][:16] / "train" / "report.json").is_file()


def test_llm_amdahl_rows_follow_amdahls_law_and_equal_the_study(tmp_path):
    from imaclab.llm.study import StudyConfig, run_study

    spec = SweepSpec.from_dict({"target": "llm.amdahl", "base": {"model": "llama-2-7b", "hardware": "edge",
                                                                     "tile": {"size": 16}},
                                "axes": [{"field": "phase", "values": ["decode", "prefill"]},
                                         {"field": "context", "values": [256, 1024]},
                                         {"field": "s", "values": [2, 16]}]})
    summary = run_sweep(spec=spec, directory=tmp_path / "s", executor=ExecutorSettings(workers=2))
    assert (summary.ok, summary.failed) == (8, 0)
    rows = rows_by_index(tmp_path / "s")
    for row in rows.values():
        m, s = row["metrics"], row["config"]["s"]
        assert m["speedup"] == pytest.approx(1 / ((1 - m["f"]) + m["f"] / s), rel=1e-12)
        assert m["ceiling"] == pytest.approx(1 / (1 - m["f"]), rel=1e-12)
        assert 1 < m["speedup"] < m["ceiling"]
    study = run_study(config=StudyConfig(models=["llama-2-7b"], contexts=[256, 1024], hardware=["edge"],
                                         phases=["decode", "prefill"], factors=[2, 16], tile={"size": 16}))
    f_study = {(r["phase"], r["context"]): r["f_systolic"] for r in study.rows}
    f_sweep = {(r["config"]["phase"], r["config"]["context"]): r["metrics"]["f"] for r in rows.values()}
    assert f_sweep == pytest.approx(f_study)
    # decode reads every weight per token: the projection share falls as the context grows
    assert f_sweep[("decode", 1024)] < f_sweep[("decode", 256)]


def test_sweep_example_rows_equal_the_systolic_room(tmp_path):
    """examples/sweep_api.py sweeps TpuJobs; its fastest design equals the room's own run on that job."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from imaclab.systolic import TpuJob, run

    example = Path(__file__).resolve().parents[2] / "examples" / "sweep_api.py"
    out = subprocess.run([sys.executable, str(example), str(tmp_path)], capture_output=True, text=True,
                         timeout=300, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert "9 ok, 0 failed of 9 points" in out.stdout
    rows, cols, dataflow, cycles = re.search(r"fastest: (\d+)x(\d+) (\w+) total_cycles=(\d+)", out.stdout).groups()
    job = TpuJob(systolic="edge-32x32", topology="gpt2_decoder_layer").with_overrides(
        {"systolic.array_rows": int(rows), "systolic.array_cols": int(cols), "systolic.dataflow": dataflow})
    assert run(job).metrics()["total_cycles"] == int(cycles)
