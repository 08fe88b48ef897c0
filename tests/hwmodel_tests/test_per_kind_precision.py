"""Per-kind B-operand precision: each GEMM runs at the width of its own tensor kind."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from dse.cli import main
from hwmodel import (
    Gemm,
    KindPrecision,
    Operand,
    OperandKind,
    Precision,
    Workload,
    accelerator_from_dict,
    dump_accelerator,
    evaluate,
    evaluate_gemm,
    evaluate_many,
    gemm_kind,
    llm_workload,
    load_accelerator,
    tile_overflow_bytes,
)
from mant.errors import InputError
from mant.recipe import Recipe
from mant.recipes import named_recipe, recipe_names

INT4 = {"format": "int4", "group_size": 64, "scale_format": "fp16"}
INT8 = {"format": "int8", "group_size": 64, "scale_format": "fp16"}


def _recipe(weights: dict, key: dict | str = INT4, value: dict | str = INT4) -> Recipe:
    """A W?A8 recipe: INT8 activations (mant-hpca25's), the given weights, K and V."""
    data = named_recipe("mant-hpca25").to_dict()
    data.update(name="test", weights=weights, key=key, value=value)
    return Recipe.from_dict(data)


def _headline_only(p: Precision) -> Precision:
    return dataclasses.replace(p, per_kind=())


@pytest.fixture(scope="module")
def decode7b():
    return llm_workload("llama-2-7b", phase="decode", seq_len=2048)


def test_gemm_names_map_to_kinds():
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=64)
    assert {g.name: gemm_kind(g) for g in wl} == {
        "q_proj": "q",
        "k_proj": "k",
        "v_proj": "v",
        "qk": "key",
        "pv": "value",
        "o_proj": "o",
        "gate_proj": "gate",
        "up_proj": "up",
        "down_proj": "down",
        "lm_head": None,
    }
    plain = llm_workload("opt-6.7b", phase="decode", seq_len=64, lm_head=False)
    assert [gemm_kind(g) for g in plain][-2:] == [OperandKind.UP, OperandKind.DOWN]
    # a name counts only with its operand: a weight GEMM called "qk" is a user GEMM
    assert gemm_kind(Gemm(m=1, n=2, k=2, name="qk")) is None
    assert gemm_kind(Gemm(m=1, n=2, k=2, name="q_proj", operand=Operand.KV)) is None


def _one_group_size(recipe, headline) -> bool:
    """Every quantized B operand of the recipe (weights, K, V) groups by the precision's headline
    group size (else per-kind entries carry their own, as the hardware costs each GEMM's
    grouping)."""
    from mant.vocab import B_OPERAND_KINDS

    specs = recipe.specs
    sizes = {specs[k].group_size for k in B_OPERAND_KINDS if specs.get(k) is not None}
    return sizes <= {headline, None}


@pytest.mark.parametrize("name", recipe_names())
def test_uniform_named_recipes_have_no_overrides(name):
    recipe = named_recipe(name)
    p = Precision.from_recipe(recipe)
    if not _one_group_size(recipe, p.group_size):  # kv4-int4-asym (KV g32), qserve-w4a8kv4
        assert p.per_kind and all(o.group_size is not None for o in p.per_kind)
        return
    assert p.per_kind == ()
    assert "per_kind" not in p.to_dict()


def test_kinds_spelled_out_at_the_common_width_cost_what_the_uniform_recipe_costs(decode7b):
    acc = load_accelerator("mant")
    spelled = _recipe({"default": INT4, "q": INT4, "down": INT4}, key=INT4, value=INT4)
    uniform = _recipe(INT4, key=INT4, value=INT4)
    p = Precision.from_recipe(spelled)
    assert p == Precision.from_recipe(uniform) and p.per_kind == ()
    assert evaluate(acc, decode7b, p) == evaluate(acc, decode7b, _headline_only(p))


