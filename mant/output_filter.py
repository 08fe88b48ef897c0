"""Fast float32 filter for output-MSE selection, with a proven rounding bound per candidate.

The output error of a group (:mod:`mant.output_select`) is ``eᵀ H e`` with ``H = X_jᵀ X_j``.
Factor ``H ≈ Rᵀ R`` once per input-channel group (``R`` upper triangular, float64 Cholesky; a
singular ``H`` goes through its eigenvectors and a QR), so that ``eᵀ H e ≈ ||R e||²``. For a
block of rows the error vectors of every (row, candidate) of group column ``j`` are stacked as
rows of one float32 matrix ``E`` and multiplied by ``(R / p_j)ᵀ`` in place with BLAS ``strmm``
(a triangular product: ``g² / 2`` multiply-adds per vector at float32 GEMM speed; ``p_j`` a power
of two that keeps float32 in range); ``q̂ = p_j² ||ŷ||²`` with the squares summed in float32.

Every ``q̂`` comes with a bound ``β`` on ``|q̂ - err64|``, where ``err64`` is what the float64
kernel (:func:`mant.output_select.output_errors`) computes for the same candidate. With
``u = 2⁻²⁴``, ``γ = (g + 4) u`` (rounding of ``e``, of ``R`` and of a length-``g`` dot product,
any summation order), ``A = ||R||_F ||e||`` and ``ρ_j`` a bound on ``||H - RᵀR||₂``::

    β = 1.01 (2 γ A ||ŷ|| + 3 γ² A²) + (ρ_j + 4 (g + 1) ε₆₄ tr H_j) ||e||² + 1.01 (g + 1) u q̂
        + (float32 underflow terms, a few 2⁻¹⁴⁹ steps per operation, scaled by p_j²)

The second term also covers the float64 kernel's own rounding (``|e|ᵀ|H||e| <= tr H ||e||²``
since ``|H_ik| <= sqrt(H_ii H_kk)``), the third the float32 sum of squares. A group is *settled*
when its least ``q̂`` (candidate ``b``) is separated from every other candidate:
``q̂_c - β_c > q̂_b + β_b + τ`` with ``τ`` at least the float64 path's tie tolerance. Then
``err64_c > err64_b + τ`` for every ``c != b``, so the float64 rule
(:func:`mant.output_select.pick_last_min`) picks ``b`` too. The other groups (and any group where
float32 overflowed) are *flagged* and recomputed in float64: the final choice is exactly the
float64 one. On SmolLM2's weights about 0.2% of the groups are flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy.linalg.blas import strmm

from mant._blas import one_blas_thread

__all__ = ["GramFactor", "factor_grams", "filter_choice"]

_ROWS = 512  # weight rows per block: E (rows * candidates, g) float32 stays in L2
_U32 = 2.0**-24
_EPS64 = float(np.finfo(np.float64).eps)

# columns of GramFactor.bounds
RESIDUAL, FRO2, TRACE, HMAX, SHIFT = range(5)


@dataclass(frozen=True, slots=True, kw_only=True)
class GramFactor:
    """Triangular factors of the Gram matrices, in the layout the filter uses.

    Attributes:
        lower: (G, g, g) float32, C-contiguous ``Lᵀ = R / p_j`` stored as ``L`` (lower), so
            that ``lower[j].T`` is ``R / p_j`` in Fortran order (what ``strmm`` takes without a
            copy); ``p_j`` is the power of two that brings ``max |R|`` into [0.5, 1), so that
            float32 neither overflows nor loses ``R`` to underflow whatever the activations'
            magnitude.
        bounds: (G, 5) float64: ``ρ_j`` (bound on ``||H_j - RᵀR||₂``), ``||R||_F²``, ``tr H_j``,
            ``max |H_j|``, ``p_j``.
    """

    lower: np.ndarray
    bounds: np.ndarray


def factor_grams(gram: np.ndarray) -> GramFactor:
    """Factor every ``H_j`` (G, g, g) as ``Rᵀ R`` and bound the factorization residual."""
    n_gpr, g, _ = gram.shape
    lower = np.empty_like(gram)
    for j in range(n_gpr):
        if not np.isfinite(gram[j]).all():  # float64 overflow: the residual is not finite,
            lower[j] = 0.0  # so every group of column j is flagged for the float64 kernel
            continue
        try:
            lower[j] = np.linalg.cholesky(gram[j])
        except np.linalg.LinAlgError:  # singular (few tokens, silent or padded channels)
            lam, vec = np.linalg.eigh(gram[j])
            m = vec * np.sqrt(np.clip(lam, 0.0, None))  # H ≈ M Mᵀ = Rᵀ R with Mᵀ = Q R
            lower[j] = np.linalg.qr(m.T).R.T
    fro2 = np.einsum("jik,jik->j", lower, lower)
    resid = np.linalg.norm(gram - np.matmul(lower, lower.transpose(0, 2, 1)), axis=(1, 2))
    shift = np.ldexp(1.0, np.frexp(np.abs(lower).max(axis=(1, 2)))[1])  # 1 for H = 0
    bounds = np.empty((n_gpr, 5))
    bounds[:, RESIDUAL] = resid * (1.0 + 1e-9) + 2.0 * (g + 2) * _EPS64 * fro2
    bounds[:, FRO2] = fro2
    bounds[:, TRACE] = np.trace(gram, axis1=1, axis2=2)
    bounds[:, HMAX] = np.abs(gram).reshape(n_gpr, -1).max(axis=1)
    bounds[:, SHIFT] = shift
    scaled = np.ascontiguousarray(lower / shift[:, None, None], dtype=np.float32)
    return GramFactor(lower=scaled, bounds=bounds)


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def _round_block(  # pragma: no cover - compiled
    groups, lengths, scales, mids, n_mids, mags, col, n_gpr, r0, e_out, e2_out
):
    """Error vectors ``e = x - ŵ_c`` (float32) of rows ``r0..`` of group column ``col``.

    Row ``k`` of the block, candidate ``c`` goes to ``e_out[k * C + c]``; ``e2_out[k, c]`` is an
    upper bound of ``||e||²`` (float32 sum, times ``1 + 1e-4``). Rounding as
    :func:`mant.output_select._errors_kernel`: ``|ŵ| = fl32(m_t s)`` with ``t`` the number of
    thresholds ``mids_t s`` (float64) at most ``|x|``. When every threshold is a float32 value
    (fp16 scales times the formats' half-integer midpoints are) the comparisons run in float32
    with the same outcome, as selects along the sorted thresholds; otherwise in float64.
    ``e`` is the float32 rounding of the exact ``|x| - |ŵ|`` either way (one IEEE subtraction).
    """
    n_rows = e2_out.shape[0]
    g = groups.shape[1]
    n_cand = scales.shape[1]
    n_lev = mags.shape[1]
    for k in prange(n_rows):
        gi = (r0 + k) * n_gpr + col
        n = lengths[gi]
        lev = np.empty(n_lev, dtype=np.float32)
        th = np.empty(n_lev, dtype=np.float32)
        ax = np.empty(g, dtype=np.float32)
        v = np.empty(g, dtype=np.float32)
        for e in range(n):
            ax[e] = abs(groups[gi, e])
        for c in range(n_cand):
            s = scales[gi, c]
            nm = n_mids[c]
            exact = True
            for t in range(nm + 1):
                lev[t] = np.float32(mags[c, t] * s)
            for t in range(nm):
                th64 = mids[c, t] * s
                th[t] = np.float32(th64)
                exact = exact and np.float64(th[t]) == th64
            if not (s > 0.0):
                nm = 0
            if exact:
                for e in range(n):
                    v[e] = lev[0]
                for t in range(nm):
                    tt = th[t]
                    lt = lev[t + 1]
                    for e in range(n):
                        v[e] = lt if ax[e] >= tt else v[e]
            else:
                for e in range(n):
                    a = np.float64(ax[e])
                    i = 0
                    for t in range(nm):
                        i += a >= mids[c, t] * s
                    v[e] = lev[i]
            row = k * n_cand + c
            acc = np.float32(0.0)
            for e in range(n):
                d = ax[e] - v[e]
                d = -d if groups[gi, e] < 0.0 else d
                e_out[row, e] = d
                acc += d * d
            for e in range(n, g):
                e_out[row, e] = np.float32(0.0)
            e2_out[k, c] = np.float64(acc) * (1.0 + 1e-4) + g * 2.0**-149  # + underflow


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def _select_block(  # pragma: no cover - compiled
    y, e2, bound, gamma, tol_unit, col, n_gpr, r0, q_out, beta_out, choice, flag
):
    """``q̂``, ``β`` (per block row), the least candidate and the flag of every row of a block."""
    n_rows, n_cand = e2.shape
    g = y.shape[1]
    resid, fro2, trace, shift = bound[0], bound[1], bound[2], bound[4]
    p2 = shift * shift  # y holds R e / p
    quad = resid + 4.0 * (g + 1) * 2.220446049250313e-16 * trace
    sum_tol = 1.01 * (g + 1) * 2.0**-24  # the float32 sum of g squares, any order
    step = 2.0**-149  # float32 underflow: absolute error per operation at most one step
    for k in prange(n_rows):
        gi = (r0 + k) * n_gpr + col
        best = 0
        e2max = 0.0
        finite = True
        for c in range(n_cand):
            row = k * n_cand + c
            qf = np.float32(0.0)
            for i in range(g):
                qf += y[row, i] * y[row, i]
            qs = np.float64(qf)
            q = qs * p2
            a = np.sqrt(fro2 * e2[k, c])
            beta = 1.01 * (2.0 * gamma * a * np.sqrt(q) + 3.0 * gamma * gamma * a * a)
            beta += quad * e2[k, c] + sum_tol * q
            # underflow (in units of y): rounding e and R / p, then g products and sums
            tiny = (2 * g + 4) * step + step * np.sqrt(g * e2[k, c])
            beta += 1.01 * p2 * (2.0 * tiny * np.sqrt(g * qs) + 2.0 * g * tiny * tiny + g * step)
            finite = finite and np.isfinite(q) and np.isfinite(beta)
            q_out[k, c] = q
            beta_out[k, c] = beta
            if q < q_out[k, best]:
                best = c
            e2max = max(e2max, e2[k, c])
        limit = q_out[k, best] + beta_out[k, best] + tol_unit * e2max
        near = not (finite and np.isfinite(limit))  # overflow: let float64 decide
        for c in range(n_cand):
            if c != best and q_out[k, c] - beta_out[k, c] <= limit:
                near = True
        choice[gi] = best
        flag[gi] = near


def filter_choice(
    groups: np.ndarray,
    lengths: np.ndarray,
    scales: np.ndarray,
    tables: tuple[np.ndarray, ...],
    factor: GramFactor,
    *,
    keep_errors: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Float32 output errors of every (group, candidate) and which groups are settled.

    Args:
        groups: (rows * G, g) float32, row-major (a row's G groups consecutive); lengths,
            scales and tables as :func:`mant.output_select.output_errors` takes them.
        factor: :func:`factor_grams` of the G Gram matrices.
        keep_errors: also return every ``q̂`` and ``β`` (else ``None``: they are not stored).

    Returns:
        ``(choice, flagged, q̂, β)``: per group the least ``q̂`` and whether it must be
        recomputed in float64; ``q̂`` and ``β`` (n_groups, C) in units of ``eᵀHe`` (not divided
        by tokens).
    """
    mids, mags, n_mids = tables
    n_groups, g = groups.shape
    n_gpr = factor.lower.shape[0]
    rows = n_groups // n_gpr
    n_cand = scales.shape[1]
    block = min(rows, _ROWS)
    e_buf = np.empty((block * n_cand, g), dtype=np.float32)
    e2_buf = np.empty((block, n_cand))
    q_blk = np.empty((block, n_cand))
    beta_blk = np.empty((block, n_cand))
    q = np.empty((n_groups, n_cand)) if keep_errors else None
    beta = np.empty((n_groups, n_cand)) if keep_errors else None
    choice = np.empty(n_groups, dtype=np.int64)
    flag = np.empty(n_groups, dtype=np.bool_)
    gamma = (g + 4) * _U32
    tol_units = 1.01 * 16.0 * g * _EPS64 * factor.bounds[:, HMAX]
    groups = np.ascontiguousarray(groups, dtype=np.float32)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    scales = np.ascontiguousarray(scales, dtype=np.float64)
    # one BLAS thread: the small strmm calls alternate with numba's parallel kernels (mant._blas)
    with one_blas_thread():
        _filter_loop(
            groups,
            lengths,
            scales,
            (mids, n_mids, mags),
            factor,
            block,
            n_cand,
            (e_buf, e2_buf, q_blk, beta_blk),
            gamma,
            tol_units,
            (choice, flag, q, beta),
        )
    return choice, flag, q, beta


def _filter_loop(
    groups, lengths, scales, tables, factor, block, n_cand, bufs, gamma, tol_units, out
) -> None:
    """The per-column, per-row-block loop of :func:`filter_choice` (writes into ``out``)."""
    mids, n_mids, mags = tables
    e_buf, e2_buf, q_blk, beta_blk = bufs
    choice, flag, q, beta = out
    n_gpr = factor.lower.shape[0]
    rows = groups.shape[0] // n_gpr
    for j in range(n_gpr):
        r_upper = factor.lower[j].T  # Fortran-ordered R
        for r0 in range(0, rows, block):
            nr = min(block, rows - r0)
            e = e_buf[: nr * n_cand]
            e2 = e2_buf[:nr]
            _round_block(groups, lengths, scales, mids, n_mids, mags, j, n_gpr, r0, e, e2)
            out = strmm(1.0, r_upper, e.T, side=0, lower=0, overwrite_b=1)  # eᵀ <- R eᵀ
            if not np.shares_memory(out, e):  # a BLAS that copied: keep the product
                e[...] = out.T
            _select_block(
                e,
                e2,
                factor.bounds[j],
                gamma,
                tol_units[j],
                j,
                n_gpr,
                r0,
                q_blk,
                beta_blk,
                choice,
                flag,
            )
            if q is not None and beta is not None:
                at = (r0 + np.arange(nr)) * n_gpr + j
                q[at], beta[at] = q_blk[:nr], beta_blk[:nr]
