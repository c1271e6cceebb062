import numpy as np
import pytest

from imaclab.devices.inputs import InputConfig, bias_voltage, encode_inputs
from imaclab.errors import InputError


def test_binary_and_analog_encoding():
    x = np.array([0.0, 0.49, 0.5, 1.0])
    assert encode_inputs(x, "binary", 0.8).tolist() == [-0.8, -0.8, 0.8, 0.8]
    assert np.allclose(encode_inputs(x, "analog", 0.8), [-0.8, -0.016, 0.0, 0.8])
    assert bias_voltage(0.9) == 0.9


def test_encoding_rejects_bad_data():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        encode_inputs(np.array([0.0, 255.0]))
    with pytest.raises(InputError, match="NaN"):
        encode_inputs(np.array([np.nan]))


def test_input_config_round_trip(tmp_path):
    cfg = InputConfig(mode="analog", sampling_period_s=2e-9)
    assert InputConfig.load(cfg.save(tmp_path / "in.yaml")) == cfg
    with pytest.raises(Exception, match="rise_time_s"):
        InputConfig(sampling_period_s=1e-10, rise_time_s=2e-10)
