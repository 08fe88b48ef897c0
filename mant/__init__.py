"""mant: low-bit number formats, group quantization with per-group adaptive MANT types,
real-time KV-cache quantization and the fused MANT datapath."""

from mant.candidates import CandidateSet, candidate_set, coefficients_from_data
from mant.errors import InputError, Issue, MantDseError
from mant.formats import Format, MantFormat, parse_format
from mant.metrics import max_abs_error, mse, rel_mse, sqnr_db
from mant.quantize import GroupQuant, QuantConfig, QuantResult, quantize, quantize_groups
from mant.scales import ScaleFormat, bits_per_element
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
]
