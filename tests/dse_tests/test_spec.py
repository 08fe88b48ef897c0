"""Spec parsing: valid specs become dataclasses; every problem is reported at once, with paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.study.space import Categorical, IntRange
from dse.study.spec import SamplerName, load_spec, parse_spec, spec_to_dict
from mant.errors import InputError

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _issues(data) -> dict[str, str]:
    with pytest.raises(InputError) as info:
        parse_spec(data)
    return {i.path: i.rule for i in info.value.issues}


def test_small_spec_parses_into_dataclasses(small_spec):
    assert small_spec.sampler.name is SamplerName.RANDOM
    assert [g.name for g in small_spec.workload.gemms] == ["proj", "mlp"]
    rows = small_spec.space.get("rows")
    assert isinstance(rows, Categorical) and rows.choices == (8, 16)
    assert small_spec.space.size == 32
    assert [p.name for p in small_spec.space.searched] == [
        "pe_type",
        "group_size",
        "weight_format",
        "rows",
        "cols",
    ]
    assert small_spec.constraints[0].name == "weight_bits_per_element_max"
    assert small_spec.constraints[0].violation(6.5) == pytest.approx(0.5)


def test_round_trip_through_plain_dict(small_spec):
    assert parse_spec(spec_to_dict(small_spec)) == small_spec


def test_ranges_and_default_directions(small_spec_dict):
    small_spec_dict["space"]["rows"] = {"low": 16, "high": 64, "step": 16}
    small_spec_dict["objectives"] = ["weight_sqnr_db", "area_um2"]
    spec = parse_spec(small_spec_dict)
    rows = spec.space.get("rows")
    assert isinstance(rows, IntRange) and list(rows.values()) == [16, 32, 48, 64]
    assert spec.directions == ["maximize", "minimize"]


def test_every_problem_reported_at_once(small_spec_dict):
    bad = small_spec_dict
    bad["version"] = 2
    bad["colour"] = "red"
    bad["n_trials"] = 0
    bad["sampler"] = {"name": "annealing"}
    bad["workload"]["phaze"] = "decode"
    bad["space"]["rows"] = {"low": 64, "high": 16}
    bad["space"]["cols"] = []
    bad["space"]["group_size"] = [64, "big"]
    bad["space"]["dataflow"] = ["diagonal"]
    bad["space"]["widgets"] = [1]
    bad["space"]["weight_format"] = [{"n": 8}]
    bad["objectives"] = [{"metric": "speed"}, {"metric": "area_um2", "direction": "down"}]
    bad["constraints"] = [{"metric": "area_um2", "max": "lots"}, {"metric": "area_um2"}]
    issues = _issues(bad)
    expected = {
        "version",
        "colour",
        "n_trials",
        "sampler.name",
        "workload.phaze",
        "space.rows",
        "space.cols",
        "space.group_size[1]",
        "space.dataflow[0]",
        "space.widgets",
        "space.weight_format[0].family",
        "objectives[0].metric",
        "objectives[1].direction",
        "constraints[0].max",
        "constraints[1]",
    }
    assert expected <= set(issues), sorted(set(expected) - set(issues))
    assert "valid:" in issues["colour"] and "low must be <= high" in issues["space.rows"]


def test_message_form_is_path_rule_got_value(small_spec_dict):
    small_spec_dict["n_trials"] = -3
    with pytest.raises(InputError) as info:
        parse_spec(small_spec_dict)
    assert str(info.value) == "n_trials: must be an int >= 1, got -3"


def test_not_a_mapping_and_missing_objectives():
    assert "<root>" in _issues([1, 2])
    assert {"version", "name", "objectives"} <= set(_issues({}))


def test_yaml_exponent_without_sign_is_a_number(small_spec_dict):
    small_spec_dict["constraints"] = [{"metric": "area_um2", "max": "2.0e6"}]
    assert parse_spec(small_spec_dict).constraints[0].max == 2.0e6


def test_load_spec_reports_bad_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_spec(broken)
    with pytest.raises(InputError, match="cannot read study file"):
        load_spec(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_studies_parse(path):
    spec = load_spec(path)
    assert spec.objectives and spec.space.size >= 1


def test_kv_format_takes_coefficient_families_in_yaml(small_spec_dict, tmp_path):
    """A study YAML may search KV coefficient families; real-time selection then runs on a
    LUT calibrated on the source's calibration draw, and every trial completes."""
    from dse.run.runner import run_study

    family = {"label": "kvlin8", "family": "linear", "n": 8, "a_min": 0, "a_max": 120}
    small_spec_dict["accuracy"] = {"source": "synthetic", "n_tensors": 1, "tensor_rows": 128}
    small_spec_dict["space"]["kv_format"] = ["mant-unicore16", family]
    small_spec_dict["space"]["kv_selection"] = ["realtime"]
    small_spec_dict["objectives"] = ["kv_rel_mse", "latency_s"]
    small_spec_dict["constraints"] = []
    spec = parse_spec(small_spec_dict)
    assert spec.space.get("kv_format").choices == ("mant-unicore16", "kvlin8")
    summary = run_study(spec, out_dir=tmp_path, n_trials=6, progress=False, report=False)
    assert summary.n_complete + summary.n_duplicate == 6 and summary.n_fail == 0
    assert list((tmp_path / "cache" / "kv-thresholds").glob("*.json"))
