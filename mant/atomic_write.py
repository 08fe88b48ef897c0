"""Atomic file writes for on-disk caches shared by several processes.

A file is written to a temporary file in its folder and moved into place with ``os.replace``,
so a reader sees either the old file, no file or the whole new one, never a torn one.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "sub" / "entry.json"
    >>> write_text_atomic(target, "{}")
    >>> target.read_text()
    '{}'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_text_atomic"]


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its folder if needed.

    The temporary file (``.<first 8 characters of the stem>.*.tmp``) is removed on any error.
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_text_atomic`).

    On any error (a full disk included) ``path`` keeps its old content and no temporary file is
    left behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:8]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
