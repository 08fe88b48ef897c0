"""Where a study lives: the one place that creates Optuna storages.

Without a URL the study is an Optuna journal file in the output folder
(``<out>/study.journal``), which ``optuna-dashboard <out>/study.journal`` opens as it is and which
several worker processes on one machine can share. A URL selects another storage:
``sqlite:///path.db``, ``postgresql://user@host/db``, or ``journal:///path/to/file``.

Example:
    >>> s = create_storage(None, out_dir=None)  # in-memory, for tests and sweeps
    >>> type(s).__name__
    'InMemoryStorage'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mant.errors import InputError

__all__ = ["JOURNAL_FILE", "create_storage", "default_storage_url", "describe_storage"]

JOURNAL_FILE = "study.journal"


def default_storage_url(out_dir: str | Path) -> str:
    """The embedded default: a journal file inside the output folder."""
    return f"journal:///{Path(out_dir).resolve() / JOURNAL_FILE}"


def describe_storage(url: str) -> str:
    """A human-readable location for messages (journal URLs become plain paths)."""
    return url.removeprefix("journal:///") if url.startswith("journal:///") else url


def create_storage(url: str | None, *, out_dir: str | Path | None) -> Any:
    """Creates (or connects to) the Optuna storage for a study.

    Args:
        url: ``None`` for the default, or a ``journal:///``, ``sqlite:///`` or ``postgresql://``
            (any SQLAlchemy) URL.
        out_dir: output folder holding the default journal; ``None`` with ``url=None`` means an
            in-memory storage.

    Raises:
        InputError: the URL names an unknown scheme or a storage that cannot be reached.
    """
    import optuna

    if url is None and out_dir is None:
        return optuna.storages.InMemoryStorage()
    if url is None:
        url = default_storage_url(out_dir)  # type: ignore[arg-type]
    if url.startswith("journal:///"):
        path = Path(url.removeprefix("journal:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(str(path))
        except OSError as exc:
            raise InputError.single("storage", f"cannot open journal file ({exc})", url) from None
        return optuna.storages.JournalStorage(backend)
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "mysql"):
        raise InputError.single(
            "storage", "must be a journal:///, sqlite:///, postgresql:// or mysql:// URL", url
        )
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(scheme))
    except Exception as exc:  # SQLAlchemy/driver errors: report them as bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError.single("storage", f"cannot connect ({first})", url) from None


def _engine_kwargs(scheme: str) -> dict[str, Any]:
    if scheme == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}
