"""Circuit-in-the-loop training (imaclab.nn.circuit_loop): the forward pass is the fast solver's circuit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imaclab.nn.api import CircuitLoopConfig
from imaclab.nn.circuit_loop import CircuitLoop
from imaclab.nn.imac_layers import IMACHead, IMACSpec
from imaclab.nn.quantizers import QuantSpec
from imaclab.solver.forward import SolverOptions, simulate


def _head(dims=(20, 12, 4), seed=0, kind="binary") -> IMACHead:
    torch.manual_seed(seed)
    spec = IMACSpec()  # behavioral neuron, analog inputs
    weights = [QuantSpec(kind=kind, bits=8, scale="none", per_channel=False)] * (len(dims) - 1)
    head = IMACHead(list(dims), weights, spec, unit_inputs=True)
    head.eval()
    return head


def _network(head: IMACHead, **overrides):
    base = {"circuit.crossbar.rows": 8, "circuit.crossbar.columns": 8}
    return head.spec.network_config().with_overrides({**base, **overrides})


def _inputs(n=16, d=20, seed=1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, d))).float()


@pytest.mark.parametrize("join", ["sum", "average"])
def test_forward_is_the_fast_solver(join):
    """Partitioned layers (21 rows on 8x8 crossbars), wire parasitics on: the head's output through the
    loop equals imaclab.solver.simulate on the programmed circuit."""
    head = _head()
    loop = CircuitLoop(head, _network(head, **{"circuit.amplifier.join": join})).attach()
    x = _inputs()
    with torch.no_grad():
        u = head.column_signals(x).double().numpy()
    circuit = loop.programmed.circuit
    assert circuit.layers[0].tiles and len(circuit.layers[0].row_partitions) == 3
    exact = simulate(circuit, circuit.encode(x.double().numpy()), options=SolverOptions(latency=False)).outputs
    np.testing.assert_allclose(u, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    # and the circuit is not the ideal model (the parasitics matter at this size)
    loop.detach()
    with torch.no_grad():
        ideal = head.column_signals(x).double().numpy()
    assert np.abs(ideal - exact).max() > 1e-3 * np.abs(exact).max()


def _flip(head: IMACHead, fraction: float, seed: int = 3) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in head.layers:
            flip = torch.rand(layer.weight.shape, generator=gen) < fraction
            layer.weight[flip] = -layer.weight[flip]


def test_changed_cells_enter_as_ideal_cells():
    """Without wire resistance an ideal cell is exact: the patched maps of flipped weights equal a fresh
    programming.  With parasitics the patch is closer to the fresh programming than the stale maps."""
    x = _inputs()
    for parasitics, exact_patch in ((False, True), (True, False)):
        head = _head(seed=2)
        net = _network(head, **{"circuit.parasitics.resistance": parasitics,
                                "circuit.parasitics.capacitance": parasitics})
        loop = CircuitLoop(head, net, CircuitLoopConfig(enabled=True, refresh_steps=10 ** 6)).attach()
        loop.program()
        stale_plan = loop.programmed.plan
        _flip(head, 0.2)
        v = head.drivers(x).detach().double().numpy()
        from imaclab.solver.forward import network_outputs

        patched, _ = network_outputs(loop.current_plan(), v)
        stale, _ = network_outputs(stale_plan, v)
        loop.program()
        fresh, _ = network_outputs(loop.programmed.plan, v)
        scale = np.abs(fresh).max()
        assert np.abs(stale - fresh).max() > 1e-2 * scale          # the flips changed the outputs
        if exact_patch:
            np.testing.assert_allclose(patched, fresh, atol=1e-9 * scale)
        else:
            assert np.abs(patched - fresh).max() < 0.2 * np.abs(stale - fresh).max()


def test_gradients_reach_weights_gains_and_inputs():
    head = _head()
    head.train()
    loop = CircuitLoop(head, _network(head)).attach()
    x = _inputs().requires_grad_(True)
    out = head(x)
    loss = torch.nn.functional.cross_entropy(out, torch.arange(out.shape[0]) % out.shape[1])
    loss.backward()
    assert loop.programmings == 1
    for layer in head.layers:
        assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
        assert layer.weight.grad.abs().sum() > 0
    assert head.layers[0].log_amplifier_gain.grad is not None and head.layers[0].log_amplifier_gain.grad != 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_refresh_and_evaluation_programming():
    """Training re-programs every refresh_steps forward passes; evaluation re-programs whenever the
    weights changed, so an evaluated accuracy is always the exact circuit's."""
    head = _head()
    loop = CircuitLoop(head, _network(head), CircuitLoopConfig(enabled=True, refresh_steps=3)).attach()
    x = _inputs()
    head.train()
    for _ in range(7):
        head(x)
    assert loop.programmings == 3          # steps 1 (first), 4, 7
    head.eval()
    with torch.no_grad():
        head(x)
    assert loop.programmings == 3          # unchanged weights: no new programming
    _flip(head, 0.1)
    with torch.no_grad():
        head(x)
    assert loop.programmings == 4 and not loop.changed_since_programming()


