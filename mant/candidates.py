"""Candidate sets: the formats a group may choose from, and coefficient families.

A spec is one of:

* a named set: ``mant-unicore16`` (a in {0,5,10,17,20,30,...,120} + INT4, the UniCore port,
  mant.md §3), ``mant-dense`` (a in 0..127), ``ant`` (int4, pot4, flint4; ANT's type search,
  mant.md §9.1), ``olive`` (int4, flint4: the normal-value types of OliVe's ``ant-int-flint``
  mode, without outliers), ``olive-ovp`` (OliVe for real: int or flint normals with abfloat
  outliers and outlier-victim pairs, :mod:`mant.olive`);
* a single format name, or a list of format names;
* a parametric coefficient family ``{"family": "linear"|"geometric"|"power", "n", "a_min",
  "a_max", "gamma", "k", "include_int", "zero"}``;
* a data-derived family ``{"family": "quantiles"|"kmeans", "n", "group_size", "k",
  "include_int", "coefficients"}`` once :func:`mant.data_families.data_family_set` has derived
  its ``coefficients`` from a calibration tensor (building a set never loads or quantizes data).

Coefficients are rounded to integers and de-duplicated (in order), so a set may hold fewer
than ``n`` MANT members. ``include_int`` appends ``int{k}``.

Example:
    >>> cs = candidate_set("mant-unicore16")
    >>> len(cs.formats), cs.selector_bits, cs.bits
    (16, 4, 4)
    >>> candidate_set({"family": "linear", "n": 4, "a_min": 0, "a_max": 30}).names
    ('mant4_a0', 'mant4_a10', 'mant4_a20', 'mant4_a30')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import mant.formats2026  # noqa: F401  (registers the 2025-26 formats and families)
from mant.errors import InputError, IssueCollector
from mant.formats import Format, MantFormat, parse_format
from mant.registry import candidate_family

__all__ = [
    "CandidateSet",
    "candidate_set",
    "family_coefficients",
    "NAMED_SETS",
]

UNICORE_A = (0, 5, 10, 17, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120)

NAMED_SETS: dict[str, tuple[str, ...]] = {
    "mant-unicore16": tuple(f"mant4_a{a}" for a in UNICORE_A) + ("int4",),
    "mant-dense": tuple(f"mant4_a{a}" for a in range(128)),
    "ant": ("int4", "pot4", "flint4"),
    "olive": ("int4", "flint4"),
    "olive-ovp": ("olive4_int", "olive4_flint"),
    # The three KV types of the M-ANT authors' real-time rule (mant_authors.md §2): PoT (a = 0),
    # NormalFloat-like (a = 25) and INT4.
    "mant-kv3": ("mant4_a0", "mant4_a25", "int4"),
}

_PARAM_FAMILIES = ("linear", "geometric", "power")
_DATA_FAMILIES = ("quantiles", "kmeans")
_KEYS = {
    "family",
    "n",
    "a_min",
    "a_max",
    "gamma",
    "k",
    "include_int",
    "zero",
    "calibration",
    "tensor",
    "coefficients",
    "group_size",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateSet:
    """An ordered set of formats; earlier members win exact MSE ties.

    Attributes:
        name: the set's name (a named set, a format name, or a generated label).
        formats: the members, in selection order.
    """

    name: str
    formats: tuple[Format, ...]

    def __post_init__(self) -> None:
        if not self.formats:
            raise InputError.single("candidates", "must hold at least one format", [])
        names = [f.name for f in self.formats]
        if len(set(names)) != len(names):
            raise InputError.single("candidates", "must not repeat a format", names)
        blocks = [f.name for f in self.formats if f.block_size is not None]
        if blocks and len(self.formats) > 1:
            raise InputError.single(
                "candidates", "a block format (MX, NVFP4) must be the only candidate", names
            )
        olive = [f.family == "olive" for f in self.formats]
        if any(olive) and not all(olive):
            raise InputError.single(
                "candidates", "OliVe formats cannot be mixed with other formats", names
            )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.formats)

    @property
    def selector_bits(self) -> int:
        """Bits of the per-group candidate index: ``ceil(log2(n))``, 0 for one member."""
        n = len(self.formats)
        return 0 if n == 1 else math.ceil(math.log2(n))

    @property
    def bits(self) -> int:
        """Element bits (the widest member)."""
        return max(f.bits for f in self.formats)

    def to_spec(self) -> str | list[str]:
        """Plain spec that :func:`candidate_set` turns back into an equal set."""
        if self.name in NAMED_SETS and NAMED_SETS[self.name] == self.names:
            return self.name
        if len(self.formats) == 1 and self.name == self.formats[0].name:
            return self.name
        return list(self.names)


def candidate_set(spec: Any) -> CandidateSet:
    """Build a :class:`CandidateSet` from a spec (see the module docstring).

    Raises:
        InputError: unknown names, bad family parameters or calibration data.
    """
    if isinstance(spec, CandidateSet):
        return spec
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in NAMED_SETS:
            return _cached_named(key)
        try:
            fmt = parse_format(key)
        except InputError:
            raise InputError.single(
                "candidates",
                "must be a named set (" + ", ".join(NAMED_SETS) + ") or a format name",
                spec,
            ) from None
        return CandidateSet(name=fmt.name, formats=(fmt,))
    if isinstance(spec, Mapping):
        build = candidate_family(spec.get("family"))  # mant.registry: levels, subblock, ...
        if build is not None:
            label, members = build(spec)
            return CandidateSet(name=label, formats=members)
        return _from_family(spec)
    if isinstance(spec, Sequence) and not isinstance(spec, bytes):
        c = IssueCollector()
        fmts = []
        for i, item in enumerate(spec):
            try:
                fmts.append(parse_format(item))
            except InputError as exc:
                c.extend(exc, f"candidates[{i}]")
        c.raise_if_any()
        return CandidateSet(name="+".join(f.name for f in fmts), formats=tuple(fmts))
    raise InputError.single(
        "candidates", "must be a set name, a format name, a list of names or a family dict", spec
    )


_NAMED_CACHE: dict[str, CandidateSet] = {}


def _cached_named(key: str) -> CandidateSet:
    if key not in _NAMED_CACHE:
        fmts = tuple(parse_format(n) for n in NAMED_SETS[key])
        _NAMED_CACHE[key] = CandidateSet(name=key, formats=fmts)
    return _NAMED_CACHE[key]


def _int_param(c: IssueCollector, spec: Mapping, key: str, default: int, lo: int, hi: int) -> int:
    v = spec.get(key, default)
    ok = bool(not isinstance(v, bool) and isinstance(v, int | np.integer) and lo <= v <= hi)
    c.check(ok, f"candidates.{key}", f"must be an int in {lo}..{hi}", v)
    return int(v) if ok else default


def family_coefficients(
    family: str, *, n: int, a_min: float, a_max: float, gamma: float = 2.0
) -> tuple[int, ...]:
    """Integer coefficients of a parametric family, rounded and de-duplicated in order.

    ``linear``: evenly spaced; ``geometric``: evenly spaced in ``log(a + 1)``; ``power``:
    ``a_min + (a_max - a_min) * t^gamma`` for ``t`` evenly spaced in [0, 1].

    Example:
        >>> family_coefficients("geometric", n=4, a_min=0, a_max=63)
        (0, 3, 15, 63)
    """
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    if family == "linear":
        a = a_min + (a_max - a_min) * t
    elif family == "geometric":
        a = (a_min + 1.0) * ((a_max + 1.0) / (a_min + 1.0)) ** t - 1.0
    elif family == "power":
        a = a_min + (a_max - a_min) * t**gamma
    else:
        raise InputError.single("candidates.family", "must be linear, geometric or power", family)
    return tuple(dict.fromkeys(int(v) for v in np.floor(a + 0.5)))


def _from_family(spec: Mapping) -> CandidateSet:
    c = IssueCollector()
    unknown = sorted(set(spec) - _KEYS)
    c.check(not unknown, "candidates", "unknown keys; valid: " + ", ".join(sorted(_KEYS)), unknown)
    family = spec.get("family")
    c.check(
        family in _PARAM_FAMILIES + _DATA_FAMILIES,
        "candidates.family",
        "must be one of " + ", ".join(_PARAM_FAMILIES + _DATA_FAMILIES),
        family,
    )
    n = _int_param(c, spec, "n", 8, 1, 128)
    k = _int_param(c, spec, "k", 4, 2, 8)
    include_int = spec.get("include_int", False)
    c.check(isinstance(include_int, bool), "candidates.include_int", "must be a bool", include_int)
    zero = spec.get("zero", False)
    c.check(isinstance(zero, bool), "candidates.zero", "must be a bool", zero)
    coeffs: tuple[int, ...] = ()
    if family in _PARAM_FAMILIES:
        a_min = _int_param(c, spec, "a_min", 0, 0, 10**6)
        a_max = _int_param(c, spec, "a_max", 120, 0, 10**6)
        c.check(a_max >= a_min, "candidates.a_max", f"must be >= a_min ({a_min})", a_max)
        gamma = spec.get("gamma", 2.0)
        ok_gamma = isinstance(gamma, int | float) and not isinstance(gamma, bool) and gamma > 0
        c.check(ok_gamma, "candidates.gamma", "must be a number > 0", gamma)
        c.raise_if_any()
        coeffs = family_coefficients(family, n=n, a_min=a_min, a_max=a_max, gamma=float(gamma))
        label = f"{family}{n}_a{a_min}-{a_max}" + (f"_g{gamma}" if family == "power" else "")
    elif family in _DATA_FAMILIES:
        resolved = spec.get("coefficients")
        ok = isinstance(resolved, list | tuple) and all(
            isinstance(a, int | np.integer) and not isinstance(a, bool) and 0 <= a
            for a in resolved
        )
        c.check(
            ok,
            "candidates.family",
            "a data-derived family is resolved from its calibration tensor first "
            "(mant.data_families.data_family_set)",
            family,
        )
        c.raise_if_any()
        coeffs = tuple(int(a) for a in resolved)  # type: ignore[union-attr]
        label = f"{family}{n}_g{spec.get('group_size', 64)}"
    c.raise_if_any()
    fmts: list[Format] = [MantFormat(k=k, a=a, zero=zero) for a in coeffs]
    if include_int:
        fmts.append(parse_format(f"int{k}"))
        label += "+int"
    return CandidateSet(name=label, formats=tuple(fmts))
