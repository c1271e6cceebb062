"""The one characterization cache (imaclab.cache): concurrent first runs, damaged files, failures."""

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imaclab.cache import cached
from imaclab.devices.neuron import NeuronConfig, NeuronCurve, load_neuron_curve
from imaclab.devices.transistors import TransistorModelConfig
from imaclab.errors import InputError, SimulationError
from imaclab.files import write_npz

LEVEL1_CARDS = """* generic level-1 MOSFETs
.model nch nmos level=1 vto=0.35 kp=200u lambda=0.05
.model pch pmos level=1 vto=-0.35 kp=80u lambda=0.05
"""


def _load(path: Path) -> float:
    try:
        with np.load(path) as z:
            value = float(z["x"])
    except Exception as err:  # noqa: BLE001 - any damage is a damaged file
        raise InputError(f"{path}: unreadable ({err})") from None
    if not np.isfinite(value):
        raise InputError(f"{path}: NaN")
    return value


def _save(value: float, path: Path) -> None:
    write_npz(path, x=np.float64(value))


def _slow_compute(log: str):
    def compute(workdir: Path) -> float:
        assert workdir.is_dir() and not any(workdir.iterdir())  # a private, empty folder
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        (workdir / "scratch.txt").write_text("x")
        time.sleep(1.0)
        return 42.0
    return compute


def _worker(cache_dir: str, log: str, queue) -> None:
    queue.put(cached("test table", "k1", _slow_compute(log), _load, _save, cache_dir=cache_dir))


def test_three_processes_compute_once_and_share_the_result(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    log = tmp_path / "computed.log"
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "cache"), str(log), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(queue.get(timeout=5) for _ in range(3)) == [42.0] * 3
    assert len(log.read_text().split()) == 1                       # characterized once
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert left == [".k1.lock", "k1.npz"]                          # no work folder, no temp file


def test_concurrent_first_runs_of_the_transistor_neuron(tmp_path):
    """Three processes on a fresh cache characterize a real (level-1) transistor neuron."""
    (tmp_path / "cards.lib").write_text(LEVEL1_CARDS)
    script = tmp_path / "run.py"
    script.write_text(
        "from imaclab.devices.neuron import NeuronConfig, load_neuron_curve\n"
        "from imaclab.devices.transistors import TransistorModelConfig\n"
        f"m = TransistorModelConfig(library='custom', model_lib={str(tmp_path / 'cards.lib')!r}, nmos='nch', "
        "pmos='pch')\n"
        "c = NeuronConfig(kind='transistor', models=m, offset_v=0.0, sweep_v=2.0, sweep_step_v=0.01)\n"
        "print(repr(float(load_neuron_curve(c)(1.0))))\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    procs = [subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    values = {o[0].strip() for o in outs}
    assert len(values) == 1 and 0.5 < float(values.pop()) < 0.8
    folder = tmp_path / "xdg" / "imaclab" / "neuron"
    assert len(list(folder.glob("*.npz"))) == 1
    assert not [p for p in folder.iterdir() if p.is_dir()]        # every work folder removed
    assert sum("imaclab: characterizing the transistor neuron curve" in o[1] for o in outs) == 1


@pytest.mark.parametrize("damage", ["truncated", "nan"])
def test_damaged_cache_file_is_characterized_again_with_a_notice(tmp_path, capfd, damage):
    calls = []

    def compute(workdir):
        calls.append(workdir)
        return 7.0

    path = tmp_path / "k.npz"
    assert cached("test table", "k", compute, _load, _save, cache_dir=tmp_path) == 7.0
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    else:
        write_npz(path, x=np.float64("nan"))
    capfd.readouterr()
    assert cached("test table", "k", compute, _load, _save, cache_dir=tmp_path) == 7.0
    err = capfd.readouterr().err
    assert len(calls) == 2
    notice = [ln for ln in err.splitlines() if "unreadable" in ln]
    assert len(notice) == 1 and "characterizing it again" in notice[0] and "Traceback" not in err
    assert _load(path) == 7.0


def test_damaged_neuron_curve_file_is_recharacterized(tmp_path, capfd):
    (tmp_path / "cards.lib").write_text(LEVEL1_CARDS)
    models = TransistorModelConfig(library="custom", model_lib=str(tmp_path / "cards.lib"), nmos="nch", pmos="pch")
    cfg = NeuronConfig(kind="transistor", models=models, offset_v=0.0, sweep_v=2.0, sweep_step_v=0.05)
    first = load_neuron_curve(cfg, tmp_path / "cache")
    (path,) = (tmp_path / "cache").glob("*.npz")
    curve = NeuronCurve.load(path)
    NeuronCurve(v_in=curve.v_in, v_out=np.full_like(curve.v_out, np.nan), vdd_v=0.8, source="x").save(path)
    with pytest.raises(InputError, match="NaN"):
        NeuronCurve.load(path)
    capfd.readouterr()
    again = load_neuron_curve(cfg, tmp_path / "cache")
    assert np.array_equal(again.v_out, first.v_out)
    assert "characterizing it again" in capfd.readouterr().err


def test_failed_characterization_keeps_its_work_folder_and_caches_nothing(tmp_path):
    def compute(workdir):
        (workdir / "neuron_dc.sp").write_text("* netlist")
        raise SimulationError(f"{workdir / 'neuron_dc.sp'}: did not converge")

    with pytest.raises(SimulationError) as info:
        cached("test table", "k", compute, _load, _save, cache_dir=tmp_path)
    kept = Path(str(info.value).split(":")[0])
    assert kept.is_file() and kept.parent.parent == tmp_path      # the netlist stays where the error says
    assert not (tmp_path / "k.npz").exists()
    assert cached("test table", "k", lambda w: 3.0, _load, _save, cache_dir=tmp_path) == 3.0


def test_characterization_prints_progress_to_stderr(tmp_path, capfd):
    cached("test table", "k", lambda w: 1.0, _load, _save, cache_dir=tmp_path)
    err = capfd.readouterr().err.splitlines()
    assert err[0].startswith("imaclab: characterizing the test table") and "characterized in" in err[-1]
