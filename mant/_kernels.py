"""Compiled kernels for group quantization, and the numpy reference they are tested against.

Both paths implement one rounding rule exactly. For a group with stored scale ``s`` and a
candidate with sorted magnitudes ``m_0 < .. < m_{L-1}`` (grid units) and midpoints
``t_j = (m_j + m_{j+1}) / 2``, an element ``x`` takes level ``j = #{t : fl(t * s) <= |x|}`` (an
exact midpoint goes to the larger magnitude, as ANT's kernel; values beyond the top midpoint
saturate to ``m_{L-1}``) and keeps its sign; ``x`` with ``x >= 0`` (including -0.0) is positive.
Its dequantized value is ``sign * fl(m_j * s)`` in float64, rounded to float32 on output. A
group's error is the mean over its valid elements of ``(|x| - fl(m_j * s))^2`` in float64.
A zero scale (all-zero group) gives level 0 and value 0.

Codes index ``Format.grid``: with ``n_m`` magnitudes and ``n_g`` grid points, level ``j`` is code
``n_g - n_m + j`` when positive and ``n_m - 1 - j`` when negative.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "search_errors",
    "apply_choice",
    "search_errors_reference",
    "apply_choice_reference",
]

_CHUNK = 64  # groups per parallel task


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def search_errors(groups, lengths, scales, mids, n_mids, mags):  # pragma: no cover - compiled
    """Per-group, per-candidate mean squared error, shape ``(n_groups, n_candidates)``."""
    n_groups, g = groups.shape
    n_cand = scales.shape[1]
    n_lev = mags.shape[1]
    err = np.empty((n_groups, n_cand), dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        ax = np.empty(g, dtype=np.float64)
        idx = np.empty(g, dtype=np.int64)
        thr = np.empty(max(n_lev - 1, 1), dtype=np.float64)
        lev = np.empty(n_lev, dtype=np.float64)
        stop = min(n_groups, (ci + 1) * _CHUNK)
        for gi in range(ci * _CHUNK, stop):
            n = lengths[gi]
            for e in range(n):
                ax[e] = abs(np.float64(groups[gi, e]))
            for c in range(n_cand):
                s = scales[gi, c]
                nm = n_mids[c]
                for j in range(nm):
                    thr[j] = mids[c, j] * s
                for j in range(nm + 1):
                    lev[j] = mags[c, j] * s
                for e in range(n):
                    idx[e] = 0
                if s > 0.0:
                    for j in range(nm):
                        t = thr[j]
                        for e in range(n):
                            idx[e] += ax[e] >= t
                acc = 0.0
                for e in range(n):
                    d = ax[e] - lev[idx[e]]
                    acc += d * d
                err[gi, c] = acc / n
    return err


@njit(parallel=True, cache=True)
def apply_choice(groups, lengths, scale, choice, mids, n_mids, mags, n_grid):  # pragma: no cover
    """Quantize each group with its chosen candidate.

    Returns ``(codes int16, dequantized f32, mse per group, sum of x^2 per group)``.
    """
    n_groups, g = groups.shape
    codes = np.zeros((n_groups, g), dtype=np.int16)
    deq = np.zeros((n_groups, g), dtype=np.float32)
    err = np.empty(n_groups, dtype=np.float64)
    energy = np.empty(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        stop = min(n_groups, (ci + 1) * _CHUNK)
        for gi in range(ci * _CHUNK, stop):
            c = choice[gi]
            s = scale[gi]
            nm = n_mids[c]
            n_mag = nm + 1
            base = n_grid[c] - n_mag
            acc = 0.0
            ref = 0.0
            n = lengths[gi]
            for e in range(n):
                x = np.float64(groups[gi, e])
                ref += x * x
                a = abs(x)
                j = 0
                if s > 0.0:
                    for t in range(nm):
                        j += a >= mids[c, t] * s
                v = mags[c, j] * s
                d = a - v
                acc += d * d
                if x < 0.0:
                    codes[gi, e] = n_mag - 1 - j
                    deq[gi, e] = -v
                else:
                    codes[gi, e] = base + j
                    deq[gi, e] = v
            err[gi] = acc / n
            energy[gi] = ref
    return codes, deq, err, energy


def search_errors_reference(groups, lengths, scales, mids, n_mids, mags):
    """Plain numpy version of :func:`search_errors` (the test oracle)."""
    n_groups, g = groups.shape
    ax = np.abs(groups.astype(np.float64))
    valid = np.arange(g)[None, :] < lengths[:, None]
    err = np.empty(scales.shape, dtype=np.float64)
    for c in range(scales.shape[1]):
        s = scales[:, c : c + 1]
        nm = int(n_mids[c])
        thr = mids[c, :nm][None, :] * s  # (G, nm)
        idx = np.zeros(ax.shape, dtype=np.int64)
        for j in range(nm):
            idx += ax >= thr[:, j : j + 1]
        idx[(s <= 0)[:, 0]] = 0
        lev = mags[c, idx] * s
        d2 = np.where(valid, (ax - lev) ** 2, 0.0)
        err[:, c] = d2.sum(axis=1) / lengths
    return err


def apply_choice_reference(groups, lengths, scale, choice, mids, n_mids, mags, n_grid):
    """Plain numpy version of :func:`apply_choice` (the test oracle)."""
    n_groups, g = groups.shape
    x = groups.astype(np.float64)
    ax = np.abs(x)
    s = scale[:, None]
    idx = np.zeros(x.shape, dtype=np.int64)
    nm = n_mids[choice]
    for j in range(mids.shape[1]):
        thr = mids[choice, j][:, None] * s
        idx += (ax >= thr) & (j < nm)[:, None]
    idx[scale <= 0] = 0
    v = mags[choice[:, None], idx] * s
    valid = np.arange(g)[None, :] < lengths[:, None]
    n_mag = (nm + 1)[:, None]
    base = n_grid[choice][:, None] - n_mag
    neg = x < 0
    codes = np.where(neg, n_mag - 1 - idx, base + idx).astype(np.int16)
    deq = np.where(neg, -v, v).astype(np.float32)
    codes = np.where(valid, codes, 0).astype(np.int16)
    deq = np.where(valid, deq, 0).astype(np.float32)
    err = np.where(valid, (ax - v) ** 2, 0.0).sum(axis=1) / lengths
    energy = np.where(valid, x * x, 0.0).sum(axis=1)
    return codes, deq, err, energy
