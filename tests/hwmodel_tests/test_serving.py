"""Serving metrics (``hwmodel.serve`` / ``mant-dse hw serve``) against hand computations."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from hwmodel import Speculative, evaluate, llm_workload, load_accelerator, load_model, serve
from hwmodel.serving import _trapezoid_mean, decode_contexts, expected_accepted_tokens

ACC = load_accelerator("mant")


def _cost(model, phase, seq_len, batch):
    c = evaluate(ACC, llm_workload(model, phase=phase, seq_len=seq_len, batch=batch))
    return c.latency_s, c.energy_pj


def test_serve_equals_the_hand_computation():
    model = load_model("llama-3.1-8b")
    p, g, b = 512, 4, 2
    ttft, e_pre = _cost(model, "prefill", p, b)
    steps = [_cost(model, "decode", p + i, b) for i in range(1, g + 1)]
    tpot = sum(t for t, _ in steps) / g
    energy = e_pre + sum(e for _, e in steps)
    prec = ACC.default_precision
    # Llama-3.1-8B caches 32 layers x 2 x 8 heads x 128 elements per token
    kv = b * (p + g) * 32 * 2 * 8 * 128 * prec.kv_bits_per_element / 8
    weights = model.params_total * prec.weight_bits_per_element / 8
    mem = 20e9
    r = serve(ACC, model, prompt_len=p, gen_len=g, batch=b, memory_bytes=mem)
    assert r.ttft_s == pytest.approx(ttft, rel=1e-12)
    assert r.tpot_s == pytest.approx(tpot, rel=1e-12)
    assert r.tokens_per_s == pytest.approx(b * g / (ttft + g * tpot), rel=1e-12)
    assert r.energy_per_token_pj == pytest.approx(energy / (b * g), rel=1e-12)
    assert r.kv_footprint_bytes == pytest.approx(kv)
    assert r.max_batch == int((mem - weights) // (kv / b))
    assert serve(ACC, model, prompt_len=p, gen_len=g, batch=b).max_batch is None


def test_sampled_tpot_is_close_to_every_step():
    model = load_model("mistral-7b")  # the window edge (4096) lies inside the generation
    p, g = 4000, 300
    r = serve(ACC, model, prompt_len=p, gen_len=g, batch=1, points=5)
    assert 4096 in r.decode_contexts and len(r.decode_contexts) < 10
    exact = sum(_cost(model, "decode", p + i, 1)[0] for i in range(1, g + 1)) / g
    assert r.tpot_s == pytest.approx(exact, rel=0.005)


def test_trapezoid_mean_is_exact_for_a_linear_cost():
    xs = decode_contexts(1000, 101, None, points=3)
    assert xs == [1001, 1051, 1101]
    assert _trapezoid_mean(xs, [2.0 * x for x in xs], 101) == pytest.approx(2.0 * 1051)


def test_chunked_prefill_costs_the_same_macs_as_one_pass():
    model = load_model("llama-3.1-8b")
    one = llm_workload(model, phase="prefill", seq_len=1024)
    chunks = [
        llm_workload(model, phase="prefill", seq_len=256, past_len=s, lm_head=s == 768)
        for s in range(0, 1024, 256)
    ]
    assert sum(w.macs for w in chunks) == one.macs
    r = serve(ACC, model, prompt_len=1024, gen_len=2, batch=1, chunked_prefill=256)
    assert r.ttft_s == pytest.approx(sum(evaluate(ACC, w).latency_s for w in chunks))


def test_speculative_decoding_hand_computation():
    target, draft = load_model("llama-3.1-70b"), load_model("llama-3.1-8b")
    k, a = 4, 0.6
    assert expected_accepted_tokens(k, a) == pytest.approx((1 - a ** (k + 1)) / (1 - a))
    assert expected_accepted_tokens(3, 0.0) == 1.0
    spec = Speculative(draft=draft, draft_tokens=k, acceptance=a)
    p, g = 256, 2
    r = serve(ACC, target, prompt_len=p, gen_len=g, batch=1, speculative=spec)
    per_step = []
    for ctx in (p + 1, p + 2):
        td = _cost(draft, "decode", ctx, 1)[0]
        verify = llm_workload(
            target, phase="prefill", seq_len=k + 1, past_len=ctx - 1, lm_head=False
        )
        tv = evaluate(ACC, verify).latency_s
        tv += evaluate(ACC, [_lm_head(target, k + 1)]).latency_s
        per_step.append((k * td + tv) / expected_accepted_tokens(k, a))
    assert r.tpot_s == pytest.approx(sum(per_step) / g, rel=1e-9)
    base = serve(ACC, target, prompt_len=p, gen_len=g, batch=1)
    assert r.ttft_s == pytest.approx(base.ttft_s + _cost(draft, "prefill", p, 1)[0])


def _lm_head(cfg, rows):
    from hwmodel import Gemm

    return Gemm(m=rows, n=cfg.vocab, k=cfg.hidden, name="lm_head")


def test_hw_serve_json_rows(capsys):
    args = ["hw", "serve", "--accelerator", "fp16", "--model", "deepseek-v2-lite"]
    args += ["--prompt-len", "256", "--gen-len", "8", "--batch", "1,4", "--memory-gb", "80"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = {
        "ttft_s",
        "tpot_s",
        "tokens_per_s",
        "energy_per_token_pj",
        "kv_footprint_bytes",
        "max_batch",
    }
    assert [r["batch"] for r in out["rows"]] == [1, 4]
    assert all(keys <= set(r) for r in out["rows"])
    # MLA: 27 layers x (512 + 64) cached elements per token, 2 bytes each
    assert out["rows"][1]["kv_footprint_bytes"] == 4 * 264 * 27 * 576 * 2
    assert out["rows"][0]["max_batch"] == out["rows"][1]["max_batch"] > 100
    assert main([*args, "--mla-attention", "absorbed", "--json"]) == 0
    absorbed = json.loads(capsys.readouterr().out)
    assert absorbed["mla_attention"] == "absorbed" and out["mla_attention"] == "naive"
    assert absorbed["rows"][1]["kv_footprint_bytes"] == out["rows"][1]["kv_footprint_bytes"]
    assert absorbed["rows"][1]["tpot_s"] != out["rows"][1]["tpot_s"]
    assert main([*args, "--routing-skew", "1.5", "--json"]) == 0
    skewed = json.loads(capsys.readouterr().out)
    assert skewed["rows"][1]["tpot_s"] < out["rows"][1]["tpot_s"]  # fewer experts touched
    assert main(args) == 0
    assert "TTFT" in capsys.readouterr().out
    assert main([*args[:-2], "--batch", "0,x"]) == 2
    assert "--batch: must be ints >= 1" in capsys.readouterr().err
