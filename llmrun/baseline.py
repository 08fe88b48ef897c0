"""The unquantized perplexity beside a quantized one, computed once per content.

A baseline is keyed by what determines it: the model file's recorded sha256, the scored token
ids (corpus, window count and length) and :data:`BASELINE_VERSION` (bumped when the forward
pass changes). It is kept as JSON under the cache's ``derived/ppl`` folder, so ``mant-dse ppl``
pays for it on the first run of a protocol only.

Example:
    >>> r, cached = baseline_perplexity(windows=1, window_len=32)
    >>> r.weights, r.kv
    ('stored (Q4_1 weights)', 'fp32')
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from llmrun.assets import derived_dir, get_asset
from llmrun.model import ModelName, is_checkpoint_dir
from llmrun.perplexity import PerplexityResult, _windows, perplexity
from llmrun.text import Corpus

__all__ = ["BASELINE_VERSION", "baseline_key", "baseline_perplexity", "store_baseline"]

BASELINE_VERSION = 1


def _model_id(model: str) -> str:
    """The shipped model's recorded sha256, or for a checkpoint folder a hash of its config and
    of the names, sizes and modification times of its weight files (hashing 14 GB of weights
    would cost more than the baseline)."""
    if not is_checkpoint_dir(model):
        return get_asset(model).main.sha256
    folder = Path(model).resolve()
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for f in sorted(folder.glob("*.safetensors")):
        st = f.stat()
        digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()


def baseline_key(
    *,
    model: str,
    corpus: str,
    windows: int,
    window_len: int,
    text: str | None = None,
    backend: str = "numpy",
    dtype: str = "float32",
) -> str:
    """Hex digest of the content that determines the unquantized perplexity."""
    tokens = _windows(model, corpus, windows, window_len, text=text)
    digest = hashlib.sha256()
    head: dict[str, object] = {"v": BASELINE_VERSION, "model_sha256": _model_id(model)}
    if backend != "numpy":
        head["backend"] = backend
    if dtype != "float32":
        head["dtype"] = dtype
    digest.update(json.dumps(head, sort_keys=True).encode())
    digest.update(str(tokens.shape).encode())
    digest.update(tokens.astype("<i8").tobytes())
    return digest.hexdigest()


def _path(key: str) -> Path:
    return derived_dir("ppl") / f"baseline-{key[:24]}.json"


def store_baseline(result: PerplexityResult) -> None:
    """Keep an unquantized result as the baseline of its protocol."""
    key = baseline_key(
        model=result.model,
        corpus=result.corpus,
        windows=result.windows,
        window_len=result.window_len,
        text=result.text,
        backend=result.backend,
        dtype=result.dtype,
    )
    path = _path(key)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result.to_dict(), sort_keys=True))
    tmp.replace(path)


def baseline_perplexity(
    *,
    corpus: str = Corpus.AUSTEN_PRIDE.value,
    windows: int = 4,
    window_len: int = 512,
    model: str = ModelName.SMOLLM2_135M.value,
    threads: int | None = None,
    on_window: Callable[[], None] | None = None,
    text: str | None = None,
    max_windows: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dtype: str = "float32",
) -> tuple[PerplexityResult, bool]:
    """The unquantized perplexity of a protocol and whether it came from the cache.

    Args: as :func:`llmrun.perplexity.perplexity` (no weight or KV setting; ``windows`` a count).
    """
    key = baseline_key(
        model=model,
        corpus=corpus,
        windows=windows,
        window_len=window_len,
        text=text,
        backend=backend,
        dtype=dtype,
    )
    path = _path(key)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            data.pop("seconds_per_window", None)
            data.pop("n_tokens", None)
            return PerplexityResult(**data), True
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: compute it again
    result = perplexity(
        corpus=corpus,
        windows=windows,
        window_len=window_len,
        model=model,
        threads=threads,
        on_window=on_window,
        text=text,
        max_windows=max_windows,
        backend=backend,
        device=device,
        dtype=dtype,
    )
    store_baseline(result)
    return result, False
