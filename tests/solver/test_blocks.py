"""Block-diagonal products of the source admittances (the row partitions) and the loaded-neuron solve."""

from __future__ import annotations

import numpy as np

from imaclab.circuit import NetworkConfig, build_circuit
from imaclab.solver.backend import get_backend
from imaclab.solver.blocks import BlockProduct, contiguous_blocks
from imaclab.solver import SolverOptions, prepare, simulate
from imaclab.solver.neurons import NeuronLoad
from imaclab.solver.reduction import reduce_layer
from solver_helpers import needs_ngspice, needs_sky130, random_model


def test_row_partitions_make_the_source_admittance_block_diagonal():
    """Rows of different partitions meet only at the amplifiers' virtual grounds: the exact
    reduction leaves exact zeros between them, and the blocked product equals the dense one."""
    model = random_model([40, 9, 3], seed=2, gains=(6.0, 4.0))
    circuit = build_circuit(NetworkConfig().with_overrides({"circuit.crossbar.rows": 8,
                                                            "circuit.crossbar.columns": 4}), model)
    lm = reduce_layer(circuit, 0)
    y = lm.source_admittance
    bounds = contiguous_blocks(y)
    # 41 rows (bias last) in 6 row partitions of at most 8 rows: one block each
    parts = circuit.layers[0].row_partitions
    assert len(parts) == 6 and max(len(p) for p in parts) <= 8
    assert bounds == [(int(p[0]), int(p[-1]) + 1) for p in parts]
    s = np.random.default_rng(0).normal(size=(7, 41))
    for name in ("numpy", "torch"):
        be = get_backend(name, "cpu")
        prod = BlockProduct(be, y)
        assert prod.block_count == 6
        np.testing.assert_allclose(be.to_numpy(prod(be.asarray(s))), s @ y.T, rtol=1e-13, atol=1e-18)


def test_dense_matrices_keep_the_dense_product():
    m = np.random.default_rng(1).normal(size=(6, 6))
    assert contiguous_blocks(m) is None
    assert BlockProduct(get_backend("numpy"), m).block_count == 1
    # blocks that are not contiguous ranges (interleaved indices) fall back to dense too
    inter = np.zeros((4, 4))
    inter[np.ix_([0, 2], [0, 2])] = 1.0
    inter[np.ix_([1, 3], [1, 3])] = 2.0
    assert contiguous_blocks(inter) is None
    # two blocks of 3 save half the work: used
    two = np.zeros((6, 6))
    two[:3, :3], two[3:, 3:] = 1.0, 2.0
    assert contiguous_blocks(two) == [(0, 3), (3, 6)]
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(BlockProduct(get_backend("numpy"), two)(x), x @ two.T)


@needs_ngspice
@needs_sky130
def test_loaded_neuron_solution_satisfies_its_equations():
    """The Newton solve (blocked load products, second-order coupling inverse, step-size
    stop) against the loaded table evaluated independently (LoadedNeuronTable.output):
    every hidden output satisfies v = v_out(pin, Y v + i_bias)."""
    model = random_model([40, 17, 3], seed=5, gains=(6.0, 4.0))
    circuit = build_circuit(NetworkConfig().with_overrides({"neuron.kind": "transistor", "circuit.crossbar.rows": 8,
                                                            "circuit.crossbar.columns": 4}), model)
    options = SolverOptions(latency=False, neuron_pin_step_v=0.02, neuron_current_points=21)
    plan = prepare(circuit, options)
    load = NeuronLoad(get_backend("numpy"), plan.layers[1].source_admittance, circuit.bias_v)
    assert load.product.block_count == 3  # 18 rows / 8
    v_in = circuit.encode(np.random.default_rng(3).random((16, 40)))
    lm0, lm1 = plan.layers[0], plan.layers[1]
    s = np.hstack([v_in, np.full((16, 1), circuit.bias_v)])
    pin = lm0.amplifier_outputs(s @ lm0.amp_current.T)
    y = lm1.source_admittance
    for tolerance, bound in ((1e-9, 1e-8), (options.newton_tolerance_v, options.newton_tolerance_v)):
        res = simulate(circuit, v_in, options=options.with_overrides({"newton_tolerance_v": tolerance}), plan=plan)
        v = res.hidden[0]
        current = v @ y[:17, :17].T + y[:17, 17] * circuit.bias_v
        f, _ = plan.neuron.output(pin, current)
        assert np.abs(v - f).max() < bound
    assert np.abs(current).max() > 1e-4  # the load is real: the outputs sag


@needs_ngspice
@needs_sky130
def test_torch_backend_equals_numpy_with_loaded_transistor_neurons():
    model = random_model([40, 17, 3], seed=5, gains=(6.0, 4.0))
    circuit = build_circuit(NetworkConfig().with_overrides({"neuron.kind": "transistor", "circuit.crossbar.rows": 8,
                                                            "circuit.crossbar.columns": 4,
                                                            "circuit.amplifier.join": "average"}), model)
    v_in = circuit.encode(np.random.default_rng(3).random((12, 40)))
    coarse = dict(latency=False, neuron_pin_step_v=0.02, neuron_current_points=21)
    a = simulate(circuit, v_in, options=SolverOptions(**coarse))
    b = simulate(circuit, v_in, options=SolverOptions(array_backend="torch", device="cpu", **coarse))
    np.testing.assert_allclose(b.outputs, a.outputs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.total_power_w, a.total_power_w, rtol=1e-12)


def test_batches_on_threads_give_the_same_result_as_one_thread(monkeypatch):
    """Batches solved on several threads land in their own slices: identical to one thread, bit
    for bit; the default thread count follows OMP_NUM_THREADS (a sweep worker's share)."""
    from imaclab.solver.backend import cpu_threads

    model = random_model([40, 17, 3], seed=5, gains=(6.0, 4.0))
    circuit = build_circuit(NetworkConfig().with_overrides({"circuit.crossbar.rows": 8,
                                                            "circuit.crossbar.columns": 4}), model)
    v_in = circuit.encode(np.random.default_rng(4).random((301, 40)))
    one = simulate(circuit, v_in, options=SolverOptions(threads=1, batch_size=32))
    many = simulate(circuit, v_in, options=SolverOptions(threads=3, batch_size=32))
    assert np.array_equal(one.outputs, many.outputs)
    assert np.array_equal(one.latency_s, many.latency_s) and np.all(one.latency_s > 0)
    assert np.array_equal(one.total_power_w, many.total_power_w)
    assert [np.array_equal(a, b) for a, b in zip(one.hidden, many.hidden)] == [True]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads() == 1
    assert cpu_threads(4) == 4
