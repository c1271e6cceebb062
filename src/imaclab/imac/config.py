"""``ImacConfig``: the typed tree of one IMAC evaluation (round-trips to YAML/JSON).

``.devices`` memristors, mapping, variation, faults; ``.circuit`` crossbar, parasitics,
amplifiers, loading; ``.neuron`` the hidden-layer neuron (its ``vdd_v`` is the supply);
``.inputs`` input drivers and sampling; ``.simulation`` backend, samples, workers, SPICE
options (``.simulation.spice``) and fast-solver options (``.simulation.fast``); ``.area``
peripheral area assumptions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from imaclab.circuit.config import NetworkConfig
from imaclab.config import ConfigModel
from imaclab.spice.runner import SpiceOptions

#: Line-switch area per crossbar line, um^2 (IMAC-Sim's area model, testIMAC.py).
IMAC_SIM_SWITCH_AREA_UM2 = 0.56
#: Layout area of a transistor as a multiple of its gate area W x L (contacts, diffusion,
#: spacing); a common rule of thumb for analog blocks, stated as an assumption in docs.
TRANSISTOR_LAYOUT_FACTOR = 4.0


class AreaConfig(ConfigModel):
    """Peripheral-area assumptions (crossbar area comes from the cell geometry)."""

    switch_area_um2: float = Field(IMAC_SIM_SWITCH_AREA_UM2, ge=0, description="area per crossbar line "
                                                                                "switch, um^2")
    amplifier_area_um2: float = Field(0.0, ge=0, description="area per column amplifier, um^2 (0 = not counted)")
    transistor_layout_factor: float = Field(TRANSISTOR_LAYOUT_FACTOR, gt=0, description="neuron transistor "
                                                                                       "area / gate area")
    neuron_resistor_area_um2: float = Field(0.0, ge=0, description="area of the neuron's two resistors, um^2")


class FastConfig(ConfigModel):
    """How the fast backend (:mod:`imaclab.solver`) computes: the solver's own settings.

    The settling band (``simulation.spice.settle_tolerance`` / ``settle_floor_v``) and the neuron
    cache (``simulation.neuron_cache_dir``) are shared with ngspice and set there; the defaults
    here equal :class:`imaclab.solver.SolverOptions`'s (a test keeps them equal; None on a
    numeric table/Newton setting means the solver's own default).
    """

    array_backend: Literal["numpy", "torch"] = Field("numpy", description="numpy, or torch (uses a GPU when "
                                                                         "present with device auto)")
    device: str = Field("auto", description="torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N")
    batch_size: int | None = Field(None, ge=1, description="samples solved together; None: 512 on a CPU, "
                                                           "8192 on a GPU")
    latency: bool = Field(True, description="estimate the latency of every sample (reduced-order transient)")
    newton_tolerance_v: float | None = Field(None, gt=0, description="transistor neurons: error left in the "
                                                                     "neuron outputs when Newton stops, volts; "
                                                                     "None: the solver's default (1e-5)")
    neuron_pin_step_v: float | None = Field(None, gt=0, le=0.05, description="pin-voltage step of the loaded "
                                                                             "transistor neuron table, volts; None: "
                                                                             "the solver's default")
    neuron_current_points: int | None = Field(None, ge=5, description="output-current points of the loaded "
                                                                      "neuron table (odd); None: the solver's "
                                                                      "default")
    blas_threads: int | None = Field(1, ge=1, description="BLAS threads of the numpy backend while it solves; "
                                                          "None: leave the process's setting")
    threads: int | None = Field(None, ge=1, description="CPU threads solving batches in parallel (numpy "
                                                        "backend); None: the CPUs this process may use")


class SimulationConfig(ConfigModel):
    """Which backend evaluates the circuit and on how many samples."""

    backend: Literal["spice", "fast"] = Field("spice", description="spice: ngspice; fast: the sparse nodal "
                                                                   "solver (imaclab.solver)")
    samples: int = Field(200, ge=1, description="test samples to evaluate (the first N of the split)")
    first_sample: int = Field(0, ge=0, description="index of the first test sample")
    spice: SpiceOptions = Field(default_factory=SpiceOptions, description="ngspice options")
    fast: FastConfig = Field(default_factory=FastConfig, description="fast-solver options (backend fast, and "
                                                                     "the solver side of imac validate)")
    neuron_cache_dir: str | None = Field(None, description="where characterized neuron curves are cached "
                                                           "(None = ~/.cache/imaclab/neuron)")

    def solver_options(self, **overrides: Any) -> Any:
        """The :class:`imaclab.solver.SolverOptions` of this simulation (``fast``, the shared settling
        band and neuron cache), with ``overrides`` (e.g. ``latency=False``) applied."""
        from imaclab.solver.forward import SolverOptions

        fast = self.fast.to_dict()
        unset = ("newton_tolerance_v", "neuron_pin_step_v", "neuron_current_points")
        values = {k: v for k, v in fast.items() if not (k in unset and v is None)}
        values |= {"neuron_cache_dir": self.neuron_cache_dir,
                   "settle_tolerance": self.spice.settle_tolerance, "settle_floor_v": self.spice.settle_floor_v}
        return SolverOptions(**{**values, **overrides})


class ConverterConfig(ConfigModel):
    """Converters in the accuracy path (:mod:`imaclab.solver.adc`); None = ideal (no converter)."""

    dac_bits: int | None = Field(None, ge=1, le=24, description="input DAC resolution, bits: data in [0, 1] "
                                                                "snapped to 2^bits levels (None: analog)")
    adc_bits: int | None = Field(None, ge=1, le=24, description="output ADC resolution, bits (signed codes "
                                                                "per output column; None: no ADC)")
    adc_range: Literal["calibrated"] | float = Field(
        "calibrated", description="ADC full scale per column (per readout channel): calibrated (its largest "
                                  "|output| in the software reference over the evaluated samples) or volts")
    weight_slices: int = Field(1, ge=1, le=8, description=(
        "bit slicing of the output layer: each multilevel weight of devices.levels = B^slices levels is held "
        "by this many B-level device pairs on their own crossbar columns, each column read by its own ADC and "
        "the codes summed with their place values B^s (B-1)/(levels-1) (CrossSim/ISAAC); 1: no slicing"))
    adc_per_partition: bool = Field(False, description=(
        "partial sums: where the output layer spans several crossbars (rows > crossbar rows) each crossbar's "
        "partial sum gets its own amplifier and ADC and the codes are summed digitally (NeuroSim/ISAAC); "
        "false: the partitions' currents meet at one amplifier (circuit.amplifier.join)"))


class ImacConfig(NetworkConfig):
    """One IMAC evaluation: the circuit (devices, circuit, neuron, inputs) plus simulation and area."""

    simulation: SimulationConfig = Field(default_factory=SimulationConfig, description="backend and samples")
    area: AreaConfig = Field(default_factory=AreaConfig, description="peripheral area assumptions")
    converters: ConverterConfig = Field(default_factory=ConverterConfig, description="input DAC and output ADC "
                                                                                     "in the accuracy path")
