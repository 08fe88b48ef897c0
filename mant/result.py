"""Results of group quantization: :class:`GroupQuant` (groups) and :class:`QuantResult` (a tensor).

Their own module so that every quantizer (:mod:`mant.quantize`, :mod:`mant.tender`,
:mod:`mant.olive`) can return them without importing another quantizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GroupQuant", "QuantResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupQuant:
    """Quantized groups (rows of the input).

    Attributes:
        dequantized: float32 ``(n_groups, g)``; padded slots are 0.
        codes: int16 indices into the chosen format's ``grid``.
        scales: float64 stored scale per group (units of x per grid unit).
        choice: int16 chosen candidate index per group.
        group_error: float64 MSE per group over its valid values.
        energy: float64 sum of x^2 per group (for relative errors).
        zero_points: int16 per-group zero points for asymmetric members, else ``None``.
        clip_ratio: chosen clip ratio per group (``None`` without clip search).
    """

    dequantized: np.ndarray
    codes: np.ndarray
    scales: np.ndarray
    choice: np.ndarray
    group_error: np.ndarray
    energy: np.ndarray
    zero_points: np.ndarray | None = None
    clip_ratio: np.ndarray | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantResult:
    """One quantized tensor.

    Attributes:
        dequantized: float32, the shape of the input.
        codes: int16 grid indices, the shape of the input.
        scales: float64 per group; choice: per-group candidate index; group_error: per-group MSE.
        candidates: candidate names (``choice`` indexes this tuple).
        bits_per_element: storage bits per element with the actual group size.
        group_size: values per group; n_groups: number of groups.
    """

    dequantized: np.ndarray
    codes: np.ndarray
    scales: np.ndarray
    choice: np.ndarray
    group_error: np.ndarray
    candidates: tuple[str, ...]
    bits_per_element: float
    group_size: int
    n_groups: int
    zero_points: np.ndarray | None = None
    clip_ratio: np.ndarray | None = None
    sum_sq_error: float = field(default=0.0, repr=False)
    sum_sq_ref: float = field(default=0.0, repr=False)
    original: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return int(self.dequantized.size)

    @property
    def mse(self) -> float:
        """Mean squared error over the tensor (units of x squared)."""
        return self.sum_sq_error / self.size

    @property
    def rel_mse(self) -> float:
        """``||x - q||^2 / ||x||^2``; 0 for an all-zero tensor (always reproduced exactly)."""
        if self.sum_sq_ref == 0.0:
            return 0.0
        return self.sum_sq_error / self.sum_sq_ref

    @property
    def sqnr_db(self) -> float:
        """``-10 log10(rel_mse)`` in dB; ``inf`` for an exact reproduction."""
        r = self.rel_mse
        return math.inf if r == 0.0 else -10.0 * math.log10(r)

    @property
    def max_abs_error(self) -> float:
        """Largest absolute element error (units of x)."""
        if self.original is None:
            raise ValueError("max_abs_error needs the original tensor")
        x = np.asarray(self.original, dtype=np.float32)
        return float(np.max(np.abs(x.astype(np.float64) - self.dequantized)))

    def choice_histogram(self) -> dict[str, int]:
        """Groups per candidate name, in candidate order (zero counts included)."""
        counts = np.bincount(self.choice.astype(np.int64), minlength=len(self.candidates))
        return {name: int(n) for name, n in zip(self.candidates, counts, strict=True)}
