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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from dse.study.pe_recipes import (
    FORMAT_PES,
    FP_ACT_BITS,
    FP_KV_BITS,
    PE_RECIPES,
    pe_recipe,
    resolve_bits,
)
from mant.errors import IssueCollector

if TYPE_CHECKING:
    from dse.study.space import SearchSpace
    from mant.recipe import Recipe

__all__ = [
    "FORMAT_PES",
    "PE_RECIPES",
    "FP_KV_BITS",
    "OPTIONAL_FIELDS",
    "Design",
    "canonical_values",
    "design_from_values",
    "freeze",
    "ignored_params",
    "pe_recipe",
    "resolve_bits",
]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Design:
    """One design point (parameter values with format labels resolved).

    Attributes:
        pe_type: accelerator preset / PE type.
        group_size: quantization group size in elements (weights, activations and KV; a kind
            with a ``group_size.<kind>`` entry in :attr:`per_kind` uses its own).
        weight_bits: weight element width in bits (MANT and Tender PEs).
        weight_format: weight candidate spec of the MANT PE (name, list or family mapping).
        weight_selection: how a weight group picks its type: ``weight_mse`` (least weight
            error) or ``output_mse`` (least output error over calibration activations, the
            M-ANT authors' rule; the accuracy source supplies the activations).
        weight_algorithm: how weights are rounded: ``rtn`` (round to nearest), ``gptq`` or
            ``awq`` (:mod:`mant.gptq`; calibration activations from the accuracy source). With
            ``gptq`` each group picks its type inside the sweep by ``weight_selection``
            (``output_mse``: by the output error GPTQ minimises).
        weight_rotation: ``none`` or ``hadamard`` (the weights' input dimension rotated per
            group before quantizing, :mod:`mant.rotation`).
        kv_bits: KV element width in bits; 16 keeps the KV cache in fp16.
        kv_format: KV candidate set or format name.
        kv_selection: ``realtime`` (threshold LUT) or ``oracle`` per-group type choice.
        act_bits: activation width in bits (16: fp16): the input of every linear layer
            without an ``act_bits.<kind>`` entry in :attr:`per_kind`.
        act_format: activation format of format PEs (``int{bits}``: INT per token in groups;
            a format name such as ``mxfp4`` or ``m2xfp4_a``; ``{bits}`` is ``act_bits``);
            baseline PEs run their own (INT, or their native quantizer at its width).
        act_group_size: the activations' group size in elements (None: ``group_size``); a
            block format keeps its own block.
        rows: systolic array rows (PEs).
        cols: systolic array columns (PEs).
        dataflow: ``os``, ``ws`` or ``is``.
        weight_buffer_kib: weight/KV buffer in KiB, or None for the preset's.
        act_buffer_kib: activation buffer in KiB, or None for the preset's.
        clock_mhz: clock in MHz, or None for the base accelerator's.
        dram_bw_bytes_per_cycle: DRAM bandwidth in bytes per cycle, or None for the base's.
        dram_energy_scale: factor on the DRAM read and write energy per bit (None: 1).
        load_bytes_per_cycle: width of the stationary-operand load path in bytes per cycle, or
            None for the base accelerator's (``array.load_bytes_per_cycle``).
        per_kind: per-tensor-kind values that override the fields above for one kind, keyed
            like the space parameters (``{"weight_bits.down": 8, "kv_format.value": "int4"}``;
            :data:`dse.study.space.PER_KIND_BASES`); None when every kind takes the base values.
        quantization: ``space`` (the recipe is built from the fields above) or ``native``
            (the recipe is the PE's native recipe, :func:`pe_recipe`; the fields above are
            unused). A study whose space names no quantization parameter is ``native``.
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
    weight_selection: str = "weight_mse"
    weight_algorithm: str = "rtn"
    weight_rotation: str = "none"
    weight_buffer_kib: int | None = None
    act_buffer_kib: int | None = None
    clock_mhz: int | None = None
    dram_bw_bytes_per_cycle: float | None = None
    dram_energy_scale: float | None = None
    load_bytes_per_cycle: float | None = None
    per_kind: Mapping[str, Any] | None = None
    quantization: str = "space"
    act_format: Any = "int{bits}"
    act_group_size: int | None = None

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> Design:
        """A design from resolved parameter values by name (``weight_bits.q`` into
        :attr:`per_kind`)."""
        base = {k: v for k, v in values.items() if "." not in k}
        per_kind = {k: v for k, v in values.items() if "." in k}
        return cls(**base, per_kind=per_kind or None)

    def param(self, name: str) -> Any:
        """The value of one space parameter (a field, or a per-kind entry)."""
        if "." in name:
            return (self.per_kind or {}).get(name)
        return getattr(self, name)

    def with_param(self, name: str, value: Any) -> Design:
        """This design with one space parameter changed."""
        if "." in name:
            return dataclasses.replace(self, per_kind={**(self.per_kind or {}), name: value})
        return dataclasses.replace(self, **{name: value})

    def value_for(self, base: str, kind: str) -> Any:
        """``base`` (``group_size``, ``weight_bits``, ``weight_format``, ``kv_bits``,
        ``kv_format``) for one tensor kind: its per-kind override, else the base field."""
        pk = self.per_kind or {}
        return pk.get(f"{base}.{kind}", getattr(self, base))

    @property
    def uses_weight_format(self) -> bool:
        """Whether the design's PE quantizes weights with the space's formats (not its own)."""
        return self.pe_type in FORMAT_PES or self.pe_type not in PE_RECIPES

    def weight_candidates_of(self, kind: str) -> Any:
        """The weight candidate spec of one projection kind (PE-native for baseline PEs)."""
        if self.uses_weight_format:
            return resolve_bits(
                self.value_for("weight_format", kind), self.value_for("weight_bits", kind)
            )
        t = pe_recipe(self.pe_type).weight(kind)
        return None if t is None else t.format_spec

    def act_candidates_of(self, kind: str | None) -> Any | None:
        """The activation format of one projection's input (None: the default activations),
        ``{bits}`` resolved, or None when they stay in fp16 (format PEs)."""
        bits = self.act_bits if kind is None else self.value_for("act_bits", kind)
        if bits >= FP_ACT_BITS:
            return None
        fmt = self.act_format if kind is None else self.value_for("act_format", kind)
        return resolve_bits(fmt, bits)

    def kv_candidates_of(self, side: str) -> Any | None:
        """The candidate spec of ``key`` or ``value``, or None when that side stays in fp16."""
        bits = self.value_for("kv_bits", side)
        if bits >= FP_KV_BITS:
            return None
        return resolve_bits(self.value_for("kv_format", side), bits)

    @property
    def weight_candidates(self) -> Any:
        """The weight candidate spec actually used for ``q`` (PE-native for baseline PEs)."""
        return self.weight_candidates_of("q")

    @property
    def recipe(self) -> Recipe:
        """The design's :class:`mant.recipe.Recipe` (memoised): the one source of its configs.

        Weights: ``weight_format`` at ``weight_bits`` in groups of ``group_size`` on format PEs,
        the native recipe's weights on baseline PEs; activations INT``act_bits`` per group of
        ``group_size`` (fp at 16 bits); K and V ``kv_format`` at ``kv_bits`` (fp at 16 bits) in
        the layout of :func:`dse.study.recipe_design.kv_layout`.
        """
        from dse.study.recipe_design import design_recipe

        return design_recipe(self)

    @property
    def key(self) -> tuple[Any, ...]:
        """A hashable identity of the design (format mappings frozen); the weight algorithm
        and rotation enter only when not ``rtn`` / ``none`` (earlier keys unchanged)."""
        return tuple(
            (f.name, freeze(getattr(self, f.name)))
            if f.name in OPTIONAL_FIELDS
            else freeze(getattr(self, f.name))
            for f in fields(self)
            if OPTIONAL_FIELDS.get(f.name, _NO_DEFAULT) != getattr(self, f.name)
        )

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
            self.load_bytes_per_cycle,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Design) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types only (recorded on each trial); ``per_kind`` only when set,
        ``quantization`` only when ``native``, ``act_format`` / ``act_group_size`` only when
        not their defaults (records of older studies stay the same)."""
        out = asdict(self)
        if self.quantization == "space":
            out.pop("quantization")
        for name, default in OPTIONAL_FIELDS.items():
            if out[name] == default:
                out.pop(name)
        if self.act_format == "int{bits}":
            out.pop("act_format")
        if self.act_group_size is None:
            out.pop("act_group_size")
        if not self.per_kind:
            out.pop("per_kind")
        else:
            out["per_kind"] = dict(sorted(dict(self.per_kind).items()))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        out = dict(data)
        if not out.get("per_kind"):
            out.pop("per_kind", None)
        return cls(**out)

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
        for key in ("weight_buffer_kib", "act_buffer_kib", "act_group_size"):
            if key in data:
                _check_size(c, data[key], f"{path}.{key}", optional=True)
        for key in (
            "pe_type",
            "dataflow",
            "kv_selection",
            "weight_selection",
            "weight_algorithm",
            "weight_rotation",
            "quantization",
        ):
            if key in data:
                c.check(isinstance(data[key], str), f"{path}.{key}", "must be a string", data[key])
        _check_per_kind(c, data.get("per_kind"), f"{path}.per_kind")
        c.raise_if_any()
        return cls.from_dict(data)


