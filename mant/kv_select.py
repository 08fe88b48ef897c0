"""Per-group type selection for the real-time KV quantizer: statistics, LUTs, calibration.

The real-time quantization unit (RQU) of ``mant.md`` §7 computes a group's absmax and one
cheap statistic in one pass and maps the statistic through a short sorted threshold table;
which statistic M-ANT uses is unknown ([U]). This module holds the statistics
(:func:`group_statistic`), the threshold LUT (:class:`Thresholds`, :func:`select_realtime`,
the shipped :func:`default_thresholds`), the offline calibration (:func:`calibrate_thresholds`)
and calibration on demand with an on-disk cache (:func:`thresholds_for`). A one-candidate set
needs no selection: its LUT is the trivial one-entry table. :mod:`mant.kv` applies the selected
candidates.

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    >>> lut = default_thresholds("mant-unicore16", "rms_absmax", 64)
    >>> select_realtime(g, lut).shape
    (4,)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit, prange

from mant.candidates import candidate_set
from mant.errors import InputError, IssueCollector
from mant.quantize import quantize_groups

__all__ = [
    "Statistic",
    "ThresholdRule",
    "Thresholds",
    "calibrate_thresholds",
    "candidate_errors",
    "default_thresholds",
    "group_statistic",
    "select_realtime",
    "thresholds_for",
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
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _check_keys(data: Mapping[str, Any], cls: type, path: str) -> None:
    if not isinstance(data, Mapping):
        raise InputError.single(path, "must be a mapping", type(data).__name__)
    valid = [f.name for f in fields(cls)]
    c = IssueCollector()
    for key in data:
        c.check(key in valid, f"{path}.{key}", f"is not a valid key; valid keys: {valid}", key)
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


# --------------------------------------------------------------------------- calibration


def candidate_errors(
    groups: Any, candidates: str = "mant-unicore16", *, scale_format: str = "fp32"
) -> np.ndarray:
    """Squared error of every group under every candidate, (n_groups, n_candidates) float64."""
    x = _check_groups(groups)
    cs = candidate_set(candidates)
    n, n_cand = x.shape[0], len(cs.formats)
    errors = np.zeros((n, n_cand))
    for j in range(n_cand):
        q = quantize_groups(x, cs, choice=np.full(n, j, dtype=np.int64), scale_format=scale_format)
        errors[:, j] = q.group_error * x.shape[1]  # group_error is a mean over the group
    return errors


def _min_mse_partition(errors: np.ndarray, max_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Monotone segmentation of stat-sorted groups into candidates with least total error.

    ``errors`` rows are sorted by the statistic and columns by the candidates' order. Groups
    are pooled into at most ``max_bins`` equal-count bins; a DP over bins finds the
    non-decreasing candidate sequence of least error. Returns (bin ends, column per bin).
    """
    n = errors.shape[0]
    ends = np.unique(np.linspace(0, n, min(n, max_bins) + 1).round().astype(np.int64))[1:]
    starts = np.concatenate([[0], ends[:-1]])
    cum = np.concatenate([np.zeros((1, errors.shape[1])), np.cumsum(errors, axis=0)])
    bin_err = cum[ends] - cum[starts]
    best = bin_err[0].copy()
    back = np.zeros(bin_err.shape, dtype=np.int64)
    cols = np.arange(bin_err.shape[1])
    for b in range(1, bin_err.shape[0]):
        # cheapest path whose previous bin used a column <= c (non-decreasing candidates)
        prefix_min = np.minimum.accumulate(best)
        back[b] = np.maximum.accumulate(np.where(best == prefix_min, cols, 0))
        best = prefix_min + bin_err[b]
    path = np.zeros(bin_err.shape[0], dtype=np.int64)
    path[-1] = int(np.argmin(best))
    for b in range(bin_err.shape[0] - 1, 0, -1):
        path[b - 1] = back[b, path[b]]
    return ends, path


