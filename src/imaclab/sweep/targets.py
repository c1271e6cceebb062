"""Registry of sweep targets: a name -> a room's job config and that room's ``run(job)``.

A sweep point is one job of one room: the spec's base config and the point's axis values
build the room's job (``ImacJob``, ``TpuJob``, ...), the room's own ``run(job)`` computes it,
and the result's ``metrics()`` (flat scalars) are stored.  Rooms are imported lazily, inside
:func:`load_target`, so a room that is missing or unfinished fails only its own target, with a
one-line error, and never the sweep machinery.

Besides the registered names, a spec may name any ``package.module:function`` whose
first parameter is annotated with a :class:`~imaclab.config.ConfigModel` subclass; the
module must be importable by the workers (installed, or on ``PYTHONPATH``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imaclab.config import ConfigModel
from imaclab.errors import ConfigError, ImaclabError, unknown_name
from imaclab.result import flat_scalars

Metrics = dict[str, float | int | str | bool | None]


@dataclass(frozen=True)
class TargetInfo:
    """A registered target: the room's job config and run function, and what it computes."""

    name: str
    summary: str
    job: str  # "module:JobClass"
    run: str  # "module:run", called as run(job) (or run(job, out_dir=...) for ``artifacts``)
    #: The job writes a run folder of its own (training checkpoints): each point gets one.
    artifacts: bool = False
    #: Another registered name this one is a short form of (both run the same job).
    alias_of: str | None = None


@dataclass(frozen=True)
class Target:
    """A loaded target, ready to build configs and run points."""

    name: str
    config_class: type[ConfigModel]
    run: Callable[..., Any]
    #: Expands shorthand in the spec's raw base config (a preset name into its fields) before
    #: it is validated and the axes apply.
    resolve_base: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def uses_workdir(self) -> bool:
        """Whether the run function takes a ``workdir`` (a per-point folder for artifacts)."""
        return "workdir" in inspect.signature(self.run).parameters

    def evaluate(self, config_data: Mapping[str, Any], workdir: str | Path | None = None) -> Metrics:
        """Validate ``config_data``, run the job, return flat metrics."""
        config = self.config_class.from_dict(dict(config_data), source=f"{self.name} config")
        if self.uses_workdir:
            if workdir is None:
                raise ConfigError(f"target '{self.name}' needs a work directory for its artifacts")
            Path(workdir).mkdir(parents=True, exist_ok=True)
            return flatten_metrics(self.run(config, workdir=Path(workdir)))
        return flatten_metrics(self.run(config))


def _room_targets() -> dict[str, TargetInfo]:
    rows = [
        TargetInfo("imac", "IMAC MLP inference on crossbars (accuracy, power, latency, area)",
                   "imaclab.imac.api:ImacJob", "imaclab.imac.api:run"),
        TargetInfo("tpu", "systolic-array model of a topology (cycles, stalls, utilization, traffic)",
                   "imaclab.systolic.api:TpuJob", "imaclab.systolic.api:run"),
        TargetInfo("llm.amdahl", "Amdahl analysis of 1-bit quantization for one LLM case (f, ceiling, speedup)",
                   "imaclab.llm.api:AmdahlCaseJob", "imaclab.llm.api:run"),
        TargetInfo("llm.workload", "one LLM forward pass on a systolic array (cycles, bytes, MACs by category)",
                   "imaclab.llm.api:LlmWorkloadJob", "imaclab.llm.api:run"),
        TargetInfo("hetero", "TPU-IMAC heterogeneous accelerator vs TPU-only (latency, energy, memory, accuracy)",
                   "imaclab.hetero.api:HeteroJob", "imaclab.hetero.api:run"),
        TargetInfo("train", "hardware-aware training (accuracy, loss); each point keeps its run folder",
                   "imaclab.nn.api:TrainJob", "imaclab.nn.api:run", artifacts=True),
    ]
    aliases = {"imac.evaluate": "imac", "tpu.simulate": "tpu", "hetero.evaluate": "hetero"}
    for alias, name in aliases.items():
        info = next(r for r in rows if r.name == name)
        rows.append(dataclasses.replace(info, name=alias, alias_of=name))
    return {info.name: info for info in rows}