_MAX_SIZE = 2**20
# fields left out of a design's key and dict at these values (designs before them keep theirs)
OPTIONAL_FIELDS = {"weight_algorithm": "rtn", "weight_rotation": "none"}
_NO_DEFAULT = object()


def _check_size(c: IssueCollector, value: Any, path: str, *, optional: bool) -> None:
    if optional and value is None:
        return
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_SIZE
    c.check(ok, path, f"must be an int in 1..{_MAX_SIZE}", value)


def _check_per_kind(c: IssueCollector, value: Any, path: str) -> None:
    from dse.study.space import PARAMS

    if value is None:
        return
    if not isinstance(value, Mapping):
        c.add(path, "must be a mapping of per-kind parameters (weight_bits.q: 8)", value)
        return
    for key, v in value.items():
        info = PARAMS.get(key) if isinstance(key, str) else None
        if info is None or not info.per_kind_of:
            known = [k for k, i in PARAMS.items() if i.per_kind_of]
            c.add(f"{path}.{key}", f"unknown key; valid: {', '.join(known)}", key)
        elif info.kind == "int":
            _check_size(c, v, f"{path}.{key}", optional=False)


def freeze(value: Any) -> Any:
    """A hashable copy of a YAML value (mappings as sorted pairs, lists as tuples)."""
    if isinstance(value, Mapping):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def ignored_params(values: Mapping[str, Any], space: SearchSpace | None = None) -> set[str]:
    """Parameters a design with these values does not use (they change nothing).

    Baseline PEs take their weights from :data:`PE_RECIPES` (every weight format and width
    unused); a weight format without ``{bits}`` (a named set, a family with its own ``k``) uses
    no width; an fp16 KV side uses no format; a KV cache whose quantized sides are one-format
    sets needs no ``kv_selection``. A base parameter (``weight_bits``) is unused when every kind
    has its own (``weight_bits.q`` ... ``weight_bits.down``) or no kind that takes it uses it.
    """
    from dse.study.space import KV_SIDE_NAMES, PER_KIND_BASES, WEIGHT_KIND_NAMES

    names = set(values) if space is None else {p.name for p in space.params} | set(values)
    per_kind = {n for n in names if "." in n}
    used: set[str] = {"group_size"}  # the activations' (and every kind without its own)

    def source(base: str, kind: str) -> str:
        own = f"{base}.{kind}"
        return own if own in per_kind else base

    def resolved(name: str) -> Any:
        value = values.get(name)
        if space is None or value is None:
            return value
        try:
            return space.get(name).resolve(value)
        except (KeyError, ValueError):
            return value

    pe = values.get("pe_type")
    if values.get("quantization") == "native":  # the PE's native recipe: every knob unused
        quant = {
            "group_size",
            "act_group_size",
            "kv_selection",
            "weight_selection",
            *OPTIONAL_FIELDS,
        }
        quant |= {*PER_KIND_BASES, *per_kind}
        return {n for n in names if n in quant}
    baseline = pe is not None and pe in PE_RECIPES and pe not in FORMAT_PES
    used |= _act_used(values, resolved, source, baseline)
    if not baseline:
        for kind in WEIGHT_KIND_NAMES:
            used.add(source("group_size", kind))
            fmt_name = source("weight_format", kind)
            used.add(fmt_name)
            fmt = resolved(fmt_name)
            fixed = fmt is not None and (
                "{bits}" not in fmt if isinstance(fmt, str) else "k" in fmt
            )
            if not fixed:  # a named set or a family with its own k uses no width
                used.add(source("weight_bits", kind))
            if "weight_selection" not in used and _has_choice(
                fmt, values.get(source("weight_bits", kind))
            ):
                used.add("weight_selection")  # a one-format set has no type to pick
        used.update(OPTIONAL_FIELDS)  # any weight format can be rounded by GPTQ/AWQ, rotated
    kv_quantized = []
    for side in KV_SIDE_NAMES:
        bits_name = source("kv_bits", side)
        used.add(bits_name)
        bits = values.get(bits_name)
        if isinstance(bits, int) and bits >= FP_KV_BITS:
            continue
        fmt_name = source("kv_format", side)
        used.add(fmt_name)
        used.add(source("group_size", side))
        kv_quantized.append((fmt_name, bits))
    if kv_quantized and space is not None:
        from mant.candidates import candidate_set

        for fmt_name, bits in kv_quantized:
            if fmt_name not in values or not isinstance(bits, int):
                used.add("kv_selection")
                continue
            try:
                if len(candidate_set(resolve_bits(resolved(fmt_name), bits)).formats) > 1:
                    used.add("kv_selection")
            except Exception:  # an invalid format fails later, with its reason
                used.add("kv_selection")
    elif kv_quantized:
        used.add("kv_selection")
    quant = {"kv_selection", "weight_selection", "act_group_size", *OPTIONAL_FIELDS}
    quant |= {*PER_KIND_BASES, *per_kind}
    return {n for n in names if n in quant and n not in used}


