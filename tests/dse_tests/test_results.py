"""The results frame: one schema for empty, failed, infeasible and maximised cases."""

from __future__ import annotations

import math

import numpy as np
import optuna

from dse.results.frame import (
    TrialRecord,
    build_frame,
    columns_for,
    frame_from_study,
    front_hypervolume,
)
from dse.run.runner import open_study
from dse.run.storage import create_storage
from dse.study.metrics import METRICS
from dse.study.spec import parse_spec


def test_empty_study_has_every_column(small_spec):
    study = open_study(small_spec, create_storage(None, out_dir=None))
    df = frame_from_study(study, small_spec)
    assert df.empty and list(df.columns) == columns_for(small_spec)
    assert {f"metric.{m}" for m in METRICS} <= set(df.columns)
    assert df["feasible"].dtype == bool and df["pareto"].dtype == bool


def test_states_feasibility_and_pareto(small_spec):
    def rec(i, state="COMPLETE", err=0.1, lat=1.0, area=1.0, bits=4.0):
        metrics = {
            "weight_rel_mse": err,
            "latency_s": lat,
            "area_um2": area,
            "weight_bits_per_element": bits,
        }
        return TrialRecord(
            trial=i,
            state=state,
            params={"rows": 8},
            metrics=metrics,
            constraints={"weight_bits_per_element_max": bits - 6.0},
        )

    df = build_frame(
        [
            rec(2, err=0.2),  # dominated by trial 0
            rec(0),
            rec(1, bits=8.0, err=0.01),  # best error but infeasible
            TrialRecord(trial=3, state="FAIL", params={"rows": 16}),
            rec(4, lat=0.5, err=0.3),
        ],
        small_spec,
    )
    assert df["trial"].tolist() == [0, 1, 2, 3, 4]
    assert df["feasible"].tolist() == [True, False, True, False, True]
    assert df["pareto"].tolist() == [True, False, False, False, True]
    assert math.isnan(df.loc[3, "obj.latency_s"]) and df.loc[3, "param.rows"] == 16
    assert df.loc[1, "con.weight_bits_per_element_max"] == 2.0


def test_maximised_objective_is_flipped_for_the_front(small_spec_dict):
    small_spec_dict["objectives"] = ["weight_sqnr_db", "area_um2"]
    small_spec_dict["constraints"] = []
    spec = parse_spec(small_spec_dict)
    recs = [
        TrialRecord(trial=i, state="COMPLETE", metrics={"weight_sqnr_db": s, "area_um2": a})
        for i, (s, a) in enumerate([(30.0, 2.0), (20.0, 1.0), (10.0, 3.0)])
    ]
    df = build_frame(recs, spec)
    assert df["pareto"].tolist() == [True, True, False]
    # minimised: (-30, 2), (-20, 1), (-10, 3); bounds over feasible points -> the front
    # normalises to (0, 0.5) and (0.5, 0); reference (1.1, 1.1): two 0.66 boxes overlap by 0.36
    assert np.isclose(front_hypervolume(df, spec), 0.66 + 0.66 - 0.36)


def test_frame_reads_a_real_study(small_spec):
    study = open_study(small_spec, create_storage(None, out_dir=None))
    study.optimize(lambda t: [t.suggest_int("x", 0, 1)] * 3, n_trials=1)  # not a dse trial
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    df = frame_from_study(study, small_spec)
    assert df.loc[0, "state"] == "COMPLETE" and df["obj.latency_s"].isna().all()
