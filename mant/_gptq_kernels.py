"""Compiled GPTQ sweep over one group's columns (the rounding rule of :mod:`mant._kernels`).

Rows are independent in GPTQ's sweep (a row's error moves only along that row), so blocks of
:data:`ROWS` rows run in parallel; each row rounds its column values with its group's fixed type
and scale exactly as ``apply_choice`` does, then moves the error onto the later columns of its
block. The arrays are in Fortran order and each step runs down a block of rows (one column's
values are contiguous), so the update ``w - e·u`` of a later column is one vector loop. The
arithmetic, operation by operation, is that of the numpy path of :func:`mant.gptq.gptq`
(``w - e·u`` with no fused multiply-add), so both give the same bits, and a row's values do not
depend on the blocks (the same bits on any thread count).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["ROWS", "output_costs", "sweep_group"]

ROWS = 128  # rows per parallel task


@njit(cache=True)
def _sweep_rows(
    w1, r0, r1, j0, j1, u, c0, scale, choice, mids, n_mids, mags, n_grid, codes, deq, err
):  # pragma: no cover - compiled
    """:func:`sweep_group` for rows ``r0..r1-1`` (one task; its own function so that LLVM
    vectorizes the update loop)."""
    width = w1.shape[1]
    m = r1 - r0
    thr = np.empty((m, max(mids.shape[1], 1)))  # each row's thresholds, fl(t * s)
    e = np.empty(m)
    for i in range(m):
        c = choice[r0 + i]
        s = scale[r0 + i]
        for t in range(n_mids[c]):
            thr[i, t] = mids[c, t] * s
    for j in range(j0, j1):
        d = u[c0 + j, c0 + j]
        for i in range(m):
            r = r0 + i
            c = choice[r]
            s = scale[r]
            nm = n_mids[c]
            n_mag = nm + 1
            x = np.float64(np.float32(w1[r, j]))
            a = abs(x)
            k = 0
            if s > 0.0:
                for t in range(nm):
                    k += a >= thr[i, t]
            v = mags[c, k] * s
            if x < 0.0:
                codes[r, j] = n_mag - 1 - k
                q = np.float32(-v)
            else:
                codes[r, j] = n_grid[c] - n_mag + k
                q = np.float32(v)
            deq[r, j] = q
            ei = (w1[r, j] - np.float64(q)) / d
            err[r, j] = ei
            e[i] = ei
        for t in range(j + 1, width):
            ut = u[c0 + j, c0 + t]
            col = w1[r0:r1, t]
            for i in range(m):
                col[i] -= e[i] * ut


@njit(cache=True, parallel=True)
def sweep_group(
    w1, j0, j1, u, c0, scale, choice, mids, n_mids, mags, n_grid, codes, deq, err
):  # pragma: no cover - compiled
    """Quantizes block columns ``j0..j1-1`` of ``w1`` (rows, B) in place of the sweep.

    ``w1``, ``codes``, ``deq`` and ``err`` are (rows, B) in Fortran order; ``u`` is the upper
    inverse-Hessian factor and ``c0`` the global index of block column 0. Writes ``codes``/
    ``deq`` of those columns and their scaled errors ``err``, and moves each error onto the
    later columns of ``w1``.
    """
    rows = w1.shape[0]
    for b in prange((rows + ROWS - 1) // ROWS):
        r0 = b * ROWS
        _sweep_rows(
            w1, r0, min(rows, r0 + ROWS), j0, j1, u, c0, scale, choice, mids, n_mids, mags,
            n_grid, codes, deq, err,
        )  # fmt: skip
    return codes, deq, err


@njit(cache=True)
def _output_costs_rows(
    w1, r0, r1, j0, j1, u, c0, scales, mids, n_mids, mags, cost
):  # pragma: no cover - compiled
    """:func:`output_costs` for rows ``r0..r1-1`` (one task)."""
    m = r1 - r0
    g = j1 - j0
    n_cand = scales.shape[1]
    z = np.empty((g, m))  # one column of the group per row of z: the row loop is contiguous
    thr = np.empty((m, max(mids.shape[1], 1)))
    acc = np.empty(m)
    for c in range(n_cand):
        nm = n_mids[c]
        for i in range(m):
            s = scales[r0 + i, c]
            for t in range(nm):
                thr[i, t] = mids[c, t] * s
        for j in range(g):
            for i in range(m):
                z[j, i] = w1[r0 + i, j0 + j]
        for i in range(m):
            acc[i] = 0.0
        for j in range(g):  # the sweep of the group with candidate c, as sweep_group runs it
            d = u[c0 + j0 + j, c0 + j0 + j]
            for i in range(m):
                s = scales[r0 + i, c]
                x = np.float64(np.float32(z[j, i]))
                a = abs(x)
                k = 0
                if s > 0.0:
                    for t in range(nm):
                        k += a >= thr[i, t]
                v = mags[c, k] * s
                q = np.float32(-v) if x < 0.0 else np.float32(v)
                ei = (z[j, i] - np.float64(q)) / d
                z[j, i] = ei
                acc[i] += ei * ei
            for t in range(j + 1, g):
                ut = u[c0 + j0 + j, c0 + j0 + t]
                for i in range(m):
                    z[t, i] -= z[j, i] * ut
        for i in range(m):
            cost[r0 + i, c] = acc[i]


@njit(cache=True, parallel=True)
def output_costs(w1, j0, j1, u, c0, scales, mids, n_mids, mags):  # pragma: no cover - compiled
    """GPTQ's output-error cost of each candidate for the group in block columns ``j0..j1-1``.

    Candidate ``c`` runs the group's own sweep from the current values of a row (each column
    rounded with ``c`` and the row's scale ``scales[row, c]`` after the errors of the group's
    earlier columns moved in, as :func:`sweep_group` does) and its cost is the sum of the
    squared scaled errors ``((w_j - q_j) / U_jj)²``: the output error that quantizing the group
    so and compensating optimally on all later columns adds, ``‖e U_FF⁻¹‖²`` for the group's
    error ``e = w_F - q_F`` (``U`` the upper factor, ``H⁻¹ = UᵀU``; the forward substitution of
    ``z U_FF = e`` is this sweep). ``g²/2`` multiply-adds per row and candidate. Returns
    ``(rows, n_candidates)`` float64; a row's costs do not depend on the blocks (the same bits
    on any thread count).
    """
    rows = w1.shape[0]
    cost = np.empty((rows, scales.shape[1]))
    for b in prange((rows + ROWS - 1) // ROWS):
        r0 = b * ROWS
        _output_costs_rows(
            w1, r0, min(rows, r0 + ROWS), j0, j1, u, c0, scales, mids, n_mids, mags, cost
        )
    return cost