def _act_used(
    values: Mapping[str, Any],
    resolved: Callable[[str], Any],
    source: Callable[[str, str], str],
    baseline: bool,
) -> set[str]:
    """The activation parameters a design uses: ``act_bits`` (the default activations) and
    each kind's width; a format (format PEs only) where its width is quantized; the group size
    where a quantized format is not a block format (baseline PEs: INT groups)."""
    from dse.study.space import WEIGHT_KIND_NAMES

    used = {"act_bits"}
    grouped = False
    for kind in (None, *WEIGHT_KIND_NAMES):
        bits_name = "act_bits" if kind is None else source("act_bits", kind)
        used.add(bits_name)
        bits = values.get(bits_name)
        if isinstance(bits, int) and bits >= FP_ACT_BITS:
            continue
        if baseline:
            grouped = True
            continue
        fmt_name = "act_format" if kind is None else source("act_format", kind)
        used.add(fmt_name)
        grouped = grouped or not _is_block(resolved(fmt_name), bits)
    if grouped:
        used.add("act_group_size")
    return used


def _is_block(fmt: Any, bits: Any) -> bool:
    """Whether an activation format is a block format (its own block; unknown: False)."""
    if fmt is None:
        return False
    from mant.candidates import candidate_set
    from mant.formats import BlockFormat

    try:
        cs = candidate_set(resolve_bits(fmt, bits if isinstance(bits, int) else 8))
    except Exception:  # an invalid format fails later, with its reason
        return False
    return len(cs.formats) == 1 and isinstance(cs.formats[0], BlockFormat)


