"""Accuracy sources: how a design's numerical quality is measured.

A source turns a design's quantization configs into accuracy metrics (see :mod:`dse.metrics`).
Built-in sources:

- ``synthetic``: a small seeded tensor suite (Gaussian, Laplace and Student-t weights; K with
  outlier channels, Gaussian V). Fast; for unit tests and smoke runs.
- ``tensors``: real fp32 weights (all-MiniLM-L6-v2) and real K/V (SmolLM2-135M), fetched once by
  ``mant-dse assets fetch``.
- ``perplexity``: perplexity of SmolLM2-135M with quantized weights and KV (``llmrun``).
- ``files``: the user's own weight tensors (``paths``, optional ``tensors``) from .npy, .npz,
  .safetensors or GGUF files (:mod:`dse.accuracy_files`).

Register another with :func:`register_accuracy_source`. Quantization results go through a
:class:`dse.cache.QuantCache` keyed by tensor content id + kind + quant config.

Real-time KV selection of a candidate set with no shipped threshold LUT (a coefficient family,
say) gets a LUT calibrated on K/V that the source does not evaluate: the next text window
(``tensors``: window 1, the suite evaluates window 0; ``perplexity``: window ``ppl_windows``,
after the scored windows 0..ppl_windows-1) or a synthetic draw with another seed
(``synthetic``). Tables are cached by content in ``<cache folder>/kv-thresholds`` and become
part of the KV config, hence of every cache key.

Example:
    >>> from dse.spec import AccuracySpec
    >>> suite = make_accuracy_source(AccuracySpec(source="synthetic", n_tensors=1,
    ...                                           tensor_rows=8, tensor_cols=64))
    >>> len(suite.weights), len(suite.kv)
    (1, 1)
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dse import numerics
from mant.errors import InputError

if TYPE_CHECKING:
    from dse.cache import QuantCache
    from dse.spec import AccuracySpec

__all__ = [
    "AccuracySource",
    "NamedTensor",
    "NamedKV",
    "TensorSuite",
    "PerplexitySource",
    "register_accuracy_source",
    "accuracy_source_names",
    "make_accuracy_source",
    "synthetic_suite",
    "SOURCE_ASSETS",
    "fetch_source_assets",
]


class AccuracySource(Protocol):
    """Anything that scores a design's numerics."""

    def metrics(
        self, weight_config: Any, kv_config: Any | None, cache: QuantCache
    ) -> dict[str, float]:
        """Accuracy metrics (names from :data:`dse.metrics.METRICS`) of a weight
        :class:`mant.QuantConfig` and a KV config (None: fp16 KV)."""
        ...


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


class _KVCalibrator:
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
        self.calibrate_kv = _KVCalibrator(kv_calibration, calibration_source)
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


