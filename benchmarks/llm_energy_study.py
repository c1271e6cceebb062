"""How long the default energy study takes once the crossbar tile is cached (issue 15: under 20 s).

The default energy study: every catalog model, 6 contexts (128 ... 4096), both phases, the edge and
cloud arrays, the ``tpu`` and ``hybrid-pim`` designs (``pim_tiles``; the hybrid-PIM Amdahl column
takes its crossbar latency from the same measured 128x128 tile by default).  This script

1. loads (or, the first time on a machine, characterizes) the default tile and times it;
2. runs :func:`imaclab.llm.study.run_study` ``REPEATS`` times and prints each run's seconds
   (wall and process CPU), the cases, and the study's own ``elapsed_s``;
3. with ``--files``, also writes the CSV, JSON and plots once (what ``imaclab llm study -o`` does)
   and times that.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/llm_energy_study.py [--files]``.  The machine's
load average is printed next to the times (a shared machine stretches wall time, not CPU time).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPEATS = 3
TARGET_S = 20.0


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    from imaclab.imac.tiles import characterize_tile
    from imaclab.llm.study import StudyConfig, run_study

    config = StudyConfig(pim_tiles=True)
    print(f"imports {time.perf_counter() - start:.2f} s; load average {load_average()}")
    t0 = time.perf_counter()
    tile = characterize_tile(config.tile)
    print(f"tile {tile.label}: {1e3 * (time.perf_counter() - t0):.2f} ms to load or characterize "
          f"(latency {tile.latency_s:.3g} s, energy {tile.energy_j:.3g} J per product)")
    best = float("inf")
    for i in range(REPEATS):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        study = run_study(config=config)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        best = min(best, wall)
        pim = sum(1 for r in study.rows if r.get("tokens_per_j_hybrid_pim"))
        print(f"run {i + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, study elapsed_s {study.elapsed_s:.2f}; "
              f"{len(study.rows)} cases ({pim} with hybrid-pim energy), {len(study.skipped)} skipped; "
              f"load average {load_average()}")
    print(f"best of {REPEATS}: {best:.2f} s (target < {TARGET_S:g} s once the tile is cached): "
          f"{'met' if best < TARGET_S else 'NOT met'}")
    if "--files" in argv:
        from imaclab.report.llm_plots import write_study_report

        with tempfile.TemporaryDirectory() as tmp:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            files = write_study_report(study, out_dir=tmp)
            print(f"files and plots ({len(files)}): {time.perf_counter() - wall0:.2f} s wall, "
                  f"{time.process_time() - cpu0:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