def _has_choice(fmt: Any, bits: Any) -> bool:
    """Whether a weight format at ``bits`` is a set of more than one format (unknown: True)."""
    if fmt is None or (isinstance(fmt, str) and "{bits}" in fmt and not isinstance(bits, int)):
        return True
    from mant.candidates import candidate_set

    try:
        return (
            len(candidate_set(resolve_bits(fmt, bits if isinstance(bits, int) else 4)).formats) > 1
        )
    except Exception:  # an invalid format fails later, with its reason
        return True


def _own_width(fmt: Any) -> bool:
    """A KV format with its own width (no ``{bits}``): every quantized width is one design."""
    return "{bits}" not in fmt if isinstance(fmt, str) else "k" in fmt


def canonical_values(space: SearchSpace, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every ignored parameter at its first choice, and a quantized KV width
    at the smallest one when that side's KV format has its own width (one value per design)."""
    from dse.study.space import KV_SIDE_NAMES

    full = {**space.fixed_values(), **values}
    for name in ignored_params(full, space):  # also fills ignored parameters left out
        full[name] = space.get(name).first
    names = {p.name for p in space.params}
    takers: dict[str, list[bool]] = {}  # kv_bits parameter -> own-width flag of each side
    for side in KV_SIDE_NAMES:
        bits_name = f"kv_bits.{side}" if f"kv_bits.{side}" in names else "kv_bits"
        fmt_name = f"kv_format.{side}" if f"kv_format.{side}" in names else "kv_format"
        bits = full.get(bits_name)
        if isinstance(bits, int) and bits < FP_KV_BITS and fmt_name in full:
            own = _own_width(space.get(fmt_name).resolve(full[fmt_name]))
            takers.setdefault(bits_name, []).append(own)
        elif bits_name in full:
            takers.setdefault(bits_name, []).append(False)
    for bits_name, flags in takers.items():
        if flags and all(flags):
            quantized = [b for b in space.get(bits_name).values() if b < FP_KV_BITS]
            full[bits_name] = min(quantized)
    pe = full.get("pe_type")
    if full.get("quantization") != "native" and not (pe in PE_RECIPES and pe not in FORMAT_PES):
        _collapse_act_widths(space, full, names)
    return full


def _collapse_act_widths(space: SearchSpace, full: dict[str, Any], names: set[str]) -> None:
    """An activation width whose every taker's format has its own width (``mxfp4``): every
    quantized choice is one design, recorded at the smallest (as for KV)."""
    from dse.study.space import WEIGHT_KIND_NAMES

    takers: dict[str, list[bool]] = {}
    for kind in (None, *WEIGHT_KIND_NAMES):
        own_bits, own_fmt = f"act_bits.{kind}", f"act_format.{kind}"
        bits_name = own_bits if kind is not None and own_bits in names else "act_bits"
        fmt_name = own_fmt if kind is not None and own_fmt in names else "act_format"
        bits = full.get(bits_name)
        if isinstance(bits, int) and bits < FP_ACT_BITS and fmt_name in full:
            own = _own_width(space.get(fmt_name).resolve(full[fmt_name]))
            takers.setdefault(bits_name, []).append(own)
    for bits_name, flags in takers.items():
        if flags and all(flags):
            quantized = [b for b in space.get(bits_name).values() if b < FP_ACT_BITS]
            full[bits_name] = min(quantized)


def design_from_values(space: SearchSpace, values: Mapping[str, Any]) -> Design:
    """Builds a design from Optuna-facing parameter values (format labels resolved).

    Fixed parameters may be left out of ``values``; parameters the design ignores take their
    first choice (:func:`canonical_values`), so equivalent values give one design.
    """
    full = canonical_values(space, values)
    resolved = {p.name: p.resolve(full[p.name]) for p in space.params}
    return Design.from_params(resolved)
