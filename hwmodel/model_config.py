"""Model shapes: a decoder-only transformer with optional MoE feed-forward and MLA attention.

A :class:`ModelConfig` is what a model preset (``hwmodel/data/models/*.yaml``), a model YAML, a
Hugging Face ``config.json`` or a GGUF header becomes (parsers in :mod:`dse.study.model_source`).
:func:`model_from_dict` validates the YAML schema once; core code sees only the dataclasses.

Parameter counts (:attr:`ModelConfig.params_total`, :attr:`ModelConfig.params_active`) count
every weight matrix, bias and norm vector; ``params_active`` (per token) counts the attention,
the dense FFN layers, the router, the ``top_k`` routed and all shared experts of each MoE layer,
and both embedding tables (input embedding and LM head, even when tied).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mant.errors import IssueCollector

__all__ = [
    "FfnKind",
    "MlaAttention",
    "MlaConfig",
    "ModelConfig",
    "MoeConfig",
    "model_from_dict",
]


class FfnKind(StrEnum):
    """Feed-forward block: SwiGLU (gate, up, down) or plain (fc1, fc2)."""

    GATED = "gated"
    PLAIN = "plain"


class MlaAttention(StrEnum):
    """How MLA attention is computed (docs/hwmodel.md, "Workload conventions").

    ``naive``: DeepSeek's reference (Hugging Face) form: ``kv_b_proj`` up-projects the step's
    latents into per-head K (nope + rope) and V, and QK^T / PV run per head (MHA).
    ``absorbed``: ``W_UK`` is absorbed into the query and ``W_UV`` applied after PV, so QK^T and PV
    run against the latent cache itself (all heads share it, MQA-like).
    """

    NAIVE = "naive"
    ABSORBED = "absorbed"


@dataclass(frozen=True, slots=True, kw_only=True)
class MoeConfig:
    """A mixture-of-experts feed-forward (gated experts).

    Attributes:
        num_experts: Routed experts per MoE layer (E).
        top_k: Routed experts per token (k).
        expert_ffn: Intermediate size of one routed expert.
        shared_experts: Always-active shared experts (DeepSeek, Qwen2-MoE); 0 if none.
        shared_ffn: Total intermediate size of the shared-expert block (0 if none).
        shared_gate: A sigmoid gate (hidden -> 1) scales the shared block (Qwen2-MoE).
        first_dense_layers: Leading layers with a dense FFN of width ``ModelConfig.ffn``
            (DeepSeek's ``first_k_dense_replace``).
        routing_skew: Zipf exponent s of expert popularity (p_i ~ 1 / i^s); 0 = uniform routing.
    """

    num_experts: int
    top_k: int
    expert_ffn: int
    shared_experts: int = 0
    shared_ffn: int = 0
    shared_gate: bool = False
    first_dense_layers: int = 0
    routing_skew: float = 0.0

    def expert_params(self, hidden: int) -> int:
        """Weights of one routed expert (gate, up, down)."""
        return 3 * hidden * self.expert_ffn


@dataclass(frozen=True, slots=True, kw_only=True)
class MlaConfig:
    """Multi-head latent attention (DeepSeek-V2/V3).

    Attributes:
        q_lora_rank: Rank of the query down-projection; 0 = a direct ``q_proj``.
        kv_lora_rank: Width of the cached KV latent.
        qk_nope_head_dim: Per-head query/key width without RoPE.
        qk_rope_head_dim: Width of the RoPE part (the RoPE key is shared by all heads and cached).
        v_head_dim: Per-head value width.
        attention: ``naive`` or ``absorbed`` (:class:`MlaAttention`).
    """

    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    attention: MlaAttention = MlaAttention.NAIVE

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def cache_width(self) -> int:
        """Cached elements per token and layer: the latent plus the RoPE key."""
        return self.kv_lora_rank + self.qk_rope_head_dim


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """Shape of a decoder-only transformer (from its published config).

    Attributes:
        name: Preset name.
        source: Where the numbers come from.
        layers, hidden, heads, kv_heads, head_dim, ffn, vocab: The usual hyper-parameters
            (``ffn``: the dense FFN width; with MoE, that of the ``first_dense_layers``).
        ffn_kind: ``"gated"`` (SwiGLU: gate, up, down) or ``"plain"`` (fc1, fc2).
        sliding_window: Attention window W in tokens (query p sees min(p, W) keys); None = full.
        tied_embeddings: The LM head shares the input embedding's weights.
        attention_bias: q/k/v projections carry biases (Qwen2); parameters only.
        moe: The mixture-of-experts FFN, or None (dense).
        mla: Multi-head latent attention, or None (MHA / GQA / MQA from ``kv_heads``).
        unmodelled: Messages naming keys of the source file that change the compute but are
            not modelled (shown as warnings and in the report's context).
    """

    name: str
    source: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    ffn_kind: FfnKind = FfnKind.GATED
    sliding_window: int | None = None
    tied_embeddings: bool = False
    attention_bias: bool = False
    moe: MoeConfig | None = None
    mla: MlaConfig | None = None
    unmodelled: tuple[str, ...] = ()

    @property
    def moe_layers(self) -> int:
        """Layers with an MoE feed-forward."""
        return 0 if self.moe is None else self.layers - self.moe.first_dense_layers

    @property
    def dense_layers(self) -> int:
        """Layers with a dense feed-forward of width ``ffn``."""
        return self.layers - self.moe_layers

    @property
    def kv_elements_per_token(self) -> int:
        """KV-cache elements one token stores over all layers (MLA: latent + RoPE key)."""
        if self.mla is not None:
            return self.layers * self.mla.cache_width
        return self.layers * 2 * self.kv_heads * self.head_dim

    def cached_tokens(self, context: int) -> int:
        """Tokens of a context of that length the cache holds: min(context, window)."""
        w = self.sliding_window
        return context if w is None else min(context, w)

    def _attention_params(self) -> int:
        h = self.hidden
        if self.mla is not None:
            m = self.mla
            q = (
                h * self.heads * m.qk_head_dim
                if m.q_lora_rank == 0
                else h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * self.heads * m.qk_head_dim
            )
            kv = h * m.cache_width + m.kv_lora_rank
            kv += m.kv_lora_rank * self.heads * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + self.heads * m.v_head_dim * h
        qkv = h * (self.heads + 2 * self.kv_heads) * self.head_dim
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.attention_bias else 0
        return qkv + bias + self.heads * self.head_dim * h

    def _dense_ffn_params(self) -> int:
        return (3 if self.ffn_kind == FfnKind.GATED else 2) * self.hidden * self.ffn

    def _moe_params(self, active: bool) -> int:
        moe = self.moe
        if moe is None:
            return 0
        h = self.hidden
        experts = moe.top_k if active else moe.num_experts
        shared = 3 * h * moe.shared_ffn + (h if moe.shared_gate else 0)
        return h * moe.num_experts + experts * moe.expert_params(h) + shared

    def _params(self, active: bool) -> int:
        h = self.hidden
        per_layer = self._attention_params() + 2 * h
        body = self.layers * per_layer + h  # + the final norm
        body += self.dense_layers * self._dense_ffn_params()
        body += self.moe_layers * self._moe_params(active)
        tables = 2 if active or not self.tied_embeddings else 1
        return body + tables * self.vocab * h

    @property
    def params_total(self) -> int:
        """Every parameter (a tied LM head counted once)."""
        return self._params(active=False)

    @property
    def params_active(self) -> int:
        """Parameters one token uses: ``top_k`` routed experts, both embedding tables."""
        return self._params(active=True)


_INT_KEYS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
# Bounds that no real model nears, so an absurd file is an error, not a 10^24-cycle answer:
# counts up to 65536, dimensions up to 2^24 (dse.study.spec_checks.MAX_GEMM_DIM).
_MAX = {"layers": 1 << 16, "heads": 1 << 16, "kv_heads": 1 << 16}
_MAX_DIM = 1 << 24
MODEL_KEYS = (
    "name",
    "source",
    *_INT_KEYS,
    "ffn_kind",
    "sliding_window",
    "tied_embeddings",
    "attention_bias",
    "moe",
    "mla",
)
"""Keys of the model YAML schema (docs/inputs.md)."""
_MOE_REQUIRED = ("num_experts", "top_k", "expert_ffn")
_MOE_OPTIONAL = (
    "shared_experts",
    "shared_ffn",
    "shared_gate",
    "first_dense_layers",
    "routing_skew",
)
_MLA_REQUIRED = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
_MLA_OPTIONAL = ("q_lora_rank", "attention")


def _int(
    c: IssueCollector,
    data: dict,
    key: str,
    path: str,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    v = data.get(key)
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= minimum
    if maximum is None:
        c.check(ok, f"{path}{key}", f"must be an int >= {minimum}", v)
    else:
        ok = ok and v <= maximum  # type: ignore[operator]
        c.check(ok, f"{path}{key}", f"must be an int in {minimum}..{maximum}", v)
    return int(v) if ok else minimum  # type: ignore[arg-type]


def _bool(c: IssueCollector, data: dict, key: str, path: str) -> bool:
    v = data.get(key, False)
    c.check(isinstance(v, bool), f"{path}{key}", "must be true or false", v)
    return bool(v)


def _moe(c: IssueCollector, data: Any, path: str, layers: int) -> MoeConfig | None:
    if data is None:
        return None
    if not c.check_keys(data, path.rstrip(". :"), allowed=_MOE_OPTIONAL, required=_MOE_REQUIRED):
        return None
    if any(k not in data for k in _MOE_REQUIRED):
        return None
    e = _int(c, data, "num_experts", path)
    k = _int(c, data, "top_k", path)
    c.check(k <= e, f"{path}top_k", f"must be <= num_experts ({e})", k)
    f = _int(c, data, "expert_ffn", path)
    shared = _int(c, {"shared_experts": 0, **data}, "shared_experts", path, 0)
    shared_ffn = _int(c, {"shared_ffn": shared * f, **data}, "shared_ffn", path, 0)
    dense = _int(c, {"first_dense_layers": 0, **data}, "first_dense_layers", path, 0)
    c.check(dense < layers, f"{path}first_dense_layers", f"must be < layers ({layers})", dense)
    skew = data.get("routing_skew", 0.0)
    ok = isinstance(skew, int | float) and not isinstance(skew, bool) and 0 <= skew < 100
    c.check(ok, f"{path}routing_skew", "must be a number in [0, 100)", skew)
    return MoeConfig(
        num_experts=e,
        top_k=k,
        expert_ffn=f,
        shared_experts=shared,
        shared_ffn=shared_ffn,
        shared_gate=_bool(c, data, "shared_gate", path),
        first_dense_layers=dense,
        routing_skew=float(skew) if ok else 0.0,
    )


def _mla(c: IssueCollector, data: Any, path: str) -> MlaConfig | None:
    if data is None:
        return None
    if not c.check_keys(data, path.rstrip(". :"), allowed=_MLA_OPTIONAL, required=_MLA_REQUIRED):
        return None
    if any(k not in data for k in _MLA_REQUIRED):
        return None
    attention = data.get("attention", "naive")
    ok = attention in tuple(MlaAttention)
    c.check(ok, f"{path}attention", "must be naive or absorbed", attention)
    return MlaConfig(
        q_lora_rank=_int(c, {"q_lora_rank": 0, **data}, "q_lora_rank", path, 0),
        kv_lora_rank=_int(c, data, "kv_lora_rank", path),
        qk_nope_head_dim=_int(c, data, "qk_nope_head_dim", path),
        qk_rope_head_dim=_int(c, data, "qk_rope_head_dim", path),
        v_head_dim=_int(c, data, "v_head_dim", path),
        attention=MlaAttention(attention) if ok else MlaAttention.NAIVE,
    )


def model_from_dict(
    data: Any, where: str, *, sep: str = ".", unmodelled: tuple[str, ...] = ()
) -> ModelConfig:
    """Validate a model mapping (the YAML schema, docs/inputs.md) into a :class:`ModelConfig`.

    Args:
        data: The mapping.
        where: Path prefix of the issues (a file or ``model.<name>``).
        sep: Separator between ``where`` and a key (``"."`` or ``": "``).
        unmodelled: Messages about keys of the source that are not modelled.

    Raises:
        InputError: one issue per unknown, missing or invalid field.

    Example:
        >>> cfg = model_from_dict({"layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2,
        ...     "head_dim": 16, "ffn": 128, "vocab": 100, "moe": {"num_experts": 8,
        ...     "top_k": 2, "expert_ffn": 32}}, "toy")
        >>> cfg.moe.num_experts, cfg.params_active < cfg.params_total
        (8, True)
    """
    c = IssueCollector()
    c.check_keys(data, where, allowed=MODEL_KEYS, required=_INT_KEYS)
    c.raise_if_any()
    p = f"{where}{sep}"
    ints = {k: _int(c, data, k, p, maximum=_MAX.get(k, _MAX_DIM)) for k in _INT_KEYS}
    kind = data.get("ffn_kind", "gated")
    c.check(kind in tuple(FfnKind), f"{p}ffn_kind", "must be gated or plain", kind)
    window = data.get("sliding_window")
    if window is not None:
        window = _int(c, data, "sliding_window", p)
    moe = _moe(c, data.get("moe"), f"{p}moe.", ints["layers"])
    mla = _mla(c, data.get("mla"), f"{p}mla.")
    tied = _bool(c, data, "tied_embeddings", p)
    bias = _bool(c, data, "attention_bias", p)
    c.raise_if_any()
    c.check(
        ints["heads"] % ints["kv_heads"] == 0,
        f"{p}kv_heads",
        f"must divide heads ({ints['heads']}) for grouped-query attention",
        ints["kv_heads"],
    )
    if mla is not None:
        c.check(
            ints["kv_heads"] == ints["heads"],
            f"{p}kv_heads",
            f"must equal heads ({ints['heads']}) with mla",
            ints["kv_heads"],
        )
        c.check(
            ints["head_dim"] == mla.qk_head_dim,
            f"{p}head_dim",
            f"must be mla.qk_nope_head_dim + mla.qk_rope_head_dim ({mla.qk_head_dim})",
            ints["head_dim"],
        )
    c.raise_if_any()
    return ModelConfig(
        name=str(data.get("name") or where),
        source=str(data.get("source", "")),
        ffn_kind=FfnKind(kind),
        sliding_window=window,
        tied_embeddings=tied,
        attention_bias=bias,
        moe=moe,
        mla=mla,
        unmodelled=tuple(unmodelled),
        **ints,
    )
