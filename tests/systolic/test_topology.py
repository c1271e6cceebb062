"""SCALE-Sim topology CSVs and the conv -> GEMM lowering, checked against SCALE-Sim's own parser."""

from __future__ import annotations

from importlib import resources

import pytest

from imaclab.errors import ConfigError, InputError
from imaclab.systolic import ConvLayer, DepthwiseConvLayer, GemmLayer, load_topology, save_topology

CONV_CSV = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 224, 224, 3, 3, 3, 32, 2,
Conv2_DP, 112, 112, 3, 3, 32, 1, 1,#dw
Conv3, 112, 112, 1, 1, 32, 64, 1,

FC, 1, 1, 1, 1, 1024, 1000, 1,
"""

GEMM_CSV = """Layer, M, N, K,
QKT, 1024, 1024, 64,
QKTV, 1024, 64, 1024,
gemv, 1, 4096, 4096,
"""


def _shipped(name: str):
    return resources.files("imaclab.systolic") / "topologies" / name


def _scalesim_mnk(path, gemm: bool) -> list[tuple[int, int, int]]:
    """(M, N, K) of SCALE-Sim's operand matrices per layer it runs (operand_matrix.set_params)."""
    from scalesim import topology_utils  # the live reference: a test dependency, never skipped

    topo = topology_utils.topologies()
    topo.load_arrays(topofile=str(path), mnk_inputs=gemm)
    topo.topo_calc_hyperparams()
    dims = []
    for i in range(topo.get_num_layers()):
        oh, ow = topo.get_layer_ofmap_dims(i)
        dims.append((oh * ow, topo.get_layer_num_filters(i), topo.get_layer_window_size(i)))
    return dims


def test_conv_csv_read(tmp_path):
    path = tmp_path / "net.csv"
    path.write_text(CONV_CSV)
    layers = load_topology(path)
    assert [lay.name for lay in layers] == ["Conv1", "Conv2_DP", "Conv3", "FC"]
    conv1 = layers[0]
    assert isinstance(conv1, ConvLayer) and conv1.stride_height == conv1.stride_width == 2
    assert (conv1.ofmap_height, conv1.ofmap_width) == (112, 112)       # ceil((224 - 3 + 2) / 2)
    dw = layers[1]
    assert isinstance(dw, DepthwiseConvLayer) and dw.channels == 32 and dw.multiplier == 1
    assert dw.instances == 32 and dw.per_channel().channels == 1


def test_lowering_matches_scalesim(tmp_path):
    """M, N, K of every layer equal SCALE-Sim's (depthwise: one row per channel in SCALE-Sim)."""
    path = tmp_path / "net.csv"
    path.write_text(CONV_CSV)
    topo = _scalesim_mnk(path, gemm=False)
    ours = []
    for layer in load_topology(path):
        ours += [layer.gemm_dims()] * layer.instances
    assert ours == topo


def test_shipped_topologies_match_scalesim():
    resnet = _shipped("resnet18.csv")
    with resources.as_file(resnet) as path:
        topo = _scalesim_mnk(path, gemm=False)
        layers = load_topology(path)
    assert [lay.gemm_dims() for lay in layers] == topo
    # padded IFMAP sizes reproduce torchvision's ResNet-18 output sizes
    assert [lay.ofmap_height for lay in layers[:1]] == [112]
    assert layers[-1].gemm_dims() == (1, 1000, 512)
    with resources.as_file(_shipped("gpt2_decoder_layer.csv")) as path:
        topo = _scalesim_mnk(path, gemm=True)
        layers = load_topology(path, gemm=True)
    assert [lay.gemm_dims() for lay in layers] == topo


def test_gemm_csv_with_and_without_trailing_commas(tmp_path):
    with_commas = tmp_path / "a.csv"
    with_commas.write_text(GEMM_CSV)
    without = tmp_path / "b.csv"
    without.write_text(GEMM_CSV.replace(",\n", "\n"))
    a, b = load_topology(with_commas, gemm=True), load_topology(without, gemm=True)
    assert a == b
    assert a[2] == GemmLayer(name="gemv", m=1, n=4096, k=4096)
    topo = _scalesim_mnk(with_commas, gemm=True)
    assert [lay.gemm_dims() for lay in a] == topo


def test_round_trip_both_formats(tmp_path):
    layers = [GemmLayer(name="q", m=3, n=5, k=7), GemmLayer(name="o", m=1, n=9, k=2)]
    assert load_topology(save_topology(layers, tmp_path / "g.csv"), gemm=True) == layers
    mixed = [ConvLayer(name="c", ifmap_height=9, ifmap_width=7, filter_height=3, filter_width=2, channels=4,
                       num_filters=6, stride_height=2, stride_width=1),
             DepthwiseConvLayer(name="dwDP", ifmap_height=8, ifmap_width=8, filter_height=3, filter_width=3,
                                channels=5, multiplier=2)]
    assert load_topology(save_topology(mixed, tmp_path / "c.csv")) == mixed


def test_gemm_written_as_conv_keeps_its_lowering(tmp_path):
    gemm = GemmLayer(name="g", m=6, n=4, k=5)
    (conv,) = load_topology(save_topology([gemm], tmp_path / "c.csv", gemm=False))
    assert conv.gemm_dims() == gemm.gemm_dims()


def test_depthwise_name_convention(tmp_path):
    dw = DepthwiseConvLayer(name="dw", ifmap_height=8, ifmap_width=8, filter_height=3, filter_width=3, channels=3)
    (back,) = load_topology(save_topology([dw], tmp_path / "d.csv"))
    assert back.name == "dw_DP" and isinstance(back, DepthwiseConvLayer)
    with pytest.raises(ConfigError, match="DP"):
        save_topology([ConvLayer(name="DPconv", ifmap_height=4, ifmap_width=4, filter_height=1, filter_width=1,
                                 channels=1, num_filters=1)], tmp_path / "x.csv")


@pytest.mark.parametrize("text, gemm, message", [
    ("Layer, M, N, K,\nq, 4, x, 2,\n", True, ":2: N 'x' is not an integer"),
    ("Layer, M, N, K,\nq, 4, 2, 2,\nbad, 1, 2,\n", True, ":3: expected 4 fields"),
    (CONV_CSV, True, ":2: expected 4 fields"),
    (GEMM_CSV, False, ":2: expected 8 or 9 fields"),
    ("h,\nc, 3, 3, 5, 1, 1, 1, 1,\n", False, ":2: Filter Height 5 > IFMAP Height 3"),
    ("h,\nc, 3, 3, 1, 1, 0, 1, 1,\n", False, ":2: Channels must be >= 1"),
])
def test_malformed_topology_names_file_and_line(tmp_path, text, gemm, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_topology(path, gemm=gemm)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_filter_larger_than_ifmap_rejected():
    with pytest.raises(ValueError, match="filter_height 3 > ifmap_height 2"):
        ConvLayer(name="c", ifmap_height=2, ifmap_width=9, filter_height=3, filter_width=3, channels=1,
                  num_filters=1)
