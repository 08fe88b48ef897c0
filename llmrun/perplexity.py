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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from llmrun.assets import derived_dir
from llmrun.calibration import quantize_weights
from llmrun.forward import ActHooks, KVHook, PreparedModel, forward_hidden, window_nll
from llmrun.hf import load_any
from llmrun.hooks import quantize_model_weights, reference_int_kv_hook
from llmrun.model import ModelName, is_checkpoint_dir
from llmrun.quantizers import act_hooks, kv_hook, kv_hook_for_config
from llmrun.scoring import score_windows
from llmrun.text import Corpus, corpus_tokens, file_tokens, model_key
from llmrun.threads import blas_threads, default_threads
from mant.errors import InputError, IssueCollector
from mant.quant_spec import Kind, QuantSpec
from mant.recipe import Recipe
from mant.recipes import parse_recipe_arg

__all__ = [
    "BACKENDS",
    "DTYPES",
    "PerplexityResult",
    "kv_dump",
    "perplexity",
    "prepared_model",
    "resolve_quantization",
    "stored_weights_label",
]

_FULL_TEXT_CHARS = 10**9  # "the whole corpus" for corpus_tokens

BACKENDS = ("numpy", "torch")
"""Forward passes: ``numpy`` (:mod:`llmrun.forward`) and ``torch`` (:mod:`llmrun.torch_forward`,
CPU or CUDA; ``pip install -e .[torch]``)."""


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
        acts: the activation setting as text (``"fp32"`` when none).
        recipe: the recipe's name (with ``+weights`` etc. for overridden parts).
        prefill_tokens: the ``prefill_tokens`` argument (None: the default, the KV group size).
        weight_bits_per_element, act_bits_per_element, kv_bits_per_element: the recipe's
            storage bits per element, metadata included (16.0: unquantized; a legacy
            ``QuantConfig`` / ``KVQuantConfig`` argument is not counted).
        text: the user's text file (None: ``corpus``).
        backend: ``numpy`` or ``torch``; device: where the forward ran (``cpu``, ``cuda``, ...);
        dtype: the forward's precision.
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
    acts: str = "fp32"
    recipe: str = "fp16"
    prefill_tokens: int | None = None
    weight_bits_per_element: float = 16.0
    act_bits_per_element: float = 16.0
    kv_bits_per_element: float = 16.0
    text: str | None = None
    backend: str = "numpy"
    device: str = "cpu"
    dtype: str = "float32"

    @property
    def seconds_per_window(self) -> float:
        return self.seconds / max(self.windows, 1)

    @property
    def n_tokens(self) -> int:
        """Scored tokens (the same as ``tokens``)."""
        return self.tokens

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__} | {
            "seconds_per_window": self.seconds_per_window,
            "n_tokens": self.n_tokens,
        }


_PREPARED: dict[tuple[str, str, str], tuple[PreparedModel, Any]] = {}

DTYPES = ("float32", "float64")
"""Forward precisions: float32 (default, fast) or float64 (the backends then agree to about
1e-12 before quantization, so a quantizer's rounding hardly ever flips between them)."""


def _config_key(config: Any) -> str:
    if config is None:
        return "fp32"
    if isinstance(config, Recipe):
        return json.dumps({k.value: str(t) for k, t in config.weights}, sort_keys=True)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return json.dumps(to_dict(), sort_keys=True, default=str)
    return repr(config)


