"""Compiled kernels for the power-of-two-scaled block formats: OCP MX elements (ties to even),
HiFloat4, MX+ and BlockDialect (issue 20, point 5).

One pass per block: the block's scale, each element's level, its dequantized value (float32),
its grid code, the float64 squared error summed element by element over the valid values, and
the sum of x^2. The arithmetic is the float64 sequence of the numpy forms each replaces
(:func:`mant.blocks.ties_to_even` after :func:`mant._kernels.apply_choice`,
:func:`mant.hif4.hif4_blocks`, :func:`mant.mxplus.mxplus_blocks`,
:func:`mant.blockdialect.blockdialect_blocks`), so every output bit is theirs (signed zeros
included); ``tests/mant_tests/test_block_kernels.py`` compares them. Scales and choices read
the whole row (padding included, as the numpy forms do); padding's outputs are 0.

Grid codes of a value ``q`` (in grid units, a multiple of 1/8) are those of
:func:`mant.levels.grid_codes`: ``zero +- (table[rint(8 |q|)] - zero)``, minus for ``q < 0``.
Blocks are independent, so results do not depend on the thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = [
    "blockdialect_kernel",
    "hif4_kernel",
    "mx_elements",
    "mx_scales",
    "mxplus_kernel",
]

_CHUNK = 64  # blocks per parallel task


@njit(cache=True, inline="always")
def _code(q, table, zero):  # pragma: no cover - compiled
    v = np.float32(q)
    k = table[np.int64(np.rint(abs(v) * np.float32(8.0)))] - zero
    return zero - k if v < 0 else zero + k


@njit(cache=True, inline="always")
def _row_absmax(groups, gi, g):  # pragma: no cover - compiled
    m = 0.0
    for e in range(g):
        m = max(m, abs(np.float64(groups[gi, e])))
    return m


@njit(cache=True, inline="always")
def _finish(groups, gi, n, g, deq, codes):  # pragma: no cover - compiled
    """(float64 sum of (deq - x)^2 over the valid values, sum of x^2); padding set to 0."""
    acc = 0.0
    ref = 0.0
    for e in range(n):
        x = np.float64(groups[gi, e])
        d = np.float64(deq[gi, e]) - x
        acc += d * d
        ref += x * x
    for e in range(n, g):
        deq[gi, e] = 0.0
        codes[gi, e] = 0
    return acc, ref


# ---- OCP MX -------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def mx_scales(groups, emax):  # pragma: no cover - compiled
    """MX block scale ``2^clip(floor(log2 amax) - emax, -127, 127)``, 0 for an all-zero block
    (:func:`mant.blocks.block_scales`; ``floor(log2 a)`` is ``a``'s binary exponent), float64."""
    n_groups, g = groups.shape
    out = np.zeros(n_groups, dtype=np.float64)
    for gi in prange(n_groups):
        amax = _row_absmax(groups, gi, g)
        if amax > 0.0:
            e = math.frexp(amax)[1] - 1 - emax
            out[gi] = math.ldexp(1.0, min(max(e, -127), 127))
    return out


@njit(parallel=True, cache=True)
def mx_elements(groups, lengths, scale, mids, mags, n_grid):  # pragma: no cover - compiled
    """Elements of OCP block formats: :func:`mant._kernels.apply_choice`'s level
    ``#{t : fl(t * s) <= |x|}`` (one candidate), then an exact midpoint moved to the even
    magnitude index (:func:`mant.blocks.ties_to_even`).

    Args:
        groups: float32 ``(G, g)``; lengths: valid values per group; scale: float64 ``(G,)``
            stored scales; mids, mags: the format's midpoints and magnitudes (grid units);
            n_grid: the grid's size.

    Returns:
        ``(codes int16, dequantized float32, mse float64, sum of x^2 float64, tie bool)``; a
        block with a tie moved has ``tie`` set (its error is the one before the move: the
        caller recomputes it).
    """
    n_groups, g = groups.shape
    nm = mids.shape[0]
    n_mag = nm + 1
    base = n_grid - n_mag
    codes = np.zeros((n_groups, g), dtype=np.int16)
    deq = np.zeros((n_groups, g), dtype=np.float32)
    err = np.empty(n_groups, dtype=np.float64)
    energy = np.empty(n_groups, dtype=np.float64)
    tie = np.zeros(n_groups, dtype=np.bool_)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        for gi in range(ci * _CHUNK, min(n_groups, (ci + 1) * _CHUNK)):
            s = scale[gi]
            n = lengths[gi]
            acc = 0.0
            ref = 0.0
            moved = False
            for e in range(n):
                x = np.float64(groups[gi, e])
                ref += x * x
                a = abs(x)
                j = 0
                if s > 0.0:
                    for t in range(nm):
                        j += a >= mids[t] * s
                v = mags[j] * s
                d = a - v
                acc += d * d
                if j % 2 == 1 and a == mids[j - 1] * s:  # exact midpoint: to the even index
                    j -= 1
                    v = mags[j] * s
                    moved = True
                if x < 0.0:
                    codes[gi, e] = n_mag - 1 - j
                    deq[gi, e] = -v
                else:
                    codes[gi, e] = base + j
                    deq[gi, e] = v
            err[gi] = acc / n
            energy[gi] = ref
            tie[gi] = moved
    return codes, deq, err, energy, tie


# ---- HiFloat4 -----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _round_sig(v, bits, emin):  # pragma: no cover - compiled
    """:func:`mant.hif4._round_sig`: ``v >= 0`` to ``bits`` significant bits, half to even."""
    e = max(math.frexp(v)[1] - 1, emin)
    step = math.ldexp(1.0, e - (bits - 1))
    return np.rint(v / step) * step


@njit(parallel=True, cache=True)
def hif4_kernel(groups, lengths, c17, lo, hi, table, zero):  # pragma: no cover - compiled
    """HiF4 on blocks of 64 (:func:`mant.hif4.hif4_blocks`, then ``f32(q * E6M2)``).

    Args:
        groups: float32 ``(G, 64)``; lengths: valid values per block; c17: ``bf16(1/7)``;
            lo, hi: the E6M2 clamp; table, zero: the grid-code table (module docstring).

    Returns:
        ``(dequantized float32, codes int16, E6M2 scale float64 (G,), mse, sum of x^2)``.
    """
    n_groups, g = groups.shape
    deq = np.zeros((n_groups, g), dtype=np.float32)
    codes = np.zeros((n_groups, g), dtype=np.int16)
    scales = np.empty(n_groups, dtype=np.float64)
    err = np.empty(n_groups, dtype=np.float64)
    energy = np.empty(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        v16 = np.empty(16, dtype=np.float64)
        for gi in range(ci * _CHUNK, min(n_groups, (ci + 1) * _CHUNK)):
            vmax = 0.0
            for k in range(16):
                m = 0.0
                for e in range(4 * k, 4 * k + 4):
                    m = max(m, abs(np.float64(groups[gi, e])))
                v16[k] = m
                vmax = max(vmax, m)
            sf = _round_sig(vmax * c17, 8, -126)
            e6m2 = _round_sig(min(max(sf, lo), hi), 3, -10_000)
            rec = _round_sig(1.0 / e6m2, 8, -126)
            scales[gi] = e6m2
            for j in range(8):
                e8 = 1.0 if max(v16[2 * j], v16[2 * j + 1]) * rec >= 4 else 0.0
                down8 = 0.5 if e8 == 1.0 else 1.0  # exp2(-e8)
                for k in range(2 * j, 2 * j + 2):
                    e4 = 1.0 if v16[k] * rec * down8 >= 2 else 0.0
                    de = e8 + e4
                    up = 4.0 if de == 0.0 else (2.0 if de == 1.0 else 1.0)  # exp2(2 - de)
                    p2 = 1.0 if de == 0.0 else (2.0 if de == 1.0 else 4.0)  # exp2(de)
                    for e in range(4 * k, 4 * k + 4):
                        x = groups[gi, e]
                        m = np.floor(abs(np.float64(x)) * rec * up + 0.5) / 4
                        if m >= 2:
                            m = 1.75
                        q = (-1.0 if x < 0 else 1.0) * p2 * m
                        deq[gi, e] = q * e6m2
                        codes[gi, e] = _code(q, table, zero)
            err[gi], energy[gi] = _finish(groups, gi, lengths[gi], g, deq, codes)
            err[gi] /= lengths[gi]
    return deq, codes, scales, err, energy


# ---- MX+ ----------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _rne_code(v, mids):  # pragma: no cover - compiled
    """:func:`mant.subblock.round_mags_rne`: #mids below ``v``, an odd-index midpoint up."""
    j = 0
    for t in range(mids.shape[0]):
        j += mids[t] < v
    if j < mids.shape[0] and mids[j] == v and j % 2 == 1:
        j += 1
    return j


@njit(parallel=True, cache=True)
def mxplus_kernel(groups, lengths, mags, mids, bm_mags, bm_mids, table, zero):  # pragma: no cover
    """MX+ (:func:`mant.mxplus.mxplus_blocks`, then ``f32(q * 2^E)``).

    Args:
        groups: float32 ``(G, b)``; lengths: valid values per block; mags, mids: E2M1
            magnitudes and midpoints; bm_mags, bm_mids: the block max's; table, zero: grid codes.

    Returns:
        ``(dequantized float32, codes int16, scale 2^E float64 (G,), mse, sum of x^2)``.
    """
    n_groups, g = groups.shape
    n_bm = bm_mags.shape[0]
    deq = np.zeros((n_groups, g), dtype=np.float32)
    codes = np.zeros((n_groups, g), dtype=np.int16)
    scales = np.empty(n_groups, dtype=np.float64)
    err = np.empty(n_groups, dtype=np.float64)
    energy = np.empty(n_groups, dtype=np.float64)
    for gi in prange(n_groups):
        amax = 0.0
        bm = 0
        for e in range(g):
            a = abs(np.float64(groups[gi, e]))
            if a > amax:  # the first index of the maximum
                amax = a
                bm = e
        zero_block = amax == 0.0
        ex = min(max(math.frexp(1.0 if zero_block else amax)[1] - 1 - 2, -127), 127)
        p = math.ldexp(1.0, ex)
        scales[gi] = p
        for e in range(g):
            x = groups[gi, e]
            v = abs(np.float64(x)) / p
            q = mags[_rne_code(v, mids)]
            if e == bm and v >= 4:  # the block max: exponent 2, 3 mantissa bits
                q = bm_mags[min(_rne_code(v, bm_mids), n_bm - 1)]
            if zero_block:
                q = 0.0
            elif x < 0:
                q = -q
            deq[gi, e] = q * p
            codes[gi, e] = _code(q, table, zero)
        err[gi], energy[gi] = _finish(groups, gi, lengths[gi], g, deq, codes)
        err[gi] /= lengths[gi]
    return deq, codes, scales, err, energy


# ---- BlockDialect -------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _quarter_cell(v):  # pragma: no cover - compiled
    """Cell of ``v >= 0`` on the quarter grid: ``2k`` at ``v = k/4``, ``2k + 1`` inside
    ``(k/4, (k+1)/4)``, 64 from 8 up (:data:`mant.blockdialect.CELL_LEVELS`' rows)."""
    q4 = v * 4.0  # exact: a power-of-two product
    if q4 >= 32.0:
        return 64
    k = int(q4)
    return 2 * k + (1 if q4 != k else 0)


@njit(parallel=True, cache=True)
def blockdialect_kernel(
    groups, lengths, cell_levels, pair_max, online, exp_lo, exp_hi, same_below, table, zero
):  # pragma: no cover - compiled
    """BlockDialect (:func:`mant.blockdialect.blockdialect_blocks`, then ``f32(q * 2^E)``).

    Args:
        groups: float32 ``(G, b)``; lengths: valid values per block; cell_levels: ``(65, D)``
            the level of each quarter-grid cell (:func:`_quarter_cell`) in each dialect, i.e.
            the dialect's rounding (its midpoints are multiples of 1/4 below 8); pair_max: the
            max of each dialect pair; online: the two-stage activation rule; exp_lo, exp_hi:
            the exponent's range; same_below: every dialect rounds a scaled magnitude up to
            this alike, so the squared errors sum only the values above it; table, zero: grid
            codes.

    Returns:
        ``(dequantized float32, codes int16, scale 2^E float64 (G,), dialect int64 (G,), mse,
        sum of x^2)``.
    """
    n_groups, g = groups.shape
    n_d = cell_levels.shape[1]
    n_pairs = pair_max.shape[0]
    deq = np.zeros((n_groups, g), dtype=np.float32)
    codes = np.zeros((n_groups, g), dtype=np.int16)
    scales = np.empty(n_groups, dtype=np.float64)
    choice = np.empty(n_groups, dtype=np.int64)
    err = np.empty(n_groups, dtype=np.float64)
    energy = np.empty(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        sq = np.empty(n_d, dtype=np.float64)
        for gi in range(ci * _CHUNK, min(n_groups, (ci + 1) * _CHUNK)):
            amax = _row_absmax(groups, gi, g)
            if amax == 0.0:
                ex = exp_lo
            else:
                ex = min(max(math.frexp(amax)[1] - 1 - 2, exp_lo), exp_hi)
            p = math.ldexp(1.0, ex)
            down = math.ldexp(1.0, -ex)  # exp2(-E)
            scales[gi] = p
            d_lo, d_hi = 0, n_d
            if online:  # the pair whose shared max is the least one >= the scaled block max
                vmax = amax * down
                cnt = 0
                for k in range(n_pairs):
                    cnt += pair_max[k] >= vmax
                pair = max(cnt - 1, 0)
                d_lo, d_hi = 2 * pair, 2 * pair + 2
            for d in range(n_d):
                sq[d] = 0.0
            for e in range(g):
                v = abs(np.float64(groups[gi, e])) * down
                if v > same_below:
                    c = _quarter_cell(v)
                    for d in range(n_d):  # every dialect (a fixed, vectorizable loop)
                        diff = v - cell_levels[c, d]
                        sq[d] += diff * diff
            best = d_lo
            for d in range(d_lo + 1, d_hi):
                if sq[d] < sq[best]:  # the first minimum: ties to the lower id
                    best = d
            choice[gi] = best
            for e in range(g):
                x = groups[gi, e]
                q = cell_levels[_quarter_cell(abs(np.float64(x)) * down), best]
                if x < 0:
                    q = -q
                deq[gi, e] = q * p
                codes[gi, e] = _code(q, table, zero)
            err[gi], energy[gi] = _finish(groups, gi, lengths[gi], g, deq, codes)
            err[gi] /= lengths[gi]
    return deq, codes, scales, choice, err, energy
