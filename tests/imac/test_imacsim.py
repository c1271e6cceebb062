"""IMAC-Sim's circuit convention (issue 17): a network trained for it classifies the same in the
software reference, the fast solver and ngspice; under imaclab's convention it gets a warning;
IMAC-Sim's folder layout (weights and test data) selects the convention and is read strictly."""

import json

import numpy as np
import pytest

from imaclab.circuit import MLPModel, build_circuit
from imaclab.cli import main
from imaclab.errors import InputError
from imaclab.imac import ImacConfig, evaluate, load_mlp
from imaclab.imac.model_io import load_imacsim_test_data

VDD, HALF, SLOPE = 0.8, 0.4, 1.0   # the default supply and behavioral slope (r_feedback / r_input)
GAINS = (4.0, 4.0, 2.0)            # amplifier voltage gains A; column gain A / (fan_in + 1) for 5k/15k
# three layers, as IMAC-Sim's 400-120-84-10: each imacsim layer inverts, each imaclab layer does not,
# so with an odd number of layers the two conventions rank the classes in opposite orders
SIZES = [12, 8, 6, 3]


def _data(n, seed, flip=0.1):
    """Three noisy binary prototypes on 12 inputs, in [0, 1]."""
    protos = np.random.default_rng(99).random((SIZES[-1], SIZES[0])) < 0.5
    rng = np.random.default_rng(seed)
    y = rng.integers(0, SIZES[-1], n)
    x = protos[y] ^ (rng.random((n, SIZES[0])) < flip)
    return x.astype(float), y


def _imacsim_forward(ws, bs, x):
    """IMAC-Sim's chain, written out: non-inverting amplifier, neuron on 0..VDD falling with its
    input, after every layer; the class is the largest output-neuron voltage."""
    v = np.where(x >= 0.5, VDD, -VDD)
    for w, b, a in zip(ws, bs, GAINS):
        u = a / (w.shape[0] + 1) * (v @ w + VDD * b)
        v = HALF * (1 + np.tanh(-SLOPE * u / HALF))
    return v


