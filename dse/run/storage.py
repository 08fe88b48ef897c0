"""Where a study lives: the one place that creates Optuna storages.

Without a URL the study is an Optuna journal file in the output folder
(``<out>/study.journal``), which ``optuna-dashboard <out>/study.journal`` opens as it is and which
several worker processes on one machine can share. A URL selects another storage:
``sqlite:///path.db``, ``postgresql://user@host/db``, or ``journal:///path/to/file``.

RDB storages get Optuna's heartbeat (``heartbeat_interval``, ``grace_period``) and
``RetryHeartbeatStaleTrialCallback``, so that a trial whose worker was killed becomes FAIL and is
run again by another worker (see :mod:`dse.run.recovery`, which also covers journal files). A
journal file is checked before it is opened: a torn last record is repaired, a corrupt one reported
(:mod:`dse.run.journal_check`).

Example:
    >>> s = create_storage(None, out_dir=None)  # in-memory, for tests and sweeps
    >>> type(s).__name__
    'InMemoryStorage'
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from dse.run.recovery import RecoveryPolicy
from dse.study.urls import password_of, redact_url, strip_password
from mant.errors import InputError

__all__ = [
    "JOURNAL_FILE",
    "create_storage",
    "default_storage_url",
    "describe_storage",
    "has_heartbeat",
    "redact_url",
    "strip_password",
]

JOURNAL_FILE = "study.journal"


def default_storage_url(out_dir: str | Path) -> str:
    """The embedded default: a journal file inside the output folder."""
    return f"journal:///{Path(out_dir).resolve() / JOURNAL_FILE}"


def describe_storage(url: str) -> str:
    """A human-readable location for messages (journal URLs become plain paths, no password)."""
    return url.removeprefix("journal:///") if url.startswith("journal:///") else redact_url(url)


def has_heartbeat(storage: Any) -> bool:
    """Whether running trials of this storage send Optuna heartbeats (RDB storages here)."""
    get = getattr(storage, "get_heartbeat_interval", None)
    return get is not None and get() is not None


def create_storage(
    url: str | None, *, out_dir: str | Path | None, policy: RecoveryPolicy | None = None
) -> Any:
    """Creates (or connects to) the Optuna storage for a study.

    Args:
        url: ``None`` for the default, or a ``journal:///``, ``sqlite:///`` or ``postgresql://``
            (any SQLAlchemy) URL.
        out_dir: output folder holding the default journal; ``None`` with ``url=None`` means an
            in-memory storage.
        policy: heartbeat interval, grace period and retries of RDB storages (default
            :class:`dse.run.recovery.RecoveryPolicy`).

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
        from optuna.storages.journal import JournalFileBackend

        from dse.run.journal_check import check_journal

        if path.is_dir():
            raise InputError.single(
                "storage", "must name a journal file, but it is a folder", str(path)
            )
        check_journal(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = JournalFileBackend(str(path))
        except OSError as exc:
            raise InputError.single("storage", f"cannot open journal file ({exc})", url) from None
        return optuna.storages.JournalStorage(backend)
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "mysql"):
        raise InputError.single(
            "storage",
            "must be a journal:///, sqlite:///, postgresql:// or mysql:// URL",
            redact_url(url),
        )
    policy = policy or RecoveryPolicy()
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return _rdb_storage(url, scheme, policy)
        except Exception as exc:  # SQLAlchemy/driver errors: report them as bad input
            if attempt + 1 < _CREATE_ATTEMPTS and _schema_race(exc):
                time.sleep(0.2 * (attempt + 1))
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            password = password_of(url)
            if password:
                first = first.replace(password, "***")
            raise InputError.single(
                "storage", f"cannot connect ({first})", redact_url(url)
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


# Workers started together on an empty database race to create Optuna's tables; the losers get
# a unique-violation or "already exists" error and succeed when they try again.
_CREATE_ATTEMPTS = 5


def _schema_race(exc: Exception) -> bool:
    import sqlalchemy.exc

    return isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError)


def _rdb_storage(url: str, scheme: str, policy: RecoveryPolicy) -> Any:
    import optuna

    with warnings.catch_warnings():  # heartbeat + retry callback: experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            _with_driver(url),
            engine_kwargs=_engine_kwargs(scheme),
            heartbeat_interval=policy.heartbeat_interval_s,
            grace_period=policy.grace_period_s,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=policy.max_retry
            ),
        )


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3 (SQLAlchemy 2.0 and older: psycopg2);
    this project depends on psycopg2-binary, so a bare URL gets ``+psycopg2`` unless psycopg 3 is
    installed. URLs naming a driver are left alone.
    """
    import importlib.util

    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _engine_kwargs(scheme: str) -> dict[str, Any]:
    if scheme == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}
