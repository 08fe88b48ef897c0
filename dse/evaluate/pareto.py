"""Pareto fronts and hypervolume, for minimisation problems.

Every function here takes objective values that are already "smaller is better" (use
:func:`to_minimization` to flip maximised columns). Hypervolume uses ``moocore`` (Optuna has no
public hypervolume function).

Example:
    >>> import numpy as np
    >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()
    [True, True, False]
    >>> hypervolume(np.array([[0.0, 0.0]]), ref=np.array([1.0, 2.0]))
    2.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "to_minimization",
    "pareto_mask",
    "hypervolume",
    "hypervolume_history",
    "normalization_bounds",
    "normalize",
]


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Negates the columns whose direction is ``maximize``; returns a new float array."""
    v = np.array(values, dtype=float, copy=True).reshape(-1, len(directions))
    for j, d in enumerate(directions):
        if str(d) == "maximize":
            v[:, j] = -v[:, j]
    return v


def pareto_mask(values: np.ndarray, feasible: np.ndarray | None = None) -> np.ndarray:
    """Marks the non-dominated rows among the feasible, finite ones (minimisation).

    A row is dominated when another row is <= in every column and < in at least one. Equal
    rows do not dominate each other, so duplicates of a front point are all on the front.

    Args:
        values: (n, m) objective values, smaller is better.
        feasible: (n,) mask; infeasible rows are never on the front and dominate nothing.

    Returns:
        (n,) boolean mask.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be 2-D, got shape {v.shape}")
    n = v.shape[0]
    ok = np.all(np.isfinite(v), axis=1)
    if feasible is not None:
        ok &= np.asarray(feasible, dtype=bool)
    mask = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return mask
    cand = v[idx]
    if len(cand) > 2000:  # moocore's non-dominated filter: O(n log n) for 2-3 objectives
        import moocore

        mask[idx[moocore.is_nondominated(cand, keep_weakly=True)]] = True
        return mask
    # sort by the sum of columns: a row can only be dominated by rows with a smaller or equal sum
    order = np.argsort(cand.sum(axis=1), kind="stable")
    cand = cand[order]
    keep = np.ones(len(cand), dtype=bool)
    chunk = max(1, 4_000_000 // max(1, len(cand) * cand.shape[1]))
    for start in range(0, len(cand), chunk):
        block = cand[start : start + chunk]
        le = np.all(cand[None, :, :] <= block[:, None, :], axis=2)
        lt = np.any(cand[None, :, :] < block[:, None, :], axis=2)
        keep[start : start + chunk] = ~np.any(le & lt, axis=1)
    mask[idx[order[keep]]] = True
    return mask


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by ``points`` and bounded by ``ref`` (minimisation).

    Points that do not strictly dominate ``ref`` in every column add nothing and are dropped.
    """
    import moocore

    p = np.asarray(points, dtype=float).reshape(-1, len(ref))
    r = np.asarray(ref, dtype=float)
    p = p[np.all(np.isfinite(p), axis=1) & np.all(p < r, axis=1)]
    if p.size == 0:
        return 0.0
    if p.shape[1] == 1:
        return float(r[0] - p[:, 0].min())
    return float(moocore.hypervolume(p, ref=r))


def hypervolume_history(
    values: np.ndarray, feasible: np.ndarray | None, ref: np.ndarray
) -> np.ndarray:
    """Hypervolume of the feasible front after each row (rows in trial order)."""
    v = np.asarray(values, dtype=float)
    ok = np.all(np.isfinite(v), axis=1)
    if feasible is not None:
        ok &= np.asarray(feasible, dtype=bool)
    out = np.zeros(v.shape[0])
    front = np.empty((0, v.shape[1]))
    hv = 0.0
    for i in range(v.shape[0]):
        if ok[i]:
            p = v[i]
            dominated = bool(front.size) and bool(np.any(np.all(front <= p, axis=1)))
            if not dominated and np.all(p < ref):
                front = np.vstack([front[~np.all(p <= front, axis=1)], p])
                hv = hypervolume(front, ref)
        out[i] = hv
    return out


def normalization_bounds(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (ideal, nadir) of finite rows; a constant column gets a unit span."""
    v = np.asarray(values, dtype=float)
    v = v[np.all(np.isfinite(v), axis=1)]
    if v.size == 0:
        m = np.asarray(values).shape[1]
        return np.zeros(m), np.ones(m)
    lo, hi = v.min(axis=0), v.max(axis=0)
    hi = np.where(hi > lo, hi, lo + 1.0)
    return lo, hi


def normalize(values: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """Maps ideal -> 0 and nadir -> 1 column by column."""
    return (np.asarray(values, dtype=float) - ideal) / (nadir - ideal)
