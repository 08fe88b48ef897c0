"""Accuracy sources: how a design's numerical quality is measured.

A source turns a design's quantization configs into accuracy metrics (see
:mod:`dse.study.metrics`).
Built-in sources:

- ``synthetic``: a small seeded tensor suite (Gaussian, Laplace and Student-t weights; K with
  outlier channels, Gaussian V). Fast; for unit tests and smoke runs.
- ``tensors``: real fp32 weights (all-MiniLM-L6-v2) and real K/V (SmolLM2-135M), fetched once by
  ``mant-dse assets fetch``.
- ``perplexity``: perplexity of SmolLM2-135M with quantized weights and KV (``llmrun``).
- ``files``: the user's own weight tensors (``paths``, optional ``tensors``) from .npy, .npz,
  .safetensors or GGUF files (:mod:`dse.evaluate.accuracy_files`).

Register another with :func:`register_accuracy_source`. Quantization results go through a
:class:`dse.evaluate.cache.QuantCache` keyed by tensor content id + kind + quant config.

Real-time KV selection of a candidate set with no shipped threshold LUT (a coefficient family,
say) gets a LUT calibrated on K/V that the source does not evaluate: the next text window
(``tensors``: window 1, the suite evaluates window 0; ``perplexity``: window ``ppl_windows``,
after the scored windows 0..ppl_windows-1) or a synthetic draw with another seed
(``synthetic``). Tables are cached by content in ``<cache folder>/kv-thresholds`` and become
part of the KV config, hence of every cache key.

Example:
    >>> from dse.study.spec import AccuracySpec
    >>> suite = make_accuracy_source(AccuracySpec(source="synthetic", n_tensors=1,
    ...                                           tensor_rows=8, tensor_cols=64))
    >>> len(suite.weights), len(suite.kv)
    (1, 1)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dse.evaluate.tensor_suite import (
    Activations,
    KVCalibrator,
    NamedKV,
    NamedTensor,
    TensorSuite,
    content_id,
)
from dse.study import sources
from mant.errors import InputError

if TYPE_CHECKING:
    from dse.evaluate.cache import QuantCache
    from dse.study.spec_types import AccuracySpec
    from mant.kv import KVQuantConfig
    from mant.quantize import QuantConfig
    from mant.recipe import Recipe
    from mant.tender import TenderConfig

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
        self,
        weight_config: QuantConfig | TenderConfig,
        kv_config: KVQuantConfig | None,
        cache: QuantCache,
    ) -> dict[str, float]:
        """Accuracy metrics (names from :data:`dse.study.metrics.METRICS`) of a weight
        :class:`mant.QuantConfig` and a KV config (None: fp16 KV)."""
        ...


def _synthetic_kv(rng: np.random.Generator, tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """K (2 heads x ``tokens`` x 128, log-normal channel scales) and Gaussian V."""
    scales = np.exp(rng.normal(0.0, 1.0, size=(2, 1, 128)))
    k = (rng.standard_normal((2, tokens, 128)) * scales).astype(np.float32)
    v = rng.standard_normal((2, tokens, 128)).astype(np.float32)
    return k, v


def synthetic_suite(spec: AccuracySpec) -> TensorSuite:
    """A seeded synthetic suite: ``n_tensors`` weights and K/V layers.

    Weights (``tensor_rows`` x ``tensor_cols``) cycle through Gaussian, Laplace and Student-t
    (3 degrees of freedom) entries; with ``by_kind``, ``n_tensors`` per projection kind. K (2
    heads x ``tensor_rows`` tokens x 128) has log-normal per-channel scales (outlier channels),
    V is Gaussian. KV LUT calibration (when needed) uses ``n_tensors`` more K/V layers drawn with
    seed ``seed + 1``; activations (output-MSE selection, ``output_rel_mse``) are Gaussian with
    log-normal channel scales, 256 tokens each for calibration and evaluation, seed ``seed + 2``.
    """
    from mant.quant_spec import WEIGHT_KINDS

    rng = np.random.default_rng(spec.seed)
    shape = (spec.tensor_rows, spec.tensor_cols)
    makers = (
        lambda: rng.standard_normal(shape),
        lambda: rng.laplace(size=shape),
        lambda: rng.standard_t(3, size=shape),
    )
    kinds: list[str | None] = (
        [k.value for k in WEIGHT_KINDS for _ in range(spec.n_tensors)]
        if spec.by_kind
        else [None] * spec.n_tensors
    )
    weights = []
    for i, kind in enumerate(kinds):
        x = (0.02 * makers[i % 3]()).astype(np.float32)
        weights.append(NamedTensor(id=content_id(f"synthetic.w{i}", x), data=x, kind=kind))
    kv = []
    for i in range(spec.n_tensors):
        k, v = _synthetic_kv(rng, spec.tensor_rows)
        kv.append(NamedKV(id=content_id(f"synthetic.kv{i}", k, v), k=k, v=v))

    def calibration() -> tuple[np.ndarray, np.ndarray]:
        cal = np.random.default_rng(spec.seed + 1)
        pairs = [_synthetic_kv(cal, spec.tensor_rows) for _ in range(spec.n_tensors)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def activations() -> dict[str, Activations]:
        act = np.random.default_rng(spec.seed + 2)
        scales = np.exp(act.normal(0.0, 1.0, size=spec.tensor_cols))
        out = {}
        for t in weights:
            cal, ev = (
                (act.standard_normal((256, spec.tensor_cols)) * scales).astype(np.float32)
                for _ in range(2)
            )
            out[t.id] = Activations(
                id=content_id(f"synthetic.x.{t.id}", cal, ev), calibration=cal, evaluation=ev
            )
        return out

    return TensorSuite(
        tuple(weights),
        tuple(kv),
        kv_calibration=calibration,
        calibration_source=f"synthetic K/V, seed {spec.seed + 1}",
        activations=activations,
        by_kind=spec.by_kind,
        output_error=spec.output_error,
    )


def _spread(n_items: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_items)`` (first and last included)."""
    return sorted({int(round(i)) for i in np.linspace(0, n_items - 1, min(n, n_items))})


