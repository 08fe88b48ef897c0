"""Search where it is needed: hardware solved exactly per quantization setting, every
non-dominated design kept in the study, `sampler: auto` exact on small spaces."""

from __future__ import annotations

import optuna
import pytest
import yaml

from dse.cli import main
from dse.evaluate.failures import ADDED_ATTR, DUPLICATE_ATTR
from dse.evaluate.objective import Evaluator, trial_record
from dse.evaluate.solve import HardwareSolver
from dse.results.frame import load_frame
from dse.run.runner import run_study
from dse.run.storage import create_storage
from dse.run.sweep import hypervolume_ratio, sweep
from dse.study.spec import parse_spec


def _spec(d, sampler):
    d["sampler"] = sampler
    d["space"].update(
        rows={"low": 4, "high": 24}, cols={"low": 4, "high": 24}, dataflow=["ws", "os"]
    )
    return parse_spec(d)


def test_the_solver_returns_the_exact_front_of_one_setting(small_spec_dict):
    spec = _spec(small_spec_dict, {"name": "random", "solve_hardware": True})
    truth = sweep(spec)
    values = {"pe_type": "mant", "group_size": 64, "weight_format": "int{bits}"}
    front = HardwareSolver(Evaluator(spec)).solve(values)
    mine = truth[
        (truth["param.pe_type"] == "mant")
        & (truth["param.group_size"] == 64)
        & (truth["param.weight_format"] == "int{bits}")
    ]
    from dse.evaluate.pareto import pareto_mask
    from dse.results.frame import objective_matrix

    m = objective_matrix(mine, spec)
    on = mine[pareto_mask(m, mine["feasible"].to_numpy())]
    got = {(e.design.rows, e.design.cols, e.design.dataflow) for _, e in front}
    exact = {
        (int(r), int(c), d)
        for r, c, d in on[["param.rows", "param.cols", "param.dataflow"]].values
    }
    # one design per objective vector: every solved design is on the setting's front and
    # every objective vector of that front is reached
    assert got <= exact
    assert len({tuple(e.objectives) for _, e in front}) == len(
        {tuple(x) for x in m[pareto_mask(m, mine["feasible"].to_numpy())]}
    )


def test_solved_designs_are_in_storage_and_frame_and_trials_count_sampler_trials(
    small_spec_dict, tmp_path
):
    spec = _spec(small_spec_dict, {"name": "random", "solve_hardware": True})
    s = run_study(spec, out_dir=tmp_path, n_trials=4, progress=False, report=False)
    study = optuna.load_study(study_name="small", storage=create_storage(None, out_dir=tmp_path))
    sampler = [t for t in study.trials if ADDED_ATTR not in t.user_attrs]
    added = [t for t in study.trials if ADDED_ATTR in t.user_attrs]
    assert len(sampler) == 4 and s.n_complete + s.n_duplicate == 4
    assert added and all(t.state.name == "COMPLETE" for t in added)
    assert s.n_designs == s.n_complete + len(added)
    parents = {t.number for t in sampler}
    assert all(t.user_attrs[ADDED_ATTR] in parents for t in added)
    # the hardware is solved, not sampled: sampler trials carry no array parameters
    assert all("rows" not in t.params for t in sampler if t.state.name == "COMPLETE")
    df = load_frame(tmp_path)
    assert len(df) == s.n_designs and df["param.rows"].notna().all()
    keys = [trial_record(t)["design"].values().__repr__() for t in study.trials if trial_record(t)]
    assert len(keys) == len(set(keys))  # no design listed twice


def test_sampler_auto_on_a_small_space_finds_the_exact_front(small_spec_dict, tmp_path, capsys):
    d = dict(small_spec_dict)
    _spec(d, "auto")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(d))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-report", "--no-progress"]) == 0
    assert main(["run", str(path), "--out", str(out), "--sweep"]) == 0
    printed = capsys.readouterr().out
    ratios = [
        float(line.rsplit(" ", 1)[1]) for line in printed.splitlines() if "ratio after" in line
    ]
    assert ratios and ratios[-1] == pytest.approx(1.0)
    spec = parse_spec(d)
    assert hypervolume_ratio(load_frame(out), sweep(spec), spec) == pytest.approx(1.0)


def test_run_says_when_a_sweep_is_exact_and_faster(small_spec_dict, tmp_path, capsys):
    path = tmp_path / "s.yaml"
    small_spec_dict["n_trials"] = 40  # the space holds 32 designs
    path.write_text(yaml.safe_dump(small_spec_dict))
    assert (
        main(["run", str(path), "--out", str(tmp_path / "o"), "--no-report", "--no-progress"]) == 0
    )
    err = capsys.readouterr().err
    assert (
        "note: the space holds 32 designs" in err and "--sweep" in err and "sampler: auto" in err
    )


def test_a_setting_drawn_twice_is_solved_once(small_spec_dict, tmp_path):
    small_spec_dict["space"] = {"pe_type": ["int8"], "rows": [8, 16], "cols": [8, 16]}
    spec = parse_spec({**small_spec_dict, "sampler": {"name": "random", "solve_hardware": True}})
    run_study(spec, out_dir=tmp_path, n_trials=3, progress=False, report=False)
    study = optuna.load_study(study_name="small", storage=create_storage(None, out_dir=tmp_path))
    dups = [t for t in study.trials if DUPLICATE_ATTR in t.user_attrs]
    # the one setting is solved by trial 0; trial 1 draws it again and is PRUNED, and the run
    # then stops: the space is exhausted (only duplicates are left to draw)
    assert len(dups) == 1 and all(t.state.name == "PRUNED" for t in dups)
    solved = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert {t.user_attrs.get("mant_dse_added_by") for t in solved} <= {None, 0}


def test_the_shipped_large_study_is_beyond_a_sweep_and_runs(tmp_path):
    from pathlib import Path

    from dse.run.sweep import MAX_SWEEP_DESIGNS
    from dse.study.spec import load_spec, spec_to_dict

    root = Path(__file__).resolve().parents[2]
    spec = load_spec(root / "studies" / "large.yaml")
    assert spec.space.size > MAX_SWEEP_DESIGNS and spec.sampler.solve_hardware
    assert spec.accuracy.source == "tensors"  # real weights and K/V in the shipped study
    data = spec_to_dict(spec)
    data["accuracy"] = {"source": "synthetic", "n_tensors": 1, "tensor_rows": 64}
    s = run_study(parse_spec(data), out_dir=tmp_path, n_trials=2, progress=False, report=False)
    assert s.n_run == 2 and s.n_designs >= s.n_complete


def test_distinct_settings_count_equivalent_draws_once():
    from pathlib import Path

    from dse.run.samplers import n_settings
    from dse.study.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    quick = load_spec(root / "studies" / "quickstart.yaml")
    # 5 PE types x 2 group sizes x 2 KV formats; only the MANT PE uses the 3 weight formats
    assert n_settings(quick) == 2 * 2 * (3 + 4) == 28
    large = load_spec(root / "studies" / "large.yaml")
    from dse.evaluate.objective import Evaluator

    n_hw = HardwareSolver(Evaluator(large)).n_hardware
    assert n_settings(large) * n_hw >= 1e9
