"""File-level entry points used by the CLI and scripts: config from options, run from files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imaclab.circuit.config import CrossbarConfig
from imaclab.config import parse_si
from imaclab.errors import ConfigError
from imaclab.imac.config import ImacConfig
from imaclab.imac.evaluate import ImacResult, evaluate
from imaclab.imac.model_io import load_mlp


def build_config(*, base: str | Path | None = None, crossbar: str | None = None, r_low: str | None = None,
                 r_high: str | None = None, parasitics: str | None = None, neuron: str | None = None,
                 backend: str | None = None, analysis: str | None = None, samples: int | None = None,
                 first_sample: int | None = None, workers: int | None = None,
                 samples_per_netlist: int | None = None, join: str | None = None, loading: str | None = None,
                 input_mode: str | None = None, model_lib: str | None = None, nmos: str | None = None,
                 pmos: str | None = None, lib_section: str | None = None, dialect: str | None = None,
                 latency_samples: int | None = None,
                 overrides: list[str] | None = None) -> ImacConfig:
    """An :class:`ImacConfig` from a YAML/JSON file (or the defaults) plus command-line options.

    ``overrides`` are ``dotted.path=value`` strings (values parsed as YAML), applied last.
    """
    import yaml

    cfg = ImacConfig.load(base) if base else ImacConfig()
    ov: dict[str, Any] = {}
    if crossbar:
        xb = CrossbarConfig.parse(crossbar)
        ov["circuit.crossbar.rows"], ov["circuit.crossbar.columns"] = xb.rows, xb.columns
    if r_low:
        ov["devices.r_low_ohm"] = parse_si(r_low)
    if r_high:
        ov["devices.r_high_ohm"] = parse_si(r_high)
    if parasitics:
        flag = parasitics.strip().lower()
        if flag not in ("on", "off", "r", "rc", "c"):
            raise ConfigError(f"--parasitics '{parasitics}': use on, off, r (resistance only) or c")
        ov["circuit.parasitics.resistance"] = flag in ("on", "r", "rc")
        ov["circuit.parasitics.capacitance"] = flag in ("on", "c", "rc")
    for key, value in (("neuron.kind", neuron), ("simulation.backend", backend),
                       ("simulation.spice.analysis", analysis), ("simulation.samples", samples),
                       ("simulation.first_sample", first_sample), ("simulation.spice.workers", workers),
                       ("simulation.spice.samples_per_netlist", samples_per_netlist),
                       ("circuit.amplifier.join", join), ("circuit.loading.mode", loading),
                       ("inputs.mode", input_mode), ("simulation.spice.dialect", dialect),
                       ("simulation.spice.latency_samples", latency_samples)):
        if value is not None:
            ov[key] = value
    if model_lib or nmos or pmos:
        ov["neuron.models.library"] = "custom"
        ov["neuron.models.model_lib"] = str(Path(model_lib).resolve()) if model_lib else None
        ov["neuron.models.nmos"] = nmos
        ov["neuron.models.pmos"] = pmos
        ov["neuron.models.lib_section"] = lib_section
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set '{item}': use dotted.path=value, e.g. circuit.amplifier.join=average")
        ov[key.strip()] = yaml.safe_load(text)
    return cfg.with_overrides(ov) if ov else cfg


def run_files(*, config: ImacConfig, model: str | Path, data: str = "digits", data_root: str | Path | None = None,
              crop: int | None = None, resize: int | None = None, out_dir: str | Path | None = None,
              progress: bool = True) -> ImacResult:
    """Load the model and the test split of ``data``, then :func:`~imaclab.imac.evaluate` them."""
    from imaclab.data.datasets import load_dataset

    mlp = load_mlp(model)
    dataset = load_dataset(data, split="test", root=data_root, crop=crop, resize=resize, flatten=True)
    return evaluate(config=config, model=mlp, dataset=dataset, out_dir=out_dir, progress=progress)


def write_netlist_file(*, config: ImacConfig, model: str | Path, data: str = "digits",
                       data_root: str | Path | None = None, crop: int | None = None, samples: int = 1,
                       analysis: str = "tran", dialect: str = "ngspice", out: str | Path = "imac.sp") -> dict:
    """Write the netlist of ``model`` driven by the first ``samples`` test samples of ``data``."""
    from imaclab.circuit.description import build_circuit
    from imaclab.circuit.netlist import write_netlist
    from imaclab.devices.neuron import load_neuron_curve
    from imaclab.data.datasets import load_dataset

    mlp = load_mlp(model)
    dataset = load_dataset(data, split="test", root=data_root, crop=crop, flatten=True).head(samples)
    if dialect == "hspice" and config.neuron.kind == "transistor":
        # the HSPICE netlist instantiates the transistor neuron itself; its ngspice-characterized
        # curve is not needed (and FinFET cards cannot be characterized in ngspice)
        from imaclab.devices.neuron import behavioral_curve

        curve = behavioral_curve(config.neuron)
    else:
        curve = load_neuron_curve(config.neuron, config.simulation.neuron_cache_dir)
    circuit = build_circuit(config, mlp, neuron_curve=curve)
    if dataset.x.shape[1] != circuit.n_inputs:
        raise ConfigError(f"the data have {dataset.x.shape[1]} features but the model expects {circuit.n_inputs}: "
                          "use --crop/--resize")
    nl = write_netlist(circuit, circuit.encode(dataset.x), analysis=analysis, dialect=dialect,
                       title=f"imaclab IMAC network from {model}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(nl.text)
    return {"path": str(out), "lines": nl.text.count("\n"), "crossbars_per_layer": circuit.crossbars_per_layer}


def neuron_curve_table(*, config: ImacConfig, load: str | None = None, out: str | Path | None = None,
                       points: int = 13) -> dict:
    """The neuron curve (characterized or cached) at a few points, optionally loaded and saved."""
    import numpy as np

    from imaclab.devices.neuron import load_neuron_curve

    load_ohm = parse_si(load) if load else None
    curve = load_neuron_curve(config.neuron, config.simulation.neuron_cache_dir, load_ohm=load_ohm)
    if out:
        curve.save(out)
    u = np.linspace(curve.v_in[0], curve.v_in[-1], points)
    rows = [(float(a), float(curve(a)), float(curve.output_resistance(a))) for a in u]
    return {"source": curve.source, "rows": rows}
