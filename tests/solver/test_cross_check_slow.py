"""The fast solver against ngspice on a matrix of circuits (issue 5's validation; slow).

Five circuits, 210 samples in total (DC: outputs, classes, power) plus transients of the
first few samples of each (latency): three network shapes (one hidden layer, two hidden
layers, a wider first layer), several partitions per layer, parasitics off and on, device
variation off and on, binary and ternary weights, behavioral and transistor neurons, both
amplifier joins and two loading modes.  Bounds (never loosened): every output within 1 mV,
identical classes, power within 1 %, latency within 10 %.

Run: ``.venv/bin/python -m pytest tests/solver/test_cross_check_slow.py -m slow -s``
(prints one line of figures per circuit).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from imaclab.devices import sky130_available
from imaclab.imac import ImacConfig
from imaclab.imac.validate import validate

from solver_helpers import needs_ngspice, random_model

CASES = {
    "A-64-16-10-behavioral-binary-RC": dict(
        sizes=[64, 16, 10], kind="binary", neuron="behavioral", crossbar=(16, 8), parasitics=True,
        variation=0.0, samples=60, latency=4),
    "B-64-16-10-transistor-ternary-RC-variation": dict(
        sizes=[64, 16, 10], kind="ternary", neuron="transistor", crossbar=(16, 8), parasitics=True,
        variation=5.0, samples=50, latency=3),
    "C-48-20-12-5-transistor-binary-noRC-variation": dict(
        sizes=[48, 20, 12, 5], kind="binary", neuron="transistor", crossbar=(16, 16), parasitics=False,
        variation=5.0, samples=40, latency=3),
    "D-100-30-10-transistor-binary-RC-average": dict(
        sizes=[100, 30, 10], kind="binary", neuron="transistor", crossbar=(32, 16), parasitics=True,
        variation=0.0, samples=30, latency=2, join="average"),
    "E-30-12-6-behavioral-ternary-noRC-variation-buffer": dict(
        sizes=[30, 12, 6], kind="ternary", neuron="behavioral", crossbar=(8, 8), parasitics=False,
        variation=10.0, samples=30, latency=3, loading="buffer"),
}
#: Hidden-layer gain of the test networks: typical neuron inputs ~1 V, the largest a few volts
#: (the solver widens its neuron table when an input leaves the characterized range).
HIDDEN_GAIN = 8.0
OUTPUT_GAIN = 4.0
#: Long enough for the transistor neurons to settle (their latency is ~0.3-0.7 ns).
PERIOD_S = 2e-9
#: Transient step: rise time / 40 (SPICE's settling time is quantized to its time points).
TRAN_STEP_S = 2.5e-12


def case_config(spec: dict) -> ImacConfig:
    rows, cols = spec["crossbar"]
    return ImacConfig().with_overrides({
        "neuron.kind": spec["neuron"], "circuit.crossbar.rows": rows, "circuit.crossbar.columns": cols,
        "circuit.parasitics.resistance": spec["parasitics"], "circuit.parasitics.capacitance": spec["parasitics"],
        "devices.variation_sigma_pct": spec["variation"], "devices.seed": 7,
        "circuit.amplifier.join": spec.get("join", "sum"), "circuit.loading.mode": spec.get("loading", "direct"),
        "inputs.sampling_period_s": PERIOD_S, "simulation.spice.samples_per_netlist": 25})


@pytest.mark.slow
@needs_ngspice
@pytest.mark.parametrize("name", list(CASES))
def test_fast_matches_ngspice(name: str, tmp_path) -> None:
    spec = CASES[name]
    if spec["neuron"] == "transistor" and not sky130_available():
        pytest.skip("sky130 models not installed")
    sizes = spec["sizes"]
    gains = tuple([HIDDEN_GAIN] * (len(sizes) - 2) + [OUTPUT_GAIN])
    model = random_model(sizes, spec["kind"], seed=len(name), gains=gains)
    rng = np.random.default_rng(len(name))
    x = rng.random((spec["samples"], sizes[0]))
    rep = validate(config=case_config(spec), model=model, dataset=(x, np.zeros(len(x), dtype=int)),
                   samples=spec["samples"], latency_samples=spec["latency"], tran_step_s=TRAN_STEP_S,
                   workdir=tmp_path)
    line = (f"{name}: {rep.samples} samples, max |dV| {rep.max_output_diff_v * 1e3:.4f} mV, class mismatches "
            f"{rep.class_mismatches}, max power diff {rep.max_power_rel_diff * 100:.4f} %, latency "
            f"({rep.latency_samples} tran samples) max diff {rep.max_latency_rel_diff * 100:.2f} %, mean "
            f"{rep.mean_latency_rel_diff * 100:.2f} %; fast {rep.fast_s_per_sample:.3g} s/sample, ngspice DC "
            f"{rep.spice_dc_s_per_sample:.3g} s/sample, tran {rep.spice_tran_s_per_sample:.3g} s/sample")
    print(line)
    log = os.environ.get("IMACLAB_CROSS_CHECK_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps({"case": name, **rep.to_dict()}) + "\n")
    assert not rep.warnings, rep.warnings
    assert rep.checks == {k: True for k in rep.checks}, line
