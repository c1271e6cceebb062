"""Interconnect parasitics from technology geometry (formulas and sources: docs/parasitics.md).

Resistance of one wire segment (the stretch of line between two adjacent cells)::

    R_seg = rho(w) * length / (w * t)

with a size-dependent resistivity (Matthiessen's rule over the bulk, grain-boundary and
surface contributions)::

    rho(w) = rho_bulk * [ MS(alpha) + 3/4 (1 - p) lambda / w ]
    MS(alpha) = 1 / (1 - 3/2 alpha + 3 alpha^2 - 3 alpha^3 ln(1 + 1/alpha)),  alpha = lambda/d * R/(1 - R)

(Mayadas-Shatzkes grain-boundary scattering with grain size d = w; Fuchs-Sondheimer surface
scattering in its thin-wire approximation; lambda = electron mean free path, p = specular
fraction, R = grain-boundary reflection probability; the form used by IMAC-Sim).

Capacitance of one segment to ground (Sakurai-Tamaru empirical formulas, line over a plane
at distance h, with neighbours at spacing s on both sides counted as AC ground)::

    C_seg = eps0 eps_r length [ 1.15 (w/h) + 2.80 (t/h)^0.222
                                + 2 (0.03 (w/h) + 0.83 (t/h) - 0.07 (t/h)^0.222) (s/h)^-1.34 ]

Input lines run across the outputs: one segment per output column, ``length = cell_width``.
Output lines run across the inputs: one segment per row, ``length = cell_length``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from imaclab.config import ConfigModel

EPS0_F_PER_M = 8.8541878128e-12
#: Electron mean free path in Cu at room temperature, m (Gall, J. Appl. Phys. 119, 085101, 2016).
CU_MEAN_FREE_PATH_M = 39e-9
#: Specular fraction of surface scattering (IMAC-Sim / ITRS interconnect model).
CU_SPECULARITY = 0.25
#: Grain-boundary reflection probability (IMAC-Sim / ITRS interconnect model).
CU_GRAIN_REFLECTION = 0.3
#: Default technology node, m (9 nm-class, IMAC-Sim's default).
DEFAULT_NODE_M = 9e-9


class WireConfig(ConfigModel):
    """Technology geometry of the crossbar wires and which parasitics to include."""

    resistance: bool = Field(True, description="include series resistance per wire segment")
    capacitance: bool = Field(True, description="include capacitance to ground per wire segment")
    node_m: float = Field(DEFAULT_NODE_M, gt=0, description="technology node, metres (sets the defaults "
                                                            "of the geometry fields left unset)")
    metal_width_m: float | None = Field(None, gt=0, description="wire width, metres; None = 3 x node")
    metal_thickness_m: float = Field(22e-9, gt=0, description="wire thickness, metres")
    interlayer_spacing_m: float = Field(20e-9, gt=0, description="dielectric thickness to the plane "
                                                                 "below (h), metres")
    line_spacing_m: float | None = Field(None, gt=0, description="edge-to-edge spacing to the neighbouring "
                                                                 "line (s), metres; None = 5 x node")
    cell_length_m: float | None = Field(None, gt=0, description="cell length along an output line, metres; "
                                                                "None = 15 x node")
    cell_width_m: float | None = Field(None, gt=0, description="cell width along an input line, metres; "
                                                               "None = 12 x node")
    relative_permittivity: float = Field(20.0, gt=0, description="dielectric relative permittivity")
    bulk_resistivity_ohm_m: float = Field(1.9e-8, gt=0, description="bulk resistivity of the metal, ohm m")
    mean_free_path_m: float = Field(CU_MEAN_FREE_PATH_M, gt=0, description="electron mean free path, metres")
    specularity: float = Field(CU_SPECULARITY, ge=0, le=1, description="specular fraction p of surface "
                                                                       "scattering")
    grain_reflection: float = Field(CU_GRAIN_REFLECTION, ge=0, lt=1, description="grain-boundary "
                                                                                 "reflection probability R")
    size_effects: bool = Field(True, description="use the size-dependent resistivity (else bulk)")

    # resolved geometry ------------------------------------------------------------------
    @property
    def width_m(self) -> float:
        return self.metal_width_m if self.metal_width_m is not None else 3 * self.node_m

    @property
    def spacing_m(self) -> float:
        return self.line_spacing_m if self.line_spacing_m is not None else 5 * self.node_m

    @property
    def length_m(self) -> float:
        return self.cell_length_m if self.cell_length_m is not None else 15 * self.node_m

    @property
    def cell_w_m(self) -> float:
        return self.cell_width_m if self.cell_width_m is not None else 12 * self.node_m

    @property
    def cell_area_m2(self) -> float:
        return self.length_m * self.cell_w_m


def effective_resistivity_ohm_m(config: WireConfig) -> float:
    """rho(w) with grain-boundary (Mayadas-Shatzkes) and surface (Fuchs-Sondheimer) scattering."""
    rho0 = config.bulk_resistivity_ohm_m
    if not config.size_effects:
        return rho0
    lam = config.mean_free_path_m
    w = config.width_m
    r = config.grain_reflection
    alpha = lam / w * r / (1.0 - r)
    if alpha == 0:
        ms = 1.0
    else:
        ms = 1.0 / (1.0 - 1.5 * alpha + 3.0 * alpha**2 - 3.0 * alpha**3 * np.log(1.0 + 1.0 / alpha))
    fs = 0.75 * (1.0 - config.specularity) * lam / w
    return float(rho0 * (ms + fs))


def segment_resistance_ohm(config: WireConfig, length_m: float) -> float:
    """R of one segment of the given length (0 when resistance is switched off)."""
    if not config.resistance:
        return 0.0
    return effective_resistivity_ohm_m(config) * length_m / (config.width_m * config.metal_thickness_m)


def capacitance_per_length_f_per_m(config: WireConfig) -> float:
    """Sakurai-Tamaru ground + two-neighbour coupling capacitance per metre."""
    w, t, h, s = config.width_m, config.metal_thickness_m, config.interlayer_spacing_m, config.spacing_m
    ground = 1.15 * (w / h) + 2.80 * (t / h) ** 0.222
    coupling = (0.03 * (w / h) + 0.83 * (t / h) - 0.07 * (t / h) ** 0.222) * (s / h) ** -1.34
    return float(EPS0_F_PER_M * config.relative_permittivity * (ground + 2.0 * coupling))


def segment_capacitance_f(config: WireConfig, length_m: float) -> float:
    """C of one segment of the given length (0 when capacitance is switched off)."""
    if not config.capacitance:
        return 0.0
    return capacitance_per_length_f_per_m(config) * length_m


@dataclass(frozen=True)
class SegmentParasitics:
    """Per-segment values of the two line directions."""

    input_line_r_ohm: float
    input_line_c_f: float
    output_line_r_ohm: float
    output_line_c_f: float
    resistivity_ohm_m: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def segment_parasitics(config: WireConfig) -> SegmentParasitics:
    """Segment R and C of input lines (length = cell width) and output lines (length = cell length)."""
    return SegmentParasitics(
        input_line_r_ohm=segment_resistance_ohm(config, config.cell_w_m),
        input_line_c_f=segment_capacitance_f(config, config.cell_w_m),
        output_line_r_ohm=segment_resistance_ohm(config, config.length_m),
        output_line_c_f=segment_capacitance_f(config, config.length_m),
        resistivity_ohm_m=effective_resistivity_ohm_m(config))
