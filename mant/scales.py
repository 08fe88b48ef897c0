"""Per-group scale formats and the bits-per-element accounting.

A group's raw scale is ``absmax / max_abs(format)``, so the group maximum lands on the top grid
value. The stored scale is that raw scale rounded to a scale format:

* ``fp32``, ``fp16``, ``bf16``: round to nearest even; saturate to the format's finite range,
  and a non-zero scale never rounds below the smallest positive value.
* ``e8m0``: power of two, ``2^ceil(log2(raw))`` (rounded up so nothing clips), exponent clamped
  to -127..127. (OCP MX block formats use their own floor rule, see :mod:`mant.quantize`.)
* ``e4m3``: FP8 E4M3 (finite), nearest even, saturating at 448 (used by NVFP4).
* ``int8``: a linear 7-bit code ``q = clip(rint(127 * raw / max(raw)), 1, 127)`` times an fp32
  per-tensor scale-of-scales ``max(raw) / 127`` (one per candidate); the 32 bits of the
  scale-of-scales are per tensor and are not counted in bits per element.

An all-zero group has raw scale 0; it keeps scale 0 in every format and quantizes to exact zeros.

Example:
    >>> round_scales(np.array([3.0]), "e8m0").tolist()
    [4.0]
    >>> bits_per_element(element_bits=4, group_size=64, scale_bits=16, selector_bits=4)
    4.3125
"""

from __future__ import annotations

import warnings
from enum import StrEnum

import numpy as np

from mant.errors import InputError

__all__ = [
    "ScaleFormat",
    "DEFAULT_SCALE",
    "SCALE_BITS",
    "round_scales",
    "bits_per_element",
    "parse_scale_format",
]


