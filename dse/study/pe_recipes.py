"""PE type -> native recipe, read from the PE files (``hwmodel/data/pes/*.yaml``).

Each PE file names the recipe (``mant.recipes``, ``mant-dse recipes``) of the number formats
the PE runs natively (``native_recipe``) and whether studies search its weight formats
(``searched_weights``). Studies take a baseline PE's weights from it, a design that names no
quantization parameter its whole recipe, and ``mant-dse reproduce`` its whole recipe. Adding a PE
file adds a row: :data:`PE_RECIPES` and :data:`FORMAT_PES` are views of the PE files, not tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mant.recipe import Recipe

__all__ = [
    "FORMAT_PES",
    "FP_ACT_BITS",
    "FP_KV_BITS",
    "PE_RECIPES",
    "native_pe_of",
    "pe_recipe",
    "pe_types",
    "resolve_bits",
]


def pe_types() -> tuple[str, ...]:
    """Every PE type: the shipped PE files and those on ``MANT_DSE_PE_PATH``, ``mant`` first.

    Example:
        >>> pe_types()[0], "bitfusion" in pe_types(), "fp16" in pe_types()
        ('mant', True, True)
    """
    from hwmodel import list_pes

    names = list_pes()
    return tuple(sorted(names, key=lambda n: (n != "mant", n)))


def _pe(name: str) -> Any:
    from hwmodel import load_pe

    return load_pe(name)


class LiveMapping(Mapping[str, str]):
    """A read-only mapping rebuilt by ``build`` on every access, so a PE file added later adds
    its row (the PE tables of the study side and the report are such views)."""

    def __init__(self, label: str, build: Callable[[], dict[str, str]]) -> None:
        self._label = label
        self._build = build

    def __getitem__(self, key: str) -> str:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"{self._label}({self._build()!r})"


class LiveSequence(Sequence[str]):
    """A read-only sequence of names rebuilt by ``build`` on every access (see
    :class:`LiveMapping`)."""

    def __init__(self, build: Callable[[], tuple[str, ...]]) -> None:
        self._build = build

    def __getitem__(self, index: Any) -> Any:
        return self._build()[index]

    def __len__(self) -> int:
        return len(self._build())

    def __contains__(self, value: object) -> bool:
        return value in self._build()

    def __repr__(self) -> str:
        return repr(self._build())


def _native_recipes() -> dict[str, str]:
    out = {}
    for name in pe_types():
        recipe = _pe(name).native_recipe
        if recipe is not None:
            out[name] = recipe
    return out


PE_RECIPES: Mapping[str, str] = LiveMapping("PE_RECIPES", _native_recipes)
"""PE type -> the named recipe of the formats it runs natively (from each PE file's
``native_recipe``). ANT: int/flint/PoT type per output channel; OliVe: outlier-victim pairs per
output channel; Tender: INT4 per channel (its power-of-two rescaling is a hardware detail,
mant.md §9); INT8: plain INT8 groups of 64; BitFusion: INT8 W8A8 (``bitfusion-w8a8``); M-ANT: the
authors' W4A8 KV4 (mant_authors.md §1-2); FP16: nothing quantized."""

FORMAT_PES: Sequence[str] = LiveSequence(
    lambda: tuple(n for n in pe_types() if _pe(n).searched_weights)
)
"""PE types whose weights take the design's weight_format / weight_bits (``searched_weights:
true`` in the PE file; the others: :data:`PE_RECIPES`)."""

# KV bit width meaning "kept in fp16, not quantized".
FP_KV_BITS = 16
# Activation bit width meaning "kept in fp16, not quantized".
FP_ACT_BITS = 16


def native_pe_of(recipe_name: str) -> str | None:
    """The PE whose native recipe ``recipe_name`` is, or None.

    Example:
        >>> native_pe_of("mant-hpca25"), native_pe_of("int4-g64")
        ('mant', None)
    """
    for pe, name in PE_RECIPES.items():
        if name == recipe_name:
            return pe
    return None


def pe_recipe(pe_type: str) -> Recipe:
    """The native :class:`mant.recipe.Recipe` of a PE type or PE file (its ``native_recipe``).

    Raises:
        InputError: a PE type without a native recipe.
    """
    from mant.errors import InputError
    from mant.recipes import named_recipe

    name = PE_RECIPES.get(pe_type)
    if name is None and pe_type.endswith((".yaml", ".yml")):
        name = _pe(pe_type).native_recipe
    if name is None:
        raise InputError.single(
            "pe_type",
            "must be a PE type with a native recipe (" + ", ".join(PE_RECIPES) + ")",
            pe_type,
        )
    return named_recipe(name)


def resolve_bits(spec: Any, bits: int) -> Any:
    """Replaces ``{bits}`` in a format name, or sets ``k`` of a family mapping (unless given)."""
    if isinstance(spec, str):
        return spec.replace("{bits}", str(bits))
    out = {k: v for k, v in spec.items() if k != "label"}
    out.setdefault("k", bits)
    return out
