"""mant: low-bit number formats, group quantization with per-group adaptive MANT types,
real-time KV-cache quantization, the fused MANT datapath, and the OliVe / Tender baselines."""

from mant.candidates import CandidateSet, candidate_set
from mant.data_families import coefficients_from_data
from mant.errors import InputError, Issue, MantDseError
from mant.formats import Format, MantFormat, parse_format
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
from mant.quantize import GroupQuant, QuantConfig, QuantResult, quantize, quantize_groups
from mant.scales import ScaleFormat, bits_per_element
from mant.tender import TenderConfig, quantize_tender
from mant.tensor_io import load_tensor

__all__ = [
    "InputError",
    "Issue",
    "MantDseError",
    "Format",
    "MantFormat",
    "parse_format",
    "CandidateSet",
    "candidate_set",
    "coefficients_from_data",
    "QuantConfig",
    "QuantResult",
    "GroupQuant",
    "quantize",
    "quantize_groups",
    "ScaleFormat",
    "bits_per_element",
    "mse",
    "rel_mse",
    "sqnr_db",
    "max_abs_error",
    "load_tensor",
    "KVQuantConfig",
    "KVResult",
    "KVTensorResult",
    "Thresholds",
    "calibrate_thresholds",
    "default_thresholds",
    "quantize_kv",
    "select_realtime",
    "AccumulatorWidths",
    "accumulator_bounds",
    "accumulator_widths",
    "decode_then_matmul",
    "fused_group_dot",
    "split_grid_codes",
    "OliveFormat",
    "TenderConfig",
    "quantize_tender",
]
