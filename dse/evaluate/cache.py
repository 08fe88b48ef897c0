"""Content-addressed cache of quantization results, in memory and on disk.

A key is the SHA-256 of everything a result depends on (tensor content id, tensor kind, quant
config as a plain dict), never of the accelerator. Disk entries are small JSON files written
atomically (temporary file + ``os.replace``), so several worker processes sharing one output
folder never see a torn file. An entry stores its own key next to its value and is used only when
the key matches and the value has the expected fields and no NaN; anything else (a torn, empty,
moved or hand-edited file) is recomputed. A cache folder that is a file, or that cannot be
written, gives one warning and the run goes on without a disk cache.

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
import math
import warnings
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
    """Counters: memory hits, disk hits, misses (computations), disk entries rejected."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    rejected: int = 0


class QuantCache:
    """Maps a content key to a small dict of floats.

    Args:
        folder: where entries are stored (``<out>/cache``); None keeps them in memory only.
    """

    def __init__(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None and self.folder.exists() and not self.folder.is_dir():
            warnings.warn(
                f"{self.folder}: the quantization cache folder is a file; continuing without "
                "a disk cache (remove the file to cache again)",
                stacklevel=2,
            )
            self.folder = None
        self._memory: dict[str, dict[str, float]] = {}
        self.stats = CacheStats()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str, fields: tuple[str, ...] = ()) -> dict[str, float] | None:
        """The entry for ``key``, or None when absent or when it does not prove what it is.

        A disk entry is used only when it names ``key`` itself (a file copied or moved onto
        another key's name is not), holds a non-empty mapping with every name of ``fields`` and
        only numbers that are not NaN (an infinite SQNR is a lossless result, kept).
        """
        hit = self._memory.get(key)
        if hit is not None:
            self.stats.memory_hits += 1
            return hit
        if self.folder is None:
            return None
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        value = _valid_value(entry, key, fields)
        if value is None:
            self.stats.rejected += 1
            return None
        self.stats.disk_hits += 1
        self._memory[key] = value
        return value

    def put(self, key: str, value: dict[str, float]) -> None:
        self._memory[key] = value
        if self.folder is None:
            return
        try:
            write_text_atomic(self._path(key), json.dumps({"key": key, "value": value}))
        except OSError as exc:
            warnings.warn(
                f"{self.folder}: cannot write the quantization cache ({exc.strerror}); "
                "continuing without it",
                stacklevel=2,
            )
            self.folder = None

    def get_or_compute(
        self,
        parts: Mapping[str, Any],
        compute: Callable[[], dict[str, float]],
        fields: tuple[str, ...] = (),
    ) -> dict[str, float]:
        """Returns the cached value for ``parts`` or computes, stores and returns it.

        ``fields``: names the value must hold for a disk entry to be trusted.
        """
        key = cache_key(parts)
        hit = self.get(key, fields)
        if hit is not None:
            return hit
        self.stats.misses += 1
        value = {k: float(v) for k, v in compute().items()}
        self.put(key, value)
        return value


def _valid_value(entry: Any, key: str, fields: tuple[str, ...]) -> dict[str, float] | None:
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    value = entry.get("value")
    if not isinstance(value, dict) or not value or any(f not in value for f in fields):
        return None
    for v in value.values():
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            return None
    return {k: float(v) for k, v in value.items()}