def prepared_model(
    model: str = ModelName.SMOLLM2_135M.value, weights: Any = None, dtype: str = "float32"
) -> tuple[PreparedModel, Any, float]:
    """The forward-ready weights for ``model`` with ``weights`` applied.

    ``weights`` is None, a :class:`~mant.recipe.Recipe` (its weight part, through
    :func:`llmrun.calibration.quantize_weights`: output-MSE kinds calibrate on Emma) or a
    ``QuantConfig`` for every linear weight. Keeps the unquantized and the most recent quantized
    set in-process.

    Returns:
        (prepared model, weight statistics (``rel_mse``) or None, seconds spent quantizing).
    """
    if isinstance(weights, Recipe) and not any(t is not None for _, t in weights.weights):
        weights = None
    key = (model, _config_key(weights), dtype)
    if key in _PREPARED:
        net, cached = _PREPARED[key]
        return net, cached, 0.0
    base = load_any(model)
    start = time.perf_counter()
    errors: Any = None
    with blas_threads(1):  # the calibration forward's products: the same bits on any machine load
        if isinstance(weights, Recipe):
            base, errors = quantize_weights(base, weights)
        elif weights is not None:
            base, errors = quantize_model_weights(base, weights)
    net = PreparedModel.build(base, dtype=np.dtype(dtype).type)
    seconds = time.perf_counter() - start if weights is not None else 0.0
    for old in [k for k in _PREPARED if k[0] == model and k[1:] != ("fp32", "float32")]:
        del _PREPARED[old]  # keep one quantized weight set per model (about 0.5 GB each)
    _PREPARED[key] = (net, errors)
    return net, errors, seconds


def stored_weights_label(model: str = ModelName.SMOLLM2_135M.value) -> str:
    """What an unquantized run really uses: the stored types of the linear weights.

    Example:
        >>> stored_weights_label("smollm2-135m")
        'stored (Q4_1 weights)'
    """
    types = load_any(model).stored_types
    linear = sorted(
        {
            t
            for name, t in types.items()
            if name.startswith(("blk.", "model.layers.")) and "norm" not in name
        }
    )
    return f"stored ({'/'.join(linear) or 'F32'} weights)"


_REF_INT = re.compile(r"^(int\d+(?:_asym)?)((?::g\d+)?):ref$")


def _reference_hook(text: str) -> KVHook | None:
    """``intK[_asym][:gN]:ref``: the per-token INT demo quantizer of ``real_models.md`` §6."""
    m = _REF_INT.match(text.strip().lower())
    if m is None:
        if text.strip().lower().endswith(":ref"):
            raise InputError.single("kv", "a 'ref' spec is intK[_asym][:gN]:ref", text)
        return None
    name, group = m.group(1), m.group(2)
    g = int(group[2:]) if group else 64
    return reference_int_kv_hook(
        bits=int(name[3:].split("_")[0]), group_size=g, symmetric=not name.endswith("_asym")
    )


