"""Checks an Optuna journal file before it is opened: repairs a torn tail, reports a bad record.

A journal is one JSON record per line, appended under a lock. A process that dies mid-append (a
full disk, a power cut) leaves a last line without its newline; Optuna then refuses the whole
file, and worse, the next run appends after the fragment. Here, under the journal's own lock, such
a tail is cut off (a complete record that only lacks its newline gets one instead), the file as it
was is kept next to it (``study.journal.torn-<UTC time>.bak``) and a warning says so. A record in
the middle that is not JSON cannot be repaired safely: it is reported with its line number
(:class:`mant.errors.InputError`, exit 2) and the user decides (``docs/reliability.md``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "study.journal"
    >>> rec = b'{"op_code": 1, "worker_id": "w", "study_id": 0}'
    >>> _ = p.write_bytes(rec + b"\\n" + b'{"op_co')
    >>> check_journal(p)  # doctest: +ELLIPSIS
    PosixPath('...study.journal.torn-...bak')
    >>> p.read_bytes() == rec + b"\\n"
    True
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from mant.errors import InputError

__all__ = ["check_journal"]

log = logging.getLogger(__name__)


# keys Optuna's journal replay reads from every record of each op code (JournalOperation),
# with the type each must have; a record without them fails deep inside Optuna (KeyError)
_ID = (int,)
_OP_KEYS: dict[int, dict[str, tuple[type, ...]]] = {
    0: {"study_name": (str,), "directions": (list,)},
    1: {"study_id": _ID},
    2: {"study_id": _ID, "user_attr": (dict,)},
    3: {"study_id": _ID, "system_attr": (dict,)},
    4: {"study_id": _ID, "datetime_start": (str, type(None))},
    5: {
        "trial_id": _ID,
        "param_name": (str,),
        "param_value_internal": (int, float),
        "distribution": (str,),
    },
    6: {"trial_id": _ID, "state": _ID, "values": (list, type(None))},
    7: {"trial_id": _ID, "step": _ID, "intermediate_value": (int, float, type(None))},
    8: {"trial_id": _ID, "user_attr": (dict,)},
    9: {"trial_id": _ID, "system_attr": (dict,)},
    10: {},
}


def _record(line: bytes) -> bool:
    """Whether ``line`` is a journal record Optuna can replay (JSON, an op code, its keys)."""
    try:
        rec = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
        return False
    if not isinstance(rec, dict) or not isinstance(rec.get("worker_id"), str):
        return False
    op = rec.get("op_code")
    keys = _OP_KEYS.get(op) if isinstance(op, int) and not isinstance(op, bool) else None
    if keys is None:
        return False
    return all(
        k in rec and isinstance(rec[k], types) and not isinstance(rec[k], bool)
        for k, types in keys.items()
    )


def _repair_tail(path: Path) -> Path | None:
    """Under the journal lock: cuts a torn last line (backup first). Returns the backup."""
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):  # a writer finished it meanwhile
            return None
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup = path.with_name(f"{path.name}.torn-{stamp}.bak")
        shutil.copy2(path, backup)
        with open(path, "r+b") as f:
            if _record(tail):  # the whole record made it, only its newline did not
                f.seek(len(data))
                f.write(b"\n")
                what = "completed its last record (the newline was missing)"
            else:
                f.truncate(cut)
                what = f"removed a half-written last record ({len(tail)} bytes)"
            f.flush()
        log.warning(
            "%s: %s, as after a crash or a full disk; the file as it was is kept in %s",
            path,
            what,
            backup,
        )
        return backup
    finally:
        lock.release()


def check_journal(path: str | Path) -> Path | None:
    """Repairs a torn tail and rejects corrupt records of the journal at ``path`` (if any).

    Returns:
        The backup made before a repair, or None when nothing was repaired.

    Raises:
        InputError: a line other than the last is not a JSON record (its line number is given),
            or the file cannot be read.
    """
    p = Path(path)
    try:
        if not p.is_file():
            return None
        data = p.read_bytes()
        backup = None
        if data and not data.endswith(b"\n"):
            backup = _repair_tail(p)
            data = p.read_bytes()
    except OSError as exc:
        raise InputError.single(str(p), f"cannot read journal ({exc.strerror})", str(p)) from None
    # only complete lines: a record appended by another process meanwhile is not checked
    lines = data.split(b"\n")[:-1]
    for number, line in enumerate(lines, start=1):
        if not _record(line):
            raise InputError.single(
                f"{p}:{number}",
                "is not a journal record (a corrupt line; see docs/reliability.md)",
                line[:80].decode("utf-8", errors="replace"),
            )
    return backup
