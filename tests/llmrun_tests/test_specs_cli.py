"""Spec strings, bad input (InputError, CLI exit 2) and the ppl / assets commands."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from llmrun import KVSpec, WeightSpec, parse_kv_spec, parse_weight_spec, perplexity
from mant.errors import InputError


@pytest.mark.parametrize(
    "text, spec",
    [
        ("mant-unicore16:g64", WeightSpec(name="mant-unicore16", group_size=64)),
        ("INT4_asym:g128", WeightSpec(name="int4_asym", group_size=128)),
        ("mxfp4", WeightSpec(name="mxfp4")),
        ("int4:g32:scale=fp16", WeightSpec(name="int4", group_size=32, scale_format="fp16")),
    ],
)
def test_weight_specs_round_trip(text, spec):
    assert parse_weight_spec(text) == spec
    assert parse_weight_spec(str(spec)) == spec


def test_kv_specs():
    assert parse_kv_spec("mant-unicore16:g64:realtime") == KVSpec(
        name="mant-unicore16", group_size=64, selection="realtime"
    )
    spec = parse_kv_spec("int4_asym:g32:ref")
    assert spec.reference and spec.ref_bits == 4 and not spec.ref_symmetric
    assert parse_kv_spec("int4:g64:k=token:oracle").k_grouping == "token"
    assert parse_kv_spec("fp32") is None and parse_weight_spec(None) is None


def test_spec_configs_build_mant_objects():
    cfg = parse_weight_spec("mant-unicore16:g32").to_config()
    assert (cfg.group_size, cfg.axis) == (32, -1)
    kv = parse_kv_spec("mant-unicore16:g128:oracle").to_config()
    assert (kv.group_size, kv.selection) == (128, "oracle")


@pytest.mark.parametrize(
    "kwargs, path",
    [
        ({"weights": "int4:gx"}, "weights"),
        ({"weights": "int4:g0"}, "weights.group_size"),
        ({"weights": "nosuchformat:g64"}, "weights"),
        ({"kv": "int4:g64:sideways"}, "kv"),
        ({"kv": "mant-unicore16:g64:ref"}, "kv"),
        ({"corpus": "wikitext2"}, "corpus"),
        ({"model": "llama-2-7b"}, "model"),
        ({"windows": 0}, "windows"),
        ({"windows": 10**6}, "windows"),
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
    assert main(["ppl", "--windows", "1", "--window-len", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens"] == 31 and out["windows"] == 1
    assert out["weights"] == "stored (Q4_1 weights)"  # SmolLM2's GGUF linears are Q4_1, not fp32
    assert 1.0 < out["ppl"] < 49152  # between a certain and a uniform guess
    assert "baseline_ppl" not in out  # an unquantized run is its own baseline


def test_cli_ppl_prints_the_baseline_and_uses_the_thread_count(capsys):
    args = ["ppl", "--windows", "1", "--window-len", "32", "--kv", "int4:g64", "--threads", "1"]
    assert main([*args, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["ppl", "--windows", "1", "--window-len", "32", "--json"]) == 0
    unquantized = json.loads(capsys.readouterr().out)
    assert first["threads"] == 1 and first["kv"] == "int4:g64"
    assert first["baseline_ppl"] == pytest.approx(unquantized["ppl"], rel=1e-6)
    assert first["ppl_delta"] == pytest.approx(first["ppl"] - first["baseline_ppl"])
    assert main(args) == 0  # the baseline now comes from the cache
    text = capsys.readouterr().out
    assert "baseline" in text and "cached" in text and "difference" in text
    assert "1 BLAS thread" in text
    assert main([*args[:-1], "0"]) == 2
    assert "error: --threads: must be an int >= 1, got 0" in capsys.readouterr().err


def test_cli_assets_list(capsys):
    assert main(["assets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("smollm2-135m", "minilm-l6-v2", "janeaustenr"):
        assert name in out
    assert "ok" in out
