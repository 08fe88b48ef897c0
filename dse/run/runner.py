"""Runs a study with Optuna: create or resume, optimise, write results (and the report).

One output folder holds everything of a study: ``study.yaml`` (the validated spec),
``study.journal`` (the default storage, opened by ``optuna-dashboard``), ``cache/`` (quantization
results), ``results.csv`` / ``results.parquet`` and ``report.html``. Re-running resumes: completed
trials count toward ``n_trials``. A design that cannot be evaluated (an
InputError: a width no PE mode runs, a format the PE cannot use) is recorded FAIL with its
parameters and its reason (:mod:`dse.evaluate.failures`) and the study goes on; any other
exception is a
bug and stops the run with its traceback; Ctrl-C or SIGTERM stops at a safe point, keeps every
completed trial and writes the results (:mod:`dse.evaluate.interrupts`, ``docs/reliability.md``).

Several processes can work on one study (``jobs > 1`` here, or ``mant-dse worker`` on other
machines against a shared storage URL); the global budget counts COMPLETE trials of all of them
(:class:`dse.run.recovery.WorkerLoop`), and trials left behind by killed or interrupted workers are
failed and run again (:mod:`dse.run.recovery`, ``docs/scale-out.md``).

Example:
    >>> # run_study(load_spec("studies/quickstart.yaml"), out_dir="runs/quickstart")
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import yaml

from dse.evaluate.accuracy import fetch_source_assets
from dse.evaluate.failures import (
    DUPLICATE_ATTR,
    INTERRUPTED_ATTR,
    counts_as_done,
    failure_reason,
    is_sampler_trial,
    summarize_failures,
)
from dse.evaluate.interrupts import Interrupted, StopRequest, stop_with_parent
from dse.evaluate.objective import Evaluator, make_objective
from dse.run.recovery import RecoveryPolicy, WorkerLoop, recover
from dse.run.samplers import make_sampler
from dse.run.storage import (
    JOURNAL_FILE,
    create_storage,
    default_storage_url,
    has_heartbeat,
    strip_password,
)
from dse.study.spec import SamplerName, StudySpec, parse_spec, spec_to_dict
from mant.atomic_write import write_text_atomic
from mant.errors import InputError, MantDseError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "SPEC_FILE",
    "SPEC_ATTR",
    "REPORT_FILE",
    "RunSummary",
    "open_study",
    "run_study",
    "run_worker",
    "write_outputs",
    "load_study_spec",
]

log = logging.getLogger(__name__)

SPEC_FILE = "study.yaml"
SPEC_ATTR = "mant_dse_spec"
REPORT_FILE = "report.html"
CACHE_DIR = "cache"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """What a run did.

    Attributes:
        study_name: Optuna study name (the spec's name).
        storage_url: where the study lives.
        out_dir: output folder.
        n_complete: COMPLETE sampler trials in the study after the run; with ``n_duplicate``
            they make up the ``n_trials`` budget.
        n_fail: FAIL trials in the study after the run.
        n_run: trials this call ran (its own worker processes included, other runs on the
            same study not).
        n_duplicate: sampler trials PRUNED as duplicates of an evaluated design (the study).
        n_designs: distinct designs the study holds (COMPLETE trials, hardware-solve designs
            included; a design two workers both recorded counts once, as in the results).
        elapsed_s: wall time of the optimisation in seconds.
        interrupted: stopped by Ctrl-C or SIGTERM (at a safe point, see
        :mod:`dse.evaluate.interrupts`).
        signum: the signal that stopped the run (0 when not interrupted).
        results: paths of results.csv and results.parquet.
        report: path of report.html, or None.
        failures: reasons of the trials that failed in this run, with their counts (most
            frequent first; :func:`dse.evaluate.failures.summarize_failures`).
        space_exhausted: the run stopped before ``n_trials`` because every design of the space
            is evaluated (only duplicates were left to draw).
    """

    study_name: str
    storage_url: str
    out_dir: Path
    n_complete: int
    n_fail: int
    n_run: int
    n_duplicate: int = 0
    n_designs: int = 0
    elapsed_s: float
    interrupted: bool
    results: tuple[Path, ...]
    report: Path | None
    failures: tuple[tuple[str, int], ...] = ()
    signum: int = 0
    space_exhausted: bool = False


def _quiet_optuna() -> None:
    """Optuna logs a traceback per failed trial; the progress bar reports failures instead."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def open_study(
    spec: StudySpec, storage: Any, *, seed: int | None = None, create: bool = True
) -> optuna.Study:
    """Creates the study (or loads it when it exists) with the spec's sampler and directions.

    The validated spec is stored as a study user attribute, so that ``plot`` and ``export`` can
    work from the storage alone.

    Raises:
        InputError: an existing study with this name has different objectives.
    """
    import optuna

    if create:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            # Direction (StrEnum) values are exactly optuna's two literals
            directions=cast("list[Literal['minimize', 'maximize']]", spec.directions),
            load_if_exists=True,
        )
    else:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    if [str(d.name).lower() for d in study.directions] != spec.directions:
        raise InputError.single(
            "objectives",
            f"study {spec.name!r} already exists in this storage with other directions",
            [d.name.lower() for d in study.directions],
        )
    stored = study.user_attrs.get(SPEC_ATTR)
    spec_data = spec_to_dict(spec)
    if stored is None:
        study.set_user_attr(SPEC_ATTR, spec_data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.metric_names)
    elif stored.get("objectives") != spec_data["objectives"] or _space_key(
        stored.get("space")
    ) != _space_key(spec_data["space"]):
        raise InputError.single(
            "space",
            f"study {spec.name!r} already exists with another space or objectives; "
            "rename the study or use another --out/--storage",
            spec.name,
        )
    from dse.run.samplers import n_settings

    grid = spec.sampler.name == SamplerName.GRID or (
        spec.sampler.name == SamplerName.AUTO and n_settings(spec) <= spec.n_trials
    )
    if grid:
        # the seed shuffles the grid and trial n takes grid point n: every process and every
        # resume must shuffle alike, or points are repeated and others never visited
        seed = spec.seed
    elif seed is None:
        seed = spec.seed + len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(spec, seed=seed)
    return study


