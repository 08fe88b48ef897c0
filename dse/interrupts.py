"""Ctrl-C and SIGTERM at a safe point: a study stops between storage writes, never inside one.

A signal that arrives while a trial's objective computes aborts the computation (the trial is
then recorded FAIL, marked interrupted and run again on resume); a signal that arrives anywhere
else (Optuna creating or telling a trial, the runner counting trials) only asks the loop to stop
after the current step. A second Ctrl-C stops at once (the old behaviour), for a user who does
not want to wait; a trial left without an owner that way is recovered on the next run
(:func:`dse.recovery.recover`).

Exit status of an interrupted ``mant-dse run`` / ``worker``: 128 + the signal number, so 130 for
Ctrl-C (SIGINT) and 143 for SIGTERM.

Example:
    >>> with StopRequest() as stop:
    ...     stop.requested
    False
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["Interrupted", "StopRequest", "exit_status", "signal_name"]

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
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
