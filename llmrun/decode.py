"""Token-by-token decoding with the authors' KV cache: the slow reference of the one-pass forward.

:func:`decode_hidden` runs one window the way an inference engine does: a prefill of the first P
tokens in one pass (their V cache: complete groups of g tokens per channel MANT4, the last
``P mod g`` tokens in full precision, the INT8 scale per channel fixed as absmax / 127 over the P
tokens), then one token at a time: its K quantized per token, its V staged in INT8 with the
prefill scale, and, when its group of g completes, the group's g stored values made MANT4 (the
authors' ``quantize_value``, ``llama_mant.py`` commit 75fb156). Activation quantizers act on each
step's tensors as in :func:`llmrun.forward.forward_hidden`.

:func:`llmrun.forward.forward_hidden` with :func:`llmrun.quantizers.kv_hook_for_config` computes
the same hidden states for the whole window at once; this loop exists to check that (it costs a
Python step per token and layer).

Example (``net`` a :class:`llmrun.forward.PreparedModel` of the real model, ``tokens`` its
text's ids; needs the model assets, ``tests/llmrun_tests/test_decode.py`` runs it):
    >>> h = decode_hidden(  # doctest: +SKIP
    ...     net, tokens[:150], KVQuantConfig(group_size=16), prefill_tokens=40)
"""

from __future__ import annotations

import numpy as np

from llmrun.forward import (
    ActHooks,
    PreparedModel,
    _apply,
    _rms_norm,
    _rope,
    _rope_tables,
    forward_hidden,
)
from mant.kv import Grouping, KVQuantConfig, quantize_grouped
from mant.kv_decode import stage_int

__all__ = ["decode_hidden"]


def decode_hidden(
    net: PreparedModel,
    tokens: np.ndarray,
    cfg: KVQuantConfig,
    *,
    prefill_tokens: int,
    acts: ActHooks | None = None,
) -> np.ndarray:
    """Final-norm hidden states (T, d_model) of one window decoded token by token.

    Args:
        net: prepared weights (float64 for tight comparisons).
        tokens: (T,) token ids.
        cfg: KV configuration; V must be grouped per channel, K per token.
        prefill_tokens: P, the prompt processed in one pass (1 <= P).
        acts: activation quantizers.
    """
    mc = net.config
    a = ActHooks() if acts is None else acts
    n = int(tokens.shape[0])
    p = min(prefill_tokens, n)
    g = cfg.group_size
    ks: list[np.ndarray] = []
    vs: list[np.ndarray] = []
    scales: list[np.ndarray] = []

    def prefill_hook(layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k_hat = quantize_grouped(k, Grouping.TOKEN, cfg)
        v_hat = quantize_grouped(v, Grouping.CHANNEL, cfg)  # complete groups MANT4, tail fp
        qmax = 2 ** ((cfg.v_staging_bits or 16) - 1) - 1
        scales.append(np.maximum(np.abs(v[0]).max(axis=-2, keepdims=True), 1e-5) / qmax)
        ks.append(k_hat[0])
        vs.append(v_hat[0])
        return k_hat, v_hat

    prefill = forward_hidden(net, tokens[None, :p], prefill_hook, a)[0]
    out = [prefill]
    cos_all, sin_all = _rope_tables(mc, n, net.dtype)
    hd, h, hkv, rep = mc.head_dim, mc.n_heads, mc.n_kv_heads, mc.group_size_gqa
    for t in range(p, n):
        cos, sin = cos_all[t : t + 1], sin_all[t : t + 1]
        x = net.tok_embd[tokens[t : t + 1]][None]  # (1, 1, d)
        for i, blk in enumerate(net.blocks):
            normed = _apply(a.linear, _rms_norm(x, blk.attn_norm, mc.rms_eps))
            qkv = normed @ blk.w_qkv_t
            if blk.b_qkv is not None:
                qkv += blk.b_qkv
            qkv = qkv.reshape(1, 1, h + 2 * hkv, hd).transpose(0, 2, 1, 3)
            q = _apply(a.query, _rope(qkv[:, :h], cos, sin))[0]  # (H, 1, hd)
            k = quantize_grouped(_rope(qkv[:, h : h + hkv], cos, sin), Grouping.TOKEN, cfg)[0]
            v = qkv[0, h + hkv :]  # (Hkv, 1, hd)
            if cfg.v_staging_bits is not None:
                v = stage_int(v, scales[i], cfg.v_staging_bits)
            ks[i] = np.concatenate([ks[i], k], axis=-2)
            vs[i] = np.concatenate([vs[i], v], axis=-2)
            if (t + 1) % g == 0:  # the group of g is complete: MANT4 per channel
                done = quantize_grouped(vs[i][:, t + 1 - g : t + 1], Grouping.CHANNEL, cfg)
                vs[i][:, t + 1 - g : t + 1] = done
            qg = q.reshape(hkv, rep, 1, hd) * q.dtype.type(1.0 / np.sqrt(hd))
            scores = qg @ ks[i][:, None].swapaxes(-1, -2)  # (Hkv, rep, 1, t + 1)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs = _apply(a.attn_probs, scores / scores.sum(axis=-1, keepdims=True))
            attn = _apply(a.attn_out, (probs @ vs[i][:, None]).reshape(1, h, 1, hd))
            attn = attn.transpose(0, 2, 1, 3).reshape(1, 1, -1)
            x = x + _apply(a.linear, attn) @ blk.wo_t
            gate_up = _apply(a.linear, _rms_norm(x, blk.ffn_norm, mc.rms_eps)) @ blk.w_gate_up_t
            gate, up = gate_up[..., : mc.d_ffn], gate_up[..., mc.d_ffn :]
            with np.errstate(over="ignore"):
                act = gate / (1.0 + np.exp(-gate)) * up
            x = x + _apply(a.linear, act) @ blk.w_down_t
        out.append(_rms_norm(x, net.output_norm, mc.rms_eps)[0])
    return np.concatenate(out, axis=0)
