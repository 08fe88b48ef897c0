"""The ``levels`` family: formats defined by an explicit sorted list of values (issue 20, point 1).

A :class:`LevelsFormat` is one list of signed levels (in grid units; need not be symmetric, need
not be a power of two long). A *levels set* is several lists, one chosen per group with a selector,
written as data::

    {"family": "levels", "sets": [[-6, ..., 6], [-6, ..., 5, 6]], "scale": "absmax", "tie": "down"}

Rule (one numba kernel, :mod:`mant._levels_kernels`):

* per group and list, scale ``s = absmax / max|levels|`` rounded to the config's scale format;
  with ``scale: mse`` the group's absmax may also map to the list's second-largest magnitude
  (Four Over Six's "max -> 6 or max -> 4", generalised) and the smaller error wins;
* elements: threshold rounding onto the list, ``x`` against ``fl(t * s)`` for each midpoint ``t``
  (``tie: down``, an exact midpoint goes to the lower level, as BitMoD's and RaZeR's code) or
  round half to even on the code (``tie: even``), clamped at the ends;
* selection: least mean squared error, earlier list (then larger mapped magnitude) on ties.

Bits per element: ``ceil(log2(len(levels)))`` element bits plus the scale format's bits and
``ceil(log2(n_lists))`` selector bits per group (``QuantConfig.bits_per_element``).

Example:
    >>> f = parse_levels("levels(-2,-1,0,1,2,3)")
    >>> f.bits, f.max_abs
    (3, 3.0)
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mant._arith import ARITH_F64
from mant.errors import InputError, IssueCollector
from mant.formats import Format
from mant.result import GroupQuant
from mant.scales import ScaleFormat, round_scales

__all__ = [
    "LevelsFormat",
    "parse_levels",
    "levels_family",
    "quantize_levels_groups",
    "finish_groups",
    "grid_codes",
    "grid_code_table",
    "LEVELS_FAMILY",
    "LEVELS_KEYS",
]

ScaleRule = Literal["absmax", "mse"]
TieRule = Literal["down", "even"]

LEVELS_KEYS = ("family", "sets", "scale", "tie")
LEVELS_FAMILY = "level_lists"
"""The family (:mod:`mant.registry` key) of :class:`LevelsFormat` (own scale and tie rules)."""
_RE_LEVELS = re.compile(r"^levels\(([^)]*)\)(_mse)?(_even)?$")


def _fmt_value(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelsFormat(Format):
    """An explicit sorted list of levels (grid units), with its scale and tie rules.

    Args:
        levels: strictly increasing finite values, 2..256 of them, at least one non-zero.
        scale_rule: ``absmax`` (absmax -> largest magnitude) or ``mse`` (also try the second
            largest magnitude; least error wins).
        tie: ``down`` (midpoint -> lower level) or ``even`` (midpoint -> even code).

    Example:
        >>> LevelsFormat(levels=(-1.0, 0.0, 1.0, 2.0)).name
        'levels(-1,0,1,2)'
    """

    levels: tuple[float, ...]
    scale_rule: ScaleRule = "absmax"
    tie: TieRule = "down"

    def __post_init__(self) -> None:
        c = IssueCollector()
        try:
            lv = tuple(float(v) for v in self.levels)
        except (TypeError, ValueError):
            raise InputError.single(
                "format.levels", "must be a list of numbers", self.levels
            ) from None
        ok = (
            2 <= len(lv) <= 256
            and all(math.isfinite(v) for v in lv)
            and all(a < b for a, b in zip(lv, lv[1:], strict=False))
            and any(v != 0 for v in lv)
        )
        c.check(ok, "format.levels", "must be 2..256 strictly increasing finite numbers", lv)
        c.check(
            self.scale_rule in ("absmax", "mse"),
            "format.scale",
            "must be absmax or mse",
            self.scale_rule,
        )
        c.check(self.tie in ("down", "even"), "format.tie", "must be down or even", self.tie)
        c.raise_if_any()
        object.__setattr__(self, "levels", lv)

    @property
    def name(self) -> str:
        body = ",".join(_fmt_value(v) for v in self.levels)
        return (
            f"levels({body})"
            + ("_mse" if self.scale_rule == "mse" else "")
            + ("_even" if self.tie == "even" else "")
        )

    @property
    def bits(self) -> int:
        return max(1, math.ceil(math.log2(len(self.levels))))

    @property
    def family(self) -> str:
        return LEVELS_FAMILY

    def _build_grid(self) -> np.ndarray:
        return np.asarray(self.levels, dtype=np.float64)

    @property
    def targets(self) -> tuple[float, ...]:
        """Magnitudes the group absmax maps to (the first is the default)."""
        mags = sorted({abs(v) for v in self.levels}, reverse=True)
        return tuple(mags[:2]) if self.scale_rule == "mse" and len(mags) > 1 else (mags[0],)


def parse_levels(name: str) -> LevelsFormat | None:
    """``levels(v0,v1,..)[_mse][_even]`` -> :class:`LevelsFormat`; ``None`` for other names."""
    m = _RE_LEVELS.match(name.strip().lower())
    if m is None:
        return None
    try:
        values = tuple(float(v) for v in m.group(1).split(","))
    except ValueError:
        raise InputError.single("format", "levels(...) must list numbers", name) from None
    return LevelsFormat(
        levels=values,
        scale_rule="mse" if m.group(2) else "absmax",
        tie="even" if m.group(3) else "down",
    )


def levels_family(spec: Mapping[str, Any]) -> tuple[str, tuple[LevelsFormat, ...]]:
    """``{family: levels, sets: [[..], ..], scale: absmax|mse, tie: down|even}`` -> (label,
    members). Raises :class:`InputError` listing every problem."""
    c = IssueCollector()
    unknown = sorted(set(spec) - set(LEVELS_KEYS))
    c.check(not unknown, "candidates", "unknown keys; valid: " + ", ".join(LEVELS_KEYS), unknown)
    sets = spec.get("sets")
    ok = isinstance(sets, Sequence) and not isinstance(sets, str) and 1 <= len(sets) <= 256
    c.check(ok, "candidates.sets", "must be a list of 1..256 level lists", sets)
    scale = spec.get("scale", "absmax")
    c.check(scale in ("absmax", "mse"), "candidates.scale", "must be absmax or mse", scale)
    tie = spec.get("tie", "down")
    c.check(tie in ("down", "even"), "candidates.tie", "must be down or even", tie)
    c.raise_if_any()
    members = []
    for i, levels in enumerate(sets):  # type: ignore[arg-type]
        try:
            members.append(LevelsFormat(levels=tuple(levels), scale_rule=scale, tie=tie))
        except (InputError, TypeError) as exc:
            if isinstance(exc, InputError):
                c.extend(exc, f"candidates.sets[{i}]")
            else:
                c.add(f"candidates.sets[{i}]", "must be a list of numbers", levels)
    c.raise_if_any()
    width = max(len(f.levels) for f in members)
    return f"levels{len(members)}x{width}" + ("_mse" if scale == "mse" else ""), tuple(members)


@functools.lru_cache(maxsize=256)
def _tables(formats: tuple[LevelsFormat, ...]) -> tuple[np.ndarray, ...]:
    width = max(len(f.levels) for f in formats)
    levels = np.zeros((len(formats), width))
    mids = np.zeros((len(formats), max(width - 1, 1)))
    n_lev = np.zeros(len(formats), dtype=np.int64)
    zeros = np.zeros(len(formats), dtype=np.int64)
    for c, f in enumerate(formats):
        lv = np.asarray(f.levels)
        levels[c, : len(lv)] = lv
        mids[c, : len(lv) - 1] = (lv[1:] + lv[:-1]) / 2
        n_lev[c] = len(lv)
        zeros[c] = int(np.argmin(np.abs(lv)))
    return levels, mids, n_lev, zeros


def run_levels(
    groups: np.ndarray,
    lengths: np.ndarray,
    scales: np.ndarray,
    formats: Sequence[LevelsFormat],
    *,
    ref: np.ndarray | None = None,
    arith: int = ARITH_F64,
    tie_even: bool = False,
    best0: float = math.inf,
    choice: np.ndarray | None = None,
    repeat: int = 1,
    out_f16: bool = False,
) -> tuple[np.ndarray, ...]:
    """Run the kernel; ``repeat`` > 1 gives each format that many scale columns in a row.

    Returns ``(column chosen (-1: none), level index, dequantized float32, mse, energy)``.
    """
    from mant import _levels_kernels  # numba: loaded when quantizing, not when resolving names

    levels, mids, n_lev, zeros = _tables(tuple(formats))
    if repeat > 1:
        levels, mids = np.repeat(levels, repeat, 0), np.repeat(mids, repeat, 0)
        n_lev, zeros = np.repeat(n_lev, repeat), np.repeat(zeros, repeat)
    ch_in = np.full(groups.shape[0], -1, dtype=np.int64) if choice is None else choice
    g32 = np.ascontiguousarray(groups, dtype=np.float32)
    return _levels_kernels.levels_search(
        g32,
        g32 if ref is None else np.ascontiguousarray(ref, dtype=np.float32),
        np.ascontiguousarray(lengths, dtype=np.int64),
        np.ascontiguousarray(scales, dtype=np.float64),
        levels,
        mids,
        n_lev,
        zeros,
        arith,
        tie_even,
        best0,
        np.ascontiguousarray(ch_in, dtype=np.int64),
        repeat,
        out_f16,
    )


def finish_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    deq: np.ndarray,
    codes: np.ndarray,
    scales: np.ndarray,
    choice: np.ndarray,
) -> GroupQuant:
    """Package a quantizer's output: errors against the float32 input, padding zeroed."""
    from mant import _levels_kernels  # numba: loaded when quantizing, not when resolving names

    g = groups.shape[1]
    deq32 = np.array(deq, dtype=np.float32, order="C")
    err, energy = _levels_kernels.group_errors(
        np.ascontiguousarray(groups, dtype=np.float32), deq32, np.asarray(lengths, np.int64)
    )
    codes = np.asarray(codes).astype(np.int16)
    if int(np.min(lengths)) < g:
        codes = np.where(np.arange(g)[None, :] < lengths[:, None], codes, 0).astype(np.int16)
    return GroupQuant(
        dequantized=deq32,
        codes=codes,
        scales=np.asarray(scales, dtype=np.float64),
        choice=np.asarray(choice).astype(np.int16),
        group_error=err,
        energy=energy,
    )


