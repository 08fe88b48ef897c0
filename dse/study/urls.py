"""Storage URLs as text: the password taken out of what is shown and what is saved.

Pure string functions, so the spec layer (``study.yaml``) and the run layer
(:mod:`dse.run.storage`) both use them.
"""

from __future__ import annotations

__all__ = ["password_of", "redact_url", "strip_password"]


def _split_password(url: str) -> tuple[str, str | None, str]:
    """``s://user:PASSWORD@host/db`` -> (``s://user``, password or None, ``@host/db``)."""
    head, sep, rest = url.partition("://")
    if not sep or head == "journal":
        return url, None, ""
    query = rest.find("?")
    last_at = rest.rfind("@", 0, len(rest) if query < 0 else query)  # a password may hold "@"
    slash = rest.find("/", last_at + 1)
    at = rest.rfind("@", 0, slash if slash >= 0 else query if query >= 0 else len(rest))
    if at < 0:
        return url, None, ""
    userinfo = rest[:at]
    user, colon, password = userinfo.partition(":")
    if not colon:
        return url, None, ""
    return f"{head}://{user}", password, rest[at:]


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for every message and log line).

    Example:
        >>> redact_url("postgresql://ana:s3cret@db.lan:5432/studies")
        'postgresql://ana:***@db.lan:5432/studies'
    """
    start, password, end = _split_password(url)
    return url if password is None else f"{start}:***{end}"


def strip_password(url: str | None) -> str | None:
    """The URL without its password, as saved in a run folder's ``study.yaml``.

    The password is never written to disk: the database client reads it from ``PGPASSWORD`` or
    ``~/.pgpass`` (PostgreSQL), or pass the full URL with ``--storage`` again.

    Example:
        >>> strip_password("postgresql://ana:s3cret@db.lan/studies")
        'postgresql://ana@db.lan/studies'
    """
    if url is None:
        return None
    start, password, end = _split_password(url)
    return url if password is None else f"{start}{end}"


def password_of(url: str) -> str | None:
    """The URL's password, or None (to blank it out of a driver's own message)."""
    return _split_password(url)[1]
