"""Several workers on one study never evaluate or list a design twice (issue 12 §4).

The study has one quantization setting, so every worker's first trial draws it. The test-only
accuracy source ``duptest`` holds each process's first evaluation until every worker has reached
its own first evaluation, or until the storage holds a trial pruned as a duplicate (a worker
stood down): without a claim in storage both workers solve the setting and record its front
twice; with it one of them prunes its trial. Workers are real processes: ``mant-dse run --jobs 2``
and two ``mant-dse worker`` processes on one journal file (and on PostgreSQL), run through this
file's ``__main__`` block, which registers the source first (``--jobs`` children re-import this
file as their main module and register it too).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from dse.evaluate import accuracy

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
N_TRIALS = 6


class _HoldFirstCall:
    """The synthetic suite; the first call of each process waits (see the module docstring).

    ``MANT_DSE_TEST_HOLD`` (a folder), ``MANT_DSE_TEST_HOLD_N`` (processes),
    ``MANT_DSE_TEST_HOLD_STORAGE`` (the study's storage URL, to look for a duplicate).
    """

    def __init__(self, spec):
        self.inner = accuracy.synthetic_suite(spec)
        self.calls = 0

    def metrics(self, weight_config, kv_config, cache):
        self.calls += 1
        folder = os.environ.get("MANT_DSE_TEST_HOLD")
        if folder and self.calls == 1:
            _hold(Path(folder), int(os.environ["MANT_DSE_TEST_HOLD_N"]))
        return self.inner.metrics(weight_config, kv_config, cache)


def _hold(folder: Path, n: int, timeout_s: float = 120.0) -> None:
    from dse.evaluate.failures import DUPLICATE_ATTR
    from dse.run.storage import create_storage

    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    url = os.environ["MANT_DSE_TEST_HOLD_STORAGE"]
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if len(list(folder.iterdir())) >= n:
            return
        storage = create_storage(url, out_dir=None)
        for summary in optuna.get_all_study_summaries(storage):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            if any(DUPLICATE_ATTR in t.user_attrs for t in study.get_trials(deepcopy=False)):
                return
        time.sleep(0.1)


accuracy.register_accuracy_source("duptest", _HoldFirstCall)


def _spec(small_spec_dict, folder: Path, sampler) -> Path:
    d = dict(small_spec_dict)
    d.update(name=f"dup-{folder.name[-12:]}", n_trials=N_TRIALS, sampler=sampler)
    d["accuracy"] = {**d["accuracy"], "source": "duptest"}
    # one quantization setting; 4 x 4 arrays and two dataflows for the hardware solve
    d["space"] = {
        "pe_type": ["mant"],
        "group_size": [64],
        "weight_format": ["int{bits}"],
        "rows": [4, 8, 16, 32],
        "cols": [4, 8, 16, 32],
        "dataflow": ["ws", "os"],
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def _cli(args, env):
    return subprocess.Popen(
        [sys.executable, str(HERE), *map(str, args)],
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs, timeout_s=240):
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
    assert all(code == 0 for code, _, _ in results), results
    return results


def _hold_env(folder: Path, url: str) -> dict[str, str]:
    return {
        "MANT_DSE_TEST_HOLD": str(folder / "hold"),
        "MANT_DSE_TEST_HOLD_N": "2",
        "MANT_DSE_TEST_HOLD_STORAGE": url,
    }


def _keys(df: pd.DataFrame) -> list[tuple]:
    params = [c for c in df.columns if c.startswith("param.")]
    done = df[df["state"] == "COMPLETE"]
    return [tuple(str(v) for v in row) for row in done[params].itertuples(index=False)]


def _check_once(df: pd.DataFrame, study: optuna.Study, *, grid: bool = False) -> None:
    from dse.evaluate.failures import DUPLICATE_ATTR
    from dse.evaluate.objective import trial_record

    keys = _keys(df)
    assert keys and len(keys) == len(set(keys)), df  # every design listed once
    stored = [repr(sorted(trial_record(t)["design"].items())) for t in study.trials
              if t.state.name == "COMPLETE"]  # fmt: skip
    assert len(stored) == len(set(stored))  # and evaluated (recorded) once
    assert any(DUPLICATE_ATTR in t.user_attrs for t in study.trials)  # a worker stood down
    # --n-trials counts the sampler's trials: COMPLETE or pruned duplicates; a space of one
    # setting is exhausted once it is drawn, so each worker stops at its first duplicate (a
    # grid: once its point is drawn) instead of drawing duplicates up to N_TRIALS
    from dse.evaluate.failures import counts_as_done

    low = 2
    assert low <= sum(counts_as_done(t) for t in study.trials) <= N_TRIALS + 2


@pytest.mark.parametrize("sampler", [{"name": "random", "solve_hardware": True}, "auto"])
def test_run_jobs_2_lists_each_solved_design_once(small_spec_dict, tmp_path, sampler):
    from dse.report.info import context_info
    from dse.run.storage import create_storage, default_storage_url
    from dse.study.spec import load_spec

    path = _spec(small_spec_dict, tmp_path, sampler)
    out = tmp_path / "out"
    url = default_storage_url(out)
    ((_, printed, _),) = _finish(
        [_cli(["run", path, "--out", out, "--jobs", 2, "--no-progress"], _hold_env(tmp_path, url))]
    )
    spec = load_spec(path)
    study = optuna.load_study(study_name=spec.name, storage=create_storage(url, out_dir=None))
    df = pd.read_csv(out / "results.csv")
    _check_once(df, study, grid=sampler == "auto")
    # the run's line, the results frame and the report agree on the number of designs
    n = len(_keys(df))
    assert f"; {n} designs recorded" in printed, printed
    items = dict(context_info(df, spec).items)
    assert f"({n} complete" in items["trials"] and items["distinct designs"].startswith(f"{n} ")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"{n} evaluated" in html


def _two_workers_check(small_spec_dict, folder: Path, url: str) -> None:
    from dse.results.frame import frame_from_study
    from dse.run.runner import load_study_spec
    from dse.run.storage import create_storage

    path = _spec(small_spec_dict, folder, {"name": "random", "solve_hardware": True})
    env = _hold_env(folder, url)
    args = ["worker", path, "--storage", url, "--out", folder / "out", "--grace", "5"]
    _finish([_cli([*args, "--heartbeat", "1"], env), _cli([*args, "--heartbeat", "1"], env)])
    name = yaml.safe_load(path.read_text())["name"]
    study = optuna.load_study(study_name=name, storage=create_storage(url, out_dir=None))
    _check_once(frame_from_study(study, load_study_spec(study)), study)


def test_two_workers_on_one_journal_file_list_each_design_once(small_spec_dict, tmp_path):
    url = f"journal:///{tmp_path / 'shared.journal'}"
    _two_workers_check(small_spec_dict, tmp_path, url)


@pytest.mark.postgres
def test_two_workers_on_postgres_list_each_design_once(small_spec_dict, tmp_path, pg_url):
    _two_workers_check(small_spec_dict, tmp_path, pg_url)


def test_the_frame_lists_a_design_recorded_twice_once(small_spec):
    """Read-time safety net: a design stored by two trials (e.g. by a version without claims)
    is listed once, by its first trial."""
    from dse.evaluate.objective import RECORD_ATTR, Evaluator
    from dse.results.frame import frame_from_study

    ev = Evaluator(small_spec)
    values = {"pe_type": "int8", "group_size": 32, "weight_format": "int{bits}", "cols": 8}
    study = optuna.create_study(directions=["minimize"] * 3)
    for rows in (8, 16, 8):
        e = ev.evaluate({**values, "rows": rows})
        rec = {"design": e.design.to_dict(), "quant": dict(e.quant), "metrics": dict(e.metrics)}
        study.add_trial(
            optuna.trial.create_trial(values=list(e.objectives), user_attrs={RECORD_ATTR: rec})
        )
    df = frame_from_study(study, small_spec)
    assert list(df["trial"]) == [0, 1]  # trial 2 repeats trial 0's design


if __name__ == "__main__":  # a `mant-dse` process of the tests above
    from dse.cli import main

    sys.exit(main(sys.argv[1:]))
