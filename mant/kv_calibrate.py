"""Offline and on-demand calibration of the real-time KV threshold LUT.

:func:`calibrate_thresholds` measures every candidate's error on example groups and places
the thresholds of a :class:`~mant.kv_select.Thresholds` LUT (midpoints of per-candidate medians,
or the least-error monotone partition of the statistic, :func:`_min_mse_partition`).
:func:`thresholds_for` returns a shipped table when there is one and otherwise calibrates on
demand, caching the result by content in memory and on disk. The names are re-exported from
:mod:`mant.kv_select` and :mod:`mant.kv`.

Example:
    >>> from mant.kv_synthetic import synthetic_groups
    >>> lut = calibrate_thresholds(synthetic_groups(200, 16), "int4", "rms_absmax")
    >>> lut.choices
    (0,)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mant.atomic_write import write_text_atomic
from mant.candidates import candidate_set
from mant.errors import InputError, IssueCollector
from mant.kv_select import (
    Statistic,
    ThresholdRule,
    Thresholds,
    _check_groups,
    _enum,
    default_thresholds,
    group_statistic,
    select_realtime,
)
from mant.quantize import quantize_groups

__all__ = [
    "calibrate_thresholds",
    "candidate_errors",
    "thresholds_for",
]

# --------------------------------------------------------------------------- calibration


def candidate_errors(
    groups: Any, candidates: str = "mant-unicore16", *, scale_format: str = "fp16"
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
    candidates: Any = "mant-unicore16",
    statistic: Statistic | str = Statistic.RMS_ABSMAX,
    *,
    rule: ThresholdRule | str = ThresholdRule.MIN_MSE,
    scale_format: str = "fp16",
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
        cache_dir: folder of the on-disk cache; None keeps the table in memory only
            (``mant`` does no I/O of its own; ``dse`` and ``llmrun`` pass a folder).
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
    path = None if cache_dir is None else Path(cache_dir) / f"{key}.json"
    table = None if path is None else _read_cached(path)
    if table is None:
        table = calibrate_thresholds(
            x,
            cs,
            stat,
            rule=rule_kind,
            scale_format=scale_format,
            source=f"calibrated on demand ({x.shape[0]} groups){': ' + source if source else ''}",
        )
        if path is not None:
            write_text_atomic(path, json.dumps(table.to_dict(), indent=1) + "\n")
    _MEMO[key] = table
    return table
