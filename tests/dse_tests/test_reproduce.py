"""``mant-dse reproduce``: the report's internal consistency on a reduced case list."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from dse.cli import main
from dse.reproduce.accuracy import kv_fake_quant, run_accuracy
from dse.reproduce.cases import (
    DEFAULT_CONFIG,
    KVQuantSpec,
    load_config,
    parse_config,
    reduce_config,
)
from dse.reproduce.compute import (
    build_accelerators,
    case_ratios,
    evaluate_cases,
    run_hardware,
    summarize,
)
from dse.reproduce.info import reproduce_info, summary_json
from dse.reproduce.render import render_html, render_markdown
from dse.reproduce.sensitivity import run_sensitivity

STUDIES = Path(__file__).resolve().parents[2] / "studies"

# Two models, two lengths, two batches, a short sensitivity sweep and small synthetic tensors:
# the whole pipeline in a few seconds.
SMALL = reduce_config(
    DEFAULT_CONFIG,
    models=["llama-2-7b", "opt-6.7b"],
    seq_lens=[512, 2048],
    batches=[1, 4],
    sensitivity={
        "seq_len": 2048,
        "batch": 4,
        "knobs": {
            "dram_bw_bytes_per_cycle": [25.6, 256.0],
            "area_scale": [0.5, 1.0, 2.0],
            "buffer_kib": [256, 512],
            "seq_len": [512, 2048, 8192],
            "batch": [1, 4],
            "dataflow": ["ws", "os"],
            "preload": ["serial", "overlapped"],
        },
    },
    accuracy={
        "weights": "synthetic",
        "kv": "synthetic",
        "n_weight_tensors": 2,
        "kv_layers": [0, 1],
        "seed": 3,
    },
)


@pytest.fixture(scope="module")
def small():
    cfg = parse_config(SMALL)
    hw = run_hardware(cfg)
    sens = run_sensitivity(cfg)
    acc = run_accuracy(cfg)
    return cfg, hw, reproduce_info(cfg, hw, sens, acc)


def test_shipped_yaml_equals_the_builtin_config():
    assert load_config(STUDIES / "reproduce" / "paper.yaml") == load_config()


def _gmean(values):
    return float(np.exp(np.mean(np.log(values))))


def test_averages_and_maxima_equal_the_per_case_figures(small):
    cfg, hw, info = small
    cyc = {(c.design, c.case): c.cycles for c in hw.costs}
    en = {(c.design, c.case): sum(c.energy_breakdown_pj.values()) for c in hw.costs}
    assert len(hw.costs) == len(cfg.cases) * len(cfg.designs) == 16 * 5

    def ratios(designs, cases=cfg.cases):
        sp = [cyc[(b, c)] / cyc[("mant", c)] for b in designs for c in cases]
        er = [en[(b, c)] / en[("mant", c)] for b in designs for c in cases]
        return sp, er

    sp, er = ratios(cfg.baselines)
    h = info.headline_summary
    assert h.n == len(sp) == 3 * 16
    assert h.speedup_avg == pytest.approx(_gmean(sp), rel=1e-12)
    assert h.speedup_max == max(sp)
    assert h.energy_reduction_avg == pytest.approx(_gmean(er), rel=1e-12)
    assert h.energy_reduction_max == max(er)
    assert h.speedup_arith == pytest.approx(np.mean(sp), rel=1e-12)
    for design, _, s in info.per_design:
        sp, er = ratios([design])
        assert s.speedup_avg == pytest.approx(_gmean(sp), rel=1e-12)
        assert s.energy_reduction_max == max(er)
    for design, model, phase, s in info.per_model_phase:
        cases = [c for c in cfg.cases if (c.model, c.phase) == (model, phase)]
        sp, _ = ratios([design], cases)
        assert s.speedup_avg == pytest.approx(_gmean(sp), rel=1e-12)
    # the headline rows are the summary next to the paper's figures
    rows = {r.metric: r for r in info.headline}
    assert rows["speedup_avg"].ours == h.speedup_avg and rows["speedup_avg"].paper == 2.99
    assert rows["energy_reduction_max"].paper == 4.10
    # the energy breakdown sums to the per-case energies
    for (design, phase), parts in info.energy_breakdown.items():
        total = sum(en[(design, c)] for c in cfg.cases if c.phase == phase)
        assert sum(parts.values()) == pytest.approx(total, rel=1e-12)


def test_iso_area_rule_holds_and_is_tight(small):
    cfg, hw, info = small
    budget = cfg.area_budget_um2
    assert budget == pytest.approx(104 * 32 * 785929 / 2024, abs=0.1)  # hardware.md §5
    for row in info.iso_area:
        acc = hw.accelerators[row.design]
        pe = acc.pe
        epi = pe.epilogue.area_um2_per_column if pe.epilogue else 0.0
        r, c = acc.array.rows, acc.array.cols
        area = r * c * pe.area_um2 + c * epi
        assert row.pe_area_um2 == pytest.approx(area)
        assert (1 - cfg.iso_area_tolerance) * budget <= area <= budget, row
        grown = (r, c + 1) if cfg.design(row.design).keep == "rows" else (r + 1, c)
        assert grown[0] * grown[1] * pe.area_um2 + grown[1] * epi > budget, row
        assert row.ok
    # the presets were built by the same rule: the resized arrays equal them
    assert {n: (a.array.rows, a.array.cols) for n, a in hw.accelerators.items()} == {
        "mant": (64, 47),
        "ant": (78, 64),
        "olive": (65, 64),
        "tender": (90, 64),
        "int8": (45, 32),
    }


def test_every_assumption_is_listed_in_both_reports(small):
    cfg, hw, info = small
    md, page = render_markdown(info), render_html(info)
    names = [a.name for a in info.assumptions]
    assert len(names) == len(set(names))
    for a in info.assumptions:
        assert a.source.strip(), a.name
        assert f"| {a.name} |" in md
        assert f"<td>{a.name}</td>" in page
    for name, acc in hw.accelerators.items():
        row = next(a for a in info.assumptions if a.name == f"{name}.array")
        assert row.value.startswith(f"{acc.array.rows} x {acc.array.cols}")
        assert f"{name}.precision" in names and f"{name}.pe_area" in names
    for knob, _ in cfg.sensitivity.knobs:
        assert f"| {knob} |" in md
    # self-contained: plotly.js embedded, nothing fetched
    assert "<script src=" not in page and len(page) > 1_000_000


def test_sensitivity_base_point_equals_a_direct_run(small):
    cfg, _, info = small
    base = parse_config(
        reduce_config(SMALL, seq_lens=[cfg.sensitivity.seq_len], batches=[cfg.sensitivity.batch])
    )
    direct = run_hardware(base).headline
    for knob, points in info.sensitivity.curves.items():
        (point,) = [p for p in points if p.is_base]
        assert point.headline.speedup_avg == pytest.approx(direct.speedup_avg, rel=1e-12), knob
    # ANT and OliVe keep an FP16 KV cache: their gap to M-ANT widens with the context
    ant = [p.per_design["ant"].speedup_avg for p in info.sensitivity.curves["seq_len"]]
    assert ant == sorted(ant) and ant[-1] > ant[0]
    for f in info.findings:
        values = [getattr(p.headline, f.metric) for p in info.sensitivity.curves[f.knob]]
        assert (f.low, f.high) == (min(values), max(values))
        paper = getattr(cfg.paper, f.metric)
        assert f.reaches_paper == (min(values) <= paper <= max(values))


def test_preload_axis_matches_a_direct_overlapped_run(small):
    cfg, _, info = small
    serial, over = info.sensitivity.curves["preload"]
    assert (serial.value, serial.is_base, over.value, over.is_base) == (
        "serial",
        True,
        "overlapped",
        False,
    )
    accs = build_accelerators(cfg, preload="overlapped")
    assert {str(a.array.preload) for a in accs.values()} == {"overlapped"}
    base = (cfg.sensitivity.seq_len, cfg.sensitivity.batch)
    cases = [c for c in cfg.cases if (c.seq_len, c.batch) == base]
    ratios = case_ratios(evaluate_cases(accs, cases), cfg.subject, cfg.baselines)
    direct = summarize(ratios, cfg.mean)
    assert over.headline.speedup_avg == pytest.approx(direct.speedup_avg, rel=1e-12)
    assert over.headline.energy_reduction_max == pytest.approx(direct.energy_reduction_max)
    # hiding the loads never slows a design down: every design's decode gets faster
    serial_costs = {
        (c.design, c.case): c.cycles for c in evaluate_cases(small[1].accelerators, cases)
    }
    for c in evaluate_cases(accs, cases):
        assert c.cycles <= serial_costs[(c.design, c.case)]
        if c.case.phase == "decode":
            assert c.cycles < serial_costs[(c.design, c.case)]
    row = next(a for a in info.assumptions if a.name == "model.stationary_preload")
    assert row.value.startswith("serial (") and "[D]" in row.source


def test_tender_kv_follows_the_artifact_rules():
    """K: channel bias over tokens, then INT4 per token; V: INT4 per channel (Tender artifact)."""
    rng = np.random.default_rng(5)
    k = rng.standard_normal((2, 64, 16)).astype(np.float32)
    k[..., 3] += 40.0  # a channel offset: the bias takes it out before the per-token scale
    v = rng.standard_normal((2, 64, 16)).astype(np.float32)
    kq, vq = kv_fake_quant(KVQuantSpec(method="tender"))(k, v)
    bias = ((k.max(axis=-2, keepdims=True) + k.min(axis=-2, keepdims=True)) / 2).astype(np.float16)
    centred = k - bias.astype(np.float32)
    step = np.abs(centred).max(axis=-1, keepdims=True) / 7  # one scale per token
    codes = (kq - bias.astype(np.float32)) / step
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-3)
    assert codes.min() >= -8 - 1e-3 and codes.max() <= 7 + 1e-3
    assert np.all(np.abs(kq - k) <= step / 2 + 1e-4)  # nearest level, no clipping
    v_step = np.abs(v).max(axis=-2, keepdims=True) / 7  # one scale per channel
    np.testing.assert_allclose(vq / v_step, np.round(vq / v_step), atol=1e-3)
    # without the bias, the offset channel would set every token's scale
    plain = np.abs(k).max(axis=-1, keepdims=True) / 7
    assert np.mean((kq - k) ** 2) < np.mean(plain**2) / 12 / 4


def test_accuracy_side_orders_the_designs(small):
    _, _, info = small
    rows = {r.design: r for r in info.accuracy.rows}
    assert "synthetic" in info.accuracy.weight_source and "synthetic" in info.accuracy.kv_source
    # INT8 < per-group adaptive MANT4 < per-channel INT4 on weights
    assert (
        rows["int8"].weight_rel_mse < rows["mant"].weight_rel_mse < rows["tender"].weight_rel_mse
    )
    # ANT / OliVe keep an FP16 cache: only fp16 rounding (relative error ~ 2^-11 squared / 3)
    assert rows["ant"].kv_rel_mse < 1e-6 < rows["mant"].kv_rel_mse
    assert rows["mant"].weight_bits_per_element == 4.3125  # 4 + (16 + 4) / 64
    assert rows["tender"].weight_bits_per_element == 4.0
    # OliVe with outlier-victim pairs, per channel, beats ANT's per-channel types
    assert rows["olive"].weight_setting.startswith("olive-ovp per channel")
    assert rows["olive"].weight_rel_mse < rows["ant"].weight_rel_mse
    assert rows["tender"].kv_setting.startswith("Tender: K channel bias")


def test_summary_json_has_the_headline_keys(small):
    _, _, info = small
    out = json.loads(json.dumps(summary_json(info)))
    for key in ("speedup_avg", "speedup_max", "energy_reduction_avg", "energy_reduction_max"):
        assert out[key] == getattr(info.headline_summary, key)
    assert set(out["per_baseline"]) == {"ant", "olive", "tender", "int8"}
    assert out["per_baseline"]["int8"]["role"] == "reference"
    assert "geometric" in out["definition"]
    assert all(v["ok"] for v in out["iso_area"].values())
    assert math.isclose(out["difference_vs_paper"]["speedup_avg"], out["speedup_avg"] / 2.99 - 1)


def test_cli_writes_both_reports_and_prints_json(tmp_path, capsys):
    cfg_path = tmp_path / "small.yaml"
    cfg_path.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "rep"
    assert (
        main(
            ["reproduce", "--config", str(cfg_path), "--out", str(out), "--json", "--no-accuracy"]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["report_html"] == str(out / "report.html")
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    assert printed["speedup_avg"] > 1 and "accuracy" not in printed


def test_bad_config_reports_every_issue_and_exits_2(tmp_path, capsys):
    bad = reduce_config(SMALL, models=["llama-9b"], mean="median", colour="red")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["reproduce", "--config", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: reproduce.colour: unknown key" in err
    assert "error: reproduce.models[0]: must be one of" in err
    assert "error: reproduce.mean: must be geometric or arithmetic, got 'median'" in err


def test_a_design_with_its_own_memory_gets_its_own_rows(small):
    from dse.reproduce.assumptions import assumptions_table

    cfg, hw, _ = small
    accs = dict(hw.accelerators)
    accs["ant"] = accs["ant"].with_dram(bw_bytes_per_cycle=64.0)
    rows = {a.name: a for a in assumptions_table(cfg, accs)}
    assert rows["ant.memory.dram_bandwidth"].value == "64"
    assert rows["memory.dram_bandwidth"].value == "256"
    assert "olive.memory.dram_bandwidth" not in rows
