"""The report's answer on known inputs: distinct designs, knee, picks, units, terminal table."""

from __future__ import annotations

import numpy as np
import pytest

from dse.report.info import context_info, pareto_table
from dse.report.pick import distinct_designs, drilldown, knee_index, pick_info
from dse.report.terminal import pick_table
from dse.report.units import display_unit, format_value
from dse.results.frame import TrialRecord, build_frame, load_frame
from dse.run.runner import run_study


def _rec(trial, pe, fmt, rows, err, lat, area, ok=True):
    return TrialRecord(
        trial=trial,
        state="COMPLETE",
        params={"pe_type": pe, "group_size": 64, "weight_format": fmt, "rows": rows, "cols": 8},
        metrics={
            "weight_rel_mse": err,
            "latency_s": lat,
            "area_um2": area,
            "energy_pj": 1e9 * lat,
            "weight_bits_per_element": 4.25,
        },
        constraints={"weight_bits_per_element_max": -1.0 if ok else 1.0},
    )


# Trials 0/1: the int8 PE ignores weight_format -> one design. Trials 2/3: the same MANT design
# twice. Trial 4: MANT with another format (a different design). Trial 5: infeasible.
RECORDS = [
    _rec(0, "int8", "int{bits}", 8, 0.01, 4.0, 1.0),
    _rec(1, "int8", "mant-unicore16", 8, 0.01, 4.0, 1.0),
    _rec(2, "mant", "mant-unicore16", 8, 0.02, 2.0, 1.5),
    _rec(3, "mant", "mant-unicore16", 8, 0.02, 2.0, 1.5),
    _rec(4, "mant", "int{bits}", 16, 0.05, 1.0, 3.0),
    _rec(5, "mant", "int{bits}", 8, 0.001, 0.5, 0.5, ok=False),
]


@pytest.fixture
def frame(small_spec):
    return build_frame(RECORDS, small_spec)


def test_knee_is_the_point_nearest_the_ideal_after_scaling():
    # without scaling, [0, 1000] would be far from the ideal; scaled it is the corner (0, 1)
    pts = np.array([[0.0, 1000.0], [0.5, 400.0], [1.0, 0.0]])
    assert knee_index(pts) == 1  # scaled: (0, 1), (0.5, 0.4), (1, 0): distance 0.64 is least
    assert knee_index(np.array([[1.0, 1.0], [1.0, 1.0]])) == 0  # ties: the first
    # own bounds: (0, 1) and (1, 0) tie -> 0; given bounds scale column 0 by 10: (0, 1), (0.1, 0)
    pts = np.array([[0.0, 5.0], [1.0, 0.0]])
    assert knee_index(pts) == 0
    assert knee_index(pts, np.zeros(2), np.array([10.0, 5.0])) == 1


def test_distinct_designs_merge_trials_and_ignored_parameters(frame, small_spec):
    d = distinct_designs(frame[frame["feasible"]], small_spec)
    assert d["trials"].tolist() == ["0, 1", "2, 3", "4"]  # by weight_rel_mse
    assert d["n_trials"].tolist() == [2, 2, 1]
    assert d["p.weight_format"].tolist() == ["int8 (PE)", "mant-unicore16", "int4"]
    assert d["p.rows"].tolist() == ["8", "8", "16"]
    # the table of the report: the same rows among the Pareto designs
    assert pareto_table(frame, small_spec)["trials"].tolist() == ["0, 1", "2, 3", "4"]


def test_pick_knee_best_per_objective_and_pe_against_int8(frame, small_spec):
    info = pick_info(frame, small_spec)
    by_role = {role: p for p in info.picks for role in p.roles}
    # feasible front: (0.01, 4, 1), (0.02, 2, 1.5), (0.05, 1, 3); scaled to [0, 1] per column:
    # (0, 1, 0) d=1, (0.25, 0.33, 0.25) d=0.49, (1, 0, 1) d=1.41 -> the knee is trial 2
    assert by_role["knee"].trial == 2
    assert by_role["best weight_rel_mse"].trial == 0
    assert by_role["best latency_s"].trial == 4  # trial 5 is faster but infeasible
    assert by_role["best area_um2"].trial == 0
    assert by_role["best on mant PE"].trial == 2 and by_role["best on int8 PE"].trial == 0
    assert info.reference is not None and info.reference.trial == 0
    knee = by_role["knee"]
    assert knee.vs_reference["speedup"] == pytest.approx(4.0 / 2.0)
    assert knee.vs_reference["energy"] == pytest.approx(4.0 / 2.0)
    assert knee.vs_reference["area"] == pytest.approx(1.0 / 1.5)
    assert knee.vs_reference["accuracy (weight_rel_mse)"] == pytest.approx(0.01 / 0.02)
    assert info.picks[0].roles[0] == "knee"  # knee first
    assert knee.params["weight_format"] == "mant-unicore16"


