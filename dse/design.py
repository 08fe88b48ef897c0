"""A design: one point of the search space, turned into mant and hwmodel objects.

A :class:`Design` holds the parameter values with format labels already resolved. It builds the
weight :class:`mant.QuantConfig`, the :class:`mant.kv.KVQuantConfig` (none at 16-bit KV), the
:class:`hwmodel.Precision` and the accelerator. Baseline PE types (``int8``, ``ant``, ``olive``,
``tender``) quantize weights with their own number format (:data:`PE_WEIGHT_FORMATS`); only the
``mant`` PE uses the ``weight_format`` parameter, so MANT competes with them in one study.

Example:
    >>> d = Design(pe_type="mant", group_size=64, weight_bits=4, weight_format="int{bits}",
    ...            kv_bits=16, kv_format="int{bits}", act_bits=8, rows=32, cols=32,
    ...            dataflow="ws")
    >>> d.weight_candidates
    'int4'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from mant.errors import IssueCollector

if TYPE_CHECKING:
    from dse.space import SearchSpace

__all__ = ["PE_WEIGHT_FORMATS", "FP_KV_BITS", "Design", "design_from_values", "resolve_bits"]

# Weight number format each baseline PE runs (mant.candidates names; "{bits}" = weight_bits).
# INT8: plain int8; ANT: its int/flint/PoT per-tensor-type set; OliVe: its outlier-victim set;
# Tender: integer groups (its power-of-two rescaling is a hardware detail, mant.md §9).
PE_WEIGHT_FORMATS: dict[str, str] = {
    "int8": "int8",
    "ant": "ant",
    "olive": "olive",
    "tender": "int{bits}",
}

# KV bit width meaning "kept in fp16, not quantized".
FP_KV_BITS = 16


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
        spec = PE_WEIGHT_FORMATS.get(self.pe_type, self.weight_format)
        return resolve_bits(spec, self.weight_bits)

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

    @classmethod
    def parse(cls, data: Any, path: str = "design") -> Design:
        """A design read from a file (an export): every key and value checked.

        Raises:
            InputError: not a mapping, unknown or missing keys, a size that is not an int in
                1..2**20, a name that is not a string.
        """
        c = IssueCollector()
        names = [f.name for f in dataclasses.fields(cls)]
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if not c.check_keys(data, path, allowed=names, required=required):
            c.raise_if_any()
        for key in ("group_size", "weight_bits", "kv_bits", "act_bits", "rows", "cols"):
            if key in data:
                _check_size(c, data[key], f"{path}.{key}", optional=False)
        for key in ("weight_buffer_kib", "act_buffer_kib"):
            if key in data:
                _check_size(c, data[key], f"{path}.{key}", optional=True)
        for key in ("pe_type", "dataflow", "kv_selection"):
            if key in data:
                c.check(isinstance(data[key], str), f"{path}.{key}", "must be a string", data[key])
        c.raise_if_any()
        return cls(**dict(data))


_MAX_SIZE = 2**20


def _check_size(c: IssueCollector, value: Any, path: str, *, optional: bool) -> None:
    if optional and value is None:
        return
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_SIZE
    c.check(ok, path, f"must be an int in 1..{_MAX_SIZE}", value)


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