def _synthetic_kv(rng: np.random.Generator, tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """K (2 heads x ``tokens`` x 128, log-normal channel scales) and Gaussian V."""
    scales = np.exp(rng.normal(0.0, 1.0, size=(2, 1, 128)))
    k = (rng.standard_normal((2, tokens, 128)) * scales).astype(np.float32)
    v = rng.standard_normal((2, tokens, 128)).astype(np.float32)
    return k, v


def synthetic_suite(spec: AccuracySpec) -> TensorSuite:
    """A seeded synthetic suite: ``n_tensors`` weights and K/V layers.

    Weights (``tensor_rows`` x ``tensor_cols``) cycle through Gaussian, Laplace and Student-t
    (3 degrees of freedom) entries; K (2 heads x ``tensor_rows`` tokens x 128) has log-normal
    per-channel scales (outlier channels), V is Gaussian. KV LUT calibration (when needed) uses
    ``n_tensors`` more K/V layers drawn with seed ``seed + 1``.
    """
    rng = np.random.default_rng(spec.seed)
    shape = (spec.tensor_rows, spec.tensor_cols)
    makers = (
        lambda: rng.standard_normal(shape),
        lambda: rng.laplace(size=shape),
        lambda: rng.standard_t(3, size=shape),
    )
    weights = []
    for i in range(spec.n_tensors):
        x = (0.02 * makers[i % 3]()).astype(np.float32)
        weights.append(NamedTensor(id=content_id(f"synthetic.w{i}", x), data=x))
    kv = []
    for i in range(spec.n_tensors):
        k, v = _synthetic_kv(rng, spec.tensor_rows)
        kv.append(NamedKV(id=content_id(f"synthetic.kv{i}", k, v), k=k, v=v))

    def calibration() -> tuple[np.ndarray, np.ndarray]:
        cal = np.random.default_rng(spec.seed + 1)
        pairs = [_synthetic_kv(cal, spec.tensor_rows) for _ in range(spec.n_tensors)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    return TensorSuite(
        tuple(weights),
        tuple(kv),
        kv_calibration=calibration,
        calibration_source=f"synthetic K/V, seed {spec.seed + 1}",
    )


def _spread(n_items: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_items)`` (first and last included)."""
    return sorted({int(round(i)) for i in np.linspace(0, n_items - 1, min(n, n_items))})


def real_suite(spec: AccuracySpec) -> TensorSuite:
    """Real tensors: ``n_tensors`` fp32 MiniLM weight matrices and SmolLM2 K/V layers.

    Both are picked evenly across the model's depth (sorted weight names; layer indices). K/V
    come from text window 0; KV LUT calibration (when needed) uses every layer of window 1.
    """
    from llmrun import kv_dump
    from llmrun.assets import minilm_weights

    all_w = minilm_weights()
    names = sorted(n for n, a in all_w.items() if a.ndim == 2 and n.startswith("encoder."))
    weights = tuple(
        NamedTensor(id=content_id(f"minilm.{names[i]}", all_w[names[i]]), data=all_w[names[i]])
        for i in _spread(len(names), spec.n_tensors)
    )
    dump = kv_dump()
    kv = tuple(
        NamedKV(
            id=content_id(f"smollm2.kv.layer{i}", dump["k"][i], dump["v"][i]),
            k=dump["k"][i],
            v=dump["v"][i],
        )
        for i in _spread(dump["k"].shape[0], spec.n_tensors)
    )
    return TensorSuite(
        weights,
        kv,
        kv_calibration=lambda: _kv_window(1),
        calibration_source=_window_text(1),
    )


def _kv_window(window: int) -> tuple[np.ndarray, np.ndarray]:
    from llmrun import kv_dump

    dump = kv_dump(window=window)
    return dump["k"], dump["v"]


def _window_text(window: int) -> str:
    return (
        f"SmolLM2-135M post-RoPE K/V, all layers, Pride and Prejudice window {window} "
        "(512 tokens, llmrun.kv_dump)"
    )


class PerplexitySource:
    """Perplexity of SmolLM2-135M with the design's weight and KV quantization (``llmrun``).

    Scores windows ``0 .. ppl_windows - 1``; KV LUT calibration (when needed) uses window
    ``ppl_windows``, the first one not scored.
    """

    def __init__(self, spec: AccuracySpec) -> None:
        self.windows = spec.ppl_windows
        self.calibrate_kv = _KVCalibrator(
            lambda: _kv_window(self.windows), _window_text(self.windows)
        )

    def metrics(
        self, weight_config: Any, kv_config: Any | None, cache: QuantCache
    ) -> dict[str, float]:
        wcfg, kvcfg = weight_config, self.calibrate_kv(kv_config, cache)

        def compute() -> dict[str, float]:
            from llmrun import perplexity

            return {"ppl": float(perplexity(weights=wcfg, kv=kvcfg, windows=self.windows).ppl)}

        parts = {
            "tensor": f"smollm2-135m.austen-pride.w{self.windows}x512",
            "kind": "ppl",
            "weights": wcfg.to_dict(),
            "kv": None if kvcfg is None else kvcfg.to_dict(),
        }
        return cache.get_or_compute(parts, compute, fields=("ppl",))


_REGISTRY: dict[str, Callable[[AccuracySpec], AccuracySource]] = {
    "synthetic": synthetic_suite,
    "tensors": real_suite,
    "perplexity": PerplexitySource,
    "files": lambda spec: _files_suite(spec),
}


# accuracy source -> the llmrun assets it reads (fetched before a study's trial loop)
SOURCE_ASSETS: dict[str, tuple[str, ...]] = {
    "tensors": ("minilm-l6-v2", "smollm2-135m", "janeaustenr"),
    "perplexity": ("smollm2-135m", "janeaustenr"),
}


def fetch_source_assets(spec: AccuracySpec, log: Callable[[str], None] | None = None) -> list[str]:
    """Fetch the missing assets ``spec``'s source reads, so that a study downloads before its
    first trial (and its ETA) rather than inside it. Returns the names fetched.

    Raises:
        llmrun.assets.AssetError: a download failed or failed its hash check.
    """
    names = SOURCE_ASSETS.get(spec.source, ())
    if not names:
        return []
    from llmrun.assets import AssetState, fetch, status

    missing = [st.asset.name for st in status(list(names)) if st.state is not AssetState.OK]
    if missing:
        say = log or (lambda _msg: None)
        say(f"fetching assets once before the trials: {', '.join(missing)}")
        fetch(missing, log=say)
    return missing


def _files_suite(spec: AccuracySpec) -> AccuracySource:
    from dse.accuracy_files import files_suite

    return files_suite(spec)


def register_accuracy_source(name: str, factory: Callable[[AccuracySpec], AccuracySource]) -> None:
    """Adds (or replaces) an accuracy source usable as ``accuracy.source: <name>`` in specs."""
    _REGISTRY[name] = factory


def accuracy_source_names() -> list[str]:
    return sorted(_REGISTRY)


def make_accuracy_source(spec: AccuracySpec) -> AccuracySource:
    """Builds the source a spec names.

    Raises:
        InputError: unknown source name.
    """
    factory = _REGISTRY.get(spec.source)
    if factory is None:
        raise InputError.single(
            "accuracy.source", f"must be one of {', '.join(accuracy_source_names())}", spec.source
        )
    return factory(spec)
