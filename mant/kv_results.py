"""Results of KV-cache quantization (:func:`mant.kv.quantize_kv`): per tensor and for K and V.

Split from :mod:`mant.kv`, which re-exports both classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mant.vocab import Grouping

__all__ = ["KVResult", "KVTensorResult"]


class KVConfigLike(Protocol):
    """What a result needs of its configuration (a :class:`mant.kv.KVQuantConfig`)."""

    @property
    def bits_per_element(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class KVTensorResult:
    """K or V after quantization.

    Attributes:
        dequantized: same shape as the input; residual tokens unchanged.
        choice: (n_groups,) candidate index per group.
        group_error: (n_groups,) squared error per group.
        statistic: (n_groups,) the selection statistic per group (var(x/absmax) for the
            variance rule).
        oracle_group_error: (n_groups,) squared error under the oracle search, when compared.
        candidate_names: names of the candidate set members.
        grouping: the grouping used.
        residual_tokens: newest tokens kept in full precision (channel grouping only).
        signal_energy: sum of squares of the input (for relative MSE).
        n_elements: elements in the tensor.
    """

    dequantized: np.ndarray
    choice: np.ndarray
    group_error: np.ndarray
    statistic: np.ndarray
    oracle_group_error: np.ndarray | None
    candidate_names: tuple[str, ...]
    grouping: Grouping
    residual_tokens: int
    signal_energy: float
    n_elements: int

    @property
    def n_groups(self) -> int:
        return int(self.choice.shape[0])

    @property
    def squared_error(self) -> float:
        return float(np.sum(self.group_error))

    @property
    def mse(self) -> float:
        """Mean squared error over every element (residual tokens count as exact)."""
        return self.squared_error / max(self.n_elements, 1)

    @property
    def rel_mse(self) -> float:
        """``||X - Q||^2 / ||X||^2`` (0 for an all-zero tensor)."""
        return self.squared_error / self.signal_energy if self.signal_energy > 0 else 0.0

    @property
    def sqnr_db(self) -> float:
        return float(-10 * np.log10(self.rel_mse)) if self.rel_mse > 0 else float("inf")

    @property
    def oracle_ratio(self) -> float | None:
        """Squared error / oracle squared error (1.0 when both are 0); None if not compared."""
        if self.oracle_group_error is None:
            return None
        return _ratio(self.squared_error, float(np.sum(self.oracle_group_error)))

    def choice_histogram(self) -> dict[str, int]:
        """Candidate name -> groups that chose it (candidates never chosen are left out)."""
        counts = np.bincount(self.choice, minlength=len(self.candidate_names))
        return {n: int(k) for n, k in zip(self.candidate_names, counts, strict=True) if k}


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 1.0 if num == 0 else float("inf")


@dataclass(frozen=True, slots=True, kw_only=True)
class KVResult:
    """Quantized K and V with the configuration that made them."""

    k: KVTensorResult
    v: KVTensorResult
    config: KVConfigLike  # the mant.kv.KVQuantConfig that made them

    @property
    def rel_mse(self) -> float:
        """Relative MSE of K and V together."""
        energy = self.k.signal_energy + self.v.signal_energy
        err = self.k.squared_error + self.v.squared_error
        return err / energy if energy > 0 else 0.0

    @property
    def oracle_ratio(self) -> float | None:
        """(K + V squared error) / (same under the oracle search); None if not compared."""
        if self.k.oracle_group_error is None or self.v.oracle_group_error is None:
            return None
        oracle = float(np.sum(self.k.oracle_group_error) + np.sum(self.v.oracle_group_error))
        return _ratio(self.k.squared_error + self.v.squared_error, oracle)

    @property
    def bits_per_element(self) -> float:
        return self.config.bits_per_element