def test_pick_without_feasible_design_is_empty(small_spec):
    df = build_frame([_rec(0, "mant", "int{bits}", 8, 0.1, 1.0, 1.0, ok=False)], small_spec)
    info = pick_info(df, small_spec)
    assert info.picks == () and info.reference is None
    assert pick_table(info, small_spec.metric_names) == "pick: no feasible design yet"


def test_context_says_what_was_studied(frame, small_spec):
    items = dict(context_info(frame, small_spec).items)
    assert items["workload"].startswith("2 GEMMs")
    assert items["accuracy"].startswith("synthetic tensors (2 per kind")
    assert items["constraints"] == "weight_bits_per_element ≤ 6 bit"
    assert items["design space"].startswith("32 designs")
    assert items["trials"].startswith("6 run (6 complete, 5 feasible")
    assert items["distinct designs"].startswith("4 evaluated, 3 on the Pareto front")


@pytest.mark.parametrize(
    ("metric", "values", "label", "shown"),
    [
        ("latency_s", [0.0034, 0.02], "ms", "3.4 ms"),
        ("energy_pj", [3.8e11, 6.6e11], "mJ", "380 mJ"),
        ("energy_pj", [2.0e3, 4.0e3], "nJ", "2 nJ"),
        ("area_um2", [2.9e6, 4.0e6], "mm²", "2.9 mm²"),
        ("area_um2", [900.0, 1200.0], "µm²", "900 µm²"),
        ("weight_rel_mse", [0.004, 0.01], "", "0.004"),
    ],
)
def test_display_units_follow_the_data_range(metric, values, label, shown):
    unit = display_unit(metric, values)
    assert unit.label == label
    assert format_value(metric, values[0], unit) == shown


def test_terminal_table_lists_knee_and_best_per_objective(frame, small_spec):
    text = pick_table(pick_info(frame, small_spec), small_spec.metric_names)
    lines = text.splitlines()
    assert "latency [s]" in lines[2] and "speedup ×" in lines[2]
    rows = [line.split()[0] for line in lines[3:6]]
    assert rows == ["knee", "best", "best"]
    assert "best on" not in text  # per-PE picks stay in the HTML report
    assert "  knee: mant PE, group_size=64, weight_format=mant-unicore16, rows=8" in text


def test_drilldown_reproduces_the_recorded_costs(small_spec, tmp_path):
    s = run_study(small_spec, out_dir=tmp_path, progress=False, report=False)
    df = load_frame(tmp_path)
    info = pick_info(df, small_spec)
    assert s.n_complete + s.n_duplicate == 12 and info.picks  # duplicates are not re-run
    for pick in info.picks:
        d = drilldown(small_spec, pick)
        assert d.latency_s == pytest.approx(pick.values["latency_s"], rel=1e-12)
        assert sum(d.time_by_layer_s.values()) == pytest.approx(d.latency_s, rel=1e-9)
        assert sum(d.energy_by_component_pj.values()) == pytest.approx(
            pick.values["energy_pj"], rel=1e-9
        )
        assert set(d.time_by_layer_s) == {"proj", "mlp"}


def test_reference_falls_back_to_the_first_pe_type_with_a_feasible_design(small_spec):
    recs = [
        _rec(0, "int8", "int{bits}", 8, 0.01, 4.0, 1.0, ok=False),
        _rec(1, "mant", "mant-unicore16", 8, 0.02, 2.0, 1.5),
        _rec(2, "mant", "int{bits}", 16, 0.05, 1.0, 3.0),
    ]
    info = pick_info(build_frame(recs, small_spec), small_spec)
    assert info.reference is not None and info.reference.pe_type == "mant"
    assert info.reference.label == "reference (mant PE)"
    assert pick_info(build_frame(recs, small_spec), small_spec, reference_pe="ant").reference


