"""The ``imaclab`` command: parse arguments, call one library function, print.

No logic lives here.  Each room's commands sit in their own section below; a
user error (:class:`~imaclab.errors.ImaclabError`) is printed as one line on
stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from imaclab.errors import ImaclabError

app = typer.Typer(help="In-memory analog computing and heterogeneous accelerator exploration.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
tpu_app = typer.Typer(help="Systolic-array (TPU) performance model.", no_args_is_help=True)
llm_app = typer.Typer(help="LLM workloads, costs and Amdahl's law for 1-bit quantization.", no_args_is_help=True)
imac_app = typer.Typer(help="IMAC circuits: map an MLP to crossbars, simulate, evaluate.", no_args_is_help=True)
train_app = typer.Typer(help="Hardware-aware mixed-precision training.", no_args_is_help=True)
hetero_app = typer.Typer(help="TPU-IMAC heterogeneous accelerator vs a TPU-only baseline.", no_args_is_help=True)
sweep_app = typer.Typer(help="Design-space sweeps on local processes or Dask.", no_args_is_help=True)
for _name, _sub in (("tpu", tpu_app), ("llm", llm_app), ("imac", imac_app), ("train", train_app),
                    ("hetero", hetero_app), ("sweep", sweep_app)):
    app.add_typer(_sub, name=_name)


def _console():
    from rich.console import Console

    return Console()


# ---------------------------------------------------------------------------- tpu
# (commands of the systolic room)
@tpu_app.command("simulate")
def tpu_simulate(
    config: str = typer.Option(..., "--config", "-c", help="preset name (see `imaclab tpu presets`), SCALE-Sim .cfg, "
                                                            "or imaclab YAML/JSON config"),
    topology: Path = typer.Option(..., "--topology", "-t", help="SCALE-Sim topology CSV"),
    gemm: bool = typer.Option(False, "--gemm", help="topology is in the 'Layer, M, N, K' GEMM format"),
    outdir: Path = typer.Option(Path("tpu_report"), "--outdir", "-o", help="folder for the reports"),
    dataflow: Optional[str] = typer.Option(None, "--dataflow", help="override the config's dataflow: os, ws, is"),
):
    """Simulate a topology; write SCALE-Sim's three CSV reports and summary.json."""
    from imaclab.systolic.run import simulate_files

    run = simulate_files(config=config, topology=topology, outdir=outdir, gemm=gemm, dataflow=dataflow)
    from rich.table import Table

    cfg = run.config
    table = Table(title=f"{topology.name} on {cfg.array_rows}x{cfg.array_cols} {cfg.dataflow} "
                        f"({'CALC' if cfg.calc_bandwidth else f'{cfg.dram_bandwidth_words_per_cycle} words/cycle'})")
    for col in ("layer", "M", "N", "K", "cycles", "stalls", "util %", "map eff %", "DRAM rd words", "DRAM wr words"):
        table.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
    for r in run.reports:
        table.add_row(r.name, str(r.m), str(r.n), str(r.k), f"{r.total_cycles:,}", f"{r.stall_cycles:,}",
                      f"{r.overall_util_pct:.2f}", f"{r.mapping_efficiency_pct:.2f}",
                      f"{r.dram_ifmap_reads + r.dram_filter_reads:,}", f"{r.dram_ofmap_writes:,}")
    totals = run.totals
    table.add_row("total", "", "", "", f"{totals['total_cycles']:,}", f"{totals['stall_cycles']:,}",
                  f"{100 * totals['overall_utilization']:.2f}", "",
                  f"{totals['dram_ifmap_reads'] + totals['dram_filter_reads']:,}", f"{totals['dram_ofmap_writes']:,}")
    console = _console()
    console.width = max(console.width, 120)
    console.print(table)
    print(f"{totals['latency_s'] * 1e3:.4g} ms at {cfg.clock_hz / 1e6:g} MHz; reports in {outdir}")


