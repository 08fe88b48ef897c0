"""Tender's decomposed activation quantization and per-channel INT4 weights (mant.md §9.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mant.errors import InputError
from mant.quantize import QuantConfig, quantize
from mant.tender import TenderConfig, quantize_tender


def _restated(x: np.ndarray, bits: int, chunk: int, g: int, bias: bool) -> np.ndarray:
    """mant.md §9.3 steps 1-5 written as plain loops over chunks and channels."""
    qmax = 2 ** (bits - 1) - 1
    out = np.zeros(x.shape)
    for start in range(0, x.shape[0], chunk):
        blk = x[start : start + chunk].astype(np.float64)
        b = (blk.max(0) + blk.min(0)) / 2 if bias else np.zeros(blk.shape[1])
        b = b.astype(np.float16).astype(np.float64)
        c = blk - b
        tmax = np.abs(c).max()
        for j in range(blk.shape[1]):
            cmax = np.abs(c[:, j]).max()
            i = 0
            while i < g - 1 and cmax > tmax / 2 ** (g - 1 - i):
                i += 1
            s = tmax / 2 ** (g - 1 - i) / qmax
            q = np.clip(np.round(c[:, j] / s), -qmax - 1, qmax) if s > 0 else 0 * c[:, j]
            out[start : start + chunk, j] = q * s + b[j]
    return out


@pytest.mark.parametrize(("bits", "chunk", "g", "bias"), [(4, 256, 8, True), (8, 100, 4, False)])
def test_matches_a_loop_restatement(bits, chunk, g, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 48)) * np.exp(rng.uniform(-3, 3, 48)) + rng.normal(0, 2, 48)
    x = x.astype(np.float32)
    cfg = TenderConfig(bits=bits, chunk_rows=chunk, n_groups=g, channel_bias=bias)
    r = quantize_tender(x, cfg)
    want = _restated(x, bits, chunk, g, bias)
    np.testing.assert_allclose(r.dequantized, want, rtol=0, atol=1e-5)
    assert r.n_groups == -(-600 // chunk) * 48


def test_group_scales_are_powers_of_two_apart_and_channels_follow_thresholds():
    # one chunk, no bias; cmax per channel chosen against tmax = 64 -> T_i = 64 / 2^(7-i)
    x = np.zeros((4, 6), np.float32)
    x[0] = [64.0, 0.4, 0.6, 3.0, 33.0, 32.0]
    r = quantize_tender(x, TenderConfig(channel_bias=False))
    # 0.4 <= T0 = 0.5 -> 0; 0.6 in (0.5, 1] -> 1; 3 in (2, 4] -> 3; 33 in (32, 64] -> 7; 32 -> 6
    assert r.choice.tolist() == [7, 0, 1, 3, 7, 6]
    assert np.allclose(r.scales, 64.0 / 2.0 ** (7 - r.choice.astype(float)) / 7)
    ratios = r.scales[None, :] / r.scales[:, None]
    assert np.allclose(np.log2(ratios), np.round(np.log2(ratios)))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, (40, 5), elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)))
def test_error_within_half_a_step_of_the_channel_scale(x):
    r = quantize_tender(x, TenderConfig(chunk_rows=16))
    step = r.scales.reshape(-1, 5)  # (chunks, channels)
    rows = np.arange(40) // 16
    tol = step[rows] / 2 * (1 + 1e-6) + 1e-3 * np.abs(x) + 1e-30
    assert np.all(np.abs(r.dequantized.astype(np.float64) - x) <= tol)


def test_channel_bias_removes_a_channel_offset():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((256, 32)).astype(np.float32)
    x[:, 5] += 50.0  # a shifted channel dominates tmax without the bias
    with_bias = quantize_tender(x, TenderConfig())
    without = quantize_tender(x, TenderConfig(channel_bias=False))
    assert with_bias.rel_mse < 0.2 * without.rel_mse


def test_beats_per_tensor_int4_on_outlier_channels_and_works_through_quantize():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((512, 128)).astype(np.float32)
    x[:, [7, 70]] *= 60.0
    tender = quantize(x, TenderConfig())
    per_tensor = quantize(x, candidates="int4", granularity="tensor")
    assert tender.rel_mse < per_tensor.rel_mse
    normal = np.ones(128, bool)
    normal[[7, 70]] = False

    def normal_err(r):
        return float(np.sum((r.dequantized - x)[:, normal] ** 2) / np.sum(x[:, normal] ** 2))

    assert normal_err(tender) < 0.1 * normal_err(per_tensor)  # small channels keep resolution
    assert tender.bits_per_element == pytest.approx(4 + (3 + 16) / 256 + 32 / (256 * 128))
    with pytest.raises(InputError):
        quantize(x, TenderConfig(), candidates="int4")


def test_tender_weights_are_per_channel_int4():
    # mant.md §9.3 / artifact: W per output channel, scale max|w| / 7, round to nearest
    w = np.random.default_rng(3).standard_normal((32, 96)).astype(np.float32)
    r = quantize(w, QuantConfig(candidates="int4", granularity="channel", scale_format="fp32"))
    s = (np.abs(w).max(axis=1, keepdims=True) / 7).astype(np.float32).astype(np.float64)
    want = np.clip(np.round(w / s), -8, 7) * s
    np.testing.assert_allclose(r.dequantized, want, rtol=1e-6)
    assert r.bits_per_element == 4 + 32 / 96  # one fp32 scale per channel of 96


def test_config_round_trip_and_validation():
    cfg = TenderConfig(bits=8, chunk_rows=128, n_groups=4, channel_bias=False)
    assert TenderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InputError) as info:
        TenderConfig(bits=1, n_groups=0, bias_format="bf16")
    assert len(info.value.issues) == 3
    with pytest.raises(InputError, match="unknown keys"):
        TenderConfig.from_dict({"bitz": 4})
    with pytest.raises(InputError):
        quantize_tender(np.array([[np.nan, 1.0]], np.float32))
