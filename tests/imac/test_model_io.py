"""Model formats: .npz (imaclab.nn export layout), torch state_dict, IMAC-Sim CSV folders."""

import numpy as np
import pytest
import torch

from imaclab.circuit import MLPModel
from imaclab.devices.column import ideal_column_gain
from imaclab.errors import InputError
from imaclab.imac import load_mlp, save_npz


def _binary(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return ([np.where(rng.random((a, b)) < 0.5, -1.0, 1.0) for a, b in zip(sizes[:-1], sizes[1:])],
            [np.where(rng.random(b) < 0.5, -1.0, 1.0) for b in sizes[1:]])


def test_npz_round_trip(tmp_path):
    ws, bs = _binary([5, 4, 3])
    m = MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", gains=(12.0, 3.0), scales=(1.0, 1.0))
    back = load_mlp(save_npz(m, tmp_path / "m.npz"))
    assert back.layer_sizes == [5, 4, 3] and back.weight_kind == "binary"
    assert back.gains == (12.0, 3.0) and back.scales == (1.0, 1.0)
    assert all(np.array_equal(a, b) for a, b in zip(back.weights, m.weights))


def test_npz_column_gains_convert_to_amplifier_gains(tmp_path):
    ws, bs = _binary([7, 2])
    col = ideal_column_gain(7, 5e3, 15e3, 20.0)
    np.savez(tmp_path / "m.npz", W1=ws[0], B1=bs[0], weight_kind=np.array("binary"), gains=np.array([col]),
             r_low_ohm=np.float64(5e3), r_high_ohm=np.float64(15e3))
    assert load_mlp(tmp_path / "m.npz").gains[0] == pytest.approx(20.0)


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "a.npz", W1=np.ones((2, 2)))
    with pytest.raises(InputError, match="B1"):
        load_mlp(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", W1=np.full((2, 2), np.nan), B1=np.zeros(2))
    with pytest.raises(InputError, match="NaN"):
        load_mlp(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", W1=np.ones((2, 3)), B1=np.zeros(3), W2=np.ones((2, 1)), B2=np.zeros(1))
    with pytest.raises(InputError, match="expects"):
        load_mlp(tmp_path / "c.npz")
    with pytest.raises(InputError, match="not found"):
        load_mlp(tmp_path / "missing.npz")


def test_torch_state_dict(tmp_path):
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2))
    torch.save(net.state_dict(), tmp_path / "net.pt")
    m = load_mlp(tmp_path / "net.pt")
    assert m.layer_sizes == [6, 4, 2] and m.weight_kind == "real"
    assert np.allclose(m.weights[0], net[0].weight.detach().numpy().T)
    assert np.allclose(m.biases[1], net[2].bias.detach().numpy())


def test_imac_sim_csv_folder(tmp_path):
    ws, bs = _binary([4, 3, 2])
    for i, (w, b) in enumerate(zip(ws, bs), start=1):
        # IMAC-Sim's files: a row per input, trailing commas; biases one per line
        (tmp_path / f"W{i}.csv").write_text("\n".join(",".join(f"{x:g}" for x in row) + "," for row in w) + "\n")
        (tmp_path / f"B{i}.csv").write_text("\n".join(f"{x:g}" for x in b) + "\n")
    m = load_mlp(tmp_path)
    assert m.layer_sizes == [4, 3, 2] and m.weight_kind == "binary"
    assert np.array_equal(m.weights[1], ws[1]) and np.array_equal(m.biases[0], bs[0])
    (tmp_path / "B2.csv").unlink()
    with pytest.raises(InputError, match="B2.csv"):
        load_mlp(tmp_path)