@tpu_app.command("presets")
def tpu_presets(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """List the shipped systolic-array presets."""
    from imaclab.systolic.run import preset_table

    rows = preset_table()
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    labels = {"name": "name", "array": "array", "dataflow": "dataflow", "ifmap_sram_kb": "ifmap kB",
              "filter_sram_kb": "filter kB", "ofmap_sram_kb": "ofmap kB", "dram_bandwidth": "DRAM words/cycle",
              "word_size_bytes": "word B", "clock_mhz": "MHz"}
    table = Table(title="imaclab systolic-array presets (use with -c NAME)")
    for key in rows[0]:
        table.add_column(labels.get(key, key), justify="left" if key in ("name", "array", "dataflow") else "right",
                         no_wrap=True)
    for row in rows:
        table.add_row(*[f"{v:g}" if isinstance(v, float) else str(v) for v in row.values()])
    console = _console()
    console.width = max(console.width, 120)
    console.print(table)


# ---------------------------------------------------------------------------- llm
# (commands of the llm room)
@llm_app.command("models")
def llm_models(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """List the model catalog (shapes and parameter counts)."""
    import json

    from imaclab.llm.api import catalog_table

    rows = catalog_table()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="imaclab LLM catalog (parameters in millions)")
    for key in rows[0]:
        table.add_column(key, justify="left" if key in ("name", "ffn_kind") else "right", no_wrap=True,
                         min_width=len(key))
    for row in rows:
        table.add_row(*[f"{v / 1e6:,.1f}" if key.endswith("parameters") else str(v) for key, v in row.items()])
    console = _console()
    console.width = max(console.width, 170)
    console.print(table)


@llm_app.command("workload")
def llm_workload(
    model: str = typer.Option(..., "--model", "-m", help="catalog name or path to a Hugging Face config.json"),
    phase: str = typer.Option("decode", help="decode (one new token) or prefill (a prompt)"),
    context: int = typer.Option(512, "--context", "-L", help="prompt length / keys attended, tokens"),
    batch: int = typer.Option(1, "--batch", "-B", help="sequences per pass"),
    hardware: str = typer.Option("edge", help="edge (edge-32x32), cloud (cloud-128x128), a systolic preset or file"),
    array: Optional[str] = typer.Option(None, help="array size override, ROWSxCOLS (e.g. 32x32)"),
    dataflow: str = typer.Option("os", help="dataflow: os, ws, is, or preset (keep the preset's own)"),
    precision: str = typer.Option("fp16", help="precision for bytes: fp16, int8, w1.58a8, w1a8, w2a8, ..."),
    mask: str = typer.Option("causal", help="prefill attention mask: causal or full"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz", help="clock for seconds and tokens/s"),
    vector_lanes: Optional[int] = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
):
    """Cycles, bytes and MACs by category of one forward pass on a systolic array."""
    import json

    from imaclab.llm.api import workload_report

    report = workload_report(model=model, phase=phase, context=context, batch=batch, hardware=hardware,
                             array=array, dataflow=dataflow, precision=precision, attention_mask=mask,
                             clock_hz=clock_hz, vector_lanes=vector_lanes)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.table import Table

    hw = report["hardware"]
    table = Table(title=f"{report['model']} {report['phase']} L={report['context']} B={report['batch']} on "
                        f"{hw['name']} {hw['array_rows']}x{hw['array_cols']} {hw['dataflow']} "
                        f"({report['layers']} layers)")
    for col in ("category", "cycles/layer", "cycles total", "share", "MACs", f"bytes ({precision})"):
        table.add_column(col, justify="left" if col == "category" else "right")
    for cat, total in report["cycles_by_category"].items():
        table.add_row(cat, f"{report['cycles_per_layer_by_category'][cat]:,.0f}", f"{total:,.0f}",
                      f"{100 * report['cycle_fractions'][cat]:.1f}%", f"{report['macs_by_category'][cat]:,}",
                      f"{report['bytes_by_category'][cat]:,.0f}")
    table.add_row("total", "", f"{report['cycles_total']:,.0f}", "100%", "", "")
    console = _console()
    console.width = max(console.width, 110)
    console.print(table)
    print(f"{report['seconds'] * 1e3:.4g} ms per pass at {hw['clock_hz'] / 1e9:g} GHz = "
          f"{report['tokens_per_s']:.4g} tokens/s")


def _llm_study_output(result, out_dir: Path, heatmaps: str, started: float) -> None:
    import time

    from imaclab.report.llm_plots import write_study_report

    files = write_study_report(result, out_dir=out_dir,
                               heatmap_costs=tuple(c.strip() for c in heatmaps.split(",") if c.strip()))
    console = _console()
    for entry in result.to_dict()["headline"]:
        lo, hi = entry["min_f"], entry["max_f"]
        console.print(f"{entry['phase']:7s} {entry['hardware']:14s} f from {lo['f_systolic']:.3f} "
                      f"({lo['model']}, L={lo['context']}, ceiling {lo['ceiling_systolic']:.3g}x) to "
                      f"{hi['f_systolic']:.3f} ({hi['model']}, L={hi['context']}, ceiling {hi['ceiling_systolic']:.3g}x)",
                      soft_wrap=True)
    console.print(f"{len(result.rows)} cases, {len(result.skipped)} skipped (context above max); "
                  f"study {result.elapsed_s:.2f} s, with files and plots {time.perf_counter() - started:.2f} s")
    for name, path in files.items():
        console.print(f"  {name}: {path}", soft_wrap=True)


@llm_app.command("amdahl")
def llm_amdahl(
    models: str = typer.Option("all", help="comma-separated catalog names, config.json paths, or 'all'"),
    contexts: Optional[str] = typer.Option(None, help="comma-separated context lengths (default 128,...,4096)"),
    hardware: str = typer.Option("edge,cloud", help="comma-separated systolic hardware (edge, cloud, presets)"),
    phase: str = typer.Option("decode", help="decode, prefill or both"),
    batch: int = typer.Option(1, "--batch", "-B", help="sequences per pass"),
    improve: str = typer.Option("projection", help="improved categories, e.g. projection or projection,head"),
    s: Optional[str] = typer.Option(None, "--s", help="improvement factors to sweep, e.g. 2,4,8,16"),
    attention_s: Optional[float] = typer.Option(None, "--attention-s",
                                                help="general form: attention also improves by this factor"),
    precision: str = typer.Option("w1.58a8", help="quantized precision for the memory/roofline costs"),
    array: Optional[str] = typer.Option(None, help="array size override for every hardware, ROWSxCOLS"),
    dataflow: str = typer.Option("os", help="dataflow: os, ws, is, or preset (keep the preset's own)"),
    roofline: Optional[str] = typer.Option(None, help="roofline device: h100-sxm, a100-sxm, tpu-v4, edge-npu"),
    clock_hz: Optional[float] = typer.Option(None, "--clock-hz",
                                             help="clock for tokens/s, Hz (default: the systolic config's)"),
    vector_lanes: Optional[int] = typer.Option(None, help="vector-unit lanes (default: array columns)"),
    heatmaps: str = typer.Option("systolic", help="costs to draw f heatmaps for: systolic, memory, roofline"),
    out: Path = typer.Option(Path("out/llm-amdahl"), "-o", "--out", help="output directory"),
):
    """Amdahl's law over models x contexts x hardware: CSV of f, ceilings, speedups, and plots."""
    import time

    from imaclab.llm.api import amdahl_study

    started = time.perf_counter()
    result = amdahl_study(models=models, contexts=contexts, hardware=hardware, phase=phase, batch=batch,
                          improve=improve, factors=s, attention_factor=attention_s, precision=precision,
                          array=array, dataflow=dataflow, roofline=roofline, clock_hz=clock_hz,
                          vector_lanes=vector_lanes)
    _llm_study_output(result, out, heatmaps, started)


@llm_app.command("study")
def llm_study(out: Path = typer.Option(Path("out/llm-study"), "-o", "--out", help="output directory")):
    """The default study: every catalog model, 6 contexts, edge+cloud arrays, decode and prefill."""
    import time

    from imaclab.llm.api import amdahl_study

    started = time.perf_counter()
    _llm_study_output(amdahl_study(), out, "systolic", started)


@llm_app.command("published")
def llm_published(as_json: bool = typer.Option(False, "--json", help="print one JSON list")):
    """Published 1-bit LLM measurements (BitNet b1.58, bitnet.cpp) beside this model's predictions."""
    import json

    from imaclab.llm.published import published_comparison

    rows = published_comparison()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="published vs predicted (decode, batch 1; predictions are upper bounds)")
    for col in ("source", "hardware", "measured", "metric", "published", "predicted", "shape used"):
        table.add_column(col, justify="right" if col in ("published", "predicted") else "left")
    for r in rows:
        table.add_row(r["source"].split(",")[0] + ", " + r["source"].split("(")[-1].rstrip(")"), r["hardware"],
                      r["measured_model"], r["metric"], f"{r['published']:g}", f"{r['predicted']:.2f}",
                      f"{r['catalog_model']} {r['baseline']}->{r['quantized']}")
    console = _console()
    console.width = max(console.width, 170)
    console.print(table)


# ---------------------------------------------------------------------------- imac
# (commands of the imac room)
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


# ---------------------------------------------------------------------------- train
# (commands of the nn room)
def _train_command(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="zoo model (lenet5, mobilenet-v2, mlp-64-32-10, ...)"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="data set: digits, fashion-mnist, mnist, cifar10"),
    policy: Optional[str] = typer.Option(None, "--policy", "-p", help="fp32, tpu-int8, tpu-imac, tpu-imac-ternary, "
                                                                      "tpu-imac-4level, or a policy YAML file"),
    epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="training epochs"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (checkpoints, report, exports)"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="TrainConfig YAML/JSON (e.g. a run's config.yaml)"),
    baseline: Optional[bool] = typer.Option(None, "--baseline/--no-baseline", help="also train the FP32 twin"),
    lr: Optional[float] = typer.Option(None, "--lr", help="peak learning rate"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="training batch size"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam, adamw or sgd"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    width: Optional[float] = typer.Option(None, "--width", help="CNN channel width multiplier"),
    hidden: Optional[str] = typer.Option(None, "--hidden", help="MLP hidden sizes, comma-separated (e.g. 32 or 120,84)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data set files"),
    crop: Optional[int] = typer.Option(None, "--crop", help="centre crop size in pixels (20 -> 400 inputs)"),
    resize: Optional[int] = typer.Option(None, "--resize", help="resize images to this many pixels a side"),
    noise_train: Optional[bool] = typer.Option(None, "--noise-train/--no-noise-train",
                                               help="inject the IMAC devices' variation/faults while training"),
    noise_trials: Optional[int] = typer.Option(None, "--noise-trials", help="noisy-device evaluations at the end"),
    train_samples: Optional[int] = typer.Option(None, "--train-samples", help="train on a seeded subset"),
    test_samples: Optional[int] = typer.Option(None, "--test-samples", help="evaluate on the first N test samples"),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads"),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="any config field, KEY=VALUE (dotted, YAML value), "
                                                                 "e.g. --set policy.imac.input_mode=binary"),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="resume a checkpoint in the run folder"),
):
    """Train a model with a mixed-precision policy (`imaclab train run ...` or `imaclab train --model ...`)."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("give the run folder with -o DIR", param_hint="--out")
    import yaml

    from imaclab.errors import ConfigError
    from imaclab.nn.progress import RichProgress
    from imaclab.nn.training import run_training

    overrides = {"model": model, "data": data, "policy": policy, "epochs": epochs, "baseline": baseline, "lr": lr,
                 "batch_size": batch_size, "optimizer": optimizer, "seed": seed, "width": width,
                 "hidden": [int(h) for h in hidden.split(",") if h.strip()] if hidden else None,
                 "data_root": data_root, "crop": crop, "resize": resize, "noise.train": noise_train,
                 "noise.eval_trials": noise_trials, "train_samples": train_samples, "test_samples": test_samples,
                 "threads": threads}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item}: expected KEY=VALUE")
        overrides[key.strip()] = yaml.safe_load(value)
    result = run_training(out_dir=out, config_file=config, overrides=overrides, resume=resume,
                          observer=RichProgress())
    _print_train_report(result.report)


train_app.callback(invoke_without_command=True)(_train_command)
train_app.command("run")(_train_command)


def _print_train_report(report: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{report['model']} on {report['data']['name']} ({report['policy']})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("test accuracy", f"{100 * report['test_accuracy']:.2f} %")
    if report.get("baseline"):
        table.add_row("FP32 baseline", f"{100 * report['baseline']['test_accuracy']:.2f} %")
        table.add_row("drop vs FP32", f"{report['accuracy_drop_points']:.2f} points")
    noisy = report.get("device_noise_eval")
    if noisy:
        table.add_row(f"with device noise ({noisy['trials']} draws)",
                      f"{100 * noisy['mean_accuracy']:.2f} % (min {100 * noisy['min_accuracy']:.2f})")
    table.add_row("epochs", f"{report['epochs_completed']}/{report['epochs']}")
    table.add_row("seconds per epoch", f"{report['seconds_per_epoch']:.1f}")
    for kind, path in report.get("exports", {}).items():
        table.add_row(f"export: {kind}", path)
    _console().print(table)


@train_app.command("models")
def train_models():
    """List the model zoo."""
    from rich.table import Table

    from imaclab.nn.zoo import MODELS

    table = Table(title="model zoo (imaclab.nn.zoo)")
    table.add_column("name")
    table.add_column("architecture")
    for name, builder in MODELS.items():
        first_paragraph = " ".join((builder.__doc__ or "").strip().split("\n\n")[0].split())
        table.add_row(name, first_paragraph)
    _console().print(table)


@train_app.command("policies")
def train_policies():
    """List the precision-policy presets."""
    from imaclab.nn.policy import POLICIES, get_policy

    for name in POLICIES:
        p = get_policy(name)
        _console().print(f"[bold]{name}[/bold]: conv -> {p.conv.target} ({p.conv.weight.kind}), "
                         f"fc -> {p.fc.target} ({p.fc.weight.kind})")


@train_app.command("show")
def train_show(run: Path = typer.Argument(..., help="a run folder written by imaclab train")):
    """Print a run's report (accuracy, baseline, exports)."""
    from imaclab.nn.training import load_report

    _print_train_report(load_report(run))


