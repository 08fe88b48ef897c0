"""Weight quantization of a whole model by its recipe, with calibration activations for output-MSE,
GPTQ and AWQ.

:func:`quantize_weights` quantizes every linear projection kind of every block (q, k, v, o, gate,
up, down) with the :class:`~mant.quant_spec.QuantSpec` the recipe gives that kind; a kind
set to ``None`` stays as stored. Groups run along in_features (the reduction dimension).

Kinds whose selection is ``output_mse`` or whose algorithm is ``gptq`` or ``awq`` need
calibration activations: the numpy forward runs block by block on the calibration tokens
(default: the first 16 windows of 512 tokens of Jane Austen's *Emma*, no BOS; perplexity scores
*Pride and Prejudice*, a different text), each linear's input is captured, that block's weights
are quantized with ``mant.quantize.quantize(w, cfg, calibration=X)`` or, for an algorithm or a
rotation (:class:`~mant.quant_spec.QuantSpec` ``algorithm`` / ``rotation``),
``mant.gptq.quantize_layer`` (GPTQ's Hessian is built once per captured input and shared by the
projections it feeds; AWQ's α search uses the first :data:`AWQ_TOKENS` calibration tokens), and

* ``propagate=True`` (the M-ANT authors' way, ``pseudo_quant_output_mse`` in their commit 75fb156):
  the block is run again with its quantized weights and that output feeds the next block;
* ``propagate=False``: every block sees the unquantized model's activations.

Results are cached by content: the key is the model asset's hash, the recipe's weight part and the
calibration settings (a hash of the token ids and the propagation flag). The cache holds the
chosen candidate of every group (a few MB), from which the quantized weights are rebuilt exactly;
a kind quantized by GPTQ, AWQ or a rotation is stored as its dequantized float32 weights (about
0.4 GB for every projection of SmolLM2-135M), since its scales depend on the sweep.

Example (needs the model assets, ``mant-dse assets fetch``; ``tests/llmrun_tests`` runs it):
    >>> from mant.recipes import named_recipe
    >>> from llmrun.model import load_model
    >>> qmodel, stats = quantize_weights(  # doctest: +SKIP
    ...     load_model(), named_recipe("int4-g64"))
    >>> stats.n_tensors  # doctest: +SKIP
    210
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np

from llmrun.assets import derived_dir, get_asset
from llmrun.forward import _attention, _rms_norm, _rope, _rope_tables
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel
from llmrun.text import Corpus, corpus_tokens
from mant.errors import InputError, IssueCollector
from mant.output_select import GramCalibration
from mant.quant_spec import WEIGHT_KINDS, Algorithm, Kind, QuantSpec, Selection
from mant.quantize import QuantConfig, quantize, quantize_with_choice
from mant.recipe import Recipe

__all__ = [
    "CALIBRATION_CORPUS",
    "CALIBRATION_WINDOWS",
    "CALIBRATION_WINDOW_LEN",
    "AWQ_TOKENS",
    "INPUT_OF",
    "KIND_FIELDS",
    "WeightQuantStats",
    "calibration_blocks",
    "calibration_tokens_default",
    "quantize_weights",
]

CALIBRATION_CORPUS = Corpus.AUSTEN_EMMA.value
CALIBRATION_WINDOWS = 16
CALIBRATION_WINDOW_LEN = 512
_BATCH = 4  # calibration windows per forward call (bounds the attention scores' memory)
STATS_TOKENS = 1024  # calibration tokens the reported output error is measured on
AWQ_TOKENS = 1024  # calibration tokens of AWQ's alpha search (20 products of (tokens, in) each)
_CACHE_VERSION = 1

# projection kind -> LayerWeights field
KIND_FIELDS: dict[Kind, str] = {
    Kind.Q: "wq",
    Kind.K: "wk",
    Kind.V: "wv",
    Kind.O: "wo",
    Kind.GATE: "w_gate",
    Kind.UP: "w_up",
    Kind.DOWN: "w_down",
}
# which captured input each projection reads
INPUT_OF: dict[Kind, str] = {
    Kind.Q: "attn_in",
    Kind.K: "attn_in",
    Kind.V: "attn_in",
    Kind.O: "o_in",
    Kind.GATE: "ffn_in",
    Kind.UP: "ffn_in",
    Kind.DOWN: "down_in",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WeightQuantStats:
    """What quantizing a model's weights did.

    Attributes:
        rel_mse: sum ||W - Q||^2 / sum ||W||^2 over the quantized tensors (0 if none).
        n_tensors: tensors quantized; n_values: values quantized.
        bits_per_element: storage bits per weight of the most expensive quantized kind.
        choice_histogram: groups per candidate name, summed over all tensors.
        output_rel_mse: sum over output-MSE, GPTQ and AWQ tensors of ||X W^T - X Q^T||^2 over
            the sum of ||X W^T||^2, X the first 1024 calibration tokens of each linear's input
            (None when no kind uses calibration).
        calibration_tokens: calibration tokens used (0 when none were needed).
        propagate: whether quantized block outputs fed the next block.
        forward_seconds: wall time of the calibration forward in seconds.
        quantize_seconds: wall time of the weight quantization in seconds.
        cached: True when the choices were read from the cache.
    """

    rel_mse: float
    n_tensors: int
    n_values: int
    bits_per_element: float
    choice_histogram: dict[str, int] = dataclasses.field(default_factory=dict)
    output_rel_mse: float | None = None
    calibration_tokens: int = 0
    propagate: bool = True
    forward_seconds: float = 0.0
    quantize_seconds: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}


def calibration_tokens_default(model: str = "smollm2-135m") -> np.ndarray:
    """The default calibration batch: the first 16 x 512 tokens of Emma (no BOS), (16, 512)."""
    ids = corpus_tokens(CALIBRATION_CORPUS, model=model, max_chars=10**9)
    n = CALIBRATION_WINDOWS * CALIBRATION_WINDOW_LEN
    return ids[:n].reshape(CALIBRATION_WINDOWS, CALIBRATION_WINDOW_LEN)


def _check_tokens(tokens: Any, vocab: int) -> np.ndarray:
    arr = np.asarray(tokens)
    c = IssueCollector()
    ok = arr.ndim == 2 and arr.shape[0] >= 1 and arr.shape[1] >= 1 and arr.dtype.kind in "iu"
    c.check(ok, "calibration_tokens", "must be a 2-d int array (windows, tokens)", arr.shape)
    if ok:
        lo, hi = int(arr.min()), int(arr.max())
        c.check(
            lo >= 0 and hi < vocab,
            "calibration_tokens",
            f"must be token ids in 0..{vocab - 1}",
            f"{lo}..{hi}",
        )
    c.raise_if_any()
    return arr.astype(np.int64)


def _recipe_configs(recipe: Recipe) -> dict[Kind, QuantConfig | Any]:
    out: dict[Kind, Any] = {}
    for kind in WEIGHT_KINDS:
        t = recipe.weight(kind)
        if t is not None:
            out[kind] = t.quant_config(axis=-1)
    return out


def _layer_specs(recipe: Recipe) -> dict[Kind, QuantSpec]:
    """The kinds quantized by ``mant.gptq.quantize_layer`` (an algorithm or a rotation)."""
    out: dict[Kind, QuantSpec] = {}
    for kind in WEIGHT_KINDS:
        t = recipe.weight(kind)
        if t is not None and t.layer_algorithm:
            out[kind] = t
    return out


def _uses_output_mse(recipe: Recipe) -> bool:
    """Whether the recipe's weights need calibration activations (output-MSE, GPTQ, AWQ)."""
    return any(
        t is not None and (t.selection is Selection.OUTPUT_MSE or t.algorithm is not Algorithm.RTN)
        for _, t in recipe.weights
    )


