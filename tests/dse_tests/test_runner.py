"""The runner: records, resume, failures, interrupts, caching across arrays and runs, workers."""

from __future__ import annotations

import dataclasses
import re

import optuna
import pytest
import yaml

from dse.cli import main
from dse.evaluate import accuracy
from dse.evaluate.objective import Evaluator, trial_record
from dse.results.frame import columns_for, load_frame
from dse.run.runner import run_study, run_worker
from dse.run.storage import create_storage, default_storage_url
from dse.study.design import design_from_values
from mant.errors import InputError


def _journal_study(out, name="small"):
    return optuna.load_study(study_name=name, storage=create_storage(None, out_dir=out))


def test_run_records_the_full_configuration(small_spec, tmp_path):
    s = run_study(small_spec, out_dir=tmp_path, progress=False, report=False)
    # 12 sampler trials; a design drawn twice is skipped (PRUNED), not evaluated again
    assert (s.n_complete + s.n_duplicate, s.n_fail, s.n_run) == (12, 0, 12)
    assert (tmp_path / "study.journal").exists() and (tmp_path / "study.yaml").exists()
    df = load_frame(tmp_path)
    assert list(df.columns) == columns_for(small_spec) and len(df) == s.n_complete
    t = _journal_study(tmp_path).trials[0]
    rec = trial_record(t)
    assert set(rec) == {"design", "metrics", "quant"}
    assert rec["design"]["rows"] == t.params["rows"]
    design = design_from_values(small_spec.space, t.params)
    assert rec["quant"]["weights"] == design.recipe.weight("q").quant_config().to_dict()
    if t.params["pe_type"] == "mant":  # baseline PEs keep their native recipe's groups
        assert rec["quant"]["weights"]["group_size"] == t.params["group_size"]
    assert set(t.constraints) == {"weight_bits_per_element_max", "tile_overflow_bytes_max"}
    assert t.constraints["tile_overflow_bytes_max"] == rec["metrics"]["tile_overflow_bytes"] < 0
    expected = rec["metrics"]["weight_bits_per_element"] - 6.0
    assert t.constraints["weight_bits_per_element_max"] == pytest.approx(expected)
    assert t.values == [rec["metrics"][m] for m in small_spec.metric_names]


def test_rerun_resumes_and_counts_completed_trials(small_spec, tmp_path):
    run_study(small_spec, out_dir=tmp_path, progress=False, report=False)
    again = run_study(small_spec, out_dir=tmp_path, progress=False, report=False)
    assert (again.n_complete + again.n_duplicate, again.n_run) == (12, 0)
    more = run_study(small_spec, out_dir=tmp_path, n_trials=15, progress=False, report=False)
    assert (more.n_complete + more.n_duplicate, more.n_run) == (15, 3)
    assert sorted(t.number for t in _journal_study(tmp_path).trials) == list(range(15))


def test_rerun_with_another_space_is_refused(small_spec, tmp_path):
    run_study(small_spec, out_dir=tmp_path, n_trials=2, progress=False, report=False)
    other = dataclasses.replace(small_spec, objectives=small_spec.objectives[:2])
    with pytest.raises(InputError):
        run_study(other, out_dir=tmp_path, n_trials=2, progress=False, report=False)


class _Flaky:
    """Wraps the synthetic suite; raises for group size 32 (a bug in a plug-in source)."""

    def __init__(self, spec, interrupt_after=None):
        self.inner = accuracy.synthetic_suite(spec)
        self.calls = 0
        self.interrupt_after = interrupt_after

    def metrics(self, weight_config, kv_config, cache):
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        if weight_config.group_size == 32:
            raise InputError.single("group_size", "flaky source cannot do", 32)
        return self.inner.metrics(weight_config, kv_config, cache)


def test_failing_objective_is_recorded_fail_with_params_and_the_study_goes_on(
    small_spec, tmp_path
):
    ev = Evaluator(small_spec, accuracy=_Flaky(small_spec.accuracy))
    s = run_study(
        small_spec, out_dir=tmp_path, evaluator=ev, n_trials=8, progress=False, report=False
    )
    trials = _journal_study(tmp_path).trials
    failed = [t for t in trials if t.state.name == "FAIL"]
    # this call starts at most n_trials trials; failures use budget but do not count as done
    assert failed and s.n_run == 8 and s.n_fail == len(failed)
    assert s.n_complete + s.n_duplicate == 8 - len(failed)
    assert all(t.params["group_size"] == 32 and "rows" in t.params for t in failed)
    assert all(t.params["pe_type"] == "mant" for t in failed)  # int8 weights: groups of 64
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert all(t.params["group_size"] == 64 or t.params["pe_type"] == "int8" for t in done)
    df = load_frame(tmp_path)
    assert set(df.loc[df["state"] == "FAIL", "param.group_size"]) == {32}


def test_ctrl_c_keeps_every_completed_trial(small_spec, tmp_path):
    flaky_free = parse_g64(small_spec)
    ev = Evaluator(flaky_free, accuracy=_Flaky(flaky_free.accuracy, interrupt_after=5))
    s = run_study(flaky_free, out_dir=tmp_path, evaluator=ev, progress=False, report=False)
    assert s.interrupted and s.n_complete == 5
    assert len(load_frame(tmp_path)) == 6  # 5 COMPLETE + the interrupted one (FAIL)
    resumed = run_study(flaky_free, out_dir=tmp_path, progress=False, report=False)
    assert resumed.n_complete + resumed.n_duplicate == 12


