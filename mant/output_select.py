"""Activation-aware (output-error) type selection for weight groups.

For a weight ``W`` (out_features, in_features) grouped along in_features in groups of ``g`` and
calibration activations ``X`` (tokens, in_features), the output error of row ``n``, group ``j`` and
candidate ``c`` is the mean over tokens of ``(X_j w_{n,j} - X_j ŵ_{n,j,c})^2``, where ``X_j`` holds
the ``g`` input channels of group ``j``. With ``e = w_{n,j} - ŵ_{n,j,c}`` and the group's Gram
matrix ``H_j = X_jᵀ X_j`` (float64) this is ``eᵀ H_j e / tokens``: the Gram matrices are computed
once per input (:class:`GramCalibration`; q, k and v share one, as do gate and up), and the
search costs about ``g / 2`` multiply-adds per weight and candidate (H is symmetric) instead of
one ``X·Ŵᵀ`` product per candidate over all tokens, as the M-ANT authors'
``pseudo_quant_output_mse`` (commit 75fb156) computes it. The rule is defined by the float64
form (:func:`output_errors`, one compiled kernel, and :func:`pick_last_min`);
:func:`select_output_mse` gets exactly its choice faster: a float32 triangular-factor filter
with a proven rounding bound (:mod:`mant.output_filter`) settles almost every group, the float64
kernel the rest.

The least error wins; ties go to the **later** candidate, as the authors' sequential
``mse <= min_mse`` update does. Each candidate quantizes a group exactly as weight-MSE selection
would (same scale rule and rounding, :mod:`mant.quantize`): only the choice differs.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((256, 128))
    >>> cal = GramCalibration.from_activations(x, group_size=64)
    >>> cal.gram.shape, cal.tokens
    ((2, 64, 64), 256)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from mant._blas import one_blas_thread
from mant.errors import InputError
from mant.groups import check_finite
from mant.output_filter import GramFactor, factor_grams, filter_choice

__all__ = [
    "GramCalibration",
    "check_calibration",
    "gram_matrices",
    "output_errors",
    "pick_last_min",
    "select_output_mse",
]

_CHUNK = 64  # groups per parallel task
_TOKENS = 1024  # calibration tokens per Gram update (a float64 copy that stays in cache)


def check_calibration(calibration: Any, in_features: int, *, values: bool = True) -> np.ndarray:
    """Validate calibration activations for a weight with ``in_features`` columns.

    ``values=False`` skips the NaN/Inf scan (a caller that checks its Gram matrices instead).

    Returns:
        The activations as a 2-d float array (tokens, in_features).

    Raises:
        InputError: not 2-d real, no tokens, wrong width, or non-finite values.
    """
    arr = np.asarray(calibration)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise InputError.single("calibration", "must be a real array", str(arr.dtype))
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise InputError.single(
            "calibration", "must be a 2-d array (tokens, in_features)", arr.shape
        )
    if arr.shape[1] != in_features:
        raise InputError.single(
            "calibration", f"must have in_features={in_features} columns", arr.shape[1]
        )
    if values:
        check_finite(arr, "calibration")
    return arr


@dataclass(frozen=True, slots=True, kw_only=True)
class GramCalibration:
    """Calibration activations reduced to their per-group Gram matrices.

    Attributes:
        gram: (G, g, g) float64, ``H_j = X_jᵀ X_j`` for input-channel group j.
        tokens: calibration tokens (rows of X).
        in_features: columns of X (the weight's in_features).
        group_size: input channels per group (g).
        factor: triangular factors of ``gram`` for the float32 filter
            (:func:`mant.output_filter.factor_grams`).
    """

    gram: np.ndarray
    tokens: int
    in_features: int
    group_size: int
    factor: GramFactor

    @classmethod
    def from_activations(cls, x: Any, *, group_size: int) -> GramCalibration:
        """Validate ``x`` (tokens, in_features) and compute its Gram matrices."""
        arr = np.asarray(x)
        width = arr.shape[1] if arr.ndim == 2 else -1
        arr = check_calibration(arr, width, values=False)
        gram = gram_matrices(arr, group_size=group_size)
        # a NaN or Inf in X makes its channel's diagonal entry of H NaN or Inf (finite float32
        # values cannot overflow a float64 sum of squares): scan X only then, for the message
        if not np.isfinite(np.diagonal(gram, axis1=1, axis2=2)).all():
            check_finite(arr, "calibration")
        return cls(
            gram=gram,
            factor=factor_grams(gram),
            tokens=int(arr.shape[0]),
            in_features=int(width),
            group_size=int(group_size),
        )


def gram_matrices(x: np.ndarray, *, group_size: int) -> np.ndarray:
    """Per-group Gram matrices ``H_j = X_jᵀ X_j`` in float64, shape (groups, g, g).

    Args:
        x: activations (tokens, in_features); a last group shorter than ``group_size`` is
            zero-padded (padded rows and columns of its H are 0).
        group_size: input channels per group.
    """
    tokens, width = x.shape
    g = group_size
    n_groups = -(-width // g)
    gram = np.zeros((n_groups, g, g))

    # per group, blocks of tokens converted to float64 into one small buffer (zero padded
    # columns stay 0); ``b.T @ b`` is one BLAS syrk, accumulated in float64
    def fill(columns: range) -> None:
        buf = np.zeros((min(tokens, _TOKENS), g))
        for j in columns:
            w = min(g, width - j * g)
            for t0 in range(0, tokens, _TOKENS):
                b = buf[: min(tokens, t0 + _TOKENS) - t0]
                b[:, :w] = x[t0 : t0 + len(b), j * g : j * g + w]
                b[:, w:] = 0.0  # a padded last group: no columns left from the one before
                gram[j] += b.T @ b

    # small products gain nothing from a threaded BLAS, and its workers would be left spinning
    # against numba's threads (mant._blas): single-threaded products, the group columns spread
    # over numba's thread count (1.65x faster on 2 threads than one threaded-BLAS loop)
    workers = max(1, min(numba.get_num_threads(), n_groups))
    with one_blas_thread():
        if workers == 1:
            fill(range(n_groups))
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(fill, [range(i, n_groups, workers) for i in range(workers)]))
    return gram


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def _errors_kernel(  # pragma: no cover - compiled
    groups, cols, lengths, scales, mids, n_mids, mags, gram, err, e2max
):
    """``eᵀ H_j e`` for every group and candidate, ``e = x - ŵ_c`` (float64), fused.

    ``ŵ_c`` is the float32 value :func:`mant._kernels.apply_choice` stores (same thresholds,
    same levels). The quadratic form uses the symmetry of H (``sum_i e_i (H_ii e_i + 2 sum_{k<i}
    H_ik e_k)``: half the multiply-adds) and runs four candidates at a time so that each
    ``H_ik`` is loaded once for four. Also writes ``max_c ||e_c||^2`` per group in ``e2max``.
    """
    n_groups, g = groups.shape
    n_cand = scales.shape[1]
    n_lev = mags.shape[1]
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ch in prange(n_chunks):
        e_buf = np.zeros((n_cand + 3, g))  # rows beyond n_cand stay 0 (4-candidate blocks)
        idx = np.empty(g, dtype=np.int64)
        lev = np.empty(n_lev)
        ax = np.empty(g)
        for gi in range(ch * _CHUNK, min(n_groups, (ch + 1) * _CHUNK)):
            j = cols[gi]
            n = lengths[gi]
            for e in range(n):
                ax[e] = abs(np.float64(groups[gi, e]))
            worst = 0.0
            for c in range(n_cand):
                s = scales[gi, c]
                nm = n_mids[c]
                for t in range(nm + 1):
                    lev[t] = np.float64(np.float32(mags[c, t] * s))
                for e in range(n):
                    idx[e] = 0
                if s > 0.0:
                    for t in range(nm):
                        th = mids[c, t] * s
                        for e in range(n):
                            idx[e] += ax[e] >= th
                acc = 0.0
                for e in range(n):
                    d = ax[e] - lev[idx[e]]  # |x| - |ŵ|; e = x - ŵ has the sign of x
                    d = -d if groups[gi, e] < 0.0 else d
                    e_buf[c, e] = d
                    acc += d * d
                for e in range(n, g):
                    e_buf[c, e] = 0.0
                worst = max(worst, acc)
            e2max[gi] = worst
            for c0 in range(0, n_cand, 4):
                q0 = q1 = q2 = q3 = 0.0
                for i in range(n):
                    u0 = u1 = u2 = u3 = 0.0
                    for k in range(i):
                        h = gram[j, i, k]
                        u0 += h * e_buf[c0, k]
                        u1 += h * e_buf[c0 + 1, k]
                        u2 += h * e_buf[c0 + 2, k]
                        u3 += h * e_buf[c0 + 3, k]
                    hii = gram[j, i, i]
                    q0 += (2.0 * u0 + hii * e_buf[c0, i]) * e_buf[c0, i]
                    q1 += (2.0 * u1 + hii * e_buf[c0 + 1, i]) * e_buf[c0 + 1, i]
                    q2 += (2.0 * u2 + hii * e_buf[c0 + 2, i]) * e_buf[c0 + 2, i]
                    q3 += (2.0 * u3 + hii * e_buf[c0 + 3, i]) * e_buf[c0 + 3, i]
                err[gi, c0] = q0
                if c0 + 1 < n_cand:
                    err[gi, c0 + 1] = q1
                if c0 + 2 < n_cand:
                    err[gi, c0 + 2] = q2
                if c0 + 3 < n_cand:
                    err[gi, c0 + 3] = q3


def output_errors(
    groups: np.ndarray,
    lengths: np.ndarray,
    scales: np.ndarray,
    tables: tuple[np.ndarray, ...],
    gram: np.ndarray,
    *,
    tokens: int,
    cols: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean output error over tokens of every (group, candidate), and a rounding bound per group.

    The bound, ``16 g eps max_c ||e_c||^2 max|H_j| / tokens``, covers the float64 rounding of
    the Gram form: two candidates whose errors differ by less are tied (equal in exact
    arithmetic, they may differ by a few ulps here).

    Args:
        groups: the original groups (rows * G, g) float32, row-major (a row's G groups
            consecutive); lengths: valid values per group.
        scales: (rows * G, C) stored scale of every group and candidate.
        tables: ``(mids, mags, n_mids)`` of the candidates (``mant.quantize``'s tables).
        gram: (G, g, g) Gram matrices of the calibration activations.
        tokens: calibration tokens (the divisor of the mean).
        cols: input-channel group of every row of ``groups`` (default: row-major whole rows,
            ``arange(n_groups) % G``), to evaluate any subset of groups.

    Returns:
        ``(errors (n_groups, C), tolerance (n_groups,))`` in units of output squared.
    """
    mids, mags, n_mids = tables
    n_groups, g = groups.shape
    n_gpr = gram.shape[0]
    col = np.arange(n_groups) % n_gpr if cols is None else np.asarray(cols, dtype=np.int64)
    err = np.empty((n_groups, scales.shape[1]), dtype=np.float64)
    e2max = np.empty(n_groups, dtype=np.float64)
    _errors_kernel(
        np.ascontiguousarray(groups, dtype=np.float32),
        np.ascontiguousarray(col),
        np.ascontiguousarray(lengths, dtype=np.int64),
        np.ascontiguousarray(scales, dtype=np.float64),
        mids,
        n_mids,
        mags,
        np.ascontiguousarray(gram, dtype=np.float64),
        err,
        e2max,
    )
    hmax = np.abs(gram).reshape(n_gpr, -1).max(axis=1)
    tol = 16.0 * g * np.finfo(np.float64).eps * e2max * hmax[col]
    return err / tokens, tol / tokens


def select_output_mse(
    groups: np.ndarray,
    lengths: np.ndarray,
    scales: np.ndarray,
    tables: tuple[np.ndarray, ...],
    cal: GramCalibration,
) -> tuple[np.ndarray, int]:
    """The candidate of least output error per group, later candidate on ties.

    Exactly the choice of :func:`output_errors` then :func:`pick_last_min` (the float64 rule),
    computed by the float32 filter (:mod:`mant.output_filter`) and the float64 kernel on the
    groups the filter cannot settle only.

    Args:
        groups, lengths, scales, tables: as :func:`output_errors` takes them (whole rows).
        cal: the calibration activations' Gram matrices and their factors.

    Returns:
        ``(choice (n_groups,), groups recomputed in float64)``.
    """
    choice, flagged, _, _ = filter_choice(groups, lengths, scales, tables, cal.factor)
    redo = np.flatnonzero(flagged)
    if redo.size:
        err, tol = output_errors(
            groups[redo],
            lengths[redo],
            scales[redo],
            tables,
            cal.gram,
            tokens=cal.tokens,
            cols=redo % cal.gram.shape[0],
        )
        choice[redo] = pick_last_min(err, tol)
    return choice, int(redo.size)


def pick_last_min(err: np.ndarray, tol: np.ndarray | float = 0.0) -> np.ndarray:
    """Per row, the last index whose value is within ``tol`` (per row) of the row's least value.

    With ``tol = 0`` this is the least value with exact ties going to the later index, as a
    sequential ``if e <= best`` update picks it.
    """
    n_cand = err.shape[1]
    best = err.min(axis=1, keepdims=True)
    limit = best + np.reshape(np.asarray(tol, dtype=np.float64), (-1, 1))
    tied = err <= limit
    return (n_cand - 1 - np.argmax(tied[:, ::-1], axis=1)).astype(np.int64)