def quantize_levels_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    formats: Sequence[LevelsFormat],
    scale_format: ScaleFormat,
    choice: np.ndarray | None,
) -> GroupQuant:
    """Quantize groups with a set of :class:`LevelsFormat` (see the module docstring)."""
    rules = {(f.scale_rule, f.tie) for f in formats}
    if len(rules) != 1:
        raise InputError.single(
            "candidates",
            "levels formats of one set must share scale and tie rules",
            [f.name for f in formats],
        )
    amax = np.maximum(groups.max(axis=1), -groups.min(axis=1)).astype(np.float64)
    targets = [f.targets for f in formats]
    k = max(len(t) for t in targets)
    cols = np.array([t[min(j, len(t) - 1)] for t in targets for j in range(k)])
    scales = round_scales(amax[:, None] / cols[None, :], scale_format)
    ch_in = None if choice is None else np.asarray(choice, dtype=np.int64) * k
    col, idx, deq, err, energy = run_levels(
        groups,
        lengths,
        scales,
        formats,
        tie_even=formats[0].tie == "even",
        choice=ch_in,
        repeat=k,
    )
    sel = scales[np.arange(len(col)), col]
    return GroupQuant(
        dequantized=deq,
        codes=idx,
        scales=sel,
        choice=(col // k).astype(np.int16),
        group_error=err,
        energy=energy,
    )


def grid_codes(grid: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Index in a sign-symmetric ``grid`` whose values are multiples of 1/8 of each value of
    ``q`` (2-D, float32 values; one compiled pass).

    Example:
        >>> grid_codes(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), np.array([[-2.0, 0.0, 1.0]]))
        array([[0, 2, 3]], dtype=int16)
    """
    from mant import _levels_kernels  # numba: loaded when quantizing, not when resolving names

    table, zero = grid_code_table(grid)
    return _levels_kernels.grid_codes_of(np.ascontiguousarray(q, dtype=np.float32), table, zero)


def grid_code_table(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """The lookup of :func:`grid_codes`: (grid index of each magnitude ``k / 8``, int16; the
    index of 0). A value ``q`` has code ``zero +- (table[rint(8 |q|)] - zero)``, minus for
    ``q < 0``."""
    table = np.zeros(int(grid[-1] * 8) + 1, dtype=np.int16)
    table[np.rint(grid[grid >= 0] * 8).astype(np.int64)] = np.flatnonzero(grid >= 0)
    return table, int(np.flatnonzero(grid == 0)[0])
