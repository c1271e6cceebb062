"""docs/llm-amdahl.md shows the tokens/J vs tokens/s Pareto plot, and the command it gives makes it."""

import re
import shlex
from pathlib import Path

from imaclab.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_pareto_png_is_in_the_docs_and_its_command_draws_it(tmp_path, tile_cache, capsys):
    text = (DOCS / "llm-amdahl.md").read_text()
    assert "](img/llm-energy-vs-speed.png)" in text
    png = DOCS / "img" / "llm-energy-vs-speed.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < png.stat().st_size < 1_000_000
    command = re.search(r"```\n(imaclab llm amdahl --pim-tiles .*?)\n", text.replace("\\\n", " "))
    assert command, "the command that made the plot is in the docs"
    args = shlex.split(command.group(1))[1:]
    # the same options on a smaller case (one model, one context, a 16x16 tile) into a temp folder
    values = {"--models": "opt-125m", "--contexts": "128", "-o": str(tmp_path / "out")}
    args = [values.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    assert main([*args, "--set", "tile.size=16"]) == 0
    assert "hybrid-pim on measured tiles vs tpu: tokens/J x" in capsys.readouterr().out
    assert (tmp_path / "out" / "energy_vs_speed.png").stat().st_size > 10_000


def test_pareto_front_by_hand():
    from imaclab.report.llm_plots import pareto_front

    # (tokens/s, tokens/J): (1, 5) and (3, 4) and (6, 1) are on the front; (2, 3) loses to (3, 4), (3, 2) too
    points = [(2.0, 3.0), (6.0, 1.0), (1.0, 5.0), (3.0, 4.0), (3.0, 2.0)]
    assert pareto_front(points) == [(1.0, 5.0), (3.0, 4.0), (6.0, 1.0)]
    assert pareto_front([]) == [] and pareto_front([(1.0, 1.0)]) == [(1.0, 1.0)]
    # one model's hybrid-pim point that beats its tpu point in both leaves the tpu point off the front
    assert pareto_front([(10.0, 2.0), (200.0, 8.0)]) == [(200.0, 8.0)]
