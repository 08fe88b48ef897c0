"""HiFloat4 (HiF4, Huawei, arXiv 2602.11287): a three-level scale over blocks of 64 (issue 20).

Rule of the authors' golden model (``global-computing-consortium/HiFloat4`` @ ``c8e52aaa``,
``hif4_gpu/HiF4_NVFP4_v14f16.py``, ``To_HiFX`` with ``N=4, M=2, G=64``), float64 arithmetic:

* a block of 64 splits into 8 groups of 8 and each of those into 2 groups of 4; ``V16`` is the
  max |x| of each 4, ``V8`` of each 8, ``Vmax`` of the 64;
* level 1: ``SF = bf16(Vmax * bf16(1/7))``, then E6M2 (clamped to [2^-48, 1.5 * 2^15], 2 mantissa
  bits, round half to even); ``REC = bf16(1 / E6M2)`` (bf16: 8 significant bits, RNE);
* level 2 (1 bit per 8): ``e8 = V8 * REC >= 4``; level 3 (1 bit per 4):
  ``e4 = V16 * REC * 2^-e8 >= 2``;
* element S1P2: ``m = floor(|x| * REC * 2^(2 - e8 - e4) + 0.5) / 4`` (half away from zero),
  ``m >= 2`` saturates to 1.75; value ``sign(x) * E6M2 * 2^(e8 + e4) * m``.

Bits per element: 4 + (8 + 8 + 16) / 64 = 4.5 (the paper's "64 4-bit elements with 32 bits of
shared scaling metadata").

Example:
    >>> import numpy as np
    >>> q, scale = hif4_blocks(np.linspace(-1, 1, 64)[None, :])
    >>> float(scale[0]), float(np.abs(q).max())
    (0.15625, 6.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mant.adaptive_block import AdaptiveBlockFormat
from mant.errors import InputError
from mant.levels import grid_code_table
from mant.result import GroupQuant

__all__ = ["HIF4_SOURCE", "HIF4_MAGS", "hif4_blocks", "quantize_hif4"]

HIF4_SOURCE = (
    "global-computing-consortium/HiFloat4@c8e52aaa6acfaf6d999736578793ea13da297097 "
    "hif4_gpu/HiF4_NVFP4_v14f16.py To_HiFX (arXiv 2602.11287)"
)
HIF4_MAGS = tuple(
    sorted({k / 4 * 2**d for k in range(8) for d in range(3)})
)  # element x level-2/3 exponent: 0, 0.25, ..., 7 (in units of the E6M2 scale)
_E6M2_MIN = 2.0**-48
_E6M2_MAX = 1.5 * 2.0**15


def _round_sig(v: np.ndarray, bits: int, emin: int) -> np.ndarray:
    """``v >= 0`` rounded to ``bits`` significant bits, half to even, exponent >= ``emin``."""
    _, e = np.frexp(v)
    e = np.maximum(e - 1, emin)  # floor(log2 v) (frexp's mantissa is in [0.5, 1))
    step = np.ldexp(1.0, e - (bits - 1))
    return np.round(v / step) * step


def _bf16(v: np.ndarray) -> np.ndarray:
    return _round_sig(v, 8, -126)


def hif4_blocks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks ``(n, 64)`` -> (signed values in units of the block scale, E6M2 scale ``(n,)``)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    n = a.shape[0]
    v16 = a.reshape(n, 16, 4).max(axis=2)
    v8 = v16.reshape(n, 8, 2).max(axis=2)
    vmax = v8.max(axis=1)
    sf = _bf16(vmax * _bf16(np.array(1.0 / 7.0)))
    e6m2 = _round_sig(np.clip(sf, _E6M2_MIN, _E6M2_MAX), 3, -10_000)
    rec = _bf16(1.0 / e6m2)[:, None]
    e8 = (v8 * rec >= 4).astype(np.float64)
    e8x2 = np.repeat(e8, 2, axis=1)
    e4 = (v16 * rec * np.exp2(-e8x2) >= 2).astype(np.float64)
    de = np.repeat(e8x2 + e4, 4, axis=1)
    m = np.floor(a * rec * np.exp2(2.0 - de) + 0.5) / 4
    m = np.where(m >= 2, 1.75, m)
    q = np.where(np.asarray(x) < 0, -1.0, 1.0) * np.exp2(de) * m
    return q, e6m2


def quantize_hif4(
    groups: np.ndarray, lengths: np.ndarray, fmt: AdaptiveBlockFormat, choice: Any
) -> GroupQuant:
    """HiF4 on groups of 64 (padding is zero, so it never sets a block maximum): one compiled
    pass per block with :func:`hif4_blocks`'s arithmetic (:mod:`mant._block_kernels`)."""
    from mant import _block_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    if x.shape[1] != 64:
        raise InputError.single("group_size", "must be 64 for hif4", x.shape[1])
    table, zero = grid_code_table(fmt.grid)
    c17 = float(_bf16(np.array(1.0 / 7.0)))
    deq, codes, scales, err, energy = _block_kernels.hif4_kernel(
        x, np.asarray(lengths, dtype=np.int64), c17, _E6M2_MIN, _E6M2_MAX, table, zero
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scales,
        choice=np.zeros(len(x), dtype=np.int16),
        group_error=err,
        energy=energy,
    )