TARGETS: dict[str, TargetInfo] = _room_targets()

# Loaded targets, per process (workers load each target once).
_LOADED: dict[str, Target] = {}


def _import(reference: str, what: str) -> Any:
    module_name, _, attr = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"{what}: cannot import module '{module_name}' ({err}); install it or add it to "
                          f"PYTHONPATH on every worker") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{what}: module '{module_name}' has no '{attr}'") from None


def _custom_target(reference: str) -> Target:
    function = _import(reference, f"target '{reference}'")
    if not callable(function):
        raise ConfigError(f"target '{reference}' is not a function")
    params = list(inspect.signature(function).parameters.values())
    try:
        hints = typing.get_type_hints(function)
    except Exception as err:  # unresolvable annotations
        raise ConfigError(f"target '{reference}': cannot read its annotations ({err})") from None
    config_class = hints.get(params[0].name) if params else None
    if not (isinstance(config_class, type) and issubclass(config_class, ConfigModel)):
        raise ConfigError(f"target '{reference}': its first parameter must be annotated with a ConfigModel "
                          f"subclass, e.g. def run(config: MyConfig) -> dict")
    return Target(reference, config_class, function)


def _room_target(info: TargetInfo) -> Target:
    job_class = _import(info.job, f"target '{info.name}'")
    room_run = _import(info.run, f"target '{info.name}'")
    resolve = None
    if hasattr(job_class, "resolved"):
        # shorthand in the base (a policy preset name) becomes its fields, so axes reach inside it
        def resolve(data: dict[str, Any]) -> dict[str, Any]:
            return job_class.from_dict(data, source=f"{info.name} base config").resolved().to_dict()

    folder = info.name.split(".")[0]

    def run_point(job: Any) -> Any:
        return room_run(job).metrics()

    def run_in_folder(job: Any, *, workdir: Path) -> Any:
        return room_run(job, out_dir=workdir / folder).metrics()

    return Target(info.name, job_class, run_in_folder if info.artifacts else run_point, resolve)


def load_target(name: str) -> Target:
    """The target called ``name`` (registered, or ``package.module:function``)."""
    if name in _LOADED:
        return _LOADED[name]
    if name in TARGETS:
        try:
            target = _room_target(TARGETS[name])
        except ImaclabError as err:
            raise ConfigError(f"target '{name}' is not available: {err}") from None
        except (ImportError, AttributeError) as err:
            raise ConfigError(f"target '{name}' is not available in this install: {type(err).__name__}: "
                              f"{err}") from None
    elif ":" in name:
        target = _custom_target(name)
    else:
        raise unknown_name("sweep target", name, list(TARGETS))
    _LOADED[name] = target
    return target


def list_targets() -> list[dict[str, Any]]:
    """Every registered target with whether it loads in this install (and why not)."""
    rows = []
    for info in TARGETS.values():
        try:
            target = load_target(info.name)
            summary = f"{info.summary} (same as {info.alias_of})" if info.alias_of else info.summary
            rows.append({"name": info.name, "summary": summary, "available": True,
                         "config": target.config_class.__name__, "reason": ""})
        except ImaclabError as err:
            rows.append({"name": info.name, "summary": info.summary, "available": False, "config": "",
                         "reason": str(err)})
    return rows


def flatten_metrics(result: Any) -> Metrics:
    """Flat ``{name: scalar}`` from a dict, a dataclass or an object with ``to_dict()``.

    Nested mappings become dotted names; numpy scalars become Python numbers.  Lists
    and other containers are refused: a metric is one number (or a short string).
    """
    if hasattr(result, "to_dict") and callable(result.to_dict):
        result = result.to_dict()
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if not isinstance(result, Mapping):
        raise ConfigError(f"a target must return a mapping of metrics, got {type(result).__name__}")
    return flat_scalars(result, strict=True)