def test_from_recipe_overrides_only_the_kinds_that_differ():
    p = Precision.from_recipe(_recipe({"default": INT4, "q": INT8}, key=INT8, value=INT4))
    four, eight = (4, 4.25), (8, 8.25)
    assert (p.weight_bits, p.weight_bits_per_element) == eight  # the widest weight kind
    assert (p.kv_bits, p.kv_bits_per_element) == eight  # the wider of K and V
    assert [(str(o.kind), o.bits, o.bits_per_element) for o in p.per_kind] == [
        ("k", *four),
        ("v", *four),
        ("o", *four),
        ("gate", *four),
        ("up", *four),
        ("down", *four),
        ("value", *four),
    ]
    assert p.of_kind("q") == eight and p.of_kind("down") == four
    assert p.of_kind("key") == eight and p.of_kind("value") == four


def test_unquantized_kind_counts_16_bits():
    p = Precision.from_recipe(_recipe({"default": INT4, "down": "fp"}))
    assert (p.weight_bits, p.of_kind("down")) == (4, (16, 16.0))
    assert p.widest_b_bits_per_element == 16.0


def test_q8_rest4_costs_between_all4_and_all8(decode7b):
    acc = load_accelerator("mant")
    cost = {
        label: evaluate(acc, decode7b, Precision.from_recipe(_recipe(w)))
        for label, w in (
            ("all4", INT4),
            ("q8", {"default": INT4, "q": INT8}),
            ("all8", INT8),
        )
    }
    for metric in ("cycles", "energy_pj", "dram_bytes"):
        values = [getattr(cost[k], metric) for k in ("all4", "q8", "all8")]
        assert values[0] < values[1] < values[2], (metric, values)


@pytest.mark.parametrize("preset", ["mant", "ant", "bitfusion"])
@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_workload_cost_is_the_sum_of_per_kind_gemm_costs(preset, phase):
    recipe = _recipe({"default": INT4, "q": INT8, "down": INT8}, key=INT8, value=INT4)
    prec = Precision.from_recipe(recipe)
    acc = load_accelerator(preset).with_array(rows=32, cols=16)
    wl = llm_workload("llama-2-7b", phase=phase, seq_len=256)
    total = evaluate(acc, wl, prec)
    # each GEMM alone, evaluated at a uniform precision holding its own kind's widths
    width = {
        g.name: (8, 8.25) if g.name in ("q_proj", "down_proj", "qk", "lm_head") else (4, 4.25)
        for g in wl
    }
    parts = []
    for g in wl:
        bits, bpe = width[g.name]
        alone = dataclasses.replace(
            prec,
            weight_bits=bits,
            weight_bits_per_element=bpe,
            kv_bits=bits,
            kv_bits_per_element=bpe,
            per_kind=(),
        )
        parts.append(evaluate_gemm(acc, g, alone))
    assert total.cycles == sum(c.cycles for c in parts)
    assert total.energy_pj == pytest.approx(sum(c.energy_pj for c in parts), rel=1e-12)
    assert total.dram_bytes == pytest.approx(sum(c.dram_bytes for c in parts), rel=1e-12)
    # and the overrides matter: the headline alone (everything at 8 bits) costs more
    assert evaluate(acc, wl, _headline_only(prec)).energy_pj > total.energy_pj


def test_key_and_value_are_separate(decode7b):
    acc = load_accelerator("mant")
    k8 = Precision.from_recipe(_recipe(INT4, key=INT8, value=INT4))
    v8 = Precision.from_recipe(_recipe(INT4, key=INT4, value=INT8))
    kv4 = Precision.from_recipe(_recipe(INT4, key=INT4, value=INT4))
    kv8 = Precision.from_recipe(_recipe(INT4, key=INT8, value=INT8))
    assert k8 != v8 and kv4.per_kind == kv8.per_kind == ()
    attn = decode7b.attention()
    qk, pv = attn
    by = {
        name: {c.name: c for c in evaluate(acc, attn, p).layers}
        for name, p in (("k8", k8), ("v8", v8), ("kv4", kv4), ("kv8", kv8))
    }
    assert by["k8"]["qk"] == by["kv8"]["qk"] and by["k8"]["pv"] == by["kv4"]["pv"]
    assert by["v8"]["qk"] == by["kv4"]["qk"] and by["v8"]["pv"] == by["kv8"]["pv"]
    assert by["kv4"]["pv"].dram_bytes < by["v8"]["pv"].dram_bytes


