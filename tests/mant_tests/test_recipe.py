"""The recipe value: named recipes, round trips through dicts, YAML and CLI strings, bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from dse.cli import main
from dse.study.recipe_io import dump_recipe, load_recipe, recipe_yaml
from hwmodel import Precision
from mant.errors import InputError
from mant.recipe import Recipe
from mant.recipes import named_recipe, recipe_names
from mant.tensor_recipe import KV_KINDS, WEIGHT_KINDS, Kind, Selection, TensorRecipe


@pytest.mark.parametrize("name", recipe_names())
def test_named_recipes_round_trip_through_dict_and_yaml(name, tmp_path):
    r = named_recipe(name)
    assert Recipe.from_dict(r.to_dict()) == r
    assert load_recipe(yaml.safe_load(recipe_yaml(r))) == r
    path = dump_recipe(r, tmp_path / f"{name}.yaml")
    back = load_recipe(str(path))
    assert back == r and back.to_dict() == r.to_dict()


def test_mant_hpca25_is_the_authors_setting():
    r = named_recipe("mant-hpca25")
    for kind in WEIGHT_KINDS:
        w = r.weight(kind)
        assert w is not None
        assert w.candidate_set.name == "mant-unicore16" and len(w.candidate_set.formats) == 16
        assert (w.group_size, w.selection) == (64, Selection.OUTPUT_MSE)
    for kind in (Kind.ACTIVATIONS, Kind.QUERY, Kind.ATTN_PROBS, Kind.ATTN_OUT):
        t = r.tensor(kind)
        assert t is not None and t.format == "int8" and t.group_size == 64
    k, v = r.key, r.value
    assert k is not None and v is not None
    assert k.candidate_set.names == ("mant4_a0", "mant4_a25", "int4")
    assert (k.grouping.value, v.grouping.value, v.staging_bits) == ("token", "channel", 8)
    assert k.selection is Selection.VARIANCE
    # 4 + (16 + 4) / 64 for weights, 4 + (16 + 2) / 64 for KV, 8 + 16 / 64 for activations
    assert r.weight_bits_per_element == 4.3125
    assert r.kv_bits_per_element == 4.28125
    assert r.act_bits_per_element == 8.25
    assert r.summary() == "W4A8 KV4"


def test_precision_is_built_from_the_recipe():
    p = Precision.from_recipe(named_recipe("mant-hpca25"))
    assert (p.weight_bits, p.act_bits, p.kv_bits) == (4, 8, 4)
    assert (p.weight_bits_per_element, p.kv_bits_per_element) == (4.3125, 4.28125)
    fp = Precision.from_recipe(named_recipe("fp16"))
    assert (fp.weight_bits, fp.act_bits, fp.kv_bits) == (16, 16, 16)


def test_bits_per_element_agrees_with_quant_config():
    t = TensorRecipe.parse("mant-unicore16:g64", kind=Kind.Q)
    assert t is not None
    cfg = t.quant_config() if t.selection is not Selection.OUTPUT_MSE else None
    assert cfg is not None and cfg.bits_per_element == t.bits_per_element == 4.3125
    a = TensorRecipe.parse("int4_asym:g128", kind=Kind.Q)
    assert a is not None and a.bits_per_element == a.quant_config().bits_per_element


def test_cli_strings_parse_and_print_back():
    t = TensorRecipe.parse("mant-unicore16:g128:scale=bf16:output-mse", kind=Kind.DOWN)
    assert t is not None
    assert (t.group_size, str(t.scale_format), t.selection) == (128, "bf16", Selection.OUTPUT_MSE)
    assert TensorRecipe.parse(str(t), kind=Kind.DOWN) == t
    kv = TensorRecipe.parse("mant-kv3:g64:variance", kind=Kind.VALUE)
    assert kv is not None and kv.grouping.value == "channel" and kv.staging_bits == 8
    assert TensorRecipe.parse("fp", kind=Kind.Q) is None


def test_overrides_replace_whole_parts():
    r = named_recipe("mant-hpca25").with_overrides(weights="int4:g128", acts="fp", kv="fp")
    assert all(r.weight(k).format == "int4" for k in WEIGHT_KINDS)
    assert r.activations is None and r.query is None and r.attn_out is None
    assert all(r.tensor(k) is None for k in KV_KINDS)
    assert r.summary() == "W4A16 KV16"
    assert r.name == "mant-hpca25+weights+acts+kv"


def test_per_kind_weights_in_yaml():
    r = Recipe.from_dict(
        {
            "name": "mixed",
            "weights": {"default": "int4:g64", "down": {"format": "int8", "group_size": 32}},
        }
    )
    assert r.weight("q").format == "int4" and r.weight("down").format == "int8"
    assert r.weight_bits == 8  # the widest kind sets the PE mode
    assert Recipe.from_dict(r.to_dict()) == r


@pytest.mark.parametrize(
    ("data", "path", "value"),
    [
        ({"name": "x", "weights": {"default": "int4", "qq": "int4"}}, "recipe.weights", "qq"),
        ({"name": "x", "weights": "nosuchformat"}, "recipe.weights.format", "nosuchformat"),
        ({"name": "x", "keys": "int4"}, "recipe", "keys"),
        (
            {"name": "x", "key": {"format": "int4", "selection": "output_mse"}},
            "recipe.key.selection: must be variance, lut or oracle",
            "output_mse",
        ),
        (
            {"name": "x", "query": {"format": "int8", "staging_bits": 8}},
            "recipe.query.staging_bits: applies only to value",
            "8",
        ),
        (
            {"name": "x", "weights": {"default": {"format": "int4", "group_size": 0}}},
            "recipe.weights.default.group_size: must be an int >= 1",
            "0",
        ),
        ({"name": "", "weights": "int4"}, "recipe.name", ""),
    ],
)
def test_bad_recipes_name_field_rule_and_value(data, path, value):
    with pytest.raises(InputError) as info:
        Recipe.from_dict(data)
    text = str(info.value)
    assert len(info.value.issues) == 1, text  # one problem, reported once
    assert path in text and f"got {value!r}" in text.replace("got 0", "got '0'").replace(
        "got 8", "got '8'"
    ), text


def test_recipes_cli_lists_and_dumps(tmp_path, capsys):
    assert main(["recipes", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(recipe_names())
    assert by_name["mant-hpca25"]["weight_bits_per_element"] == 4.3125
    out = tmp_path / "r.yaml"
    assert main(["recipes", "mant-hpca25", "--to", str(out)]) == 0
    assert load_recipe(str(out)) == named_recipe("mant-hpca25")
    assert main(["recipes", "no-such-recipe"]) == 2
    err = capsys.readouterr().err
    assert "recipes.name: must be a named recipe" in err and "no-such-recipe" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nweights: {default: int4, sideways: int4}\n")
    assert main(["recipes", str(bad)]) == 2
    assert "sideways" in capsys.readouterr().err
