"""The CLI only turns strings into a job and prints a result: every table goes through the one
renderer (imaclab.cli.common), and the short flags mean the same in every command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

import imaclab.cli.common as common
from imaclab.cli import app, main

CLI_DIR = Path(common.__file__).parent


def test_only_the_renderer_builds_rich_tables():
    builders = [path.name for path in sorted(CLI_DIR.glob("*.py")) if "rich.table" in path.read_text()]
    assert builders == ["common.py"]


@pytest.fixture
def printed_tables(monkeypatch):
    seen = []
    original = common.print_table

    def record(table, width=None):
        seen.append(table)
        original(table, width)

    monkeypatch.setattr(common, "print_table", record)
    return seen


@pytest.mark.parametrize(("argv", "title", "figures"), [
    (["llm", "models"], "imaclab LLM catalog (parameters in millions)", ["gpt2-medium", "llama-2-70b"]),
    (["llm", "published"], "published vs predicted (decode, batch 1; predictions are upper bounds)",
     ["projection_storage_gb", "0.41", "bitnet-b1.58-2b-4t fp16->w1.58a8"]),
    (["tpu", "presets"], "imaclab systolic-array presets (use with -c NAME)", ["edge-32x32", "cloud-256x256"]),
    (["train", "models"], "model zoo (imaclab.nn.zoo)", ["lenet5", "mobilenet-v2"]),
    (["train", "policies"], "precision policies (imaclab.nn.policy)", ["tpu-imac", "fp32"]),
])
def test_listings_print_through_the_renderer(argv, title, figures, capsys, printed_tables):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert [table.title for table in printed_tables] == [title]
    assert all(figure in out for figure in figures), out
    assert "…" not in out  # wide enough: no cell is cut


@pytest.mark.parametrize("argv", [["llm", "models"], ["llm", "published"], ["tpu", "presets"]])
def test_listing_json_is_the_rows(argv, capsys):
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and rows and isinstance(rows[0], dict)


def _commands(command, path=()):
    if hasattr(command, "commands"):
        if command.callback is not None and path:
            yield " ".join(path), command
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), command


def test_short_flags_mean_the_same_everywhere():
    checked = 0
    for name, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            opts = set(getattr(param, "opts", ())) | set(getattr(param, "secondary_opts", ()))
            if getattr(param, "param_type_name", "") != "option":
                continue
            if "-c" in opts or "--config" in opts:
                assert {"-c", "--config"} <= opts, (name, opts)
                checked += 1
            if "-o" in opts or opts & {"--out", "--output", "--outdir"}:
                assert "-o" in opts and opts & {"--out", "--output"}, (name, opts)
                checked += 1
    assert checked > 20

