"""Model shapes from anywhere: a shipped preset, a model YAML, a ``config.json`` or a GGUF header.

``workload.model`` in a study, ``mant-dse hw llm|serve --model`` and ``mant-dse evaluate --model``
all take the same value, parsed here into one :class:`hwmodel.ModelConfig`:

- a preset name (``hwmodel/data/models/*.yaml``: ``llama-2-7b``, ``mixtral-8x7b``, ...);
- a ``.yaml`` / ``.yml`` file with the preset schema (:func:`hwmodel.model_from_dict`:
  ``layers``, ``hidden``, ``heads``, ``kv_heads``, ``head_dim``, ``ffn``, ``vocab``, optional
  ``ffn_kind``, ``sliding_window``, ``tied_embeddings``, ``attention_bias``, ``moe:``, ``mla:``);
- a Hugging Face ``config.json`` of the Llama, Mistral, Mixtral, Qwen2, Qwen2-MoE, Qwen3-MoE and
  DeepSeek-V2/V3 families (and OPT/GPT-2 spellings), experts, MLA ranks and windows included;
- a ``.gguf`` file: its header metadata (block count, widths, heads, expert and MLA keys);
  tensors are not read (only their names, for tied embeddings and q/k/v biases).

Keys of a config.json or GGUF header that change the compute but are not modelled are kept as
messages in ``ModelConfig.unmodelled`` (:func:`warn_unmodelled` turns them into warnings);
docs/inputs.md lists what is read per family.

Example:
    >>> load_model_config("smollm2-135m").kv_heads
    3
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Any

from mant.errors import InputError

__all__ = ["load_model_config", "model_label", "warn_unmodelled"]

_INT_KEYS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
# far beyond any model there is, small enough that workload counts stay exact in float64
_PLAIN_ARCHS = ("opt", "gpt2", "gptj", "gpt_neox", "bloom", "falcon", "phi")


def model_label(value: Any) -> str:
    """The name a workload is shown with (a preset name or the file's model name)."""
    return load_model_config(value).name


def warn_unmodelled(model: Any) -> None:
    """One warning per key of the model file that changes the compute and is not modelled."""
    for message in model.unmodelled:
        warnings.warn(f"model {model.name}: {message}", UserWarning, stacklevel=2)


def load_model_config(value: Any, path: str = "model") -> Any:
    """A :class:`hwmodel.ModelConfig` from a preset name or a model file (see module doc).

    Raises:
        InputError: unknown preset, missing or unreadable file, unsupported architecture, or a
            field that is missing, not an int >= 1, or inconsistent (one issue per problem).
    """
    from hwmodel import ModelConfig, list_models, load_model

    if isinstance(value, ModelConfig):
        return value
    if not isinstance(value, str | Path) or not str(value):
        raise InputError.single(path, "must be a model preset name or a model file", value)
    text = str(value)
    if text in list_models():
        return load_model(text)
    p = Path(text)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json", ".gguf"):
        raise InputError.single(
            path,
            "unknown model: must be a preset (" + ", ".join(list_models()) + ") or a .yaml, "
            "config.json or .gguf file",
            text,
        )
    if not p.is_file():
        raise InputError.single(path, "must be an existing model file", text)
    return _load_file(str(p.resolve()), path)


@functools.lru_cache(maxsize=32)
def _load_file(file: str, path: str) -> Any:
    p = Path(file)
    suffix = p.suffix.lower()
    if suffix == ".gguf":
        data = _from_gguf(p)
    else:
        try:
            raw = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise InputError.single(file, f"cannot read model file ({reason})", file) from None
        if suffix == ".json":
            from mant.yaml_input import MAX_DEPTH, check_depth

            try:
                cfg = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError.single(file, "is not valid JSON", str(exc)) from None
            except RecursionError:
                raise InputError.single(
                    file, f"is nested more than {MAX_DEPTH} levels deep", "..."
                ) from None
            check_depth(cfg, where=file)
            data = _from_hf_config(cfg, file, p)
        else:
            from mant.yaml_input import load_yaml_text

            data = load_yaml_text(raw, where=file)
            if not isinstance(data, dict):
                raise InputError.single(file, "must be a mapping of model fields", data)
            data = {"name": p.stem, "source": f"model file {p.name}", **data}
    return _config(data, file)


def _config(data: dict, where: str) -> Any:
    from hwmodel.model_config import model_from_dict

    unmodelled = tuple(data.pop("_unmodelled", ()))
    return model_from_dict(data, where, sep=": ", unmodelled=unmodelled)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _or(value: Any, default: Any) -> Any:
    """``value`` unless it is absent (None): a 0 stays 0 and is rejected, not replaced."""
    return default if value is None else value


def _first(cfg: dict, *keys: str) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    return None


# Keys of a config.json that change neither the GEMMs nor the bytes of a step (training,
# numerics of routing weights, tokenizer, RoPE): read and deliberately not modelled.
_BENIGN_KEYS = frozenset(
    {
        "norm_topk_prob",
        "output_router_logits",
        "router_aux_loss_coef",
        "router_jitter_noise",
        "routed_scaling_factor",
        "scoring_func",
        "topk_method",
        "aux_loss_alpha",
        "seq_aux",
        "ep_size",
        "use_sliding_window",
        "max_window_layers",
        "n_group",
        "topk_group",
        "decoder_sparse_step",
        "mlp_only_layers",
        "moe_layer_freq",
        "first_k_dense_replace",
        "num_experts_per_tok",
        "num_local_experts",
        "num_experts",
        "n_routed_experts",
        "n_shared_experts",
        "moe_intermediate_size",
        "shared_expert_intermediate_size",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "sliding_window",
        "attention_dropout",
        "layer_types",
    }
)
_HANDLED = _BENIGN_KEYS | {"num_nextn_predict_layers"}
# Substrings of keys that usually change the compute (a new architecture feature): such a key
# that is neither modelled nor known benign is named in a warning, never ignored silently.
_SUSPECT_PARTS = (
    "expert",
    "moe",
    "lora",
    "window",
    "sparse",
    "nextn",
    "chunk",
    "router",
    "dense",
    "shared",
    "mtp",
    "cross_attention",
    "linear_attn",
    "mamba",
    "ssm",
    "conv",
    "layer_types",
    "local_attention",
    "global_attention",
)


def _unmodelled_keys(cfg: dict, model_type: str) -> list[str]:
    """Messages for keys of ``cfg`` that change the compute and are not modelled."""
    out = []
    for key in sorted(cfg):
        if key in _HANDLED or cfg[key] in (None, False, 0, [], {}):
            continue
        if any(part in key.lower() for part in _SUSPECT_PARTS):
            out.append(f"{key} = {cfg[key]!r} is not modelled")
    layers = cfg.get("num_hidden_layers")
    if cfg.get("num_nextn_predict_layers"):
        out.append(
            f"num_nextn_predict_layers = {cfg['num_nextn_predict_layers']} "
            "(multi-token-prediction module) is not modelled"
        )
    if cfg.get("mlp_only_layers"):
        out.append(f"mlp_only_layers = {cfg['mlp_only_layers']!r} is not modelled (all MoE)")
    for key in ("decoder_sparse_step", "moe_layer_freq"):
        if cfg.get(key) not in (None, 1):
            out.append(f"{key} = {cfg[key]!r} is not modelled (every layer MoE)")
    ng, tg = cfg.get("n_group"), cfg.get("topk_group")
    if isinstance(ng, int) and isinstance(tg, int) and 1 <= tg < ng:
        out.append(
            f"n_group = {ng}, topk_group = {tg} (group-limited routing) is not modelled "
            "(routing over all experts assumed)"
        )
    if cfg.get("use_sliding_window") and isinstance(layers, int):
        mwl = cfg.get("max_window_layers")
        if isinstance(mwl, int) and 0 < mwl < layers:
            out.append(
                f"max_window_layers = {mwl} with use_sliding_window (a window on some layers "
                "only) is not modelled (full attention on every layer)"
            )
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(set(map(str, types))) > 1:
        out.append(f"layer_types mixes {sorted(set(map(str, types)))}: not modelled")
    return out


def _window(cfg: dict, model_type: str) -> Any:
    """The sliding window when every layer uses it, else None (partial windows are named)."""
    window = cfg.get("sliding_window")
    if window is None:
        return None
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:
        return window if all(t == "sliding_attention" for t in types) else None
    if model_type.startswith("qwen"):
        # Qwen2: layers from index max_window_layers on use the window (HF Qwen2 layer_types)
        if not cfg.get("use_sliding_window"):
            return None
        mwl = cfg.get("max_window_layers") or 0
        layers = cfg.get("num_hidden_layers")
        if isinstance(layers, int) and isinstance(mwl, int) and mwl > 0:
            return None  # no layer (mwl >= layers) or some layers only (named as unmodelled)
    return window


def _moe_section(cfg: dict, model_type: str) -> dict | None:
    experts = _first(cfg, "num_local_experts", "n_routed_experts", "num_experts")
    if not experts or not cfg.get("num_experts_per_tok"):
        return None
    moe: dict[str, Any] = {
        "num_experts": experts,
        "top_k": cfg["num_experts_per_tok"],
        "expert_ffn": _first(cfg, "moe_intermediate_size", "intermediate_size"),
    }
    shared = cfg.get("n_shared_experts") or 0
    if shared:
        moe["shared_experts"] = shared
        moe["shared_ffn"] = shared * moe["expert_ffn"]
    if cfg.get("shared_expert_intermediate_size"):
        moe["shared_experts"] = 1
        moe["shared_ffn"] = cfg["shared_expert_intermediate_size"]
        moe["shared_gate"] = model_type.startswith("qwen2_moe")
    if cfg.get("first_k_dense_replace"):
        moe["first_dense_layers"] = cfg["first_k_dense_replace"]
    return moe


def _mla_section(cfg: dict) -> dict | None:
    if not cfg.get("kv_lora_rank"):
        return None
    return {
        "q_lora_rank": cfg.get("q_lora_rank") or 0,
        "kv_lora_rank": cfg["kv_lora_rank"],
        "qk_nope_head_dim": cfg.get("qk_nope_head_dim"),
        "qk_rope_head_dim": cfg.get("qk_rope_head_dim"),
        "v_head_dim": cfg.get("v_head_dim"),
    }


def _from_hf_config(cfg: Any, file: str, p: Path) -> dict:
    if not isinstance(cfg, dict):
        raise InputError.single(file, "must be a JSON object (a Hugging Face config.json)", cfg)
    text_config = cfg.get("text_config")
    if text_config is not None and not isinstance(text_config, dict):
        raise InputError.single(f"{file}: text_config", "must be a mapping", text_config)
    cfg = {**cfg, **(text_config or {})}
    archs_raw = cfg.get("architectures")
    archs = [str(a).lower() for a in archs_raw] if isinstance(archs_raw, list) else []
    model_type = str(cfg.get("model_type", archs[0] if archs else "")).lower()
    if "encoder" in model_type or cfg.get("is_encoder_decoder"):
        raise InputError.single(
            f"{file}: model_type", "must be a decoder-only transformer", model_type
        )
    heads = _first(cfg, "num_attention_heads", "n_head", "num_heads")
    hidden = _first(cfg, "hidden_size", "n_embd", "d_model")
    data: dict[str, Any] = {
        "name": str(cfg.get("_name_or_path") or p.parent.name or p.stem).rsplit("/", 1)[-1],
        "source": f"config.json ({model_type or 'unknown type'})",
        "layers": _first(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": _or(_first(cfg, "num_key_value_heads", "multi_query_group_num"), heads),
        "ffn": _first(cfg, "intermediate_size", "ffn_dim", "n_inner"),
        "vocab": cfg.get("vocab_size"),
        "ffn_kind": "plain" if model_type.startswith(_PLAIN_ARCHS) else "gated",
    }
    head_dim = cfg.get("head_dim")
    if head_dim is None and _is_int(hidden) and _is_int(heads) and heads > 0:
        head_dim = hidden // heads
    data["head_dim"] = head_dim
    if data["ffn"] is None and _is_int(hidden):
        data["ffn"] = 4 * hidden  # GPT-2 leaves n_inner null: 4 x hidden
    if cfg.get("tie_word_embeddings"):
        data["tied_embeddings"] = True
    if cfg.get("attention_bias") or model_type in ("qwen2", "qwen2_moe"):
        data["attention_bias"] = True
    window = _window(cfg, model_type)
    if window is not None:
        data["sliding_window"] = window
    moe = _moe_section(cfg, model_type)
    if moe is not None:
        data["moe"] = moe
    mla = _mla_section(cfg)
    if mla is not None:
        data["mla"] = mla
        data["kv_heads"] = heads  # MLA: every head has its own K/V after the up-projection
        nope, rope = mla["qk_nope_head_dim"], mla["qk_rope_head_dim"]
        if isinstance(nope, int) and isinstance(rope, int):
            data["head_dim"] = nope + rope
    if hidden is not None and heads is not None and not (_is_int(hidden) and _is_int(heads)):
        # derived from a hidden size or head count of the wrong type: _config reports those
        # fields themselves, not "lacks head_dim"
        data["head_dim"] = 1 if data["head_dim"] is None else data["head_dim"]
        data["ffn"] = 1 if data["ffn"] is None else data["ffn"]
    missing = [k for k in _INT_KEYS if data.get(k) is None]
    if missing:
        raise InputError.single(
            file, "lacks the fields of a decoder-only transformer config", ", ".join(missing)
        )
    data["_unmodelled"] = _unmodelled_keys(cfg, model_type)
    return data


def _from_gguf(p: Path) -> dict:
    try:
        from mant.file_headers import open_gguf

        reader = open_gguf(p)
    except Exception as exc:  # corrupt or not a GGUF: bad input, not a bug
        raise InputError.single(
            str(p), "must be a readable GGUF file", f"{type(exc).__name__}: {exc}"
        ) from None

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not isinstance(arch, str) or field(f"{arch}.block_count") is None:
        raise InputError.single(
            f"{p}: general.architecture",
            "must be a decoder-only transformer with <arch>.block_count metadata",
            arch,
        )
    heads = field(f"{arch}.attention.head_count")
    hidden = field(f"{arch}.embedding_length")
    head_dim = field(f"{arch}.attention.key_length")
    if head_dim is None and _is_int(hidden) and _is_int(heads) and heads > 0:
        head_dim = hidden // heads
    vocab = field(f"{arch}.vocab_size")
    if vocab is None:
        tokens = field("tokenizer.ggml.tokens")
        vocab = len(tokens) if tokens is not None else None
    data: dict[str, Any] = {
        "name": str(field("general.name") or p.stem),
        "source": f"GGUF metadata of {p.name} ({arch})",
        "layers": field(f"{arch}.block_count"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": _or(field(f"{arch}.attention.head_count_kv"), heads),
        "head_dim": head_dim,
        "ffn": field(f"{arch}.feed_forward_length"),
        "vocab": vocab,
        "ffn_kind": "plain" if arch.startswith(_PLAIN_ARCHS) else "gated",
    }
    window = field(f"{arch}.attention.sliding_window")
    if window:
        data["sliding_window"] = window
    if "output.weight" not in {t.name for t in reader.tensors}:
        data["tied_embeddings"] = True
    if any(t.name.endswith("attn_q.bias") for t in reader.tensors):
        data["attention_bias"] = True
    experts = field(f"{arch}.expert_count")
    if experts:
        moe: dict[str, Any] = {
            "num_experts": experts,
            "top_k": field(f"{arch}.expert_used_count"),
            "expert_ffn": field(f"{arch}.expert_feed_forward_length") or data["ffn"],
        }
        shared = field(f"{arch}.expert_shared_count") or 0
        shared_ffn = field(f"{arch}.expert_shared_feed_forward_length")
        if shared_ffn:  # Qwen2-MoE: one shared expert of its own width, gated
            moe.update(shared_experts=1, shared_ffn=shared_ffn, shared_gate=True)
        elif shared:
            moe.update(shared_experts=shared, shared_ffn=shared * moe["expert_ffn"])
        dense = field(f"{arch}.leading_dense_block_count")
        if dense:
            moe["first_dense_layers"] = dense
        data["moe"] = moe
    kv_lora = field(f"{arch}.attention.kv_lora_rank")
    if kv_lora:
        rope = field(f"{arch}.rope.dimension_count")
        qk = field(f"{arch}.attention.key_length_mla") or field(f"{arch}.attention.key_length")
        v = field(f"{arch}.attention.value_length_mla") or field(f"{arch}.attention.value_length")
        data["mla"] = {
            "q_lora_rank": field(f"{arch}.attention.q_lora_rank") or 0,
            "kv_lora_rank": kv_lora,
            "qk_nope_head_dim": None if qk is None or rope is None else int(qk) - int(rope),
            "qk_rope_head_dim": rope,
            "v_head_dim": v,
        }
        data["head_dim"] = qk
        data["kv_heads"] = heads
    unmodelled = []
    if field(f"{arch}.nextn_predict_layers"):
        unmodelled.append(f"{arch}.nextn_predict_layers is not modelled")
    data["_unmodelled"] = unmodelled
    return _ints(data)


def _ints(data: dict) -> dict:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, dict):
            out[k] = _ints(v)
        elif hasattr(v, "item"):  # numpy scalars from the GGUF reader
            out[k] = v.item()
        else:
            out[k] = v
    return out
