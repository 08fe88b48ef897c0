"""Faults: Ctrl-C, SIGTERM, a process killed between Optuna creating a trial and claiming it, a
torn journal, a full disk, two runs on one folder. Each asserts nothing lost, nothing counted
twice, no hang (every subprocess has a timeout) and a clear word to the user.

Runs of the real command line go through this file as a script (``python test_faults.py run
...``), which registers a slow accuracy source (``MANT_DSE_TEST_DELAY_S`` per trial) so that a
signal finds a trial in flight.
"""

from __future__ import annotations

import copy
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dse.evaluate import accuracy

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
TIMEOUT_S = 120


class _SlowSource:
    """The synthetic suite, ``MANT_DSE_TEST_DELAY_S`` seconds slower per call."""

    def __init__(self, spec):
        self.inner = accuracy.synthetic_suite(spec)

    def metrics(self, weight_config, kv_config, cache):
        time.sleep(float(os.environ.get("MANT_DSE_TEST_DELAY_S", "0")))
        return self.inner.metrics(weight_config, kv_config, cache)


accuracy.register_accuracy_source("slowtest", _SlowSource)


def _spec_file(folder: Path, small_spec_dict: dict, n_trials: int) -> Path:
    d = copy.deepcopy(small_spec_dict)
    d.update(n_trials=n_trials, sampler={"name": "grid"})
    d["accuracy"]["source"] = "slowtest"
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _cli(*args: str, delay_s: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MANT_DSE_TEST_DELAY_S": str(delay_s)}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _trials(out: Path):
    import optuna

    from dse.run.storage import create_storage

    storage = create_storage(None, out_dir=out)
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def _wait_for_complete(out: Path, n: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        journal = out / "study.journal"
        if journal.exists() and journal.read_text().count('"state":1') >= n:
            return
        time.sleep(0.1)
    raise AssertionError("the run never completed a trial")


def _params_of_complete(trials) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in trials if t.state.name == "COMPLETE"]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_trial_stops_safely_and_resume_loses_nothing(
    tmp_path, small_spec_dict, sig, status
):
    spec = _spec_file(tmp_path, small_spec_dict, n_trials=6)
    out = tmp_path / "out"
    run = ("run", str(spec), "--out", str(out), "--no-progress", "--no-report")
    p = _cli(*run, delay_s=0.5)
    _wait_for_complete(out, 1)
    time.sleep(0.2)  # inside the next trial's 0.5 s objective
    p.send_signal(sig)
    _, err = p.communicate(timeout=TIMEOUT_S)
    assert p.returncode == status, err
    assert f"interrupted by {signal.Signals(sig).name}" in err and "Traceback" not in err
    assert (out / "results.csv").exists()  # results written on the way out
    trials = _trials(out)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    interrupted = [t for t in trials if t.user_attrs.get("mant_dse_interrupted")]
    done_before = len(_params_of_complete(trials))
    assert len(interrupted) <= 1 and 1 <= done_before < 6
    # resume (in this process, quicker): the interrupted design runs again, the total is exactly
    # the target, no design twice
    _resume(spec, out)
    done = _params_of_complete(_trials(out))
    assert len(done) == 6 and len(set(done)) == 6
    if interrupted:
        assert tuple(sorted(interrupted[0].params.items())) in done


def test_signal_outside_the_objective_is_deferred_to_a_safe_point(
    tmp_path, small_spec, monkeypatch
):
    """A Ctrl-C while the runner counts trials (Optuna machinery, not the objective) must not
    break Optuna's tell (the old UnboundLocalError) nor leave a RUNNING trial behind."""
    from dse.run import runner

    original = runner._Progress.__call__
    calls = []

    def progress_then_ctrl_c(self, study, trial):
        calls.append(trial.number)
        if len(calls) == 2:  # after Optuna's tell of the second trial, outside any objective
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, study, trial)

    monkeypatch.setattr(runner._Progress, "__call__", progress_then_ctrl_c)
    s = runner.run_study(small_spec, out_dir=tmp_path, progress=False, report=False, n_trials=8)
    assert s.interrupted and s.signum == signal.SIGINT
    assert s.n_complete == 2  # the second trial finished; no new computation started
    trials = _trials(tmp_path)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert s.n_run == len(trials) <= 3
    assert (tmp_path / "results.parquet").exists()


