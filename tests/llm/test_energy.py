"""LLM designs in time and energy: tpu and hybrid-pim counted by hand on a tiny model (issue 15)."""

import json
import math

import pytest

from imaclab.cli import main
from imaclab.errors import ConfigError
from imaclab.imac.tiles import TileCosts
from imaclab.llm.architecture import CATEGORIES, LlmSpec
from imaclab.llm.costs import systolic_cost
from imaclab.llm.energy import energy_amdahl, hybrid_pim_design, roofline_design, tpu_design
from imaclab.llm.precision import PrecisionConfig, bytes_by_category
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.workload import WorkloadConfig, build_workload
from imaclab.systolic import SystolicConfig
from imaclab.systolic.energy import SystolicEnergy

TINY = LlmSpec(name="tiny", family="llama", num_layers=2, hidden_size=8, num_heads=2, num_kv_heads=2, head_dim=4,
               ffn_size=16, ffn_kind="gated", activation="silu", vocab_size=32, tied_embeddings=False,
               max_context=64, position_embedding="rotary", norm="rmsnorm")
ARRAY = SystolicConfig(array_rows=4, array_cols=4, ifmap_sram_kb=8, filter_sram_kb=8, ofmap_sram_kb=8)
# a made-up tile with round numbers: 4 inputs x 4 outputs, 8-bit DAC, 1 ns and 1 pJ per product
TILE = TileCosts(label="t", size=5, inputs=4, outputs=4, input_bits=8, output_bits=8, settling_s=1e-9, dac_s=0.0,
                 adc_s=0.0, crossbar_j=1e-12, amplifiers_j=0.0, neurons_j=0.0, adc_j=0.0, dac_j=0.0, power_w=1e-3,
                 array_area_um2=1.0, adc_area_um2=0.0, dac_area_um2=0.0, backend="fast")


@pytest.fixture()
def workload():
    return build_workload(TINY, WorkloadConfig(phase="decode", context_tokens=8))


def test_tiny_model_projections_by_hand(workload):
    proj = [op for op in workload.gemms if op.category == "projection"]
    # q, k, v, o (8x8), gate, up (8->16), down (16->8), one token
    assert sorted((op.k, op.n) for op in proj) == sorted([(8, 8)] * 4 + [(8, 16)] * 2 + [(16, 8)])
    prec = PrecisionConfig.parse("w1.58a8")
    energy = SystolicEnergy()
    cycles = systolic_cost(workload, ARRAY)
    tpu = tpu_design(workload, ARRAY, clock_hz=1e9, precision=prec, energy=energy, cycles=cycles)
    hyb = hybrid_pim_design(workload, ARRAY, TILE, clock_hz=1e9, precision=prec, energy=energy, cycles=cycles)
    # crossbars: 4 x (2x2) + 2 x (2x4) + 1 x (4x2) = 16 + 16 + 8 = 40 tiles per layer, 2 layers
    assert hyb.detail["tiles_required"] == 80
    # each tile does 1 product per activation bit slice: 8-bit activations over an 8-bit DAC = 1 op
    products = 80
    adds = 2 * (4 * 8 * (2 - 1) + 2 * 16 * (2 - 1) + 8 * (4 - 1))   # digital partial sums over k tiles
    assert hyb.energy_j_by_category["projection"] == pytest.approx(products * 1e-12 + adds * energy.accumulate_j)
    # time: each GEMM's tiles work in parallel on its one row: 7 GEMMs x 1 ns per layer
    assert hyb.seconds_by_category["projection"] == pytest.approx(2 * 7 * 1e-9)
    # the rest is the tpu's
    for cat in ("attention", "head", "other"):
        assert hyb.energy_j_by_category[cat] == pytest.approx(tpu.energy_j_by_category[cat])
        assert hyb.seconds_by_category[cat] == pytest.approx(tpu.seconds_by_category[cat])
    # no weight traffic for what the crossbars hold
    traffic = bytes_by_category(workload, prec)
    assert tpu.energy_j_by_category["data_movement"] - hyb.energy_j_by_category["data_movement"] == pytest.approx(
        traffic["projection"]["weight"] * energy.dram_j_per_byte)
    assert traffic["projection"]["weight"] == pytest.approx(2 * (4 * 64 + 3 * 128) * 1.58 / 8)
    # tpu projection energy: MACs at 8 bits (w1.58a8 computes at 8) plus SRAM
    macs = workload.macs_by_category()["projection"]
    assert tpu.energy_j_by_category["projection"] > macs * energy.mac_energy(8)
    assert tpu.tokens_per_j == pytest.approx(1 / tpu.energy_j)
    law = energy_amdahl(tpu, hyb, ("projection", "data_movement"))
    assert law["energy_gain_amdahl"] == pytest.approx(law["energy_gain"])
    assert law["ceiling_energy"] >= law["energy_gain"]


