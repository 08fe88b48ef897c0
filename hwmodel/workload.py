"""Workloads: single GEMMs and LLM prefill / decode steps built from a model config.

Conventions: a :class:`Gemm` multiplies an activation operand A (m x k) by a B operand (k x n);
``operand`` says whether B is a weight matrix or the KV cache, which decides its precision.
``count`` repeats the GEMM (identical layers, heads, batch entries) without repeating objects.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from hwmodel._validate import check_keys, require_int
from mant.errors import InputError, IssueCollector
from mant.yaml_input import load_yaml_text

__all__ = [
    "Gemm",
    "Workload",
    "ModelConfig",
    "Phase",
    "Operand",
    "FfnKind",
    "Scope",
    "llm_workload",
    "list_models",
    "load_model",
]


class Phase(StrEnum):
    """Inference phase of an LLM workload."""

    PREFILL = "prefill"
    DECODE = "decode"


class Operand(StrEnum):
    """What the B operand of a GEMM is: a weight matrix or the KV cache (attention)."""

    WEIGHT = "weight"
    KV = "kv"


class FfnKind(StrEnum):
    """Feed-forward block: SwiGLU (gate, up, down) or plain (fc1, fc2)."""

    GATED = "gated"
    PLAIN = "plain"


class Scope(StrEnum):
    """Which GEMMs of a model a figure counts (the M-ANT paper's two scopes).

    ``linear_layers``: the weight GEMMs only (projections, FFN, LM head if built).
    ``whole_model``: also attention, QK^T and PV against the KV cache.
    """

    LINEAR_LAYERS = "linear_layers"
    WHOLE_MODEL = "whole_model"


@dataclass(frozen=True, slots=True, kw_only=True)
class Gemm:
    """One GEMM layer: A (m x k, activations) times B (k x n, weights or KV cache).

    Attributes:
        m: Rows of A and of the output (tokens).
        n: Columns of B and of the output.
        k: Reduction length (the dimension quantization groups run along).
        name: Label in per-layer reports.
        operand: ``"weight"`` or ``"kv"``: which precision the B operand uses.
        count: How many identical instances the workload holds.

    Example:
        >>> Gemm(m=1, n=4096, k=4096, name="q_proj").macs
        16777216
    """

    m: int
    n: int
    k: int
    name: str = "gemm"
    operand: Operand = Operand.WEIGHT
    count: int = 1

    def __post_init__(self) -> None:
        c = IssueCollector()
        for key in ("m", "n", "k", "count"):
            require_int(c, getattr(self, key), f"gemm.{key}")
        if c.check(
            self.operand in tuple(Operand), "gemm.operand", "must be weight or kv", self.operand
        ):
            object.__setattr__(self, "operand", Operand(self.operand))
        c.raise_if_any()

    @property
    def is_attention(self) -> bool:
        """Whether B is the KV cache (QK^T or PV), i.e. outside the linear-layer scope."""
        return self.operand is Operand.KV

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one instance."""
        return self.m * self.n * self.k


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """An ordered tuple of GEMMs plus what produced them; iterates over its GEMMs.

    Attributes:
        gemms: The layers (each with its repeat ``count``).
        model: Model name, or ``""`` for a hand-made workload.
        phase: ``"prefill"`` or ``"decode"`` (``""`` if not an LLM step).
        seq_len: Prompt length (prefill) or context length (decode), tokens.
        batch: Sequences processed together.
    """

    gemms: tuple[Gemm, ...]
    model: str = ""
    phase: str = ""
    seq_len: int = 0
    batch: int = 1

    def __iter__(self) -> Iterator[Gemm]:
        return iter(self.gemms)

    def __len__(self) -> int:
        return len(self.gemms)

    def __getitem__(self, index: int) -> Gemm:
        return self.gemms[index]

    @property
    def macs(self) -> int:
        """Total multiply-accumulates, counts included."""
        return sum(g.macs * g.count for g in self.gemms)

    def scope(self, scope: str) -> Workload:
        """The GEMMs a figure of that :class:`Scope` counts.

        ``linear_layers`` keeps the weight GEMMs; ``whole_model`` keeps everything (attention
        included).

        Raises:
            InputError: unknown scope.

        Example:
            >>> wl = llm_workload("llama-7b", phase="decode", seq_len=2048)
            >>> [g.name for g in wl.scope("linear_layers")][:4]
            ['q_proj', 'k_proj', 'v_proj', 'o_proj']
        """
        if scope not in tuple(Scope):
            raise InputError.single("scope", f"must be one of {', '.join(Scope)}", scope)
        keep = self.gemms
        if scope == Scope.LINEAR_LAYERS:
            keep = tuple(g for g in self.gemms if not g.is_attention)
        return Workload(
            gemms=keep, model=self.model, phase=self.phase, seq_len=self.seq_len, batch=self.batch
        )

    def attention(self) -> Workload:
        """Only the attention GEMMs (QK^T and PV against the KV cache)."""
        return Workload(
            gemms=tuple(g for g in self.gemms if g.is_attention),
            model=self.model,
            phase=self.phase,
            seq_len=self.seq_len,
            batch=self.batch,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """Shape of a decoder-only transformer (from its published config).

    Attributes:
        name: Preset name.
        source: Where the numbers come from.
        layers, hidden, heads, kv_heads, head_dim, ffn, vocab: The usual hyper-parameters.
        ffn_kind: ``"gated"`` (SwiGLU: gate, up, down) or ``"plain"`` (fc1, fc2).
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


_MODEL_KEYS = ModelConfig.__dataclass_fields__.keys()


def list_models() -> list[str]:
    """Names of the shipped model configs.

    Example:
        >>> "llama-2-7b" in list_models()
        True
    """
    folder = resources.files("hwmodel") / "data" / "models"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.lru_cache(maxsize=32)
def load_model(name: str) -> ModelConfig:
    """Load a shipped model config by name.

    Raises:
        InputError: unknown model name.
    """
    if name not in list_models():
        raise InputError.single(
            "model", f"unknown model; known models are {', '.join(list_models())}", name
        )
    data: Any = load_yaml_text(
        (resources.files("hwmodel") / "data" / "models" / f"{name}.yaml").read_text("utf-8"),
        where=f"hwmodel/data/models/{name}.yaml",
    )
    check_keys(data, f"model.{name}", required=_MODEL_KEYS)
    c = IssueCollector()
    for key in ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab"):
        require_int(c, data[key], f"model.{name}.{key}")
    c.check(
        data["ffn_kind"] in tuple(FfnKind),
        f"model.{name}.ffn_kind",
        "must be gated or plain",
        data["ffn_kind"],
    )
    c.raise_if_any()
    return ModelConfig(**{**data, "ffn_kind": FfnKind(data["ffn_kind"])})


def llm_workload(
    model: str | ModelConfig,
    *,
    phase: str = "prefill",
    seq_len: int = 2048,
    batch: int = 1,
    lm_head: bool = True,
) -> Workload:
    """The GEMMs of one prefill pass or one decode step of a decoder-only LLM.

    Prefill processes ``batch x seq_len`` tokens; a decode step processes ``batch`` tokens
    against a KV cache of ``seq_len`` tokens. Attention is dense (no causal skipping): per KV
    head, QK^T is (g x ctx) with K = head_dim and PV is (g x head_dim) with K = ctx, where the g
    query heads sharing a KV head are stacked into M (GQA). The LM head runs for the last token
    of each sequence only.

    Args:
        model: A shipped model name (:func:`list_models`) or a :class:`ModelConfig`.
        phase: ``"prefill"`` or ``"decode"``.
        seq_len: Prompt length (prefill) or context length (decode), tokens.
        batch: Sequences.
        lm_head: Include the vocabulary projection.

    Raises:
        InputError: unknown model or phase, sizes < 1.

    Example:
        >>> wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
        >>> [g.name for g in wl][:3]
        ['q_proj', 'k_proj', 'v_proj']
    """
    c = IssueCollector()
    c.check(phase in tuple(Phase), "phase", "must be prefill or decode", phase)
    require_int(c, seq_len, "seq_len")
    require_int(c, batch, "batch")
    c.raise_if_any()
    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    layers = cfg.layers
    group = cfg.heads // cfg.kv_heads
    if phase == "prefill":
        tokens, queries, ctx = batch * seq_len, seq_len, seq_len
    else:
        tokens, queries, ctx = batch, 1, seq_len
    h, hd = cfg.hidden, cfg.head_dim
    gemms = [
        Gemm(m=tokens, n=cfg.heads * hd, k=h, name="q_proj", count=layers),
        Gemm(m=tokens, n=cfg.kv_heads * hd, k=h, name="k_proj", count=layers),
        Gemm(m=tokens, n=cfg.kv_heads * hd, k=h, name="v_proj", count=layers),
        Gemm(
            m=queries * group,
            n=ctx,
            k=hd,
            name="qk",
            operand=Operand.KV,
            count=layers * batch * cfg.kv_heads,
        ),
        Gemm(
            m=queries * group,
            n=hd,
            k=ctx,
            name="pv",
            operand=Operand.KV,
            count=layers * batch * cfg.kv_heads,
        ),
        Gemm(m=tokens, n=h, k=cfg.heads * hd, name="o_proj", count=layers),
    ]
    if cfg.ffn_kind == FfnKind.GATED:
        gemms += [
            Gemm(m=tokens, n=cfg.ffn, k=h, name="gate_proj", count=layers),
            Gemm(m=tokens, n=cfg.ffn, k=h, name="up_proj", count=layers),
            Gemm(m=tokens, n=h, k=cfg.ffn, name="down_proj", count=layers),
        ]
    else:
        gemms += [
            Gemm(m=tokens, n=cfg.ffn, k=h, name="fc1", count=layers),
            Gemm(m=tokens, n=h, k=cfg.ffn, name="fc2", count=layers),
        ]
    if lm_head:
        gemms.append(Gemm(m=batch, n=cfg.vocab, k=h, name="lm_head"))
    return Workload(gemms=tuple(gemms), model=cfg.name, phase=phase, seq_len=seq_len, batch=batch)