def _train_imacsim(x, y, seed=0, steps=400, lr=0.05):
    """Binary weights (straight-through sign) trained on the forward above, softmax cross-entropy."""
    rng = np.random.default_rng(seed)
    lat = [(rng.normal(0, 0.5, (a, b)), rng.normal(0, 0.5, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]
    v0 = np.where(x >= 0.5, VDD, -VDD)
    onehot = np.eye(SIZES[-1])[y]
    for _ in range(steps):
        acts, pre = [v0], []
        for (w, b), a in zip(lat, GAINS):
            g = a / (w.shape[0] + 1)
            t = np.tanh(-SLOPE * g * (acts[-1] @ np.sign(w) + VDD * np.sign(b)) / HALF)
            pre.append((g, t))
            acts.append(HALF * (1 + t))
        z = 20 * acts[-1]
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        d = 20 * (p - onehot) / len(y)
        for li in range(len(lat) - 1, -1, -1):
            g, t = pre[li]
            du = d * HALF * (1 - t ** 2) * (-SLOPE / HALF)
            w, b = lat[li]
            gw, gb = g * acts[li].T @ du, g * VDD * du.sum(0)
            d = g * du @ np.sign(w).T
            lat[li] = (np.clip(w - lr * gw, -1, 1), np.clip(b - lr * gb, -1, 1))
    return [np.where(w >= 0, 1.0, -1.0) for w, _ in lat], [np.where(b >= 0, 1.0, -1.0) for _, b in lat]


@pytest.fixture(scope="module")
def trained():
    x, y = _data(300, 1)
    ws, bs = _train_imacsim(x, y)
    model = MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", gains=GAINS, source="imacsim-net")
    return model, _data(24, 2)


def _config(convention, **over):
    base = {"circuit.convention": convention, "neuron.kind": "behavioral", "simulation.samples": 24,
            "simulation.spice.samples_per_netlist": 24, "simulation.spice.analysis": "dc",
            "circuit.crossbar.rows": 8, "circuit.crossbar.columns": 4, "circuit.amplifier.join": "average"}
    base.update(over)
    return ImacConfig().with_overrides(base)


def test_software_reference_is_the_imacsim_chain(trained):
    model, (x, y) = trained
    circuit = build_circuit(_config("imacsim"), model)
    assert circuit.convention == "imacsim" and circuit.output_nodes() == ["out0", "out1", "out2"]
    assert all(a.sign == 1 for lay in circuit.layers for a in lay.amplifiers)
    assert len(circuit.layers[-1].neurons) == 3  # a neuron after the output layer too
    ref = circuit.ideal_forward(circuit.encode(x))
    assert np.allclose(ref, _imacsim_forward(model.weights, model.biases, x), atol=1e-4)  # tabulated curve
    assert float(np.mean(np.argmax(ref, axis=1) == y)) >= 0.85


@pytest.mark.parametrize("parasitics", [False, True])
def test_software_fast_and_ngspice_classify_identically(trained, parasitics):
    model, data = trained
    over = {"circuit.parasitics.resistance": parasitics, "circuit.parasitics.capacitance": parasitics}
    sw = None
    for backend in ("fast", "spice"):
        res = evaluate(config=_config("imacsim", **{"simulation.backend": backend, **over}), model=model,
                       dataset=data, progress=False)
        assert res.ok.all()
        if not parasitics:  # the ideal circuit: exactly the software reference
            assert np.array_equal(res.predicted, res.software_predicted)
            assert np.allclose(res.outputs, res.software_outputs, atol=1e-3)  # tabulated curve
        assert res.accuracy >= 0.85 and res.software_accuracy >= 0.85
        assert not any("does not fit" in w for w in res.warnings)
        if sw is None:
            sw = res
        else:  # fast solver and ngspice solve the same circuit
            assert np.array_equal(res.predicted, sw.predicted)
            assert np.allclose(res.outputs, sw.outputs, atol=1e-3)  # ngspice reltol 1e-3


def test_imaclab_convention_warns_with_the_fitting_one(trained):
    model, data = trained
    res = evaluate(config=_config("imaclab", **{"simulation.backend": "fast"}), model=model, dataset=data,
                   progress=False)
    assert res.software_accuracy < 0.2  # the "0 %": the classes come out in reverse order
    text = " ".join(res.warnings)
    assert "does not fit" in text and "--convention imacsim" in text
    assert any("does not fit" in n for n in res.notes())


def test_npz_keeps_the_convention(trained, tmp_path):
    from dataclasses import replace

    from imaclab.imac import save_npz

    model, _ = trained
    back = load_mlp(save_npz(replace(model, meta={"convention": "imacsim"}), tmp_path / "m.npz"))
    circuit = build_circuit(_config("auto"), back)
    assert circuit.convention == "imacsim" and "was trained for imacsim" in circuit.meta["convention_note"]
    assert build_circuit(_config("auto"), load_mlp(save_npz(model, tmp_path / "p.npz"))).convention == "imaclab"


def test_transistor_neuron_under_imacsim_runs_imacsim_behavioral_neuron_with_a_notice():
    model = MLPModel(weights=(np.ones((4, 2)),), biases=(np.ones(2),), weight_kind="binary")
    circuit = build_circuit(ImacConfig().with_overrides({"circuit.convention": "imacsim"}), model)
    assert circuit.neuron.kind == "behavioral" and circuit.neuron_curve.meta.get("rails") == "unipolar"
    assert "behavioral form" in circuit.meta["convention_note"]


# ------------------------------------------------------------------------------ IMAC-Sim's files
def _write_imacsim_folder(folder, model, x, y):
    """Files as IMAC-Sim keeps them in data/: W{i}.csv a row per input with trailing commas, B{i}.csv
    one value per line, test_data.csv a row per image (centred values; IMAC-Sim takes their sign),
    test_labels.csv one-hot rows."""
    folder.mkdir(exist_ok=True)
    for i, (w, b) in enumerate(zip(model.weights, model.biases), start=1):
        (folder / f"W{i}.csv").write_text("\n".join(",".join(f"{v:g}" for v in row) + "," for row in w) + "\n")
        (folder / f"B{i}.csv").write_text("\n".join(f"{v:g}" for v in b) + "\n")
    centred = np.where(x >= 0.5, 0.7, -0.3)
    (folder / "test_data.csv").write_text("\n".join(",".join(f"{v:g}" for v in row) for row in centred) + "\n")
    (folder / "test_labels.csv").write_text("\n".join(",".join("1" if k == c else "0" for k in range(SIZES[-1]))
                                                      for c in y) + "\n")
    return folder


def test_imacsim_folder_selects_the_convention_from_the_cli(trained, tmp_path, capsys):
    model, (x, y) = trained
    folder = _write_imacsim_folder(tmp_path / "data", model, x, y)
    m = load_mlp(folder)
    assert m.meta["convention"] == "imacsim"
    xt, yt = load_imacsim_test_data(folder)
    assert np.array_equal(yt, y) and np.array_equal(np.where(xt >= 0.5, 1, 0), x)
    assert np.array_equal(load_imacsim_test_data(folder / "test_data.csv")[0], xt)
    # mapWB.py reads the biases from B{i}.txt: taken when B{i}.csv is absent
    (folder / "B2.txt").write_text((folder / "B2.csv").read_text())
    (folder / "B2.csv").rename(folder / "B2.keep")
    assert np.array_equal(load_mlp(folder).biases[1], model.biases[1])
    (folder / "B2.keep").rename(folder / "B2.csv")
    (folder / "B2.txt").unlink()
    common = ["--model", str(folder), "--data", str(folder), "--neuron", "behavioral", "--backend", "fast",
              "--samples", "24", "--set", "circuit.amplifier.gains=[4,4,2]", "--no-html"]
    assert main(["imac", "run", *common, "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert out.count("IMAC-Sim folder") == 1 and "imacsim" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["accuracy"] == summary["software_accuracy"] >= 0.85
    # the user's word wins, and the mismatch is then reported
    assert main(["imac", "run", *common, "--convention", "imaclab", "-o", str(tmp_path / "run2")]) == 0
    out = capsys.readouterr().out
    assert "IMAC-Sim folder" not in out and "does not fit" in out
    # the netlist says the convention and holds the output neurons
    assert main(["imac", "netlist", "--model", str(folder), "--data", str(folder), "--neuron", "behavioral",
                 "--convention", "imacsim", "-o", str(tmp_path / "n.sp")]) == 0
    text = (tmp_path / "n.sp").read_text()
    assert "convention imacsim" in text and sum(ln.startswith("Bn2_") for ln in text.splitlines()) == 3


def test_imacsim_files_error_paths(tmp_path, capsys):
    good = tmp_path / "good"
    model = MLPModel(weights=(np.ones((4, 3)), -np.ones((3, 2))), biases=(np.ones(3), np.ones(2)),
                     weight_kind="binary")
    _write_imacsim_folder(good, model, np.ones((2, 4)), np.array([0, 1]))
    cases = {
        "ragged": ("W1.csv", "1,1,1\n1,1\n1,1,1\n1,1,1\n", "row 2, column 3 is empty"),
        "text": ("W1.csv", "1,1,1\n1,x,1\n1,1,1\n1,1,1\n", "'x' is not a number"),
        "nob1": ("B1.csv", None, "W1.csv has no matching B1.csv"),
    }
    for name, (file, content, words) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        for f in good.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        if content is None:
            (folder / file).unlink()
        else:
            (folder / file).write_text(content)
        with pytest.raises(InputError, match=words):
            load_mlp(folder)
        code = main(["imac", "run", "--model", str(folder), "--data", str(folder), "--neuron", "behavioral",
                     "--backend", "fast", "--no-html", "-o", str(tmp_path / f"r_{name}")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and words in err and len(err.splitlines()) == 1
    bad_labels = tmp_path / "labels"
    bad_labels.mkdir()
    (bad_labels / "test_data.csv").write_text("1,-1\n-1,1\n")
    for content, words in (("1,1\n0,1\n", "one-hot"), ("0,1,0\n", "2 samples but"), ("0,x\n1,0\n", "not a number")):
        (bad_labels / "test_labels.csv").write_text(content)
        with pytest.raises(InputError, match=words):
            load_imacsim_test_data(bad_labels)
    (bad_labels / "test_labels.csv").unlink()
    with pytest.raises(InputError, match="test_labels.csv: not found"):
        load_imacsim_test_data(bad_labels)


def test_imacsim_folder_gets_averaged_partitions_without_join(trained, tmp_path):
    """``circuit.amplifier.join: auto`` (the default) on an IMAC-Sim folder: IMAC-Sim's averaged
    partitions (tie resistors), classified exactly as with an explicit ``join: average`` in the
    fast solver and in ngspice."""
    from dataclasses import replace

    model, (x, y) = trained
    folder_model = replace(load_mlp(_write_imacsim_folder(tmp_path / "data", model, x, y)), gains=GAINS)
    auto_cfg = _config("auto", **{"circuit.amplifier.join": "auto"})
    assert ImacConfig().circuit.amplifier.join == "auto"
    circuit = build_circuit(auto_cfg, folder_model)
    explicit = build_circuit(_config("auto"), folder_model)
    assert circuit.convention == "imacsim" and circuit.join == "average"
    assert circuit.counts() == explicit.counts() and circuit.counts()["tie_resistors"] > 0
    for backend in ("fast", "spice"):
        over = {"simulation.backend": backend}
        auto = evaluate(config=auto_cfg.with_overrides(over), model=folder_model, dataset=(x, y), progress=False)
        avg = evaluate(config=_config("auto", **over), model=folder_model, dataset=(x, y), progress=False)
        assert auto.ok.all() and np.array_equal(auto.predicted, avg.predicted)
        assert np.array_equal(auto.outputs, avg.outputs)
        assert np.array_equal(auto.software_predicted, avg.software_predicted)
