"""MX+ (MICRO 2025, arXiv 2510.14557): MXFP4 whose block-max element gets extra mantissa bits.

The paper's idea: the shared E8M0 scale is set by the block max (BM), so after scaling the BM
always has the element format's top exponent. Its 2 exponent bits are then free and become
mantissa bits; the block stores the BM's index instead. Rule as implemented (named assumptions
where the paper text at hand is silent, ``docs/numerics.md``):

* block 32, ``E = floor(log2 amax) - 2`` (OCP MX v1.0, emax of E2M1 = 2), clamped to
  [-127, 127]; an all-zero block is all zeros;
* BM: the first element with ``|x| = amax``; its ``|x| / 2^E`` in [4, 8) rounds to
  ``4 + k/2`` (k = 0..7: exponent 2, 3 mantissa bits), half to even on ``k``, saturating at 7.5;
* every other element: E2M1 of ``x / 2^E``, nearest, ties to the even code, saturating at 6.

Bits per element: 4 + (8 + 5) / 32 = 4.40625 (E8M0 scale and a 5-bit BM index per block).

Example:
    >>> import numpy as np
    >>> q, e = mxplus_blocks(np.array([[7.4, -3.2, 0.3, 1.0]]))
    >>> q.tolist(), e.tolist()
    ([[7.5, -3.0, 0.5, 1.0]], [0.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mant.adaptive_block import AdaptiveBlockFormat
from mant.levels import grid_code_table
from mant.result import GroupQuant
from mant.subblock import FP4_MAGS, round_mags_rne

__all__ = ["MXPLUS_SOURCE", "BM_MAGS", "mxplus_blocks", "quantize_mxplus"]

MXPLUS_SOURCE = (
    "MX+ (Lee et al., MICRO 2025, arXiv 2510.14557v1): no public code found; rule from the "
    "paper's description, assumptions in docs/numerics.md"
)
BM_MAGS = np.array([4 + k / 2 for k in range(8)])
"""The block max's magnitudes (exponent 2, 3 mantissa bits), in units of the shared scale."""


def mxplus_blocks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks ``(n, b)`` -> (signed values in units of ``2^E``, shared exponent ``E`` ``(n,)``)."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    amax = a.max(axis=1)
    zero = amax == 0
    _, e = np.frexp(np.where(zero, 1.0, amax))
    exp = np.clip(e - 1 - 2, -127, 127).astype(np.float64)
    v = a / np.exp2(exp)[:, None]  # exact: a power-of-two scale
    q = FP4_MAGS[round_mags_rne(v, FP4_MAGS)]
    rows = np.arange(x.shape[0])
    bm = np.argmax(a, axis=1)  # the first index of the maximum
    vb = v[rows, bm]
    k = np.minimum(round_mags_rne(vb, BM_MAGS), 7)
    q[rows, bm] = np.where(vb >= 4, BM_MAGS[k], q[rows, bm])  # < 4 only when E is clamped
    q = np.where(zero[:, None], 0.0, np.where(x < 0, -q, q))
    return q, exp


def quantize_mxplus(
    groups: np.ndarray, lengths: np.ndarray, fmt: AdaptiveBlockFormat, choice: Any
) -> GroupQuant:
    """MX+ on groups of 32 (padding is zero, so it never is the block max of a non-zero block):
    one compiled pass per block with :func:`mxplus_blocks`'s arithmetic
    (:mod:`mant._block_kernels`)."""
    from mant import _block_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    table, zero = grid_code_table(fmt.grid)
    deq, codes, scales, err, energy = _block_kernels.mxplus_kernel(
        x,
        np.asarray(lengths, dtype=np.int64),
        FP4_MAGS,
        _mids(FP4_MAGS),
        BM_MAGS,
        _mids(BM_MAGS),
        table,
        zero,
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scales,
        choice=np.zeros(len(x), dtype=np.int16),
        group_error=err,
        energy=energy,
    )


def _mids(mags: np.ndarray) -> np.ndarray:
    return (mags[1:] + mags[:-1]) / 2  # round_mags_rne's midpoints
