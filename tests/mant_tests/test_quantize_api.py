"""quantize / quantize_groups behaviour: layout, padding, granularity, scales, special formats."""

from __future__ import annotations

import numpy as np
import pytest

from mant import metrics
from mant.candidates import candidate_set
from mant.formats import parse_format
from mant.quantize import QuantConfig, quantize, quantize_groups


@pytest.fixture(scope="module")
def w():
    return np.random.default_rng(7).standard_normal((48, 200)).astype(np.float32)


def test_result_fields_and_metrics_agree_with_direct_computation(w):
    r = quantize(w, QuantConfig(candidates="mant-unicore16", group_size=64))
    assert r.dequantized.shape == w.shape and r.codes.shape == w.shape
    assert r.n_groups == 48 * 4 and r.group_size == 64  # 200 = 3*64 + 8 (padded)
    assert r.mse == pytest.approx(metrics.mse(w, r.dequantized), rel=1e-6)
    assert r.rel_mse == pytest.approx(metrics.rel_mse(w, r.dequantized), rel=1e-6)
    assert r.sqnr_db == pytest.approx(metrics.sqnr_db(w, r.dequantized), rel=1e-6)
    assert r.max_abs_error == metrics.max_abs_error(w, r.dequantized)
    assert sum(r.choice_histogram().values()) == r.n_groups
    assert list(r.choice_histogram()) == list(candidate_set("mant-unicore16").names)


def test_padding_does_not_change_the_partial_group(w):
    # the last 8 columns form a partial group; quantizing them alone gives the same values
    r = quantize(w, QuantConfig(candidates="mant-unicore16", group_size=64))
    alone = quantize(
        np.ascontiguousarray(w[:, 192:]), QuantConfig(candidates="mant-unicore16", group_size=8)
    )
    np.testing.assert_array_equal(r.dequantized[:, 192:], alone.dequantized)


def test_axis_zero_equals_transposed_axis_minus_one(w):
    a = quantize(w, QuantConfig(candidates="ant", group_size=16, axis=0))
    b = quantize(np.ascontiguousarray(w.T), QuantConfig(candidates="ant", group_size=16, axis=-1))
    np.testing.assert_array_equal(a.dequantized, b.dequantized.T)


def test_channel_and_tensor_granularity(w):
    ch = quantize(w, QuantConfig(candidates="int8", granularity="channel"))
    assert ch.n_groups == 48 and ch.group_size == 200
    t = quantize(w, QuantConfig(candidates="int8", granularity="tensor", scale_format="fp32"))
    assert t.n_groups == 1 and t.scales[0] == np.float32(np.abs(w).max() / 127)
    assert t.rel_mse > ch.rel_mse  # one scale for the whole tensor is coarser


def test_adaptive_never_worse_than_any_member(w):
    cands = ["mant4_a0", "mant4_a17", "mant4_a60", "int4"]
    best = quantize(w, QuantConfig(candidates=cands, group_size=32))
    for c in cands:
        single = quantize(w, QuantConfig(candidates=c, group_size=32))
        assert np.all(best.group_error <= single.group_error * (1 + 1e-12))


def test_given_choice_reproduces_the_search(w):
    g = w.reshape(-1, 40)
    searched = quantize_groups(g, "mant-unicore16")
    replay = quantize_groups(g, "mant-unicore16", choice=searched.choice)
    np.testing.assert_array_equal(replay.dequantized, searched.dequantized)
    np.testing.assert_array_equal(replay.codes, searched.codes)


@pytest.mark.parametrize("sf", ["fp16", "bf16", "e8m0", "int8"])
def test_scale_formats_store_representable_scales(w, sf):
    q = quantize_groups(w.reshape(-1, 50), "mant4_a30", scale_format=sf)
    s = q.scales
    if sf == "fp16":
        assert np.array_equal(s.astype(np.float16).astype(np.float64), s)
    elif sf == "bf16":
        bits = s.astype(np.float32).view(np.uint32)
        assert np.all(bits & 0xFFFF == 0)
    elif sf == "e8m0":
        assert np.array_equal(np.exp2(np.round(np.log2(s))), s)
        # rounded up: the group max never clips
        top = 7 * 30 + 128  # mant4_a30 max_abs (mant.md §2.1: 338)
        assert np.all(np.abs(w.reshape(-1, 50)).max(axis=1) <= top * s)
    else:
        sos = s.max() / 127
        assert np.allclose(s / sos, np.round(s / sos), atol=1e-4)


def test_asymmetric_int_uses_a_zero_point():
    x = np.array([[0.0, 1.0, 2.0, 3.0, 15.0]], dtype=np.float32)  # min 0, max 15 -> scale 1
    q = quantize_groups(x, "int4_asym")
    assert q.scales.tolist() == [1.0] and q.zero_points.tolist() == [0]
    assert q.dequantized.tolist() == x.tolist() and q.codes.tolist() == [[0, 1, 2, 3, 15]]
    y = np.array([[-1.0, 0.0, 14.0]], dtype=np.float32)
    qy = quantize_groups(y, "int4_asym")
    assert qy.zero_points.tolist() == [1] and qy.dequantized.tolist() == y.tolist()


def test_mx_block_scale_is_the_ocp_shared_exponent():
    # OCP MX v1.0: X = 2^(floor(log2(amax)) - emax_elem), emax_elem = 2 for FP4 E2M1
    x = np.zeros((1, 32), dtype=np.float32)
    x[0, :4] = [4.9, -0.3, 7.9, 5.0]  # floor(log2(7.9)) = 2 -> X = 1; 7.9 saturates to 6
    r = quantize(x, QuantConfig(candidates="mxfp4"))
    assert r.scales.tolist() == [1.0]
    # 5.0 is the midpoint of 4 and 6: OCP MX rounds elements half to even -> 4 (code 0b110)
    assert r.dequantized[0, :4].tolist() == [4.0, -0.5, 6.0, 4.0]


def test_clip_search_never_worse_and_records_ratios(w):
    plain = quantize(w, QuantConfig(candidates="ant", group_size=64))
    clip = quantize(w, QuantConfig(candidates="ant", group_size=64, clip_search=True))
    assert clip.rel_mse <= plain.rel_mse
    assert (
        clip.clip_ratio is not None
        and clip.clip_ratio.min() >= 0.75
        and clip.clip_ratio.max() <= 1.5
    )


@pytest.mark.parametrize(
    ("name", "dtype", "top"),
    [("mxfp4", "float4_e2m1fn", 6.0), ("mxfp8_e4m3", "float8_e4m3fn", 448.0)],
)
def test_mx_elements_round_half_to_even_like_ml_dtypes(name, dtype, top):
    # every midpoint of the element grid, both signs, in blocks whose scale is exactly 1
    import ml_dtypes

    mags = parse_format(name).magnitudes
    mids = (mags[1:] + mags[:-1]) / 2
    vals = np.concatenate([mids, -mids, np.random.default_rng(0).uniform(-top, top, 200)])
    vals = vals[: len(vals) // 31 * 31].reshape(-1, 31)
    x = np.concatenate([np.full((len(vals), 1), top), vals], axis=1).astype(np.float32)
    r = quantize(x, QuantConfig(candidates=name))
    assert r.scales.tolist() == [1.0] * len(x)
    want = x.astype(getattr(ml_dtypes, dtype)).astype(np.float32)
    np.testing.assert_array_equal(r.dequantized, want)
    assert r.group_error == pytest.approx(np.mean((x.astype(np.float64) - want) ** 2, axis=1))