def parse_g64(spec):
    from dse.study.spec import parse_spec, spec_to_dict

    data = spec_to_dict(spec)
    data["space"]["group_size"] = [64]
    return parse_spec(data)


def test_array_changes_never_requantize_and_runs_share_the_disk_cache(small_spec, tmp_path):
    ev = Evaluator(small_spec, cache_dir=tmp_path)
    base = {
        "pe_type": "mant",
        "group_size": 64,
        "weight_format": "mant-unicore16",
        "rows": 8,
        "cols": 8,
    }
    ev.evaluate(base)
    misses = ev.cache.stats.misses
    assert misses == len(ev.accuracy.weights) + len(ev.accuracy.kv) == 4  # one per tensor
    for rows, cols in [(16, 8), (8, 16), (16, 16)]:
        ev.evaluate({**base, "rows": rows, "cols": cols})
    assert ev.cache.stats.misses == misses
    later = Evaluator(small_spec, cache_dir=tmp_path)
    e1 = later.evaluate(base)
    assert later.cache.stats.misses == 0 and later.cache.stats.disk_hits == misses
    assert e1.metrics["weight_rel_mse"] == ev.evaluate(base).metrics["weight_rel_mse"]
    # a different quant config is a different key (weights and KV both regroup)
    later.evaluate({**base, "group_size": 32})
    assert later.cache.stats.misses == misses


def test_design_from_values_resolves_labels(small_spec_dict):
    from dse.study.spec import parse_spec

    small_spec_dict["space"]["weight_format"] = [
        {"label": "lin4", "family": "linear", "n": 4, "a_min": 0, "a_max": 30}
    ]
    spec = parse_spec(small_spec_dict)
    d = design_from_values(
        spec.space,
        {"pe_type": "mant", "group_size": 64, "weight_format": "lin4", "rows": 8, "cols": 8},
    )
    assert d.weight_candidates == {"family": "linear", "n": 4, "a_min": 0, "a_max": 30, "k": 4}


@pytest.mark.parametrize("url", ["ftp://example.org/db", "postgresql://nobody@127.0.0.1:1/none"])
def test_unreachable_or_unknown_storage_is_bad_input(url, tmp_path):
    with pytest.raises(InputError) as info:
        create_storage(url, out_dir=tmp_path)
    assert info.value.issues[0].path == "storage"


def test_workers_share_one_global_budget(small_spec, tmp_path):
    url = default_storage_url(tmp_path)
    first = run_worker(small_spec, storage_url=url, out_dir=tmp_path, n_trials=5, seed=1)
    second = run_worker(small_spec, storage_url=url, out_dir=tmp_path, n_trials=7, seed=2)
    third = run_worker(small_spec, storage_url=url, out_dir=tmp_path, n_trials=7, seed=3)
    assert (first, second, third) == (5, 2, 0)


def test_two_jobs_reach_the_target(small_spec, tmp_path):
    s = run_study(small_spec, out_dir=tmp_path, n_trials=16, jobs=2, progress=False, report=False)
    assert 16 <= s.n_complete + s.n_duplicate <= 17 and s.n_fail == 0


def test_cli_run_and_bad_spec_exit_codes(small_spec_dict, tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_spec_dict))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--no-report"]) == 0
    printed = capsys.readouterr().out
    m = re.search(
        r"(\d+) complete, 0 failed \(12 run now in [\d.]+ s(, (\d+) duplicates skipped)?", printed
    )
    assert m and int(m.group(1)) + int(m.group(3) or 0) == 12
    assert str(out / "results.parquet") in printed
    small_spec_dict["space"]["rows"] = {"low": 9, "high": 3}
    small_spec_dict["bogus"] = 1
    path.write_text(yaml.safe_dump(small_spec_dict))
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: space.rows: is empty" in err and "error: bogus: unknown key" in err
    code = main(["run", str(path.with_name("missing.yaml")), "--no-progress"])
    assert code == 2


def test_an_exhausted_space_stops_the_run_and_says_so(small_spec_dict, tmp_path, capsys):
    """n_trials far beyond a 4-design space: the sampler would draw duplicates forever."""
    d = {**small_spec_dict, "n_trials": 10**400, "sampler": {"name": "random"}}
    d["space"] = {"pe_type": ["mant", "int8"], "group_size": [32, 64]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    argv = ["run", str(path), "--out", str(tmp_path / "o"), "--no-progress", "--no-report"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "4 complete" in captured.out
    assert "note: stopped before n_trials: every design of the space is evaluated" in (
        captured.err
    )


def test_n_trials_help_says_what_it_counts(small_spec_dict, tmp_path, capsys):
    """Duplicates count toward --n-trials: the help must not call it a target of COMPLETE."""
    from dse.cli import build_parser

    for command in ("run", "worker"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "COMPLETE" in text and "plus duplicates skipped" in text, text


def test_progress_total_is_the_grid_size_when_the_grid_is_smaller(small_spec_dict, tmp_path):
    """n_trials 100 over a 32-point grid: the bar's total is 32 (failed designs show as
    ``failed=N`` next to it), not 100."""
    import contextlib
    import io

    from dse.study.spec import parse_spec

    spec = parse_spec({**small_spec_dict, "n_trials": 100, "sampler": {"name": "grid"}})
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        run_study(spec, out_dir=tmp_path / "o", progress=True, report=False)
    text = err.getvalue()
    assert "/32 [" in text and "/100" not in text, text[-500:]