@pytest.mark.parametrize("preset", ["mant", "ant", "int8"])
@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_vectorised_equals_scalar_with_overrides(preset, df):
    acc = load_accelerator(preset).with_array(rows=8, cols=8, dataflow=df)
    base = acc.default_precision
    prec = base.with_kinds(
        {
            "q": (8, 8.25),
            "down": (8, 8.5),
            "key": (8, 8.25),
            "value": (4, 4.25),
            "up": (4, 4.0),
        }
    )
    wl = llm_workload("smollm2-135m", phase="prefill", seq_len=128)
    rows = np.array([1, 7, 16, 64, 200])
    cols = np.array([3, 32, 16, 64, 96])
    out = evaluate_many(acc, wl, prec, rows=rows, cols=cols)
    plain = evaluate_many(acc, wl, rows=rows, cols=cols)
    assert not np.array_equal(out["dram_bytes"], plain["dram_bytes"])
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        sized = acc.with_array(rows=int(r), cols=int(c))
        assert out["tile_overflow_bytes"][i] == tile_overflow_bytes(sized, prec, r, c)
        try:
            one = evaluate(sized, wl, prec)
        except InputError:
            assert not out["feasible"][i]
            continue
        assert out["feasible"][i]
        assert out["cycles"][i] == one.cycles
        assert out["energy_pj"][i] == pytest.approx(one.energy_pj, rel=1e-12)
        assert out["dram_bytes"][i] == pytest.approx(one.dram_bytes, rel=1e-12)


def test_tile_fit_takes_the_widest_kind():
    acc = load_accelerator("mant")
    base = acc.default_precision
    wide = base.with_kinds({"value": (8, 40.0)})  # only V is wide
    assert wide.widest_b_bits_per_element == 40.0
    r, c = acc.array.rows, acc.array.cols
    assert tile_overflow_bytes(acc, wide, r, c) > tile_overflow_bytes(acc, base, r, c)
    side = int(np.sqrt(acc.buffers.active_bytes(acc.buffers.weight_bytes) * 8 / 40.0)) + 1
    big = acc.with_array(rows=side, cols=side)
    assert tile_overflow_bytes(big, wide, side, side) > 0
    with pytest.raises(InputError, match=r"buffers\.weight_bytes: too small"):
        evaluate(big, Gemm(m=1, n=8, k=8), wide)
    evaluate(big, Gemm(m=1, n=8, k=8), base)  # the headline alone fits


def test_no_mode_for_one_kind_names_the_kind_and_gemm(decode7b):
    acc = load_accelerator("mant")  # modes W4A4, W4A8, W8A8: no W16
    prec = Precision.from_recipe(_recipe({"default": INT4, "down": "fp"}))
    rule = r"precision\.per_kind\.down: no mode of PE mant runs W16A8 \(GEMM down_proj"
    with pytest.raises(InputError, match=rule):
        evaluate(acc, decode7b, prec)
    with pytest.raises(InputError, match=rule):
        evaluate_many(acc, decode7b, prec, rows=np.array([8, 16]), cols=8)
    # the other GEMMs still run
    ok = Workload(gemms=tuple(g for g in decode7b if g.name != "down_proj"))
    assert evaluate(acc, ok, prec).cycles > 0


def test_round_trip_and_canonical_form():
    base = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
    p = base.with_kinds({"value": (8, 8.25), "q": (8, 8.3125), "k": (4, 4.3125)})
    # kept in kind order; an override equal to the headline is no override
    assert [o.kind for o in p.per_kind] == [OperandKind.Q, OperandKind.VALUE]
    assert p == base.with_kinds({"q": (8, 8.3125), "value": (8, 8.25)})
    assert hash(p) == hash(base.with_kinds({"q": (8, 8.3125), "value": (8, 8.25)}))
    d = p.to_dict()
    assert d["per_kind"] == {
        "q": {"bits": 8, "bits_per_element": 8.3125},
        "value": {"bits": 8, "bits_per_element": 8.25},
    }
    assert Precision.from_dict(d) == p
    assert Precision.from_dict(json.loads(json.dumps(d))) == p
    assert "per_kind" not in base.to_dict() and Precision.from_dict(base.to_dict()) == base


