"""Compiled kernel for the ``subblock`` family's ``scale`` kind (:mod:`mant.subblock`).

Same rule as the module docstring of :mod:`mant.subblock`, in float32 arithmetic per element
(``v = f32(x / f32(2^(E+b) r))``, FP4 code by round half to even, ``dq = f32(q c)``,
``d = f32(dq - x)``, ``f32(d * d)``), error sums in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = [
    "subblock_mantissa_apply",
    "subblock_scale_search",
    "subblock_scale_search_reference",
]

_CHUNK = 64
_FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float32)
_FP4_MIDS = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], dtype=np.float32)


@njit(cache=True, inline="always")
def _fp4_code(a, mids):  # pragma: no cover - compiled
    j = 0
    for t in range(7):
        j += mids[t] < a
    if j < 7 and a == mids[j] and j % 2 == 1:
        j += 1
    return j


@njit(cache=True)
def _fp4_pass(xs, cand, q, d2):  # pragma: no cover - compiled
    """One candidate scale over a block, branch-free (vectorizable): FP4 value ``q`` and
    ``f32(d * d)`` per element. The magnitude is the sum of the level steps whose midpoint
    (``_FP4_MIDS``) is passed, ``>`` for the even midpoints and ``>=`` for the odd ones (round
    half to the even code): the same value as ``_FP4[_fp4_code(|v|)]``, every sum exact."""
    h = np.float32(0.5)
    o = np.float32(1.0)
    z = np.float32(0.0)
    for e in range(xs.shape[0]):
        x = xs[e]
        v = np.float32(x / cand)
        a = abs(v)
        m = (
            (h if a > np.float32(0.25) else z)
            + (h if a >= np.float32(0.75) else z)
            + (h if a > np.float32(1.25) else z)
            + (h if a >= np.float32(1.75) else z)
            + (o if a > np.float32(2.5) else z)
            + (o if a >= np.float32(3.5) else z)
            + (np.float32(2.0) if a > np.float32(5.0) else z)
        )
        qv = m if v >= 0 else -m
        q[e] = qv
        d = np.float32(np.float32(qv * cand) - x)
        d2[e] = np.float32(d * d)


@njit(parallel=True, cache=True)
def subblock_scale_search(groups, exps, sub, ratios, biases):  # pragma: no cover - compiled
    """Per block: bias index, per element FP4 value and dequantized value, block scale.

    Same result as :func:`subblock_scale_search_reference`, bit for bit: each (bias, ratio)
    candidate is one branch-free pass over the block (:func:`_fp4_pass`), then the float64
    error sums per sub-block run in element order as there.

    Args:
        groups: float32 ``(G, B)`` blocks; exps: float32 ``(G,)`` shared exponents ``E``.
        sub: sub-block size; ratios: float32 scale mantissas; biases: float32 exponent biases.

    Returns:
        ``(bias index int64 (G,), fp4 value float32 (G, B), dequantized float32 (G, B),
        scale 2^(E+b) float64 (G,))``.
    """
    n_groups, width = groups.shape
    n_sub = width // sub
    n_r = ratios.shape[0]
    mids = _FP4_MIDS
    pick = np.zeros(n_groups, dtype=np.int64)
    q_out = np.zeros((n_groups, width), dtype=np.float32)
    deq_out = np.zeros((n_groups, width), dtype=np.float32)
    scale_out = np.zeros(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in prange(n_chunks):
        r_pick = np.zeros(n_sub, dtype=np.int64)
        best_sub = np.empty(n_sub, dtype=np.float64)
        cands = np.empty(n_r, dtype=np.float32)
        q = np.empty(width, dtype=np.float32)
        d2 = np.empty(width, dtype=np.float32)
        for gi in range(ci * _CHUNK, min(n_groups, (ci + 1) * _CHUNK)):
            xs = groups[gi]
            best_blk = np.inf
            for bi in range(biases.shape[0]):
                sc = np.float32(2.0 ** (np.float64(exps[gi]) + np.float64(biases[bi])))
                for j in range(n_sub):
                    best_sub[j] = np.inf
                for ri in range(n_r):
                    cand = np.float32(sc * ratios[ri])
                    cands[ri] = cand
                    _fp4_pass(xs, cand, q, d2)
                    for j in range(n_sub):
                        acc = 0.0
                        for e in range(j * sub, (j + 1) * sub):
                            acc += np.float64(d2[e])
                        mse = acc / sub
                        if mse < best_sub[j]:
                            best_sub[j] = mse
                            r_pick[j] = ri
                total = 0.0
                for j in range(n_sub):
                    total += best_sub[j]
                blk = total / n_sub
                if blk < best_blk:
                    best_blk = blk
                    pick[gi] = bi
                    scale_out[gi] = np.float64(sc)
                    for j in range(n_sub):
                        cand = cands[r_pick[j]]
                        for e in range(j * sub, (j + 1) * sub):
                            x = groups[gi, e]
                            v = np.float32(x / cand)
                            k = _fp4_code(abs(v), mids)
                            qv = _FP4[k] if v >= 0 else -_FP4[k]
                            q_out[gi, e] = qv
                            deq_out[gi, e] = np.float32(qv * cand)
    return pick, q_out, deq_out, scale_out


@njit(cache=True)
def subblock_scale_search_reference(groups, exps, sub, ratios, biases):  # pragma: no cover
    """The element-by-element form of :func:`subblock_scale_search` (its test oracle, serial):
    per block, bias index, per element FP4 value and dequantized value, block scale.

    Args:
        groups: float32 ``(G, B)`` blocks; exps: float32 ``(G,)`` shared exponents ``E``.
        sub: sub-block size; ratios: float32 scale mantissas; biases: float32 exponent biases.

    Returns:
        ``(bias index int64 (G,), fp4 value float32 (G, B), dequantized float32 (G, B),
        scale 2^(E+b) float64 (G,))``.
    """
    n_groups, width = groups.shape
    n_sub = width // sub
    n_r = ratios.shape[0]
    fp4 = _FP4
    mids = _FP4_MIDS
    pick = np.zeros(n_groups, dtype=np.int64)
    q_out = np.zeros((n_groups, width), dtype=np.float32)
    deq_out = np.zeros((n_groups, width), dtype=np.float32)
    scale_out = np.zeros(n_groups, dtype=np.float64)
    n_chunks = (n_groups + _CHUNK - 1) // _CHUNK
    for ci in range(n_chunks):
        r_pick = np.zeros(n_sub, dtype=np.int64)
        for gi in range(ci * _CHUNK, min(n_groups, (ci + 1) * _CHUNK)):
            best_blk = np.inf
            for bi in range(biases.shape[0]):
                sc = np.float32(2.0 ** (np.float64(exps[gi]) + np.float64(biases[bi])))
                total = 0.0
                for j in range(n_sub):
                    best_sub = np.inf
                    for ri in range(n_r):
                        cand = np.float32(sc * ratios[ri])
                        acc = 0.0
                        for e in range(j * sub, (j + 1) * sub):
                            x = groups[gi, e]
                            v = np.float32(x / cand)
                            k = _fp4_code(abs(v), mids)
                            q = fp4[k] if v >= 0 else -fp4[k]
                            d = np.float32(np.float32(q * cand) - x)
                            acc += np.float64(np.float32(d * d))
                        mse = acc / sub
                        if mse < best_sub:
                            best_sub = mse
                            r_pick[j] = ri
                    total += best_sub
                blk = total / n_sub
                if blk < best_blk:
                    best_blk = blk
                    pick[gi] = bi
                    scale_out[gi] = np.float64(sc)
                    for j in range(n_sub):
                        cand = np.float32(sc * ratios[r_pick[j]])
                        for e in range(j * sub, (j + 1) * sub):
                            x = groups[gi, e]
                            v = np.float32(x / cand)
                            k = _fp4_code(abs(v), mids)
                            q = fp4[k] if v >= 0 else -fp4[k]
                            q_out[gi, e] = q
                            deq_out[gi, e] = np.float32(q * cand)
    return pick, q_out, deq_out, scale_out


@njit(cache=True, inline="always")
def _code(a, mids):  # pragma: no cover - compiled
    """Nearest of a sorted magnitude grid given its midpoints, ties to the even code."""
    nm = mids.shape[0]
    j = 0
    for t in range(nm):
        j += mids[t] < a
    if j < nm and a == mids[j] and j % 2 == 1:
        j += 1
    return j


@njit(parallel=True, cache=True)
def subblock_mantissa_apply(groups, exps, sub, fp6, fp6_mids):  # pragma: no cover - compiled
    """M2XFP ``mxem``: FP4 everywhere, FP6 (codes ``4k-1 .. 4k+2``) for the first largest-|FP4|
    element of each sub-block. Returns ``(signed grid value float32, dequantized float32)``."""
    n_groups, width = groups.shape
    fp4 = _FP4
    mids = _FP4_MIDS
    q_out = np.zeros((n_groups, width), dtype=np.float32)
    deq_out = np.zeros((n_groups, width), dtype=np.float32)
    for gi in prange(n_groups):
        scale = np.float32(2.0 ** np.float64(exps[gi]))
        for j in range(width // sub):
            top = -1
            top_mag = np.float32(-1.0)
            for e in range(j * sub, (j + 1) * sub):
                v = np.float32(groups[gi, e] / scale)
                k = _fp4_code(abs(v), mids)
                mag = fp4[k]
                if mag > top_mag:
                    top_mag = mag
                    top = e
                q = mag if v > 0 else (-mag if v < 0 else np.float32(0.0))
                q_out[gi, e] = q
            v = np.float32(groups[gi, top] / scale)
            k = _fp4_code(abs(v), mids)
            k6 = min(max(_code(abs(v), fp6_mids), 4 * k - 1), 4 * k + 2)
            mag = fp6[k6]
            q_out[gi, top] = mag if v > 0 else (-mag if v < 0 else np.float32(0.0))
            for e in range(j * sub, (j + 1) * sub):
                deq_out[gi, e] = np.float32(q_out[gi, e] * scale)
    return q_out, deq_out
