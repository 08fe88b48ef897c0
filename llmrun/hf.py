"""A user's own checkpoint: a Hugging Face folder of the Llama, Mistral or Qwen2 family.

The folder holds ``config.json``, the weights as ``*.safetensors`` (fp32, fp16 or bf16; one file,
or shards listed by ``model.safetensors.index.json``) and ``tokenizer.json``. :func:`load_hf_model`
reads it into the same :class:`~llmrun.model.LlamaModel` the GGUF path gives (float32), so the
numpy forward, the recipe's quantizers and the torch backend run it unchanged:

* q/k rows (and Qwen2's q/k biases) are permuted from the Hugging Face "rotate-half" pairing
  (j, j + head_dim / 2) to the adjacent pairing (2j, 2j + 1) that the forward's RoPE uses, the
  permutation llama.cpp's converter applies (:func:`to_adjacent_pairs`); V and o are untouched.
* Qwen2's q/k/v biases (and a Llama ``attention_bias``) are kept; GQA from
  ``num_key_value_heads``; RoPE base ``rope_theta``; ``rms_norm_eps``; an untied ``lm_head``
  becomes :attr:`LlamaModel.output`.
* Llama-3.1 / 3.2's ``rope_scaling`` of type ``llama3`` is applied
  (:func:`llmrun.forward.llama3_inv_freq`).
* Not supported (an :class:`~mant.errors.InputError` says so): other ``rope_scaling`` types
  (YaRN, linear, dynamic), a ``head_dim`` other than ``hidden_size / num_attention_heads``, an
  activation other than SiLU, MLP biases. Mistral's sliding window is not applied: windows up
  to its ``sliding_window`` (4096 for Mistral-7B v0.1) are exact.

:func:`save_hf_checkpoint` writes a :class:`LlamaModel` back as such a folder (the tests turn the
SmolLM2 GGUF into one).

Example (a user's checkpoint folder; ``tests/llmrun_tests/test_hf_checkpoint.py`` runs the same
on checkpoints it writes):
    >>> model = load_hf_model("Qwen2.5-0.5B")  # doctest: +SKIP
    >>> model.config.n_kv_heads, model.layers[0].bq is not None  # doctest: +SKIP
    (2, True)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from llmrun.model import LayerWeights, LlamaConfig, LlamaModel, is_checkpoint_dir, load_model
from mant.errors import InputError, IssueCollector

__all__ = [
    "FAMILIES",
    "load_any",
    "load_hf_model",
    "save_hf_checkpoint",
    "to_adjacent_pairs",
    "to_rotate_half",
]

FAMILIES = ("llama", "mistral", "qwen2")
"""``model_type`` values of ``config.json`` that :func:`load_hf_model` reads."""

# Hugging Face tensor name (after "model.layers.{i}.") -> LayerWeights field
_LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm",
    "self_attn.q_proj.weight": "wq",
    "self_attn.k_proj.weight": "wk",
    "self_attn.v_proj.weight": "wv",
    "self_attn.o_proj.weight": "wo",
    "post_attention_layernorm.weight": "ffn_norm",
    "mlp.gate_proj.weight": "w_gate",
    "mlp.up_proj.weight": "w_up",
    "mlp.down_proj.weight": "w_down",
}
_BIASES = {
    "self_attn.q_proj.bias": "bq",
    "self_attn.k_proj.bias": "bk",
    "self_attn.v_proj.bias": "bv",
}


def to_adjacent_pairs(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a q or k projection (or its bias) from rotate-half to adjacent RoPE pairs.

    Within each head, rows ``j`` and ``j + head_dim / 2`` become rows ``2j`` and ``2j + 1``
    (llama.cpp's ``permute``).
    """
    shape = w.shape
    return (
        w.reshape(n_heads, 2, shape[0] // n_heads // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def to_rotate_half(w: np.ndarray, n_heads: int) -> np.ndarray:
    """The inverse of :func:`to_adjacent_pairs` (GGUF / forward order -> Hugging Face order)."""
    shape = w.shape
    return (
        w.reshape(n_heads, shape[0] // n_heads // 2, 2, *shape[1:]).swapaxes(1, 2).reshape(shape)
    )


def _config(data: dict[str, Any], folder: Path) -> tuple[LlamaConfig, bool]:
    """The forward's config and whether the output head is tied to the embedding."""
    c = IssueCollector()
    where = f"{folder}/config.json"
    family = data.get("model_type")
    c.check(family in FAMILIES, f"{where}:model_type", f"must be one of {list(FAMILIES)}", family)
    need = ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers")
    for key in (*need, "vocab_size"):
        value = data.get(key)
        ok = isinstance(value, int) and value >= 1
        c.check(ok, f"{where}:{key}", "must be an int >= 1", value)
    if any(not isinstance(data.get(k), int) or data[k] < 1 for k in need):
        c.raise_if_any()
    heads = int(data["num_attention_heads"])
    d_model = int(data["hidden_size"])
    head_dim = data.get("head_dim")
    c.check(
        head_dim in (None, d_model // heads) and d_model % heads == 0,
        f"{where}:head_dim",
        f"must be hidden_size / num_attention_heads = {d_model / heads:g} (other head sizes are "
        "not supported)",
        head_dim,
    )
    scaling = data.get("rope_scaling")
    params: dict[str, Any] = scaling if isinstance(scaling, dict) else {}
    kind = params.get("rope_type", params.get("type"))
    rope_scaling: tuple[float, ...] | None = None
    if kind == "llama3":
        keys = (
            "factor",
            "low_freq_factor",
            "high_freq_factor",
            "original_max_position_embeddings",
        )
        ok = all(isinstance(params.get(k), int | float) for k in keys)
        c.check(ok, f"{where}:rope_scaling", f"llama3 scaling needs {list(keys)}", scaling)
        if ok:
            rope_scaling = tuple(float(params[k]) for k in keys)
    else:
        ok = scaling is None or kind == "default"
        c.check(
            ok,
            f"{where}:rope_scaling",
            "must be null or llama3 (others are not supported)",
            scaling,
        )
    act = data.get("hidden_act", "silu")
    c.check(act == "silu", f"{where}:hidden_act", "must be silu (SwiGLU)", act)
    c.check(not data.get("mlp_bias", False), f"{where}:mlp_bias", "must be false", True)
    c.raise_if_any()
    config = LlamaConfig(
        n_layers=int(data["num_hidden_layers"]),
        d_model=d_model,
        n_heads=heads,
        n_kv_heads=int(data.get("num_key_value_heads") or heads),
        d_ffn=int(data["intermediate_size"]),
        vocab_size=int(data["vocab_size"]),
        rms_eps=float(data.get("rms_norm_eps", 1e-6)),
        rope_base=float(data.get("rope_theta", 10000.0)),
        context_length=int(data.get("max_position_embeddings", 2048)),
        rope_scaling=rope_scaling,  # type: ignore[arg-type]
    )
    return config, bool(data.get("tie_word_embeddings", False))


def _weight_files(folder: Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file holding it."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {name: folder / file for name, file in weight_map.items()}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise InputError.single(
            "model",
            "must be a folder with *.safetensors weights (fp32, fp16 or bf16)",
            str(folder),
        )
    from mant.tensor_io import tensor_names

    return {name: f for f in files for name in tensor_names(f)}


def load_hf_model(folder: str | Path) -> LlamaModel:
    """Read a Llama / Mistral / Qwen2 checkpoint folder into float32 (see the module doc).

    Raises:
        InputError: a missing or unsupported config, a missing tensor, an unreadable file.
    """
    from mant.tensor_io import load_tensor

    start = time.perf_counter()
    path = Path(folder).resolve()
    config_file = path / "config.json"
    if not config_file.is_file():
        raise InputError.single("model", "must be a folder holding config.json", str(path))
    config, tied = _config(json.loads(config_file.read_text()), path)
    files = _weight_files(path)
    types: dict[str, str] = {}

    def get(name: str, optional: bool = False) -> np.ndarray | None:
        if name not in files:
            if optional:
                return None
            raise InputError.single("model", f"must hold the tensor {name}", str(path))
        t = load_tensor(files[name], name)
        types[name] = t.stored
        return np.ascontiguousarray(t.array, dtype=np.float32)

    def need(name: str) -> np.ndarray:
        arr = get(name)
        assert arr is not None
        return arr

    layers = []
    for i in range(config.n_layers):
        pre = f"model.layers.{i}."
        parts: dict[str, Any] = {f: need(pre + n) for n, f in _LAYER_TENSORS.items()}
        parts |= {f: get(pre + n, optional=True) for n, f in _BIASES.items()}
        for f, heads in (("wq", config.n_heads), ("wk", config.n_kv_heads)):
            parts[f] = np.ascontiguousarray(to_adjacent_pairs(parts[f], heads))
        for f, heads in (("bq", config.n_heads), ("bk", config.n_kv_heads)):
            if parts[f] is not None:
                parts[f] = np.ascontiguousarray(to_adjacent_pairs(parts[f], heads))
        layers.append(LayerWeights(**parts))
    tok_embd = need("model.embed_tokens.weight")
    output = None if tied else get("lm_head.weight", optional=True)
    return LlamaModel(
        name=str(path),
        config=config,
        tok_embd=tok_embd,
        output_norm=need("model.norm.weight"),
        layers=tuple(layers),
        stored_types=types,
        load_seconds=time.perf_counter() - start,
        output=output,
    )


_CHECKPOINTS: dict[str, LlamaModel] = {}


def load_any(name: str) -> LlamaModel:
    """A shipped model by name (:func:`llmrun.model.load_model`) or a checkpoint folder.

    Keeps one checkpoint in memory (a 7B model is 28 GB in float32).
    """
    if not is_checkpoint_dir(name):
        return load_model(name)
    key = str(Path(name).resolve())
    if key not in _CHECKPOINTS:
        _CHECKPOINTS.clear()
        _CHECKPOINTS[key] = load_hf_model(key)
    return _CHECKPOINTS[key]


_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def _to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray], dtype: str) -> None:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        if dtype == "BF16":
            data = _to_bf16_bits(arr)
        else:
            data = np.ascontiguousarray(arr, dtype=_ST_DTYPES[dtype])
        raw = data.tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with path.open("wb") as fh:
        fh.write(len(head).to_bytes(8, "little"))
        fh.write(head)
        for raw in blobs:
            fh.write(raw)


def _scaling_dict(cfg: LlamaConfig) -> dict[str, Any] | None:
    if cfg.rope_scaling is None:
        return None
    factor, low, high, original = cfg.rope_scaling
    return {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": low,
        "high_freq_factor": high,
        "original_max_position_embeddings": int(original),
    }


def save_hf_checkpoint(
    model: LlamaModel,
    folder: str | Path,
    *,
    tokenizer: Any = None,
    family: str = "llama",
    dtype: str = "F32",
    shards: int = 1,
) -> Path:
    """Write ``model`` as a Hugging Face checkpoint folder that :func:`load_hf_model` reads back.

    Args:
        model: the model (q/k rows in the forward's adjacent-pair order).
        folder: created if missing.
        tokenizer: a ``tokenizers.Tokenizer`` saved as ``tokenizer.json`` (None: none written).
        family: ``model_type`` of ``config.json`` (``llama``, ``mistral`` or ``qwen2``).
        dtype: ``F32``, ``F16`` or ``BF16`` (round to nearest even).
        shards: weight files; more than one writes ``model.safetensors.index.json``.

    Returns:
        The folder.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    config = {
        "architectures": [
            {"qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}.get(
                family, "LlamaForCausalLM"
            )
        ],
        "model_type": family,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ffn,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "num_hidden_layers": cfg.n_layers,
        "vocab_size": cfg.vocab_size,
        "rms_norm_eps": cfg.rms_eps,
        "rope_theta": cfg.rope_base,
        "max_position_embeddings": cfg.context_length,
        "hidden_act": "silu",
        "rope_scaling": _scaling_dict(cfg),
        "tie_word_embeddings": model.output is None,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": model.tok_embd}
    back = {f: n for n, f in (_LAYER_TENSORS | _BIASES).items()}
    for i, layer in enumerate(model.layers):
        for f in LayerWeights.__slots__:
            arr = getattr(layer, f)
            if arr is None:
                continue
            if f in ("wq", "bq"):
                arr = to_rotate_half(arr, cfg.n_heads)
            elif f in ("wk", "bk"):
                arr = to_rotate_half(arr, cfg.n_kv_heads)
            tensors[f"model.layers.{i}.{back[f]}"] = arr
    tensors["model.norm.weight"] = model.output_norm
    if model.output is not None:
        tensors["lm_head.weight"] = model.output
    names = list(tensors)
    if shards <= 1:
        _write_safetensors(out / "model.safetensors", tensors, dtype)
    else:
        per = -(-len(names) // shards)
        weight_map: dict[str, str] = {}
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[s * per : (s + 1) * per]}
            _write_safetensors(out / file, part, dtype)
            weight_map |= dict.fromkeys(part, file)
        index = {"metadata": {}, "weight_map": weight_map}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    if tokenizer is not None:
        tokenizer.save(str(out / "tokenizer.json"))
    return out
