"""Fixtures of the llm tests."""

import pytest


@pytest.fixture(scope="session")
def _tile_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def tile_cache(_tile_cache_dir, monkeypatch):
    """One ``$XDG_CACHE_HOME`` per test process for every llm test: the hybrid-PIM crossbar latency is a
    measured tile's by default, so a study characterizes crossbar tiles; the transistor neuron curve (an
    ngspice sweep, about 13 s) and the tiles are characterized once per process, not per test, and never
    into the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_tile_cache_dir))
    return _tile_cache_dir


#: Largest crossbar tile a test here may characterize: a 16x16 tile takes about a second, a 128x128 one
#: 20 s unloaded and minutes on a loaded machine (and the default study's crossbars are 128x128).
LARGEST_TEST_TILE = 32


@pytest.fixture(autouse=True)
def _small_tiles_only(monkeypatch):
    """Keep the suite fast: characterizing a tile above LARGEST_TEST_TILE fails with the fix (set tile.size=16 in
    the test; the crossbars of the hybrid-PIM Amdahl column follow the tile's size)."""
    from imaclab.imac import tiles

    measure = tiles.measure_tile

    def guarded(spec):
        if spec.size > LARGEST_TEST_TILE:
            raise AssertionError(f"a test characterized the {spec.label} tile: give the study tile.size=16 "
                                 f"(at most {LARGEST_TEST_TILE}) so the suite stays fast")
        return measure(spec)

    monkeypatch.setattr(tiles, "measure_tile", guarded)