class ScaleFormat(StrEnum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    E8M0 = "e8m0"
    INT8 = "int8"
    E4M3 = "e4m3"


DEFAULT_SCALE = ScaleFormat.FP16
"""The one default group-scale format of every entry point (CLI, API, studies, KV, presets),
unless a format fixes its own (MX: e8m0, NVFP4: e4m3)."""

SCALE_BITS: dict[ScaleFormat, int] = {
    ScaleFormat.FP32: 32,
    ScaleFormat.FP16: 16,
    ScaleFormat.BF16: 16,
    ScaleFormat.E8M0: 8,
    ScaleFormat.INT8: 8,
    ScaleFormat.E4M3: 8,
}


def parse_scale_format(value: str | ScaleFormat, path: str = "scale_format") -> ScaleFormat:
    """Validate a scale-format name.

    Raises:
        InputError: unknown name (lists the valid ones).
    """
    try:
        return ScaleFormat(str(value).lower())
    except ValueError:
        valid = ", ".join(s.value for s in ScaleFormat)
        raise InputError.single(path, f"must be one of {valid}", value) from None


def bits_per_element(
    element_bits: float, group_size: int, scale_bits: float, selector_bits: float = 0
) -> float:
    """Storage bits per element: ``element_bits + (scale_bits + selector_bits) / group_size``.

    Args:
        element_bits: bits per stored element.
        group_size: elements sharing one scale and one selector (>= 1).
        scale_bits: bits of the per-group scale.
        selector_bits: bits of the per-group candidate index (0 for a single format).

    Example:
        >>> bits_per_element(4, 64, 16, 0)
        4.25
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int | np.integer):
        raise InputError.single("group_size", "must be an int >= 1", group_size)
    if group_size < 1:
        raise InputError.single("group_size", "must be an int >= 1", group_size)
    return float(element_bits) + (float(scale_bits) + float(selector_bits)) / int(group_size)


def _fp8_e4m3_positive() -> np.ndarray:
    """Non-negative E4M3 (OCP "fn": bias 7, no infinities, only S.1111.111 is NaN) values."""
    e = np.arange(16)[:, None]
    m = np.arange(8)[None, :]
    mags = np.where(e == 0, m / 8.0 * 2.0**-6, (1.0 + m / 8.0) * 2.0 ** (e - 7.0)).ravel()
    return np.sort(mags[:-1])  # drop the NaN code; 448 is the largest


def _round_to_grid_rne(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Nearest point of a sorted non-negative ``grid`` (index = code); ties to the even code."""
    v = np.clip(values, 0.0, grid[-1])
    hi = np.clip(np.searchsorted(grid, v, side="left"), 1, len(grid) - 1)
    lo = hi - 1
    d_lo = v - grid[lo]
    d_hi = grid[hi] - v
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    return grid[np.where(pick_hi, hi, lo)]


# the largest finite value of the float scale formats: a raw scale beyond it saturates there
_FLOAT_SCALE_MAX = {
    ScaleFormat.FP32: float(np.finfo(np.float32).max),
    ScaleFormat.FP16: float(np.finfo(np.float16).max),
    ScaleFormat.BF16: 3.3895313892515355e38,
}


def _warn_saturation(raw: np.ndarray, fmt: ScaleFormat) -> None:
    """Warns when raw scales exceed a float scale format (values near 3e38 with fp16 scales):
    those groups saturate and lose their magnitude, which no error metric shows as a cause."""
    top = _FLOAT_SCALE_MAX.get(fmt)
    if top is None or not raw.size:
        return
    over = int(np.count_nonzero(raw > top))
    if over:
        warnings.warn(
            f"{over} group scale(s) exceed the largest {fmt.value} scale ({top:.6g}) and "
            f"saturate (largest raw scale {float(raw.max()):.3g}): those groups are "
            "dequantized far too small; use scale_format fp32 (or bf16) for such values",
            RuntimeWarning,
            stacklevel=3,
        )


def round_scales(raw: np.ndarray, fmt: str | ScaleFormat) -> np.ndarray:
    """Round raw scales to a scale format.

    Args:
        raw: non-negative raw scales, shape ``(n_groups,)`` or ``(n_groups, n_candidates)``
            (``int8`` takes its scale-of-scales per column).
        fmt: scale format name.

    Returns:
        float64 array of stored scales, same shape; zero stays zero.
    """
    f = parse_scale_format(fmt)
    r = np.asarray(raw, dtype=np.float64)
    if f is ScaleFormat.FP32 and r.size and float(r.max()) < float(np.finfo(np.float32).max):
        out = r.astype(np.float32).astype(np.float64)  # fast path: nothing saturates
        lost = (out == 0) & (r > 0)
        if lost.any():
            out[lost] = float(np.finfo(np.float32).smallest_subnormal)
        return out
    nonzero = r > 0
    _warn_saturation(r, f)
    if f is ScaleFormat.FP32:
        info = np.finfo(np.float32)
        out = np.clip(r, 0, info.max).astype(np.float32).astype(np.float64)
        tiny = float(info.smallest_subnormal)
    elif f is ScaleFormat.FP16:
        info16 = np.finfo(np.float16)
        out = np.clip(r, 0, float(info16.max)).astype(np.float16).astype(np.float64)
        tiny = float(info16.smallest_subnormal)
    elif f is ScaleFormat.BF16:
        f32 = np.clip(r, 0, np.finfo(np.float32).max).astype(np.float32)
        bits = f32.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        rounded = np.minimum(rounded, 0x7F7F0000)  # largest finite bf16
        out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
        tiny = 2.0**-133
    elif f is ScaleFormat.E8M0:
        with np.errstate(divide="ignore"):
            e = np.ceil(np.log2(np.where(nonzero, r, 1.0)))
        out = np.exp2(np.clip(e, -127, 127))
        tiny = 2.0**-127
    elif f is ScaleFormat.E4M3:
        grid = _fp8_e4m3_positive()
        out = _round_to_grid_rne(r, grid)
        tiny = float(grid[1])
    else:  # INT8: linear 7-bit code times a per-column scale-of-scales
        col = r if r.ndim > 1 else r[:, None]
        top = col.max(axis=0, keepdims=True) if col.size else np.zeros((1, col.shape[1]))
        sos = (top / 127.0).astype(np.float32).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.clip(np.rint(np.where(sos > 0, col / sos, 0.0)), 1, 127)
        out = (q * sos).reshape(r.shape)
        tiny = 0.0
    out = np.where(nonzero, np.maximum(out, tiny), 0.0)
    return out
