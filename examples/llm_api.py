"""The llm room from Python: one forward pass, one Amdahl case, and a small study.

    python examples/llm_api.py [OUT_DIR]

Prints the cycle share of the projections of OPT-1.3B decoding on the edge array, the
Amdahl speedup of 1-bit projections at s = 8 for one case, and writes a two-model study
(amdahl.csv, study.json, plots, config.yaml, summary.json) into OUT_DIR (default: a
temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from imaclab.llm import AmdahlCaseJob, AmdahlJob, LlmWorkloadJob, run


def main(out_dir: Path) -> int:
    pass_ = run(LlmWorkloadJob(model="opt-1.3b", phase="decode", context=512))
    print(f"workload: projection share={pass_.cycle_fractions['projection']:.4f} "
          f"tokens_per_s={pass_.tokens_per_s:.4g}")
    case = run(AmdahlCaseJob(model="opt-1.3b", phase="decode", context=512, s=8)).metrics()
    print(f"case: f={case['f']:.4f} ceiling={case['ceiling']:.4f} speedup={case['speedup']:.4f}")
    study = run(AmdahlJob(models=["opt-350m", "opt-1.3b"], contexts=[128, 512], hardware=["edge"],
                          phases=["decode"], factors=[2, 8],
                          # a 32x32 tile characterizes in a few seconds (the default 128x128 in ~20 s, once)
                          tile={"size": 32}), out_dir=out_dir)
    print(f"study: {len(study.rows)} cases; wrote {', '.join(sorted(p.name for p in study.files.values()))}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(Path(sys.argv[1])))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
