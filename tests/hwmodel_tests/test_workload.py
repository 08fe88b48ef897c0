"""LLM workloads built from published model configs."""

from __future__ import annotations

import pytest

from hwmodel import Gemm, list_models, llm_workload, load_model
from mant.errors import InputError

REQUIRED = {
    "llama-7b",
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-8b",
    "opt-6.7b",
    "opt-13b",
    "smollm2-135m",
}


def test_required_models_are_shipped():
    assert REQUIRED <= set(list_models())


def _weight_macs_per_token(name):
    wl = llm_workload(name, phase="decode", seq_len=1, batch=1)
    return sum(g.macs * g.count for g in wl if g.operand == "weight")


def test_llama2_7b_decode_touches_every_linear_weight_once():
    # Llama-2-7b-hf has 6,738,415,616 parameters (Hugging Face safetensors metadata); minus the
    # input embedding 32000 x 4096 and the 65 RMSNorm vectors of 4096, the rest are the linear
    # weights (incl. the LM head) that one decoded token multiplies once.
    assert _weight_macs_per_token("llama-2-7b") == 6_738_415_616 - 32000 * 4096 - 65 * 4096


def test_smollm2_parameter_count():
    # real_models.md §4.1: 134.5 M parameters; the LM head is tied to the embedding, so
    # linear weights + embedding + 61 norm vectors of 576 make the total.
    total = _weight_macs_per_token("smollm2-135m") + 61 * 576
    assert total == pytest.approx(134.5e6, abs=0.05e6)


def test_gqa_attention_shapes_of_llama3_decode():
    cfg = load_model("llama-3-8b")
    wl = llm_workload("llama-3-8b", phase="decode", seq_len=4096, batch=2)
    qk = next(g for g in wl if g.name == "qk")
    pv = next(g for g in wl if g.name == "pv")
    group = cfg.heads // cfg.kv_heads
    assert (qk.m, qk.n, qk.k, qk.operand) == (group, 4096, cfg.head_dim, "kv")
    assert (pv.m, pv.n, pv.k) == (group, cfg.head_dim, 4096)
    assert qk.count == cfg.layers * 2 * cfg.kv_heads
    # every KV element is read once per step: K and V of all layers, heads and sequences
    kv_elems = sum(g.k * g.n * g.count for g in (qk, pv))
    assert kv_elems == 2 * cfg.layers * 2 * cfg.kv_heads * cfg.head_dim * 4096


def test_prefill_scales_with_tokens_and_opt_has_plain_ffn():
    a = llm_workload("opt-6.7b", phase="prefill", seq_len=128, batch=1)
    b = llm_workload("opt-6.7b", phase="prefill", seq_len=128, batch=4)
    assert {g.name for g in a} >= {"fc1", "fc2"} and "gate_proj" not in {g.name for g in a}
    fc1_a = next(g for g in a if g.name == "fc1")
    fc1_b = next(g for g in b if g.name == "fc1")
    assert fc1_b.macs == 4 * fc1_a.macs


def test_bad_workload_inputs():
    with pytest.raises(InputError) as err:
        llm_workload("llama-2-7b", phase="train", seq_len=0, batch=-1)
    assert {i.path for i in err.value.issues} == {"phase", "seq_len", "batch"}
    with pytest.raises(InputError, match="unknown model"):
        llm_workload("gpt-5")
    with pytest.raises(InputError) as err:
        Gemm(m=0, n=-1, k=4, operand="bias")
    assert {i.path for i in err.value.issues} == {"gemm.m", "gemm.n", "gemm.operand"}


@pytest.mark.parametrize(
    ("name", "d", "heads", "layers", "ffn", "params"),
    [
        # Touvron et al. 2023 Table 2 (d, heads, layers; 13.0B / 32.5B / 65.2B parameters);
        # FFN widths from the released checkpoints.
        ("llama-13b", 5120, 40, 40, 13824, 13.0e9),
        ("llama-30b", 6656, 52, 60, 17920, 32.5e9),
        ("llama-65b", 8192, 64, 80, 22016, 65.2e9),
    ],
)
def test_llama1_presets_match_the_paper(name, d, heads, layers, ffn, params):
    cfg = load_model(name)
    assert (cfg.hidden, cfg.heads, cfg.kv_heads, cfg.layers, cfg.ffn, cfg.vocab) == (
        d,
        heads,
        heads,
        layers,
        ffn,
        32000,
    )
    assert cfg.head_dim * cfg.heads == d
    # linear weights (LM head included) + input embedding + 2 norms per layer + final norm
    total = _weight_macs_per_token(name) + 32000 * d + (2 * layers + 1) * d
    assert total == pytest.approx(params, rel=0.005)


