"""Ctrl-C and SIGTERM at a safe point: a study stops between storage writes, never inside one.

A signal that arrives while a trial computes (inside :func:`abortable`: the objective's
evaluation, which writes nothing to the storage) aborts the computation; the trial is then
recorded FAIL, marked interrupted and run again on resume. A signal that arrives anywhere else
(Optuna creating or telling a trial, a parameter being suggested, the runner counting trials)
only asks the loop to stop at the next safe point. A second Ctrl-C stops at once (the old
behaviour), for a user who does not want to wait; a trial left without an owner that way is
recovered on the next run (:func:`dse.run.recovery.recover`).

Exit status of an interrupted ``mant-dse run`` / ``worker``: 128 + the signal number, so 130 for
Ctrl-C (SIGINT) and 143 for SIGTERM.

Example:
    >>> with StopRequest() as stop:
    ...     stop.requested
    False
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

__all__ = [
    "Interrupted",
    "StopRequest",
    "abortable",
    "exit_status",
    "signal_name",
    "stop_with_parent",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run stopped on a signal at a safe point (``signum`` says which)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


def signal_name(signum: int | None) -> str:
    """``SIGINT`` / ``SIGTERM`` (``signal`` when unknown)."""
    return signal.Signals(signum).name if signum is not None else "signal"


def exit_status(signum: int) -> int:
    """The shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)


class StopRequest:
    """Catches SIGINT/SIGTERM while active; the first one is deferred unless :attr:`abortable`.

    Only the main thread can own signal handlers; elsewhere this object is inert (``requested``
    stays False and Python's default Ctrl-C behaviour applies).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.abortable = False
        self._previous: dict[int, Any] = {}
        self._outer: StopRequest | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        # a second Ctrl-C is a user who will not wait; a repeated SIGTERM (a parent stopping its
        # workers after the terminal's Ctrl-C reached them too) still waits for the safe point
        if self.abortable or (not first and signum == signal.SIGINT):
            self.abortable = False
            raise Interrupted(signum)

    def __enter__(self) -> StopRequest:
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
            self._outer, _active = _active, self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _active
        if self._previous:
            _active = self._outer
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


_active: StopRequest | None = None


@contextmanager
def abortable() -> Iterator[None]:
    """Marks a computation that a signal may abort (it writes nothing to the study's storage).

    Inside an active :class:`StopRequest`, a signal raises :class:`Interrupted` here at once; a
    signal that came before raises on entry, so no long computation starts after a Ctrl-C.
    Elsewhere this does nothing.
    """
    stop = _active
    if stop is None:
        yield
        return
    if stop.signum is not None:
        raise Interrupted(stop.signum)
    stop.abortable = True
    try:
        yield
    finally:
        stop.abortable = False


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def stop_with_parent(parent_pid: int, *, poll_s: float = 1.0, grace_s: float = 10.0) -> None:
    """Makes this (worker) process stop when its parent dies, even of SIGKILL.

    The worker is sent SIGTERM, so it stops the way ``kill`` stops it (at a safe point, the running
    trial failed and queued again); if it has not exited ``grace_s`` seconds later it exits at
    once. On Linux the kernel sends the SIGTERM (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon
    thread also polls ``os.getppid()`` every ``poll_s`` seconds (a parent that died before the
    ``prctl`` call, or another OS).

    Args:
        parent_pid: the process id of the parent that started this worker.
        poll_s: seconds between two looks at the parent.
        grace_s: seconds the worker gets to stop after its SIGTERM.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the thread does it
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(128 + int(signal.SIGTERM))

    if os.getppid() != parent_pid:  # already orphaned
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="mant-dse-parent-watch", daemon=True).start()
