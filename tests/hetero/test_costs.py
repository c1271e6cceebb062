"""The cost model: TPU cycles equal imaclab.systolic run directly, totals equal the sum of their parts,
closed-form energies, bytes and hand-offs."""

from __future__ import annotations

import math

import pytest

from imaclab.errors import InputError
from imaclab.hetero import (ConverterConfig, HeteroConfig, ImacLayerMeasurement, LayerCost, cost_designs,
                            horowitz_sram_pj_per_byte, total_cost)
from imaclab.hetero.config import HOROWITZ_INT8_MULT_PJ, HOROWITZ_INT32_ADD_PJ, KULL_ADC_POWER_W, KULL_ADC_RATE_HZ
from imaclab.systolic import ConvLayer, DepthwiseConvLayer, GemmLayer, SystolicConfig, simulate_layer

FC_MEASURED = [ImacLayerMeasurement("fc1", latency_s=3e-9, power_w=2e-3, crossbars=1, devices=2 * 9 * 6),
               ImacLayerMeasurement("fc2", latency_s=1e-9, power_w=2e-3, crossbars=1, devices=2 * 7 * 3)]


@pytest.fixture
def costs(small_cnn):
    return cost_designs(model=small_cnn, imac=FC_MEASURED)


def test_tpu_cycles_equal_the_systolic_room_run_directly(costs):
    cfg = SystolicConfig.preset("edge-32x32").with_overrides({"dram_bandwidth_words_per_cycle": 10})
    # the SmallCNN's layers written out by hand as SCALE-Sim layers (ifmap = the padded extent read)
    direct = {
        "conv": simulate_layer(cfg, ConvLayer(name="c", ifmap_height=11, ifmap_width=11, filter_height=3,
                                              filter_width=3, channels=1, num_filters=4, stride_height=2,
                                              stride_width=2)),
        "dw": simulate_layer(cfg, DepthwiseConvLayer(name="d", ifmap_height=4, ifmap_width=4, filter_height=3,
                                                     filter_width=3, channels=4, multiplier=1)),
        "pw": simulate_layer(cfg, ConvLayer(name="p", ifmap_height=2, ifmap_width=2, filter_height=1, filter_width=1,
                                            channels=4, num_filters=8)),
        "fc1": simulate_layer(cfg, GemmLayer(name="f1", m=1, n=6, k=8)),
        "fc2": simulate_layer(cfg, GemmLayer(name="f2", m=1, n=3, k=6)),
    }
    only = {c.name: c for c in costs.designs["tpu-only"].layers}
    imac = {c.name: c for c in costs.designs["tpu-imac"].layers}
    for name, report in direct.items():
        assert only[name].tpu_cycles == report.total_cycles
        assert only[name].stall_cycles == report.stall_cycles
        assert only[name].latency_s == pytest.approx(report.total_cycles / 200e6)
        assert only[name].dram_read_bytes == report.dram_ifmap_reads + report.dram_filter_reads
        assert only[name].dram_weight_bytes == report.dram_filter_reads
        assert only[name].sram_write_bytes == report.sram_ofmap_writes
        if name.startswith("conv") or name in ("dw", "pw"):
            assert imac[name].tpu_cycles == report.total_cycles  # the same convolutions in both designs
    assert imac["fc1"].unit == "imac" and imac["fc1"].tpu_cycles == 0


def test_totals_are_the_sum_of_their_parts(costs):
    for design in costs.designs.values():
        total = design.total
        assert total.latency_s == pytest.approx(sum(c.latency_s for c in design.layers))
        assert total.energy_j == pytest.approx(sum(c.energy_j for c in design.layers))
        assert total.weight_bytes == pytest.approx(sum(c.weight_bytes for c in design.layers))
        assert total.dram_bytes == pytest.approx(sum(c.dram_bytes for c in design.layers))
        assert total.energy_j == pytest.approx(total.energy_mac_j + total.energy_sram_j + total.energy_dram_j
                                               + total.energy_static_j + total.energy_imac_j
                                               + total.energy_conversion_j)
        by_unit = design.by_unit()
        assert sum(u.energy_j for u in by_unit.values()) == pytest.approx(total.energy_j)
        assert design.latency_s == pytest.approx(sum(design.stage_latency_s().values()))


