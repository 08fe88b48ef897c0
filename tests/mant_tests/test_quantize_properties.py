"""Contract properties every symmetric format must satisfy under group quantization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mant.candidates import candidate_set
from mant.quantize import quantize_groups

FORMATS = [
    "int4",
    "int8",
    "pot4",
    "flint4",
    "fp4_e2m1",
    "fp6_e3m2",
    "fp8_e4m3fn",
    "mant4_a0",
    "mant4_a17",
    "mant4_a17_z",
    "mant3_a2",
    "mant8_a100",
]

values = st.floats(-1e4, 1e4, allow_nan=False, width=32)
group_arrays = arrays(
    np.float32, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=values
)


def _deq(groups, name, scale_format="fp32"):
    return quantize_groups(groups, candidate_set(name), scale_format=scale_format)


# The contract every format satisfies (the pattern of Optuna's sampler contract tests), run for
# each format by parametrization.
contract = pytest.mark.parametrize("name", FORMATS)


@contract
@settings(max_examples=20, deadline=None)
@given(groups=group_arrays)
def test_on_grid(name, groups):
    q = _deq(groups, name)
    grid = np.asarray(candidate_set(name).formats[0].grid)
    assert q.codes.min() >= 0 and q.codes.max() < len(grid)
    decoded = (grid[q.codes] * q.scales[:, None]).astype(np.float32)
    assert np.array_equal(decoded, q.dequantized), (groups, q.codes)


@contract
@settings(max_examples=20, deadline=None)
@given(groups=group_arrays)
def test_idempotent(name, groups):
    once = _deq(groups, name).dequantized
    twice = _deq(once, name).dequantized
    np.testing.assert_array_equal(once, twice)


@contract
@settings(max_examples=20, deadline=None)
@given(groups=group_arrays)
def test_monotone_within_a_group(name, groups):
    q = _deq(groups, name)
    for row, out in zip(groups, q.dequantized, strict=True):
        order = np.argsort(row, kind="stable")
        assert np.all(np.diff(out[order].astype(np.float64)) >= 0), (row, out)


@contract
@settings(max_examples=20, deadline=None)
@given(groups=group_arrays)
def test_error_at_most_half_a_step_inside_the_range(name, groups):
    q = _deq(groups, name)
    mags = np.asarray(candidate_set(name).formats[0].magnitudes)
    for row, out, s in zip(groups, q.dequantized, q.scales, strict=True):
        if s == 0:
            assert np.all(out == 0)
            continue
        levels = mags * s
        a = np.abs(row.astype(np.float64))
        inside = (a >= levels[0]) & (a <= levels[-1])
        pos = np.clip(np.searchsorted(levels, a[inside]), 1, len(levels) - 1)
        half = (levels[pos] - levels[pos - 1]) / 2
        err = np.abs(row[inside].astype(np.float64) - out[inside])
        # float32 output rounding adds at most one ulp of the value
        assert np.all(err <= half + np.spacing(np.float32(a[inside]))), (row, out)


@contract
@settings(max_examples=20, deadline=None)
@given(groups=group_arrays, factor=st.floats(1.5, 100.0))
def test_saturates_beyond_the_top_level(name, groups, factor):
    # keep each group's scale, push the values out by `factor`: they clip to +-max_abs * scale
    base = _deq(groups, name)
    fmt = candidate_set(name).formats[0]
    big = (groups.astype(np.float64) * factor).astype(np.float32)
    deq = big.astype(np.float64)
    top = fmt.max_abs * base.scales[:, None]
    expected_clipped = np.abs(deq) > top + (top - fmt.magnitudes[-2] * base.scales[:, None]) / 2
    from mant import _kernels
    from mant.quantize import _tables

    mids, mags, n_mids, n_grid, _ = _tables(candidate_set(name))
    n = np.full(len(groups), groups.shape[1], dtype=np.int64)
    choice = np.zeros(len(groups), dtype=np.int64)
    _, out, _, _ = _kernels.apply_choice(big, n, base.scales, choice, mids, n_mids, mags, n_grid)
    assert np.all(np.abs(out) <= top.astype(np.float32))
    np.testing.assert_array_equal(
        np.abs(out[expected_clipped]),
        np.broadcast_to(top, out.shape)[expected_clipped].astype(np.float32),
    )


@contract
def test_group_max_maps_to_the_top_level_with_fp32_scale(name):
    x = np.array([[0.3, -2.5, 1.0, 0.0]], dtype=np.float32)
    q = _deq(x, name)
    assert q.dequantized[0, 1] == pytest.approx(-2.5, rel=1e-6)


def test_exact_midpoint_goes_to_the_larger_magnitude():
    # int4 with scale 1 (group max 7): 2.5 sits exactly between 2 and 3
    x = np.array([[7.0, 2.5, -2.5, 0.5, -0.5]], dtype=np.float32)
    q = _deq(x, "int4")
    assert q.scales[0] == 1.0
    assert q.dequantized.tolist() == [[7.0, 3.0, -3.0, 1.0, -1.0]]


def test_zero_without_an_exact_zero_code_goes_to_the_positive_unit_level():
    x = np.array([[128.0, 0.0, -0.0]], dtype=np.float32)
    q = _deq(x, "mant4_a0")  # PoT-like MANT: magnitudes 1..128, scale 1
    assert q.dequantized.tolist() == [[128.0, 1.0, 1.0]]


def test_earlier_candidate_wins_an_exact_tie():
    # pot4 (scale 2^-6) and mant4_a0 (scale 2^-7) both reproduce these powers of two exactly
    x = np.array([[1.0, -0.5, 0.25, 1 / 64], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    for order in (["pot4", "mant4_a0"], ["mant4_a0", "pot4"]):
        q = quantize_groups(x, candidate_set(order))
        assert q.group_error.tolist() == [0.0, 0.0]
        assert q.choice.tolist() == [0, 0]
