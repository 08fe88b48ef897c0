"""SmolLM2-135M-Instruct: config and float32 weights, read from the GGUF with ``gguf``.

Facts (``real_models.md`` §4.1): llama architecture, 30 layers, d = 576, 9 query / 3 KV heads of
64, FFN 1536, RMSNorm eps 1e-5, RoPE base 100,000, vocabulary 49,152, ``token_embd`` tied to the
output head. Linear weights are stored as Q4_1, the embedding as Q8_0, the norms as F32. ``attn_q``
/ ``attn_k`` rows are permuted by llama.cpp's converter so that RoPE acts on adjacent pairs (2j,
2j+1).

The dequantized weights are cached as one ``.npz`` (uncompressed) under the cache's ``derived/``
folder, so that later loads skip the GGUF dequantization.

Example:
    >>> model = load_model("smollm2-135m")
    >>> model.config.n_layers, model.layers[0].wq.shape
    (30, (576, 576))
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import numpy as np

from llmrun.assets import asset_path, derived_dir, get_asset
from mant.errors import InputError, Issue

__all__ = [
    "LINEAR_NAMES",
    "LayerWeights",
    "LlamaConfig",
    "LlamaModel",
    "ModelName",
    "is_checkpoint_dir",
    "load_model",
]


class ModelName(StrEnum):
    """Causal LMs the forward pass can run."""

    SMOLLM2_135M = "smollm2-135m"


# GGUF tensor name suffix -> LayerWeights field, for the 7 linear projections of a block
LINEAR_NAMES: dict[str, str] = {
    "attn_q": "wq",
    "attn_k": "wk",
    "attn_v": "wv",
    "attn_output": "wo",
    "ffn_gate": "w_gate",
    "ffn_up": "w_up",
    "ffn_down": "w_down",
}
_NORM_NAMES = {"attn_norm": "attn_norm", "ffn_norm": "ffn_norm"}


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaConfig:
    """Hyper-parameters of a llama-architecture model (GGUF ``llama.*`` metadata)."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ffn: int
    vocab_size: int
    rms_eps: float
    rope_base: float
    context_length: int
    # Llama-3.1's "llama3" RoPE scaling: (factor, low_freq_factor, high_freq_factor,
    # original_max_position_embeddings); None: plain RoPE
    rope_scaling: tuple[float, float, float, float] | None = None

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def group_size_gqa(self) -> int:
        """Query heads per KV head."""
        return self.n_heads // self.n_kv_heads


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerWeights:
    """One transformer block; linear weights are (out_features, in_features) float32."""

    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    ffn_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray
    bq: np.ndarray | None = None  # q/k/v biases (Qwen2); None: no bias
    bk: np.ndarray | None = None
    bv: np.ndarray | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaModel:
    """Config, float32 weights and the stored (pre-dequantization) type of every tensor.

    ``output`` is the output head (vocab, d_model) when it is not tied to ``tok_embd`` (None:
    tied, as SmolLM2). ``name`` is a :class:`ModelName` value or, for a Hugging Face checkpoint
    (:mod:`llmrun.hf`), its folder.
    """

    name: str
    config: LlamaConfig
    tok_embd: np.ndarray
    output_norm: np.ndarray
    layers: tuple[LayerWeights, ...]
    stored_types: dict[str, str] = field(default_factory=dict)
    load_seconds: float = 0.0
    output: np.ndarray | None = None


def _field(reader, key: str):
    return reader.fields[key].contents()


def _config_from_reader(reader) -> LlamaConfig:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise InputError(Issue("model", "must be a llama-architecture GGUF", arch))
    n_heads = int(_field(reader, "llama.attention.head_count"))
    return LlamaConfig(
        n_layers=int(_field(reader, "llama.block_count")),
        d_model=int(_field(reader, "llama.embedding_length")),
        n_heads=n_heads,
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        d_ffn=int(_field(reader, "llama.feed_forward_length")),
        vocab_size=int(_field(reader, "llama.vocab_size")),
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        context_length=int(_field(reader, "llama.context_length")),
    )


def _dequantize_gguf(path: Path) -> tuple[LlamaConfig, dict[str, np.ndarray], dict[str, str]]:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    config = _config_from_reader(reader)
    arrays, types = {}, {}
    for t in reader.tensors:
        # dequantize returns the array with numpy axis order (the GGUF shape reversed), i.e.
        # (out_features, in_features) for a linear weight
        arr = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
        arrays[t.name] = np.ascontiguousarray(arr.reshape(tuple(int(d) for d in t.shape[::-1])))
        types[t.name] = t.tensor_type.name
    return config, arrays, types


_META_TYPES = {
    "n_layers": int,
    "d_model": int,
    "n_heads": int,
    "n_kv_heads": int,
    "d_ffn": int,
    "vocab_size": int,
    "rms_eps": float,
    "rope_base": float,
    "context_length": int,
}


def _cache_file(name: str) -> Path:
    asset = get_asset(name)
    return derived_dir("weights") / f"{name}-{asset.main.sha256[:12]}-f32.npz"


def _read_weights(name: str) -> tuple[LlamaConfig, dict[str, np.ndarray], dict[str, str]]:
    gguf_file = asset_path(name)  # fetches and hash-checks on first use
    cache = _cache_file(name)
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("__meta__")))
            config = LlamaConfig(**{k: type_(meta[k]) for k, type_ in _META_TYPES.items()})
            types = dict(zip(meta["type_names"], meta["type_values"], strict=True))
            return config, arrays, types
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # unreadable cache: rebuild it below
    config, arrays, types = _dequantize_gguf(gguf_file)
    meta = {k: getattr(config, k) for k in _META_TYPES}
    meta |= {"type_names": list(types), "type_values": list(types.values())}
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")  # one writer per process
    # cast: numpy's stub types **kwds as if they could bind allow_pickle: bool
    np.savez(tmp, __meta__=_meta_array(meta), **cast("dict[str, Any]", arrays))
    tmp.replace(cache)
    return config, arrays, types


def _meta_array(meta: dict) -> np.ndarray:
    """Metadata as a 0-d unicode array holding JSON (loadable without pickle)."""
    return np.array(json.dumps(meta))


_MODELS: dict[str, LlamaModel] = {}


def is_checkpoint_dir(name: str) -> bool:
    """Whether ``name`` is a folder with a ``config.json`` (a Hugging Face checkpoint)."""
    return name not in ModelName.__members__.values() and (Path(name) / "config.json").is_file()


def load_model(name: str = "smollm2-135m") -> LlamaModel:
    """Load a model's float32 weights (cached in-process and on disk).

    Args:
        name: a :class:`ModelName` value (a checkpoint folder: :func:`llmrun.hf.load_any`).

    Raises:
        InputError: unknown model name.
    """
    if name not in ModelName.__members__.values():
        raise InputError(Issue("model", f"must be one of {[m.value for m in ModelName]}", name))
    if name in _MODELS:
        return _MODELS[name]
    start = time.perf_counter()
    config, arrays, types = _read_weights(name)
    layers = []
    for i in range(config.n_layers):
        parts = {f: arrays[f"blk.{i}.{g}.weight"] for g, f in (LINEAR_NAMES | _NORM_NAMES).items()}
        layers.append(LayerWeights(**parts))
    model = LlamaModel(
        name=name,
        config=config,
        tok_embd=arrays["token_embd.weight"],
        output_norm=arrays["output_norm.weight"],
        layers=tuple(layers),
        stored_types=types,
        load_seconds=time.perf_counter() - start,
    )
    _MODELS[name] = model
    return model