# ---------------------------------------------------------------------------- hetero
# (commands of the hetero room)
def _hetero_settings(config: Optional[Path], tpu: Optional[str], settings: Optional[list[str]],
                     samples: Optional[int], backend: Optional[str], pipeline: Optional[bool]):
    from imaclab.hetero import hetero_config

    return hetero_config(path=config, tpu=tpu, overrides=settings, samples=samples, backend=backend,
                         pipeline=pipeline)


_HETERO_SET_HELP = "override a setting, KEY=VALUE (repeatable), e.g. energy.dram_j_per_byte=2e-11, " \
                   "tpu_overrides.dataflow=ws, handoff.dac.bits=4, imac.devices.variation_sigma_pct=5"


@hetero_app.command("evaluate")
def hetero_evaluate(
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="TPU-IMAC run folder, or a model folder "
                                                                    "holding tpu-imac/ and tpu-int8/ runs"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="zoo model the run must hold (a check)"),
    tpu_checkpoint: Optional[Path] = typer.Option(None, "--tpu-checkpoint", help="TPU-only 8-bit run folder"),
    data: Optional[str] = typer.Option(None, "--data", help="test set (must be the one the run was trained on)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: Optional[str] = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Optional[Path] = typer.Option(None, "--config", help="HeteroConfig YAML/JSON"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=_HETERO_SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="test images both designs are scored on"),
    backend: Optional[str] = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: Optional[bool] = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero"), "-o", "--out", help="output directory"),
):
    """Cost a trained network on TPU only and on TPU-IMAC: per-layer table, summary, plots."""
    from imaclab.hetero import evaluate_run

    result = evaluate_run(checkpoint=checkpoint, tpu_checkpoint=tpu_checkpoint, data=data, data_root=data_root,
                          model=model, config=_hetero_settings(config, tpu, settings, samples, backend, pipeline),
                          out_dir=out)
    from rich.table import Table

    console = _console()
    console.width = max(console.width, 150)
    for name, design in result.comparison.designs.items():
        table = Table(title=f"{result.model} on {name} ({result.config.tpu_label})")
        for col in ("layer", "kind", "unit", "cycles", "latency us", "energy nJ", "weight B", "DRAM B"):
            table.add_column(col, justify="left" if col in ("layer", "kind", "unit") else "right")
        for c in [*design.layers, design.total]:
            table.add_row(c.name, c.kind, c.unit, f"{c.tpu_cycles:,.0f}", f"{c.latency_s * 1e6:.4g}",
                          f"{c.energy_j * 1e9:.4g}", f"{c.weight_bytes:,.0f}", f"{c.dram_bytes:,.0f}")
        console.print(table)
    s = result.summary()
    acc = {k: ("n/a" if s[k] is None else f"{100 * s[k]:.2f}%") for k in ("tpu_only_accuracy", "tpu_imac_accuracy",
                                                                            "tpu_imac_digital_accuracy")}
    scored = (f"accuracy TPU only {acc['tpu_only_accuracy']}, TPU-IMAC {acc['tpu_imac_accuracy']} (circuit, "
              f"{s['accuracy_samples']} images; digital {acc['tpu_imac_digital_accuracy']})"
              if s["accuracy_samples"] else "accuracy not scored")
    console.print(f"speedup {s['speedup']:.3f}x, throughput {s['throughput_gain']:.3f}x, weight memory "
                  f"-{100 * s['memory_reduction']:.1f}%, DRAM traffic -{100 * s['dram_traffic_reduction']:.1f}%, "
                  f"energy ratio {s['energy_ratio']:.3f}x; {scored}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}", highlight=False)


