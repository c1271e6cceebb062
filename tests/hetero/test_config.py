"""HeteroConfig: round trip, overrides, resolution of the systolic array, the trained model's IMAC fields."""

from __future__ import annotations

import numpy as np
import pytest

from imaclab.errors import ConfigError, UnknownNameError
from imaclab.hetero import HeteroConfig, HeteroJob, imac_config_for_model
from imaclab.imac import MLPModel


def test_yaml_and_json_round_trip(tmp_path):
    config = HeteroConfig(tpu="cloud", imac_layers=["classifier.layers.0"], pipeline=False).with_overrides(
        {"handoff.dac.bits": 4, "energy.sram_j_per_byte": 2e-12, "imac.circuit.crossbar.rows": 64})
    for name in ("c.yaml", "c.json"):
        assert HeteroConfig.load(config.save(tmp_path / name)) == config
    assert HeteroConfig.from_yaml(HeteroConfig().to_yaml()) == HeteroConfig()


def test_systolic_resolution_and_overrides():
    default = HeteroConfig().systolic()
    assert (default.array_rows, default.array_cols, default.clock_hz) == (32, 32, 200e6)
    assert default.dram_bandwidth_words_per_cycle == 10  # DRAM stalls modelled by default
    calc = HeteroConfig(tpu_overrides={}).systolic()
    assert calc.calc_bandwidth
    cloud = HeteroConfig(tpu="cloud").with_set(["tpu_overrides.dataflow=ws"]).systolic()
    assert (cloud.array_rows, cloud.dataflow) == (128, "ws")
    assert HeteroConfig().tpu_label == "edge-32x32"
    with pytest.raises(UnknownNameError, match="systolic preset"):
        HeteroConfig(tpu="edge-7x7").systolic()


def test_command_line_settings():
    config = HeteroJob().with_overrides({"accuracy.test_samples": 50, "accuracy.backend": "spice", "pipeline": False}
                                        ).with_set(["energy.dram_j_per_byte=1e-11",
                                                    "handoff.output_conversion=comparator"])
    assert config.energy.dram_j_per_byte == 1e-11 and config.handoff.output_conversion == "comparator"
    assert (config.accuracy.test_samples, config.accuracy.backend, config.pipeline) == (50, "spice", False)
    with pytest.raises(ConfigError, match="dotted.path=value"):  # the one --set parser, imaclab.config.parse_set
        HeteroJob().with_set(["energy.mac_j"])
    with pytest.raises(ConfigError, match="bogus"):
        HeteroJob().with_set(["energy.bogus=1"])
    with pytest.raises(ConfigError):
        HeteroJob().with_set(["handoff.dac.bits=0"])


def test_trained_model_fields_replace_the_circuit_settings():
    mlp = MLPModel(weights=(np.ones((3, 2)),), biases=(np.zeros(2),), weight_kind="binary",
                   meta={"r_low_ohm": 4e3, "r_high_ohm": 40e3, "vdd_v": 0.7, "input_mode": "analog"})
    base = HeteroConfig().imac.with_overrides({"circuit.crossbar.rows": 16, "devices.variation_sigma_pct": 5.0})
    config, notes = imac_config_for_model(base, mlp)
    assert (config.devices.r_low_ohm, config.devices.r_high_ohm, config.neuron.vdd_v) == (4e3, 40e3, 0.7)
    assert config.inputs.mode == "analog"
    # the user's circuit settings stay
    assert config.circuit.crossbar.rows == 16 and config.devices.variation_sigma_pct == 5.0
    assert any("r_low_ohm" in n for n in notes)


def test_a_model_with_its_circuit_brings_every_field_the_user_left_at_its_default():
    from imaclab.circuit.config import NetworkConfig
    from imaclab.imac.model_io import trained_settings_notice

    trained = NetworkConfig().with_overrides({"circuit.crossbar.rows": 16, "circuit.amplifier.join": "average",
                                              "neuron.kind": "behavioral", "inputs.mode": "analog",
                                              "devices.r_low_ohm": 4e3})
    mlp = MLPModel(weights=(np.ones((3, 2)),), biases=(np.zeros(2),), weight_kind="binary", gains=(2.0,),
                   meta={"network_config": trained.to_dict(), "r_low_ohm": 4e3})
    base = HeteroConfig().imac.with_overrides({"circuit.crossbar.rows": 8, "devices.variation_sigma_pct": 5.0})
    config, notes = imac_config_for_model(base, mlp)
    assert notes == []  # the evaluation's notice names the overrides (below)
    # trained: join, neuron, inputs, resistances; the user's (away from the defaults): rows, variation
    assert (config.circuit.amplifier.join, config.neuron.kind, config.inputs.mode) == ("average", "behavioral",
                                                                                        "analog")
    assert config.devices.r_low_ohm == 4e3 and config.circuit.crossbar.columns == 32
    assert config.circuit.crossbar.rows == 8 and config.devices.variation_sigma_pct == 5.0
    notice = trained_settings_notice(config, mlp)
    assert notice is not None and "circuit.crossbar.rows=8 (trained: 16)" in notice
    assert "devices.variation_sigma_pct=5.0 (trained: 0.0)" in notice and "join" not in notice
