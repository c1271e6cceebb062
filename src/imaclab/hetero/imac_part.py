"""The IMAC part of a TPU-IMAC model, measured by the IMAC room.

:func:`measure_imac` runs :func:`imaclab.imac.evaluate` on the exported crossbar network
(``imac.npz``) with the inputs the TPU part hands over, and returns

* the circuit-level accuracy (fast solver or ngspice, with the configured parasitics and
  device variation) next to the software reference of the same mapped network;
* the measured power (mean over the scored images, all components: crossbars, amplifiers,
  neurons, buffers) and settling latency (the solver's estimate, or an ngspice transient run
  on a few images when ``accuracy.latency_backend = spice``);
* one :class:`~imaclab.hetero.costs.ImacLayerMeasurement` per crossbar layer.  The IMAC room
  measures the whole crossbar network (its outputs settle once all layers have); a network
  of one layer is measured exactly, a deeper one has the measured latency and power shared
  among its layers in proportion to their device counts (stated in each measurement's
  ``source``; the totals are measured).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imaclab.errors import InputError, SimulationError
from imaclab.hetero.config import AccuracyConfig, imac_config_for_model
from imaclab.hetero.costs import ImacLayerMeasurement, imac_devices


@dataclass
class ImacPart:
    """Measured IMAC part: accuracy, power, latency, per-layer measurements."""

    layer_sizes: list[int]
    crossbars_per_layer: list[int]
    measurements: list[ImacLayerMeasurement]
    power_w: float
    latency_s: float
    latency_source: str
    accuracy: float | None
    software_accuracy: float | None
    agreement: float | None
    samples: int
    backend: str
    config: Any = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)
    power_by_component_w: dict[str, float] = field(default_factory=dict)

    @property
    def energy_j(self) -> float:
        return self.power_w * self.latency_s

    def to_dict(self) -> dict[str, Any]:
        return {"layer_sizes": self.layer_sizes, "crossbars_per_layer": self.crossbars_per_layer,
                "power_w": self.power_w, "power_by_component_w": self.power_by_component_w,
                "latency_s": self.latency_s, "latency_source": self.latency_source, "energy_j": self.energy_j,
                "accuracy": self.accuracy, "software_accuracy": self.software_accuracy,
                "agreement": self.agreement, "samples": self.samples, "backend": self.backend,
                "measurements": [m.to_dict() for m in self.measurements], "notes": list(self.notes),
                "imac_config": self.config.to_dict() if self.config is not None else None}


def _finite_mean(values: np.ndarray, ok: np.ndarray) -> float:
    vals = np.asarray(values, dtype=np.float64)[np.asarray(ok, dtype=bool)]
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else float("nan")


def settling_mean(latency_s: np.ndarray, ok: np.ndarray) -> float:
    """Mean settling time over images 1..n-1: a transient starts at image 0's operating point, so the
    first image has nothing to settle from (latency 0 in ngspice and in the solver alike)."""
    latency_s, ok = np.asarray(latency_s, dtype=np.float64), np.asarray(ok, dtype=bool)
    if latency_s.size > 1:
        latency_s, ok = latency_s[1:], ok[1:]
    vals = latency_s[ok]
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else float("nan")


def attribute_layers(layer_names: list[str], layer_sizes: list[int], crossbars: list[int], power_w: float,
                     latency_s: float, source: str) -> list[ImacLayerMeasurement]:
    """Per-layer measurements from network totals: exact for one layer, else shared by device count."""
    devices = [imac_devices(a, b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    if len(layer_names) != len(devices):
        raise InputError(f"the IMAC network has {len(devices)} layers but the model maps {len(layer_names)} "
                         "layers to IMAC: export and model disagree")
    total = sum(devices)
    shares = [d / total for d in devices]
    how = source if len(devices) == 1 else f"{source}; network total shared by device count"
    # every layer conducts for its share of the settling time at the network's power (energy adds up)
    return [ImacLayerMeasurement(name=name, latency_s=latency_s * share, power_w=power_w, crossbars=xb, devices=dev,
                                 source=how)
            for name, share, xb, dev in zip(layer_names, shares, crossbars, devices)]


def measure_imac(*, mlp, inputs01: np.ndarray, labels: np.ndarray, imac_config, accuracy: AccuracyConfig,
                 layer_names: list[str], neuron_curve=None, progress: bool = False) -> ImacPart:
    """Evaluate the crossbar network ``mlp`` on ``inputs01`` (data in [0, 1]) and measure it.

    ``imac_config`` holds the user's circuit settings; the trained model's resistances, supply,
    neuron and input mode replace the matching fields.  ``progress`` shows the IMAC room's
    progress (ngspice batches).
    """
    from imaclab.imac import evaluate

    config, notes = imac_config_for_model(imac_config, mlp)
    n = int(inputs01.shape[0])
    if n == 0:
        raise InputError("no test samples to evaluate the IMAC part on")
    config = config.with_overrides({"simulation.backend": accuracy.backend, "simulation.samples": n,
                                    "simulation.first_sample": 0})
    result = evaluate(config=config, model=mlp, dataset=(inputs01, labels), progress=progress,
                      neuron_curve=neuron_curve)
    ok = result.ok
    power = _finite_mean(result.total_power_w, ok)
    components = {k: _finite_mean(v, ok) for k, v in result.power_w.items()}
    latency = settling_mean(result.latency_s, ok)
    worst = result.latency_s[ok]
    source = f"{result.backend} ({result.analysis}) settling time, mean of {max(n - 1, 1)} image transitions"
    if accuracy.latency_backend == "spice" or (accuracy.latency_backend == "solver" and not np.isfinite(latency)):
        if accuracy.latency_backend == "solver":
            notes.append(f"the {result.backend} backend gave no settling time: measured with an ngspice transient")
        tran = config.with_overrides({"simulation.backend": "spice",
                                      "simulation.samples": min(n, accuracy.latency_samples + 1),
                                      "simulation.spice.analysis": "tran"})
        spice = evaluate(config=tran, model=mlp, dataset=(inputs01, labels), progress=progress,
                         neuron_curve=neuron_curve)
        latency = settling_mean(spice.latency_s, spice.ok)
        worst = spice.latency_s[spice.ok]
        source = f"ngspice transient settling time, mean of {max(int(spice.ok.sum()) - 1, 1)} image transitions"
        if not np.isfinite(latency):
            raise SimulationError("ngspice transient gave no settling time for the IMAC part: check the circuit "
                                  "(or set accuracy.latency_backend: none)")
    elif accuracy.latency_backend == "none":
        latency = 0.0
        source = "not measured (latency_backend: none; IMAC latency counted as 0)"
    period = float(config.inputs.sampling_period_s)
    worst = np.asarray(worst, dtype=np.float64)
    worst = worst[np.isfinite(worst)]
    if accuracy.latency_backend != "none" and worst.size and worst.max() >= (1.0 - 1e-6) * period:
        notes.append(f"IMAC outputs did not settle within the {period:g} s sampling period: the latency is capped "
                     "there; raise imac.inputs.sampling_period_s")
    if not np.isfinite(power):
        raise SimulationError(f"the {result.backend} backend returned no power for the IMAC part")
    sizes = list(result.circuit.layer_sizes)
    crossbars = list(result.circuit.crossbars_per_layer)
    measurements = attribute_layers(layer_names, sizes, crossbars, power, latency, source)
    return ImacPart(layer_sizes=sizes, crossbars_per_layer=crossbars, measurements=measurements, power_w=power,
                    latency_s=latency, latency_source=source, accuracy=result.accuracy,
                    software_accuracy=result.software_accuracy, agreement=result.agreement, samples=n,
                    backend=result.backend, config=config, notes=notes + list(result.warnings),
                    power_by_component_w=components)
