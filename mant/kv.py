"""Real-time KV-cache quantization: the per-group MANT type chosen by a threshold LUT.

The KV cache is written during inference, so the per-group type cannot come from a search.
The real-time quantization unit (RQU) computes the group's absmax and one cheap statistic of
the group (RMS/absmax by default) in one pass and looks the statistic up in a short sorted
threshold table calibrated offline (``mant.md`` §7; which statistic M-ANT uses is unknown,
[U]). The oracle search (exact argmin-MSE over the candidates) stays available to compare.

Grouping follows KIVI (``mant.md`` §7, [U] for M-ANT): K per channel (groups of g run along
tokens; the newest ``T mod g`` tokens wait in a full-precision residual buffer until their
group fills) and V per token (groups run along head_dim). Either tensor may use either.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> k = rng.standard_normal((3, 100, 64)).astype(np.float32)  # (kv_heads, tokens, dim)
    >>> v = rng.standard_normal((3, 100, 64)).astype(np.float32)
    >>> res = quantize_kv(k, v, KVQuantConfig(), compare_oracle=True)
    >>> res.k.residual_tokens, res.k.n_groups, res.v.n_groups
    (36, 192, 300)
    >>> bool(res.oracle_ratio < 1.25)
    True
"""

from __future__ import annotations

import datetime as _dt
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
from mant.quantize import quantize_groups
from mant.scales import SCALE_BITS, bits_per_element, parse_scale_format

__all__ = [
    "Grouping",
    "KVQuantConfig",
    "KVResult",
    "KVTensorResult",
    "Selection",
    "Statistic",
    "ThresholdRule",
    "Thresholds",
    "calibrate_thresholds",
    "candidate_errors",
    "default_thresholds",
    "group_statistic",
    "kv_groups",
    "quantize_kv",
    "select_realtime",
    "synthetic_groups",
]

_DATA_FILE = "kv_thresholds.json"


class Statistic(StrEnum):
    """One-pass group statistics the RQU can compute next to absmax."""

    RMS_ABSMAX = "rms_absmax"  # RMS / absmax = 1 / crest factor (default; mant.md §7.1)
    MEANABS_ABSMAX = "meanabs_absmax"  # mean |x| / absmax
    STD_ABSMAX = "std_absmax"  # standard deviation / absmax
    CREST = "crest"  # absmax / RMS (UniCore's kappa; decreasing in the optimal a)
    KURTOSIS = "kurtosis"  # E[x^4] / E[x^2]^2 (raw moments; decreasing in the optimal a)


class Grouping(StrEnum):
    """Which way a K or V group of g values runs in a (..., tokens, head_dim) tensor."""

    CHANNEL = "channel"  # along tokens, one head_dim channel; partial groups stay full precision
    TOKEN = "token"  # along head_dim, one token; head_dim must be a multiple of g