def calibrate_thresholds(
    groups: Any,
    candidates: str = "mant-unicore16",
    statistic: Statistic | str = Statistic.RMS_ABSMAX,
    *,
    rule: ThresholdRule | str = ThresholdRule.MIN_MSE,
    scale_format: str = "fp32",
    min_wins: int | None = None,
    max_bins: int = 400,
    source: str = "",
    errors: np.ndarray | None = None,
) -> Thresholds:
    """Offline calibration of a threshold LUT from example groups.

    Every group is quantized with every candidate; the oracle (least squared error) candidate
    is kept. Candidates that win at least ``min_wins`` groups are ordered by the median
    statistic of their wins. Then:

    - ``midpoint``: one threshold at each midpoint between consecutive medians (the reference
      rule of ``mant.md`` §7.1);
    - ``min_mse``: the groups, sorted by the statistic and pooled into ``max_bins`` bins, are
      split into consecutive runs, one candidate per run in that order, so that the total
      squared error is least (dynamic programming); thresholds sit between runs.

    Args:
        groups: (n_groups, group_size) calibration values, e.g. from :func:`kv_groups`.
        candidates: candidate set name.
        statistic: the statistic the LUT reads.
        rule: threshold placement (see above).
        scale_format: group scale format used while measuring errors.
        min_wins: least oracle wins for a candidate to enter the LUT (default 0.5% of groups).
        max_bins: bins for ``min_mse``.
        source: provenance text stored in the result.
        errors: :func:`candidate_errors` of ``groups`` (same ``scale_format``), when already
            computed (e.g. to calibrate several statistics on the same groups).

    Returns:
        The :class:`Thresholds`, with ``mse_ratio`` = real-time / oracle error on ``groups``.

    Raises:
        InputError: non-finite values, no non-zero group, unknown names.
    """
    c = IssueCollector()
    stat_kind = _enum(Statistic, statistic, "statistic", c)
    rule_kind = _enum(ThresholdRule, rule, "rule", c)
    c.check(max_bins >= 1, "max_bins", "must be >= 1", max_bins)
    c.raise_if_any()
    x = _check_groups(groups)
    live = np.max(np.abs(x), axis=1) > 0
    cs = candidate_set(candidates)
    if errors is not None and np.shape(errors) != (x.shape[0], len(cs.formats)):
        raise InputError.single(
            "errors", "must have shape (n_groups, n_candidates) of groups", np.shape(errors)
        )
    x = x[live]
    if x.shape[0] == 0:
        raise InputError.single("groups", "must contain at least one non-zero group", 0)
    if errors is None:
        errors = candidate_errors(x, candidates, scale_format=scale_format)
    else:
        errors = np.asarray(errors, dtype=np.float64)[live]
    oracle = np.argmin(errors, axis=1)
    stat = group_statistic(x, stat_kind)
    wins = np.bincount(oracle, minlength=errors.shape[1])
    floor = max(1, round(0.005 * x.shape[0])) if min_wins is None else max(1, min_wins)
    kept = np.flatnonzero(wins >= floor)
    if kept.size == 0:
        kept = np.array([int(np.argmax(wins))])
    medians = np.array([np.median(stat[oracle == j]) for j in kept])
    order = kept[np.argsort(medians, kind="stable")]
    medians = np.sort(medians, kind="stable")

    if rule_kind is ThresholdRule.MIDPOINT:
        distinct = np.concatenate([[True], np.diff(medians) > 0])
        choices, med = order[distinct], medians[distinct]
        edges = (med[:-1] + med[1:]) / 2
    else:
        sort = np.argsort(stat, kind="stable")
        ends, path = _min_mse_partition(errors[sort][:, order], max_bins)
        change = np.flatnonzero(np.diff(path) != 0)
        s_sorted = stat[sort]
        edges = (s_sorted[ends[change] - 1] + s_sorted[ends[change]]) / 2
        choices = order[path[np.concatenate([[0], change + 1])]]
        keep = np.concatenate([[True], np.diff(edges) > 0]) if edges.size else np.ones(0, bool)
        choices = np.concatenate([choices[:1], choices[1:][keep]])
        edges = edges[keep]
    names = tuple(cs.formats[int(j)].name for j in choices)
    provisional = Thresholds(
        statistic=stat_kind,
        candidate_set=cs.name,
        candidates=names,
        choices=tuple(int(j) for j in choices),
        edges=tuple(float(e) for e in edges),
        group_size=int(x.shape[1]),
        rule=rule_kind,
        source=source,
        created=_dt.date.today().isoformat(),
        n_groups=int(x.shape[0]),
    )
    rows = np.arange(x.shape[0])
    picked = select_realtime(x, provisional)
    ratio = float(errors[rows, picked].sum() / max(errors[rows, oracle].sum(), 1e-300))
    return Thresholds(**{**provisional.to_dict(), "mse_ratio": ratio})


