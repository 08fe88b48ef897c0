"""How one tensor kind is quantized: :class:`QuantSpec`, the one quantization value.

A :class:`QuantSpec` carries everything a quantizer needs, validated once: the format or
candidate set (resolved once, at construction, into a :class:`~mant.candidates.CandidateSet`
and carried: :attr:`QuantSpec.candidate_set`), the grouping with its own group size
(:attr:`QuantSpec.granularity_type`: ``PerGroup(g)``, ``PerChannel()``, ``PerTensor()``), the
selection rule, the scale format, the clip search and, for K and V, the cache layout. A
:class:`mant.recipe.Recipe` maps every tensor kind to a QuantSpec (or None), and every consumer
reads from it: ``mant.quantize.quantize(x, spec)``, ``mant.kv.KVQuantConfig.from_specs``, the
numpy runtime (``llmrun``) and ``hwmodel.Precision.from_recipe``. :class:`QuantConfig` (here,
re-exported by ``mant.quantize``) and ``mant.kv.KVQuantConfig`` are views of QuantSpecs that the
executing quantizers read, with no validation of their own: a QuantConfig builds its spec with
``rules="config"``, a KVQuantConfig builds K's and V's with ``rules="kv"`` (the quantizers'
stricter rules); a spec builds them (:meth:`QuantSpec.quant_config`, ``from_specs``).

Tensor kinds (:class:`Kind`): the weights of each linear projection ``q k v o gate up down``
(groups along in_features, the reduction dimension); ``activations`` (the input of every linear
layer, per token, groups along the reduction dimension); ``query`` (per token along head_dim);
``key`` and ``value`` (the KV cache; ``grouping`` says whether a group runs along head_dim within
a token, ``token``, or along tokens within a channel, ``channel``); ``attn_probs`` (the softmax
output, groups along the key axis) and ``attn_out`` (the attention output, per token).

Example:
    >>> t = QuantSpec.parse("mant-unicore16:g128:scale=bf16:output-mse", kind="q")
    >>> t.group_size, t.selection.value, t.bits_per_element
    (128, 'output_mse', 4.15625)
    >>> QuantSpec.parse(str(t), kind="q") == t
    True
    >>> t.granularity_type, t.candidate_set.name
    (PerGroup(size=128), 'mant-unicore16')
    >>> QuantSpec.from_dict(t.to_dict()) == t
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from mant.adaptive_block import AdaptiveBlockFormat
from mant.candidates import CandidateSet, candidate_set
from mant.errors import InputError, IssueCollector, reject_unknown_keys
from mant.formats import BlockFormat, OliveFormat
from mant.scales import SCALE_BITS, ScaleFormat, parse_scale_format
from mant.vocab import (
    ACT_KINDS,
    KV_KINDS,
    KV_SELECTIONS,
    WEIGHT_KINDS,
    Algorithm,
    Granularity,
    GranularityType,
    Grouping,
    Rotation,
    Selection,
    granularity_of,
)

if TYPE_CHECKING:
    from mant.tender import TenderConfig
from mant.vocab import SELECTION_ALIASES as _SELECTION_ALIASES
from mant.vocab import TensorKind as Kind

__all__ = [
    "ACT_KINDS",
    "Algorithm",
    "FP",
    "FP_WORDS",
    "Grouping",
    "KV_KINDS",
    "Kind",
    "Selection",
    "QuantConfig",
    "QuantSpec",
    "Rotation",
    "WEIGHT_KINDS",
]

FP = "fp"
"""How YAML and CLI strings say "not quantized" (``none`` and ``fp16`` are accepted too)."""

FP_WORDS = (FP, "none", "fp16", "fp32", "")


_KV_SELECTIONS = (Selection.VARIANCE, Selection.LUT, Selection.ORACLE, Selection.NONE)
_WEIGHT_SELECTIONS = (Selection.WEIGHT_MSE, Selection.OUTPUT_MSE, Selection.NONE)


def _enum(kind: type[StrEnum], value: Any, path: str, c: IssueCollector) -> Any:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_")
        if kind is Selection and text in _SELECTION_ALIASES:
            return _SELECTION_ALIASES[text]
        try:
            return kind(text)
        except ValueError:
            pass
    c.add(path, "must be one of " + ", ".join(m.value for m in kind), value)
    return None


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw_format(value: Any) -> Any:
    """The YAML/JSON form of a stored format spec."""
    if (  # a frozen mapping: (key, value) pairs with str keys (a list of level lists is not)
        isinstance(value, tuple)
        and value
        and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value)
    ):
        return {k: _thaw_format(v) for k, v in value}
    if isinstance(value, tuple):
        return [_thaw_format(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantSpec:
    """How one tensor kind is quantized.

    Attributes:
        format: a candidate-set name, a format name, a tuple of format names, a coefficient
            family (stored frozen: a tuple of ``(key, value)`` pairs), or ``tender`` (Tender's
            channel decomposition, :mod:`mant.tender`).
        group_size: values per group (None: a block format's own block, else 64).
        granularity: ``group`` (default), ``channel`` (one scale per row) or ``tensor``.
        scale_format: group scale format; fp16 unless the format fixes its own.
        selection: how a group picks its type (:class:`Selection`).
        grouping: K/V only: ``token`` or ``channel`` (see :class:`Grouping`).
        staging_bits: V grouped per channel only: the INT width new tokens wait in until their
            group of ``group_size`` tokens is complete (the authors use 8); None: no staging.
        clip_search: search a clip ratio per group (ANT's search).
        algorithm: weights only: ``rtn`` (round to nearest, the default), ``gptq`` or ``awq``
            (:mod:`mant.gptq`; both need calibration activations).
        rotation: weights only: ``none`` (default) or ``hadamard`` (:mod:`mant.rotation`: the
            input dimension is rotated before quantizing and rotated back after).
        rotation_block: the Hadamard block: None (the group size), a power of two dividing
            in_features, or ``row`` (the whole row).
        resolved: (init only) the format's :class:`CandidateSet` when the caller has it (not
            parsed again).
        rules: (init only) ``""`` (a recipe's spec), ``"config"`` (the rules of
            :class:`QuantConfig`: block formats fix block and scale, a weight-error rule,
            output-MSE's limits, even OliVe groups) or ``"kv"`` (those of
            ``mant.kv.KVQuantConfig``: a KV rule, variance needing the authors' three types).
    """

    format: Any
    group_size: int | None = None
    granularity: Granularity = Granularity.GROUP
    scale_format: ScaleFormat | None = None
    selection: Selection = Selection.NONE
    grouping: Grouping | None = None
    staging_bits: int | None = None
    clip_search: bool = False
    algorithm: Algorithm = Algorithm.RTN
    rotation: Rotation = Rotation.NONE
    rotation_block: int | str | None = None
    resolved: InitVar[CandidateSet | None] = None
    rules: InitVar[str] = ""
    _set: CandidateSet | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self, resolved: CandidateSet | None = None, rules: str = "") -> None:
        c = IssueCollector()
        fmt = self.format
        if isinstance(fmt, Mapping):
            fmt = _freeze(fmt)
        elif isinstance(fmt, list):
            fmt = tuple(fmt)
        object.__setattr__(self, "format", fmt)
        cs: CandidateSet | None = None
        if fmt != "tender" or rules:  # a quantizer config has candidates, never Tender
            try:
                cs = resolved if resolved is not None else candidate_set(_thaw_format(fmt))
            except InputError as exc:
                for issue in exc.issues:  # the field is called format here
                    path = issue.path.replace("candidates", "format", 1) or "format"
                    c.add(
                        path if path.startswith("format") else f"format.{path}",
                        issue.rule,
                        issue.value,
                    )
        object.__setattr__(self, "_set", cs)
        gran = _enum(Granularity, self.granularity, "granularity", c)
        if gran is not None:
            object.__setattr__(self, "granularity", gran)
        if rules:  # the executing quantizer's rules (QuantConfig: config, KVQuantConfig: kv)
            (_kv_rules if rules == "kv" else _strict_rules)(self, cs, gran, c)
            c.raise_if_any()
            return
        sel = _enum(Selection, self.selection, "selection", c)
        if sel is not None:
            object.__setattr__(self, "selection", sel)
        if self.grouping is not None:
            grp = _enum(Grouping, self.grouping, "grouping", c)
            object.__setattr__(self, "grouping", grp)
        block = (
            cs.formats[0] if cs is not None and isinstance(cs.formats[0], BlockFormat) else None
        )
        if self.scale_format is None:
            default = block.scale if block is not None else ScaleFormat.FP16
            object.__setattr__(self, "scale_format", ScaleFormat(default))
        else:
            try:
                object.__setattr__(self, "scale_format", parse_scale_format(self.scale_format))
            except InputError as exc:
                c.extend(exc)
        g = self.group_size
        if g is not None:
            ok = isinstance(g, int) and not isinstance(g, bool) and g >= 1
            c.check(ok, "group_size", "must be an int >= 1 or null", g)
        elif gran is Granularity.GROUP:
            object.__setattr__(self, "group_size", block.block if block is not None else 64)
        sb = self.staging_bits
        if sb is not None:
            ok = isinstance(sb, int) and not isinstance(sb, bool) and 2 <= sb <= 16
            c.check(ok, "staging_bits", "must be an int in 2..16 or null", sb)
        c.check(
            isinstance(self.clip_search, bool), "clip_search", "must be a bool", self.clip_search
        )
        self._check_algorithm(gran, c)
        if self.algorithm is Algorithm.GPTQ and sel is Selection.OUTPUT_MSE and cs is not None:
            c.check(
                not any(
                    getattr(f, "asymmetric", False) or isinstance(f, BlockFormat)
                    for f in cs.formats
                ),
                "selection",
                "output_mse with algorithm gptq needs symmetric grid types (no asymmetric or "
                "block formats)",
                sel.value,
            )
        if cs is not None and sel is Selection.NONE and len(cs.formats) > 1:
            default_sel = Selection.WEIGHT_MSE
            object.__setattr__(self, "selection", default_sel)
        c.raise_if_any()

    def _check_algorithm(self, gran: Granularity | None, c: IssueCollector) -> None:
        """Resolve and check ``algorithm``, ``rotation`` and ``rotation_block``."""
        algo = _enum(Algorithm, self.algorithm, "algorithm", c)
        if algo is not None:
            object.__setattr__(self, "algorithm", algo)
        rot = _enum(Rotation, self.rotation, "rotation", c)
        if rot is not None:
            object.__setattr__(self, "rotation", rot)
        block = self.rotation_block
        if isinstance(block, str) and block.strip().lower() == "row":
            object.__setattr__(self, "rotation_block", "row")
        elif block is not None:
            ok = isinstance(block, int) and not isinstance(block, bool) and block >= 1
            c.check(
                ok and not int(block) & (int(block) - 1),
                "rotation_block",
                "must be a power of two, row or null (the group size)",
                block,
            )
            if rot is Rotation.NONE:
                c.add("rotation_block", "applies only to rotation hadamard", block)
        if rot is Rotation.HADAMARD and block is None and gran is not Granularity.GROUP:
            c.add(
                "rotation_block",
                "must be set (a power of two or row) when granularity is not group",
                block,
            )
        if algo is Algorithm.GPTQ and gran is not None:
            c.check(
                gran is Granularity.GROUP,
                "granularity",
                "must be group with algorithm gptq",
                gran.value,
            )
            c.check(
                self.clip_search is not True,
                "clip_search",
                "must be false with algorithm gptq (no clip search inside its sweep)",
                self.clip_search,
            )

    @property
    def layer_algorithm(self) -> bool:
        """True when the weight needs ``mant.gptq.quantize_layer`` (GPTQ, AWQ or a rotation)
        rather than the plain group quantizer."""
        return self.algorithm is not Algorithm.RTN or self.rotation is not Rotation.NONE

    def rotation_block_for(self, in_features: int) -> int | None:
        """The Hadamard block for a weight of ``in_features`` inputs (None: no rotation)."""
        if self.rotation is Rotation.NONE:
            return None
        if self.rotation_block == "row":
            return int(in_features)
        if self.rotation_block is None:
            return int(self.group_size or in_features)
        return int(self.rotation_block)

    @property
    def granularity_type(self) -> GranularityType:
        """The grouping as a type: ``PerGroup(group_size)``, ``PerChannel()`` or
        ``PerTensor()``."""
        return granularity_of(self.granularity, self.group_size)

    @property
    def candidate_set(self) -> CandidateSet | None:
        """The resolved candidate set (None for ``tender``)."""
        return self._set

    @property
    def format_spec(self) -> Any:
        """The format as ``mant.candidates`` takes it (plain str / list / dict)."""
        return _thaw_format(self.format)

    @property
    def element_bits(self) -> int:
        """Bits of one stored element (the PE mode this kind needs)."""
        if self._set is None:  # Tender: INT4 elements (mant.tender)
            return 4
        return int(self._set.bits)

    @property
    def selector_bits(self) -> int:
        """Type-selector bits per group (0 for a single format)."""
        return 0 if self._set is None else int(self._set.selector_bits)

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element with group metadata (scale, selector, zero point), without
        data: ``QuantConfig.bits_per_element`` of this kind's grouping (Tender counts its
        element bits only)."""
        if self._set is None:
            return float(self.element_bits)
        return float(QuantConfig(**self._grouping_kwargs()).bits_per_element)

    def _grouping_kwargs(self) -> dict[str, Any]:
        """``QuantConfig`` arguments fixing the candidates and their grouping."""
        assert self._set is not None
        kwargs: dict[str, Any] = {
            "candidates": self.format_spec,
            "granularity": self.granularity,
            "resolved": self._set,  # carried: QuantConfig does not parse the spec again
        }
        if not isinstance(self._set.formats[0], BlockFormat):
            kwargs["scale_format"] = self.scale_format
            kwargs["group_size"] = self.group_size
        return kwargs

    def quant_config(self, *, axis: int = -1) -> QuantConfig | TenderConfig:
        """The ``mant.quantize.QuantConfig`` (or ``TenderConfig``) of this kind."""
        if self._set is None:
            from mant.tender import TenderConfig

            return TenderConfig()
        kwargs = self._grouping_kwargs()
        kwargs["axis"] = axis
        kwargs["clip_search"] = self.clip_search
        if self.selection is Selection.OUTPUT_MSE:
            kwargs["selection"] = "output_mse"
        return QuantConfig(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON types; fields at their defaults are left out."""
        out: dict[str, Any] = {"format": self.format_spec}
        if self.granularity is Granularity.GROUP:
            out["group_size"] = self.group_size
        else:
            out["granularity"] = self.granularity.value
        if self._set is not None:
            out["scale_format"] = str(self.scale_format)
        if self.selection is not Selection.NONE:
            out["selection"] = self.selection.value
        if self.grouping is not None:
            out["grouping"] = self.grouping.value
        if self.staging_bits is not None:
            out["staging_bits"] = self.staging_bits
        if self.clip_search:
            out["clip_search"] = True
        if self.algorithm is not Algorithm.RTN:
            out["algorithm"] = self.algorithm.value
        if self.rotation is not Rotation.NONE:
            out["rotation"] = self.rotation.value
        if self.rotation_block is not None:
            out["rotation_block"] = self.rotation_block
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], path: str = "spec", *, kind: Kind | str | None = None
    ) -> QuantSpec:
        """Inverse of :meth:`to_dict`: ``QuantSpec.from_dict(s.to_dict()) == s``.

        With ``kind``, the rules of that tensor kind apply (as in :meth:`from_value`).

        Raises:
            InputError: unknown keys (listing the valid ones), bad values, every one at once.
        """
        if kind is not None:
            out = cls.from_value(dict(data), path, kind=Kind(kind))
            if out is None:  # pragma: no cover - a mapping is never "fp"
                raise InputError.single(path, "must be a tensor spec", data)
            return out
        c = IssueCollector()
        c.check_keys(data, path, allowed=_TENSOR_KEYS, required=("format",))
        c.raise_if_any()
        try:
            return cls(**dict(data))
        except InputError as exc:
            c.extend(exc, path)
            c.raise_if_any()
            raise

    @classmethod
    def from_value(cls, data: Any, path: str, *, kind: Kind) -> QuantSpec | None:
        """A mapping, a CLI string (see :meth:`parse`) or ``fp`` / None (unquantized)."""
        kind = Kind(kind)
        if data is None or (isinstance(data, str) and data.strip().lower() in FP_WORDS):
            return None
        if isinstance(data, str):
            return cls.parse(data, kind=kind, path=path)
        if isinstance(data, QuantSpec):
            return data
        c = IssueCollector()
        if not c.check_keys(data, path, allowed=_TENSOR_KEYS, required=("format",)):
            c.raise_if_any()
        kwargs = dict(data)
        if kind in KV_KINDS:
            kwargs.setdefault("grouping", _DEFAULT_GROUPING[kind])
            _default_kv_selection(kwargs)
        try:
            out = cls(**kwargs)
        except InputError as exc:
            c.extend(exc, path)
            c.raise_if_any()
            raise
        except TypeError as exc:  # pragma: no cover - keys are checked above
            raise InputError.single(path, "is not a valid tensor recipe", str(exc)) from exc
        _check_kind(out, kind, path)
        return out

    @classmethod
    def parse(cls, text: str, *, kind: Kind, path: str = "") -> QuantSpec | None:
        """Parses ``NAME[:gN][:scale=FMT][:RULE][:k=token|channel][:staging=B][:channel]``.

        ``RULE`` is a :class:`Selection` (``-`` or ``_``); ``channel`` / ``tensor`` set the
        granularity; ``grouping=token|channel`` (or ``g=token``) sets the K/V grouping.
        Weights also take an :class:`Algorithm` (``rtn``, ``gptq``, ``awq``) and a rotation
        (``hadamard``, ``hadamard=N`` or ``hadamard=row``), e.g. ``mant-unicore16:g64:gptq``.
        ``fp`` (or ``none``) means unquantized.
        """
        kind = Kind(kind)
        where = path or str(kind)
        raw = text.strip()
        if raw.lower() in FP_WORDS:
            return None
        name, *fields_ = raw.split(":")
        kwargs: dict[str, Any] = {"format": name.strip().lower()}
        c = IssueCollector()
        for f in fields_:
            f = f.strip().lower()
            if m := re.fullmatch(r"g(\d+)", f):
                kwargs["group_size"] = int(m.group(1))
            elif f.startswith("scale="):
                kwargs["scale_format"] = f[len("scale=") :]
            elif f.startswith(("grouping=", "axis=")):
                kwargs["grouping"] = f.split("=", 1)[1]
            elif f.startswith("staging="):
                value = f.split("=", 1)[1]
                kwargs["staging_bits"] = None if value in FP_WORDS else _int(value)
            elif f in ("channel", "tensor"):
                kwargs["granularity"] = f
            elif f == "clip":
                kwargs["clip_search"] = True
            elif f in {a.value for a in Algorithm}:
                kwargs["algorithm"] = f
            elif f == Rotation.HADAMARD.value:
                kwargs["rotation"] = f
            elif f.startswith(Rotation.HADAMARD.value + "="):
                kwargs["rotation"] = Rotation.HADAMARD.value
                kwargs["rotation_block"] = _int(f.split("=", 1)[1])
            elif f.replace("-", "_") in {s.value for s in Selection} | set(_SELECTION_ALIASES):
                kwargs["selection"] = f
            else:
                c.add(
                    where,
                    "fields after the name must be gN, scale=FMT, a selection rule "
                    "(" + ", ".join(s.value for s in Selection) + "), grouping=token|channel, "
                    "staging=B, channel, tensor, clip, an algorithm (rtn, gptq, awq) or "
                    "hadamard[=N|row]",
                    f,
                )
        c.raise_if_any()
        if kind in KV_KINDS:
            kwargs.setdefault("grouping", _DEFAULT_GROUPING[kind])
            _default_kv_selection(kwargs)
            if kwargs["grouping"] == Grouping.CHANNEL and kind is Kind.VALUE:
                kwargs.setdefault("staging_bits", 8)
        try:
            out = cls(**kwargs)
        except InputError as exc:
            c.extend(exc, where)
            c.raise_if_any()
            raise
        _check_kind(out, kind, where)
        return out

    def __str__(self) -> str:
        fmt = self.format_spec
        parts = [fmt if isinstance(fmt, str) else repr(fmt)]
        if self.granularity is Granularity.GROUP:
            parts.append(f"g{self.group_size}")
        else:
            parts.append(self.granularity.value)
        if self._set is not None and self.scale_format is not ScaleFormat.FP16:
            parts.append(f"scale={self.scale_format}")
        if self.selection is not Selection.NONE:
            parts.append(self.selection.value.replace("_", "-"))
        if self.grouping is not None:
            parts.append(f"grouping={self.grouping.value}")
        if self.staging_bits is not None:
            parts.append(f"staging={self.staging_bits}")
        if self.algorithm is not Algorithm.RTN:
            parts.append(self.algorithm.value)
        if self.rotation is not Rotation.NONE:
            block = "" if self.rotation_block is None else f"={self.rotation_block}"
            parts.append(f"{self.rotation.value}{block}")
        return ":".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantConfig:
    """How to quantize a tensor.

    Attributes:
        candidates: named set, format name, tuple of format names, or a family dict
            (see :mod:`mant.candidates`). Data-derived families are resolved to their names.
        group_size: values per group for ``group`` granularity; ``None`` (default) means a
            block format's block size, else 64. Forced to ``None`` for ``channel`` and ``tensor``.
        axis: the axis groups run along.
        granularity: ``group``, ``channel`` or ``tensor``.
        scale_format: ``fp16`` (the default), ``fp32``, ``bf16``, ``e8m0`` or ``int8``. Block
            formats fix their own (MX: ``e8m0``, NVFP4: ``e4m3``) and accept only that or
            ``None``; ``None`` resolves to the default of the format, so every entry point
            counts the same bits per element for the same setting.
        clip_search: search the clip ratio 0.75 .. 1.50 per group and candidate.
        selection: ``weight_mse`` (least weight error, earlier candidate on ties) or
            ``output_mse`` (least output error over calibration activations, later candidate on
            ties; needs ``quantize(..., calibration=X)``, group granularity, no clip search).
        resolved: (init only) the :class:`CandidateSet` of ``candidates`` when the caller has
            it already (:meth:`mant.quant_spec.QuantSpec.quant_config`); not stored as a field.

    Example:
        >>> cfg = QuantConfig(candidates="mant-unicore16", group_size=64)
        >>> cfg.scale_format, cfg.bits_per_element
        (<ScaleFormat.FP16: 'fp16'>, 4.3125)
        >>> QuantConfig(candidates="mxfp4").scale_format
        <ScaleFormat.E8M0: 'e8m0'>
        >>> QuantConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    candidates: Any = "mant-unicore16"
    group_size: int | None = None
    axis: int = -1
    granularity: Granularity = Granularity.GROUP
    scale_format: ScaleFormat = None  # type: ignore[assignment]  # None -> resolved below
    clip_search: bool = False
    selection: Selection = Selection.WEIGHT_MSE
    resolved: InitVar[CandidateSet | None] = None
    _set: CandidateSet = field(init=False, repr=False, compare=False)
    _spec: QuantSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self, resolved: CandidateSet | None = None) -> None:
        # a view of one QuantSpec: it validates and resolves (strict: the quantizer's rules);
        # a QuantSpec hands over the set it resolved (``resolved``): no second parse
        spec = self.candidates
        if isinstance(spec, CandidateSet):
            resolved = resolved or spec
            spec = spec.to_spec()
        c = IssueCollector()
        q: QuantSpec | None = None
        try:
            q = QuantSpec(
                format=spec,
                group_size=self.group_size,
                granularity=self.granularity,
                scale_format=self.scale_format,
                selection=self.selection,
                clip_search=self.clip_search,
                resolved=resolved,
                rules="config",
            )
        except InputError as exc:
            for issue in exc.issues:  # the field is called candidates here
                path = issue.path
                if path.startswith("format"):
                    path = "candidates" + path[len("format") :]
                c.add(path, issue.rule, issue.value)
        ax = self.axis
        c.check(
            isinstance(ax, int | np.integer) and not isinstance(ax, bool),
            "axis",
            "must be an int",
            ax,
        )
        c.raise_if_any()
        assert q is not None and q.candidate_set is not None
        cs = q.candidate_set
        if isinstance(spec, Mapping):
            spec = dict(spec)
        elif isinstance(spec, list | tuple):
            spec = tuple(cs.names)
        put = object.__setattr__
        put(self, "candidates", spec)
        put(self, "_set", cs)
        put(self, "_spec", q)
        for name in ("group_size", "granularity", "scale_format", "selection"):
            put(self, name, getattr(q, name))

    @property
    def spec(self) -> QuantSpec:
        """The :class:`mant.quant_spec.QuantSpec` this config is a view of."""
        return self._spec

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    @property
    def candidate_set(self) -> CandidateSet:
        """The resolved candidate set."""
        return self._set

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element, known without data.

        ``element bits + (scale bits + selector bits + zero-point bits) / group_size`` for
        ``group`` granularity; block formats count their 8-bit block scale (NVFP4's per-tensor
        fp32 scale is not counted); ``channel`` and ``tensor`` count only the element bits.
        """
        cs = self._set
        fmt = cs.formats[0]
        if isinstance(fmt, AdaptiveBlockFormat):  # every metadata bit (its own count)
            return fmt.bits_per_element
        if isinstance(fmt, BlockFormat):
            return fmt.bits + 8 / fmt.block
        if self.granularity is not Granularity.GROUP:
            return float(cs.bits)
        meta = _meta_bits(cs, self.scale_format)
        assert self.group_size is not None  # __post_init__ sets it for group granularity
        return cs.bits + meta / int(self.group_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (str, int, bool, None, list, dict)."""
        cand = self.candidates
        if isinstance(cand, tuple):
            cand = list(cand)
        elif isinstance(cand, dict):
            cand = dict(cand)
        return {
            "candidates": cand,
            "group_size": None if self.group_size is None else int(self.group_size),
            "axis": int(self.axis),
            "granularity": str(self.granularity),
            "scale_format": str(self.scale_format),
            "clip_search": bool(self.clip_search),
            "selection": str(self.selection),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InputError`."""
        valid = (
            "candidates",
            "group_size",
            "axis",
            "granularity",
            "scale_format",
            "clip_search",
            "selection",
        )
        reject_unknown_keys(data, "quant", valid)
        return cls(**dict(data))


def _meta_bits(cs: CandidateSet, scale_format: ScaleFormat) -> int:
    """Per-group metadata bits: scale + selector + the widest zero point of an asym member."""
    zp = max((f.bits for f in cs.formats if f.asymmetric), default=0)
    return SCALE_BITS[scale_format] + cs.selector_bits + zp


CONFIG_SELECTIONS = (Selection.WEIGHT_MSE, Selection.OUTPUT_MSE)
"""The rules a :class:`mant.quantize.QuantConfig` runs (a group keeps its least-error type)."""


def _config_selection(value: Any) -> Selection | None:
    if isinstance(value, Selection):
        return value if value in CONFIG_SELECTIONS else None
    if isinstance(value, str):
        text = value.strip().lower().replace("-", "_")
        for s in CONFIG_SELECTIONS:
            if text == s.value:
                return s
    return None


def _kv_rules(
    spec: QuantSpec, cs: CandidateSet | None, gran: Granularity | None, c: IssueCollector
) -> None:
    """Validate and resolve ``spec`` as :class:`mant.kv.KVQuantConfig` runs it (``rules="kv"``):
    a KV selection rule (variance needs the authors' three types), a group size, a scale
    format, a grouping, staging bits. Issue paths name ``format``."""
    from mant.kv_select import variance_positions

    put = object.__setattr__
    sel = spec.selection
    if isinstance(sel, str) and sel in KV_SELECTIONS:
        put(spec, "selection", Selection(sel))
    else:
        c.add(
            "selection",
            f"must be one of {[m.value for m in KV_SELECTIONS]}",
            getattr(sel, "value", sel),
        )
    g = spec.group_size
    ok = isinstance(g, int) and not isinstance(g, bool) and g >= 1
    c.check(ok, "group_size", "must be an int >= 1", g)
    try:
        put(spec, "scale_format", parse_scale_format(spec.scale_format or ScaleFormat.FP16))
    except InputError as exc:
        c.extend(exc)
    put(spec, "grouping", _enum(Grouping, spec.grouping, "grouping", c))
    sb = spec.staging_bits
    ok = sb is None or (isinstance(sb, int) and not isinstance(sb, bool) and 2 <= sb <= 16)
    c.check(ok, "staging_bits", "must be an int in 2..16 or null", sb)
    if cs is not None and spec.selection is Selection.VARIANCE and len(cs.formats) > 1:
        c.check(
            variance_positions(cs) is not None,
            "selection",
            "variance needs candidates holding mant4_a0, mant4_a25 and int4 (use lut or "
            "oracle for " + cs.name + ")",
            "variance",
        )


def _strict_rules(
    spec: QuantSpec, cs: CandidateSet | None, gran: Granularity | None, c: IssueCollector
) -> None:
    """Validate and resolve ``spec`` as the executing quantizer runs it (``rules="config"``):
    block formats fix their block and scale, a weight-error rule, OliVe pairs, output-MSE's
    limits; group size None for channel and tensor. Issue paths name ``format``."""
    put = object.__setattr__
    given = spec.scale_format
    try:
        put(spec, "scale_format", parse_scale_format(ScaleFormat.FP16 if given is None else given))
    except InputError as exc:
        c.extend(exc)
    c.check(isinstance(spec.clip_search, bool), "clip_search", "must be a bool", spec.clip_search)
    sel = _config_selection(spec.selection)
    if sel is None:
        c.add(
            "selection",
            "must be one of " + ", ".join(s.value for s in CONFIG_SELECTIONS),
            spec.selection,
        )
    else:
        put(spec, "selection", sel)
        if sel is Selection.OUTPUT_MSE:
            if cs is not None:
                plain = not any(
                    isinstance(f, BlockFormat | OliveFormat) or f.asymmetric for f in cs.formats
                )
                c.check(
                    plain,
                    "format",
                    "must be symmetric grid formats (no block, OliVe or _asym format) "
                    "with selection output_mse",
                    cs.name,
                )
            c.check(
                gran is None or gran is Granularity.GROUP,
                "granularity",
                "must be group with selection output_mse",
                getattr(gran, "value", gran),
            )
            c.check(
                spec.clip_search is not True,
                "clip_search",
                "must be false with selection output_mse",
                spec.clip_search,
            )
    g = spec.group_size
    block = cs.formats[0] if cs is not None and isinstance(cs.formats[0], BlockFormat) else None
    if gran is not None and gran is not Granularity.GROUP:
        c.check(block is None, "granularity", "must be group for a block format", gran.value)
        put(spec, "group_size", None)
    elif block is not None:
        if g is None:
            put(spec, "group_size", block.block)
        else:
            c.check(g == block.block, "group_size", f"must be {block.block} for {block.name}", g)
        c.check(
            given is None or str(given) == str(block.scale),
            "scale_format",
            f"must be left unset or be {block.scale} for {block.name}",
            str(given),
        )
        put(spec, "scale_format", ScaleFormat(str(block.scale)))
    elif g is None:
        put(spec, "group_size", 64)
    else:
        ok = not isinstance(g, bool) and isinstance(g, int | np.integer)
        c.check(ok and g >= 1, "group_size", "must be an int >= 1", g)
        if ok and cs is not None and isinstance(cs.formats[0], OliveFormat):
            c.check(g % 2 == 0, "group_size", "must be even for OliVe pairs", g)


_TENSOR_KEYS = (
    "format",
    "group_size",
    "granularity",
    "scale_format",
    "selection",
    "grouping",
    "staging_bits",
    "clip_search",
    "algorithm",
    "rotation",
    "rotation_block",
)
_DEFAULT_GROUPING = {Kind.KEY: Grouping.TOKEN, Kind.VALUE: Grouping.CHANNEL}


def _default_kv_selection(kwargs: dict[str, Any]) -> None:
    """A KV candidate set without a rule takes the authors' variance rule when it holds their
    three types (a = 0, a = 25, INT4), else the calibrated LUT."""
    if "selection" in kwargs or not isinstance(kwargs.get("format"), str):
        return
    from mant.kv_select import variance_positions

    try:
        cs = candidate_set(kwargs["format"])
    except InputError:
        return  # reported when the recipe is built
    if len(cs.formats) > 1:
        kwargs["selection"] = "variance" if variance_positions(cs.name) else "lut"


def _int(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _check_kind(t: QuantSpec, kind: Kind, path: str) -> None:
    """Rules that depend on where a tensor recipe is used."""
    c = IssueCollector()
    if kind in WEIGHT_KINDS:
        c.check(
            t.selection in _WEIGHT_SELECTIONS,
            f"{path}.selection",
            "must be weight_mse or output_mse for weights",
            t.selection.value,
        )
    elif kind in KV_KINDS:
        c.check(
            t.selection in _KV_SELECTIONS,
            f"{path}.selection",
            "must be variance, lut or oracle for the KV cache",
            t.selection.value,
        )
        c.check(t.grouping is not None, f"{path}.grouping", "must be token or channel", t.grouping)
        c.check(
            t.granularity is Granularity.GROUP,
            f"{path}.granularity",
            "must be group for the KV cache",
            t.granularity.value,
        )
    else:
        c.check(
            t.selection in (Selection.NONE, Selection.WEIGHT_MSE),
            f"{path}.selection",
            "must be none (or weight_mse for a candidate set) for activations",
            t.selection.value,
        )
    if kind is not Kind.VALUE or t.grouping is not Grouping.CHANNEL:
        c.check(
            t.staging_bits is None,
            f"{path}.staging_bits",
            "applies only to value grouped per channel",
            t.staging_bits,
        )
    if kind not in KV_KINDS:
        c.check(
            t.grouping is None, f"{path}.grouping", "applies only to key and value", t.grouping
        )
    if kind not in WEIGHT_KINDS:
        c.check(
            t.algorithm is Algorithm.RTN,
            f"{path}.algorithm",
            "applies only to weights (activations and KV are rounded to nearest)",
            t.algorithm.value,
        )
        c.check(
            t.rotation is Rotation.NONE,
            f"{path}.rotation",
            "applies only to weights",
            t.rotation.value,
        )
    elif t.algorithm is Algorithm.GPTQ:
        _check_gptq(t, path, c)
    c.raise_if_any()


def _check_gptq(t: QuantSpec, path: str, c: IssueCollector) -> None:
    """GPTQ's limits on the format, as ``mant.gptq`` states them: it rounds element by element
    on a grid with the group's scale, so no OliVe pairs and no family that rounds its own way
    (a registered group quantizer other than the block formats')."""
    from mant.formats import Family
    from mant.registry import group_quantizer

    cs = t.candidate_set
    if cs is None:
        c.add(f"{path}.format", "must be a grid format with algorithm gptq", "tender")
        return
    fmt = cs.formats[0]
    if isinstance(fmt, OliveFormat):
        c.add(f"{path}.format", "must round element by element with algorithm gptq", cs.name)
    elif group_quantizer(fmt.family) is not None and fmt.family != Family.BLOCK:
        c.add(
            f"{path}.format",
            f"must round on a grid with its group's scale with algorithm gptq ({fmt.family} "
            "rounds its own way)",
            cs.name,
        )
