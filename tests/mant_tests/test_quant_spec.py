"""The one vocabulary, the one quantization value and the format registry (issue 23 §1-2)."""

from __future__ import annotations

import numpy as np
import pytest

import mant
from mant.candidates import candidate_set
from mant.errors import InputError
from mant.formats import LevelsFormat, parse_format, register_format, unregister_format
from mant.kv import KVQuantConfig, quantize_kv
from mant.quant_spec import QuantSpec
from mant.quantize import QuantConfig, quantize
from mant.recipe import Recipe
from mant.registry import (
    group_quantizer,
    register_group_quantizer,
    unregister_group_quantizer,
)
from mant.result import GroupQuant
from mant.vocab import (
    ACT_KINDS,
    B_OPERAND_KINDS,
    KV_KINDS,
    WEIGHT_KINDS,
    Granularity,
    Grouping,
    PerChannel,
    PerGroup,
    PerTensor,
    Selection,
    TensorKind,
)


def test_the_vocabulary_is_defined_once():
    import mant.groups
    import mant.kv
    import mant.quant_spec
    import mant.selection
    import mant.tensor_recipe

    assert mant.quant_spec.Kind is TensorKind and mant.tensor_recipe.Kind is TensorKind
    assert mant.kv.Grouping is Grouping and mant.quant_spec.Grouping is Grouping
    assert mant.kv.Selection is Selection and mant.selection.Selection is Selection
    assert mant.groups.Granularity is Granularity
    assert mant.tensor_recipe.TensorRecipe is QuantSpec
    assert set(WEIGHT_KINDS + KV_KINDS + ACT_KINDS) == set(TensorKind)
    assert B_OPERAND_KINDS == WEIGHT_KINDS + KV_KINDS
    assert mant.Recipe is Recipe and mant.QuantSpec is QuantSpec


def test_a_kv_config_rejects_a_weight_rule():
    with pytest.raises(InputError, match="kv.selection"):
        KVQuantConfig(selection="weight_mse")
    assert KVQuantConfig(candidates="int4", selection=Selection.NONE).selection is Selection.ORACLE


SPECS = [
    ("q", "mant-unicore16:g128:scale=bf16:output-mse"),
    ("down", "int4:channel"),
    ("q", "mxfp4"),
    ("q", "ant:g64:clip"),
    ("activations", "int8:g64"),
    ("key", "mant-kv3:g64"),
    ("value", "int4:g32:grouping=token"),
]


@pytest.mark.parametrize(("kind", "text"), SPECS)
def test_quant_spec_round_trips_through_a_dict(kind, text):
    spec = QuantSpec.parse(text, kind=kind)
    assert QuantSpec.from_dict(spec.to_dict()) == spec
    assert QuantSpec.from_dict(spec.to_dict(), kind=kind) == spec
    assert spec.candidate_set is not None  # resolved once, carried


def test_quant_spec_granularity_types():
    assert QuantSpec.parse("int4:g32", kind="q").granularity_type == PerGroup(32)
    assert QuantSpec.parse("int4:channel", kind="q").granularity_type == PerChannel()
    assert QuantSpec.parse("int8:tensor", kind="activations").granularity_type == PerTensor()


def test_quant_spec_from_dict_lists_the_valid_keys():
    with pytest.raises(InputError, match="spec.colour"):
        QuantSpec.from_dict({"format": "int4", "colour": "red"})


def test_quantize_takes_a_spec_bit_identically():
    x = np.random.default_rng(3).standard_normal((16, 256)).astype(np.float32)
    spec = QuantSpec.parse("mant-unicore16:g64", kind="q")
    via_spec = quantize(x, spec)
    via_cfg = quantize(x, QuantConfig(candidates="mant-unicore16", group_size=64))
    assert np.array_equal(via_spec.dequantized, via_cfg.dequantized)
    assert np.array_equal(via_spec.choice, via_cfg.choice)


def test_kv_config_from_specs_equals_the_recipes():
    r = Recipe.from_dict({"name": "kv", "key": "mant-kv3:g64", "value": "mant-kv3:g64"})
    cfg = KVQuantConfig.from_specs(r.key, r.value)
    assert cfg == r.kv_config() == KVQuantConfig()
    assert KVQuantConfig.from_specs(None, None) is None


def test_olive_goes_through_the_registry():
    assert group_quantizer("olive") is not None
    assert group_quantizer(parse_format("int4").family) is None  # the default grid quantizer


# --- a new format: one definition, one registration, nothing else -----------------------

_TOY = "toy3_levels"
_SIGN = "toysign1"


class _SignFormat(LevelsFormat):
    """A 1-bit toy whose family has a group quantizer of its own (sign times mean |x|)."""

    @property
    def family(self) -> str:
        return "toysign"


def _sign_groups(groups, lengths, cs, scale_format, choice, clip_search):
    valid = np.arange(groups.shape[1])[None, :] < lengths[:, None]
    scale = np.where(valid, np.abs(groups), 0).sum(axis=1) / lengths
    deq = (np.sign(groups) * scale[:, None]).astype(np.float32)
    err = np.where(valid, (groups - deq) ** 2, 0).sum(axis=1) / lengths
    return GroupQuant(
        dequantized=deq,
        codes=(groups > 0).astype(np.int16),
        scales=scale,
        choice=np.zeros(len(groups), np.int16),
        group_error=err,
        energy=np.where(valid, groups.astype(np.float64) ** 2, 0).sum(axis=1),
    )


