"""``imaclab imac``: the commands of the imac room (strings in, a job run, a result printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from imaclab.cli.common import console as _console

imac_app = typer.Typer(help="IMAC circuits: map an MLP to crossbars, simulate, evaluate.", no_args_is_help=True)

_IMAC_CIRCUIT_OPTS = dict(
    crossbar=typer.Option(None, "--crossbar", help="crossbar size ROWSxCOLUMNS (default 32x32)"),
    r_low=typer.Option(None, "--r-low", help="low resistance, e.g. 5k"),
    r_high=typer.Option(None, "--r-high", help="high resistance, e.g. 15k"),
    parasitics=typer.Option(None, "--parasitics", help="on | off | r | c"),
    neuron=typer.Option(None, "--neuron", help="transistor | behavioral"),
)


@imac_app.command("run")
def imac_run(
    model: Path = typer.Option(..., "--model", help="model: .npz, .pt state_dict, or folder of W1.csv/B1.csv"),
    data: str = typer.Option("digits", "--data", help="digits | fashion-mnist | mnist | cifar10"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: Optional[int] = typer.Option(None, "--crop", help="centre crop, e.g. 20 for 20x20 (400 inputs)"),
    resize: Optional[int] = typer.Option(None, "--resize", help="resize images to NxN"),
    samples: Optional[int] = typer.Option(None, "--samples", help="test samples (default 200)"),
    first: Optional[int] = typer.Option(None, "--first", help="index of the first test sample"),
    crossbar: Optional[str] = _IMAC_CIRCUIT_OPTS["crossbar"],
    r_low: Optional[str] = _IMAC_CIRCUIT_OPTS["r_low"],
    r_high: Optional[str] = _IMAC_CIRCUIT_OPTS["r_high"],
    parasitics: Optional[str] = _IMAC_CIRCUIT_OPTS["parasitics"],
    neuron: Optional[str] = _IMAC_CIRCUIT_OPTS["neuron"],
    backend: Optional[str] = typer.Option(None, "--backend", help="spice | fast"),
    analysis: Optional[str] = typer.Option(None, "--analysis", help="dc (accuracy, power) | tran (adds latency)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="parallel ngspice processes"),
    per_netlist: Optional[int] = typer.Option(None, "--per-netlist", help="samples per netlist"),
    latency_samples: Optional[int] = typer.Option(None, "--latency-samples",
                                                  help="with --analysis dc: transient of the first N samples"),
    join: Optional[str] = typer.Option(None, "--join", help="sum | average (IMAC-Sim)"),
    loading: Optional[str] = typer.Option(None, "--loading", help="direct | ideal_buffer | buffer"),
    model_lib: Optional[Path] = typer.Option(None, "--model-lib", help="transistor model card file"),
    nmos: Optional[str] = typer.Option(None, "--nmos", help="NMOS model name in --model-lib"),
    pmos: Optional[str] = typer.Option(None, "--pmos", help="PMOS model name in --model-lib"),
    lib_section: Optional[str] = typer.Option(None, "--lib-section", help="section of a .lib file, e.g. tt"),
    config: Optional[Path] = typer.Option(None, "--config", help="ImacConfig YAML/JSON to start from"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override, e.g. --set circuit.amplifier.join=average"),
    out: Path = typer.Option(Path("imac-run"), "-o", "--out", help="output folder"),
) -> None:
    """Map an MLP onto IMAC crossbars, simulate it and report accuracy, power, latency and area."""
    from imaclab.imac import build_config, run_files

    cfg = build_config(base=config, crossbar=crossbar, r_low=r_low, r_high=r_high, parasitics=parasitics,
                       neuron=neuron, backend=backend, analysis=analysis, samples=samples, first_sample=first,
                       workers=workers, samples_per_netlist=per_netlist, join=join, loading=loading,
                       model_lib=str(model_lib) if model_lib else None, nmos=nmos, pmos=pmos,
                       lib_section=lib_section, latency_samples=latency_samples, overrides=set_)
    result = run_files(config=cfg, model=model, data=data, data_root=data_root, crop=crop, resize=resize, out_dir=out)
    _print_imac_summary(result.to_dict())


@imac_app.command("netlist")
def imac_netlist(
    model: Path = typer.Option(..., "--model", help="model: .npz, .pt state_dict, or folder of W1.csv/B1.csv"),
    data: str = typer.Option("digits", "--data", help="data set whose first samples drive the inputs"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: Optional[int] = typer.Option(None, "--crop", help="centre crop"),
    samples: int = typer.Option(1, "--samples", help="samples in the netlist"),
    analysis: str = typer.Option("tran", "--analysis", help="dc | tran"),
    dialect: str = typer.Option("ngspice", "--dialect", help="ngspice | hspice"),
    crossbar: Optional[str] = _IMAC_CIRCUIT_OPTS["crossbar"],
    parasitics: Optional[str] = _IMAC_CIRCUIT_OPTS["parasitics"],
    neuron: Optional[str] = _IMAC_CIRCUIT_OPTS["neuron"],
    model_lib: Optional[Path] = typer.Option(None, "--model-lib", help="transistor model card file"),
    nmos: Optional[str] = typer.Option(None, "--nmos", help="NMOS model name in --model-lib"),
    pmos: Optional[str] = typer.Option(None, "--pmos", help="PMOS model name in --model-lib"),
    lib_section: Optional[str] = typer.Option(None, "--lib-section", help="section of a .lib file, e.g. tt"),
    config: Optional[Path] = typer.Option(None, "--config", help="ImacConfig YAML/JSON to start from"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override dotted.path=value"),
    out: Path = typer.Option(Path("imac.sp"), "-o", "--out", help="netlist file to write"),
) -> None:
    """Write the SPICE netlist of an MLP's IMAC circuit (ngspice or HSPICE dialect)."""
    from imaclab.imac import build_config
    from imaclab.imac.api import write_netlist_file

    cfg = build_config(base=config, crossbar=crossbar, parasitics=parasitics, neuron=neuron,
                       model_lib=str(model_lib) if model_lib else None, nmos=nmos, pmos=pmos,
                       lib_section=lib_section, overrides=set_)
    info = write_netlist_file(config=cfg, model=model, data=data, data_root=data_root, crop=crop, samples=samples,
                              analysis=analysis, dialect=dialect, out=out)
    _console().print(f"wrote {info['path']} ({info['lines']} lines, crossbars per layer {info['crossbars_per_layer']})")


