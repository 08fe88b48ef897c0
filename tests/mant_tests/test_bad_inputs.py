"""Bad input gives one clear InputError naming the value and the rule; never a silent NaN."""

from __future__ import annotations

import numpy as np
import pytest

from mant.errors import InputError
from mant.quantize import QuantConfig, quantize, quantize_groups


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected_with_their_index(bad):
    x = np.ones((4, 64), dtype=np.float32)
    x[2, 5] = bad
    with pytest.raises(InputError, match=r"x: must be finite, got .*first at index \(2, 5\)"):
        quantize(x, QuantConfig())


def test_all_zero_group_quantizes_to_exact_zeros_without_nan():
    x = np.random.default_rng(0).standard_normal((2, 128)).astype(np.float32)
    x[1, 64:] = 0.0
    for cands in ("mant-unicore16", "mant4_a17", "int4_asym", "mxfp4", "nvfp4"):
        for sf in ("fp32", "int8", "e8m0"):
            if cands in ("mxfp4", "nvfp4") and sf != "fp32":
                continue
            block = cands in ("mxfp4", "nvfp4")  # they fix their own scale format
            cfg = QuantConfig(candidates=cands, scale_format=None if block else sf)
            r = quantize(x, cfg)
            assert np.all(np.isfinite(r.dequantized)) and np.isfinite(r.rel_mse)
            assert np.all(r.dequantized[1, 64:] == 0.0)
            assert np.all(np.isfinite(r.group_error))


def test_all_zero_tensor_is_reproduced_exactly():
    r = quantize(np.zeros((3, 64), np.float32), QuantConfig())
    assert r.rel_mse == 0.0 and r.sqnr_db == float("inf") and not r.dequantized.any()


def test_group_size_zero_and_axis_out_of_range():
    x = np.ones((4, 64), dtype=np.float32)
    with pytest.raises(InputError, match="group_size: must be an int >= 1, got 0"):
        quantize(x, QuantConfig(group_size=0))
    with pytest.raises(InputError, match=r"axis: must be in -2..1 for a 2-d tensor, got 2"):
        quantize(x, QuantConfig(axis=2))


def test_unknown_names():
    with pytest.raises(InputError, match="candidates: must be a named set"):
        QuantConfig(candidates="mant-unicore17")
    with pytest.raises(InputError, match=r"candidates\[1\]\.format"):
        QuantConfig(candidates=["int4", "int3_fancy"])
    with pytest.raises(InputError, match="scale_format: must be one of"):
        QuantConfig(scale_format="fp8")


def test_non_float_and_empty_inputs():
    with pytest.raises(InputError, match="x: must be a real numeric array"):
        quantize(np.array(["a", "b"]), QuantConfig())
    with pytest.raises(InputError, match="at least one element"):
        quantize(np.zeros((0, 64), np.float32), QuantConfig())
    with pytest.raises(InputError, match="groups: must be a float array"):
        quantize_groups(np.ones((2, 4), dtype=np.int32), "int4")
    with pytest.raises(InputError, match="choice: must be ints in 0..15"):
        quantize_groups(np.ones((2, 4), np.float32), "mant-unicore16", choice=np.array([0, 16]))


def test_fp16_scale_overflow_warns_and_fp32_does_not():
    """float32 values near 3e38: fp16 scales saturate at 65504 (the groups lose their size)."""
    import warnings

    import numpy as np

    from mant.quantize import QuantConfig, quantize

    x = np.full((4, 64), 3e38, np.float32)
    with pytest.warns(RuntimeWarning, match="exceed the largest fp16 scale"):
        quantize(x, QuantConfig(candidates="int4", group_size=64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = quantize(x, QuantConfig(candidates="int4", group_size=64, scale_format="fp32"))
    assert res.rel_mse < 1e-6
