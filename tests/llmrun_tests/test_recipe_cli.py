"""Recipe-driven perplexity: overrides, the older spec spellings, bad input (InputError, CLI exit
2) and the ppl / kv / assets commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main
from llmrun import perplexity, resolve_quantization
from mant.errors import InputError
from mant.kv import Grouping, KVQuantConfig, Selection, quantize_kv
from mant.recipes import named_recipe
from mant.tensor_recipe import WEIGHT_KINDS


@pytest.mark.parametrize(
    ("text", "fmt", "g"),
    [
        ("mant-unicore16:g64", "mant-unicore16", 64),
        ("INT4_asym:g128", "int4_asym", 128),
        ("int4:g32:scale=fp16", "int4", 32),
    ],
)
def test_weight_spellings_override_every_projection(text, fmt, g):
    r = resolve_quantization("mant-hpca25", weights=text).recipe
    for kind in WEIGHT_KINDS:
        w = r.weight(kind)
        assert w is not None and (w.format, w.group_size) == (fmt, g)
    assert r.activations == named_recipe("mant-hpca25").activations  # other parts kept


def test_kv_spellings_old_and_new():
    r = resolve_quantization(kv="mant-kv3:g64").recipe
    cfg = r.kv_config()
    assert (cfg.k_grouping, cfg.v_grouping) == (Grouping.TOKEN, Grouping.CHANNEL)
    assert cfg.selection is Selection.VARIANCE and cfg.v_staging_bits == 8
    old = resolve_quantization(kv="mant-unicore16:g64:realtime:k=channel:v=token").recipe
    cfg = old.kv_config()
    assert (cfg.k_grouping, cfg.v_grouping, cfg.selection) == (
        Grouping.CHANNEL,
        Grouping.TOKEN,
        Selection.LUT,
    )
    assert resolve_quantization(kv="int4_asym:g32:ref").kv_text == "int4_asym:g32:ref"
    fp = resolve_quantization("mant-hpca25", kv="fp", acts="fp", weights="fp")
    assert fp.kv_hook is None and fp.acts is None and fp.recipe.summary() == "W16A16 KV16"


def test_acts_override_covers_every_activation_quantizer():
    r = resolve_quantization("int4-g64", acts="int4:g64").recipe
    for t in (r.activations, r.query, r.attn_probs, r.attn_out):
        assert t is not None and t.format == "int4"
    assert r.act_bits == 4 and r.summary() == "W4A4 KV16"


def test_recipe_parts_change_perplexity_in_the_expected_direction():
    kw = {"windows": 1, "window_len": 128}
    fp = perplexity(**kw).ppl
    a8 = perplexity(acts="int8:g64", **kw)
    a4 = perplexity(acts="int4:g64", **kw)
    assert a8.act_bits_per_element == 8.25 and a8.acts == "int8:g64"
    assert abs(a8.ppl - fp) / fp < 0.02 < (a4.ppl - fp) / fp  # A8 near lossless, A4 is not
    kv = perplexity(recipe="kv4-int4", **kw)
    assert kv.kv_bits_per_element == 4.25 and kv.ppl > fp


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"weights": "int4:gx"}, "weights"),
        ({"weights": "int4:g0"}, "weights"),
        ({"weights": "nosuchformat:g64"}, "weights"),
        ({"kv": "int4:g64:sideways"}, "kv"),
        ({"kv": "mant-unicore16:g64:ref"}, "kv"),
        ({"acts": "int8:g64:output-mse"}, "acts"),
        ({"recipe": "no-such-recipe"}, "recipe"),
        ({"corpus": "wikitext2"}, "corpus"),
        ({"model": "llama-2-7b"}, "model"),
        ({"windows": 0}, "windows"),
        ({"windows": 10**6}, "windows"),
        ({"prefill_tokens": 0}, "prefill"),
    ],
)
def test_bad_input_is_an_input_error(kwargs, path):
    with pytest.raises(InputError) as info:
        perplexity(**kwargs)
    assert any(issue.path.startswith(path) for issue in info.value.issues), info.value


def test_cli_bad_input_exits_2_with_every_issue(capsys):
    code = main(["ppl", "--model", "gpt2", "--corpus", "bible", "--kv", "int4:what"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: model: must be one of" in err
    assert "error: corpus: must be one of" in err
    assert "error: kv: fields after the name" in err


def test_cli_ppl_json(capsys):
    argv = ["ppl", "--recipe", "mant-hpca25", "--weights", "fp", "--windows", "1"]
    assert main([*argv, "--window-len", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == 63 and out["windows"] == 1
    assert out["weights"] == "stored (Q4_1 weights)"
    assert out["recipe"] == "mant-hpca25+weights" and out["kv_bits_per_element"] == 4.28125
    assert out["acts"] == "int8:g64" and 1.0 < out["ppl"] < 49152


@pytest.fixture
def kv_file(tmp_path):
    rng = np.random.default_rng(0)
    k = rng.standard_t(4, (3, 150, 64)).astype(np.float32)
    v = rng.standard_normal((3, 150, 64)).astype(np.float32)
    path = tmp_path / "kv.npz"
    np.savez(path, K=k, V=v, flat=k[0])
    return path, k, v


def test_cli_kv_quantizes_as_the_recipe_says(kv_file, tmp_path, capsys):
    path, k, v = kv_file
    out_path = tmp_path / "out.npz"
    argv = ["kv", str(path), "--k", "K", "--v", "V", "--recipe", "mant-hpca25"]
    assert main([*argv, "--save", str(out_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = quantize_kv(k, v, KVQuantConfig())  # the authors' setting is the default
    assert out["k_rel_mse"] == pytest.approx(ref.k.rel_mse)
    assert out["v_rel_mse"] == pytest.approx(ref.v.rel_mse)
    assert out["k_choice_histogram"] == ref.k.choice_histogram()
    assert sum(out["v_choice_histogram"].values()) == 3 * 64 * 2  # 2 groups of 64 tokens
    with np.load(out_path) as z:
        np.testing.assert_array_equal(z["K"], ref.k.dequantized)
        np.testing.assert_array_equal(z["V"][:, 128:], v[:, 128:])  # prefill tail: fp
    assert main([*argv, "--kv", "int4:g64", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["k_choice_histogram"]) == {"int4"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--k", "nope"], "--k: must name an array in the file (K, V, flat)"),
        (["--k", "flat"], "k: must have shape (kv_heads, tokens, head_dim)"),
        (["--recipe", "fp16"], "recipe: must quantize the KV cache"),
        (["--recipe", "nope"], "recipe: must be a named recipe"),
        (["--kv", "int4:g48"], "k.head_dim: must be a multiple of group_size=48"),
    ],
)
def test_cli_kv_bad_input_exits_2(kv_file, capsys, extra, message):
    path, _, _ = kv_file
    assert main(["kv", str(path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_kv_missing_or_broken_file_exits_2(tmp_path, capsys):
    assert main(["kv", str(tmp_path / "none.npz")]) == 2
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    assert main(["kv", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "file: must be an existing .npz file" in err and "readable .npz" in err


def test_cli_assets_list(capsys):
    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("smollm2-135m", "minilm-l6-v2", "janeaustenr"):
        assert name in out
    assert "ok" in out


def test_ppl_text_does_not_give_stored_or_fp32_tensors_16_bits(capsys):
    """'stored (Q4_1 weights) (16 bits/el)' read as if Q4_1 took 16 bits: say what 16 is."""
    from types import SimpleNamespace

    from dse.cli.ppl import _print

    result = SimpleNamespace(
        model="smollm2-135m",
        corpus="wikitext",
        text=None,
        backend="numpy",
        device="cpu",
        recipe="fp16",
        weights="stored (Q4_1 weights)",
        weight_bits_per_element=16.0,
        acts="fp32",
        act_bits_per_element=16.0,
        kv="int4:g64",
        kv_bits_per_element=4.25,
        windows=1,
        window_len=8,
        ppl=10.0,
        tokens=8,
        seconds=1.0,
        seconds_per_window=1.0,
        threads=1,
        weight_seconds=0.0,
        weight_rel_mse=None,
    )
    _print(result, None, False)
    out = capsys.readouterr().out
    assert "(16 bits/el)" not in out
    assert "stored (Q4_1 weights)   (not quantized by the recipe; hardware costs count 16" in out
    assert "int4:g64   (4.25 bits/el)" in out
