"""One file per PE on the study side: PE types, native recipes and colours come from the PE files;
``hw llm`` on a preset and a study design on the same PE, recipe and array cost the same."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import yaml

from dse.cli import main
from dse.evaluate.hardware import HardwareModel, precision_of
from dse.report.units import PE_COLORS, pe_color
from dse.study.design import design_from_values
from dse.study.pe_recipes import FORMAT_PES, PE_RECIPES, pe_types
from dse.study.space import PE_TYPES
from dse.study.spec import parse_spec
from hwmodel import list_pes, load_accelerator
from mant.recipes import named_recipe

SHIPPED = sorted(list_pes())


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _native_spec(pes, rows, cols, dataflow, workload=None):
    return parse_spec(
        {
            "version": 1,
            "name": "native",
            "seed": 0,
            "n_trials": len(pes),
            "sampler": {"name": "grid"},
            "workload": workload
            or {"model": "llama-2-7b", "phase": "decode", "seq_len": 2048, "batch": 1},
            "accuracy": {
                "source": "synthetic",
                "n_tensors": 1,
                "tensor_rows": 16,
                "tensor_cols": 256,
            },  # fmt: skip
            "space": {"pe_type": list(pes), "rows": rows, "cols": cols, "dataflow": dataflow},
            "objectives": [{"metric": "latency_s"}, {"metric": "energy_pj"}],
        }
    )


def test_every_shipped_pe_is_a_pe_type_with_a_recipe_and_a_colour():
    assert sorted(PE_TYPES) == sorted(pe_types()) == SHIPPED
    assert {"bitfusion", "fp16"} <= set(PE_TYPES)
    assert sorted(PE_RECIPES) == sorted(PE_COLORS) == SHIPPED
    assert tuple(FORMAT_PES) == ("mant",)
    spec = _native_spec(SHIPPED, [8], [8], ["ws"])
    assert list(spec.space.get("pe_type").values()) == SHIPPED


def test_a_new_pe_file_is_picked_up_as_a_pe_type(tmp_path, monkeypatch):
    """Adding a PE is adding one file: PE_TYPES, PE_RECIPES and PE_COLORS all read it."""
    data = yaml.safe_load(
        (resources.files("hwmodel") / "data" / "pes" / "tender.yaml").read_text()
    )
    data.update(name="tender2", color="#123456", native_recipe="tender-w4a4")
    (tmp_path / "tender2.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MANT_DSE_PE_PATH", str(tmp_path))
    assert "tender2" in PE_TYPES
    assert PE_RECIPES["tender2"] == "tender-w4a4"
    assert PE_COLORS["tender2"] == pe_color("tender2") == "#123456"
    spec = _native_spec(["tender2", "tender"], [90], [64], ["ws"])
    hw = HardwareModel(spec.workload)
    costs = []
    for pe in ("tender2", "tender"):
        d = design_from_values(spec.space, {"pe_type": pe, "rows": 90, "cols": 64})
        assert d.recipe is named_recipe("tender-w4a4")
        costs.append(hw.metrics(d, precision_of(d)))
    assert costs[0] == costs[1]  # the same PE numbers under another name


@pytest.mark.parametrize("pe", SHIPPED)
def test_hw_llm_and_a_study_design_cost_the_same(pe, capsys):
    acc = load_accelerator(pe)
    argv = ["hw", "llm", "--accelerator", pe, "--model", "llama-2-7b", "--phase", "decode",
            "--seq-len", "2048", "--json"]  # fmt: skip
    preset = _json(capsys, argv)
    native = _json(capsys, [*argv, "--recipe", acc.pe.native_recipe])
    assert (native["latency_s"], native["energy_pj"]) == (preset["latency_s"], preset["energy_pj"])
    a = acc.array
    spec = _native_spec([pe], [a.rows], [a.cols], [str(a.dataflow)])
    design = design_from_values(spec.space, {})
    assert design.quantization == "native"
    assert design.recipe is named_recipe(acc.pe.native_recipe)
    m = HardwareModel(spec.workload).metrics(design, precision_of(design))
    assert m["latency_s"] == pytest.approx(preset["latency_s"], rel=1e-12)
    assert m["energy_pj"] == pytest.approx(preset["energy_pj"], rel=1e-12)


def test_recipes_json_names_exactly_one_native_recipe_per_pe(capsys):
    rows = _json(capsys, ["recipes", "--json"])
    native = [r["native_pe"] for r in rows if r["native_pe"] is not None]
    assert sorted(native) == SHIPPED  # each PE exactly once
    by_name = {r["name"]: r["native_pe"] for r in rows}
    assert by_name["int8-g64"] == "int8" and by_name["bitfusion-w8a8"] == "bitfusion"
    assert by_name["int4-g64"] is None


def test_kv_group_size_in_a_recipe_file_changes_decode_energy(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    assert main(["recipes", "mant-hpca25", "--to", str(path)]) == 0
    capsys.readouterr()
    data = yaml.safe_load(path.read_text())
    data["key"]["group_size"] = data["value"]["group_size"] = 32
    other = tmp_path / "kv32.yaml"
    other.write_text(yaml.safe_dump(data, sort_keys=False))
    argv = ["hw", "llm", "--accelerator", "mant", "--model", "llama-2-7b", "--phase", "decode",
            "--json", "--recipe"]  # fmt: skip
    base = _json(capsys, [*argv, str(path)])
    kv32 = _json(capsys, [*argv, str(other)])
    assert kv32["energy_pj"] > base["energy_pj"]
    assert kv32["energy_breakdown_pj"]["epilogue"] > base["energy_breakdown_pj"]["epilogue"]


def test_a_study_of_pe_types_alone_has_a_complete_trial_per_pe(tmp_path):
    """space: pe_type (every shipped PE) and the array; each design runs its native recipe."""
    import pandas as pd

    from dse.run.runner import run_study

    gemms = {"gemms": [{"name": "proj", "m": 4, "n": 128, "k": 128}]}
    spec = _native_spec(SHIPPED, [16], [16], ["ws"], workload=gemms)
    s = run_study(spec, out_dir=tmp_path, progress=False, report=False)
    assert s.n_fail == 0 and s.n_complete == len(SHIPPED)
    df = pd.read_csv(tmp_path / "results.csv")
    assert sorted(df["param.pe_type"]) == SHIPPED
    assert set(df["state"]) == {"COMPLETE"}


def test_hw_gemm_takes_a_recipe_and_a_constant_set(capsys):
    argv = ["hw", "gemm", "--accelerator", "ant", "--m", "16", "--n", "256", "--k", "512",
            "--json"]  # fmt: skip
    preset = _json(capsys, argv)
    native = _json(capsys, [*argv, "--recipe", "ant-w4a4"])
    w8a8 = _json(capsys, [*argv, "--recipe", "int8-g64"])  # ANT's fused W8A8 mode: 1/4 MAC
    assert native == preset
    assert w8a8["compute_cycles"] > preset["compute_cycles"]
    mant = ["hw", "llm", "--accelerator", "mant", "--model", "llama-2-7b", "--json"]
    unicore, paper = _json(capsys, mant), _json(capsys, [*mant, "--pe-constants", "paper"])
    assert paper["area_um2"] < unicore["area_um2"]  # 148 against 388.3 um^2 per PE
    assert main([*mant, "--recipe", "no-such-recipe"]) == 2
    assert "--recipe: must be a named recipe" in capsys.readouterr().err