def test_stop_request_defers_aborts_and_forces_as_documented():
    from dse.evaluate.interrupts import Interrupted, StopRequest, exit_status

    def deliver(sig):
        os.kill(os.getpid(), sig)
        time.sleep(0.05)  # the handler runs at the next bytecode of the main thread

    with StopRequest() as stop:  # not abortable: only recorded
        deliver(signal.SIGTERM)
        assert stop.signum == signal.SIGTERM
        deliver(signal.SIGTERM)  # a repeated SIGTERM still waits for the safe point
        with pytest.raises(Interrupted) as info:
            deliver(signal.SIGINT)  # a second Ctrl-C does not
        assert info.value.signum == signal.SIGINT
    with StopRequest() as stop:
        stop.abortable = True  # inside an objective: the computation is aborted
        with pytest.raises(Interrupted):
            deliver(signal.SIGINT)
        assert not stop.abortable
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert (exit_status(signal.SIGINT), exit_status(signal.SIGTERM)) == (130, 143)


def test_trial_without_owner_is_recovered_not_waited_on(tmp_path, small_spec):
    """Killed between Optuna's create and the runner's claim: a RUNNING trial with no owner."""
    import optuna

    from dse.run.recovery import RecoveryPolicy
    from dse.run.runner import open_study, run_study
    from dse.run.storage import create_storage

    run_study(small_spec, out_dir=tmp_path, progress=False, report=False, n_trials=3)
    study = open_study(small_spec, create_storage(None, out_dir=tmp_path))
    orphan = study.ask()  # RUNNING, no owner attribute: what a kill at that moment leaves
    policy = RecoveryPolicy(unowned_after_s=0.5, grace_period_s=5, poll_s=0.1)
    time.sleep(0.6)
    start = time.monotonic()
    s = run_study(
        small_spec, out_dir=tmp_path, progress=False, report=False, n_trials=5, policy=policy
    )
    assert time.monotonic() - start < 30
    assert s.n_complete + s.n_duplicate == 5  # a design drawn again is pruned, not re-run
    states = {t.number: t.state for t in _trials(tmp_path)}
    assert states[orphan.number] == optuna.trial.TrialState.FAIL
    assert optuna.trial.TrialState.RUNNING not in states.values()


def _resume(spec_path: Path, out: Path, n_trials: int | None = None):
    from dse.run.runner import run_study
    from dse.study.spec import load_spec

    return run_study(
        load_spec(spec_path), out_dir=out, progress=False, report=False, n_trials=n_trials
    )


def test_unclaimed_trial_on_an_rdb_storage_is_recovered(tmp_path, small_spec):
    """SQLite (heartbeat storage): Optuna never fails a trial that never sent a heartbeat."""
    import optuna

    from dse.run.recovery import RecoveryPolicy
    from dse.run.runner import open_study, run_study
    from dse.run.storage import create_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    policy = RecoveryPolicy(
        heartbeat_interval_s=1, grace_period_s=1, unowned_after_s=0.5, poll_s=0.1
    )
    kw = dict(out_dir=tmp_path, storage_url=url, progress=False, report=False, policy=policy)
    run_study(small_spec, n_trials=2, **kw)
    with pytest.warns(UserWarning, match="Heartbeat"):  # ask() outside optimize: on purpose
        orphan = open_study(small_spec, create_storage(url, out_dir=None, policy=policy)).ask()
    time.sleep(1.2)
    s = run_study(small_spec, n_trials=3, **kw)
    assert s.n_complete == 3
    study = optuna.load_study(study_name=small_spec.name, storage=url)
    assert study.trials[orphan.number].state == optuna.trial.TrialState.FAIL


def test_torn_journal_tail_is_repaired_and_said_so(tmp_path, small_spec_dict, caplog):
    spec = _spec_file(tmp_path, small_spec_dict, n_trials=2)
    out = tmp_path / "out"
    _resume(spec, out)
    journal = out / "study.journal"
    whole = journal.read_bytes()
    with journal.open("ab") as f:  # a full disk in the middle of a record
        f.write(b'{"op_code":5,"worker_id":"x","trial_id":1,"par')
    with caplog.at_level("WARNING", logger="dse.run.journal_check"):
        _resume(spec, out, n_trials=3)
    assert "removed a half-written last record" in caplog.text and str(journal) in caplog.text
    (backup,) = out.glob("study.journal.torn-*.bak")
    assert backup.read_bytes().startswith(whole) and backup.read_bytes() != whole
    done = _params_of_complete(_trials(out))
    assert len(done) == 3 and len(set(done)) == 3


