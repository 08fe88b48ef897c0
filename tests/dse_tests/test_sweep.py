"""Exhaustive sweep: every design once, the same numbers as one-by-one evaluation, HV ratio."""

from __future__ import annotations

import numpy as np
import pytest

from dse.evaluate.objective import Evaluator
from dse.results.frame import load_frame, objective_matrix
from dse.run.runner import run_study
from dse.run.sweep import hypervolume_ratio, hypervolume_ratio_curve, sweep
from mant.errors import InputError


def test_sweep_covers_the_space_and_matches_single_evaluations(small_spec):
    ev = Evaluator(small_spec)
    df = sweep(small_spec, evaluator=ev)
    # 32 combinations; the INT8 PE ignores weight_format: 16 MANT + 8 INT8 designs
    assert small_spec.space.size == 32 and len(df) == 24
    keys = [f"param.{p.name}" for p in small_spec.space.searched]
    assert not df.duplicated(keys).any()
    for _, row in df.sample(6, random_state=0).iterrows():
        values = {p.name: row[f"param.{p.name}"] for p in small_spec.space.searched}
        values = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in values.items()}
        one = Evaluator(small_spec).evaluate(values)
        for m in small_spec.metric_names:
            assert row[f"obj.{m}"] == pytest.approx(one.metrics[m], rel=1e-12)
        assert row["feasible"] == one.feasible


def test_sweep_is_its_own_true_front_and_a_study_is_graded_against_it(small_spec, tmp_path):
    truth = sweep(small_spec)
    assert hypervolume_ratio(truth, truth, small_spec) == pytest.approx(1.0)
    run_study(small_spec, out_dir=tmp_path, n_trials=12, progress=False, report=False)
    study = load_frame(tmp_path)
    curve = hypervolume_ratio_curve(study, truth, small_spec, [3, 12])
    assert 0.0 <= curve[3] <= curve[12] <= 1.0 + 1e-9
    # every study point is one of the sweep's designs, so none dominates the true front
    true_front = objective_matrix(truth[truth["pareto"]], small_spec)
    for v in objective_matrix(study[study["feasible"]], small_spec):
        assert not np.any(np.all(v <= true_front, axis=1) & np.any(v < true_front, axis=1))


def test_sweep_refuses_huge_spaces(small_spec):
    with pytest.raises(InputError, match="too many designs"):
        sweep(small_spec, max_designs=10)
