"""mant: low-bit number formats, group quantization with per-group adaptive MANT types,
real-time KV-cache quantization, the fused MANT datapath, and the OliVe / Tender baselines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mant._lazy import lazy_exports

if TYPE_CHECKING:
    from mant.candidates import CandidateSet, candidate_set
    from mant.compare import Setting, SettingScore, compare_settings, settings_grid
    from mant.data_families import coefficients_from_data
    from mant.errors import InputError, Issue, MantDseError
    from mant.formats import Format, LevelsFormat, MantFormat, parse_format, register_format
    from mant.fused import (
        AccumulatorWidths,
        accumulator_bounds,
        accumulator_widths,
        decode_then_matmul,
        fused_group_dot,
        split_grid_codes,
    )
    from mant.kv import (
        KVQuantConfig,
        KVResult,
        KVTensorResult,
        Thresholds,
        calibrate_thresholds,
        default_thresholds,
        quantize_kv,
        select_realtime,
    )
    from mant.metrics import max_abs_error, mse, rel_mse, sqnr_db
    from mant.olive import OliveFormat
    from mant.quant_spec import QuantSpec
    from mant.quantize import GroupQuant, QuantConfig, QuantResult, quantize, quantize_groups
    from mant.recipe import Recipe
    from mant.registry import register_group_quantizer
    from mant.scales import DEFAULT_SCALE, ScaleFormat, bits_per_element
    from mant.tender import TenderConfig, quantize_tender
    from mant.tensor_io import (
        LoadedTensor,
        TensorInfo,
        iter_tensors,
        load_tensor,
        tensor_info,
        tensor_names,
    )
    from mant.vocab import (
        Granularity,
        Grouping,
        PerChannel,
        PerGroup,
        PerTensor,
        PerToken,
        Selection,
        TensorKind,
    )

_EXPORTS = {
    "Recipe": "mant.recipe",
    "QuantSpec": "mant.quant_spec",
    "TensorKind": "mant.vocab",
    "Selection": "mant.vocab",
    "Grouping": "mant.vocab",
    "Granularity": "mant.vocab",
    "PerGroup": "mant.vocab",
    "PerChannel": "mant.vocab",
    "PerToken": "mant.vocab",
    "PerTensor": "mant.vocab",
    "LevelsFormat": "mant.formats",
    "register_format": "mant.formats",
    "register_group_quantizer": "mant.registry",
    "AccumulatorWidths": "mant.fused",
    "CandidateSet": "mant.candidates",
    "DEFAULT_SCALE": "mant.scales",
    "Format": "mant.formats",
    "GroupQuant": "mant.quantize",
    "InputError": "mant.errors",
    "Issue": "mant.errors",
    "KVQuantConfig": "mant.kv",
    "KVResult": "mant.kv",
    "KVTensorResult": "mant.kv",
    "LoadedTensor": "mant.tensor_io",
    "MantDseError": "mant.errors",
    "MantFormat": "mant.formats",
    "OliveFormat": "mant.olive",
    "QuantConfig": "mant.quantize",
    "QuantResult": "mant.quantize",
    "ScaleFormat": "mant.scales",
    "Setting": "mant.compare",
    "SettingScore": "mant.compare",
    "TenderConfig": "mant.tender",
    "Thresholds": "mant.kv",
    "accumulator_bounds": "mant.fused",
    "accumulator_widths": "mant.fused",
    "bits_per_element": "mant.scales",
    "calibrate_thresholds": "mant.kv",
    "candidate_set": "mant.candidates",
    "coefficients_from_data": "mant.data_families",
    "compare_settings": "mant.compare",
    "decode_then_matmul": "mant.fused",
    "default_thresholds": "mant.kv",
    "fused_group_dot": "mant.fused",
    "iter_tensors": "mant.tensor_io",
    "load_tensor": "mant.tensor_io",
    "max_abs_error": "mant.metrics",
    "mse": "mant.metrics",
    "parse_format": "mant.formats",
    "quantize": "mant.quantize",
    "quantize_groups": "mant.quantize",
    "quantize_kv": "mant.kv",
    "quantize_tender": "mant.tender",
    "rel_mse": "mant.metrics",
    "select_realtime": "mant.kv",
    "settings_grid": "mant.compare",
    "split_grid_codes": "mant.fused",
    "sqnr_db": "mant.metrics",
    "tensor_names": "mant.tensor_io",
    "tensor_info": "mant.tensor_io",
    "TensorInfo": "mant.tensor_io",
}

__all__ = [
    "Recipe",
    "QuantSpec",
    "TensorKind",
    "Selection",
    "Grouping",
    "Granularity",
    "PerGroup",
    "PerChannel",
    "PerToken",
    "PerTensor",
    "LevelsFormat",
    "register_format",
    "register_group_quantizer",
    "AccumulatorWidths",
    "CandidateSet",
    "DEFAULT_SCALE",
    "Format",
    "GroupQuant",
    "InputError",
    "Issue",
    "KVQuantConfig",
    "KVResult",
    "KVTensorResult",
    "LoadedTensor",
    "MantDseError",
    "MantFormat",
    "OliveFormat",
    "QuantConfig",
    "QuantResult",
    "ScaleFormat",
    "Setting",
    "SettingScore",
    "TenderConfig",
    "Thresholds",
    "accumulator_bounds",
    "accumulator_widths",
    "bits_per_element",
    "calibrate_thresholds",
    "candidate_set",
    "coefficients_from_data",
    "compare_settings",
    "decode_then_matmul",
    "default_thresholds",
    "fused_group_dot",
    "iter_tensors",
    "load_tensor",
    "max_abs_error",
    "mse",
    "parse_format",
    "quantize",
    "quantize_groups",
    "quantize_kv",
    "quantize_tender",
    "rel_mse",
    "select_realtime",
    "settings_grid",
    "split_grid_codes",
    "sqnr_db",
    "tensor_names",
    "tensor_info",
    "TensorInfo",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