def test_full_disk_leaves_the_old_file_whole(tmp_path, monkeypatch):
    from dse.report.html import write_report  # noqa: F401  (its writes go through the helper)
    from mant import atomic_write

    target = tmp_path / "report.html"
    target.write_text("old report")

    class _Full:
        def __init__(self, fd, *a, **k):
            os.close(fd)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_write.os, "fdopen", _Full)
    with pytest.raises(OSError, match="No space"):
        atomic_write.write_text_atomic(target, "<html>new</html>")
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_killed_write_leaves_no_temp_file_for_good(tmp_path):
    from mant import atomic_write

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that was a writer and is gone
    target = tmp_path / "report.html"
    stale = tmp_path / f".report.{dead.pid}-k1ll3d.tmp"
    stale.write_text("<html>half")
    old = time.time() - 60
    os.utime(stale, (old, old))
    fresh_other_host = tmp_path / ".report.1-abc.tmp"  # pid 1 is alive: not ours to judge
    fresh_other_host.write_text("in flight")
    ancient = tmp_path / ".report.1-old.tmp"
    ancient.write_text("left by a writer on another host, hours ago")
    os.utime(ancient, (old - 7200, old - 7200))
    unrelated = tmp_path / ".results.123.tmp"
    unrelated.write_text("someone else's file")
    atomic_write.write_text_atomic(target, "<html>new</html>")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([".report.1-abc.tmp", ".results.123.tmp", "report.html"]), names


def test_outputs_respect_the_umask(tmp_path, small_spec_dict):
    from dse.cli import main

    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump({**small_spec_dict, "n_trials": 2}))
    old = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert main(["run", str(spec), "--out", str(out), "--no-progress"]) == 0
        exported = tmp_path / "designs"
        assert main(["export", "--out", str(out), "--to", str(exported), "--trial", "0"]) == 0
    finally:
        os.umask(old)
    files = [out / n for n in ("results.csv", "results.parquet", "report.html", "study.yaml")]
    files += list((exported / "trial-00000").iterdir())
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {"0o644"}, modes


def test_full_disk_during_a_run_is_one_clear_error_and_keeps_completed_trials(
    tmp_path, small_spec_dict, monkeypatch, capsys
):
    from optuna.storages.journal import JournalFileBackend

    from dse.cli import main

    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump({**small_spec_dict, "n_trials": 20}))
    append = JournalFileBackend.append_logs
    calls = [0]

    def full_after_40_records(self, logs):
        calls[0] += 1
        if calls[0] > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        return append(self, logs)

    monkeypatch.setattr(JournalFileBackend, "append_logs", full_after_40_records)
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--no-progress", "--no-report"]) == 1
    err = capsys.readouterr().err
    assert "Should not reach" not in err and "Traceback" not in err
    assert "error: cannot write the study's storage (No space left on device)" in err
    monkeypatch.setattr(JournalFileBackend, "append_logs", append)
    done = _params_of_complete(_trials(out))
    assert done  # the trials completed before the disk filled are kept


def test_two_runs_on_one_folder_each_count_their_own_trials(tmp_path, small_spec_dict):
    spec = _spec_file(tmp_path, small_spec_dict, n_trials=6)
    out = tmp_path / "out"
    run = ("run", str(spec), "--out", str(out), "--no-progress", "--no-report")
    procs = [_cli(*run, delay_s=0.3) for _ in range(2)]
    outputs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ran = []
    for text, _ in outputs:
        line = next(x for x in text.splitlines() if "run now" in x)
        ran.append(int(line.split("(")[1].split()[0]))
    trials = _trials(out)
    assert sum(ran) == len([t for t in trials if t.state.name in ("COMPLETE", "FAIL")])
    assert len(set(_params_of_complete(trials))) == len(_params_of_complete(trials)) >= 6


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        kids.update(int(x) for x in task.read_text().split())
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_stop_when_the_parent_is_killed(tmp_path, small_spec_dict):
    spec = _spec_file(tmp_path, small_spec_dict, n_trials=30)
    out = tmp_path / "out"
    # 15 trials of 1 s each per process: a worker left alone would go on for 15 s
    p = _cli("run", str(spec), "--out", str(out), "--no-progress", "--jobs", "2", delay_s=1.0)
    _wait_for_complete(out, 1)
    workers: set[int] = set()
    deadline = time.monotonic() + TIMEOUT_S
    while not workers and time.monotonic() < deadline:
        # the spawned worker (the resource tracker is a child too: it exits with its parent)
        workers = {c for c in _children(p.pid) if "resource_tracker" not in _cmdline(c)}
        time.sleep(0.1)
    assert workers, "no worker process started"
    p.kill()  # SIGKILL: the parent cannot stop its workers itself
    p.wait(timeout=TIMEOUT_S)  # not communicate(): the workers hold its pipes open
    deadline = time.monotonic() + 8
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    p.communicate(timeout=TIMEOUT_S)
    assert not left, "a worker outlived its killed parent"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except FileNotFoundError:
        return ""


if __name__ == "__main__":  # a run of the tests above
    from dse.cli import main

    sys.exit(main(sys.argv[1:]))
