"""A user's own checkpoint (Hugging Face folder), the torch backend, and thread reproducibility.

Two checkpoints are written into tmp folders: SmolLM2-135M dequantized from the GGUF asset (fp32,
llama family, tied head) and a tiny random Qwen2-style model (q/k/v biases, GQA, untied head,
rope_theta 1e6, bf16 in two shards). The tiny model is also checked against an independent
forward written here in the Hugging Face layout (rotate-half RoPE, repeat_kv), so that the q/k
permutation and the biases are tested by something other than the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main
from llmrun import load_model, perplexity
from llmrun.hf import load_hf_model, save_hf_checkpoint
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel
from llmrun.text import build_tokenizer, corpus_text, encode
from mant.errors import InputError
from mant.tensor_io import load_tensor


@pytest.fixture
def needs_torch():
    """The torch backend's tests; CI installs the [torch] extra, so they run there."""
    return pytest.importorskip("torch")


TINY_TEXT = "It is a truth universally acknowledged, that a single man in possession " * 40


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smollm2-hf")
    save_hf_checkpoint(load_model(), folder, tokenizer=build_tokenizer("smollm2-135m"))
    (folder / "pride.txt").write_text(corpus_text("austen-pride")[:20_000], encoding="utf-8")
    return folder


def _byte_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def _tiny_qwen2(rng: np.random.Generator, *, llama3: bool = False) -> LlamaModel:
    """Qwen2-style (q/k/v biases, untied head); ``llama3``: Llama-3.1-style instead (no biases,
    tied head, llama3 RoPE scaling with an original context of 64 so that each of its three
    frequency bands holds some of the 16 frequencies)."""
    cfg = LlamaConfig(
        n_layers=2,
        d_model=64,
        n_heads=4,
        n_kv_heads=2,
        d_ffn=128,
        vocab_size=256,
        rms_eps=1e-6,
        rope_base=1e6,
        context_length=4096,
        rope_scaling=(8.0, 1.0, 4.0, 64.0) if llama3 else None,
    )

    def w(*shape: int, scale: float = 0.125) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    layers = tuple(
        LayerWeights(
            attn_norm=1 + w(64),
            wq=w(64, 64),
            wk=w(32, 64),
            wv=w(32, 64),
            wo=w(64, 64),
            ffn_norm=1 + w(64),
            w_gate=w(128, 64),
            w_up=w(128, 64),
            w_down=w(64, 128),
            bq=None if llama3 else w(64, scale=0.5),
            bk=None if llama3 else w(32, scale=0.5),
            bv=None if llama3 else w(32, scale=0.5),
        )
        for _ in range(cfg.n_layers)
    )
    return LlamaModel(
        name="tiny-qwen2",
        config=cfg,
        tok_embd=w(256, 64, scale=1.0),
        output_norm=1 + w(64),
        layers=layers,
        output=None if llama3 else w(256, 64, scale=1.0),
    )


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    model = _tiny_qwen2(np.random.default_rng(0))
    save_hf_checkpoint(
        model, folder, tokenizer=_byte_tokenizer(), family="qwen2", dtype="BF16", shards=2
    )
    (folder / "text.txt").write_text(TINY_TEXT, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def llama3_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama3")
    model = _tiny_qwen2(np.random.default_rng(1), llama3=True)
    save_hf_checkpoint(model, folder, tokenizer=_byte_tokenizer(), dtype="F16", shards=2)
    return folder


def _reference_inv_freq(cfg: dict, hd: int) -> np.ndarray:
    """RoPE frequencies with Llama-3.1's scaling written out per frequency, as published."""
    inv = cfg["rope_theta"] ** (-np.arange(0, hd, 2) / hd)
    sc = cfg.get("rope_scaling")
    if not sc:
        return inv
    old = sc["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / sc["low_freq_factor"], old / sc["high_freq_factor"]
    out = []
    for f in inv:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / sc["factor"])
        else:
            s = old / wavelen - sc["low_freq_factor"]
            s /= sc["high_freq_factor"] - sc["low_freq_factor"]
            out.append((1 - s) * f / sc["factor"] + s * f)
    return np.array(out)


def _hf_reference_nll(folder, tokens: np.ndarray) -> tuple[float, int]:
    """Summed NLL of one window by a float64 forward in the Hugging Face layout, reading the
    checkpoint's tensors as stored (no permutation)."""
    cfg = json.loads((folder / "config.json").read_text())
    index = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]

    def t(name: str) -> np.ndarray:
        return load_tensor(folder / index[name], name).array.astype(np.float64)

    def bias(name: str) -> np.ndarray | float:
        return t(name) if name in index else 0.0

    h, hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg["hidden_size"]
    hd, eps, n = d // h, cfg["rms_norm_eps"], len(tokens)
    ang = np.arange(n)[:, None] * _reference_inv_freq(cfg, hd)[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, axis=-1)
    sin = np.concatenate([np.sin(ang)] * 2, axis=-1)

    def rot(x):  # rotate_half
        return np.concatenate([-x[..., hd // 2 :], x[..., : hd // 2]], axis=-1)

    def norm(x, wt):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * wt

    x = t("model.embed_tokens.weight")[tokens]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = norm(x, t(p + "input_layernorm.weight"))
        q, k, v = (
            (a @ t(p + f"self_attn.{s}_proj.weight").T + bias(p + f"self_attn.{s}_proj.bias"))
            .reshape(n, -1, hd)
            .transpose(1, 0, 2)
            for s in "qkv"
        )
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = np.repeat(k, h // hkv, axis=0), np.repeat(v, h // hkv, axis=0)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + np.triu(np.full((n, n), -np.inf), 1)
        s = np.exp(s - s.max(-1, keepdims=True))
        o = (s / s.sum(-1, keepdims=True)) @ v
        x = x + o.transpose(1, 0, 2).reshape(n, d) @ t(p + "self_attn.o_proj.weight").T
        f = norm(x, t(p + "post_attention_layernorm.weight"))
        g, u = f @ t(p + "mlp.gate_proj.weight").T, f @ t(p + "mlp.up_proj.weight").T
        x = x + (g / (1 + np.exp(-g)) * u) @ t(p + "mlp.down_proj.weight").T
    head = "lm_head.weight" if "lm_head.weight" in index else "model.embed_tokens.weight"
    logits = norm(x, t("model.norm.weight")) @ t(head).T
    logits = logits[:-1] - logits[:-1].max(-1, keepdims=True)
    lse = np.log(np.exp(logits).sum(-1))
    return float(np.sum(lse - logits[np.arange(n - 1), tokens[1:]])), n - 1


def _cli(capsys, *argv: str) -> dict:
    assert main(["ppl", *argv, "--json", "--no-baseline"]) == 0
    return json.loads(capsys.readouterr().out)


# --- SmolLM2 as a Hugging Face checkpoint --------------------------------------------------------


def test_smollm2_checkpoint_loads_the_gguf_weights_back(smol_dir):
    gguf, hf = load_model(), load_hf_model(smol_dir)
    assert hf.config == gguf.config and hf.output is None  # tied head
    for f in LayerWeights.__slots__:
        a, b = getattr(gguf.layers[7], f), getattr(hf.layers[7], f)
        assert (a is None and b is None) or np.array_equal(a, b), f
    text = corpus_text("austen-pride")[:2000]
    np.testing.assert_array_equal(encode(text, str(smol_dir)), encode(text, "smollm2-135m"))


def test_smollm2_checkpoint_perplexity_is_the_gguf_perplexity(smol_dir):
    ours = perplexity(model=str(smol_dir), windows=2, window_len=128, threads=1)
    ref = perplexity(windows=2, window_len=128, threads=1)
    assert ours.ppl == ref.ppl and ours.tokens == 254
    assert ours.weights == "stored (F32 weights)"


def test_backends_agree_on_smollm2(needs_torch, smol_dir, capsys):
    base = ["--model", str(smol_dir), "--text", str(smol_dir / "pride.txt"), "--context", "128"]
    base += ["--max-windows", "2"]
    np_fp = _cli(capsys, *base, "--backend", "numpy")
    torch_fp = _cli(capsys, *base, "--backend", "torch", "--device", "cpu")
    assert np_fp["n_tokens"] == torch_fp["n_tokens"] == 2 * 127
    assert torch_fp["ppl"] == pytest.approx(np_fp["ppl"], rel=1e-4)
    # W4 weights, INT8 activations and the authors' KV4 cache through the same mant quantizers;
    # float64 keeps last-bit differences of the two BLAS from flipping a quantizer's rounding
    quant = [*base, "--recipe", "mant-hpca25", "--weights", "int4:g64", "--dtype", "float64"]
    np_q = _cli(capsys, *quant, "--backend", "numpy")
    torch_q = _cli(capsys, *quant, "--backend", "torch", "--device", "cpu")
    assert torch_q["ppl"] == pytest.approx(np_q["ppl"], rel=1e-4)
    assert np_q["ppl"] > np_fp["ppl"] * 1.01  # the recipe did quantize


# --- a tiny Qwen2-style checkpoint ---------------------------------------------------------------


def test_tiny_qwen2_matches_an_independent_hf_layout_forward(qwen_dir):
    model = load_hf_model(qwen_dir)
    assert model.output is not None and model.layers[0].bq is not None
    assert model.stored_types["model.layers.0.self_attn.q_proj.bias"] == "BF16"
    tokens = encode(TINY_TEXT, str(qwen_dir))[:96]
    ref_nll, n = _hf_reference_nll(qwen_dir, tokens)
    r = perplexity(model=str(qwen_dir), text=qwen_dir / "text.txt", windows=1, window_len=96,
                   dtype="float64", threads=1)  # fmt: skip
    assert r.tokens == n == 95
    assert r.nll == pytest.approx(ref_nll, rel=1e-10)


def test_llama3_rope_scaling_matches_the_published_rule(needs_torch, llama3_dir):
    model = load_hf_model(llama3_dir)
    assert model.config.rope_scaling == (8.0, 1.0, 4.0, 64.0) and model.output is None
    tokens = encode(TINY_TEXT, str(llama3_dir))[:200]
    ref_nll, _ = _hf_reference_nll(llama3_dir, tokens)
    (llama3_dir / "t.txt").write_text(TINY_TEXT, encoding="utf-8")
    for backend in ("numpy", "torch"):
        r = perplexity(model=str(llama3_dir), text=llama3_dir / "t.txt", windows=1,
                       window_len=200, dtype="float64", threads=1, backend=backend)  # fmt: skip
        assert r.nll == pytest.approx(ref_nll, rel=1e-10), backend


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backends_agree_on_tiny_qwen2(needs_torch, qwen_dir, capsys, dtype):
    argv = ["--model", str(qwen_dir), "--text", str(qwen_dir / "text.txt"), "--context", "256"]
    argv += ["--max-windows", "3", "--dtype", dtype]
    if dtype == "float64":  # quantized: INT4 weights, INT8 activations, KV4
        argv += ["--recipe", "mant-hpca25", "--weights", "int4:g32"]
    np_r = _cli(capsys, *argv, "--backend", "numpy")
    torch_r = _cli(capsys, *argv, "--backend", "torch", "--device", "cpu")
    assert np_r["n_tokens"] == 3 * 255 and np_r["windows"] == 3
    assert torch_r["ppl"] == pytest.approx(np_r["ppl"], rel=1e-4)
    assert torch_r["backend"] == "torch" and torch_r["device"] == "cpu"


def test_default_protocol_for_a_user_model_is_2048_and_every_window(qwen_dir, capsys):
    text = qwen_dir / "long.txt"
    text.write_text(TINY_TEXT * 3, encoding="utf-8")  # 8880 bytes: 4 windows of 2048
    out = _cli(capsys, "--model", str(qwen_dir), "--text", str(text))
    assert (out["window_len"], out["windows"], out["n_tokens"]) == (2048, 4, 4 * 2047)
    # --max-windows takes at most W; --windows insists on W
    out = _cli(capsys, "--model", str(qwen_dir), "--text", str(text), "--max-windows", "9")
    assert out["windows"] == 4
    with pytest.raises(InputError):
        perplexity(model=str(qwen_dir), text=text, windows=9, window_len=2048)


def test_unsupported_checkpoints_say_why(qwen_dir, tmp_path):
    cfg = json.loads((qwen_dir / "config.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg |= {"model_type": "gpt2", "rope_scaling": {"rope_type": "yarn", "factor": 8.0}}
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError) as info:
        load_hf_model(bad)
    paths = " ".join(i.path for i in info.value.issues)
    assert "model_type" in paths and "rope_scaling" in paths


# --- reproducible numbers ------------------------------------------------------------------------


def test_quantized_perplexity_is_bitwise_the_same_for_any_thread_count(capsys):
    # Tender's W4A4 activations are the setting whose perplexity once depended on the BLAS
    # thread count (issue 21); the weights stay as stored to keep the test short
    argv = ["--recipe", "tender-w4a4", "--weights", "fp", "--windows", "3", "--window-len", "128"]
    one = _cli(capsys, *argv, "--threads", "1")
    two = _cli(capsys, *argv, "--threads", "2")
    assert one["ppl"] == two["ppl"] and (one["threads"], two["threads"]) == (1, 2)


# --- the perplexity accuracy source of a study ---------------------------------------------------


def test_study_perplexity_source_runs_a_checkpoint_on_torch(needs_torch, qwen_dir):
    from dse.evaluate.accuracy import make_accuracy_source
    from dse.evaluate.cache import QuantCache
    from dse.study.spec import parse_spec
    from dse.study.spec_dict import spec_to_dict
    from mant.recipes import named_recipe

    text = str(qwen_dir / "text.txt")
    accuracy = {"source": "perplexity", "ppl_windows": 1, "model": str(qwen_dir)}
    accuracy |= {"backend": "torch", "text": text}
    spec = parse_spec(
        {
            "version": 1,
            "name": "byo-ppl",
            "n_trials": 1,
            "workload": {"model": "llama-2-7b", "phase": "decode", "seq_len": 256},
            "accuracy": accuracy,
            "space": {"kv_bits": [4]},
            "objectives": ["ppl", "latency_s"],
        }
    )
    assert (spec.accuracy.model, spec.accuracy.backend) == (str(qwen_dir), "torch")
    assert spec_to_dict(spec)["accuracy"]["text"] == text
    source = make_accuracy_source(spec.accuracy)
    got = source.recipe_metrics(named_recipe("int4-g64"), QuantCache(None))
    ref = perplexity(model=str(qwen_dir), text=text, windows=1, window_len=512, recipe="int4-g64")
    assert got["ppl"] == pytest.approx(ref.ppl, rel=1e-4)
    bad = {"source": "perplexity", "model": str(qwen_dir / "nope"), "backend": "jax"}
    with pytest.raises(InputError) as info:
        parse_spec({**spec_to_dict(spec), "accuracy": bad})
    assert {i.path for i in info.value.issues} >= {"accuracy.model", "accuracy.backend"}


# --- GPTQ / AWQ weights calibrated block by block (issue 21 §2) -------------------------------


def test_a_gptq_recipe_runs_on_a_checkpoint(qwen_dir, capsys):
    argv = ["--model", str(qwen_dir), "--text", str(qwen_dir / "text.txt"), "--context", "128"]
    argv += ["--max-windows", "1"]
    rtn = _cli(capsys, *argv, "--recipe", "mant-w4a16")
    gptq = _cli(capsys, *argv, "--recipe", "mant-w4a16-gptq")
    assert "gptq" in gptq["weights"] and "gptq" not in rtn["weights"], gptq
    assert gptq["ppl"] != rtn["ppl"]  # another weight set
    # a second run reads the quantized weights back from the cache: the same perplexity
    assert _cli(capsys, *argv, "--recipe", "mant-w4a16-gptq")["ppl"] == gptq["ppl"]


def test_gptq_weights_are_handed_to_the_torch_backend(needs_torch, qwen_dir, capsys):
    argv = ["--model", str(qwen_dir), "--text", str(qwen_dir / "text.txt"), "--context", "128"]
    argv += ["--max-windows", "1", "--recipe", "mant-w4a16-gptq", "--dtype", "float64"]
    np_r = _cli(capsys, *argv, "--backend", "numpy")
    torch_r = _cli(capsys, *argv, "--backend", "torch", "--device", "cpu")
    assert torch_r["ppl"] == pytest.approx(np_r["ppl"], rel=1e-9)
