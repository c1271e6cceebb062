"""ngspice processes never outlive their caller; an interrupted batch run keeps what finished;
one way to name the executable (IMACLAB_NGSPICE or the spice config field)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imaclab.devices.ngspice_io import find_ngspice, run_ngspice
from imaclab.errors import SimulationError

REPO = Path(__file__).resolve().parents[2]
NGSPICE = shutil.which("ngspice")
needs_ngspice = pytest.mark.skipif(NGSPICE is None, reason="ngspice not installed")

# an RC transient of 1e10 steps that saves nothing before t = 9.9 s: runs for hours, writes nothing
LONG_NETLIST = "* long\nV1 a 0 SIN(0 1 1k)\nR1 a b 1k\nC1 b 0 1n\n.save v(b)\n.tran 1n 10 9.9\n.end\n"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _children(pid: int) -> list[int]:
    """Live (non-zombie) processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _is_ngspice(pid: int) -> bool:
    try:
        return "ngspice" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@needs_ngspice
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_ngspice_dies_with_its_parent(tmp_path, sig):
    (tmp_path / "long.sp").write_text(LONG_NETLIST)
    script = ("import sys\nfrom imaclab.devices.ngspice_io import run_ngspice\n"
              f"run_ngspice({str(tmp_path / 'long.sp')!r}, timeout_s=3600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], env=_env(), stderr=subprocess.PIPE)
    try:
        kids = _wait_for(lambda: [pid for pid in _children(parent.pid) if _is_ngspice(pid)])
        assert kids, "ngspice did not start"
        (ngspice_pid,) = kids
        parent.send_signal(sig)
        parent.wait(10)
        assert _wait_for(lambda: not _alive(ngspice_pid), 5.0), "ngspice outlived its parent"
    finally:
        parent.kill()
        parent.wait()


@needs_ngspice
def test_interrupt_while_waiting_kills_ngspice(tmp_path):
    (tmp_path / "long.sp").write_text(LONG_NETLIST)
    script = ("from imaclab.devices.ngspice_io import run_ngspice\n"
              "try:\n"
              f"    run_ngspice({str(tmp_path / 'long.sp')!r}, timeout_s=3600)\n"
              "except KeyboardInterrupt:\n"
              "    print('interrupted', flush=True)\n"
              "    import time; time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        # wait until the child is ngspice itself (exec done), not the fork still inside Popen
        (ngspice_pid,) = _wait_for(lambda: [pid for pid in _children(parent.pid) if _is_ngspice(pid)])
        parent.send_signal(signal.SIGINT)
        assert parent.stdout.readline().strip() == "interrupted"
        assert not _alive(ngspice_pid)          # gone while the parent still lives
    finally:
        parent.kill()
        parent.wait()


@needs_ngspice
def test_ctrl_c_during_a_batch_run_keeps_the_finished_batches(tmp_path):
    # a stand-in ngspice (named the one way: IMACLAB_NGSPICE) that runs batch 0 and hangs on the others
    fake = tmp_path / "slow-ngspice"
    fake.write_text(f'#!/bin/sh\ncase "$*" in *batch_0000*) exec {NGSPICE} "$@";; *) exec sleep 300;; esac\n')
    fake.chmod(0o755)
    work = tmp_path / "work"
    script = f"""
import sys
import numpy as np
sys.path.insert(0, {str(REPO / 'tests')!r})
from conftest import _binary_model, _small_config
from imaclab.circuit import build_circuit
from imaclab.spice import SpiceInterrupted, SpiceOptions, run_spice
circ = build_circuit(_small_config(), _binary_model([6, 5, 3]))
v = np.random.default_rng(0).choice([-0.8, 0.8], size=(6, 6))
try:
    run_spice(circuit=circ, samples_v=v, options=SpiceOptions(samples_per_netlist=2, workers=2),
              workdir={str(work)!r}, progress=False)
except SpiceInterrupted as err:
    print(err, file=sys.stderr)
    print(err.partial.ok.tolist(), flush=True)
    sys.exit(err.exit_code)
"""
    env = {**_env(), "IMACLAB_NGSPICE": str(fake)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        # two workers: batch 1 hangs at once; once batch 2 hangs too, batch 0 has finished
        def sleepers():
            found = [p for p in _children(proc.pid) if "sleep" in Path(f"/proc/{p}/cmdline").read_text()]
            return found if len(found) == 2 else []

        hanging = _wait_for(sleepers, 30)
        assert hanging, proc.stderr.read() if proc.poll() is not None else "no batch started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: 1 of 3 ngspice batches finished (2 of 6 samples)" in err
    assert str(work / "partial.npz") in err and "Traceback" not in err
    assert out.strip() == str([True, True, False, False, False, False])
    with np.load(work / "partial.npz") as z:
        assert z["ok"].tolist() == [True, True, False, False, False, False]
        assert np.isfinite(z["outputs"][:2]).all() and np.isnan(z["outputs"][2:]).all()
    assert all(not _alive(p) for p in hanging)


def test_one_way_to_name_ngspice(tmp_path, monkeypatch):
    monkeypatch.setenv("IMACLAB_NGSPICE", "/nonexistent/ngspice-env")
    with pytest.raises(SimulationError) as info:
        find_ngspice()
    msg = str(info.value)
    assert "'/nonexistent/ngspice-env' from IMACLAB_NGSPICE" in msg
    assert "IMACLAB_NGSPICE=/path/to/ngspice" in msg and "--set simulation.spice.ngspice_path=" in msg
    assert "\n" not in msg
    if NGSPICE:
        assert find_ngspice(NGSPICE) == NGSPICE                   # an explicit path wins over the variable
        monkeypatch.setenv("IMACLAB_NGSPICE", NGSPICE)
        assert find_ngspice() == NGSPICE
    monkeypatch.delenv("IMACLAB_NGSPICE")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SimulationError, match="'ngspice' on PATH.*IMACLAB_NGSPICE"):
        find_ngspice()


@needs_ngspice
def test_characterization_honours_imaclab_ngspice(tmp_path, monkeypatch):
    from imaclab.devices.neuron import NeuronConfig, load_neuron_curve
    from imaclab.devices.transistors import TransistorModelConfig

    (tmp_path / "cards.lib").write_text(".model nch nmos level=1 vto=0.35 kp=200u\n"
                                        ".model pch pmos level=1 vto=-0.35 kp=80u\n")
    models = TransistorModelConfig(library="custom", model_lib=str(tmp_path / "cards.lib"), nmos="nch", pmos="pch")
    cfg = NeuronConfig(models=models, sweep_v=1.0, sweep_step_v=0.05)
    monkeypatch.setenv("IMACLAB_NGSPICE", "/nonexistent/ngspice")
    with pytest.raises(SimulationError, match="IMACLAB_NGSPICE"):
        load_neuron_curve(cfg, tmp_path / "cache")
    monkeypatch.setenv("IMACLAB_NGSPICE", NGSPICE)
    assert load_neuron_curve(cfg, tmp_path / "cache").v_out.size == 41


@needs_ngspice
def test_timeout_names_the_set_key(tmp_path):
    (tmp_path / "long.sp").write_text(LONG_NETLIST)
    with pytest.raises(SimulationError) as info:
        run_ngspice(tmp_path / "long.sp", timeout_s=0.5)
    assert "--set simulation.spice.timeout_s=SECONDS" in str(info.value)


def test_transient_that_cannot_finish_is_refused_before_it_starts(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import _binary_model, _small_config

    from imaclab.circuit import build_circuit
    from imaclab.errors import ConfigError
    from imaclab.spice import SpiceOptions, run_spice

    circ = build_circuit(_small_config(), _binary_model([6, 5, 3]))
    with pytest.raises(ConfigError) as info:
        run_spice(circuit=circ, samples_v=np.full((2, 6), 0.8), workdir=tmp_path / "w", progress=False,
                  options=SpiceOptions(analysis="tran", tran_step_s=1e-25, ngspice_path=NGSPICE or "sh"))
    msg = str(info.value)
    assert "2e+16 time steps" in msg and "--set simulation.spice.tran_step_s=" in msg and "\n" not in msg
    assert not list((tmp_path / "w").glob("*.sp"))                   # refused before any netlist


@needs_ngspice
def test_ngspice_runs_in_a_forked_worker(tmp_path):
    """A process forked after import (a sweep's worker) still starts ngspice."""
    import multiprocessing

    (tmp_path / "rc.sp").write_text("* rc\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.op\n.end\n")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        names = pool.apply(_run_and_list, (str(tmp_path / "rc.sp"),))
    assert "v(b)" in names


def _run_and_list(path: str) -> list[str]:
    return [n.lower() for n in run_ngspice(path).plots[-1].names]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_batch_run_workers_die_with_their_parent(tmp_path, sig):
    """The runner's worker threads start the simulators; killing the process ends them all."""
    fake = tmp_path / "hanging-ngspice"
    fake.write_text("#!/bin/sh\nexec sleep 300\n")
    fake.chmod(0o755)
    script = f"""
import sys
import numpy as np
sys.path.insert(0, {str(REPO / 'tests')!r})
from conftest import _binary_model, _small_config
from imaclab.circuit import build_circuit
from imaclab.spice import SpiceOptions, run_spice
circ = build_circuit(_small_config(), _binary_model([6, 5, 3]))
run_spice(circuit=circ, samples_v=np.full((4, 6), 0.8), options=SpiceOptions(samples_per_netlist=2, workers=2,
          ngspice_path={str(fake)!r}), workdir={str(tmp_path / 'w')!r}, progress=False)
"""
    parent = subprocess.Popen([sys.executable, "-c", script], env=_env(), stderr=subprocess.PIPE)
    try:
        kids = _wait_for(lambda: (lambda k: k if len(k) == 2 else [])(_children(parent.pid)))
        assert len(kids) == 2
        parent.send_signal(sig)
        parent.wait(10)
        assert _wait_for(lambda: not any(_alive(k) for k in kids), 5.0), "a simulator outlived its parent"
    finally:
        parent.kill()
        parent.wait()
