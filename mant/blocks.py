"""Block formats (OCP MX, NVFP4): shared-scale recipes and round-half-to-even elements.

Scales:

* MX (OCP MX v1.0 §6.3): ``X = 2^(floor(log2(absmax)) - emax_elem)`` per block of 32, an E8M0
  value (the block max may clip).
* NVFP4 (NVIDIA's public description of the format): an fp32 per-tensor scale
  ``t = absmax_tensor / (6 * 448)`` and per block of 16 an E4M3 scale
  ``absmax_block / 6 / t`` rounded to nearest even; the stored scale is ``e4m3 * t``.

Elements: the grid kernel of :mod:`mant._kernels` sends an exact midpoint to the larger
magnitude (ANT's rule, used for every other format); OCP MX and NVFP4 convert elements with
round-to-nearest, ties to even. :func:`ties_to_even` moves those midpoints to the neighbour
with the even code (in these sign-magnitude encodings the magnitude index is the code).
``mant.quantize`` runs both steps in one compiled pass (``mant._block_kernels.mx_elements``,
same bits; the MX scale likewise in ``mx_scales``).

The UniCore port's NVFP4 (``quant_nvfp`` in ``Software/Accuracy/quant_utils/quant_weight.py``,
read to understand it) differs: it divides by ``absmax_tensor / 448`` and first casts every
*element* to E4M3, then applies E4M3 block scales on E2M1. That extra element rounding
reproduces mant.md §9.5's 9.84e-3 on tensor A; this recipe gives 9.04e-3
(``tests/mant_tests/test_reference_figures.py`` restates the port's recipe and checks both).
"""

from __future__ import annotations

import numpy as np

from mant.formats import BlockFormat
from mant.scales import round_scales

__all__ = ["block_scales", "ties_to_even"]


def _absmax(groups: np.ndarray) -> np.ndarray:
    return np.maximum(groups.max(axis=1), -groups.min(axis=1)).astype(np.float64)


def block_scales(groups: np.ndarray, fmt: BlockFormat) -> np.ndarray:
    """Stored scale per block (units of x per grid unit), float64 ``(n_blocks,)``.

    Example:
        >>> from mant.formats import parse_format
        >>> block_scales(np.array([[7.9, -1.0]], np.float32), parse_format("mxfp4")).tolist()
        [1.0]
    """
    amax = _absmax(groups)
    if fmt.tensor_scale:  # NVFP4
        top = float(amax.max())
        t = np.float64(np.float32(top / (6.0 * 448.0)))
        if t == 0.0:
            return np.zeros_like(amax)
        return round_scales(amax / 6.0 / t, "e4m3") * t
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(amax > 0, amax, 1.0))) - fmt.emax
    return np.where(amax > 0, np.exp2(np.clip(e, -127, 127)), 0.0)


def ties_to_even(
    groups: np.ndarray,
    scales: np.ndarray,
    codes: np.ndarray,
    deq: np.ndarray,
    fmt: BlockFormat,
) -> np.ndarray:
    """Move exact midpoints from the larger magnitude to the even code, in place.

    Args:
        groups: ``(n, g)`` float32 inputs.
        scales: ``(n,)`` stored scales.
        codes: ``(n, g)`` grid codes from the kernel (updated).
        deq: ``(n, g)`` float32 dequantized values (updated).
        fmt: the block format.

    Returns:
        Indices of the blocks that changed (their errors need recomputing).
    """
    mags = np.asarray(fmt.magnitudes)
    mids = (mags[1:] + mags[:-1]) / 2
    a = np.abs(groups.astype(np.float64))
    s = scales[:, None]
    level = np.zeros(a.shape, dtype=np.int64)
    for t in mids:  # the kernel's rule: level = #{t : fl(t * s) <= |x|}
        level += (t * s <= a) & (s > 0)
    prev = mids[np.maximum(level - 1, 0)] * s
    tie = (level % 2 == 1) & (a == prev)
    if not tie.any():
        return np.zeros(0, dtype=np.int64)
    down = level[tie] - 1
    neg = groups[tie] < 0
    n_m, n_g = len(mags), len(fmt.grid)
    codes[tie] = np.where(neg, n_m - 1 - down, n_g - n_m + down)
    value = mags[down] * np.broadcast_to(s, a.shape)[tie]
    deq[tie] = np.where(neg, -value, value)
    return np.flatnonzero(tie.any(axis=1))
