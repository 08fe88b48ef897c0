"""hwmodel: analytical PE / systolic-array / memory cost model for low-bit LLM accelerators."""

from hwmodel.accelerator import (
    Accelerator,
    ArrayConfig,
    BufferConfig,
    DramConfig,
    Keep,
    Overlap,
    accelerator_from_dict,
    dump_accelerator,
    iso_area,
    list_presets,
    load_accelerator,
)
from hwmodel.cost import Cost
from hwmodel.evaluate import evaluate, evaluate_gemm, evaluate_many
from hwmodel.pe import GroupEpilogue, PEType, PrecisionMode, list_pes, load_pe
from hwmodel.precision import Precision
from hwmodel.published import (
    MANT_PE_AREA_UM2_PER_MAC,
    RQU_EXPOSED_OVERHEAD,
    PeAreaCheck,
    mant_pe_area_check,
    with_exposed_overhead,
)
from hwmodel.systolic import Dataflow, GemvPath, Preload, SystolicResult, systolic_gemm
from hwmodel.workload import (
    FfnKind,
    Gemm,
    ModelConfig,
    Operand,
    Phase,
    Scope,
    Workload,
    list_models,
    llm_workload,
    load_model,
)

__all__ = [
    "MANT_PE_AREA_UM2_PER_MAC",
    "RQU_EXPOSED_OVERHEAD",
    "Accelerator",
    "ArrayConfig",
    "BufferConfig",
    "Cost",
    "Dataflow",
    "FfnKind",
    "GemvPath",
    "DramConfig",
    "Gemm",
    "GroupEpilogue",
    "Keep",
    "ModelConfig",
    "Operand",
    "Overlap",
    "PeAreaCheck",
    "Phase",
    "PEType",
    "Precision",
    "PrecisionMode",
    "Preload",
    "Scope",
    "SystolicResult",
    "Workload",
    "accelerator_from_dict",
    "dump_accelerator",
    "evaluate",
    "evaluate_gemm",
    "evaluate_many",
    "iso_area",
    "list_models",
    "list_pes",
    "list_presets",
    "llm_workload",
    "load_accelerator",
    "load_pe",
    "load_model",
    "mant_pe_area_check",
    "systolic_gemm",
    "with_exposed_overhead",
]
