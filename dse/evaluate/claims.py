"""One evaluation per design, whatever the number of workers: claims in the study's storage.

Before a trial evaluates a design (or, with ``sampler.solve_hardware``, solves a quantization
setting), it writes the design's key as its user attribute :data:`CLAIM_ATTR` and reads the
claims of the study's other RUNNING and COMPLETE trials. It stands down (PRUNED, marked
:data:`dse.evaluate.failures.DUPLICATE_ATTR`, counted toward ``n_trials`` like any duplicate) when
a COMPLETE trial holds the same claim, or a RUNNING trial with a *lower number* does. Before
deciding, it waits until every lower-numbered RUNNING trial has written its claim (they are
between creation and their first parameters, milliseconds): then of any two trials that draw
the same key, the higher-numbered one sees the lower one's claim, and exactly the lowest
evaluates. Trial numbers are unique in every Optuna storage, and a write is visible to every
later read (journal file and RDB alike), so this holds for threads, ``--jobs`` processes and
``mant-dse worker`` processes on other hosts.

A lower-numbered RUNNING trial that writes no claim within :data:`CLAIM_WAIT_S` (its process
died before it got there, or it was written by an older version) is not waited for again; a
claim of a FAIL trial (killed, then queued again by :mod:`dse.run.recovery`) does not count. In
those rare cases two workers may still evaluate one design;
:func:`dse.results.frame.frame_from_study`
then lists it once (its first trial).

Example:
    >>> key = ("setting", ("pe_type", "int8"))
    >>> claim_token(key) == claim_token(tuple(key)) and len(claim_token(key))
    24
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from dse.evaluate.failures import DUPLICATE_ATTR

__all__ = ["CLAIM_ATTR", "CLAIM_WAIT_S", "ClaimBook", "claim_token"]

CLAIM_ATTR = "mant_dse_claim"
# how long a trial waits for a lower-numbered RUNNING trial to write its claim
CLAIM_WAIT_S = 10.0
_POLL_S = 0.02


def claim_token(key: tuple[Any, ...]) -> str:
    """A short, stable text for a design key or a setting key (stored on the trial)."""
    return hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:24]


class ClaimBook:
    """The duplicate check of one objective: known keys of this process, then the storage.

    Args:
        seen: keys already evaluated (by this process, or COMPLETE when it started) -> trial.
        wait_s: how long to wait for a lower-numbered RUNNING trial's claim.
    """

    def __init__(self, seen: dict[tuple[Any, ...], int], *, wait_s: float = CLAIM_WAIT_S) -> None:
        self.seen = seen
        self.wait_s = wait_s
        self._given_up: set[int] = set()  # RUNNING trials that never claimed in time

    def check(self, trial: Any, key: tuple[Any, ...]) -> None:
        """Claims ``key`` for ``trial``, or prunes the trial as a duplicate.

        Raises:
            optuna.TrialPruned: ``key`` was evaluated, or is claimed by a trial that goes first;
                the trial records that trial's number as :data:`DUPLICATE_ATTR`.
        """
        owner = self.seen.get(key)
        if owner is None:
            token = claim_token(key)
            trial.set_user_attr(CLAIM_ATTR, token)
            owner = self._owner(trial, token)
        if owner is not None:
            import optuna

            trial.set_user_attr(DUPLICATE_ATTR, owner)
            raise optuna.TrialPruned(f"duplicate of trial {owner}")

    def _owner(self, trial: Any, token: str) -> int | None:
        """The trial that evaluates ``token`` instead of ``trial``, or None (``trial`` does)."""
        from optuna.trial import TrialState

        states = (TrialState.RUNNING, TrialState.COMPLETE)
        deadline = time.monotonic() + self.wait_s
        while True:
            owner: int | None = None
            pending: list[int] = []
            for t in trial.study.get_trials(deepcopy=False, states=states):
                if t.number == trial.number:
                    continue
                claim = _claim(t.user_attrs)
                if claim is None:
                    if (
                        t.state == TrialState.RUNNING
                        and t.number < trial.number
                        and t.number not in self._given_up
                    ):
                        pending.append(t.number)
                elif claim == token and (
                    t.state == TrialState.COMPLETE or t.number < trial.number
                ):
                    owner = t.number if owner is None else min(owner, t.number)
            if owner is not None or not pending:
                return owner
            if time.monotonic() > deadline:
                self._given_up.update(pending)
                return None
            time.sleep(_POLL_S)


def _claim(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get(CLAIM_ATTR)
    return value if isinstance(value, str) else None
