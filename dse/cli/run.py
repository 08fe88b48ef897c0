"""``mant-dse run`` (run or resume a study, or sweep it) and ``mant-dse worker`` (join one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mant.errors import InputError

__all__ = ["register"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds > 0, got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {value}")
    return value


def _add_recovery_flags(p: argparse.ArgumentParser) -> None:
    from dse.run.recovery import RecoveryPolicy

    d = RecoveryPolicy()
    g = p.add_argument_group("crash recovery (see docs/scale-out.md)")
    g.add_argument(
        "--heartbeat",
        type=_positive,
        default=d.heartbeat_interval_s,
        metavar="S",
        help=f"RDB: heartbeat interval of a running trial, s (default {d.heartbeat_interval_s})",
    )
    g.add_argument(
        "--grace",
        type=_positive,
        default=d.grace_period_s,
        metavar="S",
        help=f"RDB: a trial silent this long is failed, retried, s (default {d.grace_period_s})",
    )
    g.add_argument(
        "--max-retry",
        type=int,
        default=d.max_retry,
        metavar="N",
        help=f"retries of a killed or interrupted trial (default {d.max_retry})",
    )
    g.add_argument(
        "--stale-after",
        type=_seconds,
        metavar="S",
        help="journal storages: fail and retry RUNNING trials of other hosts older than this",
    )


def _policy(args: argparse.Namespace):
    from dse.run.recovery import RecoveryPolicy

    if args.grace < args.heartbeat:
        raise InputError.single(
            "--grace", f"must be >= --heartbeat ({args.heartbeat})", args.grace
        )
    if args.max_retry < 0:
        raise InputError.single("--max-retry", "must be an int >= 0", args.max_retry)
    return RecoveryPolicy(
        heartbeat_interval_s=args.heartbeat,
        grace_period_s=args.grace,
        max_retry=args.max_retry,
        stale_after_s=args.stale_after,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run (or resume) a design-space study",
        description="Run a study from a YAML spec; re-running the same command resumes it.",
    )
    p.add_argument("study", type=Path, help="study YAML file")
    p.add_argument("--out", type=Path, help="output folder (default: runs/<study name>)")
    p.add_argument("--storage", help="Optuna storage URL (default: journal file in --out)")
    p.add_argument(
        "--n-trials",
        type=_positive,
        help="target number of the study's sampler trials, this run's and earlier ones: "
        "COMPLETE ones plus duplicates skipped (a design drawn again is not evaluated again, "
        "so fewer may be COMPLETE); the run also stops once every design is evaluated "
        "(default: spec n_trials)",
    )
    p.add_argument("--jobs", type=_positive, default=1, help="worker processes (default 1)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="evaluate every design instead (true front); grade results.parquet if present",
    )
    _add_recovery_flags(p)
    p.set_defaults(func=_run)

    w = subparsers.add_parser(
        "worker",
        help="join a shared study and work until its global trial budget is reached",
        description="Join a shared study (any number of hosts, one storage URL) and take trials "
        "until it has --n-trials sampler trials (COMPLETE plus duplicates skipped); Ctrl-C "
        "fails the running trial and queues it again for the others (exit 130).",
    )
    w.add_argument("study", type=Path, help="study YAML file")
    w.add_argument("--storage", required=True, help="shared Optuna storage URL")
    w.add_argument("--out", type=Path, help="folder for the quantization cache")
    w.add_argument(
        "--n-trials",
        type=_positive,
        help="global budget of sampler trials (COMPLETE plus duplicates skipped)",
    )
    w.add_argument("--seed", type=int, help="sampler seed of this worker")
    _add_recovery_flags(w)
    w.set_defaults(func=_worker)


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    return args.out if args.out is not None else Path("runs") / name


def _run(args: argparse.Namespace) -> int:
    from dse.cli._paths import check_output_dir
    from dse.study.spec import load_spec

    spec = load_spec(args.study)
    out = _out_dir(args, spec.name)
    policy = _policy(args)
    check_output_dir(out, "--out")
    if args.sweep:
        return _sweep(spec, out)
    _suggest_sweep(spec, args.n_trials or spec.n_trials)
    from dse.run.runner import run_study
    from dse.run.storage import describe_storage

    summary = run_study(
        spec,
        out_dir=out,
        storage_url=args.storage,
        n_trials=args.n_trials,
        jobs=args.jobs,
        progress=not args.no_progress,
        report=not args.no_report,
        policy=policy,
    )
    dup = f", {summary.n_duplicate} duplicates skipped" if summary.n_duplicate else ""
    print(
        f"{summary.study_name}: {summary.n_complete} complete, {summary.n_fail} failed "
        f"({summary.n_run} run now in {summary.elapsed_s:.1f} s{dup}); "
        f"{summary.n_designs} designs recorded"
    )
    print(f"storage: {describe_storage(summary.storage_url)}")
    if summary.space_exhausted:
        print(
            f"note: stopped before n_trials: every design of the space is evaluated "
            f"({summary.n_designs} designs); only duplicates were left to draw",
            file=sys.stderr,
        )
    for path in summary.results:
        print(f"results: {path}")
    if summary.report is not None:
        print(f"report:  {summary.report}")
    from dse.evaluate.failures import format_failures

    reasons = [reason for reason, n in summary.failures for _ in range(n)]
    for line in format_failures(reasons):
        print(line, file=sys.stderr)
    if summary.results:
        _print_pick(spec, out)
    if summary.interrupted:
        from dse.evaluate.interrupts import exit_status, signal_name

        print(
            f"interrupted by {signal_name(summary.signum)}: every completed trial is kept, the "
            "running one is failed and runs again on resume; run the same command to resume",
            file=sys.stderr,
        )
        return exit_status(summary.signum)
    if summary.n_complete == 0:
        print(f"error: no trial of {summary.study_name} completed", file=sys.stderr)
        return 1
    return 0


def _suggest_sweep(spec, n_trials: int) -> None:
    """Tells the user when the sampler would draw no fewer designs than the space holds."""
    from dse.run.samplers import n_settings
    from dse.run.sweep import MAX_SWEEP_DESIGNS
    from dse.study.spec import SamplerName

    if spec.sampler.name in (SamplerName.GRID, SamplerName.AUTO):
        return
    size, settings = spec.space.size, n_settings(spec)
    unit = settings if spec.sampler.solve_hardware else size
    if unit <= n_trials and size <= MAX_SWEEP_DESIGNS:
        print(
            f"note: the space holds {size:,} designs ({settings:,} quantization settings), no "
            f"more than the {n_trials:,} trials asked: `mant-dse run STUDY --sweep` or "
            "`sampler: auto` evaluates every design exactly, in about the time of "
            f"{settings:,} trials",
            file=sys.stderr,
        )


def _print_pick(spec, out: Path) -> None:
    """The report's pick section as a short table (knee and best per objective)."""
    from dse.report.multifid import fidelity_info, fidelity_line, perplexity_view
    from dse.report.pick import pick_info
    from dse.report.terminal import pick_table
    from dse.results.frame import load_frame

    df = load_frame(out)
    fidelity = fidelity_info(df, spec)
    pick_df, pick_spec = perplexity_view(df, spec)  # multi-fidelity: promoted, on perplexity
    print()
    if fidelity is not None:
        print(fidelity_line(fidelity))
        if pick_spec is not spec:
            print("the pick is made among the promoted designs, on perplexity")
    print(pick_table(pick_info(pick_df, pick_spec), pick_spec.metric_names))


