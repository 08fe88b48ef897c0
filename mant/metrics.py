"""Error metrics between a reference tensor and its quantized version.

``rel_mse = ||x - q||^2 / ||x||^2`` and ``sqnr_db = -10 log10(rel_mse)``. When ``x`` is all zero
the relative metrics are only defined for an exact reproduction (``rel_mse = 0``,
``sqnr_db = inf``); otherwise they raise :class:`InputError` rather than return NaN.

Example:
    >>> x = np.array([1.0, -2.0]); q = np.array([1.0, -1.0])
    >>> rel_mse(x, q)
    0.2
"""

from __future__ import annotations

import math

import numpy as np

from mant.errors import InputError

__all__ = ["mse", "rel_mse", "sqnr_db", "max_abs_error"]


def _pair(x: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.shape != b.shape:
        raise InputError.single("quantized", f"must have the shape of x {a.shape}", b.shape)
    return a, b


def mse(x: np.ndarray, q: np.ndarray) -> float:
    """Mean squared error (units of x squared)."""
    a, b = _pair(x, q)
    return float(np.mean((a - b) ** 2)) if a.size else 0.0


def rel_mse(x: np.ndarray, q: np.ndarray) -> float:
    """Relative MSE ``||x - q||^2 / ||x||^2`` (dimensionless)."""
    a, b = _pair(x, q)
    err = float(np.sum((a - b) ** 2))
    ref = float(np.sum(a**2))
    if ref == 0.0:
        if err == 0.0:
            return 0.0
        raise InputError.single("x", "must have a non-zero value for a relative error", "all 0")
    return err / ref


def sqnr_db(x: np.ndarray, q: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB (``inf`` for an exact reproduction)."""
    r = rel_mse(x, q)
    return math.inf if r == 0.0 else -10.0 * math.log10(r)


def max_abs_error(x: np.ndarray, q: np.ndarray) -> float:
    """Largest absolute element error (units of x)."""
    a, b = _pair(x, q)
    return float(np.max(np.abs(a - b))) if a.size else 0.0
