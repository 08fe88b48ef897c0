"""Model files of the 2024-25 families: config.json, GGUF and YAML with moe: / mla: (issue 19).

The config.json fixtures carry the released files' architecture keys (and a few of their
training-only keys, which must not warn); each must parse to the shipped preset.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
import yaml

from dse.cli import main
from dse.study.model_source import load_model_config
from hwmodel import load_model
from mant.errors import InputError

LLAMA31_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "rope_scaling": {"factor": 8.0, "rope_type": "llama3"},
    "attention_bias": False,
    "mlp_bias": False,
}
MISTRAL_7B = {
    "model_type": "mistral",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "sliding_window": 4096,
    "vocab_size": 32000,
    "tie_word_embeddings": False,
}
MIXTRAL = {
    "model_type": "mixtral",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "output_router_logits": False,
    "router_aux_loss_coef": 0.02,
    "sliding_window": None,
    "vocab_size": 32000,
    "tie_word_embeddings": False,
}
QWEN25_7B = {
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_attention_heads": 28,
    "num_hidden_layers": 28,
    "num_key_value_heads": 4,
    "sliding_window": 131072,
    "use_sliding_window": False,
    "max_window_layers": 28,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
}
QWEN3_MOE = {
    "model_type": "qwen3_moe",
    "hidden_size": 2048,
    "head_dim": 128,
    "intermediate_size": 6144,
    "moe_intermediate_size": 768,
    "num_attention_heads": 32,
    "num_hidden_layers": 48,
    "num_key_value_heads": 4,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [],
    "norm_topk_prob": True,
    "attention_bias": False,
    "use_sliding_window": False,
    "sliding_window": None,
    "vocab_size": 151936,
    "tie_word_embeddings": False,
}
# Qwen1.5-MoE-A2.7B (the Qwen2-MoE family): 60 experts of 1408, top-4, one gated shared expert
# of 5632 (Hugging Face Qwen/Qwen1.5-MoE-A2.7B config.json)
QWEN2_MOE = {
    "model_type": "qwen2_moe",
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "moe_intermediate_size": 1408,
    "shared_expert_intermediate_size": 5632,
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "num_key_value_heads": 16,
    "num_experts": 60,
    "num_experts_per_tok": 4,
    "decoder_sparse_step": 1,
    "vocab_size": 151936,
    "tie_word_embeddings": False,
}
DEEPSEEK_V2_LITE = {
    "model_type": "deepseek_v2",
    "hidden_size": 2048,
    "intermediate_size": 10944,
    "moe_intermediate_size": 1408,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "num_hidden_layers": 27,
    "n_routed_experts": 64,
    "n_shared_experts": 2,
    "num_experts_per_tok": 6,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "n_group": 1,
    "topk_group": 1,
    "topk_method": "greedy",
    "q_lora_rank": None,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "aux_loss_alpha": 0.001,
    "seq_aux": True,
    "vocab_size": 102400,
    "tie_word_embeddings": False,
}
DEEPSEEK_V3 = {
    **DEEPSEEK_V2_LITE,
    "model_type": "deepseek_v3",
    "hidden_size": 7168,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "num_attention_heads": 128,
    "num_key_value_heads": 128,
    "num_hidden_layers": 61,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3,
    "n_group": 8,
    "topk_group": 4,
    "topk_method": "noaux_tc",
    "num_nextn_predict_layers": 1,
    "q_lora_rank": 1536,
    "vocab_size": 129280,
}

FAMILIES = {
    "llama-3.1-8b": LLAMA31_8B,
    "mistral-7b": MISTRAL_7B,
    "mixtral-8x7b": MIXTRAL,
    "qwen2.5-7b": QWEN25_7B,
    "qwen3-30b-a3b": QWEN3_MOE,
    "deepseek-v2-lite": DEEPSEEK_V2_LITE,
    "deepseek-v3": DEEPSEEK_V3,
}


def _write(tmp_path, cfg, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return str(path)


def _shape(cfg):
    return dataclasses.replace(cfg, name="", source="", unmodelled=())


@pytest.mark.parametrize("preset", sorted(FAMILIES))
def test_config_json_of_each_family_gives_the_preset(tmp_path, preset):
    got = load_model_config(_write(tmp_path, FAMILIES[preset]))
    assert _shape(got) == _shape(load_model(preset))


def test_only_deepseek_v3_names_unmodelled_keys():
    for preset, cfg in FAMILIES.items():
        got = load_model_config(_write_tmp(cfg, preset))
        if preset == "deepseek-v3":
            text = " ".join(got.unmodelled)
            assert "num_nextn_predict_layers" in text and "topk_group" in text
        else:
            assert got.unmodelled == (), preset


def _write_tmp(cfg, preset):
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp()) / preset
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    return str(folder / "config.json")


def test_qwen2_moe_has_a_gated_shared_expert(tmp_path):
    cfg = load_model_config(_write(tmp_path, QWEN2_MOE))
    assert cfg.moe is not None
    assert (cfg.moe.num_experts, cfg.moe.top_k, cfg.moe.expert_ffn) == (60, 4, 1408)
    assert (cfg.moe.shared_ffn, cfg.moe.shared_gate, cfg.attention_bias) == (5632, True, True)
    # Qwen1.5-MoE-A2.7B: 14.3B total, 2.7B activated (model card)
    assert cfg.params_total == pytest.approx(14.3e9, rel=0.01)
    assert cfg.params_active == pytest.approx(2.7e9, rel=0.03)


def test_mixtral_config_with_expert_keys_removed_costs_less(tmp_path, capsys):
    dense = {k: v for k, v in MIXTRAL.items() if "expert" not in k}
    args = ["hw", "llm", "--accelerator", "fp16", "--phase", "decode", "--batch", "4", "--json"]
    assert main([*args, "--model", _write(tmp_path, MIXTRAL)]) == 0
    moe = json.loads(capsys.readouterr().out)
    (tmp_path / "d").mkdir()
    assert main([*args, "--model", _write(tmp_path / "d", dense)]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert moe["cycles"] != plain["cycles"] and moe["dram_bytes"] > 3 * plain["dram_bytes"]
    assert moe["params_total"] == pytest.approx(46.7e9, rel=0.01)


def test_unmodelled_key_warns_on_the_cli_and_is_in_the_json(tmp_path, capsys):
    cfg = {**LLAMA31_8B, "attention_chunk_size": 8192, "num_nextn_predict_layers": 2}
    path = _write(tmp_path, cfg)
    args = ["hw", "llm", "--accelerator", "fp16", "--model", path, "--phase", "decode", "--json"]
    with pytest.warns(UserWarning, match="attention_chunk_size = 8192 is not modelled"):
        assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert any("num_nextn_predict_layers" in m for m in out["unmodelled"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([*args[:5], "llama-3.1-8b", *args[6:]]) == 0  # a preset: no warning


def test_hw_llm_json_keys_with_fp16(capsys):
    args = ["hw", "llm", "--accelerator", "fp16", "--model", "qwen2.5-7b", "--json"]
    assert main([*args, "--phase", "decode", "--seq-len", "1000", "--batch", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    # Qwen2.5-7B: 28 layers, 4 KV heads of 128; 2 bytes per element
    assert out["kv_bytes"] == 2 * 2 * 1000 * 28 * 2 * 4 * 128
    assert out["params_total"] == load_model("qwen2.5-7b").params_total
    assert out["macs_attention"] == 2 * 28 * 28 * 1000 * 128 * 2
    linear_weights = out["params_total"] - 152064 * 3584 - 28 * (3584 + 1024) - 57 * 3584
    assert out["macs_linear"] == 2 * linear_weights  # biases and norms are not GEMMs
    assert out["weight_bytes"] == 2 * linear_weights


def test_yaml_model_with_moe_and_mla_sections(tmp_path):
    data = {
        "layers": 4,
        "hidden": 256,
        "heads": 4,
        "kv_heads": 4,
        "head_dim": 48,
        "ffn": 512,
        "vocab": 1000,
        "moe": {"num_experts": 16, "top_k": 2, "expert_ffn": 64, "shared_experts": 1},
        "mla": {
            "kv_lora_rank": 64,
            "qk_nope_head_dim": 32,
            "qk_rope_head_dim": 16,
            "v_head_dim": 32,
            "attention": "absorbed",
        },
    }
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(data))
    cfg = load_model_config(str(tmp_path / "toy.yaml"))
    assert cfg.moe.shared_ffn == 64 and cfg.mla.attention == "absorbed"
    assert cfg.kv_elements_per_token == 4 * (64 + 16)
    bad = {**data, "moe": {"num_experts": 4, "top_k": 8, "expert_ffn": 0, "experts": 3}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError) as err:
        load_model_config(str(tmp_path / "bad.yaml"))
    assert "unknown key" in str(err.value) and "experts" in str(err.value)
    bad["moe"] = {"num_experts": 4, "top_k": 8, "expert_ffn": 0}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError) as err:
        load_model_config(str(tmp_path / "bad.yaml"))
    text = str(err.value)
    assert "moe.top_k: must be <= num_experts (4)" in text
    assert "moe.expert_ffn: must be an int >= 1" in text


def test_gguf_header_with_experts_and_mla(tmp_path):
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / "ds.gguf"
    w = gguf.GGUFWriter(str(path), "deepseek2")
    w.add_name("tiny-deepseek")
    a = "deepseek2"
    for key, value in {
        "block_count": 27,
        "embedding_length": 2048,
        "feed_forward_length": 10944,
        "attention.head_count": 16,
        "attention.head_count_kv": 16,
        "attention.key_length": 192,
        "attention.value_length": 128,
        "attention.kv_lora_rank": 512,
        "rope.dimension_count": 64,
        "expert_count": 64,
        "expert_used_count": 6,
        "expert_shared_count": 2,
        "expert_feed_forward_length": 1408,
        "leading_dense_block_count": 1,
        "vocab_size": 102400,
    }.items():
        w.add_uint32(f"{a}.{key}", value)
    w.add_tensor("output.weight", np.zeros((2, 2), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    got = load_model_config(str(path))
    assert _shape(got) == _shape(load_model("deepseek-v2-lite"))


def test_a_study_names_unmodelled_keys_in_a_warning_and_the_report_context(tmp_path):
    from dse.report.info import _unmodelled_text
    from dse.study.spec import parse_spec

    path = _write(tmp_path, DEEPSEEK_V3)
    data = {
        "version": 1,
        "name": "v3",
        "workload": {"model": path, "phase": "decode", "seq_len": 128},
        "space": {"pe_type": ["mant"], "rows": [64], "cols": [47]},
        "objectives": ["latency_s"],
    }
    with pytest.warns(UserWarning, match="num_nextn_predict_layers"):
        spec = parse_spec(data)
    assert "topk_group" in _unmodelled_text(spec)
    assert _unmodelled_text(parse_spec({**data, "workload": {"model": "deepseek-v3"}})) == ""


def test_gguf_header_of_mixtral_and_qwen2_moe(tmp_path):
    gguf = pytest.importorskip("gguf")
    import numpy as np

    def write(name, arch, keys):
        path = tmp_path / name
        w = gguf.GGUFWriter(str(path), arch)
        for key, value in keys.items():
            w.add_uint32(f"{arch}.{key}", value)
        w.add_tensor("output.weight", np.zeros((2, 2), dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return load_model_config(str(path))

    common = {"block_count": 32, "embedding_length": 4096, "attention.head_count": 32}
    mixtral = write(
        "mixtral.gguf",
        "llama",
        {
            **common,
            "attention.head_count_kv": 8,
            "feed_forward_length": 14336,
            "expert_count": 8,
            "expert_used_count": 2,
            "vocab_size": 32000,
        },
    )
    assert _shape(mixtral) == _shape(load_model("mixtral-8x7b"))
    qwen = write(
        "qwen.gguf",
        "qwen2moe",
        {
            "block_count": 24,
            "embedding_length": 2048,
            "attention.head_count": 16,
            "attention.head_count_kv": 16,
            "feed_forward_length": 5632,
            "expert_count": 60,
            "expert_used_count": 4,
            "expert_feed_forward_length": 1408,
            "expert_shared_feed_forward_length": 5632,
            "vocab_size": 151936,
        },
    )
    from_json = load_model_config(_write(tmp_path, QWEN2_MOE))
    assert _shape(dataclasses.replace(qwen, attention_bias=True)) == _shape(from_json)


@pytest.mark.parametrize(
    ("extra", "window", "named"),
    [
        ({"use_sliding_window": False, "max_window_layers": 28}, None, False),
        ({"use_sliding_window": True, "max_window_layers": 28}, None, False),  # no layer
        ({"use_sliding_window": True, "max_window_layers": 0}, 4096, False),  # every layer
        ({"use_sliding_window": True, "max_window_layers": 20}, None, True),  # 8 of 28 layers
    ],
)
def test_qwen2_sliding_window_follows_max_window_layers(tmp_path, extra, window, named):
    cfg = load_model_config(_write(tmp_path, {**QWEN25_7B, "sliding_window": 4096, **extra}))
    assert cfg.sliding_window == window
    assert any("max_window_layers" in m for m in cfg.unmodelled) == named