def test_scopes_split_linear_layers_from_attention():
    wl = llm_workload("llama-7b", phase="prefill", seq_len=2048)
    linear = wl.scope("linear_layers")
    whole = wl.scope("whole_model")
    attn = wl.attention()
    assert [g.name for g in attn] == ["qk", "pv"]
    assert {g.name for g in linear} == {g.name for g in wl} - {"qk", "pv"}
    assert whole.gemms == wl.gemms
    assert linear.macs + attn.macs == wl.macs
    assert (linear.model, linear.phase, linear.seq_len) == ("llama-7b", "prefill", 2048)
    with pytest.raises(InputError, match="scope: must be one of linear_layers, whole_model"):
        wl.scope("attention_only")


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_long_context_workloads_are_exact_and_small(phase):
    """128K tokens: the workload is the same 10 GEMM objects; MACs and KV traffic are exact."""
    from hwmodel import evaluate, evaluate_many, load_accelerator

    ctx = 131072
    wl = llm_workload("llama-7b", phase=phase, seq_len=ctx)
    assert len(wl) == len(llm_workload("llama-7b", phase=phase, seq_len=2048))
    attn = wl.attention()
    # decode: QK^T and PV each do 1 x ctx x 128 MACs per head and layer; prefill is causal
    # (issue 19 convention): query p sees p keys, ctx (ctx + 1) / 2 query-key pairs, not ctx^2
    pairs = ctx * (ctx + 1) // 2 if phase == "prefill" else ctx
    assert attn.macs == 2 * 32 * 32 * pairs * 128
    acc = load_accelerator("mant")
    base = acc.default_precision  # pinned at 4.25 bits per KV element for the hand figures
    prec = type(base)(**{**base.to_dict(), "kv_bits_per_element": 4.25, "act_bits_per_element": 8})
    cost = evaluate(acc, attn, prec)
    out = evaluate_many(acc, attn, prec, rows=[acc.array.rows], cols=[acc.array.cols])
    assert out["cycles"][0] == pytest.approx(cost.cycles, rel=1e-12)
    assert cost.macs == attn.macs  # Python ints: no overflow at 2.3e15 MACs
    if phase == "decode":
        # every K and V element of the 128K cache is read once: 2 x 32 layers x 32 heads x
        # 128 x 131072 elements at 4.25 bits, plus INT8 Q (128 B, read by QK^T) and
        # probabilities (131072 B, read by PV); scores and outputs are written
        kv_bytes = 2 * 32 * 32 * 128 * ctx * 4.25 / 8
        assert cost.dram_read_bytes == kv_bytes + 32 * 32 * (128 + ctx)
        assert cost.dram_write_bytes == 32 * 32 * (ctx + 128)


def test_long_context_vectorised_over_tiny_and_large_arrays_matches_scalar():
    """128K prefill on 1 x 1 .. 256 x 256 arrays: the int64 path equals the Python-int path."""
    import numpy as np

    from hwmodel import evaluate, evaluate_many, load_accelerator

    acc = load_accelerator("int8")
    wl = llm_workload("llama-65b", phase="prefill", seq_len=131072)
    rows, cols = np.array([1, 7, 256]), np.array([1, 300, 256])
    out = evaluate_many(acc, wl, rows=rows, cols=cols)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        one = evaluate(acc.with_array(rows=int(r), cols=int(c)), wl)
        assert out["cycles"][i] == pytest.approx(one.cycles, rel=1e-12)
        assert out["energy_pj"][i] == pytest.approx(one.energy_pj, rel=1e-9)
        assert 0 < out["utilization"][i] <= 1
