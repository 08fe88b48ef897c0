"""Activation quantizers: the authors' pseudo_quantize_int, and windows kept independent."""

from __future__ import annotations

import numpy as np
import pytest

from mant.act_quant import act_quantizer, int_fake_quant
from mant.quantize import QuantConfig, quantize
from mant.tensor_recipe import Kind, TensorRecipe


def _authors_int(x: np.ndarray, bits: int, g: int) -> np.ndarray:
    """pseudo_quantize_int (quant_func.py, commit 75fb156) on the last axis, written out."""
    n = x.shape[-1]
    pad = -n % g
    t = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)]).reshape(-1, g)
    scale = np.maximum(np.abs(t).max(axis=1, keepdims=True), 1e-5) / (2 ** (bits - 1) - 1)
    q = np.clip(np.round(t / scale), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1) * scale
    return q.reshape(*x.shape[:-1], n + pad)[..., :n]


@pytest.mark.parametrize(("bits", "g", "width"), [(8, 64, 576), (4, 64, 576), (8, 64, 100)])
def test_int_path_is_the_authors_quantizer(bits: int, g: int, width: int) -> None:
    x = np.random.default_rng(bits + width).standard_t(3, (2, 7, width))
    got = int_fake_quant(x, bits, g, scale_dtype=np.float64)
    np.testing.assert_allclose(got, _authors_int(x, bits, g), rtol=1e-12)
    x[0, 0, :g] = 0.0  # an all-zero group stays zero
    assert np.all(int_fake_quant(x, bits, g)[0, 0, :g] == 0.0)


def test_fast_path_matches_mant_quantize() -> None:
    x = np.random.default_rng(0).standard_normal((3, 640)).astype(np.float32)
    fast = act_quantizer(TensorRecipe.parse("int8:g64:scale=fp32", kind=Kind.ACTIVATIONS))
    ref = quantize(x, QuantConfig(candidates="int8", group_size=64, scale_format="fp32"))
    np.testing.assert_allclose(fast(x), ref.dequantized, rtol=1e-6, atol=1e-7)
    fp16 = act_quantizer(TensorRecipe.parse("int8:g64", kind=Kind.ACTIVATIONS))
    ref16 = quantize(x, QuantConfig(candidates="int8", group_size=64, scale_format="fp16"))
    np.testing.assert_allclose(fp16(x), ref16.dequantized, rtol=1e-5, atol=1e-6)


def test_per_tensor_formats_keep_windows_independent() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 64)).astype(np.float32)
    x[1] *= 50.0  # a window with a much larger range must not set the other's scale
    q = act_quantizer(TensorRecipe.parse("ant:tensor", kind=Kind.ACTIVATIONS))
    both = q(x)
    np.testing.assert_array_equal(both[0], q(x[:1])[0])
    assert both.shape == x.shape and both.dtype == x.dtype
    assert 0 < np.mean((both[0] - x[0]) ** 2) < 0.05 * np.mean(x[0] ** 2)
