"""The numpy llama forward pass on the real SmolLM2-135M: precision, reference PPL, RoPE, K/V."""

from __future__ import annotations

import numpy as np
import pytest

from llmrun import PreparedModel, kv_dump, load_model, perplexity, prepared_model, window_nll
from llmrun.forward import _rope, _rope_tables
from llmrun.text import corpus_tokens


@pytest.fixture(scope="module")
def model():
    return load_model("smollm2-135m")


def test_config_read_from_the_gguf(model):
    cfg = model.config
    # real_models.md §4.1
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads) == (30, 576, 9, 3)
    assert (cfg.head_dim, cfg.d_ffn, cfg.vocab_size, cfg.rope_base) == (64, 1536, 49152, 1e5)
    assert model.layers[0].wk.shape == (192, 576)
    assert model.tok_embd.shape == (49152, 576)
    kinds = list(model.stored_types.values())
    assert (kinds.count("Q4_1"), kinds.count("F32"), kinds.count("Q8_0")) == (210, 61, 1)


def test_float32_window_matches_the_same_code_in_float64(model):
    tokens = corpus_tokens("austen-pride")[:128].reshape(1, 128)
    nll32, n = window_nll(PreparedModel.build(model, dtype=np.float32), tokens)
    nll64, n64 = window_nll(PreparedModel.build(model, dtype=np.float64), tokens)
    assert n == n64 == 127
    assert abs(nll32 - nll64) / nll64 < 2e-5, (nll32, nll64)
    assert 2.0 < nll64 / n < 4.0  # a trained LM: per-token NLL well below log(49152) = 10.8


def test_reference_perplexity_4_windows_of_512():
    r = perplexity(windows=4, window_len=512)
    assert r.tokens == 2044
    # numpy reference 20.832 on 4 x 512 tokens of Pride and Prejudice (real_models.md §6)
    assert r.ppl == pytest.approx(20.832, rel=0.01)


def test_windows_are_independent():
    net, _, _ = prepared_model()
    tokens = corpus_tokens("austen-pride")[:192].reshape(3, 64)
    batched, _ = window_nll(net, tokens)
    one_by_one = sum(window_nll(net, tokens[i : i + 1])[0] for i in range(3))
    assert batched == pytest.approx(one_by_one, rel=1e-5)


def test_rope_scores_depend_only_on_relative_position(model):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 1, 1, 64))
    k = rng.standard_normal((1, 1, 1, 64))
    cos, sin = _rope_tables(model.config, 40, np.dtype(np.float64))

    def at(x, pos):
        return _rope(x, cos[pos : pos + 1], sin[pos : pos + 1])

    score = float(np.sum(at(q, 9) * at(k, 2)))
    assert float(np.sum(at(q, 37) * at(k, 30))) == pytest.approx(score, rel=1e-12)
    assert float(np.sum(at(q, 0) * at(k, 0))) == pytest.approx(float(np.sum(q * k)), rel=1e-12)


def test_identity_kv_hook_changes_nothing():
    net, _, _ = prepared_model()
    tokens = corpus_tokens("austen-pride")[:64].reshape(1, 64)
    seen = []

    def hook(layer, k, v):
        seen.append((layer, k.shape, v.shape))
        return k, v

    assert window_nll(net, tokens, hook) == window_nll(net, tokens)
    assert [s[0] for s in seen] == list(range(30))
    assert seen[0][1:] == ((1, 3, 64, 64), (1, 3, 64, 64))


def test_kv_dump_statistics_of_window_0():
    d = kv_dump(window=0, window_len=512)
    assert d["k"].shape == d["v"].shape == (30, 3, 512, 64)
    assert d["tokens"].shape == (512,)
    # SmolLM2 K/V statistics, window 0, post-RoPE K (real_models.md §6)
    for layer, k_absmax, k_std, v_absmax, v_std in (
        (0, 10.39, 1.368, 0.60, 0.045),
        (15, 17.99, 2.170, 5.40, 0.712),
        (29, 16.55, 1.868, 10.42, 1.488),
    ):
        assert np.abs(d["k"][layer]).max() == pytest.approx(k_absmax, abs=0.01)
        assert d["k"][layer].std() == pytest.approx(k_std, abs=0.002)
        assert np.abs(d["v"][layer]).max() == pytest.approx(v_absmax, abs=0.01)
        assert d["v"][layer].std() == pytest.approx(v_std, abs=0.002)
    again = kv_dump(window=0, window_len=512)  # served from the .npz cache
    np.testing.assert_array_equal(again["k"], d["k"])
