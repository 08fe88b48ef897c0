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
        Keep,
        Overlap,
        accelerator_from_dict,
        dump_accelerator,
        iso_area,
        list_presets,
        load_accelerator,
    )
    from hwmodel.cost import (
        Cost,
    )
    from hwmodel.evaluate import (
        evaluate,
        evaluate_gemm,
        evaluate_many,
        tile_overflow_bytes,
    )
    from hwmodel.pe import (
        GroupEpilogue,
        PEType,
        PrecisionMode,
        list_pes,
        load_pe,
    )
    from hwmodel.precision import (
        Precision,
    )
    from hwmodel.published import (
        MANT_PE_AREA_UM2_PER_MAC,
        RQU_EXPOSED_OVERHEAD,
        PeAreaCheck,
        mant_pe_area_check,
        with_exposed_overhead,
    )
    from hwmodel.systolic import (
        Dataflow,
        GemvPath,
        Preload,
        SystolicResult,
        systolic_gemm,
    )
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

_EXPORTS = {
    "Accelerator": "hwmodel.accelerator",
    "ArrayConfig": "hwmodel.accelerator",
    "BufferConfig": "hwmodel.accelerator",
    "Cost": "hwmodel.cost",
    "Dataflow": "hwmodel.systolic",
    "DramConfig": "hwmodel.accelerator",
    "FfnKind": "hwmodel.workload",
    "Gemm": "hwmodel.workload",
    "GemvPath": "hwmodel.systolic",
    "GroupEpilogue": "hwmodel.pe",
    "Keep": "hwmodel.accelerator",
    "MANT_PE_AREA_UM2_PER_MAC": "hwmodel.published",
    "ModelConfig": "hwmodel.workload",
    "Operand": "hwmodel.workload",
    "Overlap": "hwmodel.accelerator",
    "PEType": "hwmodel.pe",
    "PeAreaCheck": "hwmodel.published",
    "Phase": "hwmodel.workload",
    "Precision": "hwmodel.precision",
    "PrecisionMode": "hwmodel.pe",
    "Preload": "hwmodel.systolic",
    "RQU_EXPOSED_OVERHEAD": "hwmodel.published",
    "Scope": "hwmodel.workload",
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
    "mant_pe_area_check": "hwmodel.published",
    "systolic_gemm": "hwmodel.systolic",
    "tile_overflow_bytes": "hwmodel.evaluate",
    "with_exposed_overhead": "hwmodel.published",
}

__all__ = [
    "Accelerator",
    "ArrayConfig",
    "BufferConfig",
    "Cost",
    "Dataflow",
    "DramConfig",
    "FfnKind",
    "Gemm",
    "GemvPath",
    "GroupEpilogue",
    "Keep",
    "MANT_PE_AREA_UM2_PER_MAC",
    "ModelConfig",
    "Operand",
    "Overlap",
    "PEType",
    "PeAreaCheck",
    "Phase",
    "Precision",
    "PrecisionMode",
    "Preload",
    "RQU_EXPOSED_OVERHEAD",
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
    "load_model",
    "load_pe",
    "mant_pe_area_check",
    "systolic_gemm",
    "with_exposed_overhead",
    "tile_overflow_bytes",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
