"""Why trials fail: the reason stored on each failed trial, and the end-of-run summary.

Only expected, per-design problems make a trial fail: an :class:`mant.errors.InputError` raised
while the design is built or evaluated (a format the PE cannot run, a precision no PE mode covers,
an activation width without its own mode). The objective stores the message as the trial's user
attribute :data:`FAIL_ATTR` and raises :class:`TrialFailed`, the only exception the run loop
catches; any other exception is a bug and stops the run with its traceback. Designs that are
built but do not fit (a buffer too small for one array tile) are not failures: they complete
with a violated constraint (``tile_fit``), on both the study and the sweep path.

Optuna 5 stores no reason of its own for a failed trial (``optuna/study/_optimize.py`` only logs
it), so every reason the toolkit shows comes from :data:`FAIL_ATTR` or from the recovery
attributes (:mod:`dse.run.recovery`).

Example:
    >>> summarize_failures(["no mode runs W16A8", "no mode runs W16A8", "interrupted"])
    [('no mode runs W16A8', 2), ('interrupted', 1)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ADDED_ATTR",
    "DUPLICATE_ATTR",
    "FAIL_ATTR",
    "counts_as_done",
    "is_sampler_trial",
    "INTERRUPTED_ATTR",
    "TrialFailed",
    "failure_reason",
    "format_failures",
    "summarize_failures",
]

FAIL_ATTR = "mant_dse_fail_reason"
# a COMPLETE trial recorded by another trial's hardware solve (dse.evaluate.solve), not by the
# sampler:
# it is a design of the study but does not count toward n_trials
ADDED_ATTR = "mant_dse_added_by"
# a PRUNED trial whose design (or quantization setting) an earlier trial already evaluated
DUPLICATE_ATTR = "mant_dse_duplicate_of"
INTERRUPTED_ATTR = "mant_dse_interrupted"  # set by dse.run.recovery on a trial stopped by Ctrl-C
NO_REASON = "no reason recorded (a trial failed outside mant-dse's objective)"


class TrialFailed(Exception):
    """An expected, per-design failure; the message is the reason stored on the trial."""


def is_sampler_trial(trial: Any) -> bool:
    """Whether a trial was proposed by the sampler (not added by a hardware solve)."""
    return ADDED_ATTR not in (getattr(trial, "user_attrs", None) or {})


def counts_as_done(trial: Any) -> bool:
    """Whether a trial uses one unit of ``n_trials``: a COMPLETE sampler trial or a duplicate
    (PRUNED, :data:`DUPLICATE_ATTR`); designs added by a hardware solve do not."""
    state = getattr(getattr(trial, "state", None), "name", "")
    attrs = getattr(trial, "user_attrs", None) or {}
    if state == "COMPLETE":
        return ADDED_ATTR not in attrs
    return state == "PRUNED" and DUPLICATE_ATTR in attrs


def failure_reason(trial: optuna.trial.FrozenTrial | Any) -> str:
    """The recorded reason of a failed trial (one line)."""
    attrs = getattr(trial, "user_attrs", {}) or {}
    reason = attrs.get(FAIL_ATTR)
    if reason:
        return str(reason)
    if attrs.get(INTERRUPTED_ATTR):
        return "interrupted (Ctrl-C); queued again"
    system = getattr(trial, "system_attrs", {}) or {}
    if "failed_trial" in system or "fail_reason" in system:
        return str(system.get("fail_reason") or "worker lost (stale trial); queued again")
    return NO_REASON


def summarize_failures(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Distinct reasons with their counts, most frequent first (ties: first seen first)."""
    return Counter(reasons).most_common()


def format_failures(reasons: Iterable[str], *, limit: int = 10) -> list[str]:
    """Lines for the end of a run: ``N trials failed:`` then ``  count x reason``."""
    groups = summarize_failures(reasons)
    if not groups:
        return []
    total = sum(n for _, n in groups)
    lines = [f"{total} trial{'s' if total != 1 else ''} failed:"]
    lines += [f"  {n} x {reason}" for reason, n in groups[:limit]]
    if len(groups) > limit:
        rest = sum(n for _, n in groups[limit:])
        lines.append(f"  {rest} x other reasons ({len(groups) - limit} more)")
    return lines
