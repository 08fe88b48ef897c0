"""A design: one point of the search space, turned into mant and hwmodel objects.

A :class:`Design` holds the parameter values with format labels already resolved. It builds one
:class:`mant.recipe.Recipe` (:attr:`Design.recipe`): every quantization config of the design and
the :class:`hwmodel.Precision` (``Precision.from_recipe``) come from it. Baseline PE types
(``int8``, ``ant``, ``olive``, ``tender``) quantize weights with the formats of their native recipe
(:data:`PE_RECIPES`, one table that the studies and ``mant-dse reproduce`` share); only the
``mant`` PE uses the ``weight_format`` parameter, so MANT competes with them in one study.

Example:
    >>> d = Design(pe_type="mant", group_size=64, weight_bits=4, weight_format="int{bits}",
    ...            kv_bits=16, kv_format="int{bits}", act_bits=8, rows=32, cols=32,
    ...            dataflow="ws")
    >>> d.weight_candidates
    'int4'
    >>> d.recipe.summary(), pe_recipe("ant").name
    ('W4A8 KV16', 'ant-w4a4')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dse.space import SearchSpace
    from mant.recipe import Recipe

__all__ = [
    "PE_RECIPES",
    "FP_KV_BITS",
    "Design",
    "design_from_values",
    "pe_recipe",
    "resolve_bits",
]

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


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Design:
    """One design point (parameter values with format labels resolved).

    Attributes:
        pe_type: accelerator preset / PE type.
        group_size: quantization group size in elements (weights and KV).
        weight_bits: weight element width in bits (MANT and Tender PEs).
        weight_format: weight candidate spec of the MANT PE (name, list or family mapping).
        kv_bits: KV element width in bits; 16 keeps the KV cache in fp16.
        kv_format: KV candidate set or format name.
        kv_selection: ``realtime`` (threshold LUT) or ``oracle`` per-group type choice.
        act_bits: activation width in bits.
        rows: systolic array rows (PEs).
        cols: systolic array columns (PEs).
        dataflow: ``os``, ``ws`` or ``is``.
        weight_buffer_kib: weight/KV buffer in KiB, or None for the preset's.
        act_buffer_kib: activation buffer in KiB, or None for the preset's.
    """

    pe_type: str
    group_size: int
    weight_bits: int
    weight_format: Any
    kv_bits: int
    kv_format: Any
    act_bits: int
    rows: int
    cols: int
    dataflow: str
    kv_selection: str = "realtime"
    weight_buffer_kib: int | None = None
    act_buffer_kib: int | None = None

    @property
    def weight_candidates(self) -> Any:
        """The weight candidate spec actually used (PE-native for baseline PEs)."""
        if self.pe_type in FORMAT_PES or self.pe_type not in PE_RECIPES:
            return resolve_bits(self.weight_format, self.weight_bits)
        t = pe_recipe(self.pe_type).weight("q")
        return None if t is None else t.format_spec

    @property
    def recipe(self) -> Recipe:
        """The design's :class:`mant.recipe.Recipe` (memoised): the one source of its configs.

        Weights: ``weight_format`` at ``weight_bits`` in groups of ``group_size`` on format PEs,
        the native recipe's weights on baseline PEs; activations INT``act_bits`` per group of
        ``group_size`` (fp at 16 bits); K and V ``kv_format`` at ``kv_bits`` (fp at 16 bits) in
        the layout of :func:`dse.recipe_design.kv_layout`.
        """
        from dse.recipe_design import design_recipe

        return design_recipe(self)

    @property
    def kv_candidates(self) -> Any | None:
        """The KV candidate spec, or None when the KV cache stays in fp16."""
        if self.kv_bits >= FP_KV_BITS:
            return None
        return resolve_bits(self.kv_format, self.kv_bits)

    @property
    def key(self) -> tuple[Any, ...]:
        """A hashable identity of the design (format mappings frozen)."""
        return tuple(_freeze(getattr(self, f.name)) for f in fields(self))

    @property
    def hardware_key(self) -> tuple[Any, ...]:
        """Everything the accelerator (not the numbers) depends on."""
        return (
            self.pe_type,
            self.rows,
            self.cols,
            self.dataflow,
            self.weight_buffer_kib,
            self.act_buffer_kib,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Design) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types only (recorded on each trial)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        return cls(**dict(data))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def design_from_values(space: SearchSpace, values: Mapping[str, Any]) -> Design:
    """Builds a design from Optuna-facing parameter values (format labels resolved).

    Fixed parameters may be left out of ``values``.
    """
    full = {**space.fixed_values(), **values}
    resolved = {p.name: p.resolve(full[p.name]) for p in space.params}
    return Design(**resolved)