# --- the block forward with captured linear inputs ---------------------------------------------


def _block(
    layer: LayerWeights,
    x: np.ndarray,
    cfg: LlamaConfig,
    tables: tuple[np.ndarray, np.ndarray],
    capture: Callable[[str, np.ndarray], None] | None = None,
) -> np.ndarray:
    """One llama block on x (B, T, d) in float32, as ``llmrun.forward.forward_hidden`` runs it."""
    b, n, _ = x.shape
    hd, h, hkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
    cos, sin = tables
    a_in = _rms_norm(x, layer.attn_norm, cfg.rms_eps)
    w_qkv_t = np.concatenate([layer.wq, layer.wk, layer.wv], axis=0).T
    qkv = a_in @ w_qkv_t
    if layer.bq is not None or layer.bk is not None or layer.bv is not None:
        widths = (layer.wq.shape[0], layer.wk.shape[0], layer.wv.shape[0])
        parts = (layer.bq, layer.bk, layer.bv)
        qkv += np.concatenate(
            [np.zeros(w) if p is None else p for p, w in zip(parts, widths, strict=True)]
        ).astype(qkv.dtype)
    qkv = qkv.reshape(b, n, h + 2 * hkv, hd).transpose(0, 2, 1, 3)
    q = _rope(qkv[:, :h], cos, sin)
    k = _rope(qkv[:, h : h + hkv], cos, sin)
    v = np.ascontiguousarray(qkv[:, h + hkv :])
    attn = _attention(q, k, v, cfg)
    x = x + attn @ layer.wo.T
    f_in = _rms_norm(x, layer.ffn_norm, cfg.rms_eps)
    gate_up = f_in @ np.concatenate([layer.w_gate, layer.w_up], axis=0).T
    gate, up = gate_up[..., : cfg.d_ffn], gate_up[..., cfg.d_ffn :]
    with np.errstate(over="ignore"):
        act = gate / (1.0 + np.exp(-gate)) * up
    if capture is not None:
        capture("attn_in", a_in)
        capture("o_in", attn)
        capture("ffn_in", f_in)
        capture("down_in", act)
    return x + act @ layer.w_down.T


