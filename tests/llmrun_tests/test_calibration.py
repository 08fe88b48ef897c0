"""quantize_weights: the recipe's weight kinds, block-wise calibration, propagation, the cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from llmrun import PreparedModel, forward_hidden, load_model
from llmrun.calibration import (
    INPUT_OF,
    KIND_FIELDS,
    _block,
    _run_block,
    calibration_tokens_default,
    quantize_weights,
)
from llmrun.forward import _rms_norm, _rope_tables
from llmrun.text import corpus_tokens
from mant.errors import InputError
from mant.quantize import quantize
from mant.recipe import Recipe
from mant.recipes import named_recipe
from mant.tensor_recipe import WEIGHT_KINDS, Kind

MANT_OUT = {
    "format": "mant-unicore16",
    "group_size": 64,
    "scale_format": "fp16",
    "selection": "output_mse",
}
MANT_W = {**MANT_OUT, "selection": "weight_mse"}


@pytest.fixture(scope="module")
def model():
    return load_model("smollm2-135m")


@pytest.fixture(scope="module")
def small(model):
    """The first two blocks: enough to see propagation, fast enough for CI."""
    return dataclasses.replace(model, layers=model.layers[:2])


@pytest.fixture(scope="module")
def tokens():
    return corpus_tokens("austen-emma")[:128].reshape(2, 64).astype(np.int64)


def test_block_forward_equals_the_model_forward(model, tokens):
    cfg = model.config
    tables = _rope_tables(cfg, tokens.shape[1], np.dtype(np.float32))
    x = model.tok_embd[tokens]
    for layer in model.layers:
        x = _block(layer, x, cfg, tables)
    ours = _rms_norm(x, model.output_norm, cfg.rms_eps)
    ref = forward_hidden(PreparedModel.build(model), tokens)
    np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=2e-4)


def test_weight_mse_kinds_follow_the_recipe(small, tmp_path):
    recipe = Recipe.from_dict(
        {"name": "t", "weights": {"default": "fp", "down": MANT_W, "q": "int4:g32"}}
    )
    q, stats = quantize_weights(small, recipe, cache_dir=tmp_path)
    assert stats.n_tensors == 4 and stats.calibration_tokens == 0
    for orig, new in zip(small.layers, q.layers, strict=True):
        for kind, field in KIND_FIELDS.items():
            t = recipe.weight(kind)
            w, got = getattr(orig, field), getattr(new, field)
            if t is None:
                assert got is w  # left as stored
            else:
                np.testing.assert_array_equal(got, quantize(w, t.quant_config()).dequantized)
    assert sum(stats.choice_histogram.values()) == 2 * (576 * 1536 // 64 + 576 * 576 // 32)
    again, stats2 = quantize_weights(small, recipe, cache_dir=tmp_path)
    assert stats2.cached and stats2.rel_mse == stats.rel_mse
    np.testing.assert_array_equal(again.layers[1].w_down, q.layers[1].w_down)


def test_output_mse_uses_each_blocks_inputs_and_propagates(small, tokens, tmp_path):
    recipe = Recipe.from_dict({"name": "o", "weights": {"default": MANT_OUT}})
    q_prop, s_prop = quantize_weights(small, recipe, calibration_tokens=tokens, cache_dir=tmp_path)
    q_fp, s_fp = quantize_weights(
        small, recipe, calibration_tokens=tokens, propagate=False, cache_dir=tmp_path
    )
    assert s_prop.calibration_tokens == 128 and s_prop.propagate and not s_fp.propagate
    assert s_prop.output_rel_mse is not None and 0 < s_prop.output_rel_mse < 0.05
    # block 0 sees the same (embedding) input either way; block 1 sees quantized or fp input
    cfg = small.config
    tables = _rope_tables(cfg, tokens.shape[1], np.dtype(np.float32))
    x0 = [small.tok_embd[tokens]]
    out_fp, inputs0 = _run_block(small.layers[0], x0, cfg, tables, True)
    out_q, _ = _run_block(q_prop.layers[0], x0, cfg, tables, False)
    _, inputs1_fp = _run_block(small.layers[1], out_fp, cfg, tables, True)
    _, inputs1_q = _run_block(small.layers[1], out_q, cfg, tables, True)
    t = recipe.weight(Kind.GATE)
    assert t is not None
    for kind in WEIGHT_KINDS:
        field, src = KIND_FIELDS[kind], INPUT_OF[kind]
        w0, w1 = getattr(small.layers[0], field), getattr(small.layers[1], field)
        want0 = quantize(w0, t.quant_config(), calibration=inputs0[src]).dequantized
        np.testing.assert_array_equal(getattr(q_prop.layers[0], field), want0)
        np.testing.assert_array_equal(getattr(q_fp.layers[0], field), want0)
        want1_q = quantize(w1, t.quant_config(), calibration=inputs1_q[src]).dequantized
        want1_fp = quantize(w1, t.quant_config(), calibration=inputs1_fp[src]).dequantized
        np.testing.assert_array_equal(getattr(q_prop.layers[1], field), want1_q)
        np.testing.assert_array_equal(getattr(q_fp.layers[1], field), want1_fp)
    assert not np.array_equal(q_prop.layers[1].w_down, q_fp.layers[1].w_down)
    # the cache key holds the calibration settings: same call again is a hit, same weights
    again, s_again = quantize_weights(small, recipe, calibration_tokens=tokens, cache_dir=tmp_path)
    assert s_again.cached and not s_prop.cached
    np.testing.assert_array_equal(again.layers[1].wq, q_prop.layers[1].wq)
    other, s_other = quantize_weights(
        small, recipe, calibration_tokens=tokens[:, :32], cache_dir=tmp_path
    )
    assert not s_other.cached


def test_output_mse_beats_weight_mse_on_real_activations(model):
    """Block 0 of SmolLM2 with real activations (Emma calibration, held-out Pride windows)."""
    cfg = model.config
    calib = corpus_tokens("austen-emma")[:1024].reshape(4, 256).astype(np.int64)
    held = corpus_tokens("austen-pride")[:512].reshape(2, 256).astype(np.int64)
    tables = _rope_tables(cfg, 256, np.dtype(np.float32))
    layer = model.layers[3]
    xs_c, xs_h = [model.tok_embd[calib]], [model.tok_embd[held]]
    for blk in model.layers[:3]:  # real inputs of block 3
        xs_c, _ = _run_block(blk, xs_c, cfg, tables, False)
        xs_h, _ = _run_block(blk, xs_h, cfg, tables, False)
    _, in_c = _run_block(layer, xs_c, cfg, tables, True)
    _, in_h = _run_block(layer, xs_h, cfg, tables, True)
    t_out = Recipe.from_dict({"name": "o", "weights": MANT_OUT}).weight(Kind.Q)
    t_w = Recipe.from_dict({"name": "w", "weights": MANT_W}).weight(Kind.Q)
    assert t_out is not None and t_w is not None
    totals = {"weight": [0.0, 0.0], "output": [0.0, 0.0]}
    for kind in WEIGHT_KINDS:
        w = getattr(layer, KIND_FIELDS[kind]).astype(np.float64)
        x_c, x_h = in_c[INPUT_OF[kind]], in_h[INPUT_OF[kind]]
        q_w = quantize(w, t_w.quant_config()).dequantized
        q_o = quantize(w, t_out.quant_config(), calibration=x_c).dequantized
        for name, q in (("weight", q_w), ("output", q_o)):
            for i, x in enumerate((x_c, x_h)):
                x64 = x.astype(np.float64)
                totals[name][i] += float(np.sum((x64 @ (w - q).T) ** 2) / np.sum((x64 @ w.T) ** 2))
    # in-sample and on held-out text, output-MSE selection gives the smaller output error
    assert totals["output"][0] < 0.9 * totals["weight"][0], totals
    assert totals["output"][1] < totals["weight"][1], totals


def test_default_calibration_is_16_windows_of_emma(model):
    tok = calibration_tokens_default(model.name)
    assert tok.shape == (16, 512)
    np.testing.assert_array_equal(tok[0], corpus_tokens("austen-emma")[:512])


def test_bad_calibration_tokens(small, tmp_path):
    recipe = named_recipe("mant-w4a8")
    with pytest.raises(InputError, match="calibration_tokens: must be a 2-d int array"):
        quantize_weights(small, recipe, calibration_tokens=np.zeros(5, int), cache_dir=tmp_path)
    with pytest.raises(InputError, match=r"calibration_tokens: must be token ids in 0..49151"):
        quantize_weights(
            small, recipe, calibration_tokens=np.full((1, 4), 10**6), cache_dir=tmp_path
        )


def test_gptq_weights_are_cached_under_the_gptq_version(small, tokens, tmp_path, monkeypatch):
    """A change of GPTQ's output bumps ``mant.gptq.GPTQ_VERSION``: cached GPTQ weights of an older
    version are not read back (they were, and differed on 414 of SmolLM2's 421 arrays)."""
    import mant.gptq

    gptq_r = Recipe.from_dict(
        {"name": "g", "weights": {"default": {**MANT_W, "algorithm": "gptq"}}}
    )
    rtn_r = Recipe.from_dict({"name": "o", "weights": {"default": MANT_OUT}})
    kw = {"calibration_tokens": tokens, "cache_dir": tmp_path}
    first, s_g = quantize_weights(small, gptq_r, **kw)
    _, s_o = quantize_weights(small, rtn_r, **kw)
    assert not s_g.cached and not s_o.cached
    monkeypatch.setattr(mant.gptq, "GPTQ_VERSION", mant.gptq.GPTQ_VERSION + 1)
    again, s_g2 = quantize_weights(small, gptq_r, **kw)
    assert not s_g2.cached  # recomputed, to the same values by the same code
    np.testing.assert_array_equal(again.layers[1].w_down, first.layers[1].w_down)
    assert quantize_weights(small, rtn_r, **kw)[1].cached  # other weights keep their entries


def test_the_gptq_version_is_part_of_the_cache_key(small, tokens, monkeypatch):
    """GPTQ weights of an older sweep or type choice must not be read back: its version is in
    the key of a GPTQ recipe (and the type-choice rule, as the spec's selection)."""
    import mant.gptq
    from llmrun.calibration import _cache_key

    def recipe(selection: str, algorithm: str = "gptq") -> Recipe:
        spec = {**MANT_OUT, "selection": selection, "algorithm": algorithm}
        return Recipe.from_dict({"name": "g", "weights": {"default": spec}})

    recipes = (recipe("output_mse"), recipe("weight_mse"), recipe("weight_mse", "awq"))
    keys = [_cache_key(small, r, tokens, True) for r in recipes]
    assert len(set(keys)) == 3
    monkeypatch.setattr(mant.gptq, "GPTQ_VERSION", mant.gptq.GPTQ_VERSION + 1)
    again = [_cache_key(small, r, tokens, True) for r in recipes]
    assert again[0] != keys[0] and again[1] != keys[1] and again[2] == keys[2]
