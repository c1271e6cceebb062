"""The HTML report of real run folders, opened in headless Debian Chromium.

The run folders are made by the real commands on small inputs (a 3-layer ResNet-18 slice on
the systolic array, two LLMs at two contexts, a 64-32-10 MLP trained for 3 epochs and its
circuit on 20 samples, the TPU-IMAC comparison, a 12-point probe sweep), gathered in one
demo-like folder whose page is screenshotted at 1280 px for a person to look at.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from sweep_probe_target import PROBE

from imaclab.cli import main
from imaclab.report import demo as demo_module
from imaclab.report.format import format_value
from imaclab.report.html import INDEX_FILE, detect_kind, render_page, view_of, write_index
from imaclab.report.sweep_page import _spec_objectives
from imaclab.result import flat_scalars
from imaclab.sweep.results import results_frame, sweep_status

#: one xdist worker builds the run folders and runs the browser (`make test` runs `--dist loadgroup`)
pytestmark = pytest.mark.xdist_group("report-html")

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = ROOT / "src/imaclab/systolic/topologies/resnet18.csv"


def _cli(*args: str) -> None:
    assert main([str(a) for a in args]) == 0, args


def _summary(folder: Path) -> dict:
    for name in ("summary.json", "report.json", "study.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text())
    return {}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    """A demo-like report folder: every stage a real run folder, written by ``run_demo`` with small stages."""
    work = tmp_path_factory.mktemp("report-inputs")
    topology = work / "resnet18-3.csv"
    topology.write_text("".join(TOPOLOGY.read_text().splitlines(keepends=True)[:4]))
    spec = work / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "probe",
                "target": PROBE,
                "axes": [{"field": "terms", "values": [1, 2, 4, 8]}, {"field": "x", "values": [0.5, 1.0, 2.0]}],
                "derived": {"raise_error": "terms == 8 and x == 2.0"},
            },
            sort_keys=False,
        )
    )

    def train(out: Path, _):
        _cli("train", "-m", "mlp-64-32-10", "-d", "digits", "-p", "tpu-imac", "-e", "3", "--baseline", "-o", out)
        _cli(
            "train",
            "-m",
            "mlp-64-32-10",
            "-d",
            "digits",
            "-p",
            "tpu-int8",
            "-e",
            "1",
            "--no-baseline",
            "-o",
            work / "int8",
        )
        return {"test_accuracy": _summary(out)["test_accuracy"], "imac_model": str(out / "imac.npz")}

    def imac(out: Path, demo):
        _cli(
            "imac",
            "run",
            "--model",
            demo.stages["train"]["imac_model"],
            "--backend",
            "fast",
            "--samples",
            "20",
            "-o",
            out,
        )
        return {"accuracy": _summary(out)["accuracy"], "mean_power_w": _summary(out)["mean_power_w"]}

    def tpu(out: Path, _):
        _cli("tpu", "simulate", "-c", "edge-32x32", "-t", topology, "-o", out)
        return {"total_cycles": _summary(out)["totals"]["total_cycles"]}

    def llm(out: Path, _):
        _cli("llm", "amdahl", "--models", "gpt2-medium,opt-1.3b", "--contexts", "128,512", "-o", out)
        return {"cases": _summary(out)["cases"]}

    def hetero(out: Path, demo):
        _cli(
            "hetero",
            "evaluate",
            "--checkpoint",
            Path(demo.stages["train"]["imac_model"]).parent,
            "--tpu-checkpoint",
            work / "int8",
            "--samples",
            "20",
            "-o",
            out,
        )
        return {}

    def sweep(out: Path, _):
        _cli("sweep", "run", spec, "-o", out, "-j", "1", "--no-progress")
        return {}

    out = tmp_path_factory.mktemp("demo") / "report"
    stages = (("train", train), ("imac-fast", imac), ("tpu", tpu), ("llm", llm), ("hetero", hetero), ("sweep", sweep))
    logged: list[str] = []
    original = demo_module.STAGES
    demo_module.STAGES = stages
    try:
        demo_module.run_demo(out_dir=out, log=logged.append)
    finally:
        demo_module.STAGES = original
    assert logged[-1] == f"[demo] report: {(out / INDEX_FILE).resolve()}"
    return out


def test_kinds_are_read_from_the_files(demo_dir):
    kinds = {
        name: view_of(detect_kind(demo_dir / name)) for name in ("train", "imac-fast", "tpu", "llm", "hetero", "sweep")
    }
    assert kinds == {
        "train": "train",
        "imac-fast": "imac.run",
        "tpu": "tpu.simulate",
        "llm": "llm.amdahl",
        "hetero": "hetero.evaluate",
        "sweep": "sweep",
    }
    assert detect_kind(demo_dir) == "demo"
    assert view_of(detect_kind(demo_dir / "train" / "baseline")) == "train"


def test_page_is_self_contained(demo_dir):
    text = (demo_dir / INDEX_FILE).read_text()
    # nothing loaded from elsewhere (plotly.js itself mentions URLs; the browser test checks no request is made)
    assert 'src="http' not in text and "<script src=" not in text and "<link " not in text
    assert text.count("Plotly.newPlot") >= 8
    # the demo page holds every stage's section and its own summary
    for name in ("train", "imac-fast", "tpu", "llm", "hetero", "sweep"):
        assert f'data-path="{(demo_dir / name).resolve()}"' in text


def test_cli_report_writes_the_page(demo_dir, tmp_path, capsys):
    out = tmp_path / "tpu.html"
    assert main(["report", str(demo_dir / "tpu"), "-o", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(demo_dir / "llm")]) == 0
    assert (demo_dir / "llm" / INDEX_FILE).is_file()


def test_cli_report_errors_are_one_line(demo_dir, tmp_path, capsys, read_only_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, message in (
        (["report", str(tmp_path / "missing")], "no such folder"),
        (["report", str(empty)], "no run here"),
        (["report", str(demo_dir / "tpu"), "-o", str(tmp_path)], "is a folder"),
        (["report", str(demo_dir / "tpu"), "-o", str(read_only_dir / "x.html")], ""),
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("imaclab: error:") and err.count("\n") == 1 and message in err, err


def test_new_and_unknown_kinds_render_from_their_files(tmp_path):
    """A run folder of a kind this page has no special view for: its figures with units, config and CSVs."""
    run = tmp_path / "workload"
    run.mkdir()
    (run / "config.yaml").write_text("model: gpt2-medium\ncontext: 256\n")
    (run / "layers.csv").write_text("name,cycles,latency_s\nqkv,1200,6e-06\nffn,4800,2.4e-05\n")
    (run / "summary.json").write_text(
        json.dumps({"kind": "llm.workload", "cycles_total": 123456, "tokens_per_s": 12.3456789, "latency_s": 1.2e-3})
    )
    assert detect_kind(run) == "llm.workload"
    text = render_page(run)
    for shown in ("123,456 cycles", "12.35 tokens/s", "1.2 ms", "model: gpt2-medium", "24 µs", "4,800 cycles"):
        assert shown in text, shown
    assert "12.3456789" not in text.replace('data-value="12.3456789"', "")
    # a folder of runs: a section per run, a table of contents, an unfinished run said to be one
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "config.yaml").write_text("model: opt-1.3b\n")
    assert detect_kind(tmp_path / "later") == "unfinished"
    path = write_index(tmp_path)
    page = path.read_text()
    assert path == tmp_path / INDEX_FILE and 'class="toc"' in page and "an unfinished run" in page
    assert "<script>" in page and "Plotly.newPlot" not in page  # no plot here: no plotly.js either
    assert len(page) < 200_000


def test_sweep_page_mid_run(tmp_path):
    """A sweep stopped part-way: its page shows the points done and the ones still pending."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "half",
                "target": PROBE,
                "axes": [{"field": "terms", "values": [1, 2, 3, 4]}, {"field": "x", "values": [0.5, 1.5]}],
            },
            sort_keys=False,
        )
    )
    assert main(["sweep", "run", str(spec), "-o", str(tmp_path / "s"), "--limit", "5", "--no-progress"]) == 0
    text = " ".join(re.sub("<[^>]+>", " ", render_page(tmp_path / "s")).split())
    assert "5 done, 0 failed, 0 running, 3 pending of 8 planned" in text
    assert "Pareto front of series (max) and metric.error (min) -- the first two varying metrics" in text


