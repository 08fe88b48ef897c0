"""BlockDialect (Jang & Tambe, ICML 2025, arXiv 2501.01144): one of 16 FP4 "dialects" per block.

Known (second-hand; the paper body was not at hand, ``docs/numerics.md``): blocks of 32, a shared
exponent and a 4-bit dialect id per block; an element is a sign and a 3-bit index into its
dialect's 8 magnitudes, all multiples of 0.5. The 16 dialects (DialectFP4) come from a
third-party transcription of the paper's Figure 4: ``{0, 0.5, 1, 1.5, 2, 3, a, b}`` for the 15
``(b, a)`` pairs of :data:`DIALECT_PAIRS`, then ``{0, 0.5, 1, 1.5, 2, 2.5, 3, 4}`` (ids 0..15 in
that order). The rule below rests on NAMED ASSUMPTIONS, not on the paper's text:

* (a) shared exponent ``E = floor(log2 amax) - 2`` (so ``amax / 2^E`` lies in [4, 8), the range
  of the dialects' maxima), stored in 5 bits with bias 15: ``E`` is clamped to [-15, 16]. Below
  -15 the block's values scale under 4 and small ones flush to 0; above 16 they scale to 8 or
  more and saturate at the dialect max. An all-zero block is zeros (dialect 0, ``E = -15``);
* (b) ``|x| / 2^E`` rounds to the nearest magnitude of the dialect, **ties to the smaller one**
  (toward zero); above the dialect max it clamps to it; the sign is kept;
* (c) weights (``blockdialect_fp4``): the dialect with the least squared error over the block,
  ties to the lower id;
* (d) activations (``blockdialect_fp4_a``), two stages: (1) the scaled block max
  ``m = amax / 2^E`` picks the pair of dialects whose shared max ``b`` is the smallest ``b >= m``
  (ids ``2p, 2p+1``, ``b = 7.5, 7, ..., 4``; the last pair is dialect 14 and the 16th dialect,
  max 4, taken when ``m <= 4``; ``m > 7.5`` takes the 7.5 pair); (2) of the two, the one with
  the smaller squared error, ties to the lower id.

Bits per element: 4 + (4 + 5) / 32 = 4.28125 (dialect id and 5-bit exponent per block).

The squared errors are exact in float64 (so ties are real ties): only elements with
``|x| / 2^E > 2.25`` can round differently in two dialects, those have at most 24 significant
bits above ``2^-22`` and differ from their level by less than 4, so each square and the sum of
32 of them is a multiple of ``2^-44`` below ``2^9``. This holds unless ``E`` saturates at 16.

Example:
    >>> import numpy as np
    >>> q, e, d = blockdialect_blocks(np.array([[5.2, -2.6, 0.75, 1.3]]))
    >>> q.tolist(), e.tolist(), d.tolist()
    ([[5.0, -3.0, 0.5, 1.5]], [0.0], [4])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mant.adaptive_block import AdaptiveBlockFormat
from mant.levels import grid_code_table
from mant.result import GroupQuant

__all__ = [
    "BLOCKDIALECT_SOURCE",
    "CELL_LEVELS",
    "DIALECT_PAIRS",
    "DIALECTS",
    "EXP_BIAS",
    "blockdialect_blocks",
    "quantize_blockdialect",
]

BLOCKDIALECT_SOURCE = (
    "BlockDialect (Jang & Tambe, ICML 2025, arXiv 2501.01144): second-hand formatbook "
    "(third-party transcription of Fig. 4), rule from named assumptions in docs/numerics.md"
)
DIALECT_PAIRS: tuple[tuple[float, float], ...] = (
    (7.5, 5.5),
    (7.5, 4.5),
    (7.0, 5.5),
    (7.0, 4.5),
    (6.5, 5.0),
    (6.5, 4.0),
    (6.0, 5.0),
    (6.0, 4.0),
    (5.5, 4.5),
    (5.5, 3.5),
    (5.0, 4.5),
    (5.0, 3.5),
    (4.5, 4.0),
    (4.5, 3.5),
    (4.0, 3.5),
)
"""``(b, a)`` of dialects 0..14: magnitudes ``{0, 0.5, 1, 1.5, 2, 3, a, b}``."""
DIALECTS = np.array(
    [[0, 0.5, 1, 1.5, 2, 3, a, b] for b, a in DIALECT_PAIRS] + [[0, 0.5, 1, 1.5, 2, 2.5, 3, 4]]
)
"""The 16 dialects' magnitudes ``(16, 8)``, ascending, in units of ``2^E``."""
EXP_BIAS = 15
_EXP_MIN, _EXP_MAX = -EXP_BIAS, 31 - EXP_BIAS
_MIDS = (DIALECTS[:, 1:] + DIALECTS[:, :-1]) / 2
_SAME_BELOW = 2.25  # every dialect rounds |x| / 2^E <= 2.25 alike (to 0 .. 2)
_PAIR_MAX = DIALECTS[::2, -1]  # 7.5, 7, ..., 4: the max shared by dialects 2p and 2p + 1


