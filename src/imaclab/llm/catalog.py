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
    """A catalog model by name (case-insensitive), or a model read from a ``config.json`` path (or its folder);
    ``NAME=path/config.json`` names a model read from a file.

    Raises UnknownNameError listing close matches for an unknown name.
    """
    key = name.strip().lower()
    catalog = _catalog()
    if key in catalog:
        return catalog[key].model_copy(deep=True)
    label, path = _split_named(name)
    if label is not None or key.endswith(".json") or Path(path).is_file() or (Path(path) / "config.json").is_file():
        from imaclab.llm.hf_import import load_hf_config

        return load_hf_config(path, name=label)
    raise unknown_name("model", name, model_names())


def _split_named(item: str) -> tuple[str | None, str]:
    """``NAME=path`` -> ``(NAME, path)``; anything else -> ``(None, item)``."""
    label, sep, path = item.strip().partition("=")
    if sep and label.strip() and path.strip():
        return label.strip(), path.strip()
    return None, item.strip()


def _config_folder(item: str) -> Path:
    path = Path(_split_named(item)[1]).expanduser().resolve()
    return path if path.is_dir() else path.parent


def resolve_models(names: str | list[str]) -> list[LlmSpec]:
    """Models from a comma-separated string or list; ``all`` means the whole catalog.

    Every model of a study has its own name.  Models read from ``config.json`` files whose
    derived names (the ``_name_or_path`` key or the folder name) collide are told apart by
    their folders (``a/llama``, ``b/llama``); ``NAME=path/config.json`` names one explicitly.
    The same name given twice (a catalog model listed twice, two explicit names alike) is
    refused with one line.
    """
    from imaclab.errors import ConfigError

    items = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if any(n.lower() == "all" for n in items):
        return list_models()
    specs = [get_model(n) for n in items]
    derived = [n.strip().lower() not in _catalog() and _split_named(n)[0] is None for n in items]
    groups: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.name.lower(), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        folders = [_config_folder(items[i]) for i in members]
        if not all(derived[i] for i in members) or len(set(folders)) < len(folders):
            given = ", ".join(items[i] for i in members)
            raise ConfigError(f"model name '{specs[members[0]].name}' appears {len(members)} times in the study "
                              f"({given}): list each model once, or name them NAME=path/config.json")
        depth = 1
        while len({"/".join(f.parts[-depth:]) for f in folders}) < len(folders):
            depth += 1
        for i, folder in zip(members, folders):
            suffix = "/".join(folder.parts[-depth:])
            name = suffix if specs[i].name == folder.name else f"{specs[i].name} ({suffix})"
            specs[i] = specs[i].model_copy(update={"name": name})
    names_now = [s.name.lower() for s in specs]
    clash = next((n for n in names_now if names_now.count(n) > 1), None)
    if clash is not None:
        raise ConfigError(f"model name '{clash}' appears more than once in the study: name the models "
                          f"NAME=path/config.json")
    return specs
