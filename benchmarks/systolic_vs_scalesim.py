"""imaclab's systolic model vs SCALE-Sim v2.0.2: same totals, how much faster.

Runs a ResNet-18 convolution topology and a GPT-2 decoder-layer GEMM topology
(both shipped in ``imaclab/systolic/topologies/``) on a 32x32 array
(``edge-32x32`` preset) in each dataflow, with imaclab and with SCALE-Sim itself
(in-process, same machine, same run), and prints both tools' total cycles, stall
cycles and DRAM traffic, and the measured speedup (wall clock, and CPU time of this
process, which is less disturbed by other jobs on a shared machine).

    .venv/bin/python benchmarks/systolic_vs_scalesim.py            # full topologies (SCALE-Sim: hours)
    .venv/bin/python benchmarks/systolic_vs_scalesim.py --quick    # a subset of layers (minutes)
    .venv/bin/python benchmarks/systolic_vs_scalesim.py --quick --bandwidths 4,10   # USER mode rows
    ... --scalesim-cache ss.json --scalesim-only     # SCALE-Sim's rows only, layer by layer, into a cache
    ... --scalesim-cache ss.json --cached-only       # imaclab re-timed against the cached SCALE-Sim layers

``--bandwidths`` takes ``calc`` (SCALE-Sim's CALC mode, the default) and/or DRAM bandwidths in
words/cycle (SCALE-Sim's USER mode; imaclab's default ``dram_model: scalesim``).  In USER mode
every figure is compared, layer by layer (cycles, stalls, SRAM and DRAM accesses per operand).

``--quick`` keeps, of ResNet-18, the first convolution of each stage and the FC
layer, and of the GPT-2 layer one attention head (QKV, QK^T, AV, output
projection, MLP) -- every kind of layer, fewer repeats.

SCALE-Sim runs each layer separately (it simulates layers independently, from empty buffers: the
reports are those of one run over the topology; its time is the sum).  imaclab's time is the
best of ``--repeats`` runs (default 5) of the whole topology, so that one-off costs (first-call
imports, page faults of a cold process) and other jobs' bursts on a shared machine do not dominate
a sub-second measurement; its first run is printed too.  SCALE-Sim runs once (minutes per row).
The speedup columns divide SCALE-Sim's wall-clock (CPU) time by imaclab's best wall-clock (CPU) time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from importlib import resources

from imaclab.files import write_text
from imaclab.systolic import SystolicConfig, load_topology, simulate_topology
from imaclab.systolic.reference import run_scalesim

QUICK_RESNET = ("conv1", "layer1_0_conv1", "layer2_0_conv1", "layer2_0_downsample", "layer3_0_conv1",
                "layer4_0_conv1", "fc")
QUICK_GPT2 = ("attn_qkv_proj", "attn_qk_head0", "attn_av_head0", "attn_out_proj", "mlp_fc", "mlp_proj")


#: Figures compared layer by layer in USER mode (SCALE-Sim report columns, all exact).
FIGURES = {"total_cycles", "stall_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
           "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes",
           *(f"{mem}_{op}_{edge}_cycle" for mem in ("sram", "dram") for op in ("ifmap", "filter", "ofmap")
             for edge in ("start", "stop"))}


def topology(name: str, gemm: bool, keep: tuple[str, ...] | None):
    with resources.as_file(resources.files("imaclab.systolic") / "topologies" / name) as path:
        layers = load_topology(path, gemm=gemm)
    return [layer for layer in layers if keep is None or layer.name in keep]


def totals(rows: list[dict]) -> dict[str, int]:
    keys = ("total_cycles", "stall_cycles", "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes")
    return {k: int(sum(r[k] for r in rows)) for k in keys}


def scalesim_row(cfg, layers, key: str, cache: dict, cache_file: str | None) -> tuple[list[dict], float, float]:
    """SCALE-Sim's reports for ``layers`` and its wall-clock and CPU seconds, layer by layer.

    Each layer is a separate SCALE-Sim run (SCALE-Sim simulates layers independently, from empty
    buffers, so the reports are those of one run over the topology); a layer found in ``cache``
    (key ``"<row key> <layer>"``) is not rerun, and each new one is added to ``cache_file``.
    """
    rows, wall, cpu = [], 0.0, 0.0
    for layer in layers:
        entry = cache.get(f"{key} {layer.name}")
        if entry is None:
            start, cpu_start = time.perf_counter(), time.process_time()
            report = run_scalesim(cfg, [layer])[0]
            entry = {"row": report, "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start}
            print(f"  SCALE-Sim {key} {layer.name}: {entry['wall_s']:.1f} s ({entry['cpu_s']:.1f} s CPU)", flush=True)
            if cache_file:
                cache[f"{key} {layer.name}"] = entry
                write_text(cache_file, json.dumps(cache, indent=1))   # atomic: a kill keeps the last layer
        rows.append(entry["row"])
        wall += entry["wall_s"]
        cpu += entry["cpu_s"]
    return rows, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset of layers (see module docstring)")
    parser.add_argument("--dataflows", default="os,ws,is", help="comma-separated dataflows (default os,ws,is)")
    parser.add_argument("--config", default="edge-32x32", help="preset or .cfg (default edge-32x32)")
    parser.add_argument("--only", choices=("resnet18", "gpt2"), help="run one topology only")
    parser.add_argument("--bandwidths", default="calc",
                        help="comma-separated: calc and/or DRAM words/cycle for USER mode (default calc)")
    parser.add_argument("--scalesim-cache", help="JSON file keeping SCALE-Sim's reports and times per layer: layers "
                        "found there are not rerun (SCALE-Sim takes minutes per row)")
    parser.add_argument("--scalesim-only", action="store_true",
                        help="only run SCALE-Sim's missing layers into --scalesim-cache (no imaclab timing)")
    parser.add_argument("--cached-only", action="store_true",
                        help="run no SCALE-Sim: compare each row on the layers found in --scalesim-cache only (rows "
                        "with fewer layers say so; a row with none is skipped)")
    parser.add_argument("--repeats", type=int, default=5, help="imaclab runs per row, the best is used (default 5)")
    args = parser.parse_args()

    workloads = {
        "resnet18": topology("resnet18.csv", False, QUICK_RESNET if args.quick else None),
        "gpt2": topology("gpt2_decoder_layer.csv", True, QUICK_GPT2 if args.quick else None),
    }
    if args.only:
        workloads = {args.only: workloads[args.only]}
    base = SystolicConfig.resolve(args.config)
    bandwidths = [None if b.strip().lower() == "calc" else int(b) for b in args.bandwidths.split(",")]
    print(f"array {base.array_rows}x{base.array_cols}, SRAM {base.ifmap_sram_kb}/{base.filter_sram_kb}/"
          f"{base.ofmap_sram_kb} kB{' (quick subset)' if args.quick else ''}")
    header = (f"{'topology':10s} {'bw':>4s} {'df':3s} {'layers':>6s} {'imaclab cycles':>15s} {'SCALE-Sim cycles':>17s} "
              f"{'stalls':>9s} {'DRAM words (imaclab / SCALE-Sim)':>34s} {'imaclab s':>10s} {'(1st run)':>10s} "
              f"{'SCALE-Sim s':>12s} {'CPU s: imaclab / SCALE-Sim':>27s} {'speedup':>9s} {'(CPU)':>9s}")
    print(f"imaclab: best of {args.repeats} runs; SCALE-Sim: one run")
    print(header)
    cache = {}
    if args.scalesim_cache and Path(args.scalesim_cache).is_file():
        cache = json.loads(Path(args.scalesim_cache).read_text())
    all_ours = all_theirs = cpu_ours = cpu_theirs = 0.0
    identical = True
    rows = [(name, layers, bw, df.strip()) for name, layers in workloads.items() for bw in bandwidths
            for df in args.dataflows.split(",")]
    for name, layers, bw, dataflow in rows:
        cfg = base.with_overrides({"dataflow": dataflow, "dram_bandwidth_words_per_cycle": bw})
        if args.scalesim_only:      # fill the cache only
            scalesim_row(cfg, layers, f"{name} {'calc' if bw is None else bw} {dataflow} {args.config}", cache,
                         args.scalesim_cache)
            continue
        key = f"{name} {'calc' if bw is None else bw} {dataflow} {args.config}"
        all_layers = len(layers)
        if args.cached_only:
            layers = [layer for layer in layers if f"{key} {layer.name}" in cache]
            if not layers:
                print(f"{name:10s} {'calc' if bw is None else bw:>4} {dataflow:3s}: no SCALE-Sim layer cached, skipped")
                continue
        walls, cpus = [], []
        for _ in range(max(1, args.repeats)):
            start, cpu = time.perf_counter(), time.process_time()
            ours = simulate_topology(cfg, layers)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        t_ours, c_ours = min(walls), min(cpus)
        theirs, t_theirs, c_theirs = scalesim_row(cfg, layers, key, cache, args.scalesim_cache)
        mine = totals([r.to_dict() for r in ours])
        ref = totals(theirs)
        words = lambda t: t["dram_ifmap_reads"] + t["dram_filter_reads"] + t["dram_ofmap_writes"]  # noqa: E731
        same = (mine["total_cycles"] == ref["total_cycles"] and mine["stall_cycles"] == ref["stall_cycles"]
                and words(mine) == words(ref))
        if bw is not None:      # USER mode: every integer figure of every layer
            same &= all(r.to_dict()[key] == value for r, t in zip(ours, theirs) for key, value in t.items()
                        if key in FIGURES)
        identical &= same
        subset = "" if len(layers) == all_layers else f"  (only {', '.join(layer.name for layer in layers)})"
        print(f"{name:10s} {'calc' if bw is None else bw:>4} {dataflow:3s} {len(layers):6d} "
              f"{mine['total_cycles']:15,d} {ref['total_cycles']:17,d} "
              f"{mine['stall_cycles']:>4d}/{ref['stall_cycles']:<4d} "
              f"{words(mine):>16,d} / {words(ref):<15,d} {t_ours:10.3f} {walls[0]:10.3f} {t_theirs:12.1f} "
              f"{c_ours:12.4f} / {c_theirs:<12.1f} "
              f"{t_theirs / t_ours:8.0f}x {c_theirs / c_ours:8.0f}x{'' if same else '  TOTALS DIFFER'}{subset}",
              flush=True)
        all_ours += t_ours
        all_theirs += t_theirs
        cpu_ours += c_ours
        cpu_theirs += c_theirs
    if args.scalesim_only or not all_ours:
        return
    print(f"all runs: imaclab {all_ours:.3f} s (best runs), SCALE-Sim {all_theirs:.1f} s wall-clock: speedup "
          f"{all_theirs / all_ours:.0f}x (CPU time {cpu_ours:.3f} s vs {cpu_theirs:.1f} s: "
          f"{cpu_theirs / cpu_ours:.0f}x); "
          f"total cycles and DRAM words {'identical' if identical else 'DIFFER'}")


if __name__ == "__main__":
    main()
