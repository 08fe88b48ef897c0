"""Per-group type selection for the real-time KV quantizer: statistics and threshold LUTs.

The real-time quantization unit (RQU) of ``mant.md`` §7 computes a group's absmax and one
cheap statistic in one pass and maps the statistic through a short sorted threshold table;
which statistic M-ANT uses is unknown ([U]). This module holds the statistics
(:func:`group_statistic`), the threshold LUT (:class:`Thresholds`, :func:`select_realtime`,
and the shipped :func:`default_thresholds`). A one-candidate set needs no selection: its LUT is
the trivial one-entry table. The calibration (:func:`calibrate_thresholds`,
:func:`thresholds_for`, :func:`candidate_errors`) lives in :mod:`mant.kv_calibrate` and is
re-exported by :mod:`mant.kv`, which applies the selected candidates.

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    >>> lut = default_thresholds("mant-unicore16", "rms_absmax", 64)
    >>> select_realtime(g, lut).shape
    (4,)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numba import njit, prange

from mant.candidates import candidate_set
from mant.errors import InputError, IssueCollector

__all__ = [
    "Statistic",
    "ThresholdRule",
    "Thresholds",
    "default_thresholds",
    "group_statistic",
    "normalized_variance",
    "select_realtime",
    "select_variance",
    "variance_positions",
    "VARIANCE_EDGES",
    "VARIANCE_TYPES",
]

_DATA_FILE = "kv_thresholds.json"


class Statistic(StrEnum):
    """One-pass group statistics the RQU can compute next to absmax."""

    RMS_ABSMAX = "rms_absmax"  # RMS / absmax = 1 / crest factor (default; mant.md §7.1)
    MEANABS_ABSMAX = "meanabs_absmax"  # mean |x| / absmax
    STD_ABSMAX = "std_absmax"  # standard deviation / absmax
    CREST = "crest"  # absmax / RMS (UniCore's kappa; decreasing in the optimal a)
    KURTOSIS = "kurtosis"  # E[x^4] / E[x^2]^2 (raw moments; decreasing in the optimal a)


class ThresholdRule(StrEnum):
    """How :func:`calibrate_thresholds` places the thresholds."""

    MIDPOINT = "midpoint"  # midpoints between per-candidate medians of the statistic
    MIN_MSE = "min_mse"  # the monotone partition of the statistic with least total error


def _enum(kind: type[StrEnum], value: Any, path: str, c: IssueCollector) -> Any:
    try:
        return kind(value)
    except ValueError:
        c.add(path, f"must be one of {[m.value for m in kind]}", value)
        return None


# --------------------------------------------------------------------------- statistics


def _check_groups(groups: Any, path: str = "groups") -> np.ndarray:
    arr = np.asarray(groups)
    c = IssueCollector()
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        c.add(path, "must be a real-valued array", str(arr.dtype))
    elif arr.ndim != 2 or arr.shape[1] < 1:
        c.add(path, "must be 2-D (n_groups, group_size) with group_size >= 1", arr.shape)
    else:
        bad = ~np.isfinite(arr)
        if bad.any():
            c.add(path, "must be finite (no NaN or Inf)", f"{int(bad.sum())} non-finite values")
    c.raise_if_any()
    return arr.astype(np.float32, copy=False)


@njit(parallel=True, cache=True)
def _moments(x):  # pragma: no cover - compiled
    """One pass per group: absmax, sum x, sum |x|, sum x^2, sum x^4 (float64 accumulators)."""
    n, g = x.shape
    out = np.empty((n, 5), dtype=np.float64)
    for r in prange(n):
        amax = s1 = sa = s2 = s4 = 0.0
        for e in range(g):
            v = np.float64(x[r, e])
            a = abs(v)
            amax = max(amax, a)
            s1 += v
            sa += a
            q = v * v
            s2 += q
            s4 += q * q
        out[r, 0], out[r, 1], out[r, 2], out[r, 3], out[r, 4] = amax, s1, sa, s2, s4
    return out


def group_statistic(groups: Any, statistic: Statistic | str = Statistic.RMS_ABSMAX) -> np.ndarray:
    """The RQU's per-group statistic: one pass of absmax plus one or two moment sums.

    Args:
        groups: (n_groups, group_size) real values.
        statistic: which statistic (see :class:`Statistic`).

    Returns:
        (n_groups,) float64. All-zero groups give 0 (they need no type: every code is 0).

    Example:
        >>> float(group_statistic([[1.0, -1.0, 1.0, -1.0]])[0])
        1.0
    """
    c = IssueCollector()
    stat = _enum(Statistic, statistic, "statistic", c)
    c.raise_if_any()
    return _statistic(_check_groups(groups), stat)


def _statistic(x: np.ndarray, stat: Statistic) -> np.ndarray:
    """:func:`group_statistic` on groups already checked to be finite."""
    if x.shape[0] == 0:
        return np.zeros(0)
    mom = _moments(np.ascontiguousarray(x))
    g = x.shape[1]
    absmax, mean, meanabs, m2, m4 = (
        mom[:, 0],
        mom[:, 1] / g,
        mom[:, 2] / g,
        mom[:, 3] / g,
        mom[:, 4] / g,
    )
    live = absmax > 0
    safe_max = np.where(live, absmax, 1.0)
    safe_m2 = np.where(live, m2, 1.0)
    if stat is Statistic.RMS_ABSMAX:
        value = np.sqrt(m2) / safe_max
    elif stat is Statistic.MEANABS_ABSMAX:
        value = meanabs / safe_max
    elif stat is Statistic.STD_ABSMAX:
        value = np.sqrt(np.maximum(m2 - mean * mean, 0.0)) / safe_max
    elif stat is Statistic.CREST:
        value = safe_max / np.sqrt(safe_m2)
    else:
        value = m4 / safe_m2**2
    return np.where(live, value, 0.0)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """A threshold LUT: statistic in ``(edges[j-1], edges[j]]`` selects candidate ``choices[j]``.

    Attributes:
        statistic: the statistic the edges are in.
        candidate_set: name of the candidate set ``choices`` index into.
        candidates: names of the selected candidates, in LUT order.
        choices: their indices in the candidate set (``len(edges) + 1`` of them).
        edges: strictly increasing thresholds on the statistic (dimensionless).
        group_size: group size g the LUT was calibrated at.
        rule: how the edges were placed.
        source: where the calibration data came from.
        created: ISO date of the calibration.
        n_groups: calibration groups used.
        mse_ratio: real-time MSE / oracle MSE on the calibration data.
        heldout_mse_ratio: the same ratio on held-out groups (shipped tables; None if unknown).
    """

    statistic: Statistic
    candidate_set: str
    candidates: tuple[str, ...]
    choices: tuple[int, ...]
    edges: tuple[float, ...]
    group_size: int
    rule: ThresholdRule = ThresholdRule.MIN_MSE
    source: str = ""
    created: str = ""
    n_groups: int = 0
    mse_ratio: float | None = None
    heldout_mse_ratio: float | None = None

    def __post_init__(self) -> None:
        c = IssueCollector()
        stat = _enum(Statistic, self.statistic, "thresholds.statistic", c)
        rule = _enum(ThresholdRule, self.rule, "thresholds.rule", c)
        edges = tuple(float(e) for e in self.edges)
        choices = tuple(int(i) for i in self.choices)
        c.check(
            len(choices) >= 1, "thresholds.choices", "must name at least one candidate", choices
        )
        c.check(
            len(edges) == len(choices) - 1,
            "thresholds.edges",
            f"must have len(choices) - 1 = {len(choices) - 1} entries",
            len(edges),
        )
        c.check(
            len(self.candidates) == len(choices),
            "thresholds.candidates",
            f"must have one name per choice ({len(choices)})",
            len(self.candidates),
        )
        c.check(
            all(np.isfinite(edges)) and all(b > a for a, b in zip(edges, edges[1:], strict=False)),
            "thresholds.edges",
            "must be finite and strictly increasing",
            edges,
        )
        c.check(
            isinstance(self.group_size, int) and self.group_size >= 1,
            "thresholds.group_size",
            "must be an int >= 1",
            self.group_size,
        )
        c.raise_if_any()
        object.__setattr__(self, "statistic", stat)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "candidates", tuple(str(n) for n in self.candidates))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["statistic"] = self.statistic.value
        out["rule"] = self.rule.value
        out["candidates"] = list(self.candidates)
        out["choices"] = list(self.choices)
        out["edges"] = list(self.edges)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str = "thresholds") -> Thresholds:
        """Build from :meth:`to_dict` output; unknown keys are an :class:`InputError`."""
        _check_keys(data, cls, path)
        kwargs: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**kwargs)


def _check_keys(data: Mapping[str, Any], cls: type, path: str) -> None:
    if not isinstance(data, Mapping):
        raise InputError.single(path, "must be a mapping", type(data).__name__)
    c = IssueCollector()
    c.check_keys(data, path, allowed=[f.name for f in fields(cls) if f.init])
    c.raise_if_any()


def select_realtime(
    groups: Any, thresholds: Thresholds, statistic: Statistic | str | None = None
) -> np.ndarray:
    """Pick each group's candidate without search: one statistic, one ``searchsorted``.

    Args:
        groups: (n_groups, group_size) values.
        thresholds: the LUT.
        statistic: must equal ``thresholds.statistic`` when given.

    Returns:
        (n_groups,) int64 indices into the candidate set ``thresholds.candidate_set``.
    """
    if statistic is not None and Statistic(statistic) != thresholds.statistic:
        raise InputError.single(
            "statistic", f"must match the thresholds' statistic {thresholds.statistic}", statistic
        )
    return _lookup(group_statistic(groups, thresholds.statistic), thresholds)


def _lookup(stat: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    lut = np.asarray(thresholds.choices, dtype=np.int64)
    return lut[np.searchsorted(np.asarray(thresholds.edges), stat, side="left")]


@cache
def _shipped() -> tuple[Thresholds, ...]:
    text = resources.files("mant").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    entries = json.loads(text)["thresholds"]
    return tuple(
        Thresholds.from_dict(e, f"{_DATA_FILE}.thresholds[{i}]") for i, e in enumerate(entries)
    )


def default_thresholds(
    candidates: Any = "mant-unicore16",
    statistic: Statistic | str = Statistic.RMS_ABSMAX,
    group_size: int = 64,
) -> Thresholds:
    """The LUT that needs no calibration data: the shipped one (``mant/data``) for a candidate
    set, statistic and group size, or the trivial one-entry table of a one-candidate set.

    Raises:
        InputError: nothing shipped for that combination (the message lists what is).

    Example:
        >>> default_thresholds("int4", "rms_absmax", 64).choices  # nothing to select
        (0,)
    """
    c = IssueCollector()
    stat = _enum(Statistic, statistic, "kv.statistic", c)
    c.raise_if_any()
    cs = candidate_set(candidates)
    if len(cs.formats) == 1:
        return Thresholds(
            statistic=stat,
            candidate_set=cs.name,
            candidates=(cs.formats[0].name,),
            choices=(0,),
            edges=(),
            group_size=group_size,
            source="one candidate: every group takes it, no selection",
            mse_ratio=1.0,
        )
    for t in _shipped():
        if (t.candidate_set, t.statistic, t.group_size) == (cs.name, stat, group_size):
            return t
    shipped = sorted({(t.candidate_set, t.statistic.value, t.group_size) for t in _shipped()})
    raise InputError.single(
        "kv.thresholds",
        "no shipped thresholds; thresholds_for(..., calibration=groups) or "
        f"KVQuantConfig.calibrated(k, v) calibrates them; shipped: {shipped}",
        (cs.name, str(stat), group_size),
    )


# --------------------------------------------------------------------------- variance rule

VARIANCE_TYPES = ("mant4_a0", "mant4_a25", "int4")
"""The three types of the M-ANT authors' real-time KV rule (``mant_authors.md`` §2)."""

