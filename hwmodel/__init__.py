"""hwmodel: analytical PE / systolic-array / memory cost model for low-bit LLM accelerators."""

from hwmodel.accelerator import (
    Accelerator,
    ArrayConfig,
    BufferConfig,
    DramConfig,
    Overlap,
    accelerator_from_dict,
    dump_accelerator,
    iso_area,
    list_presets,
    load_accelerator,
)
from hwmodel.cost import Cost
from hwmodel.evaluate import evaluate, evaluate_gemm, evaluate_many, tile_overflow_bytes
from hwmodel.pe import GroupEpilogue, PEType, PrecisionMode, list_pes, load_pe
from hwmodel.precision import Precision
from hwmodel.systolic import Dataflow, Preload, SystolicResult, systolic_gemm
from hwmodel.workload import Gemm, ModelConfig, Workload, list_models, llm_workload, load_model

__all__ = [
    "Accelerator",
    "ArrayConfig",
    "BufferConfig",
    "Cost",
    "Dataflow",
    "DramConfig",
    "Gemm",
    "GroupEpilogue",
    "ModelConfig",
    "Overlap",
    "PEType",
    "Precision",
    "PrecisionMode",
    "Preload",
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
    "systolic_gemm",
    "tile_overflow_bytes",
]