def _round(v: np.ndarray, d: int) -> np.ndarray:
    """Magnitudes ``v`` to dialect ``d``: nearest, ties to the smaller, clamped at its max."""
    return DIALECTS[d][np.searchsorted(_MIDS[d], v, side="left")]


def _cell_levels() -> np.ndarray:
    """Each dialect's rounding as a table ``(65, 16)``: row ``2k`` is its level of ``k/4``, row
    ``2k + 1`` of every value in ``(k/4, (k+1)/4)``, row 64 of 8 and up (every midpoint is a
    multiple of 1/4 below 8, so a value's level depends on its quarter-grid cell only)."""
    assert np.all(_MIDS * 4 == np.round(_MIDS * 4)) and _MIDS.max() < 8
    rep = (np.arange(65) // 2 + (np.arange(65) % 2) / 2) / 4  # a value of each cell
    return np.ascontiguousarray(np.stack([_round(rep, d) for d in range(len(DIALECTS))], axis=1))


CELL_LEVELS = _cell_levels()
"""Each dialect's level of each quarter-grid cell (the compiled search's table)."""


def blockdialect_blocks(
    x: np.ndarray, online: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks ``(n, b)`` -> (signed values in units of ``2^E``, ``E`` ``(n,)``, dialect ``(n,)``).

    Args:
        x: the blocks, one per row.
        online: the two-stage activation rule (d) instead of the least-error search (c).
    """
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    amax = a.max(axis=1)
    _, e = np.frexp(np.where(amax == 0, 1.0, amax))
    exp = np.clip(np.where(amax == 0, _EXP_MIN, e - 1 - 2), _EXP_MIN, _EXP_MAX).astype(np.float64)
    v = a * np.exp2(-exp)[:, None]  # exact: a power-of-two scale
    # only elements above 2.25 can round differently in two dialects: the errors sum over them
    at = np.flatnonzero(v > _SAME_BELOW)
    vd, row = v.ravel()[at], at // v.shape[1]
    err = np.empty((len(DIALECTS), x.shape[0]))
    for d in range(len(DIALECTS)):
        diff = vd - _round(vd, d)
        err[d] = np.bincount(row, diff * diff, minlength=x.shape[0])
    if online:
        pair = np.maximum((_PAIR_MAX[None, :] >= v.max(axis=1)[:, None]).sum(axis=1) - 1, 0)
        ids = np.arange(len(DIALECTS))[:, None]
        err = np.where(ids // 2 == pair[None, :], err, np.inf)
    dialect = np.argmin(err, axis=0)  # the first minimum: ties to the lower id
    q = np.zeros_like(v)
    for d in np.unique(dialect):
        rows = dialect == d
        q[rows] = _round(v[rows], int(d))
    return np.where(x < 0, -q, q), exp, dialect


def quantize_blockdialect(
    groups: np.ndarray, lengths: np.ndarray, fmt: AdaptiveBlockFormat, choice: Any
) -> GroupQuant:
    """BlockDialect on groups of 32 (zero padding rounds to 0 in every dialect): one compiled
    pass per block with :func:`blockdialect_blocks`'s arithmetic (:mod:`mant._block_kernels`)."""
    from mant import _block_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    table, zero = grid_code_table(fmt.grid)
    deq, codes, scales, dialect, err, energy = _block_kernels.blockdialect_kernel(
        x,
        np.asarray(lengths, dtype=np.int64),
        CELL_LEVELS,
        _PAIR_MAX,
        fmt.rule == "blockdialect_a",
        _EXP_MIN,
        _EXP_MAX,
        _SAME_BELOW,
        table,
        zero,
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scales,
        choice=dialect.astype(np.int16),
        group_error=err,
        energy=energy,
    )
