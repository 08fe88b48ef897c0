"""Named tensors and the tensor suite that measures a design's quantization error on them.

Used by every tensor-based accuracy source (:mod:`dse.accuracy`, :mod:`dse.accuracy_files`);
errors are cached in a :class:`dse.cache.QuantCache` keyed by tensor content id + kind + config.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dse import numerics

if TYPE_CHECKING:
    from dse.cache import QuantCache

__all__ = ["KVCalibrator", "NamedKV", "NamedTensor", "TensorSuite", "content_id"]


def content_id(name: str, *arrays: np.ndarray) -> str:
    """``name@sha256-prefix`` of the arrays' bytes, dtypes and shapes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return f"{name}@{h.hexdigest()[:16]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedTensor:
    """A weight tensor (rows, reduction dim) and its content id."""

    id: str
    data: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedKV:
    """One layer's K and V, each (kv_heads, tokens, head_dim), and their content id."""

    id: str
    k: np.ndarray
    v: np.ndarray


def _cfg_json(config: Any) -> str:
    return json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"), default=str)


KVCalibration = Callable[[], tuple[np.ndarray, np.ndarray]]


def _thresholds_dir(cache: QuantCache) -> Path | None:
    """Where calibrated KV LUTs of a study go: next to its quantization cache (None: the
    default folder of :func:`mant.kv_calibrate.thresholds_for`)."""
    return None if cache.folder is None else cache.folder / "kv-thresholds"


class KVCalibrator:
    """Attaches calibrated LUTs to real-time KV configs that lack one (memoised per config).

    Args:
        calibration: returns the calibration ``(k, v)``; loaded once, on first need.
        source: provenance text of those K/V.
    """

    def __init__(self, calibration: KVCalibration | None, source: str) -> None:
        self._load = calibration
        self._kv: tuple[np.ndarray, np.ndarray] | None = None
        self.source = source
        self._memo: dict[str, Any] = {}

    def _calibration(self) -> tuple[np.ndarray, np.ndarray]:
        if self._kv is None:
            assert self._load is not None
            self._kv = self._load()
        return self._kv

    def __call__(self, kv_config: Any | None, cache: QuantCache) -> Any | None:
        if kv_config is None or self._load is None:
            return kv_config
        key = _cfg_json(kv_config)
        hit = self._memo.get(key)
        if hit is None:
            hit = numerics.calibrated_kv_config(
                kv_config,
                self._calibration,
                cache_dir=_thresholds_dir(cache),
                source=self.source,
            )
            self._memo[key] = hit
        return hit


class TensorSuite:
    """Scores a design by quantization error over a fixed set of tensors.

    Metrics: ``weight_rel_mse``, ``weight_sqnr_db`` (means over weight tensors), ``kv_rel_mse``,
    ``kv_sqnr_db`` (means over K/V layers; 0 and :data:`dse.numerics.MAX_SQNR_DB` at fp16 KV),
    ``rel_mse`` (mean of the two relative MSEs).

    Args:
        weights: the weight tensors.
        kv: the K/V layers.
        kv_calibration: returns calibration ``(k, v)`` (other data than ``kv``) for real-time
            KV sets without a shipped LUT; None leaves such configs as they are.
        calibration_source: provenance text of the calibration K/V.
    """

    def __init__(
        self,
        weights: tuple[NamedTensor, ...],
        kv: tuple[NamedKV, ...],
        *,
        kv_calibration: KVCalibration | None = None,
        calibration_source: str = "",
    ) -> None:
        self.weights = weights
        self.kv = kv
        self.calibrate_kv = KVCalibrator(kv_calibration, calibration_source)
        # suite-level memo: (kind, config json) -> averaged metrics; makes cache hits cheap
        self._memo: dict[tuple[str, str], dict[str, float]] = {}

    def _mean(
        self,
        kind: str,
        config: Any,
        cache: QuantCache,
        items: tuple[Any, ...],
        one: Callable[[Any], dict[str, float]],
    ) -> dict[str, float]:
        key = (kind, _cfg_json(config))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        cfg_dict = config.to_dict()
        rows = [
            cache.get_or_compute(
                {"tensor": item.id, "kind": kind, "config": cfg_dict},
                functools.partial(one, item),
                fields=("rel_mse", "sqnr_db"),
            )
            for item in items
        ]
        out = {k: float(np.mean([r[k] for r in rows])) for k in ("rel_mse", "sqnr_db")}
        self._memo[key] = out
        return out

    def metrics(
        self, weight_config: Any, kv_config: Any | None, cache: QuantCache
    ) -> dict[str, float]:
        wcfg, kvcfg = weight_config, self.calibrate_kv(kv_config, cache)
        w = self._mean(
            "weight", wcfg, cache, self.weights, lambda t: numerics.weight_error(t.data, wcfg)
        )
        if kvcfg is None or not self.kv:
            kv = {"rel_mse": 0.0, "sqnr_db": numerics.MAX_SQNR_DB}
        else:
            kv = self._mean(
                "kv", kvcfg, cache, self.kv, lambda t: numerics.kv_error(t.k, t.v, kvcfg)
            )
        return {
            "weight_rel_mse": w["rel_mse"],
            "weight_sqnr_db": w["sqnr_db"],
            "kv_rel_mse": kv["rel_mse"],
            "kv_sqnr_db": kv["sqnr_db"],
            "rel_mse": 0.5 * (w["rel_mse"] + kv["rel_mse"]),
        }
