"""Compiled kernel for formats defined by explicit level lists (:mod:`mant.levels`).

One rule, parametrised. For a group with per-candidate scale ``s`` and a candidate's sorted signed
levels ``l_0 < .. < l_{L-1}`` with midpoints ``t_j = (l_j + l_{j+1}) / 2``, an element ``x`` takes
level ``j = #{t : t < v}`` (*threshold rounding*: an exact midpoint goes to the lower level,
toward -inf, as BitMoD's and RaZeR's code), where

* in float64 arithmetic ``x`` is compared with ``fl(t_j * s)`` (``v = x``; the same as comparing
  ``x / s`` with ``t_j`` whenever ``s`` is a power of two);
* in float32 / float16 arithmetic ``v = round_a(x / s)`` is compared with ``t_j``.

With ``tie_even`` an exact midpoint goes instead to the neighbour whose distance in levels from the
zero level is even (round half to even on the code). Values beyond the ends clamp; a zero scale
gives the zero level. The dequantized value is ``round_a(l_j * s)``, then float16 when ``out_f16``.

Selection error per candidate: in float64/float32 arithmetic the mean of ``(deq - x)^2`` in
float64; in float16 arithmetic BitMoD's: ``d = f16(deq - x)``, ``f16(d * d)`` summed, mean
rounded to fp16. The earliest candidate with the strictly least error wins; ``best0`` is the
starting error (BitMoD starts at 1000, so a group never below it stays at zero, choice ``-1``).
The returned group error is the float64 MSE of the float32 output against ``ref``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from mant._arith import ARITH_F16, ARITH_F32, ARITH_F64

__all__ = [
    "absmax_rows",
    "f16_round",
    "f16_rows",
    "grid_codes_of",
    "group_errors",
    "levels_search",
    "list_codes",
    "scaled_levels_f16",
]

_CHUNK = 64


def _bits_of_typing(typingctx, x):  # pragma: no cover - compiled
    """The int64 bit pattern of a float64 (a register bitcast, no memory)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


def _float_of_typing(typingctx, b):  # pragma: no cover - compiled
    """The float64 with bit pattern ``b`` (int64)."""
    if b != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# numba intrinsics: ``_bits_of(x)`` / ``_float_of(b)`` inside compiled code (typed Any for mypy)
_bits_of: Any = intrinsic(_bits_of_typing)
_float_of: Any = intrinsic(_float_of_typing)


@njit(cache=True, inline="always")
def f16_round(x):  # pragma: no cover - compiled
    """``x`` (float64) rounded to the nearest float16 value, ties to even; overflow to inf.

    Normal values are rounded on their bits (drop 42 of 52 mantissa bits, round half to even;
    a register bitcast, so loops over it stay free of memory round trips), subnormal ones to a
    multiple of 2^-24 with ``rint``.
    """
    a = abs(x)
    if a < 6.103515625e-05:  # fp16 subnormal range
        return math.copysign(np.rint(a * 16777216.0) / 16777216.0, x)
    if not a < 65520.0:
        return math.copysign(math.inf, x) if a == a else x
    bits = _bits_of(a)
    bits = (bits + 0x1FFFFFFFFFF + ((bits >> 42) & 1)) & ~0x3FFFFFFFFFF
    return math.copysign(_float_of(bits), x)


@njit(cache=True, inline="always")
def _arith(x, mode):  # pragma: no cover - compiled
    if mode == ARITH_F32:
        return np.float64(np.float32(x))
    if mode == ARITH_F16:
        return f16_round(x)
    return x


