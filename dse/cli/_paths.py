"""Checks of output paths given on the command line, before anything is created."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mant.errors import InputError

__all__ = ["check_output_dir", "check_output_file"]


def _existing_ancestor(path: Path, flag: str) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError.single(flag, f"lies under a file ({parent})", str(path))
            return parent
    return Path("/")  # pragma: no cover


def check_output_dir(path: Path, flag: str) -> None:
    """``path`` is a folder that exists and is writable, or one that can be created.

    Raises:
        InputError: a file, under a file, or not writable.
    """
    if path.exists():
        if not path.is_dir():
            raise InputError.single(flag, "must be a folder, but it is a file", str(path))
        target = path
    else:
        target = _existing_ancestor(path, flag)
    if not os.access(target, os.W_OK | os.X_OK) or not _can_create_in(target):
        raise InputError.single(flag, f"is not writable ({target})", str(path))


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, since ``os.access`` says yes to root
    on a read-only mount and in ``/proc``."""
    try:
        fd, name = tempfile.mkstemp(prefix=".mant-dse-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass
    return True


def check_output_file(path: Path, flag: str) -> None:
    """``path`` names a file that can be written (its folder exists or can be created).

    Raises:
        InputError: a folder, under a file, or not writable.
    """
    if path.is_dir():
        raise InputError.single(flag, "must be a file path, but it is a folder", str(path))
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError.single(flag, "is not writable", str(path))
    check_output_dir(path.parent, flag)
