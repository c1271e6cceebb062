"""Read the networks IMAC evaluates: ``.npz``, a PyTorch ``state_dict`` (``.pt``), or a CSV folder.

``.npz`` (what :mod:`imaclab.nn.export` writes; see docs/imac-circuit.md):
``W1..Wn`` (inputs x outputs), ``B1..Bn`` (outputs,), optional ``weight_kind``
(binary | ternary | multilevel | real), ``levels``, ``amplifier_gains`` (the amplifier voltage
gains A per layer) or ``gains`` (ideal column gains, converted to A with the file's
``r_low_ohm``/``r_high_ohm``) or ``gain1..gainn`` (A), ``scales``/``scale1..scalen`` (weight
scale per layer), and training metadata (``input_mode``, ``vdd_v``, ``neuron_v_in``/``neuron_v_out``...,
and ``network_config``: the JSON of the whole circuit the model was trained for, read into
``meta['network_config']``; :meth:`imaclab.imac.api.ImacJob.for_model` evaluates with it).

``.pt``/``.pth``: a ``state_dict`` of a sequential MLP (``torch.nn.Linear`` layers in order;
``weight`` is outputs x inputs and is transposed here), optionally under a ``state_dict`` key.

CSV folder (earlier IMAC tools): ``W1.csv``, ``B1.csv``, ``W2.csv`` ... one file per layer,
a row per input (``W`` is inputs x outputs), biases one value per line or in one row.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from imaclab.circuit.config import NetworkConfig
from imaclab.circuit.mlp import WEIGHT_KINDS, MLPModel
from imaclab.devices.column import delta_conductance_s, mid_conductance_s
from imaclab.errors import InputError

#: Device resistances assumed when a file's column gains come without them (the defaults).
_DEFAULT_R_LOW_OHM, _DEFAULT_R_HIGH_OHM = 5e3, 15e3


def load_mlp(path: str | Path) -> MLPModel:
    """Load an MLP from an ``.npz``, a torch ``.pt``/``.pth`` state_dict, or a CSV folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: model file not found (give an .npz, a .pt state_dict or a folder of W1.csv, "
                         "B1.csv, ...)")
    if path.is_dir():
        return _load_csv_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path)
    if suffix in (".pt", ".pth"):
        return _load_state_dict(path)
    if suffix == ".csv":
        return _load_csv_folder(path.parent)
    raise InputError(f"{path}: unknown model format '{suffix}': use .npz, .pt/.pth or a folder of W1.csv/B1.csv")


#: The sections of a config that describe the circuit (NetworkConfig's fields: devices, circuit,
#: neuron, inputs), which a model exported by ``imaclab train`` brings along (``network_config``).
NETWORK_SECTIONS = tuple(NetworkConfig.model_fields)


