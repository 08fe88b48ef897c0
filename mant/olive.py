"""OliVe: outlier-victim pair (OVP) quantization (mant.md §9.2).

OliVe (artifact ``clevercool/ANT-Quantization``, ``olive_quantization/antquant/
quant_modules.py``, read for the rules below) keeps every element at 4 bits:

* **Normal values** use int4 or flint4, scaled so that the outlier threshold is 32 in grid
  units: int normals ``{0, 4, .., 28}`` (INT4 ``0..7`` times ``32 / 8``) and flint normals
  ``{0, 2, 4, 6, 8, 12, 16, 32}`` (flint4 times ``32 / 16``).
* **Outliers** (``|q| > 32``) use *abfloat*: E2M1 with exponent bias 5,
  ``(1 + m/2) * 2^(e+5)`` = ``{48, 64, 96, 128, 192, 256, 384}`` (the code for 32 is excluded).
  An element rounds to the nearest point of normals and outliers together.
* **Outlier-victim pairs**: elements form aligned pairs ``(2j, 2j+1)`` along the quantization
  axis. If one element of a pair is an outlier the other (the victim) becomes 0; if both are,
  the even one is kept and the odd one is zeroed. The victim's 4-bit slot holds the
  identifier that marks the pair, so no extra bit is stored.
* **Clip search**: the clip value is ``p * max(|mu + 3 sigma|, |mu - 3 sigma|)`` of the group
  (sample standard deviation), mapped to the top *normal* level, for ``p`` = 0.75, 0.77, ..,
  2.49 (OliVe's ``range(75, 250, 2)``); the least-MSE ``p`` wins, the smaller on ties. The
  search includes the outlier encoding and the pair rule. It always runs (it is part of the
  recipe); ``QuantConfig.clip_search`` does not change it.

Granularity: the artifact quantizes weights per output channel and activations per tensor;
here that is ``QuantConfig(candidates="olive4_int", granularity="channel")`` for a
``(out, in)`` weight (``axis=-1``) and ``granularity="tensor"`` for activations. The artifact
picks one normal type per tensor (the lower summed MSE of int and flint); the set
``olive-ovp`` instead picks int or flint per group like every other candidate set (1 selector
bit per group), and a single format name reproduces the per-tensor choice. Only signed
tensors are modelled (the artifact uses an unsigned grid for non-negative activations).
Exact midpoints go to the larger magnitude (mant.md §9.1's rule for the same kernel family).

Bits per element: 4 element bits (OVP needs no extra storage) plus, per group, the scale
(``scale_format`` bits) and the selector bits of the set, as for every other format.

Example:
    >>> import numpy as np
    >>> from mant.quantize import quantize
    >>> w = np.random.default_rng(0).standard_t(3, (64, 256)).astype(np.float32)
    >>> r = quantize(w, candidates="olive4_int", granularity="channel")
    >>> r.bits_per_element  # 4 + 16-bit fp16 scale per channel of 256
    4.0625
    >>> bool(r.rel_mse < quantize(w, candidates="int4", granularity="channel").rel_mse)
    True
"""

from __future__ import annotations

import numpy as np

from mant.errors import InputError
from mant.formats import OUTLIER_THRESHOLD, Format, OliveFormat, abfloat_magnitudes
from mant.scales import ScaleFormat, round_scales

__all__ = [
    "OUTLIER_THRESHOLD",
    "OLIVE_CLIP_RATIOS",
    "OliveFormat",
    "abfloat_magnitudes",
    "ovp_victims",
    "olive_quantize_groups",
]

OLIVE_CLIP_RATIOS = np.arange(75, 250, 2) / 100.0
"""OliVe's clip search: 75% .. 249% of the 3-sigma base in 2% steps."""


def ovp_victims(is_outlier: np.ndarray) -> np.ndarray:
    """The OVP rule on a boolean outlier mask whose last axis holds aligned pairs.

    Returns a mask of the elements set to 0: the partner of a lone outlier, and the odd
    element when both are outliers. A trailing unpaired element is never a victim.

    Example:
        >>> ovp_victims(np.array([True, False, False, True, True, True, False])).tolist()
        [False, True, True, False, False, True, False]
    """
    m = np.asarray(is_outlier, dtype=bool)
    victim = np.zeros_like(m)
    n = m.shape[-1] - m.shape[-1] % 2
    even, odd = m[..., 0:n:2], m[..., 1:n:2]
    victim[..., 1:n:2] = even  # the odd slot yields to an even outlier (also when both are)
    victim[..., 0:n:2] = odd & ~even
    return victim


