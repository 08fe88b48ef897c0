"""Perplexity of the real model under weight and KV-cache quantization, and K/V dumps.

Protocol (``real_models.md`` §6): tokenize the corpus, cut the ids into consecutive non-overlapping
windows of ``window_len`` tokens from the start, run each window independently (no carried context,
no BOS) and score every token but the window's first; PPL = exp(total NLL / scored tokens). The
whole novel is tokenized (the reference used a 200,000-character prefix; the first windows are the
same tokens).

The loaded model, the prepared float32 weights and the last weight-quantized copy are kept
in-process, so a study that varies only the KV cache or the hardware pays for loading and weight
quantization once.

Example:
    >>> r = perplexity(windows=4, window_len=512)  # unquantized: 20.83 (real_models.md §6)
    >>> round(r.ppl, 2), r.tokens
    (20.83, 2044)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmrun.assets import derived_dir
from llmrun.forward import KVHook, PreparedModel, forward_hidden, window_nll
from llmrun.hooks import (
    WeightErrors,
    mant_kv_hook,
    quantize_model_weights,
    reference_int_kv_hook,
)
from llmrun.model import ModelName, load_model
from llmrun.specs import KVSpec, WeightSpec, parse_kv_spec, parse_weight_spec
from llmrun.text import Corpus, corpus_tokens
from llmrun.threads import blas_threads
from mant.errors import InputError, IssueCollector

__all__ = ["PerplexityResult", "kv_dump", "perplexity", "prepared_model", "stored_weights_label"]

_FULL_TEXT_CHARS = 10**9  # "the whole corpus" for corpus_tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class PerplexityResult:
    """One perplexity evaluation.

    Attributes:
        ppl: perplexity, exp(nll / tokens).
        nll: total negative log-likelihood in nats.
        tokens: scored tokens (windows * (window_len - 1)).
        seconds: wall time of the forward passes in seconds (excludes loading, includes KV hooks).
        weight_seconds: wall time spent quantizing weights in this call in seconds (0 when cached).
        weight_rel_mse: summed relative squared error of the quantized linear weights (None: fp).
        model, corpus, windows, window_len: the protocol.
        weights: the weight setting as text; unquantized, what the file stores, e.g.
            ``"stored (Q4_1 weights)"`` for SmolLM2 (its linear weights are 4-bit in the GGUF,
            so "fp32" would overstate them).
        kv: the KV-cache setting as text (``"fp32"``: the cache as computed, unquantized).
        threads: BLAS threads used by the forward pass.
    """

    ppl: float
    nll: float
    tokens: int
    seconds: float
    weight_seconds: float = 0.0
    weight_rel_mse: float | None = None
    model: str = ModelName.SMOLLM2_135M.value
    corpus: str = Corpus.AUSTEN_PRIDE.value
    windows: int = 0
    window_len: int = 0
    weights: str = "stored"
    kv: str = "fp32"
    threads: int = 1

    @property
    def seconds_per_window(self) -> float:
        return self.seconds / max(self.windows, 1)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__} | {
            "seconds_per_window": self.seconds_per_window
        }


_PREPARED: dict[tuple[str, str], tuple[PreparedModel, WeightErrors | None]] = {}


def _config_key(config: Any) -> str:
    if config is None:
        return "fp32"
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return json.dumps(to_dict(), sort_keys=True, default=str)
    return repr(config)


def prepared_model(
    model: str = ModelName.SMOLLM2_135M.value, weights: Any = None
) -> tuple[PreparedModel, WeightErrors | None, float]:
    """The forward-ready weights for ``model`` with ``weights`` (a QuantConfig or None) applied.

    Keeps the unquantized and the most recent quantized set in-process.

    Returns:
        (prepared model, weight errors or None, seconds spent quantizing in this call).
    """
    key = (model, _config_key(weights))
    if key in _PREPARED:
        net, errors = _PREPARED[key]
        return net, errors, 0.0
    base = load_model(model)
    start = time.perf_counter()
    errors = None
    if weights is not None:
        base, errors = quantize_model_weights(base, weights)
    net = PreparedModel.build(base)
    seconds = time.perf_counter() - start if weights is not None else 0.0
    for old in [k for k in _PREPARED if k[0] == model and k[1] != "fp32"]:
        del _PREPARED[old]  # keep one quantized weight set per model (about 0.5 GB each)
    _PREPARED[key] = (net, errors)
    return net, errors, seconds


def stored_weights_label(model: str = ModelName.SMOLLM2_135M.value) -> str:
    """What an unquantized run really uses: the stored types of the linear weights.

    Example:
        >>> stored_weights_label("smollm2-135m")
        'stored (Q4_1 weights)'
    """
    types = load_model(model).stored_types
    linear = sorted(
        {t for name, t in types.items() if name.startswith("blk.") and "norm" not in name}
    )
    return f"stored ({'/'.join(linear) or 'F32'} weights)"


def _resolve_weights(weights: Any) -> tuple[Any, str]:
    if weights is None or isinstance(weights, str | WeightSpec):
        spec = parse_weight_spec(weights) if not isinstance(weights, WeightSpec) else weights
        return (None, "") if spec is None else (spec.to_config(), str(spec))
    return weights, _config_key(weights)


def _resolve_kv(kv: Any) -> tuple[KVHook | None, str]:
    if kv is None or isinstance(kv, str | KVSpec):
        spec = parse_kv_spec(kv) if not isinstance(kv, KVSpec) else kv
        if spec is None:
            return None, "fp32"
        if spec.reference:
            hook = reference_int_kv_hook(
                bits=spec.ref_bits, group_size=spec.group_size or 64, symmetric=spec.ref_symmetric
            )
            return hook, str(spec)
        return mant_kv_hook(spec.to_config()), str(spec)
    if callable(kv) and not hasattr(kv, "to_dict"):
        return kv, getattr(kv, "__name__", "custom")
    return mant_kv_hook(kv), _config_key(kv)


def _check_protocol(c: IssueCollector, windows: Any, window_len: Any) -> None:
    ok_int = isinstance(windows, int) and not isinstance(windows, bool)
    c.check(ok_int and windows >= 1, "windows", "must be an int >= 1", windows)
    ok_int = isinstance(window_len, int) and not isinstance(window_len, bool)
    c.check(ok_int and window_len >= 2, "window_len", "must be an int >= 2", window_len)


def _windows(model: str, corpus: str, windows: Any, window_len: Any) -> np.ndarray:
    c = IssueCollector()
    _check_protocol(c, windows, window_len)
    c.raise_if_any()
    ids = corpus_tokens(corpus, model=model, max_chars=_FULL_TEXT_CHARS)
    available = len(ids) // window_len
    if windows > available:
        raise InputError.single(
            "windows",
            f"must be <= {available} for {corpus} at window_len {window_len} ({len(ids)} tokens)",
            windows,
        )
    return ids[: windows * window_len].reshape(windows, window_len)


def perplexity(
    weights: Any = None,
    kv: Any = None,
    *,
    corpus: str = Corpus.AUSTEN_PRIDE.value,
    windows: int = 4,
    window_len: int = 512,
    model: str = ModelName.SMOLLM2_135M.value,
    threads: int | None = None,
    on_window: Callable[[], None] | None = None,
) -> PerplexityResult:
    """Perplexity of ``model`` on the first ``windows`` windows of ``corpus``.

    Args:
        weights: None, a weight spec string (``"mant-unicore16:g64"``) or a ``QuantConfig``.
        kv: None, a KV spec string (``"int4_asym:g64"``), a ``KVQuantConfig`` or a hook
            ``(layer, k, v) -> (k, v)`` on post-RoPE K/V of shape (batch, kv_heads, tokens,
            head_dim).
        corpus: a :class:`~llmrun.text.Corpus` value.
        windows: number of consecutive non-overlapping windows.
        window_len: tokens per window (each window scores ``window_len - 1``).
        model: a :class:`~llmrun.model.ModelName` value.
        threads: BLAS threads for the forward pass (None: :func:`llmrun.threads.default_threads`,
            every core on an idle machine, 1 on a busy one).
        on_window: called after each window is scored (e.g. to advance a progress bar).

    Raises:
        InputError: unknown model / corpus / spec / thread count, or more windows than the
            corpus holds.
    """
    c = IssueCollector()
    resolved: dict[str, tuple[Any, str]] = {}
    for path, fn, value in (("weights", _resolve_weights, weights), ("kv", _resolve_kv, kv)):
        try:
            resolved[path] = fn(value)
        except InputError as exc:
            c.extend(exc, "" if exc.issues[0].path.startswith(path) else path)
    if model not in {m.value for m in ModelName}:
        c.add("model", f"must be one of {[m.value for m in ModelName]}", model)
    if corpus not in {x.value for x in Corpus}:
        c.add("corpus", f"must be one of {[x.value for x in Corpus]}", corpus)
    _check_protocol(c, windows, window_len)
    ok = threads is None or (isinstance(threads, int) and not isinstance(threads, bool))
    c.check(ok and (threads is None or threads >= 1), "threads", "must be an int >= 1", threads)
    c.raise_if_any()
    weight_config, weight_text = resolved["weights"]
    weight_text = weight_text or stored_weights_label(model)
    hook, kv_text = resolved["kv"]
    tokens = _windows(model, corpus, windows, window_len)
    net, errors, weight_seconds = prepared_model(model, weight_config)
    start = time.perf_counter()
    nll, n = 0.0, 0
    with blas_threads(threads) as used:
        for row in range(windows):  # one window per forward call: bounded memory, progress
            part_nll, part_n = window_nll(net, tokens[row : row + 1], hook)
            nll, n = nll + part_nll, n + part_n
            if on_window is not None:
                on_window()
    return PerplexityResult(
        ppl=float(np.exp(nll / n)),
        nll=nll,
        tokens=n,
        seconds=time.perf_counter() - start,
        weight_seconds=weight_seconds,
        weight_rel_mse=None if errors is None else errors.rel_mse,
        model=model,
        corpus=corpus,
        windows=windows,
        window_len=window_len,
        weights=weight_text,
        kv=kv_text,
        threads=used,
    )


def kv_dump(
    *,
    window: int = 0,
    window_len: int = 512,
    corpus: str = Corpus.AUSTEN_PRIDE.value,
    model: str = ModelName.SMOLLM2_135M.value,
) -> dict[str, np.ndarray]:
    """Real post-RoPE K and V of one window for every layer (unquantized model), cached as
    ``.npz``.

    Args:
        window: index of the window (consecutive, non-overlapping, from the start of the corpus).
        window_len: tokens per window.
        corpus: a :class:`~llmrun.text.Corpus` value.
        model: a :class:`~llmrun.model.ModelName` value.

    Returns:
        ``{"k": (layers, kv_heads, tokens, head_dim) float32, "v": same, "tokens": (tokens,)
        int32}``. K is in the GGUF channel order (RoPE pairs are adjacent channels 2j, 2j+1; the
        transformers layout is the even channels followed by the odd ones, ``real_models.md``
        §4.1).

    Example:
        >>> d = kv_dump(window=0)
        >>> d["k"].shape
        (30, 3, 512, 64)
    """
    c = IssueCollector()
    c.check(isinstance(window, int) and window >= 0, "window", "must be an int >= 0", window)
    c.raise_if_any()
    tokens = _windows(model, corpus, window + 1, window_len)[window : window + 1]
    path: Path = derived_dir("kv") / f"{model}-{corpus}-w{window}-L{window_len}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                return {name: z[name] for name in ("k", "v", "tokens")}
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    net, _, _ = prepared_model(model, None)
    ks: list[np.ndarray] = []
    vs: list[np.ndarray] = []

    def capture(layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ks.append(k[0].copy())
        vs.append(v[0].copy())
        return k, v

    forward_hidden(net, tokens, capture)
    out = {"k": np.stack(ks), "v": np.stack(vs), "tokens": tokens[0].astype(np.int32)}
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out