@pytest.fixture(scope="module")
def toy_formats():
    # the whole of adding a format: a definition and a registration (two for its own quantizer)
    register_format(_TOY, LevelsFormat(label=_TOY, levels=(0.0, 1.0, 2.5, 6.0)))
    register_format(_SIGN, _SignFormat(label=_SIGN, levels=(1.0,), k=1))
    register_group_quantizer("toysign")(_sign_groups)
    yield _TOY, _SIGN
    unregister_format(_TOY)
    unregister_format(_SIGN)
    unregister_group_quantizer("toysign")
    with pytest.raises(InputError):  # gone again: other tests see the shipped registry
        parse_format(_TOY)


def test_a_registered_levels_format_is_usable_by_name(toy_formats):
    toy, _ = toy_formats
    assert toy in mant.formats.known_families()
    cs = candidate_set(toy)  # what --candidates / a recipe string says
    assert cs.bits == 3 and cs.formats[0].max_abs == 6.0
    assert candidate_set([toy, "int4"]).selector_bits == 1
    spec = QuantSpec.parse(f"{toy}:g32", kind="q")
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    res = quantize(x, spec)
    assert res.bits_per_element == 3 + 16 / 32
    grid = np.asarray(cs.formats[0].grid)
    units = res.dequantized.reshape(-1, 32) / res.scales[:, None]
    assert np.isclose(units[..., None], grid, atol=1e-4).any(axis=-1).all()  # on the grid
    again = quantize(res.dequantized, spec)  # idempotent
    assert np.allclose(again.dequantized, res.dequantized, atol=1e-6)
    r = Recipe.from_dict({"name": "toy", "weights": f"{toy}:g32"})
    assert Recipe.from_dict(r.to_dict()) == r


def test_a_registered_group_quantizer_serves_its_family(toy_formats):
    _, sign = toy_formats
    x = np.array([[1.0, -3.0, 2.0, -2.0]], dtype=np.float32)
    res = quantize(x, QuantConfig(candidates=sign, group_size=4))
    assert res.dequantized.tolist() == [[2.0, -2.0, 2.0, -2.0]]


def test_a_name_registers_once():
    with pytest.raises(InputError, match="registered already"):
        register_format("mxfp4", parse_format("mxfp4"))
    with pytest.raises(ValueError, match="registered already"):
        register_group_quantizer("olive")(lambda *a: None)


def test_kv_quantizes_with_a_spec_built_config():
    rng = np.random.default_rng(1)
    k, v = rng.standard_normal((2, 2, 128, 64)).astype(np.float32)
    ks = QuantSpec.parse("int4:g64", kind="key")
    vs = QuantSpec.parse("int4:g64", kind="value")
    res = quantize_kv(k, v, KVQuantConfig.from_specs(ks, vs))
    assert res.k.n_groups > 0 and 0 < res.rel_mse < 0.05


# --- algorithm and rotation (issue 21 §2) -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "mant-unicore16:g64:gptq",
        "mant-unicore16:g64:output-mse:awq:hadamard",
        "int4:g64:gptq:hadamard=row",
        "int4:channel:hadamard=16",
        "mxfp4:awq",
    ],
)
def test_algorithm_and_rotation_round_trip(text):
    spec = QuantSpec.parse(text, kind="down")
    assert QuantSpec.parse(str(spec), kind="down") == spec
    assert QuantSpec.from_dict(spec.to_dict()) == spec
    assert QuantSpec.from_dict(spec.to_dict(), kind="down") == spec
    assert spec.layer_algorithm


@pytest.mark.parametrize(("kind", "text"), SPECS)
def test_rtn_and_no_rotation_leave_every_form_unchanged(kind, text):
    spec = QuantSpec.parse(text, kind=kind)
    d = spec.to_dict()
    assert not {"algorithm", "rotation", "rotation_block"} & set(d)
    assert "rtn" not in str(spec) and "hadamard" not in str(spec)
    assert QuantSpec.parse(text + (":rtn" if kind in ("q", "down") else ""), kind=kind) == spec
    assert not spec.layer_algorithm


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        ("q", "int4_asym:g64:output-mse:gptq", "q.selection: output_mse with algorithm gptq"),
        ("q", "int4:channel:gptq", "q.granularity: must be group with algorithm gptq"),
        ("q", "olive-ovp:g64:gptq", "q.format: must round element by element with"),
        ("q", "int4:g64:hadamard=3", "q.rotation_block: must be a power of two"),
        ("q", "int4:channel:hadamard", "q.rotation_block: must be set"),
        ("activations", "int8:g64:gptq", "activations.algorithm: applies only to weights"),
        ("key", "int4:g64:hadamard", "key.rotation: applies only to weights"),
    ],
)
def test_bad_algorithm_values_name_the_field(kind, text, message):
    with pytest.raises(InputError) as info:
        QuantSpec.parse(text, kind=kind)
    assert message in str(info.value) and len(str(info.value).splitlines()) == 1


def test_quantize_refuses_a_spec_it_would_round_to_nearest():
    w = np.random.default_rng(0).standard_normal((16, 128)).astype(np.float32)
    spec = QuantSpec.parse("int4:g64:gptq:hadamard", kind="q")
    assert spec.rotation_block_for(128) == 64 and spec.quant_config().group_size == 64
    with pytest.raises(InputError, match="cfg: has an algorithm or a rotation"):
        quantize(w, spec)


def test_a_recipe_with_gptq_parses_and_round_trips():
    from mant.recipes import named_recipe

    r = named_recipe("mant-hpca25-gptq")
    assert all(t.algorithm.value == "gptq" for _, t in r.weights)
    assert Recipe.from_dict(r.to_dict()) == r
    assert r.weight_bits_per_element == named_recipe("mant-hpca25").weight_bits_per_element
    assert r.key == named_recipe("mant-hpca25").key
    y = Recipe.from_dict({"name": "y", "weights": {"default": "int4:g64", "down": "int4:g64:awq"}})
    assert y.weight("down").algorithm.value == "awq" and y.weight("q").algorithm.value == "rtn"