# --------------------------------------------------------------------------- on demand

_CACHE_VERSION = 1
_MEMO: dict[str, Thresholds] = {}


def _calibration_key(
    cs: Any, stat: Statistic, rule: ThresholdRule, scale_format: str, x: np.ndarray
) -> str:
    """SHA-256 of everything a calibration depends on: the set's members, the statistic, the
    rule, the scale format and the calibration groups' bytes (never their file or origin)."""
    data = hashlib.sha256(f"{x.dtype.str}{x.shape}".encode())
    data.update(np.ascontiguousarray(x).tobytes())
    parts = {
        "version": _CACHE_VERSION,
        "set": cs.name,
        "members": list(cs.names),
        "statistic": stat.value,
        "rule": rule.value,
        "scale_format": scale_format,
        "groups": data.hexdigest(),
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _read_cached(path: Path) -> Thresholds | None:
    try:
        return Thresholds.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError, TypeError):  # missing, torn or stale entry: recompute
        return None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:8]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def thresholds_for(
    candidates: Any,
    statistic: Statistic | str = Statistic.RMS_ABSMAX,
    group_size: int = 64,
    *,
    calibration: Any = None,
    rule: ThresholdRule | str = ThresholdRule.MIN_MSE,
    scale_format: str = "fp16",
    cache_dir: str | Path | None = None,
    source: str = "",
) -> Thresholds:
    """A real-time LUT for any candidate set, calibrated on demand when nothing is shipped.

    In order: a one-candidate set gets the trivial table; a set with a shipped table gets it
    (:func:`default_thresholds`); otherwise :func:`calibrate_thresholds` runs on
    ``calibration`` and the result is cached by content (set members, statistic, rule, scale
    format and the calibration groups' bytes) in memory and as one JSON file per key in
    ``cache_dir``, written atomically (temporary file + ``os.replace``), so processes sharing
    the folder never see a torn entry. The same inputs always give the same table.

    Args:
        candidates: candidate spec (named set, format names or a coefficient-family mapping).
        statistic: the statistic the LUT reads.
        group_size: values per group g.
        calibration: (n_groups, group_size) calibration groups, e.g. from
            :func:`mant.kv.kv_groups` on K/V that the LUT will not be judged on.
        rule: threshold placement.
        scale_format: group scale format while measuring errors (the KV default ``fp16``).
        cache_dir: folder of the cache (default ``<asset cache>/derived/kv-thresholds``).
        source: provenance text stored with a new table (not part of the key).

    Raises:
        InputError: no table is shipped and no calibration is given, or bad groups.

    Example:
        >>> import numpy as np
        >>> from mant.kv_synthetic import synthetic_groups
        >>> fam = {"family": "linear", "n": 4, "a_min": 0, "a_max": 120, "include_int": True}
        >>> lut = thresholds_for(fam, "rms_absmax", 64, calibration=synthetic_groups(500, 64))
        >>> lut.candidate_set, lut.group_size
        ('linear4_a0-120+int', 64)
    """
    c = IssueCollector()
    stat = _enum(Statistic, statistic, "statistic", c)
    rule_kind = _enum(ThresholdRule, rule, "rule", c)
    c.raise_if_any()
    cs = candidate_set(candidates)
    try:
        return default_thresholds(cs, stat, group_size)
    except InputError:
        if calibration is None:
            raise
    x = _check_groups(calibration, "calibration")
    if x.shape[1] != group_size:
        raise InputError.single(
            "calibration", f"must hold groups of group_size={group_size}", x.shape
        )
    key = _calibration_key(cs, stat, rule_kind, scale_format, x)
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    if cache_dir is None:
        from mant.assets import derived_dir

        cache_dir = derived_dir("kv-thresholds")
    path = Path(cache_dir) / f"{key}.json"
    table = _read_cached(path)
    if table is None:
        table = calibrate_thresholds(
            x,
            cs,
            stat,
            rule=rule_kind,
            scale_format=scale_format,
            source=f"calibrated on demand ({x.shape[0]} groups){': ' + source if source else ''}",
        )
        _write_atomic(path, json.dumps(table.to_dict(), indent=1) + "\n")
    _MEMO[key] = table
    return table
