"""Bit widths of the operands a layer runs at: weights, activations and the KV cache.

The bits *per element* include the group metadata (scale and type selector) that travels with
the values; ``mant.bits_per_element`` computes them (``mant.md`` §4), and this module only calls
it (no second copy of the formula).

A :class:`Precision` has headline widths (one for weights, one for the KV cache) and optional
per-kind overrides of the B operand: each projection kind (``q k v o gate up down``) and the
two halves of the KV cache (``key``, ``value``) may run at their own width
(:class:`KindPrecision`), including its own quantization group size (the group epilogue's
segments and the scale / selector traffic of that GEMM). :meth:`Precision.operand` gives the
width a GEMM's B operand runs at and :meth:`Precision.group_of` its group size
(:func:`gemm_kind` maps the GEMM to its kind). The A operand (activations) runs at ``act_bits``
unless the projection's kind has its own input width (``KindPrecision.act_bits``;
:meth:`Precision.act_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mant import bits_per_element
from mant.errors import InputError, IssueCollector
from mant.vocab import B_OPERAND_KINDS, KV_KINDS, TensorKind

if TYPE_CHECKING:
    from mant.recipe import Recipe

__all__ = ["Precision", "KindPrecision", "OperandKind", "gemm_kind", "GEMM_KINDS"]


OperandKind = TensorKind
"""The tensor kind a GEMM's B operand is (``mant.vocab.TensorKind``, one of
:data:`mant.vocab.B_OPERAND_KINDS`: a projection's weights, or the K or V cache)."""

_KV_KINDS = KV_KINDS
_UNKNOWN_KIND = "unknown kind; kinds are " + ", ".join(B_OPERAND_KINDS)

GEMM_KINDS: dict[str, OperandKind] = {
    "q_proj": OperandKind.Q,
    "k_proj": OperandKind.K,
    "v_proj": OperandKind.V,
    "o_proj": OperandKind.O,
    "gate_proj": OperandKind.GATE,
    "up_proj": OperandKind.UP,
    "down_proj": OperandKind.DOWN,
    "fc1": OperandKind.UP,
    "fc2": OperandKind.DOWN,
    "qk": OperandKind.KEY,
    "pv": OperandKind.VALUE,
    # MoE experts and MLA projections (hwmodel.blocks)
    "expert_gate_proj": OperandKind.GATE,
    "expert_up_proj": OperandKind.UP,
    "expert_down_proj": OperandKind.DOWN,
    "shared_gate_proj": OperandKind.GATE,
    "shared_up_proj": OperandKind.UP,
    "shared_down_proj": OperandKind.DOWN,
    "q_a_proj": OperandKind.Q,
    "q_b_proj": OperandKind.Q,
    "kv_a_proj": OperandKind.K,
    "kv_b_proj": OperandKind.K,
    "q_absorb": OperandKind.K,
    "v_absorb": OperandKind.V,
}
"""GEMM name (as :func:`hwmodel.llm_workload` names them) -> the kind of its B operand.

A plain FFN's ``fc1`` / ``fc2`` count as ``up`` / ``down``; ``qk`` multiplies by K, ``pv`` by V.
"""


def gemm_kind(gemm: Any) -> OperandKind | None:
    """The kind of a GEMM's B operand, or None (``lm_head``, a user GEMM: headline widths).

    A name counts only with the matching operand: a projection name with weights, ``qk`` /
    ``pv`` with the KV cache.

    Example:
        >>> from hwmodel.workload import Gemm
        >>> gemm_kind(Gemm(m=1, n=8, k=8, name="fc2")), gemm_kind(Gemm(m=1, n=8, k=8))
        (<TensorKind.DOWN: 'down'>, None)
    """
    kind = GEMM_KINDS.get(gemm.name)
    if kind is None or (kind in _KV_KINDS) != (str(gemm.operand) == "kv"):
        return None
    return kind


