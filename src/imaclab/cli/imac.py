"""``imaclab imac``: the commands of the imac room (strings in, a job run, a result printed).

Each command starts from ``-c/--config`` (a job file, or the ``config.yaml`` of a run) or the
job's defaults, applies the options given as dotted overrides (an option left out keeps the
config's value), then ``--set``, then calls :func:`imaclab.imac.run` and prints the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from imaclab.cli.common import (
    CIRCUIT_OPTIONS,
    build_job,
    circuit_overrides,
    config_option,
    html_option,
    publish,
    render,
    set_option,
)

imac_app = typer.Typer(help="IMAC circuits: map an MLP to crossbars, simulate, evaluate.", no_args_is_help=True)

_MODEL_HELP = "model: .npz, .pt state_dict, or folder of W1.csv/B1.csv (default: the config's model)"
_DATA_HELP = "digits | fashion-mnist | mnist | cifar10 (default digits)"
_OPTS = dict(
    **CIRCUIT_OPTIONS,  # --crossbar --r-low --r-high --parasitics --neuron --join --loading (shared with train)
    model_lib=lambda: typer.Option(None, "--model-lib", help="transistor model card file"),
    nmos=lambda: typer.Option(None, "--nmos", help="NMOS model name in --model-lib"),
    pmos=lambda: typer.Option(None, "--pmos", help="PMOS model name in --model-lib"),
    lib_section=lambda: typer.Option(None, "--lib-section", help="section of a .lib file, e.g. tt"),
    model=lambda: typer.Option(None, "--model", help=_MODEL_HELP),
    data=lambda: typer.Option(None, "--data", help=_DATA_HELP),
    data_root=lambda: typer.Option(None, "--data-root", help="folder of the data set files"),
    crop=lambda: typer.Option(None, "--crop", help="centre crop, e.g. 20 for 20x20 (400 inputs)"),
    resize=lambda: typer.Option(None, "--resize", help="resize images to NxN"),
    convention=lambda: typer.Option(None, "--convention", help="circuit convention: imaclab | imacsim (IMAC-Sim's "
                                                               "polarity, output neurons, 0..VDD neuron) | auto "
                                                               "(default: imacsim for an IMAC-Sim CSV folder)"),
    device=lambda: typer.Option(None, "--device", help="device preset (rram, pcm, mtj, ideal) or a YAML file of "
                                                       "devices.* fields; with --at a comma list, one line each"),
    time=lambda: typer.Option(None, "--time", help="read the devices this long after programming, e.g. 1d"),
    drift_compensation=lambda: typer.Option(None, "--drift-compensation/--no-drift-compensation",
                                            help="global drift compensation (reference read rescales each layer)"),
)


def _job(cls: Any, config: Path | None, set_items: list[str] | None, *, circuit: dict[str, Any],
         fields: dict[str, Any]) -> Any:
    """``cls`` from ``config`` (or its defaults), the given options (None = not given), then ``--set``."""
    from imaclab.imac.api import model_card_overrides

    overrides: dict[str, Any] = circuit_overrides("", **{k: circuit.get(k) for k in CIRCUIT_OPTIONS})
    if circuit.get("device") is not None and "," in str(circuit["device"]) and "lines" not in cls.model_fields:
        from imaclab.errors import ConfigError

        raise ConfigError(f"--device {circuit['device']}: several devices need a time sweep (--at ...)")
    if circuit.get("device") is not None and "," not in str(circuit["device"]):
        from imaclab.devices.presets import device_overrides

        overrides.update(device_overrides(circuit["device"]))
    if circuit.get("time") is not None:
        from imaclab.imac.drift import parse_time

        overrides["devices.time_s"] = parse_time(circuit["time"])
    if circuit.get("drift_compensation") is not None:
        overrides["devices.drift_compensation"] = circuit["drift_compensation"]
    overrides.update(model_card_overrides(circuit.get("model_lib"), circuit.get("nmos"), circuit.get("pmos"),
                                          circuit.get("lib_section")))
    return build_job(cls, config, fields, set_items, preset=overrides)


def _cards(model_lib: Path | None, nmos: str | None, pmos: str | None, lib_section: str | None) -> dict:
    return {"model_lib": model_lib, "nmos": nmos, "pmos": pmos, "lib_section": lib_section}


@imac_app.command("run")
def imac_run(
    model: Path | None = _OPTS["model"](),
    data: str | None = _OPTS["data"](),
    data_root: Path | None = _OPTS["data_root"](),
    crop: int | None = _OPTS["crop"](),
    resize: int | None = _OPTS["resize"](),
    samples: int | None = typer.Option(None, "--samples", help="test samples (default 200)"),
    first: int | None = typer.Option(None, "--first", help="index of the first test sample"),
    crossbar: str | None = _OPTS["crossbar"](),
    r_low: str | None = _OPTS["r_low"](),
    r_high: str | None = _OPTS["r_high"](),
    parasitics: str | None = _OPTS["parasitics"](),
    neuron: str | None = _OPTS["neuron"](),
    convention: str | None = _OPTS["convention"](),
    backend: str | None = typer.Option(None, "--backend", help="spice | fast"),
    analysis: str | None = typer.Option(None, "--analysis", help="dc (accuracy, power) | tran (adds latency)"),
    workers: int | None = typer.Option(None, "--workers", help="parallel ngspice processes"),
    per_netlist: int | None = typer.Option(None, "--per-netlist", help="samples per netlist"),
    latency_samples: int | None = typer.Option(None, "--latency-samples",
                                                  help="with --analysis dc: transient of the first N samples"),
    join: str | None = _OPTS["join"](),
    loading: str | None = _OPTS["loading"](),
    model_lib: Path | None = _OPTS["model_lib"](),
    nmos: str | None = _OPTS["nmos"](),
    pmos: str | None = _OPTS["pmos"](),
    lib_section: str | None = _OPTS["lib_section"](),
    device: str | None = _OPTS["device"](),
    time: str | None = _OPTS["time"](),
    drift_compensation: bool | None = _OPTS["drift_compensation"](),
    at: str | None = typer.Option(None, "--at", help="accuracy at these times after programming, e.g. "
                                                     "1s,1h,1d,30d,1y (a time sweep over --trials draws)"),
    trials: int | None = typer.Option(None, "--trials", help="with --at: seeded device draws per time (default 5)"),
    adc_bits: int | None = typer.Option(None, "--adc-bits", help="output ADC resolution, bits (default: no ADC)"),
    adc_range: str | None = typer.Option(None, "--adc-range", help="ADC full scale: calibrated (default) or volts"),
    dac_bits: int | None = typer.Option(None, "--dac-bits", help="input DAC resolution, bits (default: analog)"),
    config: Path | None = config_option(),
    set_: list[str] | None = set_option("simulation.fast.batch_size=64"),
    out: Path = typer.Option(Path("imac-run"), "-o", "--out", help="output folder"),
    html: bool = html_option(),
) -> None:
    """Map an MLP onto IMAC crossbars, simulate it and report accuracy, power, latency and area.

    With --at: accuracy (mean and spread over --trials seeded device draws) at each time after
    programming, one line per --device preset (NAME+comp: with drift compensation)."""
    from imaclab.imac import DriftJob, ImacJob, run

    sweep = at is not None or trials is not None
    cls = DriftJob if sweep or (config is not None and _is_drift_config(config)) else ImacJob
    job = _job(cls, config, set_, circuit=dict(crossbar=crossbar, r_low=r_low, r_high=r_high,
                                               parasitics=parasitics, neuron=neuron, join=join, loading=loading,
                                               device=device, time=time,
                                               drift_compensation=drift_compensation,
                                               **_cards(model_lib, nmos, pmos, lib_section)),
               fields={"model": model, "data": data, "data_root": data_root, "crop": crop, "resize": resize,
                       "simulation.samples": samples, "simulation.first_sample": first,
                       "simulation.backend": backend or ("fast" if sweep and config is None else None),
                       "simulation.spice.analysis": analysis,
                       "simulation.spice.workers": workers, "simulation.spice.samples_per_netlist": per_netlist,
                       "simulation.spice.latency_samples": latency_samples, "circuit.convention": convention,
                       "converters.adc_bits": adc_bits,
                       "converters.adc_range": _adc_range(adc_range), "converters.dac_bits": dac_bits,
                       **({"at": at, "trials": trials,
                           "lines": device if device and "," in device else None} if cls is DriftJob else {})})
    if cls is DriftJob and device and "," not in device and not job.lines:
        job = job.with_overrides({"lines": [device]})
    publish(run(job, out_dir=out, progress=True), out, html)


def _adc_range(text: str | None) -> Any:
    if text is None or text.strip().lower() == "calibrated":
        return text and "calibrated"
    from imaclab.config import parse_si

    return parse_si(text)


def _is_drift_config(path: Path) -> bool:
    """A config file written by a time sweep (it has ``at``)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False  # the job's own loader reports it
    return isinstance(data, dict) and "at" in data


