"""Older import path of :mod:`mant.quant_spec` (``TensorRecipe`` is now :class:`QuantSpec`)."""

from __future__ import annotations

from mant.quant_spec import FP, FP_WORDS, QuantSpec
from mant.vocab import ACT_KINDS, KV_KINDS, WEIGHT_KINDS, Grouping, Selection
from mant.vocab import TensorKind as Kind

TensorRecipe = QuantSpec

__all__ = [
    "ACT_KINDS",
    "FP",
    "FP_WORDS",
    "Grouping",
    "KV_KINDS",
    "Kind",
    "QuantSpec",
    "Selection",
    "TensorRecipe",
    "WEIGHT_KINDS",
]