def test_layer_cost_addition_is_fieldwise():
    a = LayerCost("a", "conv", "tpu", "tpu", macs=3, latency_s=1.0, energy_mac_j=2.0, weight_bytes=5)
    b = LayerCost("b", "linear", "imac", "imac", macs=4, latency_s=0.5, energy_imac_j=1.0, imac_devices=7)
    s = a + b
    assert (s.macs, s.latency_s, s.energy_j, s.weight_bytes, s.imac_devices) == (7, 1.5, 3.0, 5, 7)
    assert s.stage == "mixed" and s.unit == "total"
    assert total_cost([a, b]).energy_j == 3.0 and total_cost([]).energy_j == 0.0
    assert sum([a, b]).latency_s == 1.5


def test_energy_of_a_systolic_layer_in_closed_form(costs):
    c = {x.name: x for x in costs.designs["tpu-only"].layers}["pw"]
    e_mac = (HOROWITZ_INT8_MULT_PJ + HOROWITZ_INT32_ADD_PJ) * 1e-12
    e_sram = horowitz_sram_pj_per_byte(64 * 1024) * 1e-12  # all three edge SRAMs are 64 kB
    e_dram = 160e-12
    assert c.macs == 128
    assert c.energy_mac_j == pytest.approx(128 * e_mac)
    assert c.energy_sram_j == pytest.approx((c.sram_read_bytes + c.sram_write_bytes) * e_sram)
    assert c.energy_dram_j == pytest.approx(c.dram_bytes * e_dram)


def test_horowitz_sram_energy_hits_the_published_points():
    assert horowitz_sram_pj_per_byte(8 * 1024) == pytest.approx(10 / 8)
    assert horowitz_sram_pj_per_byte(32 * 1024) == pytest.approx(20 / 8)
    assert horowitz_sram_pj_per_byte(1024 * 1024) == pytest.approx(100 / 8)
    sizes = [1024, 8192, 65536, 2 ** 20, 2 ** 22]
    values = [horowitz_sram_pj_per_byte(s) for s in sizes]
    assert values == sorted(values)


def test_weight_bytes_and_memory_reduction(costs, small_cnn):
    only, imac = costs.designs["tpu-only"].total, costs.designs["tpu-imac"].total
    # 8-bit weights + int32 biases of every weighted layer
    assert only.weight_bytes == (36 + 36 + 32 + 48 + 18) + 4 * (4 + 6 + 3)
    assert imac.weight_bytes == (36 + 36 + 32) + 4 * 4
    assert imac.imac_weight_bits == (48 + 6) * 1 + (18 + 3) * 1  # binary crossbar weights, biases as a row
    assert imac.imac_devices == 2 * 9 * 6 + 2 * 7 * 3
    assert costs.ratios["memory_reduction"] == pytest.approx(1 - imac.weight_bytes / only.weight_bytes)


def test_handoffs_dac_and_adc_in_closed_form(costs):
    handoffs = [c for c in costs.designs["tpu-imac"].layers if c.unit == "handoff"]
    assert [h.kind for h in handoffs] == ["handoff-dac", "handoff-adc"]
    e_conv = KULL_ADC_POWER_W / KULL_ADC_RATE_HZ  # 8-bit conversion, 2.58 pJ
    t_conv = 1 / KULL_ADC_RATE_HZ
    dac, adc = handoffs
    # 8 activations read from the 64 kB OFMAP SRAM in one 32-byte row, then 8 parallel DACs
    assert dac.tpu_cycles == 1 and dac.sram_read_bytes == 8
    assert dac.latency_s == pytest.approx(1 / 200e6 + t_conv)
    assert dac.energy_conversion_j == pytest.approx(8 * e_conv)
    assert adc.energy_conversion_j == pytest.approx(3 * e_conv) and adc.latency_s == pytest.approx(t_conv)
    # the hand-offs sit before the first and after the last IMAC layer
    units = [c.unit for c in costs.designs["tpu-imac"].layers]
    assert units == ["tpu", "vector", "tpu", "tpu", "vector", "handoff", "imac", "imac", "handoff"]