@imac_app.command("netlist")
def imac_netlist(
    model: Path | None = _OPTS["model"](),
    data: str | None = typer.Option(None, "--data", help="data set whose first samples drive the inputs"),
    data_root: Path | None = _OPTS["data_root"](),
    crop: int | None = _OPTS["crop"](),
    resize: int | None = _OPTS["resize"](),
    samples: int | None = typer.Option(None, "--samples", help="samples in the netlist (default 1)"),
    analysis: str | None = typer.Option(None, "--analysis", help="dc | tran (default tran)"),
    dialect: str | None = typer.Option(None, "--dialect", help="ngspice | hspice (default ngspice)"),
    crossbar: str | None = _OPTS["crossbar"](),
    parasitics: str | None = _OPTS["parasitics"](),
    neuron: str | None = _OPTS["neuron"](),
    convention: str | None = _OPTS["convention"](),
    model_lib: Path | None = _OPTS["model_lib"](),
    nmos: str | None = _OPTS["nmos"](),
    pmos: str | None = _OPTS["pmos"](),
    lib_section: str | None = _OPTS["lib_section"](),
    config: Path | None = config_option(),
    set_: list[str] | None = set_option("circuit.amplifier.join=average"),
    out: Path = typer.Option(Path("imac.sp"), "-o", "--out", help="netlist file to write"),
) -> None:
    """Write the SPICE netlist of an MLP's IMAC circuit (ngspice or HSPICE dialect)."""
    from imaclab.imac import NetlistJob, run

    job = _job(NetlistJob, config, set_, circuit=dict(crossbar=crossbar, parasitics=parasitics, neuron=neuron,
                                                      **_cards(model_lib, nmos, pmos, lib_section)),
               fields={"model": model, "data": data, "data_root": data_root, "crop": crop, "resize": resize,
                       "samples": samples, "analysis": analysis, "dialect": dialect,
                       "circuit.convention": convention})
    render(run(job, out_file=out))