@imac_app.command("neuron")
def imac_neuron(
    neuron: str = typer.Option("transistor", "--neuron", help="transistor | behavioral"),
    model_lib: Optional[Path] = typer.Option(None, "--model-lib", help="transistor model card file"),
    nmos: Optional[str] = typer.Option(None, "--nmos", help="NMOS model name"),
    pmos: Optional[str] = typer.Option(None, "--pmos", help="PMOS model name"),
    lib_section: Optional[str] = typer.Option(None, "--lib-section", help="section of a .lib file"),
    load: Optional[str] = typer.Option(None, "--load", help="load resistance to ground, e.g. 45"),
    config: Optional[Path] = typer.Option(None, "--config", help="ImacConfig YAML/JSON to start from"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write the curve (.npz)"),
) -> None:
    """Characterize (or load from the cache) the neuron's DC transfer curve and print it."""
    from imaclab.imac import build_config
    from imaclab.imac.api import neuron_curve_table

    cfg = build_config(base=config, neuron=neuron, model_lib=str(model_lib) if model_lib else None, nmos=nmos,
                       pmos=pmos, lib_section=lib_section)
    info = neuron_curve_table(config=cfg, load=load, out=out)
    from rich.table import Table

    table = Table(title=info["source"])
    for col in ("u (V)", "f(u) (V)", "r_out (ohm)"):
        table.add_column(col, justify="right")
    for u, f, r in info["rows"]:
        table.add_row(f"{u:+.2f}", f"{f:+.4f}", f"{r:.1f}")
    _console().print(table)


def _print_imac_summary(summary: dict) -> None:
    from rich.table import Table

    def fmt(v, unit="", scale=1.0, digits=4):
        return "-" if v is None else f"{v * scale:.{digits}g}{unit}"

    table = Table(title="IMAC evaluation", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [("layers", "-".join(str(s) for s in summary["layer_sizes"])),
            ("crossbars per layer", str(summary["crossbars_per_layer"])),
            ("backend / analysis", f"{summary['backend']} / {summary['analysis']}"),
            ("samples (ok)", f"{summary['samples']} ({summary['samples_ok']})"),
            ("circuit accuracy", fmt(summary["accuracy"], " %", 100, 4)),
            ("software accuracy", fmt(summary["software_accuracy"], " %", 100, 4)),
            ("software accuracy (unloaded neuron)", fmt(summary["software_accuracy_unloaded"], " %", 100, 4)),
            ("mean power", fmt(summary["mean_power_w"], " mW", 1e3))]
    for comp, val in summary["mean_power_by_component_w"].items():
        rows.append((f"  {comp}", fmt(val, " mW", 1e3)))
    rows += [("mean latency", fmt(summary["mean_latency_s"], " ps", 1e12)),
             ("worst latency", fmt(summary["worst_latency_s"], " ps", 1e12)),
             ("area", fmt(summary["area_um2"]["total_um2"], " um^2")),
             ("simulation time per sample (wall / CPU)", f'{fmt(summary["simulation_s_per_sample"], " s")} / '
                                                          f'{fmt(summary["simulation_cpu_s_per_sample"], " s")}'),
             ("output folder", str(summary["out_dir"]))]
    for k, v in rows:
        table.add_row(k, v)
    _console().print(table)
    for w in summary.get("warnings", []):
        _console().print(f"[yellow]warning:[/yellow] {w}")


@imac_app.command("validate")
def imac_validate(
    model: Path = typer.Option(..., "--model", help="model: .npz, .pt state_dict, or folder of W1.csv/B1.csv"),
    data: str = typer.Option("digits", "--data", help="digits | fashion-mnist | mnist | cifar10"),
    samples: int = typer.Option(20, "--samples", help="test samples run through both backends (DC)"),
    latency_samples: int = typer.Option(0, "--latency-samples", help="also compare latency on an ngspice "
                                                                     "transient of the first N samples"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: Optional[int] = typer.Option(None, "--crop", help="centre crop, e.g. 20 for 20x20 (400 inputs)"),
    resize: Optional[int] = typer.Option(None, "--resize", help="resize images to NxN"),
    crossbar: Optional[str] = _IMAC_CIRCUIT_OPTS["crossbar"],
    parasitics: Optional[str] = _IMAC_CIRCUIT_OPTS["parasitics"],
    neuron: Optional[str] = _IMAC_CIRCUIT_OPTS["neuron"],
    config: Optional[Path] = typer.Option(None, "--config", help="ImacConfig YAML/JSON to start from"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override, e.g. --set devices.variation_sigma_pct=5"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="write the report as JSON"),
) -> None:
    """Run the fast solver and ngspice on the same circuit and samples; print how far apart they are."""
    from imaclab.imac import build_config
    from imaclab.imac.validate import validate_files

    cfg = build_config(base=config, crossbar=crossbar, parasitics=parasitics, neuron=neuron, overrides=set_)
    rep = validate_files(config=cfg, model=model, data=data, samples=samples, latency_samples=latency_samples,
                         data_root=data_root, crop=crop, resize=resize, out=out)
    console = _console()
    c = rep.circuit
    console.print(f"{'-'.join(map(str, c['layer_sizes']))} on {c['crossbar']} crossbars, partitions "
                  f"{c['partitions']}, parasitics R={c['parasitics']['r']} C={c['parasitics']['c']}, variation "
                  f"{c['variation']}, {c['weight_kind']} weights, {c['neuron']} neurons", highlight=False)
    console.print(f"samples {rep.samples}: max |dV_out| {rep.max_output_diff_v * 1e3:.4g} mV, class mismatches "
                  f"{rep.class_mismatches}, max power difference {rep.max_power_rel_diff * 100:.3g} %", highlight=False)
    if rep.latency_samples:
        console.print(f"latency on {rep.latency_samples} transient samples: max difference "
                      f"{rep.max_latency_rel_diff * 100:.3g} %, mean {rep.mean_latency_rel_diff * 100:.3g} %",
                      highlight=False)
    console.print(f"time per sample: fast {rep.fast_s_per_sample:.3g} s, ngspice DC {rep.spice_dc_s_per_sample:.3g} s "
                  f"({rep.speedup_dc:.3g}x)" + (f", ngspice transient {rep.spice_tran_s_per_sample:.3g} s"
                                                if rep.latency_samples else ""), highlight=False)
    for name, ok in rep.checks.items():
        console.print(f"  {'PASS' if ok else 'FAIL'}  {name}", highlight=False)
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if not rep.passed:
        raise typer.Exit(code=1)
