"""Multi-fidelity accuracy (``accuracy.fidelity: multi``): the spec, the promotion rule, a real
small study promoted to SmolLM2 perplexity, its results frame, resume and report."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

import llmrun
from dse.cli import main
from dse.evaluate.multifid import PROMOTED_ATTR, within_margin
from dse.evaluate.pareto import pareto_mask, to_minimization
from dse.report.info import report_info
from dse.report.multifid import fidelity_info, perplexity_view
from dse.run.runner import run_study
from dse.study.spec import parse_spec, spec_to_dict
from dse.study.spec_types import Fidelity
from mant.errors import InputError

from .conftest import SMALL_SPEC


def _spec(**accuracy) -> dict:
    s = copy.deepcopy(SMALL_SPEC)
    s["accuracy"].update(accuracy)
    return s


MULTI = {"fidelity": "multi", "promote": {"windows": 1, "context": 32}}


# ------------------------------------------------------------------------------------ spec


@pytest.mark.parametrize(
    ("accuracy", "line"),
    [
        ({"fidelity": "many"}, "accuracy.fidelity: must be one of single, multi, got 'many'"),
        (
            {"promote": {"margin": 0.1}},
            "accuracy.promote: is used only with accuracy.fidelity: multi, got 'single'",
        ),
        (
            {"fidelity": "multi", "promote": {"margin": 1.0}},
            "accuracy.promote.margin: must be a number in [0, 1) (relative slack), got 1.0",
        ),
        (
            {"fidelity": "multi", "promote": {"margin": "10%"}},
            "accuracy.promote.margin: must be a number in [0, 1) (relative slack), got '10%'",
        ),
        (
            {"fidelity": "multi", "promote": {"windows": 0}},
            "accuracy.promote.windows: must be an int in 1..100000, got 0",
        ),
        (
            {"fidelity": "multi", "promote": {"context": 1}},
            "accuracy.promote.context: must be an int in 2..8192, got 1",
        ),
        (
            {"fidelity": "multi", "promote": {"max_promoted": 0}},
            "accuracy.promote.max_promoted: must be an int >= 1 or null (no limit), got 0",
        ),
        (
            {"fidelity": "multi", "promote": {"model": "nope-7b"}},
            "accuracy.promote.model: must be smollm2-135m or a folder with config.json, "
            "got 'nope-7b'",
        ),
        (
            {"fidelity": "multi", "promote": {"backend": "jax"}},
            "accuracy.promote.backend: must be numpy or torch, got 'jax'",
        ),
        (
            {"fidelity": "multi", "promote": {"windows": 1, "ctx": 64}},
            "accuracy.promote.ctx: unknown key; valid: model, backend, text, windows, context, "
            "margin, max_promoted, got 'ctx'",
        ),
        (
            {"fidelity": "multi", "promote": [1]},
            "accuracy.promote: must be a mapping, got [1]",
        ),
    ],
)
def test_bad_fidelity_fields_are_one_line_each(accuracy, line):
    with pytest.raises(InputError) as err:
        parse_spec(_spec(**accuracy))
    assert line in str(err.value).splitlines()


def test_multi_needs_a_proxy_source_and_a_proxy_objective():
    data = _spec(**MULTI)
    data["objectives"] = ["latency_s", "area_um2"]
    with pytest.raises(InputError, match=r"accuracy.fidelity: multi needs an accuracy objective"):
        parse_spec(data)
    data = _spec(source="perplexity", **MULTI)
    data["objectives"] = ["ppl", "latency_s"]
    with pytest.raises(InputError, match=r"not perplexity itself, got 'perplexity'"):
        parse_spec(data)


def test_cli_refuses_a_bad_promote_field_with_exit_2(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(
        yaml.safe_dump(_spec(fidelity="multi", promote={"margin": -0.5})), encoding="utf-8"
    )
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: accuracy.promote.margin: must be a number in [0, 1)" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_single_fidelity_renders_as_before_and_multi_round_trips():
    single = parse_spec(SMALL_SPEC)
    assert single.accuracy.fidelity is Fidelity.SINGLE and single.accuracy.promote is None
    assert not {"fidelity", "promote"} & set(spec_to_dict(single)["accuracy"])
    multi = parse_spec(_spec(fidelity="multi", promote={"margin": 0.25, "max_promoted": 7}))
    assert multi.accuracy.multi_fidelity and multi.accuracy.promote.margin == 0.25
    assert parse_spec(spec_to_dict(multi)) == multi
    assert parse_spec(yaml.safe_load(yaml.safe_dump(spec_to_dict(multi)))) == multi


# ------------------------------------------------------------------------- the rule


def test_within_margin_known_answers():
    front = np.array([[1.0, 10.0], [2.0, 5.0]])
    assert within_margin(np.array([1.0, 10.0]), front, 0.0)  # a front point itself
    assert not within_margin(np.array([1.0, 10.5]), front, 0.0)  # dominated
    assert within_margin(np.array([1.05, 10.5]), front, 0.1)  # 5 % worse: inside 10 %
    assert not within_margin(np.array([1.2, 11.5]), front, 0.1)  # > 10 % worse in both
    assert within_margin(np.array([1.2, 10.5]), front, 0.1)  # within 10 % in one objective
    # maximised objectives are negated: a 10 % slack on -100 is -90
    assert within_margin(np.array([1.0, -95.0]), np.array([[1.0, -100.0]]), 0.1)
    assert not within_margin(np.array([1.2, -85.0]), np.array([[1.0, -100.0]]), 0.1)
    assert within_margin(np.array([3.0, 3.0]), np.empty((0, 2)), 0.1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(*[st.integers(-20, 20)] * 2), min_size=1, max_size=12),
    st.tuples(*[st.integers(-20, 20)] * 2),
    st.floats(0.0, 0.9),
)
def test_margin_zero_is_pareto_and_a_margin_only_adds(points, x, margin):
    pts, x = np.array(points, float), np.array(x, float)
    both = np.vstack([pts, x])
    assert within_margin(x, pts, 0.0) == bool(pareto_mask(both)[-1])
    if within_margin(x, pts, 0.0):
        assert within_margin(x, pts, margin)


def test_decide_never_promotes_infeasible_designs_and_respects_the_cap():
    from dataclasses import replace

    from dse.evaluate.multifid import Promoter
    from dse.evaluate.objective import Evaluator

    data = _spec(fidelity="multi", promote={"margin": 0.1, "max_promoted": 2})
    spec = parse_spec(data)
    evaluator = Evaluator(spec)
    values = {"pe_type": "mant", "group_size": 32, "weight_format": "mant-unicore16"}
    ev = evaluator.evaluate({**values, "rows": 8, "cols": 8})
    promoter = Promoter(spec, evaluator.cache)
    x = to_minimization(np.array([ev.objectives]), spec.directions)
    assert promoter.decide(ev, x * 1.05, 0)  # the others are only 5 % better
    assert not promoter.decide(ev, x * 0.8, 0)  # 20 % better in every objective
    assert promoter.decide(ev, x * 0.8, 0) == within_margin(x[0], x * 0.8, 0.1)
    assert not promoter.decide(ev, x * 1.05, 1, extra=1)  # the cap of 2 is reached
    infeasible = replace(ev, constraints={**ev.constraints, "weight_bits_per_element_max": 1.0})
    assert not promoter.decide(infeasible, np.empty((0, 3)), 0)


def test_a_design_perplexity_cannot_run_keeps_its_proxy_and_the_reason():
    """K and V quantized apart: llmrun runs one KV config, so the design is not promoted, and
    the trial records why instead of failing."""
    from dse.evaluate.multifid import PPL_ERROR_ATTR, Promoter
    from dse.evaluate.objective import Evaluator

    data = _spec(**MULTI)
    data["space"] = {"kv_format.key": ["mant-unicore16"], "kv_format.value": ["int{bits}"]}
    spec = parse_spec(data)
    evaluator = Evaluator(spec)
    ev = evaluator.evaluate({})
    attrs = Promoter(spec, evaluator.cache).attrs(ev)
    assert set(attrs) == {PPL_ERROR_ATTR}
    assert "recipe.value.format: must equal recipe.key.format" in attrs[PPL_ERROR_ATTR]
    assert np.isfinite(ev.metrics["weight_rel_mse"])


# ----------------------------------------------------------------------- a real study


@pytest.fixture
def ppl_calls(monkeypatch) -> list[str]:
    """Counts real perplexity evaluations (one recipe/weights + KV entry per call)."""
    calls: list[str] = []
    real = llmrun.perplexity

    def counted(weights=None, kv=None, **kwargs):
        quant = kwargs.get("recipe", weights)
        key = [None if c is None else c.to_dict() for c in (quant, kv)]
        calls.append(json.dumps(key, sort_keys=True, default=str))
        assert kwargs["window_len"] == 32 and kwargs["windows"] == 1
        return real(weights=weights, kv=kv, **kwargs)

    monkeypatch.setattr(llmrun, "perplexity", counted)
    return calls


def _study(n_trials: int) -> object:
    return parse_spec(
        {
            "version": 1,
            "name": "multifid",
            "seed": 3,
            "n_trials": n_trials,
            "sampler": {"name": "random"},
            "workload": {"model": "llama-2-7b", "phase": "decode", "seq_len": 256},
            "accuracy": {
                "source": "synthetic",
                "n_tensors": 1,
                "tensor_rows": 16,
                "tensor_cols": 128,
                "fidelity": "multi",
                "promote": {"windows": 1, "context": 32, "margin": 0.0},
            },
            "space": {
                "kv_format": ["mant-unicore16", "int{bits}", "ant", "olive"],
                "kv_bits": [4],
                "rows": [8, 16, 32],
            },
            "objectives": ["kv_rel_mse", "latency_s", "area_um2"],
        }
    )


@pytest.mark.slow
def test_small_study_promotes_near_the_front_and_keeps_it_on_resume(ppl_calls, tmp_path):
    from llmrun.assets import fetch

    fetch(["smollm2-135m", "janeaustenr"], log=lambda *_: None)
    spec = _study(8)
    run_study(spec, out_dir=tmp_path, progress=False, report=False)
    df = pd.read_parquet(tmp_path / "results.parquet")
    done = df[df["state"] == "COMPLETE"].sort_values("trial")
    # both columns, and perplexity exactly where promoted
    assert {"obj.kv_rel_mse", "metric.ppl", "promoted"} <= set(df.columns)
    assert done["promoted"].any() and not done["promoted"].all()  # margin 0: some dominated
    assert (done["metric.ppl"].notna() == done["promoted"]).all()
    assert done.loc[done["promoted"], "metric.ppl"].between(1.0, 1e4).all()
    # the rule: promoted iff non-dominated (margin 0) among the feasible trials before it
    values = to_minimization(
        done[[f"obj.{m}" for m in spec.metric_names]].to_numpy(float), spec.directions
    )
    feasible = done["feasible"].to_numpy()
    for i in range(len(done)):
        earlier = values[:i][feasible[:i]]
        expect = bool(feasible[i]) and within_margin(values[i], earlier, 0.0)
        assert expect == done["promoted"].iloc[i], f"trial {done['trial'].iloc[i]}"
    assert done.loc[done["pareto"], "promoted"].all()  # the final front is always promoted
    # one perplexity per promoted quantization setting (hardware twins hit the cache)
    settings_promoted = done.loc[done["promoted"], ["param.kv_format"]].drop_duplicates()
    assert len(ppl_calls) == len(set(ppl_calls)) == len(settings_promoted)

    # rho is scipy's over the distinct (proxy, perplexity) pairs of the promoted designs
    info = fidelity_info(df, spec)
    pairs = done.loc[done["promoted"], ["obj.kv_rel_mse", "metric.ppl"]].drop_duplicates()
    assert info.n_promoted == int(done["promoted"].sum()) and info.n_settings == len(pairs)
    assert len(pairs) >= 3  # seed 3 promotes 3 KV settings: a correlation to check
    expect = spearmanr(pairs["obj.kv_rel_mse"], pairs["metric.ppl"]).statistic
    assert info.rho == pytest.approx(expect)
    report = report_info(df, spec)
    assert report.fidelity.n_promoted == info.n_promoted and report.fidelity.proxy == "kv_rel_mse"
    np.testing.assert_equal(report.fidelity.rho, info.rho)
    # the pick is made among promoted designs, on perplexity
    assert report.pick_spec.metric_names == ["ppl", "latency_s", "area_um2"]
    promoted_trials = set(done.loc[done["promoted"], "trial"])
    assert {r.trial for r in report.pick.picks} <= promoted_trials
    view, _ = perplexity_view(df, spec)
    assert set(view["trial"]) == promoted_trials and "obj.ppl" in view

    # resume: the promoted values stay, and new trials are promoted against the whole study
    before = done.set_index("trial")["metric.ppl"]
    n_calls = len(ppl_calls)
    run_study(spec, out_dir=tmp_path, n_trials=12, progress=False, report=False)
    again = pd.read_parquet(tmp_path / "results.parquet").set_index("trial")
    pd.testing.assert_series_equal(again.loc[before.index, "metric.ppl"], before)
    new_settings = set(again.loc[again["promoted"], "param.kv_format"]) - set(
        settings_promoted["param.kv_format"]
    )
    assert len(ppl_calls) - n_calls == len(new_settings)  # old settings: disk cache


@pytest.mark.slow
def test_solved_hardware_fronts_are_promoted_design_by_design(ppl_calls, tmp_path):
    """``solve_hardware``: each design of a setting's front (the trial's and the added ones)
    is promoted by the rule, one perplexity per setting."""
    data = spec_to_dict(_study(2))
    data["sampler"] = {"name": "random", "solve_hardware": True}
    data["space"]["cols"] = [8, 16, 32]
    spec = parse_spec(data)
    run_study(spec, out_dir=tmp_path, progress=False, report=False)
    df = pd.read_parquet(tmp_path / "results.parquet")
    done = df[df["state"] == "COMPLETE"].sort_values("trial")
    assert len(done) > 2 and done["promoted"].any()
    assert (done["metric.ppl"].notna() == done["promoted"]).all()
    assert done.loc[done["pareto"], "promoted"].all()
    settings_promoted = done.loc[done["promoted"], "param.kv_format"].nunique()
    assert len(ppl_calls) == settings_promoted


@pytest.mark.slow
def test_cli_run_on_a_database_prints_and_reports_the_promotions(tmp_path, capsys):
    """``mant-dse run`` on SQLite (an RDB storage like PostgreSQL; the journal is checked by the
    resume above): ``mant_dse_ppl`` on promoted trials only, the terminal line and the
    report's ``#fidelity`` section."""
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    spec = _study(3)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec_to_dict(spec)), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--storage", url, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    study = optuna.load_study(study_name=spec.name, storage=url)
    df = pd.read_parquet(out / "results.parquet").set_index("trial")
    n_promoted = 0
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        rec = t.user_attrs.get(PROMOTED_ATTR)
        assert (rec is not None) == bool(df.loc[t.number, "promoted"])
        if rec is not None:
            n_promoted += 1
            assert rec["ppl"] == df.loc[t.number, "metric.ppl"]
    n_complete = int((df["state"] == "COMPLETE").sum())
    line = f"multi-fidelity: {n_promoted} of {n_complete} designs promoted to perplexity"
    assert n_promoted and line in printed
    assert "the pick is made among the promoted designs, on perplexity" in printed
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<section id='fidelity'>" in report and line in report


def test_single_fidelity_frame_has_no_promoted_column(small_spec, tmp_path):
    run_study(small_spec, out_dir=tmp_path, n_trials=2, progress=False, report=False)
    df = pd.read_parquet(Path(tmp_path) / "results.parquet")
    assert "promoted" not in df and fidelity_info(df, small_spec) is None
    view, spec = perplexity_view(df, small_spec)
    assert view is df and spec is small_spec