def test_run_ends_with_the_pick_table(small_spec_dict, tmp_path, capsys):
    import yaml

    from dse.cli import main

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_spec_dict))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--no-report"]) == 0
    printed = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(printed) if line.startswith("pick (knee"))
    header = printed[start + 2]
    assert header.split()[:3] == ["pick", "PE", "trial"] and "latency [µs]" in header
    assert printed[start + 3].startswith("knee")
    assert "accuracy (weight_rel_mse) ×" in header  # the accuracy objective of the study
    assert any(line.startswith("  knee") and " PE, " in line for line in printed[start:])


def test_a_fixed_pe_type_is_its_own_reference(small_spec_dict):
    from dse.study.spec import parse_spec

    small_spec_dict["space"]["pe_type"] = ["mant"]
    spec = parse_spec(small_spec_dict)
    df = build_frame(RECORDS[2:5], spec)
    assert "param.pe_type" not in df
    info = pick_info(df, spec)
    assert info.reference is not None and info.reference.label == "reference (mant PE)"
    assert {p.pe_type for p in info.picks} == {"mant"}
    assert not any(r.endswith(" PE") for p in info.picks for r in p.roles)  # one PE: no per-PE
    assert all(v == pytest.approx(1.0) for v in info.reference.vs_reference.values())


def test_plot_reference_option(small_spec_dict, tmp_path, capsys):
    import yaml

    from dse.cli import main

    path = tmp_path / "small.yaml"
    small_spec_dict["constraints"] = []  # int8 feasible too
    path.write_text(yaml.safe_dump(small_spec_dict))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--no-report"]) == 0
    html_path = tmp_path / "r.html"
    args = ["plot", "--out", str(out), "--to", str(html_path)]
    assert main([*args, "--reference", "mant"]) == 0
    assert "reference (mant PE)" in html_path.read_text()
    assert main(args) == 0
    assert "reference (int8 PE)" in html_path.read_text()
    capsys.readouterr()
    assert main([*args, "--reference", "fp32"]) == 2
    # every PE file is a reference choice, mant first (dse.study.pe_recipes.pe_types)
    assert "error: --reference: must be one of mant, ant, bitfusion" in capsys.readouterr().err


def test_tables_show_the_format_not_the_bits_placeholder(frame, small_spec):
    """``int{bits}`` with 4-bit weights is shown as ``int4`` in the report table and the pick."""
    table = pareto_table(frame, small_spec)
    shown = set(table["p.weight_format"])
    assert not any("{bits}" in s for s in shown), shown
    assert shown & {"int4", "int8", "int8 (PE)"}, shown
    text = pick_table(pick_info(frame, small_spec), small_spec.metric_names)
    assert "{bits}" not in text, text


def test_a_parameter_a_trial_did_not_sample_reads_as_a_dash_not_nan(small_spec):
    rec = _rec(0, "mant", "mant-unicore16", 8, 0.02, 2.0, 1.5)
    del rec.params["group_size"]  # e.g. a selection rule that a fixed format never samples
    info = pick_info(build_frame([rec], small_spec), small_spec)
    knee = info.picks[0]
    assert knee.params["group_size"] == "–"
    assert "nan" not in pick_table(info, small_spec.metric_names)


def test_the_designs_table_shows_the_promoted_designs_perplexity(frame, small_spec):
    from dse.report.sections import designs_html

    table = pareto_table(frame, small_spec)
    single = designs_html(table, small_spec)
    assert ">ppl<" not in single  # single fidelity: no column
    table["metric.ppl"] = [21.5, np.nan, 30.25]  # the second design was not promoted
    html = designs_html(table, small_spec)
    assert ">ppl<" in html and "data-v='21.5'" in html and "data-v='30.25'" in html
    dash = "<td data-v='NaN'>–</td>"
    assert html.count(dash) == single.count(dash) + 1
