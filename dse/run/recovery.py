"""Durability of shared studies: who owns a running trial, crash recovery and the global budget.

Three ways a trial can be left behind, and what happens to each:

- **Worker killed on an RDB storage** (PostgreSQL, MySQL, SQLite): every running trial sends an
  Optuna heartbeat; a trial silent for ``grace_period_s`` is marked FAIL by the next worker that
  asks for a trial (or waits for others) and ``optuna.storages.RetryHeartbeatStaleTrialCallback``
  queues a WAITING copy with the same parameters.
- **Worker killed on a journal file** (the embedded default; Optuna 5 has no journal heartbeat):
  each trial records its owner ``host:pid:start`` (:data:`OWNER_ATTR`). A RUNNING trial whose owner
  process is gone from this host, or (owner unknown or on another host) that started more than
  ``stale_after_s`` ago, is marked FAIL and queued again by :func:`recover`.
- **Killed between Optuna creating a trial and the runner claiming it**: the RUNNING trial has no
  owner (and, on RDB storages, no heartbeat); it is failed and queued again once older than
  ``unowned_after_s`` (RDB: and than ``grace_period_s``).
- **Ctrl-C / SIGTERM** (handled at a safe point, :mod:`dse.evaluate.interrupts`): the trial is
marked
  FAIL with :data:`INTERRUPTED_ATTR`; ``mant-dse worker`` queues it
  again at once, ``mant-dse run`` when it resumes.

A retry is a new trial number carrying Optuna's ``failed_trial`` / ``retry_history`` system
attributes. The budget counts COMPLETE trials only, so a design that failed and was retried counts
once, when its retry completes; at most ``max_retry`` retries per original trial.

Example:
    >>> c = Counts.of([])
    >>> (c.complete, c.in_flight)
    (0, 0)
"""

from __future__ import annotations

import os
import signal
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dse.evaluate.failures import DUPLICATE_ATTR, INTERRUPTED_ATTR, TrialFailed, counts_as_done
from dse.evaluate.interrupts import Interrupted, StopRequest, signal_name
from mant.errors import MantDseError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "TrialInterrupted",
    "OWNER_ATTR",
    "INTERRUPTED_ATTR",
    "RecoveryPolicy",
    "Counts",
    "worker_id",
    "owner_alive",
    "requeue",
    "recover",
    "WorkerLoop",
    "StorageWriteError",
]

OWNER_ATTR = "mant_dse_worker"


class TrialInterrupted(Exception):
    """Raised out of an objective stopped by a signal, so that Optuna records it FAIL."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryPolicy:
    """How shared studies detect and retry trials whose worker is gone.

    Attributes:
        heartbeat_interval_s: RDB storages: seconds between a running trial's heartbeats.
        grace_period_s: RDB storages: a trial silent this long is stale (FAIL, then retried).
        max_retry: retries of one original trial (stale, killed or interrupted).
        stale_after_s: journal storages: a RUNNING trial whose owner cannot be checked (another
            host) is stale after this many seconds; None: never (only dead local owners are).
        poll_s: seconds between checks while a worker waits for the trials in flight.
        unowned_after_s: journal storages: a RUNNING trial that never recorded its owner (its
            process died between Optuna creating the trial and the runner claiming it) is stale
            after this many seconds.
    """

    heartbeat_interval_s: int = 10
    grace_period_s: int = 30
    max_retry: int = 3
    stale_after_s: float | None = None
    poll_s: float = 1.0
    unowned_after_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Counts:
    """Trials of a study by state (RUNNING ones are in flight); ``complete`` counts the
    sampler's finished trials, duplicates included
    (:func:`dse.evaluate.failures.counts_as_done`)."""

    complete: int
    in_flight: int
    waiting: int

    @classmethod
    def of(cls, trials: Iterable[optuna.trial.FrozenTrial]) -> Counts:
        complete = in_flight = waiting = 0
        for t in trials:
            name = t.state.name
            complete += counts_as_done(t)
            in_flight += name == "RUNNING"
            waiting += name == "WAITING"
        return cls(complete, in_flight, waiting)


def _proc_stat(pid: int) -> tuple[str, str]:
    """(state, start time in clock ticks since boot) of a process (Linux); '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return "", ""
    fields = text.rsplit(")", 1)[-1].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("", "")


