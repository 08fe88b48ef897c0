"""Per-kind group size (issue 23 §3): ``group_size.<kind>`` in the study space, carried by the
recipe, recorded in the hardware precision and through the export files."""

from __future__ import annotations

import copy

import pytest

from dse.study.design import Design, design_from_values, ignored_params
from dse.study.numerics import kv_side_configs
from dse.study.space import PER_KIND_BASES
from dse.study.spec import parse_spec, spec_to_dict
from hwmodel import Precision, load_accelerator
from hwmodel.accelerator import accelerator_from_dict
from mant.vocab import B_OPERAND_KINDS, WEIGHT_KINDS


def _spec(small_spec_dict: dict, **space: object) -> dict:
    d = copy.deepcopy(small_spec_dict)
    d["space"] = {"pe_type": ["mant"], "rows": [8], "cols": [8], **space}
    return d


def test_every_b_operand_kind_has_a_group_size_parameter():
    assert PER_KIND_BASES["group_size"] == tuple(k.value for k in B_OPERAND_KINDS)


def test_group_size_key_overrides_the_base(small_spec_dict):
    spec = parse_spec(
        _spec(
            small_spec_dict,
            group_size=[128],
            **{"group_size.key": [16]},
            weight_format=["int{bits}"],
            kv_bits=[4],
            kv_format=["int{bits}"],
        )
    )
    assert parse_spec(spec_to_dict(spec)) == spec
    design = design_from_values(spec.space, {})
    assert design.per_kind == {"group_size.key": 16}
    recipe = design.recipe
    assert recipe.key.group_size == 16
    assert recipe.value.group_size == 128
    assert {recipe.weight(k).group_size for k in WEIGHT_KINDS} == {128}
    assert recipe.activations.group_size == 128
    k_cfg, v_cfg = kv_side_configs(recipe)
    assert (k_cfg.group_size, v_cfg.group_size) == (16, 128)
    # an fp16 key cache has no key group size
    values = {p.name: p.first for p in spec.space.params} | {"kv_bits": 16}
    assert "group_size.key" in ignored_params(values, spec.space)
    assert "group_size" not in ignored_params(values, spec.space)


def test_a_weight_kind_group_size_reaches_the_precision_and_back():
    d = Design(
        pe_type="mant",
        group_size=128,
        weight_bits=4,
        weight_format="int{bits}",
        kv_bits=4,
        kv_format="int{bits}",
        act_bits=8,
        rows=8,
        cols=8,
        dataflow="ws",
        per_kind={"group_size.down": 32, "group_size.value": 64},
    )
    assert Design.parse(d.to_dict()) == d  # the export's design.yaml
    p = Precision.from_recipe(d.recipe)
    assert p.group_size == 128
    assert (p.group_size_of("down"), p.group_size_of("value"), p.group_size_of("q")) == (
        32,
        64,
        128,
    )
    assert p.to_dict()["per_kind"]["down"]["group_size"] == 32
    assert Precision.from_dict(p.to_dict()) == p
    # accelerator.yaml of an export carries it as the default precision
    acc = load_accelerator("mant").with_precision(p)
    back = accelerator_from_dict(acc.to_dict(), pe=acc.pe)
    assert back.default_precision.group_size_of("down") == 32


def test_a_uniform_recipe_records_no_group_size():
    from mant.recipes import named_recipe

    p = Precision.from_recipe(named_recipe("mant-hpca25"))
    assert p.per_kind == ()


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_a_bad_group_size_in_a_design_file_is_an_input_error(bad):
    from mant.errors import InputError

    d = {
        "pe_type": "mant",
        "group_size": 64,
        "weight_bits": 4,
        "weight_format": "int4",
        "kv_bits": 4,
        "kv_format": "int4",
        "act_bits": 8,
        "rows": 8,
        "cols": 8,
        "dataflow": "ws",
        "per_kind": {"group_size.key": bad},
    }
    with pytest.raises(InputError, match="per_kind.group_size.key"):
        Design.parse(d)


def test_a_study_with_a_kind_group_size_exports_and_evaluates_again(small_spec_dict, tmp_path):
    from dse.cli import main
    from dse.export import evaluate_exported
    from dse.run.runner import run_study
    from dse.study.recipe_io import load_recipe

    d = _spec(small_spec_dict, group_size=[64], **{"group_size.down": [32, 128]})
    d["n_trials"] = 2
    d["sampler"] = {"name": "grid"}
    spec = parse_spec(d)
    out, to = tmp_path / "run", tmp_path / "designs"
    run_study(spec, out_dir=out, progress=False, report=False)
    assert main(["export", "--out", str(out), "--pareto", "--to", str(to)]) == 0
    folders = sorted(p for p in to.iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        import yaml

        saved = yaml.safe_load((folder / "design.yaml").read_text())
        g = saved["design"]["per_kind"]["group_size.down"]
        recipe = load_recipe(str(folder / "recipe.yaml"))
        assert recipe.weight("down").group_size == g and recipe.weight("q").group_size == 64
        acc = load_accelerator(folder / "accelerator.yaml")
        assert acc.default_precision.group_size_of("down") == g
        assert acc.default_precision == Precision.from_recipe(recipe)
        again = evaluate_exported(folder)
        for metric, value in saved["recorded"].items():
            assert again[metric] == pytest.approx(value, rel=1e-12), (folder.name, metric)
