"""Content-addressed cache of quantization results, in memory and on disk.

A key is the SHA-256 of everything a result depends on (tensor content id, tensor kind, quant
config as a plain dict), never of the accelerator. Disk entries are small JSON files written
atomically (temporary file + ``os.replace``), so several worker processes sharing one output
folder never see a torn file; a corrupt or unreadable entry is recomputed.

Example:
    >>> cache = QuantCache(None)
    >>> cache.get_or_compute({"tensor": "t0", "cfg": {"g": 64}}, lambda: {"rel_mse": 0.1})
    {'rel_mse': 0.1}
    >>> cache.stats.misses, cache.get_or_compute({"tensor": "t0", "cfg": {"g": 64}}, dict)
    (1, {'rel_mse': 0.1})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mant.atomic_write import write_text_atomic

__all__ = ["CacheStats", "QuantCache", "cache_key"]


def cache_key(parts: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a JSON-able mapping (key order does not matter)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class CacheStats:
    """Counters: memory hits, disk hits, misses (computations)."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


class QuantCache:
    """Maps a content key to a small dict of floats.

    Args:
        folder: where entries are stored (``<out>/cache``); None keeps them in memory only.
    """

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._memory: dict[str, dict[str, float]] = {}
        self.stats = CacheStats()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, float] | None:
        hit = self._memory.get(key)
        if hit is not None:
            self.stats.memory_hits += 1
            return hit
        if self.folder is None:
            return None
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(value, dict):
            return None
        self.stats.disk_hits += 1
        self._memory[key] = value
        return value

    def put(self, key: str, value: dict[str, float]) -> None:
        self._memory[key] = value
        if self.folder is None:
            return
        write_text_atomic(self._path(key), json.dumps(value))

    def get_or_compute(
        self, parts: Mapping[str, Any], compute: Callable[[], dict[str, float]]
    ) -> dict[str, float]:
        """Returns the cached value for ``parts`` or computes, stores and returns it."""
        key = cache_key(parts)
        hit = self.get(key)
        if hit is not None:
            return hit
        self.stats.misses += 1
        value = {k: float(v) for k, v in compute().items()}
        self.put(key, value)
        return value