def test_finetuning_through_the_circuit_wins_back_accuracy(tmp_path):
    """A digits MLP on one 128x128 crossbar per layer loses ~25 points to the wires' IR drop.  Two
    epochs of circuit-in-the-loop fine-tuning win back more circuit accuracy than the same two epochs
    of plain fine-tuning (same seed, learning rate and data order); both scored by the fast solver."""
    from imaclab.cli import main
    from imaclab.nn.api import TrainJob, run
    from imaclab.nn.training import load_data, load_run
    from imaclab.nn.training import evaluate as accuracy

    base = tmp_path / "plain"
    run(TrainJob(model="mlp-64-32-10", data="digits", epochs=8, batch_size=32, lr=0.03, threads=1, seed=0),
        out_dir=base)
    circuit = ["--crossbar", "128x128", "--epochs", "2", "--lr", "0.003", "--threads", "1", "--no-html"]
    scores = {}
    for mode in ("--circuit", "--no-circuit"):
        out = tmp_path / mode.strip("-")
        assert main(["train", "finetune", "--checkpoint", str(base), "-o", str(out), mode,
                     "--refresh-steps", "5", *circuit]) == 0
        trained = load_run(out)
        head = trained.model.classifier.imac
        assert head.spec.circuit.crossbar.rows == 128
        loop = CircuitLoop(head, head.network_config()).attach()
        scores[mode] = accuracy(trained.model, load_data(trained.config).test)["accuracy"]
        loop.detach()
    before = load_run(base)
    head = before.model.classifier.imac
    net = head.network_config().with_overrides({"circuit.crossbar.rows": 128, "circuit.crossbar.columns": 128})
    CircuitLoop(head, net).attach()
    plain_circuit = accuracy(before.model, load_data(before.config).test)["accuracy"]
    assert plain_circuit < 0.85
    assert scores["--circuit"] > scores["--no-circuit"] + 0.05, (plain_circuit, scores)
    assert scores["--circuit"] > plain_circuit + 0.05