def test_binarized_inputs_and_shared_converters(small_cnn):
    config = HeteroConfig().with_overrides({"handoff.adc.count": 1, "handoff.adc.bits": 4})
    costs = cost_designs(model=small_cnn, imac=FC_MEASURED, input_mode="binary", config=config)
    dac, adc = [c for c in costs.designs["tpu-imac"].layers if c.unit == "handoff"]
    e8 = KULL_ADC_POWER_W / KULL_ADC_RATE_HZ
    assert dac.kind == "handoff-binarize" and dac.energy_conversion_j == pytest.approx(8 * e8 / 2 ** 7)
    # one 4-bit ADC converts the 3 outputs one after the other: each 1/16 the energy, half the time
    assert adc.energy_conversion_j == pytest.approx(3 * e8 / 16)
    assert adc.latency_s == pytest.approx(3 * 0.5 / KULL_ADC_RATE_HZ)


def test_converter_scaling_rules():
    conv = ConverterConfig(bits=6)
    assert conv.energy_j == pytest.approx(KULL_ADC_POWER_W / KULL_ADC_RATE_HZ / 4)
    assert conv.time_s == pytest.approx(6 / 8 / KULL_ADC_RATE_HZ)
    assert ConverterConfig(energy_per_conversion_j=1e-12, count=2).batch(5) == (5e-12,
                                                                             pytest.approx(3 / KULL_ADC_RATE_HZ))


def test_imac_energy_is_power_times_latency_and_pipeline_throughput(costs):
    design = costs.designs["tpu-imac"]
    fc1 = {c.name: c for c in design.layers}["fc1"]
    assert fc1.energy_imac_j == pytest.approx(2e-3 * 3e-9) and fc1.latency_s == 3e-9
    stages = design.stage_latency_s()
    assert design.throughput_per_s == pytest.approx(1 / max(stages.values()))
    only = costs.designs["tpu-only"]
    assert only.throughput_per_s == pytest.approx(1 / only.latency_s)
    assert costs.ratios["speedup"] == pytest.approx(only.latency_s / design.latency_s)


def test_vector_unit_cost(costs):
    pool = {c.name: c for c in costs.designs["tpu-only"].layers}["pool"]
    # 4x2x2 outputs of a 2x2 max: 64 compares over 32 lanes
    assert pool.tpu_cycles == 2 and pool.energy_mac_j == pytest.approx(64 * 0.03e-12)
    assert (pool.sram_read_bytes, pool.sram_write_bytes) == (100, 16)


def test_dram_bandwidth_adds_stalls_and_calc_mode_has_none(small_cnn):
    # SCALE-Sim's USER mode prefetches before cycle 0, so this 1,238-MAC network never stalls in it
    # (checked against SCALE-Sim by the systolic tests); the bound model shows the link's cost
    user = cost_designs(model=small_cnn, imac=FC_MEASURED,
                        config=HeteroConfig(tpu_overrides={"dram_bandwidth_words_per_cycle": 1}))
    assert user.designs["tpu-only"].total.stall_cycles >= 0
    stalled = cost_designs(model=small_cnn, imac=FC_MEASURED,
                           config=HeteroConfig(tpu_overrides={"dram_bandwidth_words_per_cycle": 1,
                                                              "dram_model": "bound"}))
    calc = cost_designs(model=small_cnn, imac=FC_MEASURED, config=HeteroConfig(tpu_overrides={}))
    assert calc.designs["tpu-only"].total.stall_cycles == 0
    assert stalled.designs["tpu-only"].total.stall_cycles > 0
    assert stalled.designs["tpu-only"].latency_s > calc.designs["tpu-only"].latency_s


def test_missing_imac_measurement_is_an_input_error(small_cnn):
    with pytest.raises(InputError, match="no IMAC measurement"):
        cost_designs(model=small_cnn)
    none = cost_designs(model=small_cnn, config=HeteroConfig(imac_layers="none"))
    assert none.ratios["speedup"] == pytest.approx(1.0) and math.isclose(none.ratios["memory_reduction"], 0.0)
