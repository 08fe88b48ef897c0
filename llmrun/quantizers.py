"""A recipe's runtime quantizers: activation hooks and the KV hook of the numpy forward.

* Activations (:func:`act_hooks`): the recipe's ``activations`` (every linear input),
  ``query``, ``attn_probs`` and ``attn_out`` recipes as :class:`llmrun.forward.ActHooks`
  (:func:`mant.act_quant.act_quantizer`: per token, groups along the last axis).
* KV (:func:`kv_hook`): K per token (or per channel, KIVI), quantized for the whole window at once
  (per-token groups do not depend on later tokens); V per channel as the decode-time cache of
  :func:`mant.kv_decode.decode_value_cache` (INT8 staging until a group of g completes, then
  MANT4), so that every query sees the cache of token-by-token decoding; V per token (KIVI) at
  once. KIVI's K per channel is quantized with the whole window's statistics (newest
  ``tokens mod g`` tokens in full precision): prefill semantics, as KIVI-style evaluations do.

Prefill length: ``prefill_tokens`` P fixes V's per-channel INT8 scale (absmax of the first P
tokens / 127). The default is the KV group size g: the prompt is one complete group, and every
later token is decoded. P >= window length is the authors' one-pass (prefill-only) evaluation.

Example:
    >>> from mant.recipes import named_recipe
    >>> hooks = act_hooks(named_recipe("mant-hpca25"))
    >>> hooks.linear is not None and hooks.attn_probs is not None
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llmrun.forward import ActHooks, KVHook
from mant.act_quant import act_quantizer
from mant.kv import Grouping, KVQuantConfig, quantize_grouped
from mant.kv_decode import ValueCache, decode_value_cache
from mant.quant_spec import QuantSpec
from mant.recipe import Recipe

__all__ = ["act_hooks", "kv_hook", "kv_hook_for_config"]


def _q(t: QuantSpec | None) -> Any:
    return None if t is None else act_quantizer(t)


def act_hooks(recipe: Recipe) -> ActHooks | None:
    """The activation quantizers of ``recipe`` (None when it quantizes no activation).

    Raises:
        InputError: per-kind linear inputs (``activations: {default, <kind>: ...}``): the
            forward runs one quantizer for every linear input.
    """
    if recipe.act_kinds:
        from mant.errors import InputError

        raise InputError.single(
            "recipe.activations",
            "the forward pass runs one quantizer for every linear input; per-kind entries are "
            "scored by the studies' output_rel_mse",
            [str(k) for k, _ in recipe.act_kinds],
        )
    hooks = ActHooks(
        linear=_q(recipe.activations),
        query=_q(recipe.query),
        attn_probs=_q(recipe.attn_probs),
        attn_out=_q(recipe.attn_out),
    )
    return None if hooks == ActHooks() else hooks


def kv_hook_for_config(cfg: KVQuantConfig, *, prefill_tokens: int | None = None) -> KVHook:
    """The KV hook of a :class:`~mant.kv.KVQuantConfig` (see the module doc).

    Args:
        cfg: the configuration.
        prefill_tokens: P for V grouped per channel (None: ``cfg.group_size``).
    """
    p = cfg.group_size if prefill_tokens is None else prefill_tokens

    def hook(layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, Any]:
        k_hat = quantize_grouped(k, cfg.k_grouping, cfg)
        v_hat: np.ndarray | ValueCache
        if cfg.v_grouping is Grouping.CHANNEL:
            v_hat = decode_value_cache(v, cfg, prefill_tokens=p)
        else:
            v_hat = quantize_grouped(v, Grouping.TOKEN, cfg)
        return k_hat, v_hat

    return hook


def kv_hook(recipe: Recipe, *, prefill_tokens: int | None = None) -> KVHook | None:
    """The KV hook of ``recipe`` (None when its KV cache stays unquantized)."""
    cfg = recipe.kv_config()
    return None if cfg is None else kv_hook_for_config(cfg, prefill_tokens=prefill_tokens)
