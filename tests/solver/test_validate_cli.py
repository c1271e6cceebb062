"""`imaclab imac validate` and `imac.evaluate(backend='fast')` at small size."""

from __future__ import annotations

import csv
import json

import numpy as np
from solver_helpers import needs_ngspice, random_model

from imaclab.cli import main
from imaclab.data.datasets import load_dataset
from imaclab.imac import ImacConfig, evaluate, save_npz


@needs_ngspice
def test_validate_command_prints_and_writes_the_figures(tmp_path, capsys):
    model = tmp_path / "m.npz"
    save_npz(random_model([64, 8, 10], seed=3, gains=(6.0, 4.0)), model)
    out = tmp_path / "validation.json"
    code = main(["imac", "validate", "--model", str(model), "--data", "digits", "--samples", "6",
                 "--neuron", "behavioral", "--crossbar", "16x8", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "max |dV_out|" in printed and "PASS" in printed
    rep = json.loads(out.read_text())
    assert rep["samples"] == 6 and rep["passed"]
    assert rep["max_output_diff_v"] < 1e-3 and rep["class_mismatches"] == 0
    assert rep["circuit"]["partitions"] == [[5, 1], [1, 2]]  # 65 rows / 16, 10 outputs / 8


@needs_ngspice
def test_fast_and_spice_backends_write_the_same_files(tmp_path):
    model = random_model([64, 8, 10], seed=4, gains=(6.0, 4.0))
    data = load_dataset("digits", split="test", flatten=True)
    base = ImacConfig().with_overrides({"neuron.kind": "behavioral", "circuit.crossbar.rows": 16,
                                        "circuit.crossbar.columns": 8, "simulation.samples": 5})
    rows = {}
    for backend in ("spice", "fast"):
        cfg = base.with_overrides({"simulation.backend": backend})
        res = evaluate(config=cfg, model=model, dataset=data, out_dir=tmp_path / backend, progress=False)
        assert res.ok.all()
        with open(tmp_path / backend / "samples.csv") as fh:
            rows[backend] = list(csv.DictReader(fh))
    assert rows["fast"][0].keys() == rows["spice"][0].keys()
    for a, b in zip(rows["fast"], rows["spice"]):
        assert a["predicted"] == b["predicted"]
        outs = [k for k in a if k.startswith("v_out")]
        np.testing.assert_allclose([float(a[k]) for k in outs], [float(b[k]) for k in outs], atol=1e-5)
        np.testing.assert_allclose(float(a["power_w"]), float(b["power_w"]), rtol=1e-5)


@needs_ngspice
def test_validate_job_returns_the_report_and_a_failed_check_exits_1(tmp_path, capsys, monkeypatch):
    from imaclab.imac import ValidateJob, ValidateResult, run
    from imaclab.imac import validate as validate_mod

    model = save_npz(random_model([64, 8, 10], seed=3, gains=(6.0, 4.0)), tmp_path / "m.npz")
    job = ValidateJob(model=str(model), samples=4).with_overrides(
        {"neuron.kind": "behavioral", "circuit.crossbar.rows": 16, "circuit.crossbar.columns": 8,
         "simulation.fast.batch_size": 2})
    result = run(job, out_dir=tmp_path / "v")
    assert isinstance(result, ValidateResult) and result.passed and result.samples == 4
    summary = json.loads((tmp_path / "v" / "summary.json").read_text())
    assert summary["kind"] == "imac.validate" and summary["passed"] and summary["model"] == str(model)
    assert ValidateJob.load(tmp_path / "v" / "config.yaml") == job
    monkeypatch.setattr(validate_mod, "MAX_OUTPUT_DIFF_V", -1.0)
    code = main(["imac", "validate", "-c", str(tmp_path / "v" / "config.yaml"), "-o", str(tmp_path / "r.json")])
    printed = capsys.readouterr().out
    assert code == 1 and "FAIL" in printed
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False
