"""End to end: tiny trained runs (the training room), the IMAC part through the fast solver, files, CLI."""

from __future__ import annotations

import csv
import json

import pytest

from imaclab.cli import main
from imaclab.hetero import CompareResult, HeteroCompareJob, HeteroJob, HeteroResult, run
from imaclab.nn import TrainJob
from imaclab.nn import run as train

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
    train(TrainJob(**TINY, policy="tpu-imac"), out_dir=root / "tpu-imac")
    train(TrainJob(**TINY, policy="tpu-int8"), out_dir=root / "tpu-int8")
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


# ------------------------------------------------------------------------------ the API shape
def _err_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("imaclab: error:")]


def test_run_returns_the_figures_of_the_cli_summary(runs, tmp_path, capsys):
    code = main(["hetero", "evaluate", "--checkpoint", str(runs), "--model", "vgg_small", "--data", "digits",
                 "--tpu", "edge", "--samples", "20", "--no-pipeline", "--set", "handoff.dac.bits=6",
                 "-o", str(tmp_path / "cli")])
    assert code == 0
    captured = capsys.readouterr()
    # progress without a terminal: one plain line per stage on stderr
    assert "hetero: vgg-small: measuring the IMAC part" in captured.err
    assert "speedup" in captured.out and "vgg-small on tpu-imac (edge-32x32)" in captured.out
    saved = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert saved["kind"] == "hetero.evaluate"
    api = run(HeteroJob(checkpoint=str(runs), model="vgg_small", data="digits", tpu="edge", pipeline=False)
              .with_overrides({"accuracy.test_samples": 20, "handoff.dac.bits": 6}))
    assert isinstance(api, HeteroResult) and not api.files
    assert api.summary() == pytest.approx(saved["summary"])
    metrics = api.metrics()
    for key, value in saved["summary"].items():  # the sweep's columns: every summary entry, same names
        assert metrics[key] == pytest.approx(value)
    # config.yaml replays the run with -c
    assert HeteroJob.load(tmp_path / "cli" / "config.yaml") == api.job
    assert main(["hetero", "evaluate", "-c", str(tmp_path / "cli" / "config.yaml"), "-o", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["summary"] == pytest.approx(saved["summary"])


def test_job_yaml_round_trip(tmp_path):
    one = HeteroJob(checkpoint="runs/vgg-small", tpu_checkpoint="runs/x", data="digits", model="vgg_small",
                    tpu="cloud").with_set(["tpu_overrides.dataflow=ws", "accuracy.test_samples=7"])
    assert one.tpu_overrides["dataflow"] == "ws"
    many = HeteroCompareJob(models="lenet5, vgg_small", runs_dir="runs", pipeline=False)
    assert many.models == ["lenet5", "vgg_small"]
    for job_, name in ((one, "one.yaml"), (many, "many.json")):
        assert type(job_).load(job_.save(tmp_path / name)) == job_
    # a HeteroConfig file is a valid job config (the run folders come from the command line)
    assert HeteroJob.load(HeteroJob().save(tmp_path / "plain.yaml")).checkpoint is None


def test_the_example_sweep_spec_is_a_valid_job():
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(__file__).parents[2] / "examples" / "sweeps" / "hetero_evaluate.yaml").read_text())
    base = HeteroJob.from_dict(spec["base"])
    for axis in spec["axes"]:
        for item in axis.get("zip", [axis]):
            for value in item["values"]:
                base.with_overrides({item["field"]: value})


def test_run_refuses_other_objects():
    from imaclab.errors import ConfigError
    from imaclab.hetero import HeteroConfig

    with pytest.raises(ConfigError, match="HeteroJob"):
        run(HeteroConfig())
    with pytest.raises(ConfigError, match="no checkpoint"):
        run(HeteroJob())