def _grid_points(spec: StudySpec, study: optuna.Study) -> int | None:
    """How many trials a grid sampler draws at most (its grid's size); None for other samplers.
    The progress bar's total is at most this: a grid ends after its last point."""
    import optuna

    from dse.study.space import HARDWARE_PARAMS

    if not isinstance(study.sampler, optuna.samplers.GridSampler):
        return None
    names = tuple(  # the grid of dse.run.samplers.make_sampler
        p.name
        for p in spec.space.searched
        if not (spec.sampler.solve_hardware and p.name in HARDWARE_PARAMS)
    )
    return spec.space.searched_size(names)


def _space_key(space: Any) -> Any:
    """A stored space without parameters at their default (studies stored before a parameter
    existed resume)."""
    from dse.study.space import PARAMS

    if not isinstance(space, dict):
        return space
    return {k: v for k, v in space.items() if not (k in PARAMS and v == [PARAMS[k].default])}


def load_study_spec(study: optuna.Study) -> StudySpec:
    """The spec stored on a study by :func:`open_study`."""
    data = study.user_attrs.get(SPEC_ATTR)
    if data is None:
        raise InputError.single(
            "study", "was not created by mant-dse (no stored spec)", study.study_name
        )
    return parse_spec(data)


def _count(study: optuna.Study) -> tuple[int, int]:
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False, states=states)
    # the budget counts the sampler's trials (duplicates too), not hardware-solve designs
    done = sum(counts_as_done(t) for t in trials)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    return done, failed


