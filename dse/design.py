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

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from dse.pe_recipes import FORMAT_PES, FP_KV_BITS, PE_RECIPES, pe_recipe, resolve_bits
from mant.errors import IssueCollector

if TYPE_CHECKING:
    from dse.space import SearchSpace
    from mant.recipe import Recipe

__all__ = [
    "FORMAT_PES",
    "PE_RECIPES",
    "FP_KV_BITS",
    "Design",
    "canonical_values",
    "design_from_values",
    "ignored_params",
    "pe_recipe",
    "resolve_bits",
]


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
        clock_mhz: clock in MHz, or None for the base accelerator's.
        dram_bw_bytes_per_cycle: DRAM bandwidth in bytes per cycle, or None for the base's.
        dram_energy_scale: factor on the DRAM read and write energy per bit (None: 1).
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
    clock_mhz: int | None = None
    dram_bw_bytes_per_cycle: float | None = None
    dram_energy_scale: float | None = None

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
            self.clock_mhz,
            self.dram_bw_bytes_per_cycle,
            self.dram_energy_scale,
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


def ignored_params(values: Mapping[str, Any], space: SearchSpace | None = None) -> set[str]:
    """Parameters a design with these values does not use (they change nothing).

    Baseline PEs take their weights from :data:`PE_RECIPES` (``weight_format`` and
    ``weight_bits`` unused); a weight format without ``{bits}`` (a named set, a family with its
    own ``k``) uses no ``weight_bits``; an fp16 KV cache uses no ``kv_format`` nor
    ``kv_selection``; a single-format KV set needs no ``kv_selection``.
    """
    out: set[str] = set()
    pe = values.get("pe_type")
    if pe is not None and pe in PE_RECIPES and pe not in FORMAT_PES:
        out |= {"weight_format", "weight_bits"}
    elif space is not None and "weight_format" in values:
        fmt = space.get("weight_format").resolve(values["weight_format"])
        fixed = "{bits}" not in fmt if isinstance(fmt, str) else "k" in fmt
        if fixed:  # a named set or a family with its own k: weight_bits changes nothing
            out.add("weight_bits")
    kv_bits = values.get("kv_bits")
    if isinstance(kv_bits, int) and kv_bits >= FP_KV_BITS:
        out |= {"kv_format", "kv_selection"}
    elif space is not None and "kv_format" in values and isinstance(kv_bits, int):
        from mant.candidates import candidate_set

        try:
            spec = resolve_bits(space.get("kv_format").resolve(values["kv_format"]), kv_bits)
            if len(candidate_set(spec).formats) == 1:
                out.add("kv_selection")
        except Exception:  # an invalid format fails later, with its reason
            pass
    return out


def canonical_values(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every ignored parameter at its first choice, and a quantized ``kv_bits``
    at the smallest one when the KV format has its own width (one value per design)."""
    full = {**space.fixed_values(), **values}
    for name in ignored_params(full, space):  # also fills ignored parameters left out
        full[name] = space.get(name).first
    kv_bits = full.get("kv_bits")
    if isinstance(kv_bits, int) and kv_bits < FP_KV_BITS and "kv_format" in full:
        fmt = space.get("kv_format").resolve(full["kv_format"])
        if "{bits}" not in fmt if isinstance(fmt, str) else "k" in fmt:
            # a KV set with its own width: every quantized kv_bits is the same design
            full["kv_bits"] = min(b for b in space.get("kv_bits").values() if b < FP_KV_BITS)
    return full


def design_from_values(space: SearchSpace, values: Mapping[str, Any]) -> Design:
    """Builds a design from Optuna-facing parameter values (format labels resolved).

    Fixed parameters may be left out of ``values``; parameters the design ignores take their
    first choice (:func:`canonical_values`), so equivalent values give one design.
    """
    full = canonical_values(space, values)
    resolved = {p.name: p.resolve(full[p.name]) for p in space.params}
    return Design(**resolved)
