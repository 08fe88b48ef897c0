"""Scale-out on a real PostgreSQL server: many worker processes on one study, SIGKILL and Ctrl-C
recovery, reload into the results frame, the journal default under the same commands, a shared
quantization cache with concurrent writers, and the CI server being stopped on failure.

Workers are separate processes running ``mant-dse worker`` through this file's ``__main__``
block, which first registers the test-only accuracy source ``pgtest``: the synthetic suite plus an
optional delay per trial (so that workers overlap) and an optional hang (so that a test can kill a
worker in the middle of a trial, deterministically).
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from dse.evaluate import accuracy
from dse.evaluate.cache import QuantCache, cache_key
from dse.evaluate.failures import DUPLICATE_ATTR
from dse.results.frame import frame_from_study
from dse.run.recovery import INTERRUPTED_ATTR, OWNER_ATTR, owner_alive, worker_id
from dse.run.runner import load_study_spec, run_study, run_worker
from dse.run.storage import create_storage
from dse.study.spec import parse_spec

pytestmark = pytest.mark.postgres

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
# one PE (A4 and A8 modes): 32 distinct designs, none differing only in a parameter its PE ignores
PARAMS = ("group_size", "weight_format", "act_bits", "rows", "cols")


class _TestSource:
    """The synthetic suite, slowed down or hung by environment variables (tests only).

    ``MANT_DSE_TEST_BARRIER`` (a folder) and ``MANT_DSE_TEST_BARRIER_N``: the first call waits
    until that many processes made their first call. ``MANT_DSE_TEST_DELAY_S``: seconds to sleep
    in every call. ``MANT_DSE_TEST_HANG_FILE``: on
    call number ``MANT_DSE_TEST_HANG_AT`` (default 1) of this process, the first process to create
    that file writes its pid into it and sleeps for ten minutes (until a test kills it).
    ``MANT_DSE_TEST_CALL_LOG`` (a folder): every call appends a line to the file named
    ``host:pid`` of this process there (which host ran how many trials).
    """

    def __init__(self, spec):
        self.inner = accuracy.synthetic_suite(spec)
        self.calls = 0

    def metrics(self, weight_config, kv_config, cache):
        self.calls += 1
        log = os.environ.get("MANT_DSE_TEST_CALL_LOG")
        if log:
            with open(Path(log) / f"{socket.gethostname()}:{os.getpid()}", "a") as f:
                f.write("call\n")
        barrier = os.environ.get("MANT_DSE_TEST_BARRIER")
        if barrier and self.calls == 1:
            _meet(Path(barrier), int(os.environ["MANT_DSE_TEST_BARRIER_N"]))
        time.sleep(float(os.environ.get("MANT_DSE_TEST_DELAY_S", "0")))
        hang = os.environ.get("MANT_DSE_TEST_HANG_FILE")
        if hang and self.calls == int(os.environ.get("MANT_DSE_TEST_HANG_AT", "1")):
            try:
                fd = os.open(hang + ".claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                Path(hang).write_text(str(os.getpid()))
                time.sleep(600)
        return self.inner.metrics(weight_config, kv_config, cache)


def _meet(folder, n, timeout_s=120.0):
    """Waits until ``n`` processes are inside their first trial, so that all of them share the
    work however slowly each one starts on a loaded machine."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    end = time.monotonic() + timeout_s
    while len(list(folder.iterdir())) < n and time.monotonic() < end:
        time.sleep(0.02)


accuracy.register_accuracy_source("pgtest", _TestSource)


def _spec_dict(small_spec_dict, n_trials):
    d = copy.deepcopy(small_spec_dict)
    d.update(name=f"pg-{uuid.uuid4().hex[:10]}", n_trials=n_trials, sampler={"name": "grid"})
    d["accuracy"]["source"] = "pgtest"
    d["space"].update(pe_type=["mant"], act_bits=[4, 8])
    return d


def _write_spec(data, folder):
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start_worker(spec_path, url, out, *, env=None, extra=()):
    """``mant-dse worker`` in a new process (with the test source registered). Heartbeat 1 s,
    grace 5 s: short for the tests, long enough that a live worker on a loaded machine is not
    taken for a dead one."""
    cmd = [sys.executable, str(HERE), "worker", str(spec_path), "--storage", url]
    cmd += ["--out", str(out), "--heartbeat", "1", "--grace", "5", *extra]
    return subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _wait_file(path, timeout_s=60.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _finish(procs, timeout_s=90):
    """Waits for the processes; kills them all if one outlives the timeout."""
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout_s)
            results.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def _load(url, name):
    return optuna.load_study(study_name=name, storage=create_storage(url, out_dir=None))


