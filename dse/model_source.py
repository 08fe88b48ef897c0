"""Model shapes from anywhere: a shipped preset, a model YAML, a ``config.json`` or a GGUF header.

``workload.model`` in a study, ``mant-dse hw llm --model`` and ``mant-dse evaluate --model`` all
take the same value, parsed here into one :class:`hwmodel.ModelConfig`:

- a preset name (``hwmodel/data/models/*.yaml``: ``llama-2-7b``, ``smollm2-135m``, ...);
- a ``.yaml`` / ``.yml`` file with the preset schema: ``name``, ``source`` (optional here),
  ``layers``, ``hidden``, ``heads``, ``kv_heads``, ``head_dim``, ``ffn``, ``vocab``, ``ffn_kind``
  (``gated`` or ``plain``; default ``gated``);
- a Hugging Face ``config.json`` (``num_hidden_layers``, ``hidden_size``,
  ``num_attention_heads``, ``num_key_value_heads`` (default: heads), ``head_dim`` (default:
  hidden / heads), ``intermediate_size``, ``vocab_size``; ``ffn_dim`` / ``n_head`` spellings of
  OPT/GPT-2 are read too; LLaMA/Mistral/Qwen/Gemma-style configs are gated, OPT/GPT-2 plain);
- a ``.gguf`` file: its header metadata (``<arch>.block_count``, ``embedding_length``,
  ``attention.head_count``, ``attention.head_count_kv``, ``attention.key_length``,
  ``feed_forward_length``, ``vocab_size`` or the token list); tensors are not read.

GQA comes from ``kv_heads`` and the KV traffic from ``kv_heads x head_dim`` per token
(:func:`hwmodel.llm_workload`).

Example:
    >>> load_model_config("smollm2-135m").kv_heads
    3
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from mant.errors import InputError, IssueCollector

__all__ = ["load_model_config", "model_label"]

_INT_KEYS = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab")
# far beyond any model there is, small enough that workload counts stay exact in float64
_MAX = {"layers": 1 << 16, "heads": 1 << 16, "kv_heads": 1 << 16}
_MAX_DIM = 1 << 24  # hidden, head_dim, ffn, vocab (dse.spec_checks.MAX_GEMM_DIM)
_PLAIN_ARCHS = ("opt", "gpt2", "gptj", "gpt_neox", "bloom", "falcon", "phi")


def model_label(value: Any) -> str:
    """The name a workload is shown with (a preset name or the file's model name)."""
    return load_model_config(value).name


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
    from hwmodel import ModelConfig

    c = IssueCollector()
    allowed = ("name", "source", *_INT_KEYS, "ffn_kind")
    c.check_keys(data, where, allowed=allowed, required=_INT_KEYS)
    for key in _INT_KEYS:
        if key in data:
            v = data[key]
            high = _MAX.get(key, _MAX_DIM)
            ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= high
            c.check(ok, f"{where}: {key}", f"must be an int in 1..{high}", v)
    kind = data.get("ffn_kind", "gated")
    c.check(kind in ("gated", "plain"), f"{where}: ffn_kind", "must be gated or plain", kind)
    c.raise_if_any()
    c.check(
        data["heads"] % data["kv_heads"] == 0,
        f"{where}: kv_heads",
        f"must divide heads ({data['heads']}) for grouped-query attention",
        data["kv_heads"],
    )
    c.raise_if_any()
    return ModelConfig(
        name=str(data.get("name") or Path(where).stem),
        source=str(data.get("source", "")),
        ffn_kind=kind,
        **{k: int(data[k]) for k in _INT_KEYS},
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _or(value: Any, default: Any) -> Any:
    """``value`` unless it is absent (None): a 0 stays 0 and is rejected, not replaced."""
    return default if value is None else value


def _first(cfg: dict, *keys: str) -> Any:
    for k in keys:
        if k in cfg:
            return cfg[k]
    return None


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
    data = {
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
    # GGUF integers of any width come back as Python ints; anything else (a float, a string,
    # an array) is left as it is for _config to reject, never truncated
    return data
