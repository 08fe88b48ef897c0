"""The shipped quickstart end to end on real tensors, the sweep command, the perplexity source."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from dse.cli import main
from dse.evaluate.objective import Evaluator
from dse.study.spec import parse_spec

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.mark.slow
def test_quickstart_runs_on_real_tensors_and_ends_with_the_report(tmp_path, capsys):
    out = tmp_path / "qs"
    args = [
        "run",
        str(STUDIES / "quickstart.yaml"),
        "--out",
        str(out),
        "--n-trials",
        "40",
        "--no-progress",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"report:  {out / 'report.html'}" in printed
    df = pd.read_parquet(out / "results.parquet")
    # sampler: auto: a grid over the setting draws; each distinct setting solved once and its
    # hardware front kept (duplicates are not listed)
    assert (df["state"] == "COMPLETE").all() and len(df) >= 10
    assert df["pareto"].any() and (out / "cache").is_dir()
    assert df.loc[df["state"] == "COMPLETE", "metric.weight_rel_mse"].min() > 0


@pytest.mark.slow
def test_real_weight_error_orders_formats_like_the_literature():
    """accuracy.md (UniCore Table IV, g=64): M-ANT < ANT < INT at 4 bits; int8 beats all."""
    spec = parse_spec(
        {
            "version": 1,
            "name": "order",
            "accuracy": {"source": "tensors", "n_tensors": 3},
            "workload": {"gemms": [{"m": 1, "n": 64, "k": 64}]},
            "objectives": ["weight_rel_mse"],
        }
    )
    ev = Evaluator(spec)
    err = {
        pe: ev.evaluate({"pe_type": pe}).metrics["weight_rel_mse"]
        for pe in ("int8", "mant", "ant", "tender")
    }
    assert err["int8"] < err["mant"] < err["ant"] < err["tender"], err


@pytest.mark.slow
def test_kv_groups_of_128_complete_on_the_real_tensor_suite(tmp_path):
    """SmolLM2's head_dim is 64: V groups of 128 span a token's heads (docs/kv_and_fused.md)."""
    spec = {
        "version": 1,
        "name": "g128",
        "seed": 0,
        "accuracy": {"source": "tensors", "n_tensors": 3},
        "workload": {"gemms": [{"m": 1, "n": 64, "k": 64}]},
        "space": {
            "pe_type": ["mant"],
            "group_size": [128],
            "kv_bits": [4],
            "kv_format": ["mant-unicore16", "int{bits}"],
        },
        "objectives": ["kv_rel_mse", "latency_s"],
    }
    assert Evaluator(parse_spec(spec)).accuracy.kv[0].v.shape[-1] == 64
    path = tmp_path / "g128.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--n-trials", "4", "--no-progress"]) == 0
    df = pd.read_parquet(out / "results.parquet")
    done = df[df["state"] == "COMPLETE"]
    assert len(done) == len(df) == 2  # 4 trials over the space's 2 designs: each once
    assert done["metric.kv_rel_mse"].between(1e-4, 0.05).all(), done["metric.kv_rel_mse"]


def test_sweep_command_grades_the_study(small_spec_dict, tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_spec_dict))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--no-report"]) == 0
    assert main(["run", str(path), "--out", str(out), "--sweep"]) == 0
    printed = capsys.readouterr().out
    assert "sweep: 24 designs" in printed  # INT8 designs differ in no weight_format
    assert "hypervolume ratio after 12 trials:" in printed
    assert len(pd.read_parquet(out / "sweep.parquet")) == 24


def test_unreachable_storage_on_the_command_line_exits_2(small_spec_dict, tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_spec_dict))
    url = "postgresql://nobody@127.0.0.1:1/none"
    assert main(["run", str(path), "--out", str(tmp_path), "--storage", url]) == 2
    assert "error: storage: cannot connect" in capsys.readouterr().err


@pytest.mark.slow
def test_perplexity_source_matches_mant_llm():
    from llmrun import perplexity

    spec = parse_spec(
        {
            "version": 1,
            "name": "ppl",
            "accuracy": {"source": "perplexity", "ppl_windows": 1},
            "workload": {"gemms": [{"m": 1, "n": 64, "k": 64}]},
            "space": {"kv_bits": [4]},
            "objectives": ["ppl", "latency_s"],
        }
    )
    ev = Evaluator(spec)
    e = ev.evaluate({})
    _, kvcfg, _ = ev.configs(e.design)
    # the design's recipe whole: its weights, its INT8 activations (act_bits 8) and its KV
    expected = perplexity(recipe=e.design.recipe, kv=kvcfg, windows=1).ppl
    assert e.metrics["ppl"] == pytest.approx(expected)
    assert 5.0 < e.metrics["ppl"] < 200.0


def test_perplexity_source_rejects_tensor_metrics():
    with pytest.raises(Exception, match="not produced by accuracy source 'perplexity'"):
        parse_spec(
            {
                "version": 1,
                "name": "p",
                "accuracy": {"source": "perplexity"},
                "objectives": ["weight_rel_mse"],
            }
        )


def test_formats_2026_study_parses_with_every_pe_and_the_budget():
    """studies/formats-2026.yaml: M-ANT against the 2025-26 formats' PEs (issue 20 point 4)."""
    from dse.study.spec import load_spec

    spec = load_spec(STUDIES / "formats-2026.yaml")
    assert list(spec.space.get("pe_type").values()) == [
        "mant",
        "m2xfp",
        "nvfp4",
        "mxfp",
        "bitmod",
        "razer",
        "fourover6",
        "int8",
    ]
    assert list(spec.space.get("quantization").values()) == ["native", "space"]
    assert [(c.metric, c.max) for c in spec.constraints] == [("weight_bits_per_element", 4.6)]


@pytest.mark.slow
def test_formats_2026_short_run_completes_a_trial_on_every_pe(tmp_path):
    """The study with one group size and two array shapes: every listed PE has a COMPLETE
    trial, the budget rejects INT8 (8.25 bits) and only the BitMoD PE's space designs fail
    (it has no A8 mode; its native W4A16 designs complete)."""
    data = yaml.safe_load((STUDIES / "formats-2026.yaml").read_text())
    data["space"].update(group_size=[64], rows=[16, 32], cols=[16], dataflow=["ws"])
    path = tmp_path / "f26.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    df = pd.read_parquet(out / "results.parquet")
    done = df[df["state"] == "COMPLETE"]
    assert set(done["param.pe_type"]) == set(data["space"]["pe_type"])
    failed = df[df["state"] == "FAIL"]
    assert set(failed["param.pe_type"]) <= {"bitmod"}
    assert set(failed["param.quantization"]) <= {"space"}
    feasible = done[done["feasible"]]
    assert "int8" not in set(feasible["param.pe_type"])
    assert (feasible["metric.weight_bits_per_element"] <= 4.6).all()
    assert df["pareto"].any() and set(df.loc[df["pareto"], "param.pe_type"]) <= set(
        data["space"]["pe_type"]
    ) - {"int8"}