def _by_state(study, state):
    return [t for t in study.get_trials(deepcopy=False) if t.state == state]


def _key(params):
    return tuple(params[p] for p in PARAMS)


def _front(df):
    rows = df[df["pareto"]]
    return {tuple(r[f"param.{p}"] for p in PARAMS) for _, r in rows.iterrows()}


# ---------------------------------------------------------------------------------------------
# (1) four worker processes on one study, (3) reload from PostgreSQL into the frame and report


def _four_worker_study(pg_url, folder, small_spec_dict):
    data = _spec_dict(small_spec_dict, n_trials=32)  # the whole 32-point grid
    path = _write_spec(data, folder)
    env = {
        "MANT_DSE_TEST_DELAY_S": "0.05",
        "MANT_DSE_TEST_BARRIER": str(folder / "barrier"),
        "MANT_DSE_TEST_BARRIER_N": "4",
    }
    procs = [_start_worker(path, pg_url, folder / "out", env=env) for _ in range(4)]
    return data, _finish(procs)


def test_four_workers_share_one_study_and_find_the_single_process_front(
    pg_url, tmp_path, small_spec_dict
):
    data, results = _four_worker_study(pg_url, tmp_path, small_spec_dict)
    assert all(code == 0 for code, _, _ in results), results
    ran = [int(out.split("this worker ran ")[1].split()[0]) for _, out, _ in results]
    assert all(r > 0 for r in ran), ran  # all four worked on the study

    study = _load(pg_url, data["name"])
    trials = study.get_trials(deepcopy=False)
    complete = _by_state(study, TrialState.COMPLETE)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # unique, no gaps
    assert sum(ran) == len(trials)  # every trial was run by exactly one worker
    # global budget: 32 COMPLETE; overshoot bounded by the other 3 workers in flight
    assert 32 <= len(complete) <= 32 + 3 and all(t.state != TrialState.RUNNING for t in trials)
    # the grid gives trial n grid point n: the first 32 are distinct and cover the space
    first = [_key(t.params) for t in complete if t.number < 32]
    assert len(first) == len(set(first)) == 32

    single = parse_spec({**data, "name": data["name"] + "-single"})
    run_study(single, out_dir=tmp_path / "single", progress=False, report=False)
    df_single = frame_from_study(_load_journal(tmp_path / "single", single.name), single)
    assert (df_single["state"] == "COMPLETE").sum() == 32

    # (3) a fresh connection reloads the study and its spec into the results frame + report
    spec = load_study_spec(study)
    df = frame_from_study(_load(pg_url, data["name"]), spec)
    listed = [t for t in trials if DUPLICATE_ATTR not in t.user_attrs]  # repeats are skipped
    assert len(df) == len(listed) and (df["state"] == "COMPLETE").sum() == len(complete)
    assert _front(df) == _front(df_single) and len(_front(df)) >= 2
    report = tmp_path / "report.html"
    from dse.cli import main

    code = main(["plot", "--storage", pg_url, "--study", data["name"], "--to", str(report)])
    assert code == 0 and report.stat().st_size > 100_000
    text = report.read_text(encoding="utf-8")
    assert data["name"] in text and "plotly" in text


def test_two_run_commands_join_one_study_on_postgres(pg_url, tmp_path, small_spec_dict):
    data = _spec_dict(small_spec_dict, n_trials=16)
    path = _write_spec(data, tmp_path)
    env = {**os.environ, "MANT_DSE_TEST_DELAY_S": "0.05"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE),
                "run",
                str(path),
                "--storage",
                pg_url,
                "--out",
                str(tmp_path / f"out{i}"),
                "--no-progress",
                "--no-report",
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    results = _finish(procs)
    assert [code for code, _, _ in results] == [0, 0], results
    study = _load(pg_url, data["name"])
    complete = _by_state(study, TrialState.COMPLETE)
    assert 16 <= len(complete) <= 17 and len(study.trials) == len(complete)
    assert len({_key(t.params) for t in complete}) == len(complete)
    for i, (_, out, _) in enumerate(results):  # each wrote the whole study's results
        assert f"{len(complete)} complete, 0 failed" in out
        df = pd.read_parquet(tmp_path / f"out{i}" / "results.parquet")
        assert (df["state"] == "COMPLETE").sum() == len(complete)


def _load_journal(out, name):
    return optuna.load_study(study_name=name, storage=create_storage(None, out_dir=out))