def _kv_override(recipe: Recipe, text: str) -> Recipe:
    """``--kv`` text: a tensor recipe for K and V; ``k=``/``v=channel|token`` (the older
    spelling) set one grouping each."""
    fields = [f.strip() for f in text.split(":")]
    groupings = {f[0]: f[2:] for f in fields[1:] if re.fullmatch(r"[kv]=(channel|token)", f)}
    rest = ":".join(f for f in fields if not re.fullmatch(r"[kv]=(channel|token)", f))
    if not groupings:
        return recipe.with_overrides(kv=rest)
    c = IssueCollector()
    parts: dict[str, Any] = {}
    for kind, letter in ((Kind.KEY, "k"), (Kind.VALUE, "v")):
        extra = f":grouping={groupings[letter]}" if letter in groupings else ""
        try:
            parts[kind.value] = QuantSpec.parse(rest + extra, kind=kind, path="kv")
        except InputError as exc:
            c.extend(exc)
    c.raise_if_any()
    return replace(recipe, name=recipe.name + "+kv", **parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Resolved:
    weights: Any  # Recipe, QuantConfig or None
    kv_hook: KVHook | None
    acts: ActHooks | None
    recipe: Recipe
    weights_text: str
    kv_text: str
    acts_text: str


def _text(ts: list[QuantSpec | None]) -> str:
    texts = sorted({"fp32" if t is None else str(t) for t in ts})
    return texts[0] if len(texts) == 1 else "mixed: " + ", ".join(texts)


def _acts_text(r: Recipe) -> str:
    parts = {"linear": r.activations, "Q": r.query, "P": r.attn_probs, "O": r.attn_out}
    texts = {"fp32" if t is None else str(t) for t in parts.values()}
    if len(texts) == 1:
        return texts.pop()
    return ", ".join(f"{k} {'fp32' if t is None else t}" for k, t in parts.items())


def resolve_quantization(
    recipe: Any = None,
    *,
    weights: Any = None,
    acts: Any = None,
    kv: Any = None,
    prefill_tokens: int | None = None,
) -> _Resolved:
    """Recipe plus overrides -> what the forward runs (see :func:`perplexity`)."""
    r = parse_recipe_arg("fp16" if recipe is None else recipe)
    c = IssueCollector()
    legacy_w = weights is not None and not isinstance(weights, str | Mapping | QuantSpec)
    legacy_kv = kv is not None and not isinstance(kv, str | Mapping | QuantSpec)
    ref_hook = None
    try:
        if weights is not None and not legacy_w:
            r = r.with_overrides(weights=weights)
        if acts is not None:
            r = r.with_overrides(acts=acts)
        if isinstance(kv, str):
            ref_hook = _reference_hook(kv)
            if ref_hook is None:
                r = _kv_override(r, kv)
        elif kv is not None and not legacy_kv:
            r = r.with_overrides(kv=kv)
    except InputError as exc:
        c.extend(exc)
    c.raise_if_any()
    if legacy_kv and callable(kv) and not hasattr(kv, "to_dict"):
        hook, kv_text = kv, getattr(kv, "__name__", "custom")
    elif legacy_kv:
        hook, kv_text = kv_hook_for_config(kv, prefill_tokens=prefill_tokens), _config_key(kv)
    elif ref_hook is not None:
        hook, kv_text = ref_hook, str(kv).strip().lower()
    else:
        hook = kv_hook(r, prefill_tokens=prefill_tokens)
        kv_text = "fp32" if r.key is None else f"K {r.key} / V {r.value}"
    return _Resolved(
        weights=weights if legacy_w else r,
        kv_hook=hook,
        acts=act_hooks(r),
        recipe=r,
        weights_text=_config_key(weights) if legacy_w else _text([t for _, t in r.weights]),
        kv_text=kv_text,
        acts_text=_acts_text(r),
    )


def _check_protocol(c: IssueCollector, windows: Any, window_len: Any) -> None:
    ok_int = isinstance(windows, int) and not isinstance(windows, bool)
    c.check(ok_int and windows >= 1, "windows", "must be an int >= 1", windows)
    ok_int = isinstance(window_len, int) and not isinstance(window_len, bool)
    c.check(ok_int and window_len >= 2, "window_len", "must be an int >= 2", window_len)


def text_ids(model: str, corpus: str, text: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Token ids of the evaluation text: the file ``text`` if given, else the whole ``corpus``,
    tokenized by ``model``'s tokenizer without special tokens."""
    if text is not None:
        return file_tokens(text, model)
    return corpus_tokens(corpus, model=model, max_chars=_FULL_TEXT_CHARS)


def _windows(
    model: str,
    corpus: str,
    windows: Any,
    window_len: Any,
    *,
    text: str | os.PathLike[str] | None = None,
    max_windows: bool = False,
) -> np.ndarray:
    """The first ``windows`` non-overlapping windows of ``window_len`` tokens, (windows, len).

    ``windows=None`` takes every full window; ``max_windows`` takes at most ``windows`` (fewer
    when the text is shorter) instead of raising.
    """
    c = IssueCollector()
    _check_protocol(c, 1 if windows is None else windows, window_len)
    c.raise_if_any()
    ids = text_ids(model, corpus, text)
    available = len(ids) // window_len
    source = corpus if text is None else str(text)
    if windows is None or (max_windows and windows > available):
        windows = available
    if windows > available or windows < 1:
        raise InputError.single(
            "windows",
            f"must be <= {available} for {source} at window_len {window_len} ({len(ids)} tokens)",
            windows,
        )
    return ids[: windows * window_len].reshape(windows, window_len)


def perplexity(
    weights: Any = None,
    kv: Any = None,
    *,
    recipe: Any = None,
    acts: Any = None,
    prefill_tokens: int | None = None,
    corpus: str = Corpus.AUSTEN_PRIDE.value,
    windows: int | None = 4,
    window_len: int = 512,
    model: str = ModelName.SMOLLM2_135M.value,
    threads: int | None = None,
    on_window: Callable[[], None] | None = None,
    text: str | os.PathLike[str] | None = None,
    max_windows: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dtype: str = "float32",
) -> PerplexityResult:
    """Perplexity of ``model`` on the first ``windows`` windows of ``corpus`` (or ``text``).

    The quantization is ``recipe`` (a :class:`~mant.recipe.Recipe` or a named recipe; default
    ``fp16``, nothing quantized) with ``weights``, ``acts`` and ``kv`` replacing its parts when
    given (:meth:`Recipe.with_overrides`; ``"fp"`` leaves a part unquantized).

    Args:
        weights: None (the recipe's), a tensor-recipe string (``"mant-unicore16:g64"``) for every
            projection, or a ``QuantConfig`` for every linear weight.
        kv: None (the recipe's), a tensor-recipe string for K and V (``"mant-kv3:g64"``;
            ``k=``/``v=channel|token`` set one grouping; ``intK[_asym][:gN]:ref`` is the
            per-token INT demo quantizer), a ``KVQuantConfig`` or a hook ``(layer, k, v) ->
            (k, v)`` on post-RoPE K/V of shape (batch, kv_heads, tokens, head_dim).
        recipe: the recipe (name or value).
        acts: None (the recipe's) or a tensor-recipe string for every activation quantizer
            (linear inputs, Q, attention probabilities and outputs).
        prefill_tokens: V per channel only: the prompt length P that fixes the INT8 staging
            scale; later tokens are decoded (:mod:`llmrun.quantizers`; default: the KV group
            size; P >= window_len is the authors' one-pass evaluation).
        corpus: a :class:`~llmrun.text.Corpus` value (ignored when ``text`` is given).
        windows: number of consecutive non-overlapping windows (None: every full window).
        window_len: tokens per window (each window scores ``window_len - 1``).
        model: a :class:`~llmrun.model.ModelName` value or a Hugging Face checkpoint folder
            (:mod:`llmrun.hf`: Llama, Mistral, Qwen2; ``config.json``, ``*.safetensors``,
            ``tokenizer.json``).
        threads: windows scored at once, each on one BLAS thread (None:
            :func:`llmrun.threads.default_threads`, every core on an idle machine, 1 on a busy
            one). The result is bitwise the same for any count
            (:func:`llmrun.scoring.score_windows`).
        on_window: called after each window is scored (e.g. to advance a progress bar).
        text: a UTF-8 text file to score instead of ``corpus`` (e.g. WikiText-2 raw), tokenized
            without special tokens.
        max_windows: take at most ``windows`` windows (fewer if the text is shorter) instead of
            raising.
        backend: ``numpy`` or ``torch`` (:data:`BACKENDS`); both run the same weights and the
            same mant quantizers. Unquantized they agree to about 1e-7 relative in float32;
            with quantized activations or KV, to 1e-4 in float64 (``dtype``), while in
            float32 last-bit differences flip some roundings (``docs/perplexity.md``).
        device: torch device (``cpu``, ``cuda``, ``cuda:1``; None: ``cuda`` when available,
            else ``cpu``); the numpy backend takes only ``cpu`` or None.
        dtype: the forward's precision, ``float32`` or ``float64`` (:data:`DTYPES`).

    Raises:
        InputError: unknown model / corpus / recipe / format / thread count / backend, a text
            file that cannot be read, or more windows than the text holds.
    """
    c = IssueCollector()
    res: _Resolved | None = None
    try:
        res = resolve_quantization(
            recipe, weights=weights, acts=acts, kv=kv, prefill_tokens=prefill_tokens
        )
    except InputError as exc:
        c.extend(exc)
    if model not in {m.value for m in ModelName} and not is_checkpoint_dir(str(model)):
        c.add(
            "model",
            f"must be one of {[m.value for m in ModelName]} or a checkpoint folder with "
            "config.json",
            model,
        )
    if text is None and corpus not in {x.value for x in Corpus}:
        c.add("corpus", f"must be one of {[x.value for x in Corpus]}", corpus)
    c.check(backend in BACKENDS, "backend", f"must be one of {list(BACKENDS)}", backend)
    c.check(dtype in DTYPES, "dtype", f"must be one of {list(DTYPES)}", dtype)
    if backend == "numpy":
        c.check(device in (None, "cpu"), "device", "must be cpu for the numpy backend", device)
    _check_protocol(c, 1 if windows is None else windows, window_len)
    ok = threads is None or (isinstance(threads, int) and not isinstance(threads, bool))
    c.check(ok and (threads is None or threads >= 1), "threads", "must be an int >= 1", threads)
    if prefill_tokens is not None:
        ok = isinstance(prefill_tokens, int) and not isinstance(prefill_tokens, bool)
        c.check(ok and prefill_tokens >= 1, "prefill", "must be an int >= 1", prefill_tokens)
    c.raise_if_any()
    assert res is not None
    weight_text = res.weights_text
    if weight_text == "fp32":  # unquantized: what the file stores (SmolLM2: Q4_1)
        weight_text = stored_weights_label(model)
    tokens = _windows(model, corpus, windows, window_len, text=text, max_windows=max_windows)
    n_windows = tokens.shape[0]
    net, errors, weight_seconds = prepared_model(model, res.weights, dtype)
    used = default_threads() if threads is None else threads
    score: Callable[..., tuple[float, int]] = window_nll
    used_device = "cpu"
    restore: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "torch":
        from llmrun.torch_forward import set_threads, torch_model, torch_window_nll

        tnet = torch_model(net, device)
        restore = set_threads(1)  # one intra-op thread per window, as BLAS below
        used_device = str(tnet.device)
        if tnet.device.type != "cpu":
            used = 1  # one window at a time on an accelerator

        def score(_net: Any, *args: Any) -> tuple[float, int]:
            return torch_window_nll(tnet, *args)

    start = time.perf_counter()
    try:
        nll, n = score_windows(
            lambda row, kv, acts: score(net, tokens[row : row + 1], kv, acts),
            n_windows,
            res.kv_hook,
            res.acts,
            used,
            on_window,
        )
    finally:
        restore()
    r = res.recipe
    return PerplexityResult(
        ppl=float(np.exp(nll / n)),
        nll=nll,
        tokens=n,
        seconds=time.perf_counter() - start,
        weight_seconds=weight_seconds,
        weight_rel_mse=None if errors is None else float(errors.rel_mse),
        model=model,
        corpus=corpus if text is None else "file",
        windows=n_windows,
        window_len=window_len,
        weights=weight_text,
        kv=res.kv_text,
        acts=res.acts_text,
        recipe=r.name,
        prefill_tokens=prefill_tokens,
        weight_bits_per_element=r.weight_bits_per_element,
        act_bits_per_element=r.act_bits_per_element,
        kv_bits_per_element=r.kv_bits_per_element,
        threads=used,
        text=None if text is None else str(text),
        backend=backend,
        device=used_device,
        dtype=dtype,
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
    path: Path = derived_dir("kv") / f"{model_key(model)}-{corpus}-w{window}-L{window_len}.npz"
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
