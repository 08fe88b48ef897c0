"""mant: low-bit number formats, group quantization with per-group adaptive MANT types,
real-time KV-cache quantization and the fused MANT datapath."""

from mant.errors import InputError, Issue, MantDseError

__all__ = ["InputError", "Issue", "MantDseError"]
