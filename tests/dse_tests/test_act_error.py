"""Activations in the output error: ``output_rel_mse`` = ||X Wᵀ - Q_a(X) Ŵᵀ||² / ||X Wᵀ||²."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dse.evaluate.accuracy import synthetic_suite
from dse.evaluate.cache import QuantCache
from dse.study.spec import parse_spec
from mant.act_quant import int_fake_quant
from mant.quantize import quantize
from mant.recipe import Recipe

_W4 = {"format": "int4", "group_size": 64}


def _suite():
    spec = parse_spec(
        {
            "version": 1,
            "name": "s",
            "workload": {"gemms": [{"name": "g", "m": 8, "n": 64, "k": 128}]},
            "accuracy": {
                "source": "synthetic",
                "n_tensors": 2,
                "tensor_rows": 32,
                "tensor_cols": 128,
            },
            "space": {"pe_type": ["mant"]},
            "objectives": ["output_rel_mse", "latency_s"],
        }
    )
    return synthetic_suite(spec.accuracy)


@pytest.mark.parametrize("act_bits", [4, 8])
def test_the_output_error_quantizes_the_activations_like_a_direct_computation(act_bits):
    suite = _suite()
    act = {"format": f"int{act_bits}", "group_size": 64}
    recipe = Recipe.from_dict({"name": "r", "weights": {"default": _W4}, "activations": act})
    got = suite.recipe_metrics(recipe, QuantCache(None))["output_rel_mse"]
    cfg = recipe.weight("q").quant_config(axis=-1)
    rows = []
    for t in suite.weights:
        x = suite.activations(t, "test").evaluation
        w = t.data.astype(np.float64)
        w_hat = np.asarray(quantize(t.data, cfg).dequantized, dtype=np.float64)
        # the runtime's per-token INT quantizer: absmax / (2^(b-1) - 1) per 64 inputs, fp16 scale
        x_hat = int_fake_quant(x, act_bits, 64, np.float16).astype(np.float64)
        y = x.astype(np.float64) @ w.T
        rows.append(np.sum((y - x_hat @ w_hat.T) ** 2) / np.sum(y**2))
    assert got == pytest.approx(np.mean(rows), rel=1e-9)
    # fp16 activations: the weight-only error, below the quantized-activation one
    fp = Recipe.from_dict({"name": "w", "weights": {"default": _W4}})
    assert suite.recipe_metrics(fp, QuantCache(None))["output_rel_mse"] < got


def test_the_activation_config_is_part_of_the_cache_key(tmp_path):
    recipes = [
        Recipe.from_dict(
            {"name": "r", "weights": {"default": _W4}, "activations": {"format": f"int{b}"}}
        )
        for b in (4, 8)
    ]
    cache = QuantCache(tmp_path / "cache")
    first = [_suite().recipe_metrics(r, cache)["output_rel_mse"] for r in recipes]
    again = [_suite().recipe_metrics(r, cache)["output_rel_mse"] for r in reversed(recipes)]
    assert first[0] > first[1] and again == first[::-1]


def test_fp16_weights_with_quantized_activations_still_have_an_output_error():
    recipe = Recipe.from_dict({"name": "a", "activations": {"format": "int4"}})
    out = _suite().recipe_metrics(recipe, QuantCache(None))
    assert out["weight_rel_mse"] == 0.0 and out["output_rel_mse"] > 0.0


# The interface check of issue 21: real MiniLM weights on their own activations, a study whose
# space has act_bits [4, 8] and whose objective is output_rel_mse
_STUDY = {
    "version": 1,
    "name": "acts",
    "seed": 0,
    "n_trials": 6,
    "sampler": {"name": "grid"},
    "workload": {"gemms": [{"name": "proj", "m": 16, "n": 256, "k": 256}]},
    "accuracy": {"source": "tensors", "n_tensors": 1},
    "space": {
        "pe_type": ["mant", "olive", "tender"],
        "weight_format": ["int{bits}"],
        "weight_bits": [4],
        "group_size": [64],
        "kv_bits": [16],
        "act_bits": [4, 8],
        "rows": [8],
        "cols": [8],
    },
    "objectives": ["output_rel_mse", "latency_s"],
}


def test_every_4_bit_activation_design_has_a_larger_output_error_than_its_8_bit_twin(tmp_path):
    from dse.results.frame import load_frame
    from dse.run.runner import run_study

    spec = parse_spec(copy.deepcopy(_STUDY))
    run_study(spec, out_dir=tmp_path / "out", progress=False, report=False)
    frame = load_frame(tmp_path / "out")
    frame = frame[frame["state"] == "COMPLETE"]
    by = {
        (r["param.pe_type"], int(r["param.act_bits"])): float(r["metric.output_rel_mse"])
        for _, r in frame.iterrows()
    }
    assert len(by) == 6, by
    for pe in ("mant", "olive", "tender"):
        assert by[(pe, 4)] > by[(pe, 8)], (pe, by)
    print("output_rel_mse (MiniLM, W4):", sorted(by.items()))