@dataclass(frozen=True, slots=True, kw_only=True)
class KindPrecision:
    """The B-operand precision of one tensor kind (an override of the headline widths).

    Attributes:
        kind: An :class:`OperandKind` (``q k v o gate up down key value``).
        bits: Element width in bits (selects the PE mode).
        bits_per_element: Storage/traffic bits per element incl. group metadata (>= ``bits``).
        group_size: Elements per quantization group along the reduction dimension, or None
            for the headline ``Precision.group_size``.
        act_bits: Element width in bits of the projection's input activations (its A
            operand), or None for the headline ``Precision.act_bits`` (projection kinds only).
        act_bits_per_element: Their traffic bits per element (None: ``act_bits``).

    Example:
        >>> KindPrecision(kind="down", bits=8, bits_per_element=8.3125).kind
        <TensorKind.DOWN: 'down'>
    """

    kind: OperandKind
    bits: int
    bits_per_element: float
    group_size: int | None = None
    act_bits: int | None = None
    act_bits_per_element: float | None = None

    def __post_init__(self) -> None:
        c = IssueCollector()
        path = f"precision.per_kind.{self.kind}"
        g = self.group_size
        c.check(
            g is None or (isinstance(g, int) and not isinstance(g, bool) and g >= 1),
            f"{path}.group_size",
            "must be an int >= 1 or null",
            g,
        )
        if c.check(
            self.kind in B_OPERAND_KINDS,
            "precision.per_kind",
            _UNKNOWN_KIND,
            self.kind,
        ):
            object.__setattr__(self, "kind", OperandKind(self.kind))
        bits_ok = c.check(
            isinstance(self.bits, int) and not isinstance(self.bits, bool) and self.bits >= 1,
            f"{path}.bits",
            "must be an int >= 1",
            self.bits,
        )
        bpe = self.bits_per_element
        ok = isinstance(bpe, int | float) and not isinstance(bpe, bool)
        c.check(
            ok and (not bits_ok or bpe >= self.bits),
            f"{path}.bits_per_element",
            "must be a number >= bits",
            bpe,
        )
        g = self.group_size
        c.check(
            g is None or (isinstance(g, int) and not isinstance(g, bool) and g >= 1),
            f"{path}.group_size",
            "must be an int >= 1 or null",
            g,
        )
        a, abpe = self.act_bits, self.act_bits_per_element
        if a is not None or abpe is not None:
            c.check(
                self.kind not in _KV_KINDS,
                f"{path}.act_bits",
                "applies only to projection kinds (the A operand of qk / pv is not set here)",
                a,
            )
            a_ok = c.check(
                isinstance(a, int) and not isinstance(a, bool) and a >= 1,
                f"{path}.act_bits",
                "must be an int >= 1 when act_bits_per_element is given",
                a,
            )
            if abpe is None and a_ok:
                abpe = float(a)  # type: ignore[arg-type]
            ok = isinstance(abpe, int | float) and not isinstance(abpe, bool)
            c.check(
                ok and (not a_ok or abpe >= a),  # type: ignore[operator]
                f"{path}.act_bits_per_element",
                "must be a number >= act_bits",
                abpe,
            )
        c.raise_if_any()
        object.__setattr__(self, "bits_per_element", float(bpe))
        if abpe is not None:
            object.__setattr__(self, "act_bits_per_element", float(abpe))

    def to_dict(self) -> dict[str, Any]:
        """``{"bits": ..., "bits_per_element": ...}`` plus ``group_size`` when set (the kind is
        the key it sits under)."""
        out: dict[str, Any] = {"bits": self.bits, "bits_per_element": self.bits_per_element}
        if self.group_size is not None:
            out["group_size"] = self.group_size
        if self.act_bits is not None:
            out["act_bits"] = self.act_bits
            out["act_bits_per_element"] = self.act_bits_per_element
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Precision:
    """Operand precisions of a layer.

    A GEMM multiplies activations A (``act_bits``, or its kind's own: :meth:`act_of`) by a B
    operand: weights or the KV cache. B runs at the headline widths (``weight_bits`` /
    ``kv_bits``) unless ``per_kind`` holds an override for its kind (:meth:`operand`).

    Attributes:
        weight_bits: Element width of weights in bits (selects the PE mode).
        weight_bits_per_element: Weight storage/traffic bits per element incl. metadata.
        act_bits: Activation element width in bits (selects the PE mode).
        kv_bits: KV-cache element width in bits (the B operand of attention GEMMs).
        kv_bits_per_element: KV storage/traffic bits per element incl. metadata.
        group_size: Elements per quantization group along the reduction dimension (every kind
            without its own in ``per_kind``).
        act_bits_per_element: Activation traffic bits per element; defaults to ``act_bits``.
        per_kind: B-operand overrides, at most one per :class:`OperandKind`. Stored in kind
            order and without entries equal to the headline widths of their operand, so equal
            precisions compare (and hash) equal however they were built.

    Example:
        >>> Precision(weight_bits=4, weight_bits_per_element=4.3125, act_bits=8, kv_bits=4,
        ...           kv_bits_per_element=4.25, group_size=64).act_bits_per_element
        8.0
    """

    weight_bits: int
    weight_bits_per_element: float
    act_bits: int
    kv_bits: int
    kv_bits_per_element: float
    group_size: int = 64
    act_bits_per_element: float = field(default=-1.0)
    per_kind: tuple[KindPrecision, ...] = ()

    def __post_init__(self) -> None:
        c = IssueCollector()
        for name in ("weight_bits", "act_bits", "kv_bits", "group_size"):
            value = getattr(self, name)
            c.check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"precision.{name}",
                "must be an int >= 1",
                value,
            )
        if self.act_bits_per_element == -1.0 and isinstance(self.act_bits, int):
            object.__setattr__(self, "act_bits_per_element", float(self.act_bits))
        for name, bits in (
            ("weight_bits_per_element", "weight_bits"),
            ("kv_bits_per_element", "kv_bits"),
            ("act_bits_per_element", "act_bits"),
        ):
            value = getattr(self, name)
            base = getattr(self, bits)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and isinstance(base, int) and value >= base
            c.check(ok, f"precision.{name}", f"must be a number >= {bits}", value)
        overrides = self.per_kind
        if c.check(
            isinstance(overrides, tuple | list)
            and all(isinstance(o, KindPrecision) for o in overrides),
            "precision.per_kind",
            "must be a tuple of KindPrecision",
            overrides,
        ):
            kinds = [o.kind for o in overrides]
            dup = sorted({str(k) for k in kinds if kinds.count(k) > 1})
            c.check(not dup, "precision.per_kind", "must name each kind once", dup)
        c.raise_if_any()
        for name in ("weight_bits_per_element", "kv_bits_per_element", "act_bits_per_element"):
            object.__setattr__(self, name, float(getattr(self, name)))
        order = B_OPERAND_KINDS
        g0 = self.group_size
        a0 = (self.act_bits, self.act_bits_per_element)
        norm = (
            replace(
                o,
                group_size=None if o.group_size == g0 else o.group_size,
                act_bits=None if own_a == a0 else o.act_bits,
                act_bits_per_element=None if own_a == a0 else o.act_bits_per_element,
            )
            for o in overrides
            for own_a in [(o.act_bits, o.act_bits_per_element)]
        )
        kept = sorted(
            (
                o
                for o in norm
                if (o.bits, o.bits_per_element) != self._headline(o.kind)
                or o.group_size is not None
                or o.act_bits is not None
            ),
            key=lambda o: order.index(o.kind),
        )
        object.__setattr__(self, "per_kind", tuple(kept))

    def _headline(self, kind: OperandKind | None, kv: bool = False) -> tuple[int, float]:
        if kind in _KV_KINDS or (kind is None and kv):
            return self.kv_bits, self.kv_bits_per_element
        return self.weight_bits, self.weight_bits_per_element

    def of_kind(self, kind: OperandKind | str) -> tuple[int, float]:
        """(element bits, bits per element) of one kind's B operand (override or headline).

        Example:
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
            >>> p.with_kinds({"q": (8, 8.3125)}).of_kind("q"), p.of_kind("value")
            ((8, 8.3125), (4, 4.3125))
        """
        kind = _operand_kind(kind)
        for o in self.per_kind:
            if o.kind is kind:
                return o.bits, o.bits_per_element
        return self._headline(kind)

    def act_of(self, gemm: Any) -> tuple[int, float]:
        """(element bits, bits per element) of ``gemm``'s A operand (the activations): its
        projection kind's own input width if ``per_kind`` has one, else ``act_bits``.

        Example:
            >>> from hwmodel.workload import Gemm
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
            >>> p = replace(p, per_kind=(KindPrecision(kind="down", bits=4,
            ...             bits_per_element=4.3125, act_bits=4, act_bits_per_element=4.25),))
            >>> p.act_of(Gemm(m=1, n=8, k=8, name="down_proj")), p.act_of(Gemm(m=1, n=8, k=8))
            ((4, 4.25), (8, 8.0))
        """
        kind = gemm_kind(gemm) if self.per_kind else None
        if kind is not None:
            for o in self.per_kind:
                if o.kind is kind and o.act_bits is not None:
                    assert o.act_bits_per_element is not None  # set with act_bits
                    return o.act_bits, o.act_bits_per_element
        return self.act_bits, self.act_bits_per_element

    @property
    def mode_widths(self) -> tuple[tuple[str, int, int], ...]:
        """Every (where, B bits, A bits) pair a GEMM may run at (for PE mode checks): the
        headline weight and KV widths at ``act_bits``, and each per-kind override at its own
        input width.

        Example:
            >>> Precision.grouped(weight_bits=4, act_bits=8, kv_bits=16).mode_widths
            (('weight_bits', 4, 8), ('kv_bits', 16, 8))
        """
        return (
            ("weight_bits", self.weight_bits, self.act_bits),
            ("kv_bits", self.kv_bits, self.act_bits),
            *(
                (f"per_kind.{o.kind}", o.bits, self.act_bits if o.act_bits is None else o.act_bits)
                for o in self.per_kind
            ),
        )

    def group_size_of(self, kind: OperandKind | str) -> int:
        """Elements per quantization group of one kind's B operand (its own, else the headline).

        Example:
            >>> from mant.recipe import Recipe
            >>> r = Recipe.from_dict({"name": "x", "weights": "int4:g128", "key": "int4:g16",
            ...                       "value": "int4:g128:grouping=token"})
            >>> p = Precision.from_recipe(r)
            >>> p.group_size_of("key"), p.group_size_of("value"), p.group_size_of("q")
            (16, 128, 128)
        """
        kind = _operand_kind(kind)
        for o in self.per_kind:
            if o.kind is kind and o.group_size is not None:
                return o.group_size
        return self.group_size

    def operand(self, gemm: Any) -> tuple[int, float]:
        """(element bits, bits per element incl. metadata) of ``gemm``'s B operand.

        The kind's override if ``per_kind`` has one (:func:`gemm_kind` maps the GEMM name),
        else the headline weight or KV widths. The A operand: :meth:`act_of`.

        Example:
            >>> from hwmodel.workload import Gemm
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4).with_kinds(
            ...     {"down": (8, 8.3125)})
            >>> p.operand(Gemm(m=1, n=8, k=8, name="down_proj"))
            (8, 8.3125)
            >>> p.operand(Gemm(m=1, n=8, k=8, name="lm_head"))
            (4, 4.3125)
        """
        kind = gemm_kind(gemm) if self.per_kind else None
        if kind is None:
            return self._headline(None, kv=str(gemm.operand) == "kv")
        return self.of_kind(kind)

    def group_of(self, gemm: Any) -> int:
        """Group size of ``gemm``'s B operand: its kind's own, else the headline ``group_size``.

        Example:
            >>> from hwmodel.workload import Gemm
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
            >>> p = p.with_kinds({"key": (4, 4.5625, 32)})
            >>> p.group_of(Gemm(m=1, n=8, k=8, name="qk", operand="kv")), p.group_size
            (32, 64)
        """
        kind = gemm_kind(gemm) if self.per_kind else None
        return self.group_size if kind is None else self.group_size_of(kind)

    @property
    def widest_b_bits_per_element(self) -> float:
        """Bits per element of the widest B operand over every kind (what a buffer tile holds)."""
        return max(
            self.weight_bits_per_element,
            self.kv_bits_per_element,
            *(o.bits_per_element for o in self.per_kind),
        )

    @property
    def b_bits(self) -> tuple[tuple[str, int], ...]:
        """Every distinct B element width with where it comes from (for PE mode checks).

        Example:
            >>> Precision.grouped(weight_bits=4, act_bits=8, kv_bits=16).b_bits
            (('weight_bits', 4), ('kv_bits', 16))
        """
        return (
            ("weight_bits", self.weight_bits),
            ("kv_bits", self.kv_bits),
            *((f"per_kind.{o.kind}", o.bits) for o in self.per_kind),
        )

    def with_kinds(self, kinds: Mapping[str, tuple[Any, ...]]) -> Precision:
        """A copy with the overrides of some kinds set to ``(bits, bits_per_element)`` or
        ``(bits, bits_per_element, group_size)``.

        Raises:
            InputError: an unknown kind, bits not an int >= 1, or bits per element < bits.
        """
        c = IssueCollector()
        new: list[KindPrecision] = []
        for kind, value in kinds.items():
            if not c.check(kind in _KIND_NAMES, "precision.per_kind", _UNKNOWN_KIND, kind):
                continue
            try:
                bits, bpe, *rest = value
                if len(rest) > 1:
                    raise ValueError(value)
                new.append(
                    KindPrecision(
                        kind=OperandKind(kind),
                        bits=bits,
                        bits_per_element=bpe,
                        group_size=rest[0] if rest else None,
                    )
                )
            except (TypeError, ValueError) as exc:
                if isinstance(exc, InputError):
                    c.extend(exc)
                else:
                    c.add(f"precision.per_kind.{kind}", "must be (bits, bits_per_element)", value)
        c.raise_if_any()
        given = {o.kind for o in new}
        kept = [o for o in self.per_kind if o.kind not in given]
        return replace(self, per_kind=(*kept, *new))

    @classmethod
    def grouped(
        cls,
        *,
        weight_bits: int,
        act_bits: int,
        kv_bits: int,
        group_size: int = 64,
        scale_bits: int = 16,
        weight_selector_bits: int = 4,
        kv_selector_bits: int = 4,
    ) -> Precision:
        """A group-quantized precision with bits per element from ``mant``'s accounting.

        The defaults are M-ANT's: fp16 scales (``mant.scales.DEFAULT_SCALE``) and a 4-bit type
        selector for weights and KV alike (the KV cache picks a type per group too), i.e. the
        same count as ``mant.QuantConfig`` / ``mant.KVQuantConfig`` for the same setting.

        Example:
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
            >>> p.weight_bits_per_element, p.kv_bits_per_element
            (4.3125, 4.3125)
        """
        return cls(
            weight_bits=weight_bits,
            weight_bits_per_element=bits_per_element(
                weight_bits, group_size, scale_bits, weight_selector_bits
            ),
            act_bits=act_bits,
            kv_bits=kv_bits,
            kv_bits_per_element=bits_per_element(
                kv_bits, group_size, scale_bits, kv_selector_bits
            ),
            group_size=group_size,
        )

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> Precision:
        """The precision a :class:`mant.recipe.Recipe` asks of the hardware.

        Element bits pick the PE mode; bits per element (metadata included) set the traffic and
        storage. The headline widths are the recipe's: weights at the widest quantized
        projection kind, the KV cache at the wider of key and value (16 bits when none is
        quantized). Every kind that differs from its headline gets an override in ``per_kind``
        (an unquantized kind counts 16 bits), so a uniform recipe has none. Each kind keeps its
        own group size (the recipe entry's ``group_size``; the headline for a per-channel or
        per-tensor entry), so the epilogue of each GEMM counts its own operand's groups. A recipe
        with per-kind inputs (``recipe.act_kinds``) gives every projection its input width
        (``act_bits``, kept where it differs from the headline, the widest input).

        Example:
            >>> from mant.recipes import named_recipe
            >>> p = Precision.from_recipe(named_recipe("mant-hpca25"))
            >>> p.weight_bits, p.weight_bits_per_element, p.act_bits, p.kv_bits_per_element
            (4, 4.3125, 8, 4.28125)
            >>> p.per_kind
            ()
        """
        overrides = []
        for kind in B_OPERAND_KINDS:
            t = recipe.tensor(kind)
            bits, bpe = (16, 16.0) if t is None else (t.element_bits, t.bits_per_element)
            g = None if t is None or not t.group_size else int(t.group_size)
            acts: dict[str, Any] = {}
            if kind not in _KV_KINDS and recipe.act_kinds:  # each projection's own input
                a = recipe.activation(kind)
                acts = {
                    "act_bits": 16 if a is None else a.element_bits,
                    "act_bits_per_element": 16.0 if a is None else a.bits_per_element,
                }
            overrides.append(
                KindPrecision(kind=kind, bits=bits, bits_per_element=bpe, group_size=g, **acts)
            )
        return cls(
            weight_bits=recipe.weight_bits,
            weight_bits_per_element=recipe.weight_bits_per_element,
            act_bits=recipe.act_bits,
            act_bits_per_element=recipe.act_bits_per_element,
            kv_bits=recipe.kv_bits,
            kv_bits_per_element=recipe.kv_bits_per_element,
            group_size=recipe.group_size,
            per_kind=tuple(overrides),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping (YAML/JSON); ``Precision.from_dict(p.to_dict()) == p``.

        ``per_kind`` (kind -> ``{bits, bits_per_element}``) is written only when not empty.
        """
        out: dict[str, Any] = {name: getattr(self, name) for name in _FIELDS}
        if self.per_kind:
            out["per_kind"] = {str(o.kind): o.to_dict() for o in self.per_kind}
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str = "precision") -> Precision:
        """Validate a mapping into a Precision, reporting every issue at once.

        Raises:
            InputError: unknown or missing keys, an unknown kind under ``per_kind``, bits not an
                int >= 1, or bits per element below the bits.
        """
        from hwmodel._validate import check_keys

        c = IssueCollector()
        if not check_keys(
            data, path, required=_REQUIRED, optional=(*_FIELDS, "per_kind"), collector=c
        ):
            c.raise_if_any()
        overrides: list[KindPrecision] = []
        raw = data.get("per_kind", {})
        if check_keys(raw, f"{path}.per_kind", required=(), optional=_KIND_NAMES, collector=c):
            for kind, entry in raw.items():
                where = f"{path}.per_kind.{kind}"
                if kind not in _KIND_NAMES or not check_keys(
                    entry, where, required=_KIND_KEYS, optional=_KIND_OPTIONAL, collector=c
                ):
                    continue
                if not set(_KIND_KEYS) <= set(entry) <= set(_KIND_OPTIONAL):
                    continue  # check_keys recorded what is wrong
                try:
                    overrides.append(KindPrecision(kind=kind, **entry))
                except InputError as exc:
                    c.extend(_reprefix(exc, path))
        head = {k: v for k, v in data.items() if k != "per_kind"}
        out = None
        if set(head) <= set(_FIELDS) and all(k in head for k in _REQUIRED):
            try:
                out = cls(**head, per_kind=tuple(overrides))
            except InputError as exc:
                c.extend(_reprefix(exc, path))
        c.raise_if_any()
        assert out is not None  # every way to a None adds an issue
        return out


def _reprefix(error: InputError, path: str) -> InputError:
    from hwmodel._validate import reprefix

    return reprefix(error, "precision", path) if path != "precision" else error


_FIELDS = (
    "weight_bits",
    "weight_bits_per_element",
    "act_bits",
    "kv_bits",
    "kv_bits_per_element",
    "group_size",
    "act_bits_per_element",
)
_REQUIRED = _FIELDS[:5]
_KIND_NAMES = tuple(k.value for k in B_OPERAND_KINDS)
_KIND_KEYS = ("bits", "bits_per_element")
_KIND_OPTIONAL = (*_KIND_KEYS, "group_size", "act_bits", "act_bits_per_element")


def _operand_kind(kind: OperandKind | str) -> OperandKind:
    if kind not in _KIND_NAMES:
        raise InputError.single("precision.per_kind", _UNKNOWN_KIND, kind)
    return TensorKind(kind)
