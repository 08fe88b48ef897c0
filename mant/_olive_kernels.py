"""The compiled outlier-victim-pair kernel of :mod:`mant.olive` (kept apart so that parsing an
OliVe format name does not load numba)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["ovp_kernel"]


@njit(cache=True)
def _level(a, thr, nm):  # pragma: no cover - compiled
    """Index of the nearest magnitude: #{j : thr[j] <= a} by binary search (thr sorted)."""
    lo, hi = 0, nm
    while lo < hi:
        mid = (lo + hi) // 2
        if thr[mid] <= a:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(parallel=True, cache=True)
def ovp_kernel(x, lengths, scales, mids, mags, n_mids, first_out, n_ratio, pick, out):
    """OVP quantization of every group under every column (candidate x ratio).

    With ``pick[r] < 0`` returns the per-column mean squared errors in ``err``; otherwise only
    column ``pick[r]`` is evaluated and its magnitude index (negative for a victim) and
    dequantized magnitude are written to ``out`` (``(n, g, 2)``).
    """  # pragma: no cover - compiled
    n, g = x.shape
    n_col = scales.shape[1]
    err = np.zeros((n, n_col))
    for r in prange(n):
        ln = lengths[r]
        thr = np.empty(mids.shape[1])
        c0, c1 = 0, n_col
        if pick[r] >= 0:
            c0, c1 = pick[r], pick[r] + 1
        for col in range(c0, c1):
            c = col // n_ratio
            s = scales[r, col]
            nm = n_mids[c]
            for j in range(nm):
                thr[j] = mids[c, j] * s
            total = 0.0
            for e0 in range(0, ln, 2):
                a0 = abs(np.float64(x[r, e0]))
                i0 = _level(a0, thr, nm) if s > 0.0 else 0
                v0 = mags[c, i0] * s
                a1, i1, v1 = 0.0, 0, 0.0
                paired = e0 + 1 < ln
                if paired:
                    a1 = abs(np.float64(x[r, e0 + 1]))
                    i1 = _level(a1, thr, nm) if s > 0.0 else 0
                    v1 = mags[c, i1] * s
                    if i0 >= first_out[c]:
                        i1, v1 = -1, 0.0
                    elif i1 >= first_out[c]:
                        i0, v0 = -1, 0.0
                total += (a0 - v0) ** 2 + (a1 - v1) ** 2
                if pick[r] >= 0:
                    out[r, e0, 0], out[r, e0, 1] = i0, v0
                    if paired:
                        out[r, e0 + 1, 0], out[r, e0 + 1, 1] = i1, v1
            err[r, col] = total / ln
    return err