def test_crossbar_budget_and_rounds(workload):
    prec = PrecisionConfig.parse("w1.58a8")
    hyb = hybrid_pim_design(workload, ARRAY, TILE, clock_hz=1e9, precision=prec, energy=SystolicEnergy(),
                            crossbars_available=4)
    assert hyb.detail["weights_fit"] is False
    # 4 tiles at a time: q,k,v,o need 1 round, gate/up/down 2 rounds each
    assert hyb.seconds_by_category["projection"] == pytest.approx(2 * (4 * 1 + 3 * 2) * 1e-9)


def test_roofline_energy(workload):
    hw = RooflineHardware.preset("h100-sxm")
    prec = PrecisionConfig.parse("fp16")
    cost = roofline_design(workload, prec, hw)
    macs = workload.macs_by_category()["head"]
    assert cost.energy_j_by_category["head"] == pytest.approx(2 * macs * hw.energy_for_bits(16))
    assert set(cost.energy_j_by_category) == {*CATEGORIES, "data_movement"}


def test_cli_designs_and_beyond_max_context(capsys):
    out = {}
    for design in ("tpu", "h100-sxm"):
        assert main(["llm", "workload", "-m", "opt-125m", "-L", "64", "--design", design, "--json"]) == 0
        out[design] = json.loads(capsys.readouterr().out)
    tpu = out["tpu"]
    assert {"tokens_per_s", "tokens_per_j", "energy_j_by_category", "cycles_total"} <= set(tpu)
    assert set(tpu["energy_j_by_category"]) == {"projection", "attention", "head", "other", "data_movement"}
    assert tpu["tokens_per_j"] == pytest.approx(1 / sum(tpu["energy_j_by_category"].values()))
    assert out["h100-sxm"]["tokens_per_s"] > tpu["tokens_per_s"]
    assert main(["llm", "workload", "-m", "opt-125m", "-L", "4096", "--json"]) == 2
    assert "--allow-beyond-max-context" in capsys.readouterr().err
    assert main(["llm", "workload", "-m", "opt-125m", "-L", "4096", "--allow-beyond-max-context", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["context"] == 4096


def test_hybrid_pim_on_a_measured_tile(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["llm", "workload", "-m", "opt-125m", "-L", "64", "--design", "hybrid-pim", "--set", "tile.size=16",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["design"] == "hybrid-pim" and data["design_detail"]["tiles_required"] > 0
    assert math.isfinite(data["tokens_per_j"]) and data["tokens_per_j"] > 0
    assert list((tmp_path / "imaclab" / "tiles").glob("tile-16x16-*.npz"))


def test_amdahl_case_with_measured_tiles(tmp_path, monkeypatch):
    from imaclab.llm.api import AmdahlCaseJob, run

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    metrics = run(AmdahlCaseJob(model="opt-125m", context=128).with_set(["pim_tiles=true", "tile.size=16"])).metrics()
    assert list((tmp_path / "imaclab" / "tiles").glob("tile-*.npz")) == list(
        (tmp_path / "imaclab" / "tiles").glob("tile-16x16-ternary-bin-adc8-*.npz"))   # one tile for both columns
    assert metrics["energy_gain_hybrid_pim"] == pytest.approx(metrics["energy_j_tpu"] / metrics["energy_j_hybrid_pim"])
    f, s = metrics["f_energy"], metrics["s_energy_hybrid_pim"]
    assert metrics["energy_gain_hybrid_pim"] == pytest.approx(1 / ((1 - f) + f / s))
    assert metrics["ceiling_energy"] == pytest.approx(1 / (1 - f))
    assert metrics["tokens_per_j_tpu"] == pytest.approx(1 / metrics["energy_j_tpu"])   # decode, batch 1
    without = run(AmdahlCaseJob(model="opt-125m", context=128).with_set(["tile.size=16"])).metrics()
    assert "tokens_per_j_hybrid_pim" not in without and without["f_energy"] == pytest.approx(f)


def test_hybrid_pim_speedup_from_the_measured_tile(tile_cache):
    """By default (crossbar.operation_latency_s = None) the Amdahl column speedup_hybrid_pim takes the measured
    tile's latency, and then equals the tile design's own speedup; ISAAC's 100 ns is an option."""
    from imaclab.imac.tiles import TileSpec, characterize_tile
    from imaclab.llm.api import AmdahlCaseJob, run
    from imaclab.llm.improve import ISAAC_READ_LATENCY_S, PimCrossbarConfig, hybrid_pim_improvement

    # the crossbar takes the tile's size: tile.size=16 alone makes both hybrid columns use the 16x16 tile
    items = ["pim_tiles=true", "tile.size=16"]
    measured = run(AmdahlCaseJob(model="opt-125m", context=128).with_set(items)).metrics()
    fixed = run(AmdahlCaseJob(model="opt-125m", context=128).with_set(
        [*items, "crossbar.operation_latency_s=1e-7"])).metrics()
    tile = characterize_tile(TileSpec(size=16, device="ternary", input_driver="binary", output="adc", adc_bits=8))
    assert fixed["crossbar_latency_s_hybrid_pim"] == ISAAC_READ_LATENCY_S
    assert measured["crossbar_latency_s_hybrid_pim"] == tile.latency_s < ISAAC_READ_LATENCY_S
    assert measured["speedup_hybrid_pim"] > fixed["speedup_hybrid_pim"]
    # same tile, same operations (A8 bit-serial), unlimited crossbars: the two hybrid models agree
    assert measured["speedup_hybrid_pim"] == pytest.approx(measured["speedup_hybrid_pim_tile"], rel=1e-9)
    # also with the head on crossbars: both take its 16-bit activations from the quantized precision
    both = run(AmdahlCaseJob(model="opt-125m", context=128, improved=["projection", "head"]).with_set(
        items)).metrics()
    assert both["speedup_hybrid_pim"] == pytest.approx(both["speedup_hybrid_pim_tile"], rel=1e-9)
    # the library call: None resolves through the tile of tile_spec(); a given latency is kept
    assert PimCrossbarConfig().operation_latency_s is None
    assert PimCrossbarConfig().tile_spec().label == "128x128-ternary-bin-adc8"
    crossbar = PimCrossbarConfig(rows=16, cols=16)
    assert crossbar.tile_spec().label == "16x16-ternary-bin-adc8"
    assert crossbar.measured().operation_latency_s == tile.latency_s
    assert PimCrossbarConfig().measured(TileSpec(size=16)).size() == (16, 16)
    isaac = PimCrossbarConfig(operation_latency_s=ISAAC_READ_LATENCY_S).measured()
    assert isaac.operation_latency_s == ISAAC_READ_LATENCY_S and isaac.size() == (128, 128)
    work = build_workload(TINY, WorkloadConfig(phase="decode", context_tokens=8))
    a = hybrid_pim_improvement(work, ARRAY, crossbar, clock_hz=1e9)
    b = hybrid_pim_improvement(work, ARRAY, crossbar.measured(), clock_hz=1e9)
    assert a.speedup == b.speedup and a.extra["operation_latency_s"] == tile.latency_s
    with pytest.raises(ConfigError, match="square"):
        PimCrossbarConfig(rows=16, cols=32, operation_latency_s=None).measured()
    with pytest.raises(ConfigError, match="whole bits"):
        PimCrossbarConfig(input_bits_per_operation=1.5, operation_latency_s=None).measured()
    assert PimCrossbarConfig(input_bits_per_operation=4).tile_spec().label == "128x128-ternary-dac4-adc8"
    assert PimCrossbarConfig(input_bits_per_operation=4).tile_spec(TileSpec(size=32)).label == "32x32-ternary-dac4-adc8"


def test_one_crossbar_schedule_for_both_paths():
    """The Amdahl column (crossbar_seconds on a PimCrossbarConfig) and the energy design (crossbar_gemm_costs on a
    tile) share one schedule: the same crossbar geometry gives the same seconds and crossbar counts, with and
    without a crossbar budget, in decode and prefill."""
    from imaclab.llm.crossbar import crossbar_gemm_schedule
    from imaclab.llm.energy import crossbar_gemm_costs
    from imaclab.llm.improve import PimCrossbarConfig, crossbar_seconds

    # TILE holds 4 x 4 signed weights, takes 8 activation bits per product, 1 ns; w1.58a8: projection
    # activations 8 bits (1 product per row), the head's 16 (2 products per row) on both paths
    prec = PrecisionConfig.parse("w1.58a8")
    for phase, context in (("decode", 8), ("prefill", 16)):
        work = build_workload(TINY, WorkloadConfig(phase=phase, context_tokens=context))
        for budget in (None, 3):
            crossbar = PimCrossbarConfig(rows=4, cols=4, columns_per_weight=1, operation_latency_s=1e-9,
                                         input_bits_per_operation=8, crossbars_available=budget)
            per_layer, outside, required = crossbar_seconds(work, crossbar, ("projection", "head"), prec)
            seconds, joules, tiles = crossbar_gemm_costs(work, TILE, prec, SystolicEnergy(), ("projection", "head"),
                                                         budget)
            assert tiles == required
            for cat in CATEGORIES:
                assert seconds[cat] == pytest.approx(per_layer[cat] * TINY.num_layers + outside[cat], rel=1e-12)
            # by hand: decode, no budget: 7 projection GEMMs per layer x 2 layers, 1 row, 1 product of 1 ns;
            # the head (lm_head 8 -> 32) 1 GEMM outside the layers, 2 products (16-bit activations)
            if phase == "decode" and budget is None:
                assert seconds["projection"] == pytest.approx(14e-9) and seconds["head"] == pytest.approx(2e-9)
                assert tiles == 80 + 2 * 8
                # a crossbar with its own activation width overrides the precision's (here: 8-bit head)
                fixed = crossbar_seconds(work, crossbar.with_overrides({"activation_bits": 8}), ("head",), prec)
                assert fixed[1]["head"] == pytest.approx(1e-9)
            # prefill: 16 rows one after the other; with 3 crossbars a GEMM of 4 or 8 tiles takes 2 or 3 rounds
            if phase == "prefill" and budget == 3:
                rounds = 4 * 2 + 3 * 3      # q, k, v, o: 4 tiles; gate, up, down: 8 tiles
                assert seconds["projection"] == pytest.approx(2 * 16 * rounds * 1e-9)
                assert seconds["head"] == pytest.approx(2 * math.ceil(16 / 3) * 1e-9)   # last token only
    # a differential-pair crossbar halves the outputs per crossbar: twice the crossbars, same seconds
    schedule = crossbar_gemm_schedule(work, ("projection",), rows=4, cols=8, columns_per_weight=2, latency_s=1e-9,
                                      input_bits_per_operation=8, activation_bits=lambda _c: 8)
    assert schedule.crossbars_required == crossbar_seconds(work, crossbar.with_overrides(
        {"crossbars_available": None}), ("projection",))[2]
