"""The V cache over decoding, as the M-ANT authors build it: INT8 staging, then MANT4 per group.

V is grouped per channel along tokens (groups of g). The authors' ``quantize_value``
(``llama_mant.py``, commit 75fb156; ``mant_authors.md`` §2) does, for a prompt of P tokens then
one token at a time:

* prefill: the ``g * floor(P / g)`` tokens of complete groups become MANT4 (type by the
  selection rule, over the prefill values); the last ``P mod g`` prefill tokens stay in full
  precision; the per-channel INT8 scale is fixed: absmax over the P prefill tokens / 127;
* decode step t >= P: token t's V is INT8 with that scale (clipped to [-128, 127]); when t + 1
  is a multiple of g, the group's g stored values (full precision or INT8) become MANT4.

So the cache a query at position t sees holds the tokens of every group complete at
``max(t + 1, P)`` in MANT4 and the others as staged (:class:`ValueCache`, ``complete_len``).
:func:`decode_value_cache` builds all of it for a whole window at once: the attention output of
query t is ``P[t, :L] @ complete[:L] + P[t, L:] @ staged[L:]`` with ``L = complete_len[t]``.

Example:
    >>> import numpy as np
    >>> from mant.kv import KVQuantConfig
    >>> v = np.random.default_rng(0).standard_normal((3, 40, 64)).astype(np.float32)
    >>> cache = decode_value_cache(v, KVQuantConfig(group_size=16), prefill_tokens=20)
    >>> cache.complete_len[[0, 19, 20, 31, 32, 39]].tolist()
    [16, 16, 16, 32, 32, 32]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mant.errors import IssueCollector
from mant.kv import Grouping, KVQuantConfig, quantize_grouped

__all__ = ["ValueCache", "complete_lengths", "decode_value_cache", "stage_int"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueCache:
    """V of a window as every query position sees it during decoding.

    Attributes:
        staged: (..., tokens, head_dim) what a token holds while its group is not complete
            (full precision inside the prefill, INT staging after it).
        complete: (..., tokens, head_dim) what it holds once its group is complete (MANT4 of
            the staged values); the trailing incomplete group repeats ``staged``.
        complete_len: (tokens,) int64: query t sees tokens ``[0, complete_len[t])`` from
            ``complete`` and the rest from ``staged``.
        prefill_tokens: P, the prompt length that fixed the INT scale.
    """

    staged: np.ndarray
    complete: np.ndarray
    complete_len: np.ndarray
    prefill_tokens: int

    def as_seen_by(self, t: int) -> np.ndarray:
        """The (..., t + 1, head_dim) cache of query position t (for checks and decode loops)."""
        n = int(self.complete_len[t])
        return np.concatenate(
            [self.complete[..., : min(n, t + 1), :], self.staged[..., n : t + 1, :]], axis=-2
        )


def complete_lengths(tokens: int, group_size: int, prefill_tokens: int) -> np.ndarray:
    """Tokens in complete groups for each query position: ``g * floor(max(t + 1, P) / g)``."""
    t = np.arange(tokens)
    return (np.maximum(t + 1, prefill_tokens) // group_size * group_size).astype(np.int64)


def stage_int(x: np.ndarray, scale: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric INT fake-quantization with a given scale: clip(round(x / s)) * s."""
    qmax = 2 ** (bits - 1) - 1
    return (np.clip(np.round(x / scale), -qmax - 1, qmax) * scale).astype(x.dtype)


def decode_value_cache(v: Any, cfg: KVQuantConfig, *, prefill_tokens: int) -> ValueCache:
    """The authors' decode-time V cache of a whole window (see the module doc).

    Args:
        v: V, (..., tokens, head_dim), e.g. (batch, kv_heads, tokens, head_dim).
        cfg: the KV configuration; V must be grouped per channel. ``cfg.v_staging_bits`` None
            keeps staged tokens in full precision (a KIVI-like residual).
        prefill_tokens: P >= 1; values above the window length mean "all prefill" (the
            authors' one-pass evaluation: complete groups MANT4 for every query, tail fp).

    Returns:
        The :class:`ValueCache`.
    """
    x = np.asarray(v)
    c = IssueCollector()
    c.check(
        cfg.v_grouping is Grouping.CHANNEL,
        "kv.v_grouping",
        "must be channel for a decode-time V cache",
        str(cfg.v_grouping),
    )
    ok = isinstance(prefill_tokens, int) and not isinstance(prefill_tokens, bool)
    c.check(ok and prefill_tokens >= 1, "prefill_tokens", "must be an int >= 1", prefill_tokens)
    c.raise_if_any()
    tokens, g = x.shape[-2], cfg.group_size
    p = min(prefill_tokens, tokens)
    staged = x.copy()
    if cfg.v_staging_bits is not None and p < tokens:
        qmax = 2 ** (cfg.v_staging_bits - 1) - 1
        absmax = np.max(np.abs(x[..., :p, :]), axis=-2, keepdims=True)
        scale = np.maximum(absmax, 1e-5) / qmax  # pseudo_quantize_int's clamp; no 0 / 0
        staged[..., p:, :] = stage_int(x[..., p:, :], scale.astype(x.dtype), cfg.v_staging_bits)
    complete = quantize_grouped(staged, Grouping.CHANNEL, cfg).astype(x.dtype, copy=False)
    return ValueCache(
        staged=staged,
        complete=complete,
        complete_len=complete_lengths(tokens, g, p),
        prefill_tokens=p,
    )