# ---------------------------------------------------------------------------------------------
# (2) SIGKILL a worker in the middle of a trial: heartbeat -> FAIL -> retry by the others


def _check_recovered(study, hung_number, complete_before, n_trials, max_extra):
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert [t.number for t in failed] == [hung_number]
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == hung_number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == failed[0].params
    assert retries[0].system_attrs["retry_history"] == [hung_number]
    assert complete_before <= {t.number for t in complete}  # nothing completed was lost
    assert n_trials <= len(complete) <= n_trials + max_extra
    keys = [_key(t.params) for t in complete]
    assert len(keys) == len(set(keys))  # no design counted twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def _kill_one_of(procs, hang_file, study_loader):
    pid = int(_wait_file(hang_file))
    study = study_loader()
    complete_before = {t.number for t in _by_state(study, TrialState.COMPLETE)}
    running = _by_state(study, TrialState.RUNNING)
    os.kill(pid, signal.SIGKILL)
    return complete_before, running


def test_sigkilled_worker_trial_is_failed_by_heartbeat_and_retried(
    pg_url, tmp_path, small_spec_dict
):
    data = _spec_dict(small_spec_dict, n_trials=10)
    path = _write_spec(data, tmp_path)
    hang = tmp_path / "hang"
    env = {"MANT_DSE_TEST_DELAY_S": "0.05", "MANT_DSE_TEST_HANG_FILE": str(hang)}
    # two workers: the survivor alone cannot overshoot the budget past the killed trial (with
    # more, two of them may start the last trials together and reach 10 without the retry)
    procs = [
        _start_worker(path, pg_url, tmp_path / "out", env={**env, "MANT_DSE_TEST_HANG_AT": "2"})
        for _ in range(2)
    ]
    complete_before, running = _kill_one_of(procs, hang, lambda: _load(pg_url, data["name"]))
    pid = int(hang.read_text())
    results = _finish(procs)
    codes = {p.pid: code for p, (code, _, _) in zip(procs, results, strict=True)}
    assert codes.pop(pid) == -signal.SIGKILL and set(codes.values()) == {0}, results
    study = _load(pg_url, data["name"])
    hung = [t.number for t in running if study.trials[t.number].state == TrialState.FAIL]
    assert len(hung) == 1
    _check_recovered(study, hung[0], complete_before, n_trials=10, max_extra=0)


def test_sigkilled_worker_on_the_journal_default_is_recovered_by_the_other(
    tmp_path, small_spec_dict
):
    data = _spec_dict(small_spec_dict, n_trials=8)
    path = _write_spec(data, tmp_path)
    url = f"journal:///{tmp_path / 'out' / 'study.journal'}"
    hang = tmp_path / "hang"
    env = {"MANT_DSE_TEST_DELAY_S": "0.05", "MANT_DSE_TEST_HANG_FILE": str(hang)}
    procs = [_start_worker(path, url, tmp_path / "out", env=env) for _ in range(2)]

    def loader():
        return optuna.load_study(
            study_name=data["name"], storage=create_storage(url, out_dir=None)
        )

    complete_before, running = _kill_one_of(procs, hang, loader)
    pid = int(hang.read_text())
    results = _finish(procs)
    assert sorted(code for code, _, _ in results) == [-signal.SIGKILL, 0], results
    study = loader()
    hung = [t for t in running if t.user_attrs.get(OWNER_ATTR, "").split(":")[1] == str(pid)]
    assert len(hung) == 1 and study.trials[hung[0].number].state == TrialState.FAIL
    _check_recovered(study, hung[0].number, complete_before, n_trials=8, max_extra=0)


# ---------------------------------------------------------------------------------------------
# Ctrl-C: the running trial is FAIL (marked interrupted) and queued again; completed ones stay