def test_accelerator_yaml_carries_overrides_and_reevaluates(tmp_path, capsys):
    acc = load_accelerator("mant").with_array(rows=32, cols=32)
    prec = Precision.from_recipe(_recipe({"default": INT4, "gate": INT8}, key=INT8, value=INT4))
    designed = acc.with_precision(prec)
    path = tmp_path / "acc.yaml"
    dump_accelerator(designed, path)
    text = path.read_text()
    assert "per_kind:" in text
    loaded = load_accelerator(str(path))
    assert loaded == designed and loaded.to_yaml() == text
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=512)
    expect = evaluate(acc, wl, prec)
    rc = main(["hw", "llm", "--accelerator", str(path), "--model", "llama-2-7b", "--phase",
               "decode", "--seq-len", "512", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["cycles"] == expect.cycles
    assert out["energy_pj"] == pytest.approx(expect.energy_pj, rel=1e-12)
    assert out["energy_pj"] != pytest.approx(evaluate(acc, wl, _headline_only(prec)).energy_pj)


def test_accelerator_file_rejects_a_kind_the_pe_cannot_run():
    data = load_accelerator("mant").to_dict()
    data["default_precision"] = load_accelerator("mant").default_precision.to_dict()
    data["default_precision"]["per_kind"] = {"down": {"bits": 16, "bits_per_element": 16.0}}
    with pytest.raises(InputError) as err:
        accelerator_from_dict(data)
    assert str(err.value) == (
        "accelerator.default_precision.per_kind.down: PE mant has no mode for W16A8, got 16"
    )


@pytest.mark.parametrize(
    ("per_kind", "message"),
    [
        (
            {"qq": {"bits": 4, "bits_per_element": 4.5}},
            "precision.per_kind.qq: unknown key (did you mean 'q'?); valid keys are q, k, v, o, "
            "gate, up, down, key, value, got 'qq'",
        ),
        (
            {"q": {"bits": 0, "bits_per_element": 4.5}},
            "precision.per_kind.q.bits: must be an int >= 1, got 0",
        ),
        (
            {"q": {"bits": 4.0, "bits_per_element": 4.5}},
            "precision.per_kind.q.bits: must be an int >= 1, got 4.0",
        ),
        (
            {"v": {"bits": 8, "bits_per_element": 4.5}},
            "precision.per_kind.v.bits_per_element: must be a number >= bits, got 4.5",
        ),
        ({"key": {"bits": 8}}, "precision.per_kind.key.bits_per_element: is required, got None"),
        ({"key": 8}, "precision.per_kind.key: must be a mapping, got 8"),
        (["q"], "precision.per_kind: must be a mapping, got ['q']"),
    ],
)
def test_bad_overrides_are_reported(per_kind, message):
    data = {**Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4).to_dict()}
    data["per_kind"] = per_kind
    with pytest.raises(InputError) as err:
        Precision.from_dict(data)
    assert str(err.value) == message


def test_bad_overrides_in_an_accelerator_file_name_the_field(tmp_path):
    data = load_accelerator("mant").to_dict()
    data["default_precision"] = load_accelerator("mant").default_precision.to_dict()
    data["default_precision"]["kv_bits"] = 0
    data["default_precision"]["per_kind"] = {"up": {"bits": 4, "bits_per_element": 1}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_accelerator(str(path))
    assert sorted(str(i) for i in err.value.issues) == [
        f"{path}: accelerator.default_precision.kv_bits: must be an int >= 1, got 0",
        f"{path}: accelerator.default_precision.per_kind.up.bits_per_element: must be a number "
        ">= bits, got 1",
    ]
    assert main(["hw", "llm", "--accelerator", str(path), "--model", "llama-2-7b"]) == 2


def test_constructor_and_with_kinds_validate():
    base = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
    with pytest.raises(InputError, match=r"precision\.per_kind: unknown kind; kinds are q, k"):
        base.with_kinds({"lm_head": (8, 8.0)})
    with pytest.raises(InputError, match=r"precision\.per_kind\.q: must be \(bits, bits_"):
        base.with_kinds({"q": 8})  # type: ignore[dict-item]
    one = KindPrecision(kind=OperandKind.Q, bits=8, bits_per_element=8.0)
    with pytest.raises(InputError, match=r"precision\.per_kind: must name each kind once"):
        dataclasses.replace(base, per_kind=(one, one))
    with pytest.raises(InputError, match=r"precision\.per_kind: must be a tuple of KindPrecision"):
        dataclasses.replace(base, per_kind=(("q", 8, 8.0),))  # type: ignore[arg-type]
