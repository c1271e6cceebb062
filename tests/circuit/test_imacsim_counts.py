"""The imacsim netlist of IMAC-Sim's default configuration holds the elements IMAC-Sim's own
netlist holds (issue 17).  Expected counts are derived here from IMAC-Sim's code
(iCAS-Lab/IMAC-Sim, ``testIMAC.py`` defaults and ``mapLayer.py``'s loops), per layer with
``n_in`` inputs, ``n_out`` outputs, ``hpar = ceil((n_in + 1) / 32)``:

* memristors: ``Rwpos``/``Rwneg`` per weight + ``Rbpos``/``Rbneg`` per bias = 2 (n_in + 1) n_out
* wire resistors: ``Rin``/``Rbias`` (one per cell on the input lines) + ``Rsp``/``Rsn`` (two per
  cell on the I+/I- lines) = 3 (n_in + 1) n_out
* amplifiers: ``XDIFFw`` per (output, horizontal partition) = hpar n_out
* tie resistors: ``Rconn`` (1 mOhm) per amplifier = hpar n_out
* neurons: ``Xsig`` per output of every layer, the output layer included = n_out
"""

import math

import numpy as np

from imaclab.circuit import MLPModel, build_circuit
from imaclab.circuit.description import imacsim_row_partitions
from imaclab.circuit.netlist import write_netlist
from imaclab.imac import ImacConfig

SIZES = [400, 120, 84, 10]   # testIMAC.py: nodes
XBAR = 32                    # testIMAC.py: xbar = [32, 32]


def imacsim_counts(sizes, xbar):
    pairs = list(zip(sizes[:-1], sizes[1:]))
    hpar = [math.ceil((n_in + 1) / xbar) for n_in, _ in pairs]
    vpar = [math.ceil(n_out / xbar) for _, n_out in pairs]
    cells = sum((n_in + 1) * n_out for n_in, n_out in pairs)
    amps = sum(h * n_out for h, (_, n_out) in zip(hpar, pairs))
    return {"crossbars": sum(h * v for h, v in zip(hpar, vpar)), "memristors": 2 * cells,
            "wire_resistors": 3 * cells, "amplifiers": amps, "tie_resistors": amps,
            "neurons": sum(sizes[1:])}


def _model(sizes, seed=0):
    rng = np.random.default_rng(seed)
    ws = [np.where(rng.random((a, b)) < 0.5, -1.0, 1.0) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.where(rng.random(b) < 0.5, -1.0, 1.0) for b in sizes[1:]]
    return MLPModel(weights=tuple(ws), biases=tuple(bs), weight_kind="binary", meta={"convention": "imacsim"})


def _imacsim_config(**over):
    # IMAC-Sim's defaults: 5k/15k, 32x32, gains 30/30/10, averaged partitions through 1 mOhm ties
    return ImacConfig().with_overrides({"circuit.convention": "auto", "neuron.kind": "behavioral",
                                        "circuit.amplifier.join": "average", **over})


def test_imacsim_default_counts_match_imacsim_code():
    expected = imacsim_counts(SIZES, XBAR)
    assert expected == {"crossbars": 67, "memristors": 118268, "wire_resistors": 177402, "amplifiers": 1926,
                        "tie_resistors": 1926, "neurons": 214}
    circuit = build_circuit(_imacsim_config(), _model(SIZES))
    assert circuit.convention == "imacsim"
    counts = circuit.counts()
    assert {k: counts[k] for k in expected} == expected
    assert [lay.gain for lay in circuit.layers] == [30.0, 30.0, 10.0]
    assert {a.tie_resistance_ohm for lay in circuit.layers for a in lay.amplifiers} == {1e-3}


def test_imacsim_partition_node_structure():
    """mapLayer.py's horizontal partitions: 401 rows -> 31 x 6, 30, 31 x 5, 30."""
    sizes = [len(p) for p in imacsim_row_partitions(401, 13, 32)]
    assert sizes == [31] * 6 + [30] + [31] * 5 + [30]
    assert [len(p) for p in imacsim_row_partitions(121, 4, 32)] == [31, 30, 30, 30]
    assert [len(p) for p in imacsim_row_partitions(85, 3, 32)] == [29, 28, 28]
    circuit = build_circuit(_imacsim_config(), _model(SIZES))
    assert [len(p) for p in circuit.layers[0].row_partitions] == sizes
    # the bias row (the last) sits in the last partition, next to the amplifiers, as in IMAC-Sim
    assert all(lay.tiles[-1].has_bias_row for lay in circuit.layers)
    # imaclab's own convention keeps the even split
    own = build_circuit(_imacsim_config(**{"circuit.convention": "imaclab"}), _model(SIZES))
    assert [len(p) for p in own.layers[0].row_partitions] == [31] * 11 + [30] * 2


def test_imacsim_netlist_elements():
    """The written netlist holds those elements (a smaller network, same rules: 3 partitions)."""
    sizes = [70, 40, 10]
    circuit = build_circuit(_imacsim_config(), _model(sizes))
    text = write_netlist(circuit, circuit.encode(np.full((1, 70), 1.0)), analysis="dc").text
    lines = text.splitlines()

    def n(prefix):
        return sum(ln.startswith(prefix) for ln in lines)

    expected = imacsim_counts(sizes, XBAR)
    assert n("Rc") == expected["memristors"]
    assert n("Rw") == expected["wire_resistors"]
    assert n("Hap") == expected["amplifiers"]
    assert n("Rtie") == expected["tie_resistors"]
    assert n("Bn") == expected["neurons"]


def test_imacsim_counts_without_naming_the_join():
    """``circuit.amplifier.join: auto`` (the default) brings IMAC-Sim's averaged partitions with
    the convention: the same elements as ``join: average``, no option needed."""
    sizes = [70, 40, 10]
    cfg = ImacConfig().with_overrides({"circuit.convention": "auto", "neuron.kind": "behavioral"})
    assert cfg.circuit.amplifier.join == "auto"
    circuit = build_circuit(cfg, _model(sizes))
    assert circuit.join == "average"
    expected = imacsim_counts(sizes, XBAR)
    assert {k: circuit.counts()[k] for k in expected} == expected
    v = circuit.encode(np.full((1, 70), 1.0))
    assert write_netlist(circuit, v, analysis="dc").text == \
        write_netlist(build_circuit(_imacsim_config(), _model(sizes)), v, analysis="dc").text
