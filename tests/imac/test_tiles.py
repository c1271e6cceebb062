"""Crossbar tiles (imac/tiles.py) against the circuit room run directly (issue 15)."""

import numpy as np
import pytest

from imaclab.hetero.config import ConverterConfig
from imaclab.hetero.imac_part import settling_mean
from imaclab.imac.evaluate import evaluate
from imaclab.imac.tiles import TILE_ENERGY_PARTS, TileSpec, characterize_tile, tile_network, tile_table


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tiles")


def test_tile_equals_the_circuit_room_run_directly(cache):
    spec = TileSpec(size=16, device="ternary", input_driver="dac", dac_bits=4, output="adc", adc_bits=6)
    tile = characterize_tile(spec, cache_dir=cache)
    mlp, x01, labels, config = tile_network(spec)
    direct = evaluate(config=config, model=mlp, dataset=(x01, labels), progress=False)
    settling = settling_mean(direct.latency_s, direct.ok)
    assert tile.settling_s == pytest.approx(settling)
    assert tile.crossbar_j == pytest.approx(np.mean(direct.power_w["crossbars"]) * settling)
    assert tile.array_area_um2 == pytest.approx(direct.area.total_um2)
    assert (tile.inputs, tile.outputs) == (15, 16)
    assert tile.adc_j == pytest.approx(16 * ConverterConfig(bits=6).energy_j)
    assert tile.dac_j == pytest.approx(15 * ConverterConfig(bits=4).energy_j)
    assert tile.latency_s == pytest.approx(ConverterConfig(bits=4).time_s + settling + ConverterConfig(bits=6).time_s)
    assert tile.energy_j == pytest.approx(sum(getattr(tile, f"{p}_j") for p in TILE_ENERGY_PARTS))
    assert 0 < tile.settling_s < config.inputs.sampling_period_s
    # cached: the second call reads the file
    assert characterize_tile(spec, cache_dir=cache) == tile
    assert len(list(cache.glob("tile-16x16-ternary-*.npz"))) == 1


def test_peripherals_and_devices_change_the_costs(cache):
    rows = tile_table(sizes=(16,), devices=("binary", "multilevel"),
                      base=TileSpec(input_driver="binary", output="comparator"), cache_dir=cache)
    assert [r.label for r in rows] == ["16x16-binary-bin-cmp", "16x16-ml4-bin-cmp"]
    cheap = rows[0]
    rich = characterize_tile(TileSpec(size=16, device="binary", input_driver="dac", output="adc"), cache_dir=cache)
    assert rich.adc_j > 100 * cheap.adc_j and rich.area_um2 > cheap.area_um2
    assert rich.latency_s > cheap.latency_s


@pytest.mark.slow
def test_ngspice_spot_check_agrees_with_the_fast_solver():
    """The spot-check path: the same tile on ngspice (a transient) and on the fast solver."""
    fast = characterize_tile(TileSpec(size=16, samples=3), use_cache=False)
    spice = characterize_tile(TileSpec(size=16, samples=3, backend="spice"), use_cache=False)
    assert spice.backend == "spice"
    assert spice.settling_s == pytest.approx(fast.settling_s, rel=0.05)
    assert spice.crossbar_j == pytest.approx(fast.crossbar_j, rel=0.10)
    assert spice.energy_j == pytest.approx(fast.energy_j, rel=0.02)
