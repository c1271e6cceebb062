"""Fast solver vs ngspice on the 400-120-84-10 IMAC network (20x20 Fashion-MNIST).

Measured in one run, on this machine:

1. a binary-weight 400-120-84-10 MLP trained briefly on 20x20 Fashion-MNIST (plain torch,
   sign weights with a straight-through estimator, seeded; cached between runs);
2. its circuit with the default (sky130 transistor) neurons, parasitics on (R and C) and
   32x32 crossbars (52 + 12 + 3 tiles: partitioning on), and the same circuit with
   behavioral (ideal-source) neurons for the fast-backend timing;
3. ngspice on the first ``--spice-samples`` test images (DC: one operating point per sample)
   and a transient of the first ``--tran-samples`` (the latency analysis);
4. the fast backend on the same images (checked against ngspice) and on the full
   10,000-image test set, without and with the latency estimate;
5. a plain numpy forward pass of the same-size network (matrix products + tanh), the
   physical limit of this work (the circuit reduces to one affine map per layer).

Timings of the full test set are the best of 5 rounds, the cases (fast transistor, numpy,
fast behavioral) taken in turn within each round (see ``best_times``).  Prints times per sample and the ratios.  Run: ``.venv/bin/python benchmarks/solver_vs_ngspice.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from imaclab.circuit import MLPModel, build_circuit
from imaclab.imac import ImacConfig, load_mlp, save_npz
from imaclab.data.datasets import load_dataset
from imaclab.solver import SolverOptions, prepare, simulate
from imaclab.spice.runner import SpiceOptions, run_spice

SIZES = (400, 120, 84, 10)
#: Amplifier gains of IMAC-Sim's 400-120-84-10 example (imaclab.circuit.config.DEFAULT_GAINS).
GAINS = (30.0, 30.0, 10.0)


def train_binary_mlp(epochs: int, seed: int) -> MLPModel:
    """A sign-weight MLP trained with a straight-through estimator on +-VDD inputs, through
    the circuit's ideal relation u = A/(N+1) * (v @ W + v_bias b) and a VDD*tanh(u/VDD) neuron."""
    import torch

    vdd = 0.8
    train = load_dataset("fashion-mnist", split="train", crop=20, flatten=True)
    torch.manual_seed(seed)
    x = torch.tensor(np.where(train.x >= 0.5, vdd, -vdd), dtype=torch.float32)
    y = torch.tensor(train.y, dtype=torch.int64)
    latent = [torch.nn.Parameter(torch.randn(a, b) * 0.1) for a, b in zip(SIZES[:-1], SIZES[1:])]
    bias = [torch.nn.Parameter(torch.randn(b) * 0.1) for b in SIZES[1:]]
    opt = torch.optim.Adam(latent + bias, lr=5e-3)

    def forward(v):
        for li, (w, b) in enumerate(zip(latent, bias)):
            wb = w + (torch.sign(w) - w).detach()
            bb = b + (torch.sign(b) - b).detach()
            u = GAINS[li] / (w.shape[0] + 1) * (v @ wb + vdd * bb)
            v = vdd * torch.tanh(u / vdd) if li < len(latent) - 1 else u
        return v

    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for k in range(0, x.shape[0], 256):
            idx = perm[k:k + 256]
            loss = torch.nn.functional.cross_entropy(forward(x[idx]) * 4.0, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    weights = tuple(np.sign(w.detach().numpy()).astype(np.float64) for w in latent)
    biases = tuple(np.sign(b.detach().numpy()).astype(np.float64) for b in bias)
    return MLPModel(weights=weights, biases=biases, weight_kind="binary", gains=GAINS,
                    source="benchmarks/solver_vs_ngspice.py")


def numpy_forward(v: np.ndarray, model: MLPModel, vdd: float) -> np.ndarray:
    """The same-size network in plain numpy: affine map per layer, tanh between."""
    for li, (w, b) in enumerate(zip(model.weights, model.biases)):
        u = (v @ w + vdd * b) * (GAINS[li] / (w.shape[0] + 1))
        v = vdd * np.tanh(u / vdd) if li < model.n_layers - 1 else u
    return v


def best_times(cases: dict, rounds: int = 5, pause_s: float = 0.3) -> dict[str, tuple[float, float]]:
    """Per case ``name: fn(inputs)``: (best wall time, best CPU time of this process) of
    ``fn(v_full)``, seconds, over ``rounds`` calls taken in turn (case after case, round after
    round), so that a slower spell of a shared machine hits every case alike.  The CPU time is
    the steadier figure on a busy machine.  Before each timed call: a pause, so that the BLAS
    threads of a numpy call go back to sleep (OpenBLAS spins them ~0.1 s after a parallel
    product, taking a core from the next case), then an untimed call on the first 256 inputs
    (the core wakes up from the pause; caches and thread pools are warm for every case alike)."""
    best = {name: (float("inf"), float("inf")) for name in cases}
    for _ in range(rounds):
        for name, (fn, full) in cases.items():
            time.sleep(pause_s)
            fn(full[:256])
            t0, c0 = time.perf_counter(), time.process_time()
            fn(full)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spice-samples", type=int, default=2, help="test images simulated by ngspice (DC; 0: skip)")
    ap.add_argument("--tran-samples", type=int, default=1, help="test images in the ngspice transient (0: skip)")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs of the benchmark network")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout-s", type=float, default=6 * 3600.0, help="time limit of one ngspice process")
    ap.add_argument("--model-cache", type=Path, default=Path.home() / ".cache" / "imaclab" / "bench")
    args = ap.parse_args()

    key = hashlib.sha256(f"{SIZES}{GAINS}{args.epochs}{args.seed}".encode()).hexdigest()[:12]
    model_path = args.model_cache / f"fmnist-400-120-84-10-{key}.npz"
    if model_path.is_file():
        model = load_mlp(model_path)
    else:
        t0 = time.perf_counter()
        model = train_binary_mlp(args.epochs, args.seed)
        save_npz(model, model_path)
        print(f"trained the benchmark network in {time.perf_counter() - t0:.1f} s -> {model_path}")
    test = load_dataset("fashion-mnist", split="test", crop=20, flatten=True)
    config = ImacConfig()  # transistor neurons, parasitics R+C on, 32x32 crossbars
    circuit = build_circuit(config, model)
    v_all = circuit.encode(test.x)
    print(f"load average (1/5/15 min) at the start: {load_average()} on {os.cpu_count()} CPUs")
    print(f"network {'-'.join(map(str, circuit.layer_sizes))}, crossbars per layer {circuit.crossbars_per_layer}, "
          f"neuron {config.neuron.kind}, counts {circuit.counts()}")

    t0 = time.perf_counter()
    plan = prepare(circuit, SolverOptions())
    simulate(circuit, v_all, options=SolverOptions(latency=False), plan=plan)  # widens the neuron table if needed
    print(f"fast backend preparation (exact reduction of every tile; neuron tables characterized or read "
          f"from the cache): {time.perf_counter() - t0:.2f} s")

    n = args.spice_samples
    with tempfile.TemporaryDirectory(prefix="imaclab-bench-") as tmp:
        dc = None
        if n:
            dc = run_spice(circuit=circuit, samples_v=v_all[:n],
                           options=SpiceOptions(analysis="dc", workers=1, samples_per_netlist=1,
                                                timeout_s=args.timeout_s),
                           workdir=Path(tmp) / "dc", progress=False)
            if dc.errors:
                raise SystemExit(f"ngspice DC failed: {dc.errors[0]}")
        tran = None
        if args.tran_samples:
            m = args.tran_samples
            tran = run_spice(circuit=circuit, samples_v=v_all[:m],
                             options=SpiceOptions(analysis="tran", workers=1, samples_per_netlist=m,
                                                  timeout_s=args.timeout_s),
                             workdir=Path(tmp) / "tran", progress=False)
            if tran.errors:
                raise SystemExit(f"ngspice transient failed: {tran.errors[0]}")
    small = simulate(circuit, v_all[:max(n, args.tran_samples, 1)], plan=plan)
    if dc is not None:
        err = np.abs(small.outputs[:n] - dc.outputs).max()
        p_err = np.max(np.abs(small.total_power_w[:n] - dc.total_power_w) / dc.total_power_w)
        print(f"ngspice DC, {n} samples: {dc.ngspice_s / n:.3f} s/sample wall ({dc.ngspice_cpu_s / n:.3f} s CPU); "
              f"fast vs ngspice: max |dV_out| {err * 1e3:.4f} mV, classes equal "
              f"{bool(np.all(small.outputs[:n].argmax(1) == dc.outputs.argmax(1)))}, max power diff "
              f"{p_err * 100:.4f} %")
    if tran is not None:
        m = args.tran_samples
        print(f"ngspice transient, {m} samples: {tran.ngspice_s / m:.1f} s/sample wall "
              f"({tran.ngspice_cpu_s / m:.1f} s CPU); latency ngspice {np.round(tran.latency_s * 1e12, 1)} ps, "
              f"fast {np.round(small.latency_s[:m] * 1e12, 1)} ps")

    opts_dc = SolverOptions(latency=False)
    n_all = v_all.shape[0]
    # the same network with behavioral (ideal-source) neurons: no loaded-neuron Newton, the
    # circuit is exactly one affine map per layer plus the neuron function
    beh = build_circuit(config.with_overrides({"neuron.kind": "behavioral"}), model)
    beh_plan = prepare(beh, opts_dc)
    times = best_times({"transistor": (lambda v: simulate(circuit, v, options=opts_dc, plan=plan), v_all),
                        "numpy": (lambda v: numpy_forward(v, model, circuit.supply_v), v_all),
                        "behavioral": (lambda v: simulate(beh, v, options=opts_dc, plan=beh_plan), v_all)})
    (t_fast, c_fast), (t_np, c_np), (t_beh, c_beh) = times["transistor"], times["numpy"], times["behavioral"]
    t0, c0 = time.perf_counter(), time.process_time()
    full = simulate(circuit, v_all, plan=plan)
    t_lat, c_lat = time.perf_counter() - t0, time.process_time() - c0
    acc = float(np.mean(full.outputs.argmax(1) == test.y))
    per = t_fast / n_all
    print(f"fast backend, transistor neurons, full test set ({n_all} images): outputs+power {t_fast:.3f} s wall "
          f"({per * 1e6:.2f} us/sample), {c_fast:.3f} s CPU; with latency {t_lat:.2f} s wall, {c_lat:.2f} s CPU; "
          f"circuit accuracy {acc * 100:.2f} %")
    print(f"plain numpy forward of the same-size network (tanh neurons): {t_np:.3f} s wall, {c_np:.3f} s CPU -> "
          f"fast(transistor)/numpy = {t_fast / t_np:.2f}x wall, {c_fast / c_np:.2f}x CPU")
    t0, c0 = time.perf_counter(), time.process_time()
    simulate(beh, v_all, plan=beh_plan)
    t_beh_lat, c_beh_lat = time.perf_counter() - t0, time.process_time() - c0
    print(f"fast backend, behavioral neurons, full test set: outputs+power {t_beh:.3f} s wall, {c_beh:.3f} s CPU "
          f"-> fast(behavioral)/numpy = {t_beh / t_np:.2f}x wall, {c_beh / c_np:.2f}x CPU; with latency "
          f"{t_beh_lat:.2f} s wall, {c_beh_lat:.2f} s CPU")
    print(f"load average (1/5/15 min) at the end: {load_average()} on {os.cpu_count()} CPUs")
    if dc is not None:
        print(f"speed-up per sample vs ngspice DC (transistor neurons, outputs+power): "
              f"{dc.ngspice_s / n / per:,.0f}x (wall), {dc.ngspice_cpu_s / n / (c_fast / n_all):,.0f}x (CPU)")
    if tran is not None:
        per_lat = t_lat / n_all
        print(f"speed-up per sample vs ngspice transient (transistor neurons, fast with latency): "
              f"{tran.ngspice_s / args.tran_samples / per_lat:,.0f}x (wall), "
              f"{tran.ngspice_cpu_s / args.tran_samples / (c_lat / n_all):,.0f}x (CPU)")


if __name__ == "__main__":
    main()
