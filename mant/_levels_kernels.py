"""Compiled kernel for formats defined by explicit level lists (:mod:`mant.levels`).

One rule, parametrised. For a group with per-candidate scale ``s`` and a candidate's sorted signed
levels ``l_0 < .. < l_{L-1}`` with midpoints ``t_j = (l_j + l_{j+1}) / 2``, an element ``x``
becomes ``v = round_a(x / s)`` (``round_a``: float64, float32 or float16 arithmetic), then level
``j = #{t : t < v}`` (*threshold rounding*: an exact midpoint goes to the lower level, toward
-inf, as BitMoD's and RaZeR's code); with ``tie_even`` an exact midpoint goes instead to the
neighbour whose distance in levels from the zero level is even (round half to even on the code).
Values beyond the ends clamp. A zero scale gives the zero level. The dequantized value is
``round_a(l_j * s)``.

Selection error per candidate: in float64/float32 arithmetic the mean of ``(deq - x)^2`` in
float64; in float16 arithmetic BitMoD's: ``d = f16(deq - x)``, ``f16(d * d)`` summed, mean
rounded to fp16.
The earliest candidate with the strictly least error wins; ``best0`` is the starting error (BitMoD
starts at 1000, so a group never below it is left at zero, choice ``-1``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["f16_round", "levels_search"]

_CHUNK = 64
ARITH_F64, ARITH_F32, ARITH_F16 = 0, 1, 2


@njit(cache=True, inline="always")
def f16_round(x):  # pragma: no cover - compiled
    """``x`` (float64) rounded to the nearest float16 value, ties to even; overflow to inf."""
    if x == 0.0 or not math.isfinite(x):
        return x
    a = abs(x)
    if a >= 65520.0:
        return math.copysign(math.inf, x)
    _, e = math.frexp(a)  # a = m * 2^e, m in [0.5, 1)
    q = math.ldexp(1.0, max(e - 11, -24))
    return math.copysign(np.rint(a / q) * q, x)


@njit(cache=True, inline="always")
def _arith(x, mode):  # pragma: no cover - compiled
    if mode == ARITH_F32:
        return np.float64(np.float32(x))
    if mode == ARITH_F16:
        return f16_round(x)
    return x


@njit(cache=True, inline="always")
def _level(v, mids, nm, zero, tie_even):  # pragma: no cover - compiled
    lo, hi = 0, nm  # first index j with mids[j] >= v
    while lo < hi:
        mid = (lo + hi) // 2
        if mids[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    j = lo
    if tie_even and j < nm and mids[j] == v and (j - zero) % 2 != 0:
        j += 1
    return j


@njit(parallel=True, cache=True)
def levels_search(
    groups, lengths, scales, levels, mids, n_levels, zeros, mode, tie_even, best0, choice_in, width
):  # pragma: no cover - compiled
    """Per group: the chosen candidate (or ``choice_in`` when >= 0) and its level indices.

    Args:
        groups: float32 ``(G, g)``; lengths: valid values per group.
        scales: float64 ``(G, C)`` stored scales; levels: float64 ``(C, L)`` padded; mids: ``(C,
            L-1)``; n_levels: ``(C,)``; zeros: index of the zero (least-magnitude) level.
        mode: ``ARITH_F64``, ``ARITH_F32`` or ``ARITH_F16``; tie_even: midpoint rule.
        best0: starting error of the search; choice_in: ``(G,)`` first column of a given choice
            (its ``width`` columns are searched) or ``-1`` (all columns).

    Returns:
        ``(choice int64 (G,), idx int16 (G, g), deq float64 (G, g))``; a group left unassigned
        has choice -1 and zeros.
    """
    n_groups, g = groups.shape
    n_cand = scales.shape[1]
    choice = np.full(n_groups, -1, dtype=np.int64)
    out_idx = np.zeros((n_groups, g), dtype=np.int16)
    out_deq = np.zeros((n_groups, g), dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        idx = np.empty(g, dtype=np.int16)
        deq = np.empty(g, dtype=np.float64)
        stop = min(n_groups, (ci + 1) * _CHUNK)
        for gi in range(ci * _CHUNK, stop):
            n = lengths[gi]
            best = best0
            given = choice_in[gi]
            for c in range(n_cand):
                if given >= 0 and not given <= c < given + width:
                    continue
                s = scales[gi, c]
                nm = n_levels[c] - 1
                z = zeros[c]
                acc = 0.0
                for e in range(n):
                    x = np.float64(groups[gi, e])
                    if s > 0.0:
                        j = _level(_arith(x / s, mode), mids[c], nm, z, tie_even)
                    else:
                        j = z
                    d = _arith(levels[c, j] * s, mode)
                    idx[e] = j
                    deq[e] = d
                    if mode == ARITH_F16:
                        r = f16_round(d - x)
                        acc += f16_round(r * r)
                    else:
                        acc += (d - x) * (d - x)
                err = acc / n
                if mode == ARITH_F16:
                    err = f16_round(err)
                if err < best:
                    best = err
                    choice[gi] = c
                    for e in range(n):
                        out_idx[gi, e] = idx[e]
                        out_deq[gi, e] = deq[e]
    return choice, out_idx, out_deq
