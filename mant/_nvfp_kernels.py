"""Compiled kernel for Four Over Six (``nvfp4_4over6``, :mod:`mant.formats2026`).

The authors' float32 arithmetic, element by element (``mit-han-lab/fouroversix`` @ dadfad69,
``quantize/pytorch/reference.py``): E4M3 round half to even of the two candidate block scales,
``x * f32(1 / f32(decode * s))``, E2M1 round half to even without clamp, ``f32(f32(f32(q * s) *
A) / 1536)``, float32 squared errors summed in float64, max->4 only when strictly better; the
output goes through the E2M1 packer (a magnitude above 6 overflows into the sign bit).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["fouroversix_blocks"]

_E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float32)


@njit(cache=True, inline="always")
def _e4m3(v):  # pragma: no cover - compiled
    """Non-negative float32 -> E4M3 (fn) value, round half to even (as a float32)."""
    if v <= 0:
        return np.float32(0.0)
    _, e = math.frexp(np.float64(v))
    quantum = math.ldexp(1.0, max(e - 1, -6) - 3)
    return np.float32(min(np.rint(np.float64(v) / quantum) * quantum, 448.0))


@njit(cache=True, inline="always")
def _e2m1(y):  # pragma: no cover - compiled
    a = abs(y)
    if a < 2:
        m = np.float32(np.rint(np.float32(2) * a) / np.float32(2))
    elif a < 4:
        m = np.float32(np.rint(a))
    else:
        m = np.float32(np.float32(2) * np.rint(a / np.float32(2)))
    return m if y > 0 else (-m if y < 0 else np.float32(0.0))


@njit(cache=True, inline="always")
def _packed(q, table):  # pragma: no cover - compiled
    a = abs(q)
    if a <= 6:
        return q
    e = int(math.floor(math.log2(a))) + 1
    m = 1 if a / 2.0 ** (e - 1) >= 1.5 else 0
    return -table[((e << 1) | m) & 7]


@njit(cache=True, inline="always")
def _mag_code(a, table):  # pragma: no cover - compiled
    k = 0
    for j in range(8):
        if table[j] == a:
            k = j
    return k


@njit(cache=True, inline="always")
def _block_sse(groups, gi, g, s, decode, big_a):  # pragma: no cover - compiled
    """Sum over the block of ``f32(d * d)`` (in float64) for the E4M3 block scale ``s``."""
    f1536 = np.float32(1536.0)
    inv = np.float32(0.0)
    if s != 0:
        inv = np.float32(np.float32(1.0) / np.float32(decode * s))
    acc = 0.0
    for e in range(g):
        x = groups[gi, e]
        q = _e2m1(np.float32(x * inv)) if s != 0 else np.float32(0.0)
        d = np.float32(np.float32(np.float32(np.float32(q * s) * big_a) / f1536) - x)
        acc += np.float64(np.float32(d * d))
    return acc


@njit(parallel=True, cache=True)
def fouroversix_blocks(groups, lengths, big_a):  # pragma: no cover - compiled
    """Quantize blocks of 16 under tensor absmax ``big_a`` (float32, > 0).

    Returns ``(dequantized float32, codes int16 (E2M1 grid index), stored scale float64,
    max->4 picked int64, mse float64, sum of x^2 float64)``.
    """
    n_groups, g = groups.shape
    table = _E2M1
    f1536 = np.float32(1536.0)
    enc = np.float32(f1536 / big_a)
    decode = np.float32(np.float32(1.0) / enc)
    deq = np.zeros((n_groups, g), dtype=np.float32)
    codes = np.zeros((n_groups, g), dtype=np.int16)
    scale = np.zeros(n_groups, dtype=np.float64)
    pick = np.zeros(n_groups, dtype=np.int64)
    err_out = np.zeros(n_groups, dtype=np.float64)
    energy = np.zeros(n_groups, dtype=np.float64)
    for gi in prange(n_groups):
        n = lengths[gi]
        bmax = np.float32(0.0)
        for e in range(g):
            bmax = max(bmax, abs(groups[gi, e]))
        base = np.float32(np.float32(bmax / np.float32(6.0)) * enc)
        s0 = _e4m3(base)
        s1 = _e4m3(np.float32(base * np.float32(1.5)))
        err0 = _block_sse(groups, gi, g, s0, decode, big_a)
        err1 = _block_sse(groups, gi, g, s1, decode, big_a)
        c = 1 if err1 < err0 else 0
        s = s1 if c == 1 else s0
        pick[gi] = c
        scale[gi] = np.float64(s) * np.float64(big_a) / 1536.0
        inv = np.float32(0.0)
        if s != 0:
            inv = np.float32(np.float32(1.0) / np.float32(decode * s))
        acc = 0.0
        ref = 0.0
        for e in range(n):
            x = groups[gi, e]
            q = _e2m1(np.float32(x * inv)) if s != 0 else np.float32(0.0)
            qp = _packed(q, table)
            out = np.float32(np.float32(np.float32(qp * s) * big_a) / f1536)
            deq[gi, e] = out
            k = _mag_code(abs(qp), table)
            codes[gi, e] = 7 + k if qp > 0 else 7 - k
            diff = np.float64(out) - np.float64(x)
            acc += diff * diff
            ref += np.float64(x) * np.float64(x)
        err_out[gi] = acc / n
        energy[gi] = ref
    return deq, codes, scale, pick, err_out, energy