@imac_app.command("neuron")
def imac_neuron(
    neuron: str | None = typer.Option(None, "--neuron", help="transistor | behavioral (default transistor)"),
    model_lib: Path | None = _OPTS["model_lib"](),
    nmos: str | None = _OPTS["nmos"](),
    pmos: str | None = _OPTS["pmos"](),
    lib_section: str | None = _OPTS["lib_section"](),
    load: str | None = typer.Option(None, "--load", help="load resistance to ground, e.g. 45"),
    config: Path | None = config_option(),
    set_: list[str] | None = set_option("neuron.sweep_step_v=0.01"),
    out: Path | None = typer.Option(None, "-o", "--out", help="write the curve (.npz)"),
) -> None:
    """Characterize (or load from the cache) the neuron's DC transfer curve and print it."""
    from imaclab.imac import NeuronJob, run

    job = _job(NeuronJob, config, set_, circuit=dict(neuron=neuron, **_cards(model_lib, nmos, pmos, lib_section)),
               fields={"load_ohm": load})
    render(run(job, out_file=out))


@imac_app.command("validate")
def imac_validate(
    model: Path | None = _OPTS["model"](),
    data: str | None = _OPTS["data"](),
    samples: int | None = typer.Option(None, "--samples", help="test samples run through both backends "
                                                                  "(DC; default 20)"),
    latency_samples: int | None = typer.Option(None, "--latency-samples", help="also compare latency on an "
                                                                                  "ngspice transient of the "
                                                                                  "first N samples"),
    data_root: Path | None = _OPTS["data_root"](),
    crop: int | None = _OPTS["crop"](),
    resize: int | None = _OPTS["resize"](),
    crossbar: str | None = _OPTS["crossbar"](),
    parasitics: str | None = _OPTS["parasitics"](),
    neuron: str | None = _OPTS["neuron"](),
    convention: str | None = _OPTS["convention"](),
    device: str | None = _OPTS["device"](),
    time: str | None = _OPTS["time"](),
    drift_compensation: bool | None = _OPTS["drift_compensation"](),
    config: Path | None = config_option(),
    set_: list[str] | None = set_option("devices.variation_sigma_pct=5"),
    out: Path | None = typer.Option(None, "-o", "--out", help="write the report as JSON"),
) -> None:
    """Run the fast solver and ngspice on the same circuit and samples; print how far apart they are.

    Exits 1 when a check fails."""
    from imaclab.imac import ValidateJob, run

    job = _job(ValidateJob, config, set_, circuit=dict(crossbar=crossbar, parasitics=parasitics, neuron=neuron,
                                                       device=device, time=time,
                                                       drift_compensation=drift_compensation),
               fields={"model": model, "data": data, "data_root": data_root, "crop": crop, "resize": resize,
                       "samples": samples, "latency_samples": latency_samples,
                       "circuit.convention": convention})
    result: Any = run(job, out_file=out, progress=True)
    render(result)
    if not result.passed:
        raise typer.Exit(code=1)
