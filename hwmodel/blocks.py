"""Workload blocks: the GEMMs of attention, feed-forward and LM head, composed per layer.

Each block takes a :class:`hwmodel.ModelConfig` and the step's token counts and returns GEMMs
with repeat counts (no per-token objects). Conventions (docs/hwmodel.md, "Workload
conventions"):

- decode: ``batch`` new tokens, each attending ``min(seq_len, window)`` cached keys (its own
  K/V included); prefill: ``batch x seq_len`` tokens with causal attention, query p (1-based)
  seeing min(p, W) keys;
- the causal triangle of n queries is one GEMM whose MACs equal the triangle exactly: queries p
  and n + 1 - p paired (n/2 rows of n + 1 keys) for even n, or n rows of (n + 1)/2 keys for odd n;
- MoE: the expected number of distinct routed experts a layer touches for T tokens is
  E (1 - (1 - k/E)^T) under uniform routing (:func:`expected_experts`); each touched expert gets
  T k / E_touched tokens (rounded to two integer groups that keep the MACs exact).
"""

from __future__ import annotations

from typing import Any

from hwmodel.gemm import Gemm, Operand
from hwmodel.model_config import FfnKind, MlaAttention, ModelConfig

__all__ = [
    "attention_gemms",
    "causal_parts",
    "expected_experts",
    "ffn_gemms",
    "lm_head_gemm",
]


def expected_experts(num_experts: int, top_k: int, tokens: int, skew: float = 0.0) -> float:
    """Expected distinct experts one MoE layer touches for ``tokens`` tokens.

    Uniform routing (named assumption, ``skew = 0``): each token picks ``top_k`` of
    ``num_experts`` experts, so an expert is missed by one token with probability 1 - k/E and
    E (1 - (1 - k/E)^T) experts are touched. With a routing skew s > 0, expert i (1-based) is
    picked by a token with probability q_i = min(1, k p_i), p_i ~ i^-s (Zipf popularity), and
    sum_i 1 - (1 - q_i)^T experts are touched.

    Example:
        >>> expected_experts(8, 2, 1), round(expected_experts(8, 2, 8), 4)
        (2.0, 7.1991)
    """
    e, k = num_experts, top_k
    if skew == 0.0:
        return e * (1.0 - (1.0 - k / e) ** tokens)
    weights = [(i + 1) ** -skew for i in range(e)]
    total = sum(weights)
    return sum(1.0 - (1.0 - min(1.0, k * w / total)) ** tokens for w in weights)


