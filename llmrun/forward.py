"""The llama forward pass in numpy: batched independent windows, no Python loop over tokens.

Per block (``real_models.md`` §4.1): RMSNorm -> fused q/k/v projection -> RoPE on adjacent pairs
(the GGUF row order) -> optional K/V hook on the post-RoPE K and V -> causal softmax attention with
GQA -> output projection + residual -> RMSNorm -> SwiGLU FFN + residual. Then the final RMSNorm and
the output head (tied to the embedding for SmolLM2). Qwen2's q/k/v biases are added after the
fused projection.

Activation quantization (:class:`ActHooks`, the M-ANT authors' places in ``llama_mant.py``): the
input of every linear layer, Q after RoPE, the softmax output and the attention output (per head,
before the output projection), each ``x -> x_hat`` on the last axis, per token. A KV hook may
return V as a :class:`mant.kv_decode.ValueCache`: query t then reads tokens
``[0, complete_len[t])`` from ``complete`` and the rest from ``staged``, i.e. exactly the cache
it would see in token-by-token decoding, computed as ``P @ staged + (P * M) @ (complete -
staged)`` with the causal completion mask M (no loop over tokens).

Everything runs in the dtype of the prepared weights (float32 for speed; float64 for reference
checks).

Example (needs the model assets, ``mant-dse assets fetch``; ``tokens`` the text's ids;
``tests/llmrun_tests/test_forward.py`` runs it):
    >>> from llmrun.model import load_model
    >>> net = PreparedModel.build(load_model("smollm2-135m"))  # doctest: +SKIP
    >>> nll, n = window_nll(net, tokens.reshape(2, 512))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmrun.model import LayerWeights, LlamaConfig, LlamaModel
from mant.kv_decode import ValueCache

__all__ = [
    "ActHooks",
    "KVHook",
    "PreparedModel",
    "forward_hidden",
    "llama3_inv_freq",
    "window_nll",
]

KVHook = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, "np.ndarray | ValueCache"]]
"""``(layer, k, v) -> (k, v)`` on post-RoPE K, V of shape (batch, kv_heads, tokens, head_dim);
V may come back as a :class:`~mant.kv_decode.ValueCache` (decode-time semantics)."""

ActFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True, kw_only=True)
class ActHooks:
    """Activation quantizers of the forward pass (None: that tensor stays as computed).

    Attributes:
        linear: input of every linear layer, (B, T, in_features).
        query: post-RoPE Q, (B, H, T, head_dim).
        attn_probs: softmax output, (..., T_query, T_key): groups along the key axis.
        attn_out: attention output per head, (B, H, T, head_dim), before the output projection.
    """

    linear: ActFn | None = None
    query: ActFn | None = None
    attn_probs: ActFn | None = None
    attn_out: ActFn | None = None


_NO_ACTS = ActHooks()


def _apply(fn: ActFn | None, x: np.ndarray) -> np.ndarray:
    return x if fn is None else fn(x).astype(x.dtype, copy=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Block:
    attn_norm: np.ndarray
    w_qkv_t: np.ndarray  # (d_model, (n_heads + 2 * n_kv_heads) * head_dim)
    b_qkv: np.ndarray | None  # fused q/k/v bias (Qwen2) or None
    wo_t: np.ndarray  # (d_model, d_model)
    ffn_norm: np.ndarray
    w_gate_up_t: np.ndarray  # (d_model, 2 * d_ffn)
    w_down_t: np.ndarray  # (d_ffn, d_model)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedModel:
    """Weights laid out for the forward pass (fused, transposed, contiguous) in one dtype."""

    config: LlamaConfig
    blocks: tuple[_Block, ...]
    tok_embd: np.ndarray  # (vocab, d_model)
    output_norm: np.ndarray
    dtype: np.dtype
    head: np.ndarray  # output head (vocab, d_model): tok_embd when tied

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @classmethod
    def build(cls, model: LlamaModel, *, dtype: type = np.float32) -> PreparedModel:
        """Fuse and transpose the weights of ``model`` (already weight-quantized if wanted)."""

        def t(*ws: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate(ws, axis=0).T, dtype=dtype)

        def bias(layer: LayerWeights) -> np.ndarray | None:
            parts = (layer.bq, layer.bk, layer.bv)
            if all(p is None for p in parts):
                return None
            widths = (layer.wq.shape[0], layer.wk.shape[0], layer.wv.shape[0])
            full = [np.zeros(w) if p is None else p for p, w in zip(parts, widths, strict=True)]
            return np.concatenate(full).astype(dtype)

        blocks = tuple(
            _Block(
                attn_norm=layer.attn_norm.astype(dtype),
                w_qkv_t=t(layer.wq, layer.wk, layer.wv),
                b_qkv=bias(layer),
                wo_t=t(layer.wo),
                ffn_norm=layer.ffn_norm.astype(dtype),
                w_gate_up_t=t(layer.w_gate, layer.w_up),
                w_down_t=t(layer.w_down),
            )
            for layer in model.layers
        )
        tok_embd: np.ndarray = np.ascontiguousarray(model.tok_embd, dtype=dtype)
        return cls(
            config=model.config,
            blocks=blocks,
            tok_embd=tok_embd,
            output_norm=model.output_norm.astype(dtype),
            dtype=np.dtype(dtype),
            head=tok_embd if model.output is None else np.ascontiguousarray(model.output, dtype),
        )


def _rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    var = np.mean(np.square(x), axis=-1, keepdims=True)
    return x * (1.0 / np.sqrt(var + eps)).astype(x.dtype) * weight


def llama3_inv_freq(
    inv_freq: np.ndarray, factor: float, low: float, high: float, original_context: float
) -> np.ndarray:
    """Llama-3.1's RoPE frequency scaling (``rope_type: llama3`` in a Hugging Face config).

    Wavelengths below ``original_context / high`` keep their frequency, those above
    ``original_context / low`` are divided by ``factor``, and the band between interpolates
    linearly in ``original_context / wavelength``.
    """
    wavelen = 2 * np.pi / inv_freq
    smooth = (original_context / wavelen - low) / (high - low)
    mid = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = np.where(wavelen > original_context / low, inv_freq / factor, inv_freq)
    medium = (wavelen >= original_context / high) & (wavelen <= original_context / low)
    return np.where(medium, mid, out)


def _rope_tables(config: LlamaConfig, n_tokens: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
    half = config.head_dim // 2
    inv_freq = config.rope_base ** (-np.arange(half, dtype=np.float64) * 2.0 / config.head_dim)
    if config.rope_scaling is not None:
        inv_freq = llama3_inv_freq(inv_freq, *config.rope_scaling)
    angle = np.arange(n_tokens, dtype=np.float64)[:, None] * inv_freq[None, :]  # (T, half)
    return np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate adjacent pairs (2j, 2j+1) of the last axis; x is (B, H, T, head_dim)."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    out = np.empty_like(pairs)
    out[..., 0] = x0 * cos - x1 * sin
    out[..., 1] = x0 * sin + x1 * cos
    return out.reshape(x.shape)


def _attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray | ValueCache,
    config: LlamaConfig,
    acts: ActHooks = _NO_ACTS,
) -> np.ndarray:
    """Causal GQA attention; q (B, H, T, hd), k/v (B, Hkv, T, hd) -> (B, T, H * hd)."""
    b, _, n, hd = q.shape
    rep = config.group_size_gqa
    qg = q.reshape(b, config.n_kv_heads, rep, n, hd)  # query heads 3j..3j+2 share KV head j
    qg = qg * q.dtype.type(1.0 / np.sqrt(hd))
    scores = qg @ k[:, :, None].swapaxes(-1, -2)  # (B, Hkv, rep, T, T)
    scores += np.triu(np.full((n, n), -np.inf, dtype=q.dtype), k=1)  # causal mask
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    scores = _apply(acts.attn_probs, scores)
    if isinstance(v, ValueCache):
        staged = v.staged.astype(q.dtype, copy=False)
        delta = v.complete.astype(q.dtype, copy=False) - staged
        done = np.arange(n)[None, :] < v.complete_len[:, None]  # (T_query, T_key)
        out = scores @ staged[:, :, None] + (scores * done) @ delta[:, :, None]
    else:
        out = scores @ v[:, :, None]  # (B, Hkv, rep, T, hd)
    out = _apply(acts.attn_out, out.reshape(b, config.n_heads, n, hd))
    return out.transpose(0, 2, 1, 3).reshape(b, n, -1)


def forward_hidden(
    net: PreparedModel,
    tokens: np.ndarray,
    kv_hook: KVHook | None = None,
    acts: ActHooks | None = None,
) -> np.ndarray:
    """Final-norm hidden states (B, T, d_model) of a batch of independent windows.

    Args:
        net: prepared weights.
        tokens: int array (B, T) of token ids; each row is a window starting at position 0.
        kv_hook: optional ``(layer, k, v) -> (k, v)`` applied to post-RoPE K and V before
            attention (V may come back as a :class:`~mant.kv_decode.ValueCache`).
        acts: activation quantizers (:class:`ActHooks`); None quantizes none.
    """
    cfg = net.config
    a = _NO_ACTS if acts is None else acts
    b, n = tokens.shape
    hd, h, hkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
    cos, sin = _rope_tables(cfg, n, net.dtype)
    x = net.tok_embd[tokens]  # (B, T, d)
    for i, blk in enumerate(net.blocks):
        normed = _apply(a.linear, _rms_norm(x, blk.attn_norm, cfg.rms_eps))
        qkv = normed @ blk.w_qkv_t  # (B, T, (H + 2 Hkv) hd)
        if blk.b_qkv is not None:
            qkv += blk.b_qkv
        qkv = qkv.reshape(b, n, h + 2 * hkv, hd).transpose(0, 2, 1, 3)  # (B, heads, T, hd)
        q = _apply(a.query, _rope(qkv[:, :h], cos, sin))
        k = _rope(qkv[:, h : h + hkv], cos, sin)
        v_new = np.ascontiguousarray(qkv[:, h + hkv :])
        v: np.ndarray | ValueCache = v_new
        if kv_hook is not None:
            k, v = kv_hook(i, k, v_new)
            k = k.astype(net.dtype, copy=False)
            if not isinstance(v, ValueCache):
                v = v.astype(net.dtype, copy=False)
        x = x + _apply(a.linear, _attention(q, k, v, cfg, a)) @ blk.wo_t
        gate_up = _apply(a.linear, _rms_norm(x, blk.ffn_norm, cfg.rms_eps)) @ blk.w_gate_up_t
        gate, up = gate_up[..., : cfg.d_ffn], gate_up[..., cfg.d_ffn :]
        with np.errstate(over="ignore"):  # exp(-gate) = inf gives SiLU = -0, as it should
            act = gate / (1.0 + np.exp(-gate)) * up  # SiLU(gate) * up
        x = x + _apply(a.linear, act) @ blk.w_down_t
    return _rms_norm(x, net.output_norm, cfg.rms_eps)


def window_nll(
    net: PreparedModel,
    tokens: np.ndarray,
    kv_hook: KVHook | None = None,
    acts: ActHooks | None = None,
) -> tuple[float, int]:
    """Summed negative log-likelihood (nats) of every token but each window's first, and its count.

    Args:
        net: prepared weights.
        tokens: int array (B, T); each row is scored independently (no carried context).
        kv_hook, acts: as :func:`forward_hidden`.

    Returns:
        (total NLL in nats, number of scored tokens = B * (T - 1)).
    """
    hidden = forward_hidden(net, tokens, kv_hook, acts)
    total = 0.0
    for row in range(tokens.shape[0]):  # one window's logits at a time: (T, vocab) float
        logits = hidden[row, :-1] @ net.head.T
        top = logits.max(axis=-1, keepdims=True)
        logits -= top
        lse = np.log(np.exp(logits).sum(axis=-1)) + top[:, 0]
        target = logits[np.arange(logits.shape[0]), tokens[row, 1:]] + top[:, 0]
        total += float(np.sum(lse.astype(np.float64) - target.astype(np.float64)))
    return total, tokens.shape[0] * (tokens.shape[1] - 1)
