"""The shipped model catalog (``catalog.yaml``) and lookup by case-insensitive name."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from imaclab.errors import unknown_name
from imaclab.llm.architecture import LlmSpec

CATALOG_FILE = "catalog.yaml"


@lru_cache(maxsize=1)
def _catalog() -> dict[str, LlmSpec]:
    text = resources.files("imaclab.llm").joinpath(CATALOG_FILE).read_text()
    raw = yaml.safe_load(text)
    return {name.lower(): LlmSpec.from_dict({"name": name.lower(), **fields}, source=f"{CATALOG_FILE}:{name}")
            for name, fields in raw.items()}


def model_names() -> list[str]:
    """Catalog names, in catalog order (small to large within each family)."""
    return list(_catalog())


def list_models() -> list[LlmSpec]:
    """Every catalog model."""
    return [spec.model_copy(deep=True) for spec in _catalog().values()]


def get_model(name: str) -> LlmSpec:
    """A catalog model by name (case-insensitive), or a model read from a ``config.json`` path.

    Raises UnknownNameError listing close matches for an unknown name.
    """
    key = name.strip().lower()
    catalog = _catalog()
    if key in catalog:
        return catalog[key].model_copy(deep=True)
    if key.endswith(".json") or Path(name).is_file():
        from imaclab.llm.hf_import import load_hf_config

        return load_hf_config(name)
    raise unknown_name("model", name, model_names())


def resolve_models(names: str | list[str]) -> list[LlmSpec]:
    """Models from a comma-separated string or list; ``all`` means the whole catalog."""
    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if any(n.lower() == "all" for n in items):
        return list_models()
    return [get_model(n) for n in items]
