"""The baseline recipes of issue 21 (asymmetric INT4 KV, QServe W4A8KV4) load, list and round
trip through ``mant-dse recipes NAME --to FILE`` with the right bits per element."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main
from dse.study.recipe_io import load_recipe
from mant.recipes import named_recipe

# bits per element: element bits + (scale bits + zero-point bits) / group size
# (mant counts an fp16 scale and a zero point of the element's width per asymmetric group;
# the int8 scale format stores 8-bit scale codes)
_BITS = {
    # KIVI: 4 + (16 + 4) / 32
    "kv4-int4-asym": {"weight": 16.0, "act": 16.0, "kv": 4.0 + 20 / 32},
    # QServe: weights 4 + (8 + 4) / 128, INT8 per token, KV 4 + (16 + 4) / 64
    "qserve-w4a8kv4": {"weight": 4.0 + 12 / 128, "act": 8.0, "kv": 4.0 + 20 / 64},
}


@pytest.mark.parametrize("name", sorted(_BITS))
def test_a_baseline_recipe_lists_and_round_trips(name, tmp_path, capsys):
    assert main(["recipes", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    want = _BITS[name]
    got = rows[name]
    assert got["weight_bits_per_element"] == pytest.approx(want["weight"])
    assert got["act_bits_per_element"] == pytest.approx(want["act"])
    assert got["kv_bits_per_element"] == pytest.approx(want["kv"])
    dest = tmp_path / f"{name}.yaml"
    assert main(["recipes", name, "--to", str(dest)]) == 0
    assert load_recipe(str(dest)) == named_recipe(name)


def test_the_asymmetric_kv_recipes_quantize_k_and_v():
    from dse.study.numerics import kv_side_configs, kv_sides_error

    rng = np.random.default_rng(0)
    k = (rng.standard_normal((2, 64, 64)) * np.exp(rng.normal(size=(1, 1, 64)))).astype(np.float32)
    v = rng.standard_normal((2, 64, 64)).astype(np.float32)
    for name in _BITS:
        k_cfg, v_cfg = kv_side_configs(named_recipe(name))
        rel = kv_sides_error(k, v, k_cfg, v_cfg)["rel_mse"]
        assert 0.0 < rel < 0.02, (name, rel)