def _sweep(spec, out: Path) -> int:
    from tqdm.auto import tqdm

    from dse.evaluate.objective import Evaluator
    from dse.results.frame import RESULTS_PARQUET, load_frame, write_frame_atomic
    from dse.run.runner import CACHE_DIR
    from dse.run.sweep import hypervolume_ratio_curve, sweep

    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(unit="group", desc=f"sweep {spec.name} ({spec.space.size} designs)")

    def tick(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    df = sweep(spec, evaluator=Evaluator(spec, cache_dir=out / CACHE_DIR), on_group=tick)
    bar.close()
    write_frame_atomic(df, out / "sweep.csv")
    write_frame_atomic(df, out / "sweep.parquet")
    print(f"sweep: {len(df)} designs, {int(df['pareto'].sum())} on the true front")
    print(f"results: {out / 'sweep.parquet'}")
    if (out / RESULTS_PARQUET).exists():
        study_df = load_frame(out)
        numbers = _sampler_trials(spec, out)
        n = len(numbers) if numbers is not None else int((study_df["state"] == "COMPLETE").sum())
        checkpoints = sorted({c for c in (10, 50, 100, 200, 500, 1000, 2000) if c < n} | {n})
        if n:
            curve = hypervolume_ratio_curve(study_df, df, spec, checkpoints, numbers)
            for k, ratio in curve.items():
                print(f"hypervolume ratio after {k} trials: {ratio:.4f}")
    return 0


def _sampler_trials(spec, out: Path) -> list[int] | None:
    """Numbers of the study's sampler trials (COMPLETE or duplicate), or None without a study."""
    import optuna

    from dse.evaluate.failures import counts_as_done
    from dse.run.runner import SPEC_FILE
    from dse.run.storage import create_storage, default_storage_url
    from mant.yaml_input import load_yaml_file

    if not (out / SPEC_FILE).is_file():
        return None
    saved = load_yaml_file(out / SPEC_FILE, what="saved study file")  # bad: exit 2
    if not isinstance(saved, dict):
        raise InputError.single(str(out / SPEC_FILE), "must be a mapping (a study)", saved)
    try:
        url = saved.get("storage") or default_storage_url(out)
        study = optuna.load_study(study_name=spec.name, storage=create_storage(url, out_dir=out))
    except (OSError, KeyError, InputError):
        return None
    return sorted(t.number for t in study.get_trials(deepcopy=False) if counts_as_done(t))


def _worker(args: argparse.Namespace) -> int:
    from dse.cli._paths import check_output_dir
    from dse.run.runner import run_worker
    from dse.study.spec import load_spec

    spec = load_spec(args.study)
    if args.out is not None:
        check_output_dir(args.out, "--out")
    if args.storage is None:
        raise InputError.single("--storage", "is required", None)
    n = run_worker(
        spec,
        storage_url=args.storage,
        out_dir=_out_dir(args, spec.name),
        n_trials=args.n_trials,
        seed=args.seed,
        policy=_policy(args),
    )
    print(f"{spec.name}: this worker ran {n} trials")
    return 0