class Selection(StrEnum):
    REALTIME = "realtime"  # threshold LUT on the statistic
    ORACLE = "oracle"  # exhaustive argmin-MSE search


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
    candidates: str = "mant-unicore16",
    statistic: Statistic | str = Statistic.RMS_ABSMAX,
    group_size: int = 64,
) -> Thresholds:
    """The shipped LUT for a candidate set, statistic and group size (``mant/data``).

    Raises:
        InputError: nothing shipped for that combination (the message lists what is).
    """
    for t in _shipped():
        if (t.candidate_set, t.statistic, t.group_size) == (candidates, statistic, group_size):
            return t
    shipped = sorted({(t.candidate_set, t.statistic.value, t.group_size) for t in _shipped()})
    raise InputError.single(
        "kv.thresholds",
        f"no shipped thresholds; calibrate_thresholds() makes them; shipped: {shipped}",
        (candidates, str(statistic), group_size),
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
    x = x[np.max(np.abs(x), axis=1) > 0]
    if x.shape[0] == 0:
        raise InputError.single("groups", "must contain at least one non-zero group", 0)
    cs = candidate_set(candidates)
    errors = candidate_errors(x, candidates, scale_format=scale_format)
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


# --------------------------------------------------------------------------- KV config


@dataclass(frozen=True, slots=True, kw_only=True)
class KVQuantConfig:
    """How a KV cache is quantized.

    Attributes:
        candidates: candidate set name (e.g. ``"mant-unicore16"``: 15 MANT4 a-values + INT4).
        group_size: values per group g.
        k_grouping: grouping of K (default per channel, groups along tokens).
        v_grouping: grouping of V (default per token, groups along head_dim).
        selection: ``realtime`` (threshold LUT) or ``oracle`` (argmin-MSE search).
        statistic: the statistic the LUT reads.
        thresholds: the LUT; None takes the shipped one for (candidates, statistic, g).
        scale_format: group scale format (``fp32``, ``fp16``, ``bf16``, ``e8m0``, ``int8``).

    Example:
        >>> cfg = KVQuantConfig(group_size=64, scale_format="fp16")
        >>> cfg.bits_per_element  # 4 + (16 scale + 4 selector bits) / 64
        4.3125
        >>> KVQuantConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    candidates: str = "mant-unicore16"
    group_size: int = 64
    k_grouping: Grouping = Grouping.CHANNEL
    v_grouping: Grouping = Grouping.TOKEN
    selection: Selection = Selection.REALTIME
    statistic: Statistic = Statistic.RMS_ABSMAX
    thresholds: Thresholds | None = None
    scale_format: str = "fp16"

    def __post_init__(self) -> None:
        c = IssueCollector()
        for name, kind in (
            ("k_grouping", Grouping),
            ("v_grouping", Grouping),
            ("selection", Selection),
            ("statistic", Statistic),
        ):
            value = _enum(kind, getattr(self, name), f"kv.{name}", c)
            if value is not None:
                object.__setattr__(self, name, value)
        g = self.group_size
        c.check(
            isinstance(g, int) and not isinstance(g, bool) and g >= 1,
            "kv.group_size",
            "must be an int >= 1",
            g,
        )
        try:
            object.__setattr__(
                self,
                "scale_format",
                parse_scale_format(self.scale_format, "kv.scale_format").value,
            )
        except InputError as exc:
            c.extend(exc)
        try:
            cs = candidate_set(self.candidates)
        except InputError as exc:
            c.extend(exc, "kv")
            cs = None
        t = self.thresholds
        if isinstance(t, Mapping):
            try:
                t = Thresholds.from_dict(t, "kv.thresholds")
                object.__setattr__(self, "thresholds", t)
            except InputError as exc:
                c.extend(exc)
        if t is not None and isinstance(t, Thresholds):
            c.check(
                t.statistic == self.statistic,
                "kv.thresholds.statistic",
                f"must equal kv.statistic={self.statistic}",
                t.statistic,
            )
            if cs is not None:
                c.check(
                    t.candidate_set == cs.name and max(t.choices) < len(cs.formats),
                    "kv.thresholds.candidate_set",
                    f"must be the configured set {cs.name!r}",
                    t.candidate_set,
                )
        elif t is not None:
            c.add("kv.thresholds", "must be Thresholds, a mapping or None", type(t).__name__)
        c.raise_if_any()

    @property
    def bits_per_element(self) -> float:
        """Element bits + (scale bits + selector bits) / g; the residual tokens are not counted."""
        cs = candidate_set(self.candidates)
        return bits_per_element(
            element_bits=cs.bits,
            group_size=self.group_size,
            scale_bits=SCALE_BITS[parse_scale_format(self.scale_format)],
            selector_bits=cs.selector_bits,
        )

    def resolved_thresholds(self) -> Thresholds:
        """The LUT in use: ``thresholds`` or the shipped default."""
        if self.thresholds is not None:
            return self.thresholds
        return default_thresholds(self.candidates, self.statistic, self.group_size)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML types; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("k_grouping", "v_grouping", "selection", "statistic"):
            out[name] = out[name].value
        out["thresholds"] = None if self.thresholds is None else self.thresholds.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KVQuantConfig:
        """Build from a mapping; unknown keys are an :class:`InputError` listing the valid ones."""
        _check_keys(data, cls, "kv")
        return cls(**dict(data))


# --------------------------------------------------------------------------- grouping


def kv_groups(x: Any, grouping: Grouping | str, group_size: int) -> tuple[np.ndarray, int]:
    """Cut a (..., tokens, head_dim) tensor into groups.

    Args:
        x: K or V, shape (..., tokens, head_dim).
        grouping: ``channel`` (along tokens) or ``token`` (along head_dim).
        group_size: values per group.

    Returns:
        (groups of shape (n_groups, group_size), residual tokens left in full precision).
    """
    arr, kind = _check_tensor(x, "x"), Grouping(grouping)
    _check_grouping(arr.shape, kind, group_size, "x")
    return _group(arr, kind, group_size)


def _check_tensor(x: Any, path: str) -> np.ndarray:
    arr = np.asarray(x)
    c = IssueCollector()
    if not np.issubdtype(arr.dtype, np.floating):
        c.add(path, "must be a floating-point array", str(arr.dtype))
    elif arr.ndim < 2:
        c.add(path, "must have shape (..., tokens, head_dim)", arr.shape)
    else:
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            c.add(path, "must be finite (no NaN or Inf)", f"{arr[first]} at index {first}")
    c.raise_if_any()
    return arr.astype(np.float32, copy=False)


def _check_grouping(shape: tuple[int, ...], kind: Grouping, g: int, path: str) -> None:
    if kind is Grouping.TOKEN and shape[-1] % g:
        raise InputError.single(
            f"{path}.head_dim",
            f"must be a multiple of group_size={g} for token grouping",
            shape[-1],
        )


def _group(x: np.ndarray, kind: Grouping, g: int) -> tuple[np.ndarray, int]:
    if kind is Grouping.TOKEN:
        return x.reshape(-1, g), 0
    tokens, dim = x.shape[-2], x.shape[-1]
    full = tokens - tokens % g
    blocks = x[..., :full, :].reshape(*x.shape[:-2], full // g, g, dim)
    return np.swapaxes(blocks, -1, -2).reshape(-1, g), tokens - full


def _ungroup(groups: np.ndarray, x: np.ndarray, kind: Grouping, g: int) -> np.ndarray:
    if kind is Grouping.TOKEN:
        return groups.reshape(x.shape)
    tokens, dim = x.shape[-2], x.shape[-1]
    full = tokens - tokens % g
    out = x.copy()  # the residual tokens stay as they are
    blocks = groups.reshape(*x.shape[:-2], full // g, dim, g)
    out[..., :full, :] = np.swapaxes(blocks, -1, -2).reshape(*x.shape[:-2], full, dim)
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True, kw_only=True)
class KVTensorResult:
    """K or V after quantization.

    Attributes:
        dequantized: same shape as the input; residual tokens unchanged.
        choice: (n_groups,) candidate index per group.
        group_error: (n_groups,) squared error per group.
        statistic: (n_groups,) the LUT statistic per group.
        oracle_group_error: (n_groups,) squared error under the oracle search, when compared.
        candidate_names: names of the candidate set members.
        grouping: the grouping used.
        residual_tokens: newest tokens kept in full precision (channel grouping only).
        signal_energy: sum of squares of the input (for relative MSE).
        n_elements: elements in the tensor.
    """

    dequantized: np.ndarray
    choice: np.ndarray
    group_error: np.ndarray
    statistic: np.ndarray
    oracle_group_error: np.ndarray | None
    candidate_names: tuple[str, ...]
    grouping: Grouping
    residual_tokens: int
    signal_energy: float
    n_elements: int

    @property
    def n_groups(self) -> int:
        return int(self.choice.shape[0])

    @property
    def squared_error(self) -> float:
        return float(np.sum(self.group_error))

    @property
    def mse(self) -> float:
        """Mean squared error over every element (residual tokens count as exact)."""
        return self.squared_error / max(self.n_elements, 1)

    @property
    def rel_mse(self) -> float:
        """``||X - Q||^2 / ||X||^2`` (0 for an all-zero tensor)."""
        return self.squared_error / self.signal_energy if self.signal_energy > 0 else 0.0

    @property
    def sqnr_db(self) -> float:
        return float(-10 * np.log10(self.rel_mse)) if self.rel_mse > 0 else float("inf")

    @property
    def oracle_ratio(self) -> float | None:
        """Squared error / oracle squared error (1.0 when both are 0); None if not compared."""
        if self.oracle_group_error is None:
            return None
        return _ratio(self.squared_error, float(np.sum(self.oracle_group_error)))

    def choice_histogram(self) -> dict[str, int]:
        """Candidate name -> groups that chose it (candidates never chosen are left out)."""
        counts = np.bincount(self.choice, minlength=len(self.candidate_names))
        return {n: int(k) for n, k in zip(self.candidate_names, counts, strict=True) if k}


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 1.0 if num == 0 else float("inf")


@dataclass(frozen=True, slots=True, kw_only=True)
class KVResult:
    """Quantized K and V with the configuration that made them."""

    k: KVTensorResult
    v: KVTensorResult
    config: KVQuantConfig

    @property
    def rel_mse(self) -> float:
        """Relative MSE of K and V together."""
        energy = self.k.signal_energy + self.v.signal_energy
        err = self.k.squared_error + self.v.squared_error
        return err / energy if energy > 0 else 0.0

    @property
    def oracle_ratio(self) -> float | None:
        """(K + V squared error) / (same under the oracle search); None if not compared."""
        if self.k.oracle_group_error is None or self.v.oracle_group_error is None:
            return None
        oracle = float(np.sum(self.k.oracle_group_error) + np.sum(self.v.oracle_group_error))
        return _ratio(self.k.squared_error + self.v.squared_error, oracle)

    @property
    def bits_per_element(self) -> float:
        return self.config.bits_per_element


def _quantize_groups(
    groups: np.ndarray, cs: Any, choice: np.ndarray | None, scale_format: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dequantized, choice, squared error per group); all-zero groups come back as zeros."""
    if groups.shape[0] == 0:
        return groups.copy(), np.zeros(0, np.int64), np.zeros(0)
    q = quantize_groups(groups, cs, choice=choice, scale_format=scale_format)
    # group_error is the mean over the group's g values (mant.quantize.GroupQuant)
    return q.dequantized, q.choice.astype(np.int64), q.group_error * groups.shape[1]


def _quantize_tensor(
    x: np.ndarray,
    kind: Grouping,
    cfg: KVQuantConfig,
    lut: Thresholds | None,
    compare_oracle: bool,
) -> KVTensorResult:
    cs = candidate_set(cfg.candidates)
    groups, residual = _group(x, kind, cfg.group_size)
    stat = _statistic(groups, cfg.statistic)  # the tensor was checked by quantize_kv
    choice = None if lut is None else _lookup(stat, lut)
    deq, picked, err = _quantize_groups(groups, cs, choice, cfg.scale_format)
    oracle_err = None
    if compare_oracle:
        oracle_err = (
            err if lut is None else _quantize_groups(groups, cs, None, cfg.scale_format)[2]
        )
    return KVTensorResult(
        dequantized=_ungroup(deq, x, kind, cfg.group_size),
        choice=picked,
        group_error=err,
        statistic=stat,
        oracle_group_error=oracle_err,
        candidate_names=tuple(f.name for f in cs.formats),
        grouping=kind,
        residual_tokens=residual,
        signal_energy=float(np.sum(np.square(x, dtype=np.float64))),
        n_elements=int(x.size),
    )


def quantize_kv(k: Any, v: Any, cfg: KVQuantConfig, *, compare_oracle: bool = False) -> KVResult:
    """Quantize a KV cache (fake quantization: values come back dequantized, float32).

    Args:
        k: keys, (..., tokens, head_dim), e.g. (kv_heads, T, d), post-RoPE.
        v: values, same leading shape (..., tokens) as ``k``.
        cfg: the configuration.
        compare_oracle: also run the oracle search to report ``oracle_ratio``.

    Returns:
        The :class:`KVResult`.

    Raises:
        InputError: non-float or non-finite tensors, mismatched shapes, a head_dim that is not
            a multiple of g under token grouping, no shipped thresholds for the config.
    """
    c = IssueCollector()
    arrays = {}
    for name, x in (("k", k), ("v", v)):
        try:
            arrays[name] = _check_tensor(x, name)
        except InputError as exc:
            c.extend(exc)
    c.raise_if_any()
    kx, vx = arrays["k"], arrays["v"]
    c.check(
        kx.shape[:-1] == vx.shape[:-1],
        "v",
        f"must have the leading shape (..., tokens) of k {kx.shape[:-1]}",
        vx.shape,
    )
    for name, x, kind in (("k", kx, cfg.k_grouping), ("v", vx, cfg.v_grouping)):
        try:
            _check_grouping(x.shape, kind, cfg.group_size, name)
        except InputError as exc:
            c.extend(exc)
    c.raise_if_any()
    lut = cfg.resolved_thresholds() if cfg.selection is Selection.REALTIME else None
    return KVResult(
        k=_quantize_tensor(kx, cfg.k_grouping, cfg, lut, compare_oracle),
        v=_quantize_tensor(vx, cfg.v_grouping, cfg, lut, compare_oracle),
        config=cfg,
    )


# --------------------------------------------------------------------------- synthetic data


def synthetic_groups(n_groups: int = 3000, group_size: int = 64, *, seed: int = 0) -> np.ndarray:
    """The synthetic group mixture of ``mant.md`` §7.1, float32 (n_groups, group_size).

    Four families in equal shares (round-robin): Student-t with df log-uniform in [1.5, 30],
    uniform, Laplace, and Gaussian with 5% outliers. The outlier magnitude (a factor
    uniform in [3, 10] times the Gaussian value) and the df spacing are choices made here;
    ``mant.md`` does not give them. Each group gets a random log-uniform overall scale.

    Example:
        >>> synthetic_groups(8, 16).shape
        (8, 16)
    """
    c = IssueCollector()
    c.check(n_groups >= 1, "n_groups", "must be >= 1", n_groups)
    c.check(group_size >= 2, "group_size", "must be >= 2", group_size)
    c.raise_if_any()
    rng = np.random.default_rng(seed)
    shape = (n_groups, group_size)
    df = np.exp(rng.uniform(np.log(1.5), np.log(30.0), n_groups))[:, None]
    families = [
        rng.standard_t(np.broadcast_to(df, shape)),
        rng.uniform(-1.0, 1.0, shape),
        rng.laplace(0.0, 1.0, shape),
        rng.standard_normal(shape)
        * np.where(rng.random(shape) < 0.05, rng.uniform(3.0, 10.0, shape), 1.0),
    ]
    kind = np.arange(n_groups) % len(families)
    out = np.choose(kind[:, None], families)
    scale = np.exp(rng.uniform(np.log(1e-2), np.log(1e2), n_groups))[:, None]
    return (out * scale).astype(np.float32)
