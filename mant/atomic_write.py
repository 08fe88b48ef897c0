"""Atomic file writes for on-disk caches shared by several processes.

A file is written to a temporary file in its folder and moved into place with ``os.replace``,
so a reader sees either the old file, no file or the whole new one, never a torn one.

The temporary file is named ``.<first 8 characters of the stem>.<pid>-<random>.tmp``. A process
killed while writing (SIGKILL, power cut) cannot remove its own; the next write of a file with
the same stem in that folder removes every such file of ours whose writer is gone (no process
with that id on this host, and older than a few seconds) or that is older than an hour (a writer
on another host sharing the folder). The new file gets the permissions of any other new file
(``0o666`` less the umask: ``0644`` under umask ``022``), not the ``0600`` of a temporary file.

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
import time
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_text_atomic"]

# a temporary file whose writer is gone is removed once older than this (seconds) ...
_DEAD_WRITER_AGE_S = 5.0
# ... and any temporary file of ours once older than this (a writer on another host)
_ANY_WRITER_AGE_S = 3600.0


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, creating its folder if needed.

    The temporary file (``.<first 8 characters of the stem>.<pid>-*.tmp``) is removed on any
    error; stale ones left by killed writers are removed (see the module docstring).
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`write_text_atomic`).

    On any error (a full disk included) ``path`` keeps its old content and no temporary file is
    left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.stem[:8]}."
    _remove_stale(path.parent, prefix)
    fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask would, for a moment, in every thread)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale(folder: Path, prefix: str) -> None:
    """Removes temporary files of ours (``prefix`` + ``<pid>-*.tmp``) left by killed writers."""
    now = time.time()
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        if not entry.name.endswith(".tmp"):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        dead = pid_text.isdigit() and not _writer_alive(int(pid_text))
        if (dead and age > _DEAD_WRITER_AGE_S) or age > _ANY_WRITER_AGE_S:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