def exhaustion_check(spec: StudySpec) -> Callable[[list[Any]], bool]:
    """``check(trials)``: whether the study has evaluated every design the sampler can propose
    (COMPLETE or failed, as :func:`dse.run.samplers.design_key` tells designs apart), so that only
    duplicates are left. Counted once, at the first duplicate; never True for spaces too large
    to count."""
    from optuna.trial import TrialState

    from dse.run.samplers import design_key, n_designs

    count: list[int | None] = []

    def check(trials: list[Any]) -> bool:
        if not count:
            count.append(n_designs(spec))
        n = count[0]
        if n is None:
            return False
        keys = {
            design_key(spec, t.params)
            for t in trials
            if is_sampler_trial(t)
            and (
                t.state == TrialState.COMPLETE
                or (t.state == TrialState.FAIL and not t.user_attrs.get(INTERRUPTED_ATTR))
            )
        }
        return len(keys) >= n

    return check


def _worker_process(
    spec_data: dict,
    out_dir: str,
    storage_url: str,
    total: int,
    budget: int,
    seed: int,
    policy: RecoveryPolicy,
    ran: Any = None,
    parent_pid: int | None = None,
) -> None:
    if parent_pid is not None:  # a parent killed with SIGKILL cannot stop us: notice it ourselves
        stop_with_parent(parent_pid)
    _quiet_optuna()
    spec = parse_spec(spec_data)
    storage = create_storage(storage_url, out_dir=out_dir, policy=policy)
    study = open_study(spec, storage, seed=seed)
    driver = WorkerLoop(
        study,
        make_objective(Evaluator(spec, cache_dir=Path(out_dir) / CACHE_DIR)),
        total=total,
        budget=budget,
        heartbeat=has_heartbeat(storage),
        policy=policy,
        callbacks=[],
        linger=False,
        exhausted=exhaustion_check(spec),
    )
    try:
        driver.run()
    except KeyboardInterrupt:
        pass
    except MantDseError as exc:  # e.g. a full disk: one line, not a worker traceback
        print(f"error: {exc}", file=sys.stderr, flush=True)
    finally:
        if ran is not None:
            with ran.get_lock():
                ran.value += driver.started


_SHOWN_FAILURES = 5


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Progress:
    """A tqdm bar over the sampler's trials that use up ``n_trials`` (COMPLETE and duplicates),
    resynchronised with the storage about once a second; its total is at most the grid's size."""

    def __init__(self, study: optuna.Study, total: int, enabled: bool) -> None:
        from tqdm.auto import tqdm

        done, failed = _count(study)
        self.bar = tqdm(
            total=total,
            initial=min(done, total),
            unit="trial",
            disable=not enabled,
            desc=study.study_name,
            dynamic_ncols=True,
        )
        self.failed = failed
        self.shown = 0
        self.last_sync = time.monotonic()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from optuna.trial import TrialState

        now = time.monotonic()
        if now - self.last_sync > 1.0:
            done, self.failed = _count(study)
            self.bar.n = min(done, self.bar.total)
            self.last_sync = now
        elif counts_as_done(trial):  # COMPLETE, or a duplicate: both use up n_trials
            self.bar.n = min(self.bar.n + 1, self.bar.total)
        elif trial.state == TrialState.FAIL:
            self.failed += 1
        if trial.state == TrialState.FAIL:
            self._report_failure(trial)
        if self.failed:
            self.bar.set_postfix(failed=self.failed, refresh=False)
        self.bar.refresh()

    def _report_failure(self, trial: optuna.trial.FrozenTrial) -> None:
        self.shown += 1
        if self.shown > _SHOWN_FAILURES:
            return
        text = failure_reason(trial)
        params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        more = (
            " (further failures are counted, not shown)" if self.shown == _SHOWN_FAILURES else ""
        )
        self.bar.write(f"trial {trial.number} failed: {text} [{params}]{more}", file=sys.stderr)

    def close(self, study: optuna.Study) -> None:
        done, _ = _count(study)
        self.bar.n = min(done, self.bar.total)
        self.bar.refresh()
        self.bar.close()


