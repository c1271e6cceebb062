"""imaclab.llm: decoder-LLM workloads on a systolic array and Amdahl's law for 1-bit quantization.

Flow: a catalog model (:func:`get_model`) -> one forward pass as GEMMs and vector
operations (:func:`build_workload`) -> a cost split by category (:func:`systolic_cost`,
:func:`memory_cost`, :func:`roofline_cost`) -> Amdahl's law (:func:`amdahl`, or a
hardware-derived factor from :mod:`imaclab.llm.improve`) -> a study over models x contexts x
hardware (:func:`run_study`).  See ``docs/llm-amdahl.md``.

The jobs: ``run(LlmWorkloadJob(model="opt-1.3b"))`` -> :class:`WorkloadResult`,
``run(AmdahlJob(models=[...], contexts=[...]))`` -> :class:`StudyResult`, and
``run(AmdahlCaseJob(model=..., context=..., s=8))`` for one case (the sweep target ``llm.amdahl``).
"""

from imaclab.llm.amdahl import AmdahlResult, amdahl, amdahl_ceiling, amdahl_speedup, factor_for_speedup, general_speedup
from imaclab.llm.api import AmdahlCaseJob, AmdahlJob, LlmWorkloadJob, WorkloadResult, run
from imaclab.llm.architecture import CATEGORIES, LlmSpec
from imaclab.llm.catalog import get_model, list_models, model_names, resolve_models
from imaclab.llm.costs import CostBreakdown, MemoryConfig, VectorUnitConfig, memory_cost, roofline_cost, systolic_cost
from imaclab.llm.hf_import import load_hf_config
from imaclab.llm.improve import (
                                ComputeImprovementConfig,
                                PimCrossbarConfig,
                                compute_improvement,
                                hybrid_pim_improvement,
                                memory_improvement,
)
from imaclab.llm.precision import PrecisionConfig, bytes_by_category
from imaclab.llm.roofline import RooflineHardware
from imaclab.llm.study import StudyConfig, StudyResult, run_study
from imaclab.llm.workload import GemmOp, VectorOp, Workload, WorkloadConfig, build_workload

__all__ = [
    "AmdahlCaseJob", "AmdahlJob", "LlmWorkloadJob", "WorkloadResult", "run",
    "AmdahlResult", "CATEGORIES", "ComputeImprovementConfig", "CostBreakdown", "PimCrossbarConfig", "GemmOp",
    "LlmSpec", "MemoryConfig", "PrecisionConfig", "RooflineHardware", "StudyConfig", "StudyResult", "VectorOp",
    "VectorUnitConfig", "Workload", "WorkloadConfig", "amdahl", "amdahl_ceiling", "amdahl_speedup",
    "build_workload", "bytes_by_category", "compute_improvement", "factor_for_speedup", "general_speedup",
    "get_model", "hybrid_pim_improvement", "list_models", "load_hf_config", "memory_cost", "memory_improvement",
    "model_names", "resolve_models", "roofline_cost", "run_study", "systolic_cost",
]