def _tables(formats: tuple[OliveFormat, ...]) -> tuple[np.ndarray, ...]:
    width = max(len(f.magnitudes) for f in formats)
    mids = np.full((len(formats), width - 1), np.inf)
    mags = np.zeros((len(formats), width))
    n_mids = np.zeros(len(formats), dtype=np.int64)
    first_out = np.zeros(len(formats), dtype=np.int64)
    for c, f in enumerate(formats):
        m = np.asarray(f.magnitudes)
        mags[c, : len(m)] = m
        mids[c, : len(m) - 1] = (m[1:] + m[:-1]) / 2
        n_mids[c] = len(m) - 1
        first_out[c] = int(np.searchsorted(m, OUTLIER_THRESHOLD, side="right"))
    return mids, mags, n_mids, first_out


def _base_clip(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``max(|mu + 3 sigma|, |mu - 3 sigma|)`` per group over its valid values (ddof 1)."""
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    v = np.where(valid, x.astype(np.float64), 0.0)
    mu = v.sum(axis=1) / lengths
    dev = np.where(valid, v - mu[:, None], 0.0)
    var = (dev**2).sum(axis=1) / np.maximum(lengths - 1, 1)
    sigma = np.sqrt(var)
    return np.maximum(np.abs(mu + 3 * sigma), np.abs(mu - 3 * sigma))


def olive_quantize_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    formats: tuple[Format, ...],
    scale_format: ScaleFormat,
    choice: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """OVP-quantize checked float32 groups; used by :func:`mant.quantize.quantize_groups`.

    Args:
        groups: ``(n_groups, g)`` finite float32; pairs are ``(2j, 2j+1)`` within a group.
        lengths: valid values per group.
        formats: OliVe formats (the candidates).
        scale_format: format the per-group scale is rounded to.
        choice: per-group candidate index; the clip search still runs for that candidate.

    Returns:
        ``(codes, dequantized, scales, choice, group_error, energy, clip_ratio)``; codes index
        each chosen format's ``grid`` (a victim has the code of 0).
    """
    fmts = tuple(f for f in formats if isinstance(f, OliveFormat))
    if len(fmts) != len(formats):
        raise InputError.single("candidates", "OliVe formats cannot be mixed with others", formats)
    n, g = groups.shape
    mids, mags, n_mids, first_out = _tables(fmts)
    normal_max = np.array([f.normal_max for f in fmts])
    ratios = OLIVE_CLIP_RATIOS
    raw = _base_clip(groups, lengths)[:, None, None] * ratios[None, None, :]
    raw = raw / normal_max[None, :, None]
    scales = round_scales(raw.reshape(n, len(fmts) * len(ratios)), scale_format)
    tables = (mids, mags, n_mids, first_out, len(ratios))
    none = np.full(n, -1, dtype=np.int64)
    from mant._olive_kernels import ovp_kernel  # numba loads here, not on import of mant.olive

    err = ovp_kernel(groups, lengths, scales, *tables, none, np.zeros((1, 1, 2)))
    if choice is not None:
        keep = np.repeat(np.arange(len(fmts)), len(ratios))[None, :] == choice[:, None]
        err = np.where(keep, err, np.inf)
    pick = np.argmin(err, axis=1).astype(np.int64)
    out = np.zeros((n, g, 2))
    gerr = ovp_kernel(groups, lengths, scales, *tables, pick, out)
    gerr = gerr[np.arange(n), pick]
    ch = pick // len(ratios)
    level = out[..., 0].astype(np.int64)
    sign = np.where(groups < 0, -1.0, 1.0)
    zero_code = np.array([len(f.magnitudes) - 1 for f in fmts])[ch]  # grid index of 0
    codes = np.where(level < 0, 0, level) * sign.astype(np.int64) + zero_code[:, None]
    valid = np.arange(g)[None, :] < lengths[:, None]
    codes = np.where(valid, codes, zero_code[:, None]).astype(np.int16)
    deq = (np.where(valid, sign * out[..., 1], 0.0) + 0.0).astype(np.float32)  # no -0.0
    energy = np.where(valid, groups.astype(np.float64) ** 2, 0.0).sum(axis=1)
    sel_scale = scales[np.arange(n), pick]
    return codes, deq, sel_scale, ch.astype(np.int16), gerr, energy, ratios[pick % len(ratios)]
