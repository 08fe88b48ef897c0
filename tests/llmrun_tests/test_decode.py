"""Decode-time semantics: the one-pass forward equals a token-by-token decode loop.

A small random llama (2 layers, head_dim 32) in float64 keeps the check fast and exact up to float
rounding; g = 16 gives several V groups inside a 150-token window, and a prefill of 40 tokens puts
a group across the prefill boundary (its first 8 tokens in full precision, the rest INT8-staged).
"""

from __future__ import annotations

import numpy as np
import pytest

from llmrun.decode import decode_hidden
from llmrun.forward import PreparedModel, forward_hidden
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel
from llmrun.quantizers import act_hooks, kv_hook_for_config
from mant.kv import KVQuantConfig
from mant.kv_decode import complete_lengths, decode_value_cache
from mant.recipe import Recipe


def _tiny_model(seed: int = 0) -> LlamaModel:
    cfg = LlamaConfig(
        n_layers=2,
        d_model=128,
        n_heads=4,
        n_kv_heads=2,
        d_ffn=256,
        vocab_size=97,
        rms_eps=1e-5,
        rope_base=10000.0,
        context_length=512,
    )
    rng = np.random.default_rng(seed)

    def w(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    kv = cfg.n_kv_heads * cfg.head_dim
    layers = tuple(
        LayerWeights(
            attn_norm=np.ones(cfg.d_model, np.float32),
            wq=w(cfg.d_model, cfg.d_model),
            wk=w(kv, cfg.d_model) * 3,  # larger K and V: the quantizers have work to do
            wv=w(kv, cfg.d_model) * 3,
            wo=w(cfg.d_model, cfg.d_model),
            ffn_norm=np.ones(cfg.d_model, np.float32),
            w_gate=w(cfg.d_ffn, cfg.d_model),
            w_up=w(cfg.d_ffn, cfg.d_model),
            w_down=w(cfg.d_model, cfg.d_ffn),
        )
        for _ in range(cfg.n_layers)
    )
    return LlamaModel(
        name="tiny",
        config=cfg,
        tok_embd=rng.standard_normal((cfg.vocab_size, cfg.d_model)).astype(np.float32),
        output_norm=np.ones(cfg.d_model, np.float32),
        layers=layers,
    )


@pytest.fixture(scope="module")
def net() -> PreparedModel:
    return PreparedModel.build(_tiny_model(), dtype=np.float64)


TOKENS = np.random.default_rng(1).integers(0, 97, 150)


@pytest.mark.parametrize(
    ("prefill", "acts"),
    [(40, False), (16, False), (40, True), (1000, False)],
)
def test_one_pass_equals_token_by_token_decoding(net, prefill, acts) -> None:
    cfg = KVQuantConfig(group_size=16)
    hooks = None
    if acts:  # the authors' INT8 activations, Q, softmax output and attention output
        recipe = Recipe.from_dict(
            {
                "name": "a8",
                **{k: "int8:g32" for k in ("activations", "query", "attn_probs", "attn_out")},
            }
        )
        hooks = act_hooks(recipe)
    one_pass = forward_hidden(net, TOKENS[None], kv_hook_for_config(cfg, prefill_tokens=prefill), hooks)[0]
    loop = decode_hidden(net, TOKENS, cfg, prefill_tokens=prefill, acts=hooks)
    np.testing.assert_allclose(one_pass, loop, rtol=1e-9, atol=1e-9)
    # and the cache matters: the fp forward differs by far more than the tolerance
    fp = forward_hidden(net, TOKENS[None])[0]
    assert np.max(np.abs(fp - one_pass)) > 1e-3


def test_staging_changes_what_early_queries_see(net) -> None:
    """Without the completion mask (every complete group MANT4 for every query) the result
    differs: the check above is not satisfied by the prefill-only computation."""
    cfg = KVQuantConfig(group_size=16)
    decode = forward_hidden(net, TOKENS[None], kv_hook_for_config(cfg, prefill_tokens=16))[0]
    prefill_only = forward_hidden(net, TOKENS[None], kv_hook_for_config(cfg, prefill_tokens=150))[0]
    assert np.max(np.abs(decode - prefill_only)) > 1e-4


def test_value_cache_layout() -> None:
    v = np.random.default_rng(2).standard_normal((2, 3, 50, 32))
    cache = decode_value_cache(v, KVQuantConfig(group_size=16), prefill_tokens=20)
    np.testing.assert_array_equal(cache.complete_len, complete_lengths(50, 16, 20))
    assert cache.complete_len.tolist()[:3] == [16, 16, 16] and cache.complete_len[-1] == 48
    np.testing.assert_array_equal(cache.staged[..., :20, :], v[..., :20, :])  # prefill: fp
    scale = np.abs(v[..., :20, :]).max(axis=-2, keepdims=True) / 127
    step = cache.staged[..., 20:, :] / scale
    np.testing.assert_allclose(step, np.clip(np.round(v[..., 20:, :] / scale), -128, 127))
    np.testing.assert_array_equal(cache.complete[..., 48:, :], cache.staged[..., 48:, :])
    assert not np.array_equal(cache.complete[..., :48, :], cache.staged[..., :48, :])
    seen = cache.as_seen_by(35)  # groups 0, 1 complete (32 tokens); 32..35 staged
    np.testing.assert_array_equal(seen[..., :32, :], cache.complete[..., :32, :])
    np.testing.assert_array_equal(seen[..., 32:, :], cache.staged[..., 32:36, :])
