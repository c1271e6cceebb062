"""What the digital readout and per-sample read noise cost the fast solver, measured in one run.

The 400-120-84-10 network (random 16-level weights), behavioral neurons, IMAC-Sim's 32x32
crossbars with parasitics, numpy backend, no latency estimate; each case solves the same
samples (best of ``REPEATS``, the cases interleaved) and is printed as a ratio to the
plain circuit:

* ``slices 2`` / ``slices 4`` -- the output layer as 2 (4) slices per weight (``converters.weight_slices``);
* ``adc per partition`` -- the output layer's partial sums read apart (``converters.adc_per_partition``);
* ``read noise per sample`` -- ``devices.read_noise_draw: sample`` (one extra product per layer).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/readout_and_read_noise.py [samples]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from imaclab.circuit import MLPModel, build_circuit
from imaclab.imac import ImacConfig
from imaclab.solver import SolverOptions, prepare, simulate

SIZES = (400, 120, 84, 10)
REPEATS = 7


def _model(levels: int) -> MLPModel:
    rng = np.random.default_rng(0)
    ws = tuple(-1.0 + 2.0 * rng.integers(0, levels, (a, b)) / (levels - 1) for a, b in zip(SIZES[:-1], SIZES[1:]))
    bs = tuple(-1.0 + 2.0 * rng.integers(0, levels, b) / (levels - 1) for b in SIZES[1:])
    return MLPModel(weights=ws, biases=bs, weight_kind="multilevel", gains=(30.0, 30.0, 10.0))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    base = {"neuron.kind": "behavioral", "devices.weight_kind": "multilevel", "devices.levels": 16}
    cases = {"plain": {}, "slices 2": {"converters.weight_slices": 2}, "slices 4": {"converters.weight_slices": 4},
             "adc per partition": {"converters.adc_per_partition": True},
             "read noise per sample": {"devices.read_noise": "relative", "devices.read_noise_pct": 2.0,
                                       "devices.read_noise_draw": "sample"}}
    model = _model(16)
    x = np.random.default_rng(1).random((n, SIZES[0]))
    options = SolverOptions(latency=False)
    circuits = {name: build_circuit(ImacConfig().with_overrides(base | over), model) for name, over in cases.items()}
    plans = {name: prepare(c, options) for name, c in circuits.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEATS):  # interleaved, so that a change of machine load hits every case alike
        for name, circuit in circuits.items():
            v = circuit.encode(x)
            t0 = time.perf_counter()
            simulate(circuit, v, options=options, plan=plans[name])
            best[name] = min(best[name], time.perf_counter() - t0)
    for name, circuit in circuits.items():
        print(f"{name:24s} crossbars {sum(circuit.crossbars_per_layer):3d}  channels {circuit.n_readout:3d}  "
              f"{best[name] / n * 1e6:8.2f} us/sample  x{best[name] / best['plain']:.2f}")

if __name__ == "__main__":
    main()