def test_cli_errors_are_one_line(runs, tmp_path, capsys, read_only_dir):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    cases = [
        (["hetero", "evaluate", "--checkpoint", str(runs), "--set", "energy.mac_j", "-o", str(tmp_path / "a")],
         "dotted.path=value"),
        (["hetero", "evaluate", "--checkpoint", str(runs), "-c", str(tmp_path / "nope.yaml")], "config file not found"),
        (["hetero", "evaluate", "-o", str(tmp_path / "b")], "no checkpoint"),
        (["hetero", "evaluate", "--checkpoint", str(runs), "--backend", "bogus", "-o", str(tmp_path / "c")],
         "backend"),
        (["hetero", "evaluate", "--checkpoint", str(runs), "-o", str(a_file)], "not a folder"),
        (["hetero", "evaluate", "--checkpoint", str(runs), "-o", str(read_only_dir / "out")], str(read_only_dir)),
        (["hetero", "compare", "--runs", str(runs.parent), "--models", "bogusnet", "-o", str(tmp_path / "d")],
         "bogusnet"),
        (["hetero", "compare", "--runs", str(tmp_path / "no-runs"), "-o", str(tmp_path / "e")], "runs folder"),
        (["hetero", "compare", "--runs", str(runs.parent), "--models", "vgg_small", "-o", str(a_file)],
         "not a folder"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err, (argv, err)
    assert a_file.read_text() == "x"


def test_cli_compare_exit_codes(runs, tmp_path, capsys):
    # every model failed: exit 2, one error line summing up
    assert main(["hetero", "compare", "--runs", str(runs.parent), "--models", "resnet18,lenet5",
                 "-o", str(tmp_path / "none")]) == 2
    captured = capsys.readouterr()
    errors = _err_lines(captured.err)
    assert len(errors) == 1 and "all 2 models failed (resnet18, lenet5)" in errors[0]
    assert (tmp_path / "none" / "compare.csv").is_file()
    # some failed: exit 0, the failures listed
    assert main(["hetero", "compare", "--runs", str(runs.parent), "--models", "vgg_small,resnet18", "--samples", "5",
                 "-o", str(tmp_path / "some")]) == 0
    captured = capsys.readouterr()
    assert not _err_lines(captured.err)
    assert "resnet18 failed:" in captured.out and "1 of 2 models failed (resnet18)" in captured.out
    assert "hetero: compare: model 1/2: vgg-small" in captured.err
    summary = json.loads((tmp_path / "some" / "summary.json").read_text())
    assert summary["kind"] == "hetero.compare" and [r["status"] for r in summary["rows"]] == ["ok", "failed"]
    assert (tmp_path / "some" / "vgg-small" / "summary.json").is_file()


def test_compare_result_metrics(runs):
    res = run(HeteroCompareJob(models=["vgg_small", "resnet18"], runs_dir=str(runs.parent))
              .with_overrides({"accuracy.test_samples": 5}))
    assert isinstance(res, CompareResult)
    m = res.metrics()
    assert (m["models"], m["models_ok"], m["models_failed"]) == (2, 1, 1)
    assert m["vgg-small.speedup"] == pytest.approx(res.results["vgg-small"].summary()["speedup"])
    assert m["resnet18.status"] == "failed"


def test_trained_run_costed_on_a_tile(runs, tmp_path, monkeypatch):
    """imac_costs: tiles: the circuit run still measures the IMAC part, but the costs of its layers come from
    the characterized tile (32-32-10 head on 8x8 tiles: ceil(33/8) x ceil(32/8) = 20 and ceil(33/8) x 2 = 10)."""
    from imaclab.imac import tiles

    monkeypatch.setattr(tiles, "default_tile_cache_dir", lambda: tmp_path)
    res = run(job(runs, None, ["accuracy.enabled=false", "accuracy.latency_samples=2", "imac_costs=tiles",
                               "imac_tile.size=8", "imac_tile.samples=3"]))
    tile = tiles.characterize_tile(tiles.TileSpec(size=8, samples=3), cache_dir=tmp_path)
    imac = [c for c in res.comparison.designs["tpu-imac"].layers if c.unit == "imac"]
    assert [c.imac_crossbars for c in imac] == [20, 10]
    for cost in imac:
        assert cost.energy_imac_j == pytest.approx(cost.imac_crossbars * tile.analog_j, rel=1e-12)
        assert cost.latency_s == pytest.approx(tile.settling_s, rel=1e-12)
    assert any("imac_costs: tiles" in w for w in res.warnings)
    assert res.imac is not None and res.imac.latency_s > 0   # the network's own run is still measured
