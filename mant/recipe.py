"""One recipe: how every tensor kind of a model is quantized.

A :class:`Recipe` is one frozen value that says, for each tensor kind of a transformer block,
which format or candidate set it uses, the group size, the grouping axis, the scale format and
the selection rule. Every front end parses into it once (study YAML, CLI strings such as
``mant-unicore16:g64``, the reproduce config, exported files) and every consumer reads from it:
``mant.quantize`` (:meth:`QuantSpec.quant_config`), ``mant.kv`` (:meth:`Recipe.kv_config`),
the numpy runtime (``llmrun``) and the hardware model (``hwmodel.Precision.from_recipe``).

Tensor kinds (:class:`mant.quant_spec.Kind`):

* weights of each linear projection: ``q k v o gate up down`` (groups along in_features, the
  reduction dimension);
* ``activations``: the input of every linear layer (groups of g along the reduction dimension,
  per token);
* ``query`` (per token along head_dim), ``key`` and ``value`` (the KV cache: ``grouping`` says
  whether a group runs along head_dim within a token, ``token``, or along tokens within a
  channel, ``channel``), ``attn_probs`` (the softmax output, groups along the key axis) and
  ``attn_out`` (the attention output, per token).

A kind set to ``None`` stays unquantized (``fp`` in YAML and on the CLI).

The named recipes (:mod:`mant.recipes`) include ``mant-hpca25``, the M-ANT
authors' W4A8 KV4 setting exactly as their code runs it (``mant_authors.md`` §1-2).

Example:
    >>> from mant.recipes import named_recipe
    >>> r = named_recipe("mant-hpca25")
    >>> r.weight("down").selection.value, r.value.grouping.value, r.value.staging_bits
    ('output_mse', 'channel', 8)
    >>> r.weight_bits, r.act_bits, r.kv_bits
    (4, 8, 4)
    >>> Recipe.from_dict(r.to_dict()) == r
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mant.errors import InputError, IssueCollector
from mant.quant_spec import (
    ACT_KINDS,
    FP,
    KV_KINDS,
    WEIGHT_KINDS,
    Kind,
    QuantSpec,
)

if TYPE_CHECKING:
    from mant.kv import KVQuantConfig

__all__ = ["Recipe"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """How a whole model is quantized: one :class:`QuantSpec` (or None) per tensor kind.

    Attributes:
        name: the recipe's name (a named recipe's, or the user's).
        weights: one entry per projection kind (``q k v o gate up down``), as ``(kind, recipe)``
            pairs in :data:`WEIGHT_KINDS` order; read them with :meth:`weight`.
        activations: the input of every linear layer (the default of :attr:`act_kinds`).
        act_kinds: per-projection overrides of ``activations``: ``(kind, recipe)`` pairs for
            the input of that projection only (``q k v o gate up down``), in
            :data:`WEIGHT_KINDS` order, without entries equal to ``activations``; read them
            with :meth:`activation`. Empty for a recipe with one activation quantizer.
        query, key, value, attn_probs, attn_out: the attention tensors (see module doc).
        description: one line for listings.
        source: where the setting comes from.
    """

    name: str
    weights: tuple[tuple[Kind, QuantSpec | None], ...] = ()
    activations: QuantSpec | None = None
    act_kinds: tuple[tuple[Kind, QuantSpec | None], ...] = ()
    query: QuantSpec | None = None
    key: QuantSpec | None = None
    value: QuantSpec | None = None
    attn_probs: QuantSpec | None = None
    attn_out: QuantSpec | None = None
    description: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        c = IssueCollector()
        c.check(
            isinstance(self.name, str) and bool(self.name.strip()),
            "recipe.name",
            "must be a non-empty string",
            self.name,
        )
        given = dict(self.weights)
        c.check(
            set(given) <= set(WEIGHT_KINDS),
            "recipe.weights",
            "keys must be projection kinds " + ", ".join(WEIGHT_KINDS),
            sorted(str(k) for k in set(given) - set(WEIGHT_KINDS)),
        )
        full = tuple((k, given.get(k)) for k in WEIGHT_KINDS)
        object.__setattr__(self, "weights", full)
        acts = dict(self.act_kinds)
        c.check(
            set(acts) <= set(WEIGHT_KINDS),
            "recipe.activations",
            "per-kind keys must be projection kinds " + ", ".join(WEIGHT_KINDS),
            sorted(str(k) for k in set(acts) - set(WEIGHT_KINDS)),
        )
        own = tuple(
            (k, acts[k]) for k in WEIGHT_KINDS if k in acts and acts[k] != self.activations
        )
        object.__setattr__(self, "act_kinds", own)
        c.raise_if_any()

    # --- reading ---------------------------------------------------------------------------
    def weight(self, kind: Kind | str) -> QuantSpec | None:
        """The recipe of one projection's weights."""
        return dict(self.weights)[Kind(kind)]

    @property
    def specs(self) -> dict[Kind, QuantSpec | None]:
        """Every tensor kind (:class:`mant.vocab.TensorKind`) -> its :class:`QuantSpec` (None:
        unquantized), in kind order.

        Example:
            >>> r = Recipe.from_dict({"name": "w", "weights": "int4:g128", "key": "int4:g16",
            ...                       "value": "int4:g64"})
            >>> [(str(k), s.group_size) for k, s in r.specs.items() if k in ("q", "key", "value")]
            [('q', 128), ('key', 16), ('value', 64)]
        """
        return {k: self.tensor(k) for k in Kind}

    def activation(self, kind: Kind | str) -> QuantSpec | None:
        """The recipe of one projection's input activations (its own, else ``activations``).

        Example:
            >>> r = Recipe.from_dict({"name": "a", "activations": {"default": "int8:g64",
            ...                       "down": "int4:g64"}})
            >>> str(r.activation("down")), str(r.activation("q")), r.act_bits
            ('int4:g64', 'int8:g64', 8)
        """
        return dict(self.act_kinds).get(Kind(kind), self.activations)

    def tensor(self, kind: Kind | str) -> QuantSpec | None:
        """The :class:`QuantSpec` of any tensor kind."""
        kind = Kind(kind)
        if kind in WEIGHT_KINDS:
            return self.weight(kind)
        return getattr(self, kind.value)

    @property
    def weight_bits(self) -> int:
        """Element bits of the widest quantized weight kind (16 when no weight is quantized)."""
        return _widest(self.tensor(k) for k in WEIGHT_KINDS)

    @property
    def weight_bits_per_element(self) -> float:
        """Bits per weight element, metadata included, of the most expensive weight kind."""
        return _widest_bpe(self.tensor(k) for k in WEIGHT_KINDS)

    @property
    def act_bits(self) -> int:
        """Element bits of the widest linear-layer input (16 when unquantized; with per-kind
        inputs, an unquantized one counts 16)."""
        if not self.act_kinds:
            return _widest([self.activations])
        return max(16 if t is None else t.element_bits for t in self._inputs())

    @property
    def act_bits_per_element(self) -> float:
        if not self.act_kinds:
            return _widest_bpe([self.activations])
        return max(16.0 if t is None else t.bits_per_element for t in self._inputs())

    def _inputs(self) -> list[QuantSpec | None]:
        return [self.activations, *(t for _, t in self.act_kinds)]

    @property
    def kv_bits(self) -> int:
        """Element bits of the KV cache (16 when unquantized)."""
        return _widest([self.key, self.value])

    @property
    def kv_bits_per_element(self) -> float:
        return _widest_bpe([self.key, self.value])

    @property
    def group_size(self) -> int:
        """Group size along the reduction dimension of the widest weight kind (64 if none)."""
        for _, t in self.weights:
            if t is not None and t.group_size:
                return int(t.group_size)
        return 64

    def summary(self) -> str:
        """``W4A8 KV4``-style label."""
        w = "16" if self.weight_bits >= 16 else str(self.weight_bits)
        a = "16" if self.act_bits >= 16 else str(self.act_bits)
        kv = "16" if self.kv_bits >= 16 else str(self.kv_bits)
        return f"W{w}A{a} KV{kv}"

    def kv_config(self) -> KVQuantConfig | None:
        """The ``mant.kv.KVQuantConfig`` of the key and value recipes, or None (fp KV).

        K and V must share format, group size, scale format and selection rule (one real-time
        quantization unit); their groupings may differ.
        """
        from mant.kv import KVQuantConfig

        return KVQuantConfig.from_specs(self.key, self.value)

    # --- changing --------------------------------------------------------------------------
    def with_overrides(
        self,
        *,
        weights: Any = ...,
        acts: Any = ...,
        kv: Any = ...,
        name: str | None = None,
    ) -> Recipe:
        """This recipe with parts replaced (CLI ``--weights`` / ``--acts`` / ``--kv``).

        Each part is a CLI string, a mapping, a :class:`QuantSpec` or ``fp``/None; ``...``
        leaves it. ``weights`` sets every projection kind; ``acts`` every activation quantizer
        (linear inputs, query, attention probabilities and outputs); ``kv`` key and value (a
        string's K/V groupings default to the authors' layout: K per token, V per channel).
        """
        changes: dict[str, Any] = {}
        parts = [p for p, v in (("weights", weights), ("acts", acts), ("kv", kv)) if v is not ...]
        if weights is not ...:
            ts = {k: QuantSpec.from_value(weights, f"weights.{k}", kind=k) for k in WEIGHT_KINDS}
            changes["weights"] = tuple(ts.items())
        if acts is not ...:
            changes["act_kinds"] = ()
            for k in ACT_KINDS:
                changes[k.value] = QuantSpec.from_value(acts, "acts", kind=k)
        if kv is not ...:
            for k in KV_KINDS:
                changes[k.value] = QuantSpec.from_value(kv, "kv", kind=k)
        if not changes:
            return self
        label = name or (self.name + "+" + "+".join(parts))
        return replace(self, name=label, **changes)

    # --- plain types -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types: ``Recipe.from_dict(r.to_dict()) == r``.

        Weights are written as ``{"default": ..., <kind>: ...}`` when kinds differ from the
        most common one, else as one entry.
        """
        weights = {k.value: (FP if t is None else t.to_dict()) for k, t in self.weights}
        values = list(weights.values())
        common = max(values, key=values.count)
        wout: dict[str, Any] = {"default": common}
        wout.update({k: v for k, v in weights.items() if v != common})
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.source:
            out["source"] = self.source
        out["weights"] = wout
        for kind in (
            Kind.ACTIVATIONS,
            Kind.QUERY,
            Kind.KEY,
            Kind.VALUE,
            Kind.ATTN_PROBS,
            Kind.ATTN_OUT,
        ):
            t = self.tensor(kind)
            out[kind.value] = FP if t is None else t.to_dict()
        if self.act_kinds:  # per-kind inputs: {default, <kind>: ...} like the weights
            base = out["activations"]
            out["activations"] = {"default": base} | {
                k.value: FP if t is None else t.to_dict() for k, t in self.act_kinds
            }
        return out

    @classmethod
    def from_dict(cls, data: Any, path: str = "recipe") -> Recipe:
        """Validates a mapping into a recipe; every problem is reported at once.

        ``weights`` is a tensor recipe for every projection, or a mapping with an optional
        ``default`` and per-kind entries. A missing tensor kind is unquantized.
        """
        c = IssueCollector()
        allowed = ("name", "description", "source", "weights") + tuple(
            k.value for k in Kind if k not in WEIGHT_KINDS
        )
        if not c.check_keys(data, path, allowed=allowed, required=("name",)):
            c.raise_if_any()
        kwargs: dict[str, Any] = {}
        for key in ("name", "description", "source"):
            if key in data:
                ok = isinstance(data[key], str)
                if c.check(ok, f"{path}.{key}", "must be a string", data[key]):
                    kwargs[key] = data[key]
        weights = data.get("weights", FP)
        # (value, path) per projection kind; a shared value is parsed (and reported) once
        per_kind: dict[Kind, tuple[Any, str]] = {}
        split = isinstance(weights, Mapping) and (
            "default" in weights or bool(set(weights) & {k.value for k in WEIGHT_KINDS})
        )
        if split:
            wkeys = ("default",) + tuple(k.value for k in WEIGHT_KINDS)
            if c.check_keys(weights, f"{path}.weights", allowed=wkeys):
                shared = (weights.get("default", FP), f"{path}.weights.default")
                per_kind = {
                    k: (weights[k.value], f"{path}.weights.{k.value}")
                    if k.value in weights
                    else shared
                    for k in WEIGHT_KINDS
                }
        else:
            per_kind = {k: (weights, f"{path}.weights") for k in WEIGHT_KINDS}
        ws: list[tuple[Kind, QuantSpec | None]] = []
        parsed: dict[str, QuantSpec | None] = {}
        for k, (value, where) in per_kind.items():
            if where not in parsed:
                try:
                    parsed[where] = QuantSpec.from_value(value, where, kind=k)
                except InputError as exc:
                    c.extend(exc)
                    parsed[where] = None
            ws.append((k, parsed[where]))
        kwargs["weights"] = tuple(ws)
        acts = data.get(Kind.ACTIVATIONS.value)
        kind_names = {k.value for k in WEIGHT_KINDS}
        if isinstance(acts, Mapping) and ("default" in acts or bool(set(acts) & kind_names)):
            where = f"{path}.activations"
            own: list[tuple[Kind, QuantSpec | None]] = []
            keys = ("default", *(k.value for k in WEIGHT_KINDS))
            if c.check_keys(acts, where, allowed=keys):
                for key in (k for k in keys if k in acts):
                    try:
                        spec = QuantSpec.from_value(
                            acts[key], f"{where}.{key}", kind=Kind.ACTIVATIONS
                        )
                    except InputError as exc:
                        c.extend(exc)
                        continue
                    if key == "default":
                        kwargs["activations"] = spec
                    else:
                        own.append((Kind(key), spec))
            kwargs["act_kinds"] = tuple(own)
            data = {k: v for k, v in data.items() if k != Kind.ACTIVATIONS.value}
        for kind in Kind:
            if kind in WEIGHT_KINDS or (kind is Kind.ACTIVATIONS and "act_kinds" in kwargs):
                continue
            try:
                kwargs[kind.value] = QuantSpec.from_value(
                    data.get(kind.value), f"{path}.{kind.value}", kind=kind
                )
            except InputError as exc:
                c.extend(exc)
        c.raise_if_any()
        try:
            return cls(**kwargs)
        except InputError as exc:
            c.extend(exc)
            c.raise_if_any()
            raise


def _widest(ts: Any) -> int:
    bits = [t.element_bits for t in ts if t is not None]
    return max(bits) if bits else 16


def _widest_bpe(ts: Any) -> float:
    bits = [t.bits_per_element for t in ts if t is not None]
    return max(bits) if bits else 16.0
