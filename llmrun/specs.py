"""Spec strings for weight and KV-cache quantization (CLI flags and study parameters).

Grammar (fields separated by ``:``; the first is a format name of :func:`mant.formats.parse_format`
or a candidate-set name of ``mant.candidates``):

* weights: ``NAME[:gN][:scale=FMT]``, e.g. ``mant-unicore16:g64``, ``int4_asym:g128``, ``mxfp4``.
* KV cache: ``NAME[:gN][:realtime|oracle][:k=channel|token][:v=channel|token][:ref]``, e.g.
  ``int4_asym:g64``, ``mant-unicore16:g64:realtime``. ``ref`` selects the simple per-token INT
  quantizer of :mod:`llmrun.hooks` (the ``real_models.md`` §6 demo: K and V grouped along
  head_dim) instead of ``mant.kv``; it accepts only ``intK`` / ``intK_asym``.
* ``fp32`` or ``none`` means no quantization (``None``).

Parsing checks the grammar and returns frozen specs; building the ``mant`` config objects
(:meth:`WeightSpec.to_config`, :meth:`KVSpec.to_config`) validates the names against ``mant``.

Example:
    >>> parse_weight_spec("mant-unicore16:g64")
    WeightSpec(name='mant-unicore16', group_size=64, scale_format=None)
    >>> parse_kv_spec("int4_asym:g64:ref").reference
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from mant.errors import InputError, IssueCollector

__all__ = ["KVSpec", "WeightSpec", "check_spec_names", "parse_kv_spec", "parse_weight_spec"]

_NONE = ("fp32", "none", "")
_GROUP = re.compile(r"^g(\d+)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
_REF_INT = re.compile(r"^int(\d+)(_asym)?$")
Grouping = Literal["channel", "token"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightSpec:
    """Weight quantization: a format or candidate set, a group size and a scale format.

    Attributes:
        name: format or candidate-set name.
        group_size: values per group along in_features (None: the format's own block / the
        default).
        scale_format: group scale format (None: ``QuantConfig``'s default).
    """

    name: str
    group_size: int | None = None
    scale_format: str | None = None

    def to_config(self) -> Any:
        """The ``mant.quantize.QuantConfig`` (groups along in_features, ``axis=-1``)."""
        from mant.quantize import QuantConfig

        kwargs: dict[str, Any] = {"candidates": self.name, "axis": -1}
        if self.group_size is not None:
            kwargs["group_size"] = self.group_size
        if self.scale_format is not None:
            kwargs["scale_format"] = self.scale_format
        return QuantConfig(**kwargs)

    def __str__(self) -> str:
        parts = [self.name]
        parts += [f"g{self.group_size}"] if self.group_size else []
        parts += [f"scale={self.scale_format}"] if self.scale_format else []
        return ":".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class KVSpec:
    """KV-cache quantization of post-RoPE K and V (see ``mant.kv``).

    Attributes:
        name: format or candidate-set name.
        group_size: values per group (None: the ``mant.kv`` default).
        selection: ``realtime`` (threshold LUT) or ``oracle`` (search); None: the ``mant.kv``
            default (a single format needs no selection: both give the same result).
        k_grouping / v_grouping: group direction (None: ``mant.kv`` defaults, K channel, V token).
        reference: use the simple per-token INT quantizer of :mod:`llmrun.hooks`.
    """

    name: str
    group_size: int | None = None
    selection: Literal["realtime", "oracle"] | None = None
    k_grouping: Grouping | None = None
    v_grouping: Grouping | None = None
    reference: bool = False

    @property
    def ref_bits(self) -> int:
        """Bit width of a ``ref`` INT spec."""
        m = _REF_INT.match(self.name)
        return int(m.group(1)) if m else 0

    @property
    def ref_symmetric(self) -> bool:
        return not self.name.endswith("_asym")

    def to_config(self) -> Any:
        """The ``mant.kv.KVQuantConfig`` (not for ``ref`` specs)."""
        from mant.kv import KVQuantConfig

        if self.reference:
            raise InputError.single("kv", "a 'ref' spec has no mant.kv config", str(self))
        kwargs: dict[str, Any] = {"candidates": self.name}
        optional = {
            "group_size": self.group_size,
            "selection": self.selection,
            "k_grouping": self.k_grouping,
            "v_grouping": self.v_grouping,
        }
        kwargs |= {k: v for k, v in optional.items() if v is not None}
        return KVQuantConfig(**kwargs)

    def __str__(self) -> str:
        parts = [self.name]
        parts += [f"g{self.group_size}"] if self.group_size else []
        parts += [self.selection] if self.selection else []
        parts += [f"k={self.k_grouping}"] if self.k_grouping else []
        parts += [f"v={self.v_grouping}"] if self.v_grouping else []
        parts += ["ref"] if self.reference else []
        return ":".join(parts)


def _split(spec: Any, path: str) -> tuple[str, list[str]] | None:
    """``None`` for a no-quantization spec (``None``, ``fp32``, ``none``), else the name and
    the fields after it; a spec that is not a string or has no name is an :class:`InputError`."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in _NONE):
        return None
    if not isinstance(spec, str):
        raise InputError.single(path, "must be a spec string like 'mant-unicore16:g64'", spec)
    fields = [f.strip() for f in spec.strip().lower().split(":")]
    if not _NAME.match(fields[0]):
        raise InputError.single(path, "must start with a format or candidate-set name", spec)
    return fields[0], fields[1:]


def _group(field: str, path: str, c: IssueCollector) -> int | None:
    m = _GROUP.match(field)
    if m is None:
        return None
    g = int(m.group(1))
    c.check(g >= 1, f"{path}.group_size", "must be an int >= 1", g)
    return g


def parse_weight_spec(spec: str | None, path: str = "weights") -> WeightSpec | None:
    """Parse ``NAME[:gN][:scale=FMT]``; ``None`` / ``fp32`` / ``none`` give ``None``.

    Raises:
        InputError: malformed spec (each bad field is one issue).
    """
    parsed = _split(spec, path)
    if parsed is None:
        return None
    name, rest = parsed
    c = IssueCollector()
    group, scale = None, None
    for field in rest:
        if _GROUP.match(field):
            group = _group(field, path, c)
        elif field.startswith("scale=") and len(field) > 6:
            scale = field[6:]
        else:
            c.add(path, "fields after the name must be gN or scale=FMT", field)
    c.raise_if_any()
    return WeightSpec(name=name, group_size=group, scale_format=scale)


def parse_kv_spec(spec: str | None, path: str = "kv") -> KVSpec | None:
    """Parse ``NAME[:gN][:realtime|oracle][:k=..][:v=..][:ref]``; ``fp32`` / ``none`` give
    ``None``.

    Raises:
        InputError: malformed spec (each bad field is one issue).
    """
    parsed = _split(spec, path)
    if parsed is None:
        return None
    name, rest = parsed
    c = IssueCollector()
    out: dict[str, Any] = {"name": name}
    for field in rest:
        if _GROUP.match(field):
            out["group_size"] = _group(field, path, c)
        elif field in ("realtime", "oracle"):
            out["selection"] = field
        elif field in ("k=channel", "k=token", "v=channel", "v=token"):
            out[f"{field[0]}_grouping"] = field[2:]
        elif field == "ref":
            out["reference"] = True
        else:
            c.add(
                path,
                "fields after the name must be gN, realtime, oracle, k=/v=channel|token or ref",
                field,
            )
    if out.get("reference"):
        c.check(
            _REF_INT.match(name) is not None, path, "a 'ref' spec needs intK or intK_asym", name
        )
        c.check(
            "selection" not in out and "k_grouping" not in out and "v_grouping" not in out,
            path,
            "a 'ref' spec takes only gN (K and V are grouped per token)",
            spec,
        )
    c.raise_if_any()
    return KVSpec(**out)


def check_spec_names(weights: WeightSpec | None, kv: KVSpec | None) -> None:
    """Build the ``mant`` configs once so that unknown names fail early, all issues together."""
    c = IssueCollector()
    for path, spec in (("weights", weights), ("kv", kv)):
        if spec is None or getattr(spec, "reference", False):
            continue
        try:
            spec.to_config()
        except InputError as exc:
            c.extend(exc, path)
    c.raise_if_any()