@njit(cache=True, inline="always")
def _levels_of(xv, n, s, mids_c, nm, z, mode, tie_even, v, thr, idx):  # pragma: no cover
    """Fill ``idx[:n]`` with the level index of each element (see the module docstring)."""
    if s <= 0.0:
        for e in range(n):
            idx[e] = z
        return
    for e in range(n):
        idx[e] = 0
    if mode == ARITH_F64:  # compare x itself with fl(t * s)
        for j in range(nm):
            thr[j] = mids_c[j] * s
        for j in range(nm):
            t = thr[j]
            for e in range(n):
                idx[e] += xv[e] > t
        if tie_even:
            for e in range(n):
                v[e] = xv[e]
    else:
        for j in range(nm):
            thr[j] = mids_c[j]
        for e in range(n):
            v[e] = _arith(xv[e] / s, mode)
        for j in range(nm):
            t = thr[j]
            for e in range(n):
                idx[e] += v[e] > t
    if tie_even:
        for e in range(n):
            j = idx[e]
            if j < nm and v[e] == thr[j] and (j - z) % 2 != 0:
                idx[e] = j + 1


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def levels_search(
    groups,
    ref,
    lengths,
    scales,
    levels,
    mids,
    n_levels,
    zeros,
    mode,
    tie_even,
    best0,
    choice_in,
    width,
    out_f16,
):  # pragma: no cover - compiled
    """Per group: the chosen scale column, its level indices, dequantized values and errors.

    Args:
        groups: float32 ``(G, g)`` searched values; ref: float32 ``(G, g)`` the error reference
            (the input; BitMoD searches its float16 cast); lengths: valid values per group.
        scales: float64 ``(G, C)``; levels: float64 ``(C, L)`` padded; mids: ``(C, L-1)``;
            n_levels: ``(C,)``; zeros: index of the zero (least-magnitude) level per column.
        mode: ``ARITH_F64``, ``ARITH_F32`` or ``ARITH_F16``; tie_even: midpoint rule.
        best0: starting error; choice_in: ``(G,)`` first column of a given choice (its ``width``
            columns are searched) or ``-1`` (all); out_f16: round the output to float16.

    Returns:
        ``(column int64 (G,) or -1, level index int16 (G, g), dequantized float32 (G, g),
        mse float64 (G,), sum of ref^2 float64 (G,))``; padding stays 0.
    """
    n_groups, g = groups.shape
    n_cand = scales.shape[1]
    n_lev = levels.shape[1]
    choice = np.full(n_groups, -1, dtype=np.int64)
    out_idx = np.zeros((n_groups, g), dtype=np.int16)
    out_deq = np.zeros((n_groups, g), dtype=np.float32)
    err_out = np.zeros(n_groups, dtype=np.float64)
    energy = np.zeros(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        xv = np.empty(g, dtype=np.float64)
        v = np.empty(g, dtype=np.float64)
        idx = np.empty(g, dtype=np.int32)
        thr = np.empty(max(n_lev - 1, 1), dtype=np.float64)
        stop = min(n_groups, (ci + 1) * _CHUNK)
        for gi in range(ci * _CHUNK, stop):
            n = lengths[gi]
            for e in range(n):
                xv[e] = np.float64(groups[gi, e])
            best = best0
            pick = -1
            given = choice_in[gi]
            for c in range(n_cand):
                if given >= 0 and not given <= c < given + width:
                    continue
                s = scales[gi, c]
                nm = n_levels[c] - 1
                _levels_of(xv, n, s, mids[c], nm, zeros[c], mode, tie_even, v, thr, idx)
                acc = 0.0
                if mode == ARITH_F16:
                    for e in range(n):
                        r = f16_round(f16_round(levels[c, idx[e]] * s) - xv[e])
                        acc += f16_round(r * r)
                    err = f16_round(acc / n)
                elif mode == ARITH_F32:
                    for e in range(n):
                        d = np.float64(np.float32(levels[c, idx[e]] * s)) - xv[e]
                        acc += d * d
                    err = acc / n
                else:
                    for e in range(n):
                        d = levels[c, idx[e]] * s - xv[e]
                        acc += d * d
                    err = acc / n
                if err < best:
                    best = err
                    pick = c
            choice[gi] = pick
            acc = 0.0
            ref_sq = 0.0
            if pick >= 0:
                s = scales[gi, pick]
                nm = n_levels[pick] - 1
                _levels_of(xv, n, s, mids[pick], nm, zeros[pick], mode, tie_even, v, thr, idx)
            for e in range(n):
                r0 = np.float64(ref[gi, e])
                ref_sq += r0 * r0
                if pick >= 0:
                    q = _arith(levels[pick, idx[e]] * s, mode)
                    if out_f16:
                        q = f16_round(q)
                    out_idx[gi, e] = idx[e]
                    out_deq[gi, e] = q
                d = np.float64(out_deq[gi, e]) - r0
                acc += d * d
            err_out[gi] = acc / n
            energy[gi] = ref_sq
    return choice, out_idx, out_deq, err_out, energy


@njit(parallel=True, cache=True)
def group_errors(groups, deq, lengths):  # pragma: no cover - compiled
    """Zero ``deq``'s padding in place; return (MSE of ``deq`` vs ``groups``, sum of x^2)."""
    n_groups, g = groups.shape
    err = np.zeros(n_groups, dtype=np.float64)
    energy = np.zeros(n_groups, dtype=np.float64)
    for gi in prange(n_groups):
        n = lengths[gi]
        acc = 0.0
        ref = 0.0
        for e in range(n):
            x = np.float64(groups[gi, e])
            d = np.float64(deq[gi, e]) - x
            acc += d * d
            ref += x * x
        for e in range(n, g):
            deq[gi, e] = 0.0
        err[gi] = acc / n
        energy[gi] = ref
    return err, energy


@njit(parallel=True, cache=True)
def grid_codes_of(q, table, zero):  # pragma: no cover - compiled
    """Code of each float32 value of ``q`` (G, g): ``zero +- table[rint(8 |q|)] - zero``, minus
    for ``q < 0`` (the grid index of :func:`mant.levels.grid_codes`), int16."""
    n_groups, g = q.shape
    out = np.empty((n_groups, g), dtype=np.int16)
    for gi in prange(n_groups):
        for e in range(g):
            v = q[gi, e]
            k = table[np.int64(np.rint(abs(v) * np.float32(8.0)))] - zero
            out[gi, e] = zero - k if v < 0 else zero + k
    return out


@njit(parallel=True, cache=True)
def list_codes(choice, idx, table):  # pragma: no cover - compiled
    """``table[choice[i], idx[i, e]]`` for every element (int16): level index -> grid code."""
    n_groups, g = idx.shape
    out = np.empty((n_groups, g), dtype=np.int16)
    for gi in prange(n_groups):
        c = choice[gi]
        for e in range(g):
            out[gi, e] = table[c, idx[gi, e]]
    return out


@njit(parallel=True, cache=True)
def scaled_levels_f16(groups, lengths, choice, idx, values, codes_of, scale):  # pragma: no cover
    """RaZeR NVFP4's output: ``f16(f32(values[c, j] * scale))`` per element (as float32), its
    grid code ``codes_of[c, j]``, the float64 MSE against ``groups`` and the sum of x^2 per
    group (the arithmetic and order of :func:`group_errors`); padding stays 0."""
    n_groups, g = groups.shape
    deq = np.zeros((n_groups, g), dtype=np.float32)
    codes = np.zeros((n_groups, g), dtype=np.int16)
    err = np.zeros(n_groups, dtype=np.float64)
    energy = np.zeros(n_groups, dtype=np.float64)
    for gi in prange(n_groups):
        c = choice[gi]
        s = scale[gi]
        n = lengths[gi]
        acc = 0.0
        ref = 0.0
        for e in range(n):
            j = idx[gi, e]
            out = np.float32(f16_round(np.float64(np.float32(values[c, j] * s))))
            deq[gi, e] = out
            codes[gi, e] = codes_of[c, j]
            x = np.float64(groups[gi, e])
            d = np.float64(out) - x
            acc += d * d
            ref += x * x
        err[gi] = acc / n
        energy[gi] = ref
    return deq, codes, err, energy


@njit(parallel=True, cache=True)
def absmax_rows(x):  # pragma: no cover - compiled
    """``max |x|`` of each row of a float32 ``(G, g)`` array (a zero row gives +0)."""
    n_groups, g = x.shape
    out = np.zeros(n_groups, dtype=np.float32)
    for gi in prange(n_groups):
        m = np.float32(0.0)
        for e in range(g):
            m = max(m, abs(x[gi, e]))
        out[gi] = m
    return out


@njit(parallel=True, cache=True)
def f16_rows(x):  # pragma: no cover - compiled
    """float32 ``(G, g)`` -> (each value rounded to float16, as float32; ``max |.|`` per row)."""
    n_groups, g = x.shape
    out = np.empty((n_groups, g), dtype=np.float32)
    amax = np.zeros(n_groups, dtype=np.float32)
    for gi in prange(n_groups):
        m = np.float32(0.0)
        for e in range(g):
            v = np.float32(f16_round(np.float64(x[gi, e])))
            out[gi, e] = v
            m = max(m, abs(v))
        amax[gi] = m
    return out, amax