# MiniLM (BERT) has no gate projection: per-kind suites score gate formats on its up
# projection (intermediate.dense, the same hidden -> FFN shape)
_MINILM_PROXY = {"gate": "up"}


def real_suite(spec: AccuracySpec) -> TensorSuite:
    """Real tensors: fp32 MiniLM weight matrices and SmolLM2 K/V layers.

    Weights: ``n_tensors`` spread across the sorted weight names, or with ``by_kind``
    ``n_tensors`` per projection kind spread across the 6 layers (gate on MiniLM's up
    projections: BERT has no gate). K/V: ``n_tensors`` layers spread across depth, text window 0;
    KV LUT calibration (when needed) uses every layer of window 1. Activations (output-MSE
    selection, ``output_rel_mse``): the weights' real inputs, calibration on 16 x 256 tokens of
    Emma and evaluation on 8 x 256 tokens of Pride and Prejudice (``llmrun.minilm``).
    """
    from dse.study.tensor_kinds import projection_kind
    from llmrun import kv_dump
    from llmrun.assets import minilm_weights
    from mant.quant_spec import WEIGHT_KINDS

    all_w = minilm_weights()
    names = sorted(n for n, a in all_w.items() if a.ndim == 2 and n.startswith("encoder."))
    chosen: list[tuple[str, str | None]] = []
    if spec.by_kind:
        for kind in WEIGHT_KINDS:
            want = _MINILM_PROXY.get(kind.value, kind.value)
            of_kind = [n for n in names if projection_kind(n) == want]
            of_kind.sort(key=lambda n: int(n.split(".")[2]))  # by layer
            chosen += [(of_kind[i], kind.value) for i in _spread(len(of_kind), spec.n_tensors)]
    else:
        chosen = [(names[i], None) for i in _spread(len(names), spec.n_tensors)]
    weights = tuple(
        NamedTensor(id=content_id(f"minilm.{name}", all_w[name]), data=all_w[name], kind=kind)
        for name, kind in chosen
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

    def activations() -> dict[str, Activations]:
        from llmrun.minilm import minilm_activations

        cal = minilm_activations("austen-emma", windows=16, window_len=256)
        ev = minilm_activations("austen-pride", windows=8, window_len=256)
        return {
            t.id: Activations(
                id=content_id(f"minilm.x.emma16x256.pride8x256.{name}", cal[name], ev[name]),
                calibration=cal[name],
                evaluation=ev[name],
            )
            for t, (name, _) in zip(weights, chosen, strict=True)
        }

    return TensorSuite(
        weights,
        kv,
        kv_calibration=lambda: _kv_window(1),
        calibration_source=_window_text(1),
        activations=activations,
        by_kind=spec.by_kind,
        output_error=spec.output_error,
    )


def _kv_window(window: int, model: str = "smollm2-135m") -> tuple[np.ndarray, np.ndarray]:
    from llmrun import kv_dump

    dump = kv_dump(window=window, model=model)
    return dump["k"], dump["v"]


def _window_text(window: int) -> str:
    return (
        f"SmolLM2-135M post-RoPE K/V, all layers, Pride and Prejudice window {window} "
        "(512 tokens, llmrun.kv_dump)"
    )


class PerplexitySource:
    """Perplexity of SmolLM2-135M (or ``accuracy.model``, a checkpoint folder, on
    ``accuracy.backend``, over ``accuracy.text``) with the design's weight and KV quantization.

    Scores windows ``0 .. ppl_windows - 1`` of ``window_len`` tokens (512 unless a
    multi-fidelity study's ``promote.context`` says otherwise); KV LUT calibration (when needed)
    uses window ``ppl_windows`` of Pride and Prejudice (512 tokens), the first one not scored.
    """

    def __init__(self, spec: AccuracySpec, *, window_len: int = 512) -> None:
        self.windows = spec.ppl_windows
        self.window_len = window_len
        self.model, self.backend, self.text = spec.model, spec.backend, spec.text
        self.calibrate_kv = KVCalibrator(
            lambda: _kv_window(self.windows, self.model), _window_text(self.windows)
        )

    def metrics(
        self, weight_config: Any, kv_config: Any | None, cache: QuantCache
    ) -> dict[str, float]:
        kvcfg = self.calibrate_kv(kv_config, cache)
        parts = {"kind": "ppl", "weights": weight_config.to_dict()}
        return self._ppl(parts, {"weights": weight_config}, kvcfg, cache)

    def recipe_metrics(self, recipe: Recipe, cache: QuantCache) -> dict[str, float]:
        """Perplexity with the recipe's weights (per projection kind), activations (the inputs
        of every linear layer, and Q, attention probabilities and outputs where the recipe
        quantizes them, as ``llmrun`` runs them per token) and KV cache.

        A recipe with fp16 activations whose weight kinds all agree (rounded to nearest, no
        rotation) takes :meth:`metrics` (same cache entries); GPTQ and AWQ weights calibrate
        on Emma block by block (``llmrun.calibration``); K and V must share their quantizer
        here (``llmrun`` runs one KV config), else the trial fails with that reason.
        """
        from dse.study.numerics import uniform_configs
        from mant.errors import InputError

        if recipe.act_kinds:
            raise InputError.single(
                "accuracy.source",
                "perplexity runs one quantizer for every linear input (llmrun); per-kind "
                "activations are scored by output_rel_mse",
                [str(k) for k, _ in recipe.act_kinds],
            )
        acts = (recipe.activations, recipe.query, recipe.attn_probs, recipe.attn_out)
        uniform = uniform_configs(recipe)
        # GPTQ, AWQ or a rotation is a property of the recipe's specs, not of a QuantConfig
        algorithm = any(t is not None and t.layer_algorithm for _, t in recipe.weights)
        if uniform is not None and all(a is None for a in acts) and not algorithm:
            return self.metrics(*uniform, cache)
        kvcfg = self.calibrate_kv(recipe.kv_config(), cache)
        parts = {"kind": "ppl-recipe", "recipe": recipe.to_dict()}
        return self._ppl(parts, {"recipe": recipe}, kvcfg, cache)

    def _ppl(
        self, parts: dict[str, Any], quant: dict[str, Any], kvcfg: Any, cache: QuantCache
    ) -> dict[str, float]:
        """Perplexity over the scored windows with ``quant`` (``weights=`` or ``recipe=``) and
        ``kvcfg``, through the cache (key: the text, ``parts`` and the KV config)."""

        def compute() -> dict[str, float]:
            from llmrun import perplexity

            result = perplexity(
                **quant,
                kv=kvcfg,
                windows=self.windows,
                window_len=self.window_len,
                model=self.model,
                backend=self.backend,
                text=self.text,
            )
            return {"ppl": float(result.ppl)}

        tensor = f"smollm2-135m.austen-pride.w{self.windows}x{self.window_len}"
        if (self.model, self.backend, self.text) != ("smollm2-135m", "numpy", None):
            tensor = json.dumps([tensor, self.model, self.backend, self.text])
        key = {
            "tensor": tensor,
            **parts,
            "kv": None if kvcfg is None else kvcfg.to_dict(),
        }
        return cache.get_or_compute(key, compute, fields=("ppl",))


for _name, _factory in (
    ("synthetic", synthetic_suite),
    ("tensors", real_suite),
    ("perplexity", PerplexitySource),
    ("files", lambda spec: _files_suite(spec)),
):
    sources.register_source(_name, _factory)


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
    from dse.evaluate.accuracy_files import files_suite

    return files_suite(spec)


def register_accuracy_source(name: str, factory: Callable[[AccuracySpec], AccuracySource]) -> None:
    """Adds (or replaces) an accuracy source usable as ``accuracy.source: <name>`` in specs."""
    sources.register_source(name, factory)


def accuracy_source_names() -> list[str]:
    return sources.source_names()


def make_accuracy_source(spec: AccuracySpec) -> AccuracySource:
    """Builds the source a spec names.

    Raises:
        InputError: unknown source name.
    """
    factory = sources.source_factory(spec.source)
    if factory is None:
        raise InputError.single(
            "accuracy.source", f"must be one of {', '.join(accuracy_source_names())}", spec.source
        )
    return factory(spec)