def worker_id() -> str:
    """``host:pid:start`` of this process; the start time tells a reused pid apart."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_proc_stat(pid)[1]}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process named by :func:`worker_id` still runs; None if it is on another host."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid_text, ticks = parts
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state, now_ticks = _proc_stat(pid)
    if state in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    return not ticks or now_ticks in ("", ticks)


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial, *, max_retry: int) -> bool:
    """Queues a WAITING copy of a failed trial (same parameters, Optuna's retry attributes).

    Returns:
        False when the trial was already retried ``max_retry`` times.
    """
    import optuna

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > max_retry:
        return False
    system_attrs = {
        **trial.system_attrs,
        "failed_trial": trial.system_attrs.get("failed_trial", trial.number),
        "retry_history": history,
    }
    user_attrs = {
        k: v for k, v in trial.user_attrs.items() if k not in (OWNER_ATTR, INTERRUPTED_ATTR)
    }
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
        )
    )
    return True


def _retried(trials: Iterable[optuna.trial.FrozenTrial]) -> set[int]:
    return {
        t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")
    }


def _age_s(trial: optuna.trial.FrozenTrial) -> float:
    if trial.datetime_start is None:
        return 0.0
    return (datetime.now(trial.datetime_start.tzinfo) - trial.datetime_start).total_seconds()


def _stale(trial: optuna.trial.FrozenTrial, policy: RecoveryPolicy) -> bool:
    owner = trial.user_attrs.get(OWNER_ATTR)
    if owner is None:  # created by Optuna, never claimed: its process died in between
        return _age_s(trial) > policy.unowned_after_s
    alive = owner_alive(owner) if isinstance(owner, str) else None
    if alive is not None:
        return not alive
    if policy.stale_after_s is None:
        return False
    return _age_s(trial) > policy.stale_after_s


def _unclaimed(trial: optuna.trial.FrozenTrial, policy: RecoveryPolicy) -> bool:
    """RDB: a RUNNING trial that never recorded its owner has no heartbeat either (Optuna starts
    both right after creating it), so Optuna would never fail it."""
    limit_s = max(policy.unowned_after_s, policy.grace_period_s)
    return OWNER_ATTR not in trial.user_attrs and _age_s(trial) > limit_s


def recover(study: optuna.Study, *, heartbeat: bool, policy: RecoveryPolicy) -> list[int]:
    """Fails trials whose worker is gone and queues their parameters again.

    Args:
        study: the study.
        heartbeat: the storage has Optuna heartbeats (RDB): stale trials are failed and retried
            by Optuna; otherwise (journal, in-memory) owners and ages are checked here.
        policy: thresholds.

    Returns:
        Numbers of the trials queued again by this call (not those Optuna retried).
    """
    import optuna
    from optuna.trial import TrialState

    if heartbeat:
        with warnings.catch_warnings():  # experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    queued = []
    for t in trials:
        if t.state == TrialState.RUNNING and (
            _unclaimed(t, policy) if heartbeat else _stale(t, policy)
        ):
            try:  # only the process whose FAIL lands first queues the retry
                study.tell(t.number, state=TrialState.FAIL)
            except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                continue
        elif not (
            t.state == TrialState.FAIL
            and t.user_attrs.get(INTERRUPTED_ATTR)
            and t.number not in retried
        ):
            continue
        if requeue(study, t, max_retry=policy.max_retry):
            queued.append(t.number)
    return queued


class StorageWriteError(MantDseError):
    """The study's storage could not be written (a full disk, a file too large, a lost mount).

    Optuna reports a failed write of a trial's result as ``AssertionError: Should not reach.``;
    the loop turns that (and a plain ``OSError``) into this one clear message. Every trial
    completed before it is kept; the one whose write failed is recovered on the next run.
    """

    @classmethod
    def of(cls, exc: OSError) -> StorageWriteError:
        where = f"{exc.filename}: " if exc.filename else ""
        return cls(
            f"cannot write the study's storage ({where}{exc.strerror or exc}); every completed "
            "trial is kept: free some space and run the same command again"
        )


def _os_error(exc: BaseException | None) -> OSError | None:
    """The ``OSError`` an exception is, or was raised while handling (its context chain)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class WorkerLoop:
    """Runs trials of a shared study in this process until its global budget is reached.

    ``objective`` is the Optuna objective (:func:`dse.evaluate.objective.make_objective`).

    The budget is ``total`` COMPLETE trials over all processes. A new trial starts only while
    COMPLETE + RUNNING < ``total``; otherwise the loop waits for the trials in flight (they may
    fail, or belong to a killed worker and be retried) when ``linger`` is set. Counting loads every
    trial, so after a trial numbered below ``total - 1`` (fewer than ``total`` trials existed when
    it started) the count is skipped. Both that and the race between counting and starting let
    each process overshoot by at most one trial. This process starts at most ``budget`` trials.
    With ``drain``, it finally waits for trials still in flight elsewhere (see :meth:`_drain`).
    ``exhausted(trials)`` is asked after a duplicate: True (every design of the space has been
    evaluated, only duplicates are left to draw) stops the loop and sets ``space_exhausted``.
    """

    def __init__(
        self,
        study: optuna.Study,
        objective: Callable[[optuna.Trial], Any],
        *,
        total: int,
        budget: int,
        heartbeat: bool,
        policy: RecoveryPolicy,
        callbacks: list[Any],
        linger: bool = True,
        drain: bool = False,
        exhausted: Callable[[list[optuna.trial.FrozenTrial]], bool] | None = None,
    ) -> None:
        self.study = study
        self.exhausted = exhausted
        self.space_exhausted = False
        self.total = total
        self.budget = budget
        self.policy = policy
        self.callbacks = callbacks
        self.linger = linger
        self.drain = drain
        self.heartbeat = heartbeat
        # journal: the owner tells a dead trial apart; RDB (heartbeats do that): it tells a
        # trial that was claimed from one whose process died before its first heartbeat
        self.owner = worker_id()
        self.started = 0
        self.current: int | None = None
        self.interrupted_trial: int | None = None
        self._budget_stop = False
        self._objective = objective
        self.stop = StopRequest()

    def _objective_with_owner(self, trial: optuna.Trial) -> list[float]:
        self.current = trial.number
        trial.set_user_attr(OWNER_ATTR, self.owner)
        if self.stop.requested:
            return self._interrupted(trial)
        # a signal aborts the objective's computation (dse.evaluate.interrupts.abortable) only
        try:
            return self._objective(trial)
        except KeyboardInterrupt as exc:  # our handler, or Python's outside the main thread
            if self.stop.signum is None:
                self.stop.signum = int(getattr(exc, "signum", signal.SIGINT))
            return self._interrupted(trial)

    def _interrupted(self, trial: optuna.Trial) -> list[float]:
        """Records the trial FAIL (through Optuna's ``catch``), marked to be run again."""
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        self.interrupted_trial = trial.number
        self.study.stop()
        raise TrialInterrupted(f"interrupted by {signal_name(self.stop.signum)}")

    def _counts(self) -> Counts:
        from optuna.trial import TrialState

        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
        return Counts.of(self.study.get_trials(deepcopy=False, states=states))

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.started += 1
        self.current = None
        if self.stop.requested:
            study.stop()
            return
        if (
            self.exhausted is not None
            and DUPLICATE_ATTR in trial.user_attrs
            and self.exhausted(study.get_trials(deepcopy=False))
        ):  # only duplicates are left to draw: n_trials would never be reached
            self.space_exhausted = True
            study.stop()
            return
        if self.started < self.budget and trial.number + 1 < self.total:
            # fewer than `total` trials existed when this one started, so COMPLETE + RUNNING
            # could not reach the budget: skip the count (a query loading every trial)
            return
        c = self._counts()
        if self.started >= self.budget or c.complete + c.in_flight >= self.total:
            self._budget_stop = True
            study.stop()

    def run(self) -> None:
        """Works until the budget is reached (or this process's ``budget``), then drains.

        Raises:
            Interrupted: SIGINT or SIGTERM arrived; the loop stopped at a safe point (the
                running trial, if any, is FAIL and marked interrupted).
        """
        with self.stop:
            self._run()
        if self.stop.signum is not None:
            raise Interrupted(self.stop.signum)

    def _run(self) -> None:
        while self.started < self.budget and not self.stop.requested:
            recover(self.study, heartbeat=self.heartbeat, policy=self.policy)
            c = self._counts()
            if c.complete >= self.total:
                break
            if c.complete + c.in_flight >= self.total:
                if not self.linger:
                    break
                time.sleep(self.policy.poll_s)
                continue
            self._budget_stop = False
            try:
                self.study.optimize(
                    self._objective_with_owner,
                    n_trials=self.budget - self.started,
                    # expected per-design errors and an interrupted trial only; a bug stops
                    # the run
                    catch=(TrialFailed, TrialInterrupted),
                    callbacks=[self._after_trial, *self.callbacks],
                )
            except (AssertionError, OSError) as exc:
                cause = _os_error(exc)
                if cause is None:
                    raise
                raise StorageWriteError.of(cause) from None
            if not self._budget_stop:  # the sampler stopped the study (e.g. grid exhausted)
                break
        if self.drain and not self.stop.requested:
            self._drain()

    def _drain(self) -> None:
        """Waits (at most ``grace_period_s``) for trials still in flight in other processes, so
        that results written next show their final state."""
        deadline = time.monotonic() + self.policy.grace_period_s
        while not self.stop.requested:
            recover(self.study, heartbeat=self.heartbeat, policy=self.policy)
            if self._counts().in_flight == 0 or time.monotonic() > deadline:
                return
            time.sleep(self.policy.poll_s)

    def requeue_interrupted(self) -> bool:
        """After Ctrl-C: queues the interrupted trial again (it is FAIL by now)."""
        from optuna.trial import TrialState

        number = self.interrupted_trial if self.interrupted_trial is not None else self.current
        if number is None:
            return False
        trials = self.study.get_trials(deepcopy=False)
        trial = next((t for t in trials if t.number == number), None)
        if trial is None or trial.state != TrialState.FAIL:
            return False
        return requeue(self.study, trial, max_retry=self.policy.max_retry)