def test_sweep_page_while_it_runs(tmp_path):
    """Opened while the sweep runs: points done so far, one running, the rest pending, the run marked RUNNING."""
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "slow",
                "target": PROBE,
                "base": {"delay_s": 0.4},
                "axes": [{"field": "terms", "values": [1, 2, 3, 4, 5, 6, 7, 8]}],
            },
            sort_keys=False,
        )
    )
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests/sweep"), *sys.path])}
    client = subprocess.Popen(
        [sys.executable, "-m", "imaclab", "sweep", "run", str(spec), "-o", str(out), "-j", "1", "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (out / "results.sqlite").is_file() and results_frame(out).shape[0] >= 1:
                break
            time.sleep(0.1)
        text = " ".join(re.sub("<[^>]+>", " ", render_page(out)).split())
        done = int(re.search(r"(\d+) done, 0 failed, 1 running, (\d+) pending of 8 planned", text).group(1))
        assert 1 <= done < 8 and "RUNNING" in text
    finally:
        assert client.wait(timeout=120) == 0, client.stderr.read()
    text = " ".join(re.sub("<[^>]+>", " ", render_page(out)).split())
    assert "8 done, 0 failed, 0 running, 0 pending of 8 planned" in text and "RUNNING" not in text


def test_objectives_named_by_the_spec():
    assert _spec_objectives("objectives: accuracy:max,mean_power_w:min") == [
        ("accuracy", "max"),
        ("mean_power_w", "min"),
    ]
    assert _spec_objectives("pareto: {objectives: [speedup:max, energy_j:min]}") == [
        ("speedup", "max"),
        ("energy_j", "min"),
    ]
    assert _spec_objectives("objectives: [{metric: a, sense: max}, {metric: b, sense: min}]") == [
        ("a", "max"),
        ("b", "min"),
    ]
    assert _spec_objectives("axes: []") == []


# ------------------------------------------------------------------------------ in the browser
def _check_page(browser, path: Path, screenshot: Path | None = None, min_checked: int = 2) -> dict:
    info, errors, page = browser.open(path, screenshot=screenshot)
    try:
        assert errors == [], errors
        assert info["plots"], "no plot on the page"
        for plot in info["plots"]:
            assert plot["svg"] and plot["traces"] > 0 and plot["marks"] > 0, plot
            assert plot["width"] > 200 and plot["height"] > 200, plot
        for image in info["images"]:
            assert image["complete"] and image["width"] > 0, image
        # the headline figures are summary.json's
        checked = 0
        for headline in info["headlines"]:
            if not headline["source"].endswith(".json"):
                continue
            flat = flat_scalars(json.loads((Path(headline["run"]) / headline["source"]).read_text()))
            value = flat[headline["key"]]
            assert math.isclose(float(headline["value"]), float(value)), headline
            if not headline["label"].startswith(("Lowest", "Highest")):
                assert headline["text"] == format_value(headline["key"], value), headline
            checked += 1
        assert checked >= min_checked
        # no float with 16 digits anywhere a person reads
        assert not re.search(r"\d\.\d{7,}", info["text"]), re.search(r".{30}\d\.\d{7,}.{10}", info["text"])
        return {"info": info, "page": page}
    except BaseException:
        page.close()
        raise


def test_demo_page_in_browser(browser, demo_dir, tmp_path_factory):
    shot = tmp_path_factory.mktemp("screenshots") / "demo-report-1280.png"
    result = _check_page(browser, demo_dir / INDEX_FILE, screenshot=shot)
    page, info = result["page"], result["info"]
    try:
        assert {"demo", "train", "imac.run", "tpu.simulate", "llm.amdahl", "hetero.evaluate", "sweep"} <= {
            view_of(kind) for kind in info["sections"]
        }
        assert len(info["plots"]) >= 8 and len(info["images"]) >= 5
        # the demo's stage figures equal the stages' own summaries
        summary = json.loads((demo_dir / "summary.json").read_text())
        assert summary["stages"]["tpu"]["total_cycles"] == _summary(demo_dir / "tpu")["totals"]["total_cycles"]
        # sorting a table: the TPU layers by total cycles, then reversed
        table = page.locator(f'section[data-path="{(demo_dir / "tpu").resolve()}"] table.sortable').first
        header = table.locator("th", has_text="Total cycles")

        def column() -> list[float]:
            index = table.locator("thead th").all_inner_texts().index(header.inner_text().strip(" ▲▼"))
            return [
                float(cell.get_attribute("data-v"))
                for cell in table.locator(f"tbody tr td:nth-child({index + 1})").all()
            ]

        before = column()
        header.click()
        assert column() == sorted(before)
        header.click()
        assert column() == sorted(before, reverse=True)
        # hover shows a sweep point's config
        scatter = page.locator(f'section[data-path="{(demo_dir / "sweep").resolve()}"] .plotly-graph-div').first
        assert "terms = " in json.dumps(scatter.evaluate("el => el.data[0].text"))
        # hovering a point shows its label
        point = scatter.locator("g.trace.scatter path.point").first
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        for dx in (-1, 0):  # two moves: plotly hovers on mousemove
            page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2)
        hover = scatter.locator(".hoverlayer .hovertext").first
        hover.wait_for(timeout=5000)
        assert "terms = " in hover.text_content()
        # the speedup curves: clicking a model in the legend hides its curves
        llm = page.locator(f'section[data-path="{(demo_dir / "llm").resolve()}"]')
        curves = llm.locator(".plotly-graph-div").last
        item = curves.locator("g.traces", has=page.locator(".legendtext", has_text="gpt2-medium"))
        item.locator("rect.legendtoggle").click()
        page.wait_for_function(
            "el => el.data.filter(t => t.legendgroup === 'gpt2-medium').every(t => t.visible === 'legendonly')",
            arg=curves.element_handle(),
        )
    finally:
        page.close()
    assert shot.stat().st_size > 50_000
    # pytest removes old tmp dirs: a copy stays where a person finds it (IMACLAB_SCREENSHOTS overrides)
    keep = Path(os.environ.get("IMACLAB_SCREENSHOTS", Path(tempfile.gettempdir()) / "imaclab-screenshots"))
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / shot.name)
    print(f"\nscreenshot of the demo-like report at 1280 px: {keep / shot.name}")


@pytest.mark.parametrize("stage", ["tpu", "llm", "train", "imac-fast", "hetero", "sweep"])
def test_run_page_in_browser(browser, demo_dir, stage):
    write_index(demo_dir / stage)
    result = _check_page(browser, demo_dir / stage / INDEX_FILE, min_checked=0 if stage == "sweep" else 2)
    result["page"].close()
    if stage == "sweep":  # its headlines are the store's counts
        status = sweep_status(directory=demo_dir / stage)
        shown = {h["key"]: h["value"] for h in result["info"]["headlines"] if h["source"] == "sweep"}
        assert (
            (int(shown["ok"]), int(shown["failed"]), int(shown["pending"]), int(shown["planned"]))
            == (status.ok, status.failed, status.pending, status.planned)
            == (11, 1, 0, 12)
        )
