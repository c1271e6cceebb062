"""Fixtures of the llm tests."""

import pytest


@pytest.fixture(scope="session")
def _tile_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture()
def tile_cache(_tile_cache_dir, monkeypatch):
    """One ``$XDG_CACHE_HOME`` per test process for tests that measure crossbar tiles: the transistor
    neuron curve (an ngspice sweep, about 13 s) and the tiles are characterized once, not per test, and
    never into the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_tile_cache_dir))
    return _tile_cache_dir
