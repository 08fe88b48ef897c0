"""Compiled GPTQ sweep over one group's columns (the rounding rule of :mod:`mant._kernels`).

Rows are independent in GPTQ's sweep (a row's error moves only along that row), so the rows run
in parallel; each row rounds its column values with its group's fixed type and scale exactly as
``apply_choice`` does, then moves the error onto the later columns of its group. The arithmetic,
operation by operation, is that of the numpy path of :func:`mant.gptq.gptq` (``w - e·u`` with no
fused multiply-add), so both give the same bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["sweep_group"]


@njit(cache=True, parallel=True)
def sweep_group(
    w1, j0, j1, u, c0, scale, choice, mids, n_mids, mags, n_grid, codes, deq, err
):  # pragma: no cover
    """Quantizes block columns ``j0..j1-1`` of ``w1`` (rows, B) in place of the sweep.

    ``u`` is the upper inverse-Hessian factor and ``c0`` the global index of block column 0;
    writes ``codes``/``deq`` (rows, B) and the scaled errors ``err`` (rows, B) of those columns.
    """
    rows, width = w1.shape
    for r in prange(rows):
        c = choice[r]
        s = scale[r]
        nm = n_mids[c]
        n_mag = nm + 1
        base = n_grid[c] - n_mag
        for j in range(j0, j1):
            x = np.float64(np.float32(w1[r, j]))
            a = abs(x)
            k = 0
            if s > 0.0:
                for t in range(nm):
                    k += a >= mids[c, t] * s
            v = mags[c, k] * s
            if x < 0.0:
                codes[r, j] = n_mag - 1 - k
                q = np.float32(-v)
            else:
                codes[r, j] = base + k
                q = np.float32(v)
            deq[r, j] = q
            e = (w1[r, j] - np.float64(q)) / u[c0 + j, c0 + j]
            err[r, j] = e
            for t in range(j + 1, width):
                w1[r, t] -= e * u[c0 + j, c0 + t]
    return codes, deq, err
