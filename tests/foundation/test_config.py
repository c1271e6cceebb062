"""The config convention: validation, YAML/JSON round trip, dotted overrides, SI parsing."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from imaclab.config import ConfigModel, parse_si
from imaclab.errors import ConfigError, InputError, UnknownNameError, unknown_name


class Inner(ConfigModel):
    r_low_ohm: float = Field(5e3, gt=0, description="low resistance state, ohm")
    levels: int = Field(2, ge=2, description="conductance levels")


class Outer(ConfigModel):
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    inner: Inner = Field(default_factory=Inner)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    cfg = Outer(name="y", mode="b", inner=Inner(r_low_ohm=4.2e3, levels=4))
    path = cfg.save(tmp_path / f"c{suffix}")
    assert Outer.load(path) == cfg
    assert Outer.from_yaml(cfg.to_yaml()) == cfg
    assert Outer.from_json(cfg.to_json()) == cfg


def test_errors_name_file_and_every_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("mode: c\ninner:\n  r_low_ohm: -1\n  colour: red\n")
    with pytest.raises(ConfigError) as info:
        Outer.load(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg and "mode" in msg and "inner.r_low_ohm" in msg and "inner.colour" in msg


def test_malformed_yaml_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: a\ninner: [\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+"):
        Outer.load(path)


def test_missing_file():
    with pytest.raises(InputError, match="not found"):
        Outer.load("/nonexistent/cfg.yaml")


def test_overrides():
    cfg = Outer().with_overrides({"inner.levels": 8, "mode": "b"})
    assert cfg.inner.levels == 8 and cfg.mode == "b"
    with pytest.raises(ConfigError, match="inner.colour"):
        Outer().with_overrides({"inner.colour": 1})
    with pytest.raises(ConfigError, match="levels"):
        Outer().with_overrides({"inner.levels": 1})


@pytest.mark.parametrize("text,value", [("5k", 5e3), ("15kohm", 15e3), ("1n", 1e-9), ("2meg", 2e6),
                                        ("0.8V", 0.8), ("3m", 3e-3), ("1e-9", 1e-9), (7, 7.0), ("10ns", 10e-9)])
def test_parse_si(text, value):
    assert parse_si(text) == pytest.approx(value)


def test_parse_si_bad():
    with pytest.raises(ConfigError, match="cannot read"):
        parse_si("five")


def test_unknown_name_suggests():
    err = unknown_name("model", "opt-1.3", ["opt-1.3b", "opt-350m", "llama-7b"])
    assert isinstance(err, UnknownNameError)
    assert "opt-1.3b" in str(err)
