"""The one table of PE type -> native recipe, and the small helpers built on it.

Studies take a baseline PE's weights from it; ``mant-dse reproduce`` takes the whole recipe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mant.recipe import Recipe

__all__ = ["FORMAT_PES", "FP_KV_BITS", "PE_RECIPES", "pe_recipe", "resolve_bits"]

# PE type -> the named recipe (mant.recipes, `mant-dse recipes`) of the number formats the PE
# runs natively. The one table of baseline formats: studies take the weights of a baseline PE from
# it, `mant-dse reproduce` takes the whole recipe. ANT: int/flint/PoT type per output channel;
# OliVe: outlier-victim pairs per output channel; Tender: INT4 per channel (its power-of-two
# rescaling is a hardware detail, mant.md §9); INT8: plain INT8 groups of 64; M-ANT: the authors'
# W4A8 KV4 (mant_authors.md §1-2).
PE_RECIPES: dict[str, str] = {
    "mant": "mant-hpca25",
    "int8": "int8-g64",
    "ant": "ant-w4a4",
    "olive": "olive-w4a4",
    "tender": "tender-w4a4",
    "bitfusion": "int8-g64",  # Bit Fusion runs plain INT operands (2/4/8 bits)
    "fp16": "fp16",
}

# PE types whose weights take the design's weight_format / weight_bits (the others: PE_RECIPES).
FORMAT_PES = ("mant",)

# KV bit width meaning "kept in fp16, not quantized".
FP_KV_BITS = 16


def pe_recipe(pe_type: str) -> Recipe:
    """The native :class:`mant.recipe.Recipe` of a PE type (:data:`PE_RECIPES`).

    Raises:
        InputError: a PE type without a native recipe.
    """
    from mant.errors import InputError
    from mant.recipes import named_recipe

    if pe_type not in PE_RECIPES:
        raise InputError.single(
            "pe_type",
            "must be a PE type with a native recipe (" + ", ".join(PE_RECIPES) + ")",
            pe_type,
        )
    return named_recipe(PE_RECIPES[pe_type])


def resolve_bits(spec: Any, bits: int) -> Any:
    """Replaces ``{bits}`` in a format name, or sets ``k`` of a family mapping (unless given)."""
    if isinstance(spec, str):
        return spec.replace("{bits}", str(bits))
    out = {k: v for k, v in spec.items() if k != "label"}
    out.setdefault("k", bits)
    return out