VARIANCE_EDGES = (0.05, 0.25)
"""var(x / absmax) < 0.05 -> a = 0; 0.05..0.25 (both ends included) -> a = 25; > 0.25 -> INT4."""


def normalized_variance(groups: Any, lengths: np.ndarray | None = None) -> np.ndarray:
    """Unbiased variance (divisor n - 1) of ``x / absmax`` per group, as the authors' RQU rule.

    Args:
        groups: (n_groups, group_size) values.
        lengths: valid values per group (zero-padded groups), or None (all valid).

    Returns:
        (n_groups,) float64; all-zero groups and one-value groups give 0.

    Example:
        >>> float(normalized_variance([[1.0, -1.0, 1.0, -1.0]])[0])  # 4 / 3
        1.3333333333333333
    """
    checked = _check_groups(groups)
    if lengths is None and checked.shape[0] and checked.shape[1] > 1:
        # one pass (numba moments): var(x/absmax) = (sum x^2 - (sum x)^2/n) / (n-1) / absmax^2
        mom = _moments(np.ascontiguousarray(checked))
        g = checked.shape[1]
        amax, s1, s2 = mom[:, 0], mom[:, 1], mom[:, 3]
        live = amax > 0
        var = np.maximum(s2 - s1 * s1 / g, 0.0) / (g - 1) / np.where(live, amax, 1.0) ** 2
        return np.where(live, var, 0.0)
    x = checked.astype(np.float64)
    n_all = x.shape[1]
    n = np.full(x.shape[0], n_all) if lengths is None else np.asarray(lengths)
    valid = np.arange(n_all)[None, :] < n[:, None]
    absmax = np.max(np.abs(x) * valid, axis=1)
    live = (absmax > 0) & (n > 1)
    y = x / np.where(live, absmax, 1.0)[:, None] * valid
    mean = y.sum(axis=1) / np.maximum(n, 1)
    ss = np.sum(np.square((y - mean[:, None]) * valid), axis=1)
    return np.where(live, ss / np.maximum(n - 1, 1), 0.0)


