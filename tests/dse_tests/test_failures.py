"""Failures that say why: reasons on trials, grouped at the end, bugs stop the run, and one
representation of infeasibility on the study and sweep paths."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
import yaml

from dse.cli import main
from dse.evaluate import accuracy
from dse.evaluate.failures import FAIL_ATTR, format_failures
from dse.evaluate.objective import Evaluator
from dse.results.frame import load_frame
from dse.run.runner import run_study
from dse.run.storage import create_storage
from dse.run.sweep import sweep
from dse.study.spec import TILE_FIT, parse_spec
from mant.errors import InputError


def _write(tmp_path, data):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_failed_trial_keeps_its_reason_and_the_run_counts_reasons(
    small_spec_dict, tmp_path, capsys
):
    small_spec_dict["space"]["act_bits"] = [4, 8]  # the INT8 PE has no A4 mode
    small_spec_dict["n_trials"] = 16
    out = tmp_path / "run"
    code = main(["run", _write(tmp_path, small_spec_dict), "--out", str(out), "--no-report"])
    err = capsys.readouterr().err
    study = optuna.load_study(study_name="small", storage=create_storage(None, out_dir=out))
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert code == 0 and failed
    assert all(t.params == {**t.params, "pe_type": "int8", "act_bits": 4} for t in failed)
    reason = failed[0].user_attrs[FAIL_ATTR]
    assert "PE 'int8' has no A4 mode" in reason and "W8A4 design is infeasible" in reason
    assert f"{len(failed)} trials failed:" in err or f"{len(failed)} trial failed:" in err
    assert f"  {len(failed)} x {reason}" in err
    assert f"trial {failed[0].number} failed: {reason}" in err
    df = load_frame(out)
    assert set(df.loc[df["state"] == "FAIL", "fail_reason"]) == {reason}
    assert set(df.loc[df["state"] == "COMPLETE", "fail_reason"]) == {""}


def test_run_exits_non_zero_when_no_trial_completes(small_spec_dict, tmp_path, capsys):
    small_spec_dict["space"].update(pe_type=["int8"], act_bits=[4])
    small_spec_dict["n_trials"] = 3
    code = main(
        ["run", _write(tmp_path, small_spec_dict), "--out", str(tmp_path / "r"), "--no-report"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "3 trials failed:" in err and "error: no trial of small completed" in err


class _Buggy:
    def metrics(self, weight_config, kv_config, cache):
        raise ZeroDivisionError("a bug, not a design problem")


def test_a_bug_stops_the_run_with_its_exception(small_spec, tmp_path):
    ev = Evaluator(small_spec, accuracy=_Buggy())
    with pytest.raises(ZeroDivisionError, match="a bug"):
        run_study(small_spec, out_dir=tmp_path, evaluator=ev, progress=False, report=False)
    study = optuna.load_study(study_name="small", storage=create_storage(None, out_dir=tmp_path))
    assert len(study.trials) == 1  # the first trial, not twelve


def test_format_failures_groups_and_counts():
    lines = format_failures(["b", "a", "b", "c"], limit=2)
    assert lines == ["4 trials failed:", "  2 x b", "  1 x a", "  1 x other reasons (1 more)"]
    assert format_failures([]) == []


def test_tile_fit_is_one_constraint_on_the_study_and_sweep_paths(small_spec_dict):
    # 1 KiB weight buffer, double-buffered: 512 bytes hold an 8x8 tile, not a 64x64 one
    small_spec_dict["space"].update(rows=[8, 64], cols=[8, 64], weight_buffer_kib=[1])
    spec = parse_spec(small_spec_dict)
    df = sweep(spec)
    over = df["metric.tile_overflow_bytes"].to_numpy()
    assert (over > 0).any() and (over <= 0).any()
    assert not df.loc[over > 0, "feasible"].any() and not df.loc[over > 0, "pareto"].any()
    assert (df[f"con.{TILE_FIT.name}"] == over).all()
    ev = Evaluator(spec)
    cols = ["latency_s", "energy_pj", "area_um2", "tile_overflow_bytes", "weight_rel_mse"]
    for _, row in df.iterrows():
        values = {k[len("param.") :]: v for k, v in row.items() if k.startswith("param.")}
        e = ev.evaluate(values)  # no exception for a design that does not fit
        assert e.feasible == bool(row["feasible"])
        for m in cols:
            assert e.metrics[m] == row[f"metric.{m}"], m


def test_the_sweep_records_designs_no_pe_mode_runs_as_failures(small_spec_dict):
    small_spec_dict["space"]["act_bits"] = [4, 8]
    df = sweep(parse_spec(small_spec_dict))
    failed = df[df["state"] == "FAIL"]
    assert (len(failed), len(df)) == (8, 48)  # int8 x A4 of 32 MANT + 16 INT8 designs
    assert set(failed["param.pe_type"]) == {"int8"} and set(failed["param.act_bits"]) == {4}
    assert failed["fail_reason"].str.contains("has no A4 mode").all()
    assert not failed["pareto"].any() and np.isnan(failed["obj.latency_s"]).all()


def test_a_w4a4_design_on_a_pe_without_an_a4_mode_is_infeasible(small_spec):
    ev = Evaluator(small_spec)
    values = {"pe_type": "int8", "group_size": 64, "weight_format": "int{bits}", "rows": 8}
    with pytest.raises(InputError, match=r"PE 'int8' has no A4 mode .*W8A4 design is infeasible"):
        ev.evaluate({**values, "cols": 8, "act_bits": 4})
    mant = ev.evaluate({**values, "pe_type": "mant", "cols": 8, "act_bits": 4})
    assert not math.isnan(mant.metrics["latency_s"])


def test_flaky_reasons_reach_the_frame(small_spec, tmp_path):
    class Flaky:
        inner = accuracy.synthetic_suite(small_spec.accuracy)

        def metrics(self, wcfg, kvcfg, cache):
            if wcfg.group_size == 32:
                raise InputError.single("group_size", "unsupported here", 32)
            return self.inner.metrics(wcfg, kvcfg, cache)

    s = run_study(
        small_spec,
        out_dir=tmp_path,
        evaluator=Evaluator(small_spec, accuracy=Flaky()),
        progress=False,
        report=False,
    )
    assert s.failures == (("group_size: unsupported here, got 32", s.n_fail),) and s.n_fail


@pytest.mark.parametrize("per_side", [False, True])
def test_a_kv_width_without_a_pe_mode_names_the_kv_parameter(small_spec_dict, per_side):
    """Not 'pe_type: ... got mant': the width at fault is the KV one (MANT PEs have no 16-bit
    mode, so an unquantized KV cache cannot run on them)."""
    d = dict(small_spec_dict)
    d["workload"] = {"model": "smollm2-135m", "phase": "decode", "seq_len": 64}
    d["space"] = {"pe_type": ["mant"], "kv_format": ["int{bits}"]}
    name = "kv_bits.key" if per_side else "kv_bits"
    d["space"][name] = [4, 16]
    ev = Evaluator(parse_spec(d))
    with pytest.raises(InputError) as info:
        ev.evaluate({"pe_type": "mant", name: 16, "kv_format": "int{bits}"})
    (issue,) = info.value.issues
    assert issue.path == name and issue.value == 16, str(issue)
    assert "PE 'mant' has no mode for W16A8 (KV cache" in issue.rule
