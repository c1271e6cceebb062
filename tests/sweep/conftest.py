"""Shared helpers of the sweep tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def write_spec(tmp_path):
    """Write a spec mapping to a YAML file and return its path."""

    def write(spec: dict, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write
