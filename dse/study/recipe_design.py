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

from dse.study.pe_recipes import FP_ACT_BITS, pe_recipe

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
    def act_group_size(self) -> int | None: ...

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

    def act_candidates_of(self, kind: str | None) -> Any | None: ...


__all__ = ["FP_ACT_BITS", "KV_LAYOUT", "design_recipe"]

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


def _native_acts(design: Design, bits: int) -> Any:
    """The activation spec of a baseline PE whose native activations are not plain INT groups
    (Tender's channel decomposition, OliVe's or ANT's types per tensor), when the design runs
    them at their native width ``bits``; else None (INT ``bits`` per group)."""
    from dse.study.pe_recipes import FORMAT_PES, PE_RECIPES

    if design.pe_type in FORMAT_PES or design.pe_type not in PE_RECIPES:
        return None
    native = pe_recipe(design.pe_type).activations
    if native is None or native.element_bits != bits:
        return None
    cs = native.candidate_set
    plain_int = (
        cs is not None
        and len(cs.formats) == 1
        and str(native.format).startswith("int")
        and native.granularity.value == "group"
    )
    return None if plain_int else native


_ACT_BASES = ("act_bits", "act_format")


def _act_spec(design: Design, kind: str | None) -> Any:
    """The activation spec of one projection's input (None: the default activations), or
    None for fp16 activations.

    Format PEs take ``act_format`` at ``act_bits`` (a block format keeps its own block, any
    other is grouped by ``act_group_size``, else ``group_size``); baseline PEs INT ``act_bits``
    per group, or their native quantizer at its width.

    Raises:
        InputError: a format that cannot quantize activations in real time
            (:func:`mant.act_quant.realtime_act_issue`), naming the parameter.
    """
    from mant.act_quant import realtime_act_issue
    from mant.errors import InputError
    from mant.formats import BlockFormat
    from mant.quant_spec import Kind, QuantSpec

    bits = design.act_bits if kind is None else design.value_for("act_bits", kind)
    if bits >= FP_ACT_BITS:
        return None
    g = design.act_group_size or design.group_size
    pk = design.per_kind or {}
    own = kind is not None and f"act_format.{kind}" in pk
    where = f"act_format.{kind}" if own else "act_format"
    if not design.uses_weight_format:  # a baseline PE runs its own activation format
        native = _native_acts(design, bits)
        if native is not None:
            return native
        fmt: Any = f"int{bits}"
        where = "act_bits" if kind is None or f"act_bits.{kind}" not in pk else f"act_bits.{kind}"
    else:
        fmt = design.act_candidates_of(kind)
    from dse.study.numerics import resolve_candidates

    entry: dict[str, Any] = {"format": resolve_candidates(fmt)}
    from mant.candidates import candidate_set

    formats = candidate_set(entry["format"]).formats
    if not (len(formats) == 1 and isinstance(formats[0], BlockFormat)):
        entry["group_size"] = g
    spec = QuantSpec.from_value(entry, where, kind=Kind.ACTIVATIONS)
    assert spec is not None  # a format entry is never fp
    why = realtime_act_issue(spec)
    if why is not None:
        raise InputError.single(where, why, fmt)
    return spec


def _build(design: Design) -> Recipe:
    if design.quantization == "native":
        return pe_recipe(design.pe_type)
    from dse.study.numerics import resolve_candidates
    from mant.quant_spec import WEIGHT_KINDS, Kind, QuantSpec
    from mant.recipe import Recipe

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
                if design.weight_selection == "output_mse":
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
    acts = _act_spec(design, None)
    act_kinds = tuple(
        (kind, _act_spec(design, kind.value))
        for kind in WEIGHT_KINDS
        if any(f"{base}.{kind.value}" in (design.per_kind or {}) for base in _ACT_BASES)
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
        act_kinds=act_kinds,
        key=kv.get("key"),
        value=kv.get("value"),
    )