def test_ctrl_c_fails_the_running_trial_and_queues_it_for_the_next_worker(
    pg_url, tmp_path, small_spec_dict
):
    data = _spec_dict(small_spec_dict, n_trials=5)
    path = _write_spec(data, tmp_path)
    hang = tmp_path / "hang"
    env = {"MANT_DSE_TEST_HANG_FILE": str(hang), "MANT_DSE_TEST_HANG_AT": "3"}
    proc = _start_worker(path, pg_url, tmp_path / "out", env=env)
    _wait_file(hang)
    proc.send_signal(signal.SIGINT)
    [(code, _, err)] = _finish([proc])
    assert code == 130 and "interrupted" in err
    study = _load(pg_url, data["name"])
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.WAITING]
    interrupted, queued = study.trials[2], study.trials[3]
    assert interrupted.user_attrs[INTERRUPTED_ATTR] is True
    assert queued.params == interrupted.params and queued.system_attrs["failed_trial"] == 2
    assert INTERRUPTED_ATTR not in queued.user_attrs

    ran = run_worker(parse_spec(data), storage_url=pg_url, out_dir=tmp_path / "out", seed=1)
    study = _load(pg_url, data["name"])
    complete = _by_state(study, TrialState.COMPLETE)
    assert ran == 3 and len(complete) == 5
    assert study.trials[3].state == TrialState.COMPLETE  # the retry ran first
    assert len({_key(t.params) for t in complete}) == 5


def test_run_resumes_after_a_sigkill_on_the_journal_default(tmp_path, small_spec_dict):
    """``mant-dse run`` killed mid-trial; the same command again fails and retries that trial."""
    data = _spec_dict(small_spec_dict, n_trials=6)
    path = _write_spec(data, tmp_path)
    out = tmp_path / "out"
    hang = tmp_path / "hang"
    cmd = [sys.executable, str(HERE), "run", str(path), "--out", str(out), "--no-progress"]
    env = {**os.environ, "MANT_DSE_TEST_HANG_FILE": str(hang), "MANT_DSE_TEST_HANG_AT": "4"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    _wait_file(hang)
    proc.kill()
    proc.communicate(timeout=30)
    study = _load_journal(out, data["name"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    done = subprocess.run(
        [*cmd, "--no-report"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "6 complete, 1 failed" in done.stdout, done
    study = _load_journal(out, data["name"])
    _check_recovered(study, 3, {0, 1, 2}, n_trials=6, max_extra=0)


# ---------------------------------------------------------------------------------------------
# helpers of the journal recovery: whose trial is it, and is that process alive


def test_worker_id_names_a_live_process_and_a_finished_one_is_dead():
    assert owner_alive(worker_id()) is True
    child = subprocess.run(
        [sys.executable, "-c", "from dse.run.recovery import worker_id; print(worker_id())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert owner_alive(child.stdout.strip()) is False
    assert owner_alive("some-other-host:1:1") is None


# ---------------------------------------------------------------------------------------------
# shared quantization cache: concurrent writers of the same keys never expose a torn entry


def _value(i):
    # a long value, so that a torn write would be visible
    return {f"m{j}": float(i * 1000 + j) for j in range(200)}


def _hammer(folder, seed, n_keys, rounds):
    cache = QuantCache(folder)
    bad = 0
    for r in range(rounds):
        for i in range(n_keys):
            key = cache_key({"i": i})
            if (i + seed + r) % 2:
                cache.put(key, _value(i))
            fresh = QuantCache(folder).get(key)  # a new object: read the disk, not memory
            bad += fresh is not None and fresh != _value(i)
    return bad


def test_concurrent_cache_writers_never_corrupt_entries(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        bad = pool.starmap(_hammer, [(str(tmp_path), s, 40, 10) for s in range(4)])
    assert bad == [0, 0, 0, 0]
    files = sorted(tmp_path.rglob("*"))
    entries = [f for f in files if f.is_file()]
    assert len(entries) == 40 and not [f for f in entries if f.suffix == ".tmp"]
    values = sorted(json.loads(f.read_text())["value"]["m0"] for f in entries)
    assert values == [i * 1000.0 for i in range(40)]


# ---------------------------------------------------------------------------------------------
# the CI server is stopped at exit even when the tests fail (tests/run.sh: trap pg_stop EXIT)


def test_pg_server_script_stops_the_server_when_the_command_fails():
    script = (
        "set -euo pipefail; source tests/pg_server.sh; pg_start >/dev/null; trap pg_stop EXIT; "
        'echo "$PG_DIR $MANT_DSE_TEST_PG_URL"; '
        "python -c 'import os, psycopg2; psycopg2.connect(os.environ[\"MANT_DSE_TEST_PG_URL\"])'; "
        "false"
    )
    env = {k: v for k, v in os.environ.items() if k != "MANT_DSE_TEST_PG_PORT"}
    done = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1, done  # the failing command's status is kept
    folder, url = done.stdout.split()[:2]
    assert "tests: PostgreSQL stopped" in done.stdout
    assert not Path(folder).exists()
    import psycopg2

    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=3)


if __name__ == "__main__":  # a worker process of the tests above
    from dse.cli import main

    sys.exit(main(sys.argv[1:]))