def _run_block(
    layer: LayerWeights,
    xs: list[np.ndarray],
    cfg: LlamaConfig,
    tables: tuple[np.ndarray, np.ndarray],
    want_inputs: bool,
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The block on every batch of hidden states; the captured inputs as (tokens, width)."""
    parts: dict[str, list[np.ndarray]] = {}

    def capture(name: str, a: np.ndarray) -> None:
        parts.setdefault(name, []).append(a.reshape(-1, a.shape[-1]))

    outs = [_block(layer, x, cfg, tables, capture if want_inputs else None) for x in xs]
    return outs, {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def calibration_blocks(
    model: LlamaModel, tokens: np.ndarray, layers: int | None = None
) -> Iterator[tuple[dict[Kind, np.ndarray], dict[str, np.ndarray], float]]:
    """The unquantized forward, block by block, over calibration ``tokens`` (windows, len).

    Yields, for each of the first ``layers`` blocks (None: all): the block's projection weights
    by kind, the inputs that feed them by name (:data:`INPUT_OF`; (tokens, width) float32) and
    the seconds its forward took.
    """
    arr = _check_tokens(tokens, model.config.vocab_size)
    cos, sin = _rope_tables(model.config, arr.shape[1], np.dtype(np.float32))
    tables = (cos, sin)
    xs = [model.tok_embd[arr[i : i + _BATCH]] for i in range(0, len(arr), _BATCH)]
    for layer in model.layers[:layers]:
        t0 = time.perf_counter()
        xs, inputs = _run_block(layer, xs, model.config, tables, True)
        seconds = time.perf_counter() - t0
        yield {k: getattr(layer, f) for k, f in KIND_FIELDS.items()}, inputs, seconds


# --- quantization ------------------------------------------------------------------------------


def _quantize_layer(
    layer: LayerWeights,
    configs: dict[Kind, Any],
    inputs: dict[str, np.ndarray] | None,
    choices: dict[Any, np.ndarray] | None,
    specs: dict[Kind, QuantSpec] | None = None,
) -> tuple[LayerWeights, dict[Kind, Any]]:
    """The layer with its configured kinds quantized; the QuantResult of each kind (for a kind
    of ``specs`` read from the cache: a :class:`_Cached` with its values and choices)."""
    updates: dict[str, np.ndarray] = {}
    results: dict[Kind, Any] = {}
    grams: dict[tuple[str, int], GramCalibration] = {}
    hessians: dict[str, Any] = {}
    specs = specs or {}
    for kind, cfg in configs.items():
        w = getattr(layer, KIND_FIELDS[kind])
        r: Any
        if kind in specs and choices is not None:
            r = _Cached(
                dequantized=choices[_deq_key(kind)],
                choice=choices[kind],
                candidates=tuple(cfg.candidate_set.names),
            )
        elif kind in specs:
            r = _layer_algorithm(w, cfg, specs[kind], inputs, INPUT_OF[kind], hessians)
        elif choices is not None and isinstance(cfg, QuantConfig):
            r = quantize_with_choice(w, cfg, choices[kind])
        elif isinstance(cfg, QuantConfig) and cfg.selection == "output_mse":
            assert inputs is not None
            source = INPUT_OF[kind]
            key = (source, int(cfg.group_size or 0))
            if key not in grams:  # one Gram per input: q, k, v share one, gate and up too
                grams[key] = GramCalibration.from_activations(inputs[source], group_size=key[1])
            r = quantize(w, cfg, calibration=grams[key])
        else:
            r = quantize(w, cfg)
        updates[KIND_FIELDS[kind]] = np.asarray(r.dequantized, dtype=np.float32)
        results[kind] = r
    return dataclasses.replace(layer, **updates), results


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Cached:
    """A GPTQ / AWQ / rotated weight read back from the cache: its values and choices."""

    dequantized: np.ndarray
    choice: np.ndarray
    candidates: tuple[str, ...]

    def choice_histogram(self) -> dict[str, int]:
        counts = np.bincount(self.choice.astype(np.int64), minlength=len(self.candidates))
        return {name: int(n) for name, n in zip(self.candidates, counts, strict=True)}


def _deq_key(kind: Kind) -> Kind | str:
    return f"{kind.value}.deq"


def _layer_algorithm(
    w: np.ndarray,
    cfg: QuantConfig,
    spec: QuantSpec,
    inputs: dict[str, np.ndarray] | None,
    source: str,
    hessians: dict[str, Any],
) -> Any:
    """``w`` quantized by ``spec``'s algorithm and rotation (:mod:`mant.gptq`)."""
    from mant.gptq import Hessian, gptq, quantize_layer

    block = spec.rotation_block_for(w.shape[1])
    needs_x = spec.algorithm is not Algorithm.RTN or cfg.selection == "output_mse"
    x = None
    if needs_x:
        assert inputs is not None
        x = inputs[source]
        if spec.algorithm is Algorithm.AWQ:
            x = x[:AWQ_TOKENS]
    if spec.algorithm is Algorithm.GPTQ and block is None:
        assert x is not None
        if source not in hessians:  # one Hessian per input: q, k, v share one, gate and up too
            hessians[source] = Hessian.from_activations(x)
        return gptq(w, cfg, hessians[source])
    return quantize_layer(w, cfg, algorithm=spec.algorithm, rotation_block=block, calibration=x)


def _output_error(w: np.ndarray, q: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(||X (W - Q)^T||^2, ||X W^T||^2) over the first :data:`STATS_TOKENS` rows of X."""
    xs = x[:STATS_TOKENS]
    err = xs @ (w - q).T  # the difference first: no cancellation in float32
    ref = xs @ w.T
    return float(np.sum(np.square(err, dtype=np.float64))), float(
        np.sum(np.square(ref, dtype=np.float64))
    )


def _cache_key(model: LlamaModel, recipe: Recipe, tokens: np.ndarray | None, propagate: bool):
    weights = {k.value: (None if t is None else t.to_dict()) for k, t in recipe.weights}
    try:
        asset_hash = get_asset(model.name).main.sha256
    except InputError:  # a model built in memory: hash its weights
        h = hashlib.sha256()
        for layer in model.layers:
            for f in KIND_FIELDS.values():
                h.update(np.ascontiguousarray(getattr(layer, f)).tobytes())
        asset_hash = h.hexdigest()
    calib: dict[str, Any] = {}
    if tokens is not None:
        calib = {
            "tokens": hashlib.sha256(np.ascontiguousarray(tokens, np.int64).tobytes()).hexdigest(),
            "shape": list(tokens.shape),
            "propagate": propagate,
        }
        if any(t is not None and t.algorithm is Algorithm.AWQ for _, t in recipe.weights):
            calib["awq_tokens"] = AWQ_TOKENS
        if any(t is not None and t.algorithm is Algorithm.GPTQ for _, t in recipe.weights):
            from mant.gptq import GPTQ_VERSION  # GPTQ weights of an older sweep: never read back

            calib["gptq"] = GPTQ_VERSION
    blob = json.dumps(
        {
            "v": _CACHE_VERSION,
            "model": asset_hash,
            "n_layers": len(model.layers),
            "weights": weights,
            "calibration": calib,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _cache_name(key: str) -> Kind | str:
    """A cache entry's kind (``q``) or a dequantized weight's key (``q.deq``)."""
    return key if key.endswith(".deq") else Kind(key)


def _load_cache(path: Path) -> tuple[list[dict[Any, np.ndarray]], dict[str, Any]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
            layers = [
                {_cache_name(k): z[f"{i}.{k}"] for k in meta["kinds"]}
                for i in range(meta["n_layers"])
            ]
        return layers, meta["stats"]
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)
        return None


def _save_cache(path: Path, choices: list[dict[Any, np.ndarray]], stats: dict[str, Any]) -> None:
    kinds = sorted(choices[0], key=str) if choices else []
    meta = {"n_layers": len(choices), "kinds": [str(k) for k in kinds], "stats": stats}
    arrays = {f"{i}.{k}": c[k] for i, c in enumerate(choices) for k in kinds}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    arrays["__meta__"] = np.array(json.dumps(meta))
    # cast: numpy's stub types **kwds as if they could bind allow_pickle: bool
    np.savez(tmp, **cast("dict[str, Any]", arrays))
    tmp.replace(path)


def quantize_weights(
    model: LlamaModel,
    recipe: Recipe,
    *,
    calibration_tokens: np.ndarray | None = None,
    propagate: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[LlamaModel, WeightQuantStats]:
    """A copy of ``model`` with its linear weights quantized as ``recipe`` says.

    Args:
        model: the model (weights as stored, float32).
        recipe: the recipe; only its weight part is used (kinds set to None stay as stored).
        calibration_tokens: int token ids (windows, tokens) for output-MSE kinds; default
            :func:`calibration_tokens_default` (the first 16 x 512 tokens of Emma).
        propagate: feed each block's quantized output to the next block (the authors' way).
        cache_dir: folder of the choice cache (default: the asset cache's
            ``derived/quantized-weights``).

    Returns:
        (the quantized model, :class:`WeightQuantStats`).

    Raises:
        InputError: bad calibration tokens.
    """
    configs = _recipe_configs(recipe)
    specs = _layer_specs(recipe)
    if not configs:
        return model, WeightQuantStats(rel_mse=0.0, n_tensors=0, n_values=0, bits_per_element=16.0)
    cfg = model.config
    needs_calib = _uses_output_mse(recipe)
    tokens: np.ndarray | None = None
    if needs_calib:
        if calibration_tokens is None:
            calibration_tokens = calibration_tokens_default(model.name)
        tokens = _check_tokens(calibration_tokens, cfg.vocab_size)
    folder = Path(cache_dir) if cache_dir is not None else derived_dir("quantized-weights")
    stem = Path(model.name).name  # a checkpoint folder's name, not its path
    path = folder / f"{stem}-{_cache_key(model, recipe, tokens, propagate)}.npz"
    cached = _load_cache(path)

    forward_s = quantize_s = 0.0
    layers: list[LayerWeights] = []
    choices: list[dict[Any, np.ndarray]] = []
    hist: dict[str, int] = {}
    err = ref = out_err = out_ref = 0.0
    n_tensors = n_values = 0
    xs: list[np.ndarray] = []
    xs_fp: list[np.ndarray] = []
    tables: tuple[np.ndarray, np.ndarray] | None = None
    if needs_calib and cached is None:
        assert tokens is not None
        cos, sin = _rope_tables(cfg, tokens.shape[1], np.dtype(np.float32))
        tables = (cos, sin)
        t0 = time.perf_counter()
        xs = [model.tok_embd[tokens[i : i + _BATCH]] for i in range(0, len(tokens), _BATCH)]
        xs_fp = xs
        forward_s += time.perf_counter() - t0
    for i, layer in enumerate(model.layers):
        inputs: dict[str, np.ndarray] | None = None
        outs_fp: list[np.ndarray] = []
        if tables is not None:
            t0 = time.perf_counter()
            src = xs if propagate else xs_fp
            outs_fp, inputs = _run_block(layer, src, cfg, tables, True)
            forward_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        qlayer, results = _quantize_layer(
            layer, configs, inputs, None if cached is None else cached[0][i], specs
        )
        quantize_s += time.perf_counter() - t0
        layers.append(qlayer)
        kept: dict[Any, np.ndarray] = {
            k: np.asarray(r.choice, dtype=np.int16) for k, r in results.items()
        }
        for kind in specs:  # an algorithm's values are not rebuilt from choices: keep them
            kept[_deq_key(kind)] = getattr(qlayer, KIND_FIELDS[kind])
        choices.append(kept)
        for kind, r in results.items():
            w = getattr(layer, KIND_FIELDS[kind])
            q = getattr(qlayer, KIND_FIELDS[kind])
            err += float(np.sum((q.astype(np.float64) - w) ** 2))
            ref += float(np.sum(w.astype(np.float64) ** 2))
            n_tensors += 1
            n_values += w.size
            for name, count in r.choice_histogram().items():
                hist[name] = hist.get(name, 0) + count
            c = configs[kind]
            calibrated = c.selection == "output_mse" or (
                kind in specs and specs[kind].algorithm is not Algorithm.RTN
            )
            if inputs is not None and isinstance(c, QuantConfig) and calibrated:
                e, s = _output_error(w, q, inputs[INPUT_OF[kind]])
                out_err, out_ref = out_err + e, out_ref + s
        if tables is not None:
            t0 = time.perf_counter()
            if propagate:
                xs, _ = _run_block(qlayer, xs, cfg, tables, False)
            else:
                xs_fp = outs_fp
            forward_s += time.perf_counter() - t0
    if cached is not None:
        stats_src = dict(cached[1])
    else:
        stats_src = {
            "output_rel_mse": (out_err / out_ref) if (needs_calib and out_ref > 0) else None,
            "forward_seconds": forward_s,
            "quantize_seconds": quantize_s,
        }
    stats = WeightQuantStats(
        rel_mse=err / ref if ref > 0 else 0.0,
        n_tensors=n_tensors,
        n_values=n_values,
        bits_per_element=recipe.weight_bits_per_element,
        choice_histogram=hist,
        output_rel_mse=stats_src["output_rel_mse"],
        calibration_tokens=0 if tokens is None else int(tokens.size),
        propagate=propagate,
        forward_seconds=float(stats_src["forward_seconds"]),
        quantize_seconds=float(stats_src["quantize_seconds"]),
        cached=cached is not None,
    )
    if cached is None and all(isinstance(c, QuantConfig) for c in configs.values()):
        _save_cache(path, choices, stats_src)
    return dataclasses.replace(model, layers=tuple(layers)), stats
