"""A design's :class:`mant.recipe.Recipe`: how a study point quantizes every tensor kind.

Studies describe quantization with a few searchable parameters (``weight_format``,
``weight_bits``, ``group_size``, ``weight_selection``, ``weight_algorithm``, ``weight_rotation``,
``act_bits``, ``kv_format``, ``kv_bits``, ``kv_selection``, and
per-kind ``<base>.<kind>`` overrides such as ``group_size.key``);
:func:`design_recipe` turns them into the one frozen recipe that everything downstream reads
(weight and KV configs in :mod:`dse.study.numerics`, ``hwmodel.Precision.from_recipe`` in
:mod:`dse.evaluate.hardware`, the ``recipe.yaml`` of an export).

Example:
    >>> from dse.study.design import Design
    >>> d = Design(pe_type="tender", group_size=32, weight_bits=4, weight_format="mant-unicore16",
    ...            kv_bits=4, kv_format="int{bits}", act_bits=8, rows=8, cols=8, dataflow="ws")
    >>> r = design_recipe(d)
    >>> str(r.weight("q")), str(r.activations), str(r.key)
    ('int4:channel', 'int8:g32', 'int4:g32:oracle:grouping=channel')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from dse.study.pe_recipes import pe_recipe

if TYPE_CHECKING:
    from mant.recipe import Recipe


class Design(Protocol):
    """What a recipe is built from: a :class:`dse.study.design.Design` (which imports this
    module for its ``recipe`` property, so this module names only what it reads)."""

    @property
    def pe_type(self) -> str: ...

    @property
    def quantization(self) -> str: ...

    @property
    def group_size(self) -> int: ...

    @property
    def act_bits(self) -> int: ...

    @property
    def kv_selection(self) -> str: ...

    @property
    def weight_selection(self) -> str: ...

    @property
    def weight_algorithm(self) -> str: ...

    @property
    def weight_rotation(self) -> str: ...

    @property
    def per_kind(self) -> Mapping[str, Any] | None: ...

    @property
    def key(self) -> tuple[Any, ...]: ...

    @property
    def uses_weight_format(self) -> bool: ...

    def with_param(self, name: str, value: Any) -> Design: ...

    def value_for(self, base: str, kind: str) -> Any: ...

    def weight_candidates_of(self, kind: str) -> Any: ...

    def kv_candidates_of(self, side: str) -> Any | None: ...


__all__ = ["FP_ACT_BITS", "KV_LAYOUT", "design_recipe"]

# Activation bit width meaning "kept in fp16, not quantized".
FP_ACT_BITS = 16

# K/V grouping of study designs: K per channel (groups along tokens), V per token (KIVI's
# layout, ICML 2024), the layout the shipped real-time threshold tables are calibrated for.
KV_LAYOUT = {"key": "channel", "value": "token"}

_MEMO: dict[tuple[Any, ...], Recipe] = {}


def design_recipe(design: Design) -> Recipe:
    """The recipe of a design (memoised on everything but the array shape)."""
    key = design.with_param("rows", 0).with_param("cols", 0).key
    hit = _MEMO.get(key)
    if hit is None:
        hit = _build(design)
        _MEMO[key] = hit
    return hit


def _native_acts(design: Design) -> Any:
    """The activation spec of a baseline PE whose native activations are not plain INT groups
    (Tender's channel decomposition, OliVe's or ANT's types per tensor), when the design runs
    them at their native width; else None (INT ``act_bits`` per group of ``group_size``)."""
    from dse.study.pe_recipes import FORMAT_PES, PE_RECIPES

    if design.pe_type in FORMAT_PES or design.pe_type not in PE_RECIPES:
        return None
    native = pe_recipe(design.pe_type).activations
    if native is None or native.element_bits != design.act_bits:
        return None
    cs = native.candidate_set
    plain_int = (
        cs is not None
        and len(cs.formats) == 1
        and str(native.format).startswith("int")
        and native.granularity.value == "group"
    )
    return None if plain_int else native


def _build(design: Design) -> Recipe:
    if design.quantization == "native":
        return pe_recipe(design.pe_type)
    from dse.study.numerics import resolve_candidates
    from mant.quant_spec import WEIGHT_KINDS, Kind, QuantSpec
    from mant.recipe import Recipe

    g = design.group_size  # the activations'; each weight kind and KV side may have its own

    def where(base: str, kind: str) -> str:
        own = f"{base}.{kind}"
        return own if own in (design.per_kind or {}) else base

    if design.uses_weight_format:
        built: dict[Any, QuantSpec | None] = {}  # kinds with one spec share one recipe
        chosen: list[tuple[Kind, QuantSpec | None]] = []
        for kind in WEIGHT_KINDS:
            spec = design.weight_candidates_of(kind.value)
            wg = design.value_for("group_size", kind.value)
            key = (repr(spec), wg)
            if key not in built:
                path = where("weight_format", kind.value)
                entry = {
                    "format": resolve_candidates(spec),
                    "group_size": wg,
                    "scale_format": "fp16",
                }
                gptq = design.weight_algorithm == "gptq"
                if design.weight_selection == "output_mse" and not gptq:
                    entry["selection"] = "output_mse"
                if design.weight_algorithm != "rtn":  # absent at the defaults: keys unchanged
                    entry["algorithm"] = design.weight_algorithm
                if design.weight_rotation != "none":
                    entry["rotation"] = design.weight_rotation
                built[key] = QuantSpec.from_value(entry, path, kind=Kind.Q)
            chosen.append((kind, built[key]))
        weights = tuple(chosen)
    else:
        weights = pe_recipe(design.pe_type).weights
    acts = _native_acts(design)
    if acts is None and design.act_bits < FP_ACT_BITS:
        acts = QuantSpec.from_value(
            {"format": f"int{design.act_bits}", "group_size": g},
            "act_bits",
            kind=Kind.ACTIVATIONS,
        )
    kv: dict[str, Any] = {}
    from mant.candidates import candidate_set

    for name, kind in (("key", Kind.KEY), ("value", Kind.VALUE)):
        fmt = design.kv_candidates_of(name)
        if fmt is None:
            continue
        # one format needs no type choice: real-time and oracle agree (one cache entry)
        single = len(candidate_set(fmt).formats) == 1
        rule = "oracle" if single or design.kv_selection == "oracle" else "lut"
        kv[name] = QuantSpec.from_value(
            {
                "format": fmt,
                "group_size": design.value_for("group_size", name),
                "scale_format": "fp16",
                "selection": rule,
                "grouping": KV_LAYOUT[name],
            },
            where("kv_format", name),
            kind=kind,
        )
    return Recipe(
        name=f"design-{design.pe_type}",
        weights=weights,
        activations=acts,
        key=kv.get("key"),
        value=kv.get("value"),
    )
