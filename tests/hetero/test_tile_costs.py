"""IMAC layers costed on a characterized crossbar tile (imac_costs: tiles), against hand-computed numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from imaclab.errors import InputError
from imaclab.hetero import HeteroConfig, cost_designs
from imaclab.imac.tiles import TileSpec, characterize_tile


@pytest.fixture(scope="module")
def tile(tmp_path_factory):
    """An 8x8 ternary tile with 8-bit DACs and ADCs, measured by the fast solver (seconds; cached per module)."""
    return characterize_tile(TileSpec(size=8, samples=3), cache_dir=tmp_path_factory.mktemp("tiles"))


def test_imac_layers_cost_their_tiles(small_cnn, tile):
    config = HeteroConfig(imac_costs="tiles", imac_tile=TileSpec(size=8, samples=3))
    costs = cost_designs(model=small_cnn, config=config, tile=tile)
    imac = {c.name: c for c in costs.designs["tpu-imac"].layers if c.unit == "imac"}
    assert set(imac) == {"fc1", "fc2"}
    # fc1: 8 inputs + bias = 9 rows -> ceil(9 / 8) = 2 tiles down, 6 outputs -> 1 across: 2 tiles;
    # fc2: 6 + 1 = 7 rows, 3 outputs: 1 tile.  One image = one product; the tiles of a layer work in parallel.
    assert (imac["fc1"].imac_crossbars, imac["fc2"].imac_crossbars) == (2, 1)
    analog = tile.crossbar_j + tile.amplifiers_j + tile.neurons_j
    assert analog > 0 and tile.settling_s > 0
    assert imac["fc1"].energy_imac_j == pytest.approx(2 * analog, rel=1e-12)
    assert imac["fc2"].energy_imac_j == pytest.approx(1 * analog, rel=1e-12)
    assert imac["fc1"].latency_s == imac["fc2"].latency_s == pytest.approx(tile.settling_s, rel=1e-12)
    # the converters are the hand-offs' (as with measured costs), not counted twice in the layers
    assert imac["fc1"].energy_conversion_j == 0.0
    handoffs = [c for c in costs.designs["tpu-imac"].layers if c.unit == "handoff"]
    assert [c.kind for c in handoffs] == ["handoff-dac", "handoff-adc"]
    # devices and weight bits do not depend on where the costs come from
    assert imac["fc1"].imac_devices == 2 * 9 * 6 and imac["fc2"].imac_devices == 2 * 7 * 3
    # the same per-product costs on a 16x16 tile: fc1 fits in one tile, half the energy; TPU-only unchanged
    bigger = cost_designs(model=small_cnn, config=config, tile=replace(tile, size=16))
    fc1 = next(c for c in bigger.designs["tpu-imac"].layers if c.name == "fc1")
    assert fc1.imac_crossbars == 1 and fc1.energy_imac_j == pytest.approx(analog, rel=1e-12)
    assert bigger.designs["tpu-only"].energy_j == costs.designs["tpu-only"].energy_j


def test_measured_stays_the_default(small_cnn):
    assert HeteroConfig().imac_costs == "measured"
    with pytest.raises(InputError, match="IMAC measurement"):
        cost_designs(model=small_cnn)
    assert HeteroConfig().with_overrides({"imac_costs": "tiles", "imac_tile.size": 16}).imac_tile.size == 16