def write_outputs(
    study: optuna.Study, spec: StudySpec, out_dir: Path, *, report: bool
) -> tuple[tuple[Path, ...], Path | None]:
    """Writes results.csv / results.parquet (and report.html) for a study."""
    from dse.results.frame import frame_from_study, save_frame

    df = frame_from_study(study, spec)
    paths = save_frame(df, out_dir)
    report_path = None
    if report:
        from dse.report.html import write_report

        report_path = write_report(df, spec, out_dir / REPORT_FILE)
    return paths, report_path


def run_study(
    spec: StudySpec,
    *,
    out_dir: str | Path,
    storage_url: str | None = None,
    n_trials: int | None = None,
    jobs: int = 1,
    progress: bool = True,
    report: bool = True,
    evaluator: Evaluator | None = None,
    policy: RecoveryPolicy | None = None,
) -> RunSummary:
    """Runs (or resumes) a study until it has ``n_trials`` COMPLETE trials or this call has
    started that many.

    Other processes may work on the same study (``mant-dse run`` or ``mant-dse worker`` with the
    same storage URL): the target is global, and this call waits for their trials in flight
    before it ends. On resume, trials left RUNNING by a dead process and trials interrupted by
    Ctrl-C are marked FAIL and queued again (:mod:`dse.run.recovery`).

    Args:
        spec: the validated study.
        out_dir: output folder (created).
        storage_url: Optuna storage URL; default: the journal file in ``out_dir``.
        n_trials: overrides ``spec.n_trials`` (the target number of COMPLETE trials).
        jobs: worker processes (1 = this process only).
        progress: show a tqdm progress bar.
        report: write ``report.html`` at the end.
        evaluator: evaluator to use in this process (default: built from the spec).
        policy: heartbeat, grace period, retries and stale thresholds (default
            :class:`dse.run.recovery.RecoveryPolicy`).

    Raises:
        InputError: bad storage URL, or an existing study with other objectives.
    """
    _quiet_optuna()
    policy = policy or RecoveryPolicy()
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    url = storage_url or spec.storage or default_storage_url(out)
    try:
        storage = create_storage(url, out_dir=out, policy=policy)
        study = open_study(spec, storage)
    except InputError:  # rejected: leave no empty output folder behind
        if created and not any(p.name != JOURNAL_FILE for p in out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)
        raise
    # the copy in the folder remembers a --storage URL, so plot/export --out find the study; never
    # its password (PGPASSWORD or ~/.pgpass supply it later, see docs/scale-out.md)
    spec_data = spec_to_dict(spec)
    saved = {**spec_data, "storage": strip_password(storage_url or spec.storage)}
    write_text_atomic(out / SPEC_FILE, yaml.safe_dump(saved, sort_keys=False))
    total = n_trials if n_trials is not None else spec.n_trials
    recover(study, heartbeat=has_heartbeat(storage), policy=policy)
    done_before, failed_before = _count(study)
    first_number = len(study.get_trials(deepcopy=False))
    budget = max(0, total - done_before)
    evaluator = evaluator or Evaluator(spec, cache_dir=out / CACHE_DIR)
    if budget:  # one-time downloads before the bar, so they stay out of its ETA
        fetch_source_assets(spec.accuracy, log=_stderr if progress else None)
    bar = _Progress(study, min(total, _grid_points(spec, study) or total), progress)
    procs: list[multiprocessing.process.BaseProcess] = []
    ctx = multiprocessing.get_context("spawn")
    ran = ctx.Value("i", 0)  # trials run by this call's worker processes
    loop: WorkerLoop | None = None
    signum = 0
    start = time.perf_counter()
    try:
        if budget and jobs > 1:
            n_start = len(study.get_trials(deepcopy=False))
            share = -(-budget // jobs)
            for i in range(1, jobs):
                p = ctx.Process(
                    target=_worker_process,
                    args=(
                        spec_data,
                        str(out),
                        url,
                        total,
                        share,
                        spec.seed + n_start + i,
                        policy,
                        ran,
                        os.getpid(),
                    ),
                    daemon=True,
                )
                p.start()
                procs.append(p)
            budget = share
        if budget:
            loop = WorkerLoop(
                study,
                make_objective(evaluator),
                total=total,
                budget=budget,
                heartbeat=has_heartbeat(storage),
                policy=policy,
                callbacks=[bar],
                drain=True,
                exhausted=exhaustion_check(spec),
            )
            loop.run()
        with StopRequest() as stop:  # a signal while waiting for the workers: stop them
            for proc in procs:
                while proc.is_alive() and not stop.requested:
                    proc.join(0.2)
        if stop.signum is not None:
            raise Interrupted(stop.signum)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
        _stop_workers(procs, policy)
    elapsed = time.perf_counter() - start
    bar.close(study)
    with StopRequest() as late:  # the results are written even if a signal arrives meanwhile
        paths, report_path = write_outputs(study, spec, out, report=report)
    signum = signum or (late.signum or 0)
    done, failed = _count(study)
    from optuna.trial import TrialState

    from dse.results.frame import listed_trials

    trials = study.get_trials(deepcopy=False)
    new = [t for t in trials if t.number >= first_number and is_sampler_trial(t)]
    failures = summarize_failures(failure_reason(t) for t in new if t.state == TrialState.FAIL)
    n_dup = sum(t.state == TrialState.PRUNED and DUPLICATE_ATTR in t.user_attrs for t in trials)
    n_complete = sum(t.state == TrialState.COMPLETE and is_sampler_trial(t) for t in trials)
    n_run = (loop.started if loop is not None else 0) + int(ran.value)
    exhausted = (
        not signum
        and n_complete + n_dup < total
        and spec.sampler.name not in (SamplerName.GRID, SamplerName.AUTO)
        and exhaustion_check(spec)(trials)
    )
    return RunSummary(
        study_name=spec.name,
        storage_url=url,
        out_dir=out,
        n_complete=n_complete,
        n_fail=failed,
        n_run=n_run,
        n_duplicate=n_dup,
        n_designs=sum(t.state == TrialState.COMPLETE for t in listed_trials(trials)),
        elapsed_s=elapsed,
        interrupted=signum != 0,
        results=paths,
        report=report_path,
        failures=tuple(failures),
        signum=int(signum),
        space_exhausted=bool(exhausted),
    )


def _stop_workers(
    procs: list[multiprocessing.process.BaseProcess], policy: RecoveryPolicy
) -> None:
    """SIGTERM to each worker (they stop at a safe point), SIGKILL to one that does not."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + max(5.0, 2 * policy.poll_s)
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()


def run_worker(
    spec: StudySpec,
    *,
    storage_url: str,
    out_dir: str | Path,
    n_trials: int | None = None,
    seed: int | None = None,
    policy: RecoveryPolicy | None = None,
) -> int:
    """Joins a shared study and works until the global budget of COMPLETE trials is reached.

    The worker waits for trials in flight elsewhere before it returns (one of them may fail or
    belong to a killed worker, and its retry still has to run). Ctrl-C marks the running trial
    FAIL, queues its parameters again for the other workers and re-raises ``KeyboardInterrupt``.

    Returns:
        The number of trials this worker ran.
    """
    _quiet_optuna()
    policy = policy or RecoveryPolicy()
    out = Path(out_dir)
    storage = create_storage(storage_url, out_dir=out, policy=policy)
    if seed is None:  # workers started together must not propose the same designs
        seed = (spec.seed + os.getpid()) % (2**31)
    study = open_study(spec, storage, seed=seed)
    total = n_trials if n_trials is not None else spec.n_trials
    heartbeat = has_heartbeat(storage)
    recover(study, heartbeat=heartbeat, policy=policy)
    done, _ = _count(study)
    mine: list[int] = []
    driver = WorkerLoop(
        study,
        make_objective(Evaluator(spec, cache_dir=out / CACHE_DIR)),
        total=total,
        budget=max(0, total - done),
        heartbeat=heartbeat,
        policy=policy,
        callbacks=[lambda s, t: mine.append(t.number)],
        exhausted=exhaustion_check(spec),
    )
    try:
        driver.run()
    except KeyboardInterrupt:
        driver.requeue_interrupted()
        raise
    return len(mine)
