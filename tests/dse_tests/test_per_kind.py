"""Per-tensor-kind formats in studies (issue 12 §4, issue 11 §4): weights per projection kind,
K and V apart, output-MSE selection with calibration activations, and the output error."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from dse.cli import main
from dse.evaluate.accuracy import make_accuracy_source, synthetic_suite
from dse.evaluate.cache import QuantCache
from dse.evaluate.objective import Evaluator
from dse.study.design import design_from_values, ignored_params
from dse.study.numerics import kv_error, kv_side_configs, kv_sides_error
from dse.study.spec import parse_spec, spec_to_dict
from mant.act_quant import int_fake_quant
from mant.errors import InputError
from mant.quantize import quantize
from mant.tensor_recipe import WEIGHT_KINDS

_KINDS = [k.value for k in WEIGHT_KINDS]


def _spec(small_spec_dict: dict, **space: object) -> dict:
    d = copy.deepcopy(small_spec_dict)
    d["space"] = {"pe_type": ["mant"], "group_size": [64], "rows": [8], "cols": [8], **space}
    return d


def test_per_kind_parameters_build_the_recipe(small_spec_dict):
    spec = parse_spec(
        _spec(
            small_spec_dict,
            **{"weight_bits.down": [8], "kv_format.value": ["int{bits}"]},
            weight_format=["int{bits}"],
            kv_bits=[4],
            kv_format=["mant-unicore16"],
        )
    )
    assert spec.accuracy.by_kind  # a space that varies a weight kind scores kinds apart
    assert parse_spec(spec_to_dict(spec)) == spec
    design = design_from_values(spec.space, {})
    assert design.per_kind == {"weight_bits.down": 8, "kv_format.value": "int{bits}"}
    recipe = design.recipe
    assert str(recipe.weight("down").format) == "int8"
    assert {str(recipe.weight(k).format) for k in _KINDS if k != "down"} == {"int4"}
    assert str(recipe.value.format) == "int4" and recipe.key.format == "mant-unicore16"
    k_cfg, v_cfg = kv_side_configs(recipe)
    assert k_cfg.candidates == "mant-unicore16" and v_cfg.candidates == "int4"


def test_a_base_parameter_every_kind_overrides_is_not_sampled(small_spec_dict):
    own = {f"weight_bits.{k}": [2, 4] for k in _KINDS}
    spec = parse_spec(
        _spec(small_spec_dict, weight_bits=[3, 5], weight_format=["int{bits}"], **own)
    )
    values = {p.name: p.first for p in spec.space.params}
    assert "weight_bits" in ignored_params(values, spec.space)
    assert not {f"weight_bits.{k}" for k in _KINDS} & ignored_params(values, spec.space)
    # a baseline PE ignores every weight parameter, per kind included
    spec = parse_spec(
        _spec(small_spec_dict, **own, weight_format=["int{bits}"], pe_type=["int8", "mant"])
    )
    values = {p.name: p.first for p in spec.space.params} | {"pe_type": "int8"}
    assert {f"weight_bits.{k}" for k in _KINDS} <= ignored_params(values, spec.space)
    # an fp16 value cache has no value format
    spec = parse_spec(
        _spec(small_spec_dict, **{"kv_bits.value": [16], "kv_format.value": ["int{bits}", "a"]})
    )
    values = {p.name: p.first for p in spec.space.params}
    assert "kv_format.value" in ignored_params(values, spec.space)


def test_the_suite_scores_each_kind_with_its_own_format(small_spec_dict):
    d = _spec(small_spec_dict, **{"weight_bits.q": [8]}, weight_bits=[4])
    d["space"]["weight_format"] = ["int{bits}"]
    spec = parse_spec(d)
    suite = make_accuracy_source(spec.accuracy)
    assert {t.kind for t in suite.weights} == set(_KINDS)
    design = design_from_values(spec.space, {})
    got = suite.recipe_metrics(design.recipe, QuantCache(None))
    by_kind: dict[str, list[float]] = {}
    for t in suite.weights:
        cfg = design.recipe.weight(t.kind).quant_config(axis=-1)
        by_kind.setdefault(t.kind, []).append(float(quantize(t.data, cfg).rel_mse))
    want = np.mean([np.mean(v) for v in by_kind.values()])
    assert got["weight_rel_mse"] == pytest.approx(want, rel=1e-12)
    # q at 8 bits: less error than every kind at 4
    uniform = parse_spec({**d, "space": {**d["space"], "weight_bits.q": [4]}})
    base = suite.recipe_metrics(design_from_values(uniform.space, {}).recipe, QuantCache(None))
    assert got["weight_rel_mse"] < base["weight_rel_mse"]


def test_k_and_v_apart_pool_like_one_config():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((2, 64, 64)).astype(np.float32)
    v = rng.standard_normal((2, 64, 64)).astype(np.float32)
    from mant.kv import KVQuantConfig, quantize_kv

    cfg = KVQuantConfig(candidates="int4", selection="oracle")
    assert kv_sides_error(k, v, cfg, cfg)["rel_mse"] == pytest.approx(
        kv_error(k, v, cfg)["rel_mse"], rel=1e-6
    )
    k8 = KVQuantConfig(candidates="int8", selection="oracle")
    got = kv_sides_error(k, v, k8, cfg)["rel_mse"]
    err = quantize_kv(k, v, k8).k.squared_error + quantize_kv(k, v, cfg).v.squared_error
    assert got == pytest.approx(
        err / (np.sum(k.astype(float) ** 2) + np.sum(v.astype(float) ** 2))
    )
    assert kv_sides_error(k, v, k8, None)["rel_mse"] < got  # an fp value cache adds no error


def test_output_mse_selection_and_output_error_in_a_study(small_spec_dict):
    d = _spec(small_spec_dict, weight_selection=["weight_mse", "output_mse"])
    d["space"]["weight_format"] = ["mant-unicore16"]
    d["objectives"] = ["output_rel_mse", "latency_s"]
    spec = parse_spec(d)
    assert spec.accuracy.output_error
    ev = Evaluator(spec)
    out = ev.evaluate({"weight_selection": "output_mse"})
    suite = ev.accuracy
    # output_rel_mse is ||X Wᵀ - Q_a(X) Ŵᵀ||² / ||X Wᵀ||² on the evaluation activations, Ŵ
    # chosen with the calibration activations, Q_a the design's INT8 (act_bits 8) per token
    rows = []
    cfg = out.design.recipe.weight("q").quant_config(axis=-1)
    for t in suite.weights:
        acts = suite.activations(t, "test")
        w_hat = quantize(t.data, cfg, calibration=acts.calibration).dequantized
        x = acts.evaluation.astype(np.float64)
        x_hat = int_fake_quant(acts.evaluation, 8, 64, np.float16).astype(np.float64)
        w = t.data.astype(np.float64)
        rows.append(np.sum((x @ w.T - x_hat @ w_hat.T) ** 2) / np.sum((x @ w.T) ** 2))
    assert out.metrics["output_rel_mse"] == pytest.approx(np.mean(rows), rel=1e-9)
    weight_mse = ev.evaluate({"weight_selection": "weight_mse"})
    assert weight_mse.metrics["weight_rel_mse"] < out.metrics["weight_rel_mse"]
    # a one-format set has no type to pick: weight_selection is not a design parameter there
    values = {p.name: p.first for p in spec.space.params} | {"weight_format": "mant-unicore16"}
    assert "weight_selection" not in ignored_params(values, spec.space)
    int4 = parse_spec({**d, "space": {**d["space"], "weight_format": ["int{bits}"]}})
    values = {p.name: p.first for p in int4.space.params}
    assert "weight_selection" in ignored_params(values, int4.space)


def test_a_plug_in_without_recipe_metrics_refuses_per_kind_designs(small_spec_dict):
    spec = parse_spec(
        _spec(small_spec_dict, **{"weight_bits.q": [8]}, weight_format=["int{bits}"])
    )

    class OneConfig:
        def __init__(self) -> None:
            self.inner = synthetic_suite(spec.accuracy)

        def metrics(self, wcfg, kvcfg, cache):
            return self.inner.metrics(wcfg, kvcfg, cache)

    ev = Evaluator(spec, accuracy=OneConfig())
    with pytest.raises(InputError, match="recipe_metrics"):
        ev.evaluate({})


def _files_study(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    scales = np.exp(rng.normal(size=128))
    np.savez(
        tmp / "w.npz",
        **{
            "layers.0.q_proj.weight": (0.02 * rng.standard_normal((32, 128))).astype(np.float32),
            "layers.0.down_proj.weight": (0.02 * rng.standard_t(3, (16, 128))).astype(np.float32),
        },
    )
    np.savez(
        tmp / "x.npz",
        attn_in=(rng.standard_normal((64, 128)) * scales).astype(np.float32),
        down_in=(rng.standard_normal((64, 128)) * scales).astype(np.float32),
    )
    study = {
        "version": 1,
        "name": "files-per-kind",
        "seed": 0,
        "n_trials": 6,
        "sampler": {"name": "random"},
        "workload": {"gemms": [{"name": "q_proj", "m": 4, "n": 32, "k": 128}]},
        "accuracy": {
            "source": "files",
            "paths": ["w.npz"],
            "calibration": {
                "layers.0.q_proj.weight": {"path": "x.npz", "tensor": "attn_in"},
                "layers.0.down_proj.weight": {"path": "x.npz", "tensor": "down_in"},
            },
        },
        "space": {
            "pe_type": ["mant"],
            "weight_format": ["mant-unicore16"],
            "weight_format.down": ["mant-unicore16", "int8"],
            "weight_selection": ["weight_mse", "output_mse"],
            "kv_bits": [16],
            "rows": [8, 16],
            "cols": [8],
        },
        "objectives": ["output_rel_mse", "weight_bits_per_element"],
    }
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_a_files_study_with_calibration_runs_exports_and_re_evaluates(tmp_path, capsys):
    study = _files_study(tmp_path)
    out, to = tmp_path / "run", tmp_path / "designs"
    assert main(["run", str(study), "--out", str(out), "--no-report", "--no-progress"]) == 0
    assert main(["export", "--out", str(out), "--pareto", "--to", str(to)]) == 0
    folders = sorted(to.iterdir())
    assert folders
    for folder in folders:
        meta = yaml.safe_load((folder / "design.yaml").read_text())
        assert "weight_format.down" in meta["design"]["per_kind"]
        capsys.readouterr()
        assert main(["evaluate", str(folder), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["metrics"] == meta["recorded"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda a: a["calibration"].update({"nope": "x.npz"}),
            "accuracy.calibration.nope: must name a weight tensor the source uses",
        ),
        (
            lambda a: a["calibration"]["layers.0.q_proj.weight"].update({"tensor": "zz"}),
            "accuracy.calibration.layers.0.q_proj.weight.tensor: must name",
        ),
    ],
)
def test_bad_calibration_entries_are_one_clear_message(tmp_path, capsys, change, message):
    study = _files_study(tmp_path)
    data = yaml.safe_load(study.read_text())
    change(data["accuracy"])
    study.write_text(yaml.safe_dump(data))
    assert main(["run", str(study), "--out", str(tmp_path / "o"), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_perplexity_source_runs_weights_per_kind(small_spec_dict):
    d = _spec(small_spec_dict, weight_format=["int{bits}"], weight_bits=[4], act_bits=[16])
    d["accuracy"] = {"source": "perplexity", "ppl_windows": 1}
    d["objectives"] = ["ppl", "latency_s"]
    d["constraints"] = []
    uniform = parse_spec(d)
    source = make_accuracy_source(uniform.accuracy)
    cache = QuantCache(None)
    recipe = design_from_values(uniform.space, {}).recipe
    same = source.recipe_metrics(recipe, cache)
    # a uniform recipe is the one-config path, cache entry included
    assert cache.stats.misses == 1
    kv = kv_side_configs(recipe)[0]
    assert same == source.metrics(recipe.weight("q").quant_config(axis=-1), kv, cache)
    assert cache.stats.misses == 1
    per_kind = parse_spec({**d, "space": {**d["space"], "weight_bits.down": [8]}})
    down8 = source.recipe_metrics(design_from_values(per_kind.space, {}).recipe, cache)
    assert cache.stats.misses == 2
    assert down8["ppl"] < same["ppl"]  # down at 8 bits re-quantizes the stored weights less
    # quantized activations leave the one-config path: llmrun runs them per token
    a4 = parse_spec({**d, "space": {**d["space"], "act_bits": [4]}})
    w4a4 = source.recipe_metrics(design_from_values(a4.space, {}).recipe, cache)
    assert cache.stats.misses == 3
    assert w4a4["ppl"] > same["ppl"]


def test_the_hardware_costs_each_projection_at_its_own_width(small_spec_dict):
    d = _spec(small_spec_dict, weight_format=["int{bits}"], weight_bits=[4])
    d["workload"] = {"model": "llama-2-7b", "phase": "decode", "seq_len": 256, "batch": 1}
    d["space"]["kv_bits"] = [8]
    d["space"]["kv_format"] = ["int{bits}"]
    uniform = Evaluator(parse_spec(d)).evaluate({})
    spec8 = parse_spec({**d, "space": {**d["space"], "weight_bits.down": [8]}})
    ev = Evaluator(spec8)
    down8 = ev.evaluate({})
    assert down8.metrics["energy_pj"] > uniform.metrics["energy_pj"]
    # weight bits per element: down's share of the weights at int8's, the other projections at
    # int4's; lm_head (outside the recipe) at the headline width, the widest kind's
    gemms = [g for g in ev.hardware.workload if g.operand != "kv"]
    total = sum(g.n * g.k * g.count for g in gemms)
    down = sum(g.n * g.k * g.count for g in gemms if g.name in ("down_proj", "lm_head"))
    w4, w8 = uniform.metrics["weight_bits_per_element"], 8 + 16 / 64
    want = (down * w8 + (total - down) * w4) / total
    assert down8.metrics["weight_bits_per_element"] == pytest.approx(want, rel=1e-12)
    assert w4 < want < w8


def test_a_pe_without_a_mode_for_one_kind_names_that_projection(small_spec_dict, tmp_path):
    pe = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "hwmodel/data/pes/mant.yaml").read_text()
    )
    pe["name"] = "w4-only"
    unicore = pe["constants"]["unicore"]
    pe["constants"] = {
        "unicore": {**unicore, "modes": [m for m in unicore["modes"] if m["weight_bits"] <= 4]}
    }
    (tmp_path / "w4.yaml").write_text(yaml.safe_dump(pe))
    d = _spec(small_spec_dict, weight_format=["int{bits}"], weight_bits=[4])
    d["space"]["pe_type"] = [str(tmp_path / "w4.yaml")]
    d["space"]["kv_bits"] = [4]
    d["space"]["kv_format"] = ["int{bits}"]
    d["workload"] = {"model": "llama-2-7b", "phase": "decode", "seq_len": 256, "batch": 1}
    ev = Evaluator(parse_spec({**d, "space": {**d["space"], "weight_bits.down": [8]}}))
    with pytest.raises(InputError, match=r"no mode for W8A8 \(weights of down_proj, kind down"):
        ev.evaluate({})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"weight_format.q": ["nonsense{bits}"]},
            "space.weight_format.q[0]: no trial can use it",
        ),
        ({"weight_bits.x": [4]}, "space.weight_bits.x: unknown key"),
        ({"kv_bits.value": [1]}, "space.kv_bits.value[0]: must be an int in [2, 16]"),
    ],
)
def test_bad_per_kind_parameters_are_one_clear_message(tmp_path, capsys, space, message):
    study = {
        "version": 1,
        "name": "bad",
        "objectives": ["latency_s"],
        "space": space,
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    assert main(["run", str(path), "--out", str(tmp_path / "o"), "--no-report"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
