"""Workloads: single GEMMs and LLM prefill / decode steps built from a model config.

Conventions: a :class:`Gemm` multiplies an activation operand A (m x k) by a B operand (k x n);
``operand`` says whether B is a weight matrix or the KV cache, which decides its precision.
``count`` repeats the GEMM (identical layers, heads, batch entries) without repeating objects.
An LLM step is composed from blocks (:mod:`hwmodel.blocks`): attention, feed-forward (dense or
MoE) and the LM head; docs/hwmodel.md, "Workload conventions", states what is counted.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from hwmodel._validate import require_int
from hwmodel.gemm import Gemm, Operand
from hwmodel.model_config import FfnKind, MlaAttention, ModelConfig, model_from_dict
from mant.errors import InputError, IssueCollector
from mant.yaml_input import load_yaml_text

__all__ = [
    "Gemm",
    "Workload",
    "ModelConfig",
    "Phase",
    "Operand",
    "FfnKind",
    "MlaAttention",
    "Scope",
    "llm_workload",
    "list_models",
    "load_model",
]


class Phase(StrEnum):
    """Inference phase of an LLM workload."""

    PREFILL = "prefill"
    DECODE = "decode"


class Scope(StrEnum):
    """Which GEMMs of a model a figure counts (the M-ANT paper's two scopes).

    ``linear_layers``: the weight GEMMs only (projections, FFN, LM head if built).
    ``whole_model``: also attention, QK^T and PV against the KV cache.
    """

    LINEAR_LAYERS = "linear_layers"
    WHOLE_MODEL = "whole_model"


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """An ordered tuple of GEMMs plus what produced them; iterates over its GEMMs.

    Attributes:
        gemms: The layers (each with its repeat ``count``).
        model: Model name, or ``""`` for a hand-made workload.
        phase: ``"prefill"`` or ``"decode"`` (``""`` if not an LLM step).
        seq_len: Prompt length (prefill) or context length (decode), tokens.
        batch: Sequences processed together.
        kv_elements: KV-cache elements the step reads (decode: B x min(seq_len, W) cached
            tokens; prefill: the B x seq_len tokens' K/V, each read once), all layers.
        config: The model config it was built from (None for a hand-made workload).
    """

    gemms: tuple[Gemm, ...]
    model: str = ""
    phase: str = ""
    seq_len: int = 0
    batch: int = 1
    kv_elements: int = 0
    config: ModelConfig | None = None

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

    @property
    def macs_linear(self) -> int:
        """MACs of the weight GEMMs (projections, FFN / experts, router, LM head)."""
        return sum(g.macs * g.count for g in self.gemms if not g.is_attention)

    @property
    def macs_attention(self) -> int:
        """MACs of QK^T and PV."""
        return sum(g.macs * g.count for g in self.gemms if g.is_attention)

    @property
    def weight_elements(self) -> float:
        """Weight elements the step reads, each matrix once (routed experts: expected touched)."""
        return sum(g.k * g.n * g.b_reads for g in self.gemms if not g.is_attention)

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
        return dataclasses.replace(self, gemms=keep)

    def attention(self) -> Workload:
        """Only the attention GEMMs (QK^T and PV against the KV cache)."""
        return dataclasses.replace(self, gemms=tuple(g for g in self.gemms if g.is_attention))


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
    return model_from_dict(data, f"model.{name}")


def llm_workload(
    model: str | ModelConfig,
    *,
    phase: str = "prefill",
    seq_len: int = 2048,
    batch: int = 1,
    lm_head: bool = True,
    past_len: int = 0,
) -> Workload:
    """The GEMMs of one prefill pass or one decode step of a decoder-only LLM.

    Prefill processes ``batch x seq_len`` tokens with causal attention (query p sees min(p, W)
    keys); a decode step processes ``batch`` tokens, each against a KV cache of
    min(``seq_len``, W) tokens that includes its own K/V. Per KV head, QK^T is (g x ctx) with
    K = head_dim and PV is (g x head_dim) with K = ctx, where the g query heads sharing a KV head
    are stacked into M (GQA); MLA and MoE follow :mod:`hwmodel.blocks`. The LM head runs on the
    last position of each sequence only.

    Args:
        model: A shipped model name (:func:`list_models`) or a :class:`ModelConfig`.
        phase: ``"prefill"`` or ``"decode"``.
        seq_len: Prompt length (prefill) or context length (decode), tokens.
        batch: Sequences.
        lm_head: Include the vocabulary projection.
        past_len: Prefill only: tokens already cached before these ``seq_len`` (a chunk of a
            chunked prefill, or a speculative verification step); query j sees
            min(past_len + j, W) keys.

    Raises:
        InputError: unknown model or phase, sizes < 1.

    Example:
        >>> wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
        >>> [g.name for g in wl][:3]
        ['q_proj', 'k_proj', 'v_proj']
    """
    from hwmodel.blocks import attention_gemms, ffn_gemms, lm_head_gemm

    c = IssueCollector()
    c.check(phase in tuple(Phase), "phase", "must be prefill or decode", phase)
    require_int(c, seq_len, "seq_len")
    require_int(c, batch, "batch")
    require_int(c, past_len, "past_len", 0)
    c.raise_if_any()
    cfg = model if isinstance(model, ModelConfig) else load_model(model)
    tokens = batch if phase == "decode" else batch * seq_len
    gemms = attention_gemms(cfg, phase, seq_len, batch, past_len) + ffn_gemms(cfg, tokens)
    if lm_head:
        gemms.append(lm_head_gemm(cfg, batch))
    if phase == "decode":
        cached = cfg.cached_tokens(seq_len)
    else:  # the chunk's own K/V plus the cached window it attends
        cached = seq_len + cfg.cached_tokens(past_len)
    return Workload(
        gemms=tuple(gemms),
        model=cfg.name,
        phase=phase,
        seq_len=seq_len,
        batch=batch,
        kv_elements=batch * cached * cfg.kv_elements_per_token,
        config=cfg,
    )