@hetero_app.command("compare")
def hetero_compare(
    models: str = typer.Option("lenet5,vgg_small,mobilenet_v1,mobilenet_v2,shufflenet_v2,resnet18", "--models",
                               help="comma-separated zoo models"),
    runs: Path = typer.Option(..., "--runs", "-r", help="folder with <model>/tpu-imac and <model>/tpu-int8 runs"),
    data: Optional[str] = typer.Option(None, "--data", help="test set (must be the one the runs were trained on)"),
    data_root: Optional[str] = typer.Option(None, "--data-root", help="folder of the data files"),
    tpu: Optional[str] = typer.Option(None, "--tpu", help="edge, cloud, a systolic preset, .cfg or YAML"),
    config: Optional[Path] = typer.Option(None, "--config", help="HeteroConfig YAML/JSON"),
    settings: Optional[list[str]] = typer.Option(None, "--set", help=_HETERO_SET_HELP),
    samples: Optional[int] = typer.Option(None, "--samples", help="test images each model is scored on"),
    backend: Optional[str] = typer.Option(None, "--backend", help="IMAC accuracy backend: fast or spice"),
    pipeline: Optional[bool] = typer.Option(None, "--pipeline/--no-pipeline", help="overlap TPU and IMAC stages"),
    out: Path = typer.Option(Path("out/hetero-compare"), "-o", "--out", help="output directory"),
):
    """The TPU-only vs TPU-IMAC comparison for several trained models in one table."""
    from imaclab.hetero import compare_runs

    result = compare_runs(models=models, runs_dir=runs, data=data, data_root=data_root,
                          config=_hetero_settings(config, tpu, settings, samples, backend, pipeline), out_dir=out)
    from rich.table import Table

    table = Table(title="TPU-IMAC vs TPU only (published: up to 2.59x speedup, 88% memory reduction)")
    for col in ("model", "speedup", "throughput", "weight mem -%", "DRAM -%", "energy x", "acc TPU", "acc TPU-IMAC"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in result.rows:
        if row["status"] != "ok":
            table.add_row(row["model"], "failed", "", "", "", "", "", "")
            continue
        pct = (lambda v: "n/a" if v is None else f"{100 * v:.2f}")
        table.add_row(row["model"], f"{row['speedup']:.3f}", f"{row['throughput_gain']:.3f}",
                      f"{100 * row['memory_reduction']:.1f}", f"{100 * row['dram_traffic_reduction']:.1f}",
                      f"{row['energy_ratio']:.3f}", pct(row["tpu_only_accuracy"]), pct(row["tpu_imac_accuracy"]))
    console = _console()
    console.width = max(console.width, 150)
    console.print(table)
    for row in result.rows:
        if row["status"] != "ok":
            console.print(f"{row['model']} failed: {row['error']}", highlight=False, markup=False)
    for name, path in result.files.items():
        console.print(f"  {name}: {path}", highlight=False)

# ---------------------------------------------------------------------------- sweep
# (commands of the sweep room)
@sweep_app.command("run")
def sweep_run(
    spec: Path = typer.Argument(..., help="sweep spec YAML (target, base config, axes)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="sweep directory (default sweeps/<name>)"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="local worker processes (default: cores)"),
    executor: str = typer.Option("local", "--executor", help="local (process pool) or dask"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="existing Dask scheduler, tcp://HOST:PORT"),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="start a Dask LocalCluster of N workers"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="rerun points stored as failed"),
    limit: Optional[int] = typer.Option(None, "--limit", help="run at most N pending points (try a sweep first)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and list the points; run nothing"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
):
    """Run or resume a sweep: points already stored are skipped."""
    from rich.table import Table

    from imaclab.sweep import ExecutorSettings, plan_spec, run_sweep

    console = _console()
    if dry_run:
        plan = plan_spec(spec=spec)
        table = Table(title=f"{plan.spec.name}: {len(plan.points)} points of {plan.target.name}"
                            + (f" ({plan.duplicates} duplicates dropped)" if plan.duplicates else ""))
        for column in ["#", *plan.columns]:
            table.add_column(column)
        for point in plan.points[:20]:
            values = {**point.variables, **point.overrides}
            table.add_row(str(point.index), *[str(values.get(c, "")) for c in plan.columns])
        console.print(table)
        return
    settings = ExecutorSettings.from_dict({"kind": executor, "workers": workers, "scheduler": scheduler,
                                           "dask_local": dask_local}, source="sweep run options")
    summary = run_sweep(spec=spec, directory=out, executor=settings, retry_failed=retry_failed, limit=limit,
                        progress=progress)
    console.print(f"{summary.name}: {summary.ok} ok, {summary.failed} failed, {summary.skipped} already stored "
                  f"of {summary.planned} points ({summary.executor}, {summary.workers} workers, "
                  f"{summary.wall_s:.1f} s) -> {summary.directory}"
                  + (f"; {summary.remaining} still pending" if summary.remaining else ""),
                  highlight=False, soft_wrap=True)
    for failure in summary.failures:
        console.print(f"  point {failure['index']} ({failure['error_type']}): {failure['error']}",
                      highlight=False, markup=False, soft_wrap=True)


@sweep_app.command("status")
def sweep_status_cmd(directory: Path = typer.Argument(..., help="sweep directory")):
    """Done / failed / pending points, errors and runs of a sweep."""
    from rich.table import Table

    from imaclab.sweep import sweep_status

    status = sweep_status(directory=directory)
    console = _console()
    planned = "?" if status.planned is None else status.planned
    pending = "?" if status.pending is None else status.pending
    extra = f", {status.extra} from earlier specs" if status.extra else ""
    console.print(f"{status.name} ({status.target}) in {status.directory}: {status.ok} ok, {status.failed} failed, "
                  f"{pending} pending of {planned} planned{extra}", highlight=False, soft_wrap=True)
    console.print(f"run time per ok point: mean {status.mean_run_s:.3g} s, total {status.total_run_s:.3g} s",
                  highlight=False, soft_wrap=True)
    if status.note:
        console.print(status.note, highlight=False, markup=False, soft_wrap=True)
    if status.errors:
        table = Table(title="failures")
        for column in ("error type", "count", "example"):
            table.add_column(column)
        for error in status.errors:
            table.add_row(error["error_type"], str(error["count"]), error["example"])
        console.print(table)
    table = Table(title="runs")
    for column in ("run", "status", "executor", "workers", "to run", "ok", "failed", "version"):
        table.add_column(column)
    for run in status.runs:
        table.add_row(*[str(run[k]) for k in ("run_id", "status", "executor", "workers", "to_run", "ok", "failed",
                                             "version")])
    console.print(table)


@sweep_app.command("export")
def sweep_export(
    directory: Path = typer.Argument(..., help="sweep directory"),
    format: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write (default DIR/results.FORMAT)"),
    full_config: bool = typer.Option(False, "--full-config", help="add every config field as config.<path>"),
):
    """Write one row per point (axes, metrics, status, timings) as CSV or Parquet."""
    from imaclab.sweep import export_results

    path = export_results(directory=directory, format=format, output=output, full_config=full_config)
    _console().print(f"wrote {path}", highlight=False, soft_wrap=True)


@sweep_app.command("plot")
def sweep_plot(
    directory: Path = typer.Argument(..., help="sweep directory"),
    x: Optional[str] = typer.Option(None, "--x", help="field or variable on the x axis"),
    y: Optional[str] = typer.Option(None, "--y", help="metric on the y axis"),
    hue: Optional[str] = typer.Option(None, "--hue", help="field that colours lines / points / heatmap rows"),
    kind: str = typer.Option("auto", "--kind", help="auto, line, scatter or heatmap"),
    pareto: Optional[str] = typer.Option(None, "--pareto", help="two objectives, e.g. accuracy:max,power:min"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="PNG path (default DIR/plots/...)"),
):
    """Plot a metric against a field (PNG), or the Pareto front of two metrics."""
    from rich.table import Table

    from imaclab.sweep import plot_sweep

    result = plot_sweep(directory=directory, x=x, y=y, hue=hue, kind=kind, pareto=pareto, output=output)
    console = _console()
    left_out = f", {result.failed} failed not drawn" if result.failed else ""
    console.print(f"wrote {result.path} ({result.kind}, {result.points} points{left_out})", highlight=False,
                  soft_wrap=True)
    if result.front is not None:
        front = result.front
        shown = list(dict.fromkeys([c for c in front.columns if c in front.attrs.get("axis_columns", [])]
                                   + list(front.attrs.get("objective_columns", []))))
        table = Table(title=f"Pareto front: {len(front)} points")
        for column in ["index", *shown]:
            table.add_column(column)
        for _, row in front.iterrows():
            table.add_row(*[f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in ["index", *shown]])
        console.print(table)


@sweep_app.command("targets")
def sweep_targets():
    """Targets a sweep spec can name, and whether they are available in this install."""
    from rich.table import Table

    from imaclab.sweep import list_targets

    table = Table(title="sweep targets (or any package.module:function taking one ConfigModel)")
    for column in ("target", "available", "config", "computes"):
        table.add_column(column)
    for row in list_targets():
        table.add_row(row["name"], "yes" if row["available"] else f"no: {row['reason']}", row["config"],
                      row["summary"])
    _console().print(table)


# ---------------------------------------------------------------------------- demo
# (the end-to-end default job of `make demo`)
@app.command("demo")
def demo(out: Path = typer.Option(Path("report"), "-o", "--out", help="report folder")):
    """The end-to-end default job: train an IMAC MLP, simulate it (fast solver and ngspice), a TPU run, an LLM study."""
    from imaclab.report.demo import run_demo

    result = run_demo(out_dir=out)
    for name, seconds in result.seconds.items():
        print(f"{name:11s} {seconds:7.1f} s")
    print(f"report: {out}/README.md")


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point: run the typer app; an ImaclabError becomes one line on stderr and exit code 2."""
    try:
        app(args=argv, prog_name="imaclab")
    except SystemExit as ex:  # click's standalone mode always ends with SystemExit (usage errors: 2)
        code = ex.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ImaclabError as err:
        print(f"imaclab: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("imaclab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