def causal_parts(queries: int, window: int | None, past: int = 0) -> list[tuple[int, int]]:
    """(query rows, keys) pairs whose products sum to the causal attention of ``queries`` tokens.

    Query j (1-based) of a chunk that follows ``past`` cached tokens sees min(past + j, W) keys:
    the queries still inside the window see the ``past`` keys (a rectangle) plus a triangle over
    themselves (folded into one rectangle of exactly the same area: queries j and a + 1 - j
    paired for an even count a, or a rows of (a + 1)/2 keys for an odd one); the rest see W keys.

    Example:
        >>> causal_parts(4, None), causal_parts(5, None), causal_parts(6, 2)
        ([(2, 5)], [(5, 3)], [(1, 3), (4, 2)])
        >>> causal_parts(2, None, past=10)
        [(1, 3), (2, 10)]
    """
    inside = queries if window is None else max(0, min(queries, window - past))
    parts = []
    if inside:
        parts.append((inside // 2, inside + 1) if inside % 2 == 0 else (inside, (inside + 1) // 2))
        if past:
            parts.append((inside, past))
    if queries > inside:
        parts.append((queries - inside, window or 0))
    return parts


def _attention_parts(
    cfg: ModelConfig, phase: str, seq_len: int, past: int
) -> list[tuple[int, int]]:
    if phase == "decode":
        return [(1, cfg.cached_tokens(seq_len))]
    return causal_parts(seq_len, cfg.sliding_window, past)


def _kv_gemms(
    parts: list[tuple[int, int]], group: int, qk_k: int, pv_n: int, count: int
) -> list[Gemm]:
    qk = [
        Gemm(m=q * group, n=keys, k=qk_k, name="qk", operand=Operand.KV, count=count)
        for q, keys in parts
    ]
    pv = [
        Gemm(m=q * group, n=pv_n, k=keys, name="pv", operand=Operand.KV, count=count)
        for q, keys in parts
    ]
    return qk + pv


def attention_gemms(
    cfg: ModelConfig, phase: str, seq_len: int, batch: int, past: int = 0
) -> list[Gemm]:
    """Projections, QK^T, PV and output projection of every layer (MHA/GQA/MQA or MLA).

    GQA/MQA: the g = heads / kv_heads query heads sharing a KV head are stacked into M. MLA
    ``naive``: per-head K (nope + rope) and V from ``kv_b_proj``; ``absorbed``: QK^T against the
    latent plus RoPE key and PV against the latent, all heads stacked into M, with
    ``q_absorb`` (W_UK) and ``v_absorb`` (W_UV) per head. ``past``: cached tokens before a
    prefill chunk (chunked prefill, speculative verification).
    """
    layers, h = cfg.layers, cfg.hidden
    tokens = batch if phase == "decode" else batch * seq_len
    parts = _attention_parts(cfg, phase, seq_len, past)
    mla = cfg.mla
    if mla is None:
        hd = cfg.head_dim
        return [
            Gemm(m=tokens, n=cfg.heads * hd, k=h, name="q_proj", count=layers),
            Gemm(m=tokens, n=cfg.kv_heads * hd, k=h, name="k_proj", count=layers),
            Gemm(m=tokens, n=cfg.kv_heads * hd, k=h, name="v_proj", count=layers),
            *_kv_gemms(parts, cfg.heads // cfg.kv_heads, hd, hd, layers * batch * cfg.kv_heads),
            Gemm(m=tokens, n=h, k=cfg.heads * hd, name="o_proj", count=layers),
        ]
    heads = cfg.heads
    if mla.q_lora_rank:
        q = [
            Gemm(m=tokens, n=mla.q_lora_rank, k=h, name="q_a_proj", count=layers),
            Gemm(
                m=tokens,
                n=heads * mla.qk_head_dim,
                k=mla.q_lora_rank,
                name="q_b_proj",
                count=layers,
            ),
        ]
    else:
        q = [Gemm(m=tokens, n=heads * mla.qk_head_dim, k=h, name="q_proj", count=layers)]
    gemms = [*q, Gemm(m=tokens, n=mla.cache_width, k=h, name="kv_a_proj", count=layers)]
    if mla.attention == MlaAttention.NAIVE:
        gemms += [
            Gemm(
                m=tokens,
                n=heads * (mla.qk_nope_head_dim + mla.v_head_dim),
                k=mla.kv_lora_rank,
                name="kv_b_proj",
                count=layers,
            ),
            *_kv_gemms(parts, 1, mla.qk_head_dim, mla.v_head_dim, layers * batch * heads),
        ]
    else:
        per_head = layers * heads
        gemms += [
            Gemm(
                m=tokens,
                n=mla.kv_lora_rank,
                k=mla.qk_nope_head_dim,
                name="q_absorb",
                count=per_head,
            ),
            *_kv_gemms(parts, heads, mla.cache_width, mla.kv_lora_rank, layers * batch),
            Gemm(m=tokens, n=mla.v_head_dim, k=mla.kv_lora_rank, name="v_absorb", count=per_head),
        ]
    gemms.append(Gemm(m=tokens, n=h, k=heads * mla.v_head_dim, name="o_proj", count=layers))
    return gemms


def _gated(tokens: int, h: int, f: int, prefix: str, count: int, **extra: Any) -> list[Gemm]:
    return [
        Gemm(m=tokens, n=f, k=h, name=f"{prefix}gate_proj", count=count, **extra),
        Gemm(m=tokens, n=f, k=h, name=f"{prefix}up_proj", count=count, **extra),
        Gemm(m=tokens, n=h, k=f, name=f"{prefix}down_proj", count=count, **extra),
    ]


def ffn_gemms(cfg: ModelConfig, tokens: int) -> list[Gemm]:
    """Dense FFN layers, then the MoE layers (router, routed experts, shared experts).

    Routed experts: E_t = :func:`expected_experts` distinct experts per layer share the
    T k token-expert assignments; the GEMMs run on c = round(E_t) experts (two groups of
    floor and ceil of T k / c tokens, so the MACs are exactly T k per expert matrix), and
    ``Gemm.reads`` carries E_t so weight traffic counts the expected experts touched.
    """
    h = cfg.hidden
    gemms: list[Gemm] = []
    if cfg.dense_layers:
        if cfg.ffn_kind == FfnKind.GATED:
            gemms += _gated(tokens, h, cfg.ffn, "", cfg.dense_layers)
        else:
            gemms += [
                Gemm(m=tokens, n=cfg.ffn, k=h, name="fc1", count=cfg.dense_layers),
                Gemm(m=tokens, n=h, k=cfg.ffn, name="fc2", count=cfg.dense_layers),
            ]
    moe, lm = cfg.moe, cfg.moe_layers
    if moe is None or lm == 0:
        return gemms
    gemms.append(Gemm(m=tokens, n=moe.num_experts, k=h, name="router", count=lm))
    touched = expected_experts(moe.num_experts, moe.top_k, tokens, moe.routing_skew)
    assignments = tokens * moe.top_k
    c = min(moe.num_experts, assignments, max(1, round(touched)))
    base, extra = divmod(assignments, c)
    for n_experts, m in ((extra, base + 1), (c - extra, base)):
        if n_experts:
            reads = lm * touched * n_experts / c
            gemms += _gated(m, h, moe.expert_ffn, "expert_", lm * n_experts, reads=reads)
    if moe.shared_ffn:
        gemms += _gated(tokens, h, moe.shared_ffn, "shared_", lm)
    if moe.shared_gate:
        gemms.append(Gemm(m=tokens, n=1, k=h, name="shared_expert_gate", count=lm))
    return gemms


def lm_head_gemm(cfg: ModelConfig, batch: int) -> Gemm:
    """The vocabulary projection on the last position of each sequence (both phases)."""
    return Gemm(m=batch, n=cfg.vocab, k=cfg.hidden, name="lm_head")
