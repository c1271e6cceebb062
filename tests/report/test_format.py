"""Numbers with units and sensible precision: no 16-digit floats on a page."""

from __future__ import annotations

import pytest

from imaclab.report.format import format_number, format_si, format_value, label_of


@pytest.mark.parametrize(
    "name, value, text",
    [
        ("mean_power_w", 0.32325161067113944, "323.3 mW"),
        ("mean_latency_s", 4.07239879549873e-10, "407.2 ps"),
        ("tpu_imac_latency_s", 1.176667580293955e-08, "11.77 ns"),
        ("latency_s", 0.002069745, "2.07 ms"),
        ("energy_j", 4.611348656080994e-10, "461.1 pJ"),
        ("area_um2.total_um2", 15613.8496, "15,614 µm²"),
        ("totals.total_cycles", 413949, "413,949 cycles"),
        ("test_accuracy", 0.3398328690807799, "33.98 %"),
        ("overall_utilization", 0.8238696071255155, "82.39 %"),
        ("speedup", 126.20386801419458, "126.2×"),
        ("tokens_per_s_systolic", 16.726960389303276, "16.73 tokens/s"),
        ("clock_hz", 2e8, "200 MHz"),
        ("dram_bytes", 2756470, "2.756 MB"),
        ("accuracy_drop_points", -9.47, "-9.47 points"),
        ("seconds_per_epoch", 0.02288, "22.88 ms"),
        ("samples", 50, "50"),
        ("m", 12544, "12,544"),  # a GEMM dimension, not metres
        ("bytes", 2048, "2.048 kB"),
        ("mean_power_w", 0.99999999, "1 W"),  # rounding carries into the next prefix
        ("x", 123456789.123, "1.235e+08"),
        ("flag", True, "yes"),
        ("missing", None, "–"),
    ],
)
def test_format_value(name, value, text):
    assert format_value(name, value) == text


def test_no_long_floats():
    for value in (1 / 3, 2 / 3 * 1e-7, 12345.678901234, 0.1 + 0.2, 7.5e-4, 1e20 / 3):
        digits = sum(ch.isdigit() for ch in format_number(value).split("e")[0])
        assert digits <= 5, format_number(value)
    assert format_number(float("nan")) == "n/a"
    assert format_si(0.0, "W") == "0 W"
    assert format_si(-3.2e-3, "W") == "-3.2 mW"


def test_labels():
    assert label_of("tpu_imac_latency_s") == "TPU-IMAC latency"
    assert label_of("summary.dram_traffic_reduction") == "DRAM traffic reduction"
