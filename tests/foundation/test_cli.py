"""The CLI shell: groups exist, user errors are one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

from imaclab.cli import main


def test_groups_listed(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for group in ("tpu", "llm", "imac", "train", "hetero", "sweep"):
        assert group in out


def test_unknown_command_is_usage_error():
    proc = subprocess.run([sys.executable, "-m", "imaclab", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr


def test_imac_commands_share_the_short_flags(capsys):
    assert main(["imac", "--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "validate", "netlist", "neuron"):
        assert command in out
    for command in ("run", "validate", "netlist", "neuron"):
        assert main(["imac", command, "--help"]) == 0
        text = capsys.readouterr().out
        assert "-c" in text and "--config" in text and "--set" in text and "--out" in text, command
