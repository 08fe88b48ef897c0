"""Activation-aware (output-error) type selection for weight groups.

For a weight ``W`` (out_features, in_features) grouped along in_features in groups of ``g`` and
calibration activations ``X`` (tokens, in_features), the output error of row ``n``, group ``j`` and
candidate ``c`` is the mean over tokens of ``(X_j w_{n,j} - X_j ŵ_{n,j,c})^2``, where ``X_j`` holds
the ``g`` input channels of group ``j``. With ``e = w_{n,j} - ŵ_{n,j,c}`` and the group's Gram
matrix ``H_j = X_jᵀ X_j`` (float64) this is ``eᵀ H_j e / tokens``: the Gram matrices are computed
once per tensor, so the search costs ``g`` multiply-adds per weight and candidate instead of one
``X·Ŵᵀ`` product per candidate (the M-ANT authors' ``pseudo_quant_output_mse``, commit 75fb156).

The least error wins; ties go to the **later** candidate, as the authors' sequential
``mse <= min_mse`` update does. Each candidate quantizes a group exactly as weight-MSE selection
would (same scale rule and rounding, :mod:`mant.quantize`): only the choice differs.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((256, 128))
    >>> h = gram_matrices(x, group_size=64)
    >>> h.shape
    (2, 64, 64)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mant.errors import InputError
from mant.groups import check_finite

__all__ = [
    "check_calibration",
    "gram_matrices",
    "output_errors",
    "pick_last_min",
]

_CHUNK_VALUES = 1 << 21  # float64 error values per matmul chunk (16 MB)


def check_calibration(calibration: Any, in_features: int) -> np.ndarray:
    """Validate calibration activations for a weight with ``in_features`` columns.

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
    check_finite(arr, "calibration")
    return arr


def gram_matrices(x: np.ndarray, *, group_size: int) -> np.ndarray:
    """Per-group Gram matrices ``H_j = X_jᵀ X_j`` in float64, shape (groups, g, g).

    Args:
        x: activations (tokens, in_features); a last group shorter than ``group_size`` is
            zero-padded (padded rows and columns of its H are 0).
        group_size: input channels per group.
    """
    tokens, width = x.shape
    n_groups = -(-width // group_size)
    pad = n_groups * group_size - width
    x64 = np.asarray(x, dtype=np.float64)
    if pad:
        x64 = np.concatenate([x64, np.zeros((tokens, pad))], axis=1)
    xg = x64.reshape(tokens, n_groups, group_size).transpose(1, 0, 2)  # (G, T, g)
    return np.matmul(xg.transpose(0, 2, 1), xg)


def output_errors(
    w_groups: np.ndarray, deq: np.ndarray, gram: np.ndarray, *, tokens: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean output error over tokens of every (group, candidate), and a rounding bound per group.

    The bound, ``16 g eps max_c ||e_c||^2 max|H_j| / tokens``, covers the float64 rounding of
    the Gram form: two candidates whose errors differ by less are tied (equal in exact
    arithmetic, they may differ by a few ulps here).

    Args:
        w_groups: the original groups (rows * G, g), row-major (row n's groups consecutive).
        deq: every candidate's dequantized groups (C, rows * G, g).
        gram: (G, g, g) Gram matrices of the calibration activations.
        tokens: calibration tokens (the divisor of the mean).

    Returns:
        ``(errors (n_groups, C), tolerance (n_groups,))`` in units of output squared.
    """
    n_cand, n_groups, g = deq.shape
    n_gpr = gram.shape[0]
    rows = n_groups // n_gpr
    w = w_groups.astype(np.float64).reshape(rows, n_gpr, 1, g)
    err = np.empty((rows, n_gpr, n_cand), dtype=np.float64)
    e2max = np.empty((rows, n_gpr), dtype=np.float64)
    step = max(1, _CHUNK_VALUES // (n_gpr * n_cand * g))
    d = deq.reshape(n_cand, rows, n_gpr, g)
    for lo in range(0, rows, step):  # chunks of rows bound memory; each is one batched matmul
        hi = min(rows, lo + step)
        e = w[lo:hi] - d[:, lo:hi].transpose(1, 2, 0, 3)  # (r, G, C, g)
        eg = np.ascontiguousarray(e.transpose(1, 0, 2, 3)).reshape(n_gpr, -1, g)  # (G, r*C, g)
        eh = np.matmul(eg, gram)  # (G, r*C, g)
        q = np.einsum("gkj,gkj->gk", eh, eg).reshape(n_gpr, hi - lo, n_cand)
        err[lo:hi] = q.transpose(1, 0, 2)
        e2max[lo:hi] = np.einsum("rgcj,rgcj->rgc", e, e).max(axis=2)
    hmax = np.abs(gram).reshape(n_gpr, -1).max(axis=1)
    tol = 16.0 * g * np.finfo(np.float64).eps * e2max * hmax[None, :] / tokens
    return err.reshape(n_groups, n_cand) / tokens, tol.reshape(n_groups)


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
