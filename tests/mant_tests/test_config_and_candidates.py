"""QuantConfig round trips and accounting; candidate sets and coefficient families."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mant import bits_per_element
from mant.candidates import (
    NAMED_SETS,
    CandidateSet,
    candidate_set,
    family_coefficients,
)
from mant.data_families import coefficients_from_data, resolve_data_family
from mant.errors import InputError
from mant.formats import MantFormat
from mant.quantize import QuantConfig, quantize


def test_bits_per_element_cases_from_the_issue_and_mant_md():
    # issue 3: 4-bit MANT, g=64, 16-bit scale, 4 selector bits -> 4.3125
    assert (
        bits_per_element(element_bits=4, group_size=64, scale_bits=16, selector_bits=4) == 4.3125
    )
    # mant.md §4: 4.25 at g=64 with 16 metadata bits; 4.375 at g=32 with 8 + 4 (UniCore)
    assert bits_per_element(4, 64, 16, 0) == 4.25
    assert bits_per_element(4, 64, 8, 8) == 4.25
    assert bits_per_element(4, 32, 8, 4) == 4.375


def test_config_bits_per_element_is_known_without_data():
    assert QuantConfig(candidates="mant-unicore16", scale_format="fp16").bits_per_element == 4.3125
    assert QuantConfig(candidates="mant4_a30", scale_format="fp16").bits_per_element == 4.25
    assert QuantConfig(candidates="mxfp4").bits_per_element == 4.25  # 8-bit E8M0 per 32
    assert QuantConfig(candidates="nvfp4").bits_per_element == 4.5  # 8-bit E4M3 per 16
    assert (
        QuantConfig(candidates="mant-dense", group_size=128, scale_format="e8m0").bits_per_element
        == 4 + 15 / 128
    )
    x = np.random.default_rng(0).standard_normal((8, 128)).astype(np.float32)
    cfg = QuantConfig(candidates="mant-unicore16", scale_format="fp16")
    assert quantize(x, cfg).bits_per_element == cfg.bits_per_element


@pytest.mark.parametrize(
    "spec",
    [
        "mant-unicore16",
        "fp4_e2m1",
        ["mant4_a17", "int4"],
        {"family": "geometric", "n": 6, "a_min": 0, "a_max": 100, "k": 4, "include_int": True},
        "mxfp4",
    ],
)
def test_config_round_trips_through_plain_json(spec):
    block = spec == "mxfp4"  # fixes its own scale format
    cfg = QuantConfig(
        candidates=spec, group_size=None, axis=0, scale_format=None if block else "fp32"
    )
    plain = json.loads(json.dumps(cfg.to_dict()))
    back = QuantConfig.from_dict(plain)
    assert back == cfg and hash(back) == hash(cfg)
    assert back.candidate_set == cfg.candidate_set


def test_data_derived_family_is_resolved_once_then_plain_data():
    rng = np.random.default_rng(3)
    calib = rng.standard_normal((64, 256)).astype(np.float32)
    spec = resolve_data_family({"family": "quantiles", "n": 4, "calibration": calib}, calib)
    assert "calibration" not in spec and 1 <= len(spec["coefficients"]) <= 4
    cfg = QuantConfig(candidates=spec)
    assert all(n.startswith("mant4_a") for n in cfg.candidate_set.names)
    assert QuantConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # building a config never quantizes data: an unresolved family is an input error
    with pytest.raises(InputError, match="resolved from its calibration tensor first"):
        QuantConfig(candidates={"family": "kmeans", "n": 4, "calibration": calib})


def test_unknown_config_keys_and_values_are_reported_together():
    with pytest.raises(InputError) as info:
        QuantConfig(candidates="nope", group_size=0, scale_format="fp12", granularity="row")
    paths = [i.path for i in info.value.issues]
    assert paths == ["candidates", "granularity", "scale_format", "group_size"]
    with pytest.raises(InputError, match="unknown keys"):
        QuantConfig.from_dict({"candidates": "int4", "bogus": 1})


def test_named_sets_and_selector_bits():
    cs = candidate_set("mant-unicore16")
    assert [f.a for f in cs.formats[:-1]] == [
        0,
        5,
        10,
        17,
        20,
        30,
        40,
        50,
        60,
        70,
        80,
        90,
        100,
        110,
        120,
    ]
    assert cs.formats[-1].name == "int4" and cs.selector_bits == 4 and cs.bits == 4
    assert candidate_set("mant-dense").selector_bits == 7
    assert candidate_set("ant").names == ("int4", "pot4", "flint4")
    assert candidate_set("int4").selector_bits == 0
    assert candidate_set(["int4", "int8"]).bits == 8
    for name in NAMED_SETS:
        assert candidate_set(candidate_set(name).to_spec()) == candidate_set(name)


def test_parametric_families():
    assert family_coefficients("linear", n=5, a_min=0, a_max=120) == (0, 30, 60, 90, 120)
    # geometric in log(a + 1): 0, 3, 15, 63 for 4 points over 0..63
    assert family_coefficients("geometric", n=4, a_min=0, a_max=63) == (0, 3, 15, 63)
    # power gamma=2: 0 + 100 * (0, 1/9, 4/9, 1) rounded
    assert family_coefficients("power", n=4, a_min=0, a_max=100, gamma=2.0) == (0, 11, 44, 100)
    cs = candidate_set(
        {"family": "linear", "n": 3, "a_min": 10, "a_max": 30, "k": 5, "zero": True}
    )
    assert cs.formats == tuple(MantFormat(k=5, a=a, zero=True) for a in (10, 20, 30))


def test_bad_family_specs_list_every_problem():
    with pytest.raises(InputError) as info:
        candidate_set({"family": "cubic", "n": 0, "extra": 1})
    paths = {i.path for i in info.value.issues}
    assert {"candidates", "candidates.family", "candidates.n"} <= paths


def test_coefficients_from_data_follow_the_distribution_of_optimal_a():
    rng = np.random.default_rng(0)
    gauss = rng.standard_normal((128, 256)).astype(np.float32)
    heavy = rng.standard_t(1.5, (128, 256)).astype(np.float32)
    for method in ("quantiles", "kmeans"):
        a_g = coefficients_from_data(gauss, n=4, method=method, group_size=64)
        a_h = coefficients_from_data(heavy, n=4, method=method, group_size=64)
        assert 1 <= len(a_g) <= 4 and list(a_g) == sorted(a_g)
        # heavy tails want small a (PoT-like), Gaussian groups larger a (mant.md §7.1)
        assert np.median(a_h) < np.median(a_g)


def test_block_formats_cannot_mix_with_other_candidates():
    with pytest.raises(InputError, match="only candidate"):
        candidate_set(["mxfp4", "int4"])
    with pytest.raises(InputError, match="must be 32 for mxfp4"):
        QuantConfig(candidates="mxfp4", group_size=64)


def test_candidate_set_requires_members_and_no_duplicates():
    with pytest.raises(InputError):
        CandidateSet(name="empty", formats=())
    with pytest.raises(InputError, match="repeat"):
        candidate_set(["int4", "int4"])
