"""``mant-dse reproduce``: internal consistency of the paper's two tables and their report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from dse.cli import main
from dse.reproduce.accuracy import AccuracyRow, _pairs, _same_order, run_accuracy
from dse.reproduce.compute import build_accelerators, mean, scope_workload
from dse.reproduce.config import load_config, parse_config, shipped_config_text
from dse.reproduce.report import summary_json, write_report
from dse.reproduce.run import iso_area_rows, run_reproduce
from mant.errors import InputError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.fixture(scope="module")
def res(cfg):
    return run_reproduce(cfg, accuracy_windows=0)


def test_the_shipped_yaml_is_the_only_copy_of_the_config(cfg):
    assert not (REPO / "studies" / "reproduce" / "paper.yaml").exists()
    import dse.reproduce.config as mod

    assert not hasattr(mod, "DEFAULT_CONFIG")
    data = yaml.safe_load(shipped_config_text())
    assert parse_config(data) == cfg
    # designs take their PE's native recipe unless the file names one
    assert cfg.design("mant").recipe.name == "mant-hpca25"
    assert cfg.design("tender").recipe.kv_bits == 16


def test_scopes_are_the_papers(cfg):
    lin, whole = cfg.scope("linear_layers"), cfg.scope("whole_model")
    assert len(lin.models) == 8 and lin.seq_lens == (2048,) and lin.batches == (1,)
    assert lin.baselines == ("tender", "olive", "ant", "bitfusion")
    assert whole.models == ("llama-7b",)
    assert whole.seq_lens == tuple(2048 * 2**i for i in range(7))
    assert {"tender", "olive"} <= set(whole.baselines)


def test_linear_scope_leaves_out_attention_and_the_lm_head(cfg):
    lin, whole = cfg.scope("linear_layers"), cfg.scope("whole_model")
    wl = scope_workload(lin, "llama-7b", "prefill", 2048, 1)
    assert wl.gemms and all(g.operand != "kv" and g.name != "lm_head" for g in wl.gemms)
    full = scope_workload(whole, "llama-7b", "decode", 4096, 1)
    assert {"qk", "pv"} <= {g.name for g in full.gemms}


def test_averages_and_extremes_equal_the_per_case_figures(res):
    for name, sr in res.scopes.items():
        for b, s in sr.per_baseline.items():
            assert s.cases, (name, b)
            for c in s.cases:
                assert c.speedup == pytest.approx(c.baseline_cycles / c.subject_cycles)
                assert c.energy_reduction == pytest.approx(
                    c.baseline_energy_pj / c.subject_energy_pj
                )
            for metric in ("speedup", "energy_reduction"):
                vals = [getattr(c, metric) for c in s.cases]
                f = s.figures
                assert f[f"{metric}_geomean"] == pytest.approx(
                    math.exp(sum(map(math.log, vals)) / len(vals))
                )
                assert f[f"{metric}_arith_mean"] == pytest.approx(sum(vals) / len(vals))
                assert f[f"{metric}_avg"] == pytest.approx(mean(vals, s.mean_kind))
                assert (f[f"{metric}_min"], f[f"{metric}_max"]) == (min(vals), max(vals))


def test_every_design_is_within_the_area_rule_under_every_alternative(cfg, res):
    assert res.iso_area and all(r.within_rule for r in res.iso_area)
    for alt in cfg.alternatives:
        scale = float(alt.settings.get("area_scale", 1.0))
        rows = iso_area_rows(cfg, build_accelerators(cfg, alt), scale)
        assert all(r.within_rule for r in rows), alt.name


def test_every_assumption_and_alternative_is_listed(cfg, res, tmp_path):
    names = [a.name for a in res.assumptions]
    assert len(names) == len(set(names))
    for alt in cfg.alternatives:
        assert f"alternative.{alt.name}" in names
    for d in cfg.designs:
        assert f"{d.name}.recipe" in names and f"{d.name}.array" in names
    for required in ("mant.rqu_overhead", "mant.pe_area_vs_paper", "baselines.kv_precision"):
        assert required in names
    md, html, js = write_report(res, tmp_path)
    text_md, text_html = md.read_text(), html.read_text()
    for n in names:
        assert n in text_md and n in text_html
    summary = json.loads(js.read_text())
    assert summary["assumption_names"] == names
    assert summary["assumptions"] == "physical" and summary["pe_constants"] == "unicore"


def test_each_published_figure_names_the_closest_alternative(cfg, res):
    figs = res.alternatives.figures
    published = {(s.name, b, k) for s in cfg.scopes for b, ks in s.paper.items() for k in ks}
    assert {(f.scope, f.baseline, f.figure) for f in figs} == published
    for f in figs:
        assert f.difference == pytest.approx(f.ours / f.paper - 1)
        gaps = {
            a.name: abs(
                math.log(f.paper / res.alternatives.value(a.name, f.scope, f.baseline, f.figure))
            )
            for a in cfg.alternatives
        }
        best = min(gaps.values())
        if best < abs(math.log(f.paper / f.ours)) - 1e-9:
            assert gaps[f.explained_by] == pytest.approx(best)
            assert 0 < f.closes <= 1
        else:
            assert f.explained_by == ""


def test_tender_kv_alternative_changes_only_tenders_kv(cfg, res):
    alt = next(a for a in cfg.alternatives if a.name == "tender_kv.unicore_int4")
    accs = build_accelerators(cfg, alt)
    assert accs["tender"].default_precision.kv_bits == 4
    assert res.accelerators["tender"].default_precision.kv_bits == 16
    lin = res.alternatives.runs[alt.name]["linear_layers"].per_baseline["tender"]
    assert lin.figures == res.scopes["linear_layers"].per_baseline["tender"].figures
    whole = res.alternatives.runs[alt.name]["whole_model"].per_baseline["tender"]
    base = res.scopes["whole_model"].per_baseline["tender"]
    assert whole.figures["speedup_max"] < base.figures["speedup_max"]


def test_summary_json_has_the_stable_keys(cfg, res):
    s = summary_json(res)
    expected = {
        "linear_layers": ("tender", "olive", "ant", "bitfusion"),
        "whole_model": ("tender", "olive"),
    }
    for scope, baselines in expected.items():
        for b in baselines:
            e = s[scope][b]
            for k in (
                "speedup_avg",
                "speedup_max",
                "energy_reduction_avg",
                "energy_reduction_max",
                "paper",
                "cases",
            ):
                assert k in e, (scope, b, k)
            assert e["paper"] == dict(cfg.scope(scope).paper[b])
            assert all(
                {"model", "seq_len", "speedup", "energy_reduction"} <= set(c) for c in e["cases"]
            )
    assert max(c["seq_len"] for c in s["whole_model"]["tender"]["cases"]) == 131072
    assert s["paper_pe_um2_per_mac"] == 148.0


def test_same_order_compares_ranks_not_values():
    def row(name, ours, paper):
        return AccuracyRow(recipe=name, summary="", ours=ours, paper=paper, applied="", note="")

    assert _same_order((row("a", 20.0, 5.7), row("b", 45.0, 23.9)))
    assert not _same_order((row("a", 50.0, 5.7), row("b", 45.0, 23.9)))
    assert _same_order((row("a", None, 5.7), row("b", 45.0, 23.9))) is None
    three = (row("a", 20.0, 5.7), row("b", 90.0, 23.9), row("c", 45.0, 32.0))
    assert _pairs(three) == (2, 3)


def test_cli_prints_json_and_writes_the_reports(tmp_path, capsys):
    rc = main(["reproduce", "--out", str(tmp_path), "--json", "--no-accuracy"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["accuracy"] is None and "tender" in out["whole_model"]
    assert {p.name for p in tmp_path.iterdir()} == {"report.md", "report.html", "summary.json"}


def test_bad_config_reports_every_issue_and_exits_2(tmp_path, capsys):
    data = yaml.safe_load(shipped_config_text())
    data["designs"]["tender"]["keep"] = "diagonal"
    data["scopes"]["whole_model"]["baselines"] = ["tender", "nope"]
    data["alternatives"][0]["set"]["preload"] = "sometimes"
    with pytest.raises(InputError) as exc:
        parse_config(data)
    paths = [i.path for i in exc.value.issues]
    assert "reproduce.designs.tender.keep" in paths
    assert "reproduce.scopes.whole_model.baselines[1]" in paths
    assert "reproduce.alternatives[0].set.preload" in paths
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["reproduce", "--config", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") >= 3 and "Traceback" not in err


def test_accuracy_side_runs_recipes_on_smollm2():
    data = yaml.safe_load(shipped_config_text())
    data["accuracy"] = {
        "windows": 1,
        "recipes": ["fp16", "int4-g64"],
        "paper": {"fp16": 5.68, "int4-g64": 6.0},
    }
    res = run_accuracy(parse_config(data))
    fp, w4 = res.rows
    assert (fp.applied, w4.applied) == ("none", "weights")
    assert fp.ours is not None and w4.ours is not None
    assert 10 < fp.ours < w4.ours  # SmolLM2 unquantized ~16 on the first window
    assert res.same_order is True and res.pairs_in_order == (1, 1)


# --- named assumption sets (--assumptions physical | paper) ------------------------------------

# the paper's linear-layer speedups over Tender / OliVe / ANT / BitFusion (mant_authors.md §4)
PAPER_LINEAR = {"tender": 1.83, "olive": 1.96, "ant": 2.00, "bitfusion": 4.93}


@pytest.fixture(scope="module")
def paper_res():
    return run_reproduce(load_config(assumptions="paper"), accuracy_windows=0)


def test_a_comparison_never_mixes_constant_sets(cfg, res, paper_res):
    for r, expected in ((res, "unicore"), (paper_res, "paper")):
        assert r.config.pe_constants == expected
        assert {a.pe.constants for a in r.accelerators.values()} == {expected}
        for alt in r.config.alternatives:  # every alternative keeps the set of its comparison
            accs = build_accelerators(r.config, alt)
            assert {a.pe.constants for a in accs.values()} == {expected}, alt.name


def test_paper_assumptions_put_every_linear_speedup_within_20_percent(paper_res):
    """Nothing fitted: M-ANT 148 um^2/MAC, baselines W4A4 (UniCore's units), BitFusion's own
    synthesis scaled to 28 nm (hardware_audit.md computes 1.49 / 2.02 / 1.70 / 4.30)."""
    lin = paper_res.scopes["linear_layers"].per_baseline
    for b, published in PAPER_LINEAR.items():
        ours = lin[b].figures["speedup_avg"]
        assert abs(ours / published - 1) <= 0.20, (b, ours, published)
    # hardware_audit.md's 1.49 / 2.02 / 1.70 / 4.30 were computed with SCALE-Sim's fold rule; on
    # the load path (a prefill-like linear scope, compute-bound) the same set gives:
    audit = {"tender": 1.50, "olive": 2.09, "ant": 1.74, "bitfusion": 4.51}
    for b, v in audit.items():
        assert lin[b].figures["speedup_avg"] == pytest.approx(v, abs=0.01), b
    cfg = paper_res.config
    assert cfg.assumptions == "paper" and cfg.scope("whole_model").phases == ("prefill",)
    assert paper_res.accelerators["mant"].pe.area_um2 == 148.0
    assert paper_res.accelerators["tender"].default_precision.act_bits == 4


def test_cli_assumptions_json_has_todays_shape_plus_the_set(capsys, tmp_path):
    shapes = {}
    for name in ("paper", "physical"):
        argv = ["reproduce", "--assumptions", name, "--no-accuracy", "--json"]
        assert main([*argv, "--out", str(tmp_path / name)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["assumptions"] == name
        for scope, baselines in (("linear_layers", PAPER_LINEAR), ("whole_model", ("tender",))):
            for b in baselines:
                keys = ("speedup_avg", "speedup_max", "energy_reduction_avg",
                        "energy_reduction_max", "paper", "cases")  # fmt: skip
                assert all(k in out[scope][b] for k in keys), (name, scope, b)
        shapes[name] = sorted(out)
    assert shapes["paper"] == shapes["physical"]
