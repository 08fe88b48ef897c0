"""hwmodel: analytical PE / systolic-array / memory cost model for low-bit LLM accelerators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mant._lazy import lazy_exports

if TYPE_CHECKING:
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
    from hwmodel.evaluate import evaluate, evaluate_gemm, evaluate_many
    from hwmodel.pe import GroupEpilogue, PEType, PrecisionMode, list_pes, load_pe
    from hwmodel.precision import Precision
    from hwmodel.systolic import Dataflow, Preload, SystolicResult, systolic_gemm
    from hwmodel.workload import Gemm, ModelConfig, Workload, list_models, llm_workload, load_model

_EXPORTS = {
    "Accelerator": "hwmodel.accelerator",
    "ArrayConfig": "hwmodel.accelerator",
    "BufferConfig": "hwmodel.accelerator",
    "Cost": "hwmodel.cost",
    "Dataflow": "hwmodel.systolic",
    "DramConfig": "hwmodel.accelerator",
    "Gemm": "hwmodel.workload",
    "GroupEpilogue": "hwmodel.pe",
    "ModelConfig": "hwmodel.workload",
    "Overlap": "hwmodel.accelerator",
    "PEType": "hwmodel.pe",
    "Precision": "hwmodel.precision",
    "PrecisionMode": "hwmodel.pe",
    "Preload": "hwmodel.systolic",
    "SystolicResult": "hwmodel.systolic",
    "Workload": "hwmodel.workload",
    "accelerator_from_dict": "hwmodel.accelerator",
    "dump_accelerator": "hwmodel.accelerator",
    "evaluate": "hwmodel.evaluate",
    "evaluate_gemm": "hwmodel.evaluate",
    "evaluate_many": "hwmodel.evaluate",
    "iso_area": "hwmodel.accelerator",
    "list_models": "hwmodel.workload",
    "list_pes": "hwmodel.pe",
    "list_presets": "hwmodel.accelerator",
    "llm_workload": "hwmodel.workload",
    "load_accelerator": "hwmodel.accelerator",
    "load_model": "hwmodel.workload",
    "load_pe": "hwmodel.pe",
    "systolic_gemm": "hwmodel.systolic",
}

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
    "load_model",
    "load_pe",
    "systolic_gemm",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
