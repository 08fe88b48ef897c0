"""The llama forward pass of :mod:`llmrun.forward` in torch, on CPU or CUDA.

The torch backend runs exactly the numpy forward's steps (fused q/k/v projection with Qwen2's
biases, RoPE on adjacent pairs, GQA causal softmax attention, SwiGLU, untied or tied head) on the
prepared weights of :class:`llmrun.forward.PreparedModel`, in their dtype (float32 or float64),
so both backends see the same weights, already quantized by mant when the recipe quantizes them.

Activation and KV quantization go through the recipe's numpy quantizers unchanged
(:mod:`llmrun.quantizers`, :mod:`mant.act_quant`, :mod:`mant.kv`): each quantized tensor is
copied to the host, quantized there and copied back. That is the simplest exact route (one
quantizer implementation, no torch port to keep in step), and its cost is the copies plus the
numpy quantizers' own time: an unquantized or weight-only run keeps everything on the device;
a W4A8 run copies every linear input (and Q, the softmax output, the attention output, K and V
when the recipe quantizes them) once per window and layer.

Example (needs the real model and torch; ``tests/llmrun_tests/test_hf_checkpoint.py`` runs it):
    >>> tnet = torch_model(prepared_model("smollm2-135m")[0], "cpu")  # doctest: +SKIP
    >>> nll, n = torch_window_nll(tnet, tokens.reshape(1, 512))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmrun.forward import ActHooks, KVHook, PreparedModel, _rope_tables
from llmrun.model import LlamaConfig
from mant.errors import InputError
from mant.kv_decode import ValueCache

__all__ = ["TorchModel", "import_torch", "set_threads", "torch_model", "torch_window_nll"]


def import_torch() -> Any:
    """``torch``, or an :class:`InputError` with the install hint."""
    try:
        import torch
    except ImportError:
        raise InputError.single(
            "backend", "torch needs the torch extra: pip install -e '.[torch]'", "torch"
        ) from None
    return torch


@dataclass(frozen=True, slots=True, kw_only=True)
class _TorchBlock:
    attn_norm: Any
    w_qkv_t: Any
    b_qkv: Any  # or None
    wo_t: Any
    ffn_norm: Any
    w_gate_up_t: Any
    w_down_t: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class TorchModel:
    """A :class:`PreparedModel`'s weights as torch tensors on one device."""

    config: LlamaConfig
    blocks: tuple[_TorchBlock, ...]
    tok_embd: Any
    head: Any
    output_norm: Any
    device: Any
    np_dtype: np.dtype  # float32 or float64, as the prepared weights


_CACHE: dict[str, tuple[PreparedModel, TorchModel]] = {}


def torch_model(net: PreparedModel, device: str | None = None) -> TorchModel:
    """``net``'s weights on ``device`` (None: ``cuda`` when available, else ``cpu``).

    The last one built is kept, so that windows of one run copy the weights once.

    Raises:
        InputError: torch is not installed, or the device is not available.
    """
    torch = import_torch()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        msg = f"must be an available torch device ({exc})"
        raise InputError.single("device", msg, device) from None
    key = str(dev)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is net:
        return cached[1]
    _CACHE.clear()

    def t(a: np.ndarray | None) -> Any:
        return None if a is None else torch.from_numpy(np.array(a, copy=True, order="C")).to(dev)

    blocks = tuple(
        _TorchBlock(
            attn_norm=t(b.attn_norm),
            w_qkv_t=t(b.w_qkv_t),
            b_qkv=t(b.b_qkv),
            wo_t=t(b.wo_t),
            ffn_norm=t(b.ffn_norm),
            w_gate_up_t=t(b.w_gate_up_t),
            w_down_t=t(b.w_down_t),
        )
        for b in net.blocks
    )
    tok_embd = t(net.tok_embd)
    head = tok_embd if net.head is net.tok_embd else t(net.head)
    model = TorchModel(
        config=net.config,
        blocks=blocks,
        tok_embd=tok_embd,
        head=head,
        output_norm=t(net.output_norm),
        device=dev,
        np_dtype=net.dtype,
    )
    _CACHE[key] = (net, model)
    return model


def _host(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy()


def _apply(fn: Any, x: Any) -> Any:
    """A numpy activation quantizer on a torch tensor (host round trip)."""
    if fn is None:
        return x
    import torch

    host = _host(x)
    out = np.asarray(fn(host), dtype=host.dtype)
    return torch.from_numpy(np.ascontiguousarray(out)).to(x.device)


def _rms_norm(x: Any, weight: Any, eps: float) -> Any:
    import torch

    var = torch.mean(x * x, dim=-1, keepdim=True)
    return x * (1.0 / torch.sqrt(var + eps)) * weight


def _rope(x: Any, cos: Any, sin: Any) -> Any:
    import torch

    pairs = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).reshape(x.shape)