def leaf_paths(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves of a nested mapping (a list is a leaf)."""
    if not isinstance(data, dict):
        return [prefix] if prefix else []
    out: list[str] = []
    for key, value in data.items():
        out += leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def get_path(data: dict, path: str) -> Any:
    """The value at dotted ``path`` of a nested mapping, or :data:`MISSING`."""
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


#: What :func:`get_path` returns for a path that is not there.
MISSING = object()


def trained_settings(model: Any) -> dict[str, Any] | None:
    """The circuit settings (NetworkConfig as a mapping) ``model`` was trained for, or None
    (a model without them: an older ``imac.npz``, a ``.pt`` state_dict, a CSV folder)."""
    trained = (getattr(model, "meta", None) or {}).get("network_config")
    return trained if isinstance(trained, dict) else None


def trained_settings_notice(config: Any, model: Any) -> str | None:
    """One line naming each circuit field of ``config`` that differs from the settings ``model``
    was trained for (``network_config``), with both values; None when none does (or the model
    carries no settings).  The amplifier gains are left out when the model brings its own
    (they are what the circuit uses)."""
    trained = trained_settings(model)
    if trained is None:
        return None
    used = config.to_dict()
    skip = {"circuit.amplifier.gains"} if getattr(model, "gains", None) is not None else set()
    differ = []
    for path in leaf_paths({k: trained[k] for k in NETWORK_SECTIONS if k in trained}):
        if path in skip:
            continue
        have = get_path(used, path)
        if have is not MISSING and have != get_path(trained, path):
            differ.append(f"{path}={_short(have)} (trained: {_short(get_path(trained, path))})")
    if not differ:
        return None
    return f"evaluated with settings other than the model was trained for, as set: {'; '.join(differ)}"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def save_npz(model: MLPModel, path: str | Path) -> Path:
    """Write ``model`` in the ``.npz`` layout :func:`load_mlp` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    for i, (w, b) in enumerate(zip(model.weights, model.biases), start=1):
        arrays[f"W{i}"] = w
        arrays[f"B{i}"] = b
    arrays["weight_kind"] = np.array(model.weight_kind)
    if model.gains is not None:
        arrays["amplifier_gains"] = np.array(model.gains)
    if model.scales is not None:
        arrays["scales"] = np.array(model.scales)
    if model.levels is not None:
        arrays["levels"] = np.int64(model.levels)
    if (model.meta or {}).get("convention"):  # the circuit convention it was trained for
        arrays["convention"] = np.array(str(model.meta["convention"]))
    np.savez(path, **arrays)
    return path


def _indexed(keys, prefix: str) -> list[int]:
    pat = re.compile(rf"^{prefix}(\d+)$")
    return sorted(int(m.group(1)) for k in keys if (m := pat.match(k)))


#: What numpy and zipfile raise on a truncated, corrupt or non-numeric ``.npz``.
_NPZ_ERRORS = (ValueError, TypeError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _load_npz(path: Path) -> MLPModel:
    try:
        return _read_npz(path)
    except InputError:
        raise
    except _NPZ_ERRORS as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        if isinstance(err, (zipfile.BadZipFile, EOFError, zlib.error)):
            reason += "; truncated or corrupt"
        raise InputError(f"{path}: not a readable .npz model ({reason})") from None


def _read_npz(path: Path) -> MLPModel:
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: a single .npy array, not an .npz archive of W1..Wn and B1..Bn")
    with z:
        keys = set(z.files)
        w_idx = _indexed(keys, "W")
        if not w_idx:
            raise InputError(f"{path}: no weight matrices W1..Wn in the file (keys: {', '.join(sorted(keys))[:200]})")
        if w_idx != list(range(1, len(w_idx) + 1)):
            raise InputError(f"{path}: weight matrices must be numbered W1..W{len(w_idx)} without gaps")
        missing = [f"B{i}" for i in w_idx if f"B{i}" not in keys]
        if missing:
            raise InputError(f"{path}: missing bias vector(s) {', '.join(missing)}")
        weights = [np.asarray(z[f"W{i}"], dtype=np.float64) for i in w_idx]
        biases = [np.asarray(z[f"B{i}"], dtype=np.float64).reshape(-1) for i in w_idx]
        kind = str(z["weight_kind"]) if "weight_kind" in keys else "real"
        if kind not in WEIGHT_KINDS:
            raise InputError(f"{path}: weight_kind '{kind}' is not one of {', '.join(WEIGHT_KINDS)}")
        levels = int(z["levels"]) if "levels" in keys else None
        meta: dict = {}
        for k in ("input_mode", "input_threshold", "vdd_v", "v_bias_v", "r_low_ohm", "r_high_ohm", "convention"):
            if k in keys:
                v = z[k]
                meta[k] = str(v) if v.dtype.kind in "US" else float(v)
        for k in ("neuron_config", "device_config", "network_config"):
            if k in keys:
                try:
                    meta[k] = json.loads(str(z[k]))
                except json.JSONDecodeError:
                    pass
        if "neuron_v_in" in keys and "neuron_v_out" in keys:
            meta["neuron_v_in"] = np.asarray(z["neuron_v_in"], dtype=np.float64)
            meta["neuron_v_out"] = np.asarray(z["neuron_v_out"], dtype=np.float64)
        n = len(weights)
        gains = None
        if "amplifier_gains" in keys:
            gains = np.asarray(z["amplifier_gains"], dtype=np.float64).reshape(-1)
        elif _indexed(keys, "gain"):
            gains = np.array([float(z[f"gain{i}"]) for i in range(1, n + 1) if f"gain{i}" in keys])
        elif "gains" in keys:
            col = np.asarray(z["gains"], dtype=np.float64).reshape(-1)
            r_lo = float(meta.get("r_low_ohm", _DEFAULT_R_LOW_OHM))
            r_hi = float(meta.get("r_high_ohm", _DEFAULT_R_HIGH_OHM))
            ratio = delta_conductance_s(r_lo, r_hi) / mid_conductance_s(r_lo, r_hi)
            # column gain = A * dG / ((fan_in + 1) * G_mid)  =>  A = gain * (fan_in + 1) / (dG / G_mid)
            gains = np.array([g * (w.shape[0] + 1) / ratio for g, w in zip(col, weights)])
        scales = None
        if "scales" in keys:
            scales = np.asarray(z["scales"], dtype=np.float64).reshape(-1)
        elif _indexed(keys, "scale"):
            scales = np.array([float(z[f"scale{i}"]) for i in range(1, n + 1)])
        elif kind != "real" and "amplifier_gains" in keys:
            # exported by imaclab.nn: weights are already normalized onto the device grid
            scales = np.ones(n)
    return MLPModel(weights=tuple(weights), biases=tuple(biases), weight_kind=kind,
                    gains=tuple(gains) if gains is not None else None,
                    scales=tuple(scales) if scales is not None else None, levels=levels,
                    source=str(path), meta=meta)


def _load_state_dict(path: Path) -> MLPModel:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise InputError(f"{path}: not a readable PyTorch state_dict ({str(err).splitlines()[0][:120]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state_dict (a mapping of tensor names), got {type(state).__name__}")
    weights, biases = [], []
    for name, tensor in state.items():
        if not name.endswith("weight") or getattr(tensor, "ndim", 0) != 2:
            continue
        prefix = name[: -len("weight")]
        bias = state.get(prefix + "bias")
        w = tensor.detach().double().numpy().T.copy()
        b = bias.detach().double().numpy().copy() if bias is not None else np.zeros(w.shape[1])
        weights.append(w)
        biases.append(b)
    if not weights:
        raise InputError(f"{path}: no 2-D '*.weight' tensors (torch.nn.Linear layers) in the state_dict")
    return MLPModel(weights=tuple(weights), biases=tuple(biases), weight_kind=_detect_kind(weights, biases),
                    source=str(path))


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text CSV file (not UTF-8: a binary file?)") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    if "\x00" in text:
        raise InputError(f"{path}: not a text CSV file (it holds NUL bytes: a binary file?)")
    rows = [line.rstrip(",").split(",") for line in text.splitlines() if line.strip(" ,\t\r")]
    if not rows:
        raise InputError(f"{path}: no numbers in the file")
    width = max(len(r) for r in rows)
    arr = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows, start=1):
        for j, cell in enumerate(row, start=1):
            cell = cell.strip()
            if not cell:
                continue
            try:
                arr[i - 1, j - 1] = float(cell)
            except ValueError:
                raise InputError(f"{path}: line {i}, column {j}: '{cell[:20]}' is not a number") from None
    # trailing commas give an all-NaN last column (IMAC-Sim's files have them)
    keep = ~np.all(np.isnan(arr), axis=0)
    arr = arr[:, keep]
    keep_rows = ~np.all(np.isnan(arr), axis=1)
    arr = arr[keep_rows]
    if np.isnan(arr).any():
        i, j = (int(k) + 1 for k in np.argwhere(np.isnan(arr))[0])
        raise InputError(f"{path}: row {i}, column {j} is empty or NaN (every weight must be a number)")
    return arr


def _load_csv_folder(folder: Path) -> MLPModel:
    names = {p.name.lower(): p for p in folder.iterdir() if p.suffix.lower() == ".csv"}
    w_idx = _indexed({n[:-4].upper() for n in names}, "W")
    if not w_idx:
        raise InputError(f"{folder}: no W1.csv, W2.csv, ... files (one per layer, a row per input)")
    weights, biases = [], []
    for i in w_idx:
        w = _read_csv(names[f"w{i}.csv"])
        b_path = names.get(f"b{i}.csv")
        if b_path is None and (folder / f"B{i}.txt").is_file():
            b_path = folder / f"B{i}.txt"  # what IMAC-Sim's mapWB.py reads: one bias per line
        if b_path is None:
            raise InputError(f"{folder}: W{i}.csv has no matching B{i}.csv")
        b = _read_csv(b_path).reshape(-1)
        weights.append(w)
        biases.append(b)
    # IMAC-Sim's layout: the circuit convention its networks are trained for (circuit.convention auto)
    return MLPModel(weights=tuple(weights), biases=tuple(biases), weight_kind=_detect_kind(weights, biases),
                    source=str(folder), meta={"convention": "imacsim", "layout": "imacsim"})


def _detect_kind(weights: list[np.ndarray], biases: list[np.ndarray]) -> str:
    values = set()
    for w, b in zip(weights, biases):
        u = np.unique(np.concatenate([w.ravel(), b.ravel()]))
        if u.size > 3:
            return "real"
        values |= set(u.tolist())
    if values <= {-1.0, 1.0}:
        return "binary"
    if values <= {-1.0, 0.0, 1.0}:
        return "ternary"
    return "real"


def load_imacsim_test_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Test data in IMAC-Sim's layout: ``test_data.csv`` (a row per sample, a column per input)
    and ``test_labels.csv`` (one-hot rows, or one integer label per line) in one folder; ``path``
    is the folder or its ``test_data.csv``.

    IMAC-Sim drives input ``i`` at ``sign(x_i) * VDD`` (``testIMAC.py``).  Returned as imaclab
    data in [0, 1], ``(sign(x) + 1) / 2``: the binary input encoding (threshold 0.5) gives
    ``+-VDD`` again; an exact 0 cell (0 V in IMAC-Sim) becomes +VDD there, 0 V with
    ``inputs.mode: analog``.  Returns ``(x [samples, inputs], labels [samples])``.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    data_file = path if path.is_file() else folder / "test_data.csv"
    label_file = folder / "test_labels.csv"
    for f in (data_file, label_file):
        if not f.is_file():
            raise InputError(f"{f}: not found (IMAC-Sim's test data: test_data.csv, a row per sample, and "
                             "test_labels.csv, a one-hot row per sample, in one folder)")
    x = _read_csv(data_file)
    labels = _read_csv(label_file)
    if labels.shape[1] == 1 or labels.shape[0] == 1 and x.shape[0] > 1:
        y = labels.reshape(-1)
        if not np.all(y == np.round(y)) or np.any(y < 0):
            raise InputError(f"{label_file}: labels must be class indices (integers >= 0) or one-hot rows")
    else:
        if not np.all(np.isin(labels, (0.0, 1.0))) or np.any(labels.sum(axis=1) != 1):
            raise InputError(f"{label_file}: every row must be one-hot (a single 1 among 0s)")
        y = np.argmax(labels, axis=1)
    if y.shape[0] != x.shape[0]:
        raise InputError(f"{data_file}: {x.shape[0]} samples but {label_file.name} has {y.shape[0]} labels")
    return (np.sign(x) + 1.0) / 2.0, y.astype(np.int64)