def test_crossbar_size_study_example(tmp_path):
    """examples/crossbar_size_study.py at a tiny size: one point, its CSV row and plot."""
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    from imaclab.nn.api import TrainJob, run

    base = tmp_path / "plain"
    run(TrainJob(model="mlp-64-32-10", data="digits", epochs=4, batch_size=32, lr=0.03, threads=1, seed=0),
        out_dir=base)
    script = Path(__file__).resolve().parents[2] / "examples" / "crossbar_size_study.py"
    out = tmp_path / "study"
    proc = subprocess.run([sys.executable, str(script), "--checkpoint", str(base), "-o", str(out), "--sizes", "128",
                           "--widths", "27e-9", "--epochs", "1", "--train-samples", "400", "--test-samples", "200",
                           "--refresh-steps", "4"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(out / "study.csv")
    assert list(table["crossbar"]) == [128]
    row = table.iloc[0]
    assert 0 < row["plain_circuit_accuracy"] < row["ideal_accuracy"]      # the wires cost accuracy at 128x128
    assert row["circuit_loop_accuracy"] > row["plain_circuit_accuracy"]
    assert (out / "crossbar_size_study.png").stat().st_size > 10_000
    bad = subprocess.run([sys.executable, str(script), "--checkpoint", str(tmp_path / "none"), "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_map_distortion_grows_with_the_crossbar():
    """Ideal wires: attenuation 1, distortion 0 (round-off); with wires a larger tile distorts more."""
    head = _head(dims=(60, 12, 4))
    ideal = CircuitLoop(head, _network(head, **{"circuit.parasitics.resistance": False,
                                                 "circuit.parasitics.capacitance": False})).map_distortion()
    assert abs(ideal[0]["attenuation"] - 1) < 1e-9 and ideal[0]["distortion"] < 1e-9
    small = CircuitLoop(head, _network(head)).map_distortion()[0]
    large = CircuitLoop(head, _network(head, **{"circuit.crossbar.rows": 64, "circuit.crossbar.columns": 64}))
    big = large.map_distortion()[0]
    assert 0 < big["attenuation"] < small["attenuation"] < 1
    assert big["distortion"] > small["distortion"] > 0


def test_torch_backend_gives_the_numpy_answers():
    """The solver's torch backend (a CUDA GPU when present, the CPU here) solves the same circuit."""
    x = _inputs()
    outs = []
    for backend in ("numpy", "torch"):
        head = _head()
        config = CircuitLoopConfig(enabled=True, array_backend=backend, device="auto")
        CircuitLoop(head, _network(head, **{"circuit.amplifier.join": "average"}), config).attach()
        with torch.no_grad():
            outs.append(head.column_signals(x).double().numpy())
    np.testing.assert_allclose(outs[1], outs[0], rtol=0, atol=1e-6 * np.abs(outs[0]).max())


def test_train_from_scratch_through_the_circuit(tmp_path, capsys):
    """imaclab train --circuit: gains initialized from the first batch, then the circuit; the report
    holds the circuit's and the ideal model's accuracy, and the printed table says which is which."""
    from imaclab.cli import main

    out = tmp_path / "run"
    assert main(["train", "-m", "mlp-64-32-10", "-d", "digits", "-e", "2", "--lr", "0.03", "--batch-size", "32",
                 "--train-samples", "400", "--threads", "1", "--circuit", "--refresh-steps", "5",
                 "--crossbar", "16x16", "-o", str(out), "--no-html"]) == 0
    printed = capsys.readouterr().out
    assert "circuit (16x16 crossbars, fast solver)" in printed and "ideal crossbar model" in printed
    import json

    report = json.loads((out / "report.json").read_text())
    assert report["circuit_test_accuracy"] == report["test_accuracy"] > 0.5
    assert 0.5 < report["ideal_test_accuracy"] <= 1
    assert report["circuit_loop"]["programmings"] >= 2 * (400 // 32) // 5
    assert report["circuit_loop"]["circuit"]["crossbar"] == "16x16"
    assert main(["train", "finetune", "--checkpoint", str(tmp_path / "missing"), "-o", str(tmp_path / "x")]) == 2


def test_lenet5_circuit_accuracy_equals_imac_run(tmp_path):
    """A zoo CNN with an IMAC head: the circuit accuracy a circuit-in-the-loop fine-tune reports is the
    one imaclab imac run measures on its export with the fast solver (same images, same circuit)."""
    import json

    from imaclab.cli import main

    base, tuned = tmp_path / "lenet", tmp_path / "tuned"
    common = ["--train-samples", "512", "--test-samples", "200", "--threads", "1", "--no-html"]
    assert main(["train", "-m", "lenet5", "-d", "fashion-mnist", "-p", "tpu-imac", "-e", "1", "-o", str(base),
                 *common]) == 0
    assert main(["train", "finetune", "--checkpoint", str(base), "--circuit", "--crossbar", "16x16", "--epochs", "1",
                 "--refresh-steps", "2", "-o", str(tuned), *common]) == 0
    report = json.loads((tuned / "report.json").read_text())
    assert main(["imac", "run", "--model", str(tuned / "imac.npz"), "--data", str(tuned), "--backend", "fast",
                 "--samples", "200", "-o", str(tmp_path / "eval"), "--no-html"]) == 0
    evaluation = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert evaluation["accuracy"] == pytest.approx(report["circuit_test_accuracy"], abs=1e-12)


def test_transistor_neurons_on_their_real_load():
    """Transistor neurons driving the next layer's rows directly: the loop's forward is the solver's
    (Newton on the loaded table), and the twin's curve is the layer's loaded curve (the circuit's)."""
    torch.manual_seed(0)
    spec = IMACSpec().with_overrides({"neuron.kind": "transistor", "inputs.mode": "analog"})
    head = IMACHead([20, 12, 4], [QuantSpec(kind="binary", bits=8, scale="none", per_channel=False)] * 2, spec,
                    unit_inputs=True)
    head.eval()
    loop = CircuitLoop(head, _network(head)).attach()
    x = _inputs()
    with torch.no_grad():
        u = head.column_signals(x).double().numpy()
    circuit = loop.programmed.circuit
    assert circuit.neuron.kind == "transistor" and circuit.loading == "direct"
    exact = simulate(circuit, circuit.encode(x.double().numpy()), options=SolverOptions(latency=False)).outputs
    np.testing.assert_allclose(u, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    np.testing.assert_allclose(head.layers[0].neuron.v_out.double().numpy(), circuit.layer_curves[0].v_out,
                               rtol=0, atol=1e-6)