def _attention(q: Any, k: Any, v: Any, cfg: LlamaConfig, acts: ActHooks) -> Any:
    import torch

    b, _, n, hd = q.shape
    qg = q.reshape(b, cfg.n_kv_heads, cfg.group_size_gqa, n, hd) * (1.0 / float(np.sqrt(hd)))
    scores = qg @ k[:, :, None].transpose(-1, -2)  # (B, Hkv, rep, T, T)
    mask = torch.triu(torch.full((n, n), float("-inf"), dtype=q.dtype, device=q.device), 1)
    probs = torch.softmax(scores + mask, dim=-1)
    probs = _apply(acts.attn_probs, probs)
    if isinstance(v, ValueCache):
        dev, dt = q.device, _host(q[:0]).dtype
        staged = torch.from_numpy(np.asarray(v.staged, dtype=dt)).to(dev)
        complete = torch.from_numpy(np.asarray(v.complete, dtype=dt)).to(dev)
        done_np = np.arange(n)[None, :] < np.asarray(v.complete_len)[:, None]
        done = torch.from_numpy(done_np.astype(dt)).to(dev)
        delta = complete - staged
        out = probs @ staged[:, :, None] + (probs * done) @ delta[:, :, None]
    else:
        out = probs @ v[:, :, None]
    out = _apply(acts.attn_out, out.reshape(b, cfg.n_heads, n, hd))
    return out.permute(0, 2, 1, 3).reshape(b, n, -1)


def _forward_hidden(
    net: TorchModel, tokens: np.ndarray, kv_hook: KVHook | None, acts: ActHooks | None
) -> Any:
    import torch

    cfg = net.config
    a = ActHooks() if acts is None else acts
    dev = net.device
    b, n = tokens.shape
    hd, h, hkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
    dt = net.np_dtype
    cos_np, sin_np = _rope_tables(cfg, n, dt)
    cos, sin = torch.from_numpy(cos_np).to(dev), torch.from_numpy(sin_np).to(dev)
    x = net.tok_embd[torch.from_numpy(np.asarray(tokens, dtype=np.int64)).to(dev)]
    for i, blk in enumerate(net.blocks):
        normed = _apply(a.linear, _rms_norm(x, blk.attn_norm, cfg.rms_eps))
        qkv = normed @ blk.w_qkv_t
        if blk.b_qkv is not None:
            qkv = qkv + blk.b_qkv
        qkv = qkv.reshape(b, n, h + 2 * hkv, hd).permute(0, 2, 1, 3)
        q = _apply(a.query, _rope(qkv[:, :h], cos, sin))
        k = _rope(qkv[:, h : h + hkv], cos, sin)
        v: Any = qkv[:, h + hkv :].contiguous()
        if kv_hook is not None:
            k_np, v_np = kv_hook(i, np.ascontiguousarray(_host(k)), np.ascontiguousarray(_host(v)))
            k = torch.from_numpy(np.asarray(k_np, dtype=dt)).to(dev)
            if not isinstance(v_np, ValueCache):
                v = torch.from_numpy(np.asarray(v_np, dtype=dt)).to(dev)
            else:
                v = v_np
        x = x + _apply(a.linear, _attention(q, k, v, cfg, a)) @ blk.wo_t
        gate_up = _apply(a.linear, _rms_norm(x, blk.ffn_norm, cfg.rms_eps)) @ blk.w_gate_up_t
        gate, up = gate_up[..., : cfg.d_ffn], gate_up[..., cfg.d_ffn :]
        act = torch.nn.functional.silu(gate) * up
        x = x + _apply(a.linear, act) @ blk.w_down_t
    return _rms_norm(x, net.output_norm, cfg.rms_eps)


def torch_window_nll(
    net: TorchModel,
    tokens: np.ndarray,
    kv_hook: KVHook | None = None,
    acts: ActHooks | None = None,
) -> tuple[float, int]:
    """As :func:`llmrun.forward.window_nll` on the torch backend: summed NLL (nats) of every
    token but each window's first, and the count."""
    import torch

    with torch.inference_mode():
        hidden = _forward_hidden(net, tokens, kv_hook, acts)
        total = 0.0
        for row in range(tokens.shape[0]):
            logits = hidden[row, :-1] @ net.head.T  # (T - 1, vocab)
            lse = torch.logsumexp(logits, dim=-1)
            target_ids = torch.from_numpy(np.asarray(tokens[row, 1:], dtype=np.int64))
            target = logits.gather(1, target_ids.to(net.device)[:, None])[:, 0]
            total += float(torch.sum(lse.double() - target.double()).item())
    return total, tokens.shape[0] * (tokens.shape[1] - 1)


def set_threads(threads: int) -> Callable[[], None]:
    """Set torch's intra-op CPU threads (the BLAS limit of the numpy backend does not reach
    torch); returns a function that restores the previous count."""
    torch = import_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    return lambda: torch.set_num_threads(before)