def variance_positions(candidates: Any) -> tuple[int, int, int] | None:
    """Indices of :data:`VARIANCE_TYPES` in a candidate set, or None when one is missing."""
    names = [f.name for f in candidate_set(candidates).formats]
    if not all(t in names for t in VARIANCE_TYPES):
        return None
    a0, a25, i4 = (names.index(t) for t in VARIANCE_TYPES)
    return a0, a25, i4


def select_variance(
    groups: Any, candidates: Any = "mant-kv3", lengths: np.ndarray | None = None
) -> np.ndarray:
    """The M-ANT authors' real-time rule: a = 0 / a = 25 / INT4 by var(x / absmax).

    Source: ``pseudo_quantize_mant`` in the authors' ``mant/quantize/quant_func.py`` (commit
    75fb156): ``torch.var`` (unbiased) of the group divided by its absmax; < 0.05 picks the
    a = 0 grid, 0.05..0.25 the a = 25 grid, > 0.25 INT4.

    Args:
        groups: (n_groups, group_size) values.
        candidates: a candidate set holding ``mant4_a0``, ``mant4_a25`` and ``int4``.
        lengths: valid values per group, or None.

    Returns:
        (n_groups,) int64 indices into the candidate set.

    Example:
        >>> flat = [[1.0, -1.0] * 32]  # var(x/absmax) ~ 1: INT4
        >>> spike = [[1.0] + [0.01] * 63]  # var ~ 0.015: a = 0
        >>> select_variance(flat + spike).tolist()
        [2, 0]
    """
    pos = variance_positions(candidates)
    if pos is None:
        raise InputError.single(
            "kv.candidates",
            "the variance rule needs a set holding " + ", ".join(VARIANCE_TYPES),
            candidate_set(candidates).name,
        )
    var = normalized_variance(groups, lengths)
    lo, hi = VARIANCE_EDGES
    pick = np.where(var < lo, pos[0], np.where(var <= hi, pos[1], pos[2]))
    return pick.astype(np.int64)
