"""End to end: tiny trained runs (the training room), the IMAC part through the fast solver, files, CLI."""

from __future__ import annotations

import csv
import json

import pytest

from imaclab.cli import main
from imaclab.hetero import CompareResult, HeteroCompareJob, HeteroJob, HeteroResult, run
from imaclab.nn.training import TrainConfig, train

# VGG-small at 1/8 width on the 8x8 digits: six convolutions (8-8-16-16-32-32 channels) and a 32-32-10
# crossbar head, small enough for the fast solver to reduce in a second; ~97 % accurate after 3 epochs.
TINY = dict(model="vgg-small", data="digits", width=0.125, epochs=3, batch_size=32, lr=0.01, threads=1, seed=0)
SAMPLES = 100


def job(checkpoint, samples=None, set_items=(), **fields) -> HeteroJob:
    """A HeteroJob of ``checkpoint``, ``samples`` test images, ``--set`` items."""
    out = HeteroJob(checkpoint=str(checkpoint), **fields)
    if samples is not None:
        out = out.with_overrides({"accuracy.test_samples": samples})
    return out.with_set(list(set_items))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A model folder with a TPU-IMAC run and a TPU-only 8-bit run of the same tiny VGG-small."""
    root = tmp_path_factory.mktemp("runs") / "vgg-small"
    train(TrainConfig(**TINY, policy="tpu-imac"), root / "tpu-imac")
    train(TrainConfig(**TINY, policy="tpu-int8"), root / "tpu-int8")
    return root


@pytest.fixture(scope="module")
def result(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("hetero")
    return run(job(runs, SAMPLES, data="digits"), out_dir=out)


def test_evaluate_run_scores_both_designs_on_the_same_images(result):
    acc = result.accuracy
    assert acc["samples"] == SAMPLES
    for key in ("tpu_only", "tpu_imac_circuit", "tpu_imac_digital"):
        assert 0.0 <= acc[key] <= 1.0
    assert acc["backend"] == "fast"
    # a trained network, and the circuit agrees with the digital twin of the same mapped network
    assert acc["tpu_only"] > 0.8 and acc["tpu_imac_digital"] > 0.8
    assert acc["circuit_software_agreement"] > 0.9
    assert abs(acc["tpu_imac_circuit"] - acc["tpu_imac_digital"]) < 0.1
    imac = result.imac
    assert imac.layer_sizes == [32, 32, 10]
    assert imac.crossbars_per_layer == [2, 2]  # 33 rows (bias included) over 32-row crossbars
    assert imac.power_w > 0 and imac.latency_s > 0
    assert [m.name for m in imac.measurements] == [f"classifier.layers.{i}" for i in range(2)]
    assert sum(m.latency_s for m in imac.measurements) == pytest.approx(imac.latency_s)


def test_costs_of_the_trained_run(result):
    only, imac = result.comparison.designs["tpu-only"], result.comparison.designs["tpu-imac"]
    assert [c.unit for c in imac.layers].count("imac") == 2
    # the convolutions cost the same in both designs
    conv_only = [c.tpu_cycles for c in only.layers if c.kind == "conv"]
    conv_imac = [c.tpu_cycles for c in imac.layers if c.kind == "conv"]
    assert conv_only == conv_imac and len(conv_only) == 6
    imac_energy = sum(c.energy_imac_j for c in imac.layers)
    assert imac_energy == pytest.approx(result.imac.power_w * result.imac.latency_s)
    summary = result.summary()
    assert summary["speedup"] == pytest.approx(only.latency_s / imac.latency_s)
    assert 0 < summary["memory_reduction"] < 1


def test_result_files(result):
    files = result.files
    for key in ("layers", "summary_csv", "summary", "config", "latency_plot", "summary_plot"):
        assert files[key]
    with open(files["layers"]) as fh:
        rows = list(csv.DictReader(fh))
    designs = {r["design"] for r in rows}
    assert designs == {"tpu-only", "tpu-imac"}
    totals = [r for r in rows if r["position"] == "total"]
    assert len(totals) == 2
    data = json.loads(open(files["summary"]).read())
    assert data["summary"]["model"] == "vgg-small"
    assert data["published"]["speedup_max"] == 2.59
    assert HeteroJob.load(files["config"]) == result.job


def test_compare_keeps_going_past_a_missing_model(runs, tmp_path):
    res = run(HeteroCompareJob(models="vgg_small,resnet18", runs_dir=str(runs.parent), data="digits"
                               ).with_overrides({"accuracy.test_samples": 10}), out_dir=tmp_path)
    status = {r["model"]: r["status"] for r in res.rows}
    assert status == {"vgg-small": "ok", "resnet18": "failed"}
    assert (tmp_path / "compare.csv").is_file() and (tmp_path / "compare.png").is_file()


def test_cli_evaluate_and_errors(runs, tmp_path, capsys):
    code = main(["hetero", "evaluate", "--model", "vgg_small", "--checkpoint", str(runs), "--data", "digits",
                 "--tpu", "edge", "--samples", "10", "-o", str(tmp_path / "cli")])
    assert code == 0
    assert "speedup" in capsys.readouterr().out
    assert (tmp_path / "cli" / "summary.json").is_file()
    assert main(["hetero", "evaluate", "--checkpoint", str(tmp_path / "nope"), "-o", str(tmp_path / "x")]) == 2
    assert main(["hetero", "evaluate", "--checkpoint", str(runs), "--model", "resnet18", "-o",
                 str(tmp_path / "y")]) == 2
    assert main(["hetero", "evaluate", "--checkpoint", str(runs), "--set", "energy.bogus=1", "-o",
                 str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err
    assert err.count("imaclab: error:") == 3


@pytest.mark.slow
def test_imac_settling_time_from_ngspice_matches_the_solver_in_magnitude(runs):
    spice = run(job(runs, 3, ["accuracy.latency_backend=spice", "accuracy.latency_samples=2"], data="digits"))
    solver = run(job(runs, 3, data="digits"))
    assert "ngspice transient" in spice.imac.latency_source
    assert "fast" in solver.imac.latency_source
    assert spice.imac.latency_s > 0 and solver.imac.latency_s > 0
    assert 0.2 < spice.imac.latency_s / solver.imac.latency_s < 5


def test_a_failing_circuit_run_keeps_the_tpu_costs(runs, tmp_path):
    code = main(["hetero", "evaluate", "--checkpoint", str(runs), "--samples", "3",
                 "--set", "accuracy.latency_backend=spice",
                 "--set", "imac.simulation.spice.ngspice_path=/nonexistent/ngspice", "-o", str(tmp_path)])
    assert code == 2
    partial = json.loads((tmp_path / "partial.json").read_text())
    assert partial["status"] == "failed" and partial["designs"]["tpu-only"]["latency_s"] > 0


def test_scoring_on_other_data_than_trained_is_refused(runs):
    from imaclab.errors import InputError

    with pytest.raises(InputError, match="trained on digits"):
        run(job(runs, 5, data="fashion-mnist"))


def test_costs_only_mode_measures_imac_on_a_few_images(runs):
    res = run(job(runs, None, ["accuracy.enabled=false", "accuracy.latency_samples=2"]))
    assert res.accuracy["samples"] is None and res.summary()["tpu_only_accuracy"] is None
    assert res.imac.samples == 3 and res.imac.latency_s > 0
    assert res.summary()["speedup"] > 0
