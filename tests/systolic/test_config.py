"""SystolicConfig: presets, YAML/JSON round trip, SCALE-Sim .cfg read/write, one-line errors."""

from __future__ import annotations

import pytest

from imaclab.errors import ConfigError, InputError, UnknownNameError
from imaclab.systolic import SystolicConfig

# SCALE-Sim v2's own example configs/scale.cfg, verbatim (spaces, ':' and '=' separators,
# keys SCALE-Sim ignores such as MemoryBanks).
SCALESIM_EXAMPLE = """[general]
run_name = scale_example_run_32x32_os

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64\x20
FilterSramSzkB:  64\x20
OfmapSramSzkB:   64\x20
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : os
MemoryBanks:   1

[run_presets]
InterfaceBandwidth: CALC\x20
"""


def test_required_presets_exist_and_load():
    names = SystolicConfig.presets()
    for name in ("edge-32x32", "cloud-128x128", "cloud-256x256"):
        assert name in names
    edge = SystolicConfig.preset("edge-32x32")
    assert (edge.array_rows, edge.array_cols) == (32, 32)
    cloud = SystolicConfig.preset("cloud-256x256")
    assert (cloud.array_rows, cloud.array_cols, cloud.dataflow) == (256, 256, "ws")
    assert cloud.calc_bandwidth and cloud.clock_hz == pytest.approx(700e6)


def test_unknown_preset_suggests_names():
    with pytest.raises(UnknownNameError, match="edge-32x32"):
        SystolicConfig.preset("edge-32x3")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_yaml_json_round_trip(tmp_path, suffix):
    cfg = SystolicConfig.preset("cloud-128x128").with_overrides({"dataflow": "is",
                                                                  "dram_bandwidth_words_per_cycle": 16})
    path = cfg.save(tmp_path / f"array{suffix}")
    assert SystolicConfig.load(path) == cfg


def test_scalesim_cfg_round_trip(tmp_path):
    for name in SystolicConfig.presets():
        cfg = SystolicConfig.preset(name).with_overrides({"word_size_bytes": 2, "dram_bandwidth_words_per_cycle": 8})
        path = cfg.to_scalesim_cfg(tmp_path / f"{name}.cfg")
        assert SystolicConfig.from_scalesim_cfg(path) == cfg


def test_reads_scalesim_example_cfg_unchanged(tmp_path):
    path = tmp_path / "scale.cfg"
    path.write_text(SCALESIM_EXAMPLE)
    cfg = SystolicConfig.from_scalesim_cfg(path)
    assert cfg.run_name == "scale_example_run_32x32_os"
    assert (cfg.array_rows, cfg.array_cols, cfg.dataflow) == (32, 32, "os")
    assert (cfg.ifmap_sram_kb, cfg.filter_sram_kb, cfg.ofmap_sram_kb) == (64, 64, 64)
    assert cfg.filter_offset == 10_000_000 and cfg.dram_bandwidth_words_per_cycle is None


def test_scalesim_reads_what_we_write(tmp_path):
    from scalesim import scale_config  # the live reference: a test dependency, never skipped

    cfg = SystolicConfig(run_name="x", array_rows=12, array_cols=14, dataflow="ws", ifmap_sram_kb=108,
                         filter_sram_kb=20, ofmap_sram_kb=7, dram_bandwidth_words_per_cycle=5)
    path = cfg.to_scalesim_cfg(tmp_path / "x.cfg")
    theirs = scale_config.scale_config()
    theirs.read_conf_file(str(path))
    assert theirs.get_array_dims() == (12, 14)
    assert theirs.get_mem_sizes() == (108, 20, 7)
    assert theirs.get_dataflow() == "ws"
    assert theirs.use_user_dram_bandwidth() and theirs.get_bandwidths_as_list() == [5]


def test_resolve_accepts_preset_cfg_and_yaml(tmp_path):
    cfg = SystolicConfig.preset("edge-32x32")
    assert SystolicConfig.resolve("edge-32x32") == cfg
    assert SystolicConfig.resolve(cfg.to_scalesim_cfg(tmp_path / "a.cfg")) == cfg
    assert SystolicConfig.resolve(cfg.save(tmp_path / "a.yaml")) == cfg


def test_overrides_validate():
    cfg = SystolicConfig.preset("edge-32x32")
    assert cfg.with_overrides({"dataflow": "WS"}).dataflow == "ws"
    with pytest.raises(ConfigError):
        cfg.with_overrides({"dataflow": "xs"})
    with pytest.raises(ConfigError, match="array_rows"):
        cfg.with_overrides({"array_rows": 0})


@pytest.mark.parametrize("old, new, line, message", [
    ("Dataflow : os", "Dataflow : rs", 14, "Dataflow 'rs' is not one of os, ws, is"),
    ("ArrayHeight:    32", "ArrayHeight:    3x2", 5, "ArrayHeight '3x2' is not an integer"),
    ("InterfaceBandwidth: CALC", "InterfaceBandwidth: FAST", 18, "InterfaceBandwidth 'FAST' must be CALC or USER"),
])
def test_malformed_cfg_names_file_line_and_key(tmp_path, old, new, line, message):
    path = tmp_path / "bad.cfg"
    path.write_text(SCALESIM_EXAMPLE.replace(old, new))
    with pytest.raises(ConfigError) as err:
        SystolicConfig.from_scalesim_cfg(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_key_and_file(tmp_path):
    path = tmp_path / "nokey.cfg"
    path.write_text(SCALESIM_EXAMPLE.replace("ArrayWidth:     32\n", ""))
    with pytest.raises(ConfigError, match="missing ArrayWidth"):
        SystolicConfig.from_scalesim_cfg(path)
    with pytest.raises(InputError, match="not found"):
        SystolicConfig.from_scalesim_cfg(tmp_path / "absent.cfg")


def test_negative_size_names_line(tmp_path):
    path = tmp_path / "neg.cfg"
    path.write_text(SCALESIM_EXAMPLE.replace("OfmapSramSzkB:   64 ", "OfmapSramSzkB:   0"))
    with pytest.raises(ConfigError, match=rf"{path}:9: OfmapSramSzkB"):
        SystolicConfig.from_scalesim_cfg(path)


def test_user_bandwidth_mode(tmp_path):
    path = tmp_path / "user.cfg"
    path.write_text(SCALESIM_EXAMPLE.replace("CALC", "USER").replace("Bandwidth : 10", "Bandwidth : 16,32"))
    cfg = SystolicConfig.from_scalesim_cfg(path)
    assert cfg.dram_bandwidth_words_per_cycle == 16 and not cfg.calc_bandwidth
    assert cfg.sram_words("ifmap") == 64 * 1024
