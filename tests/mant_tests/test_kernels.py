"""The compiled kernels against the plain numpy reference (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mant import _kernels
from mant.candidates import candidate_set
from mant.quantize import _absmax, _tables
from mant.scales import round_scales


def _inputs(cs, groups, lengths, scale_format):
    mids, mags, n_mids, n_grid, max_abs = _tables(cs)
    scales = round_scales(_absmax(groups)[:, None] / max_abs[None, :], scale_format)
    return scales, mids, n_mids, mags, n_grid


def _check(cs, groups, lengths, scale_format="fp32"):
    scales, mids, n_mids, mags, n_grid = _inputs(cs, groups, lengths, scale_format)
    fast = _kernels.search_errors(groups, lengths, scales, mids, n_mids, mags)
    ref = _kernels.search_errors_reference(groups, lengths, scales, mids, n_mids, mags)
    # same levels; only the summation order of the squared errors differs
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=0)
    choice = np.argmin(ref, axis=1)
    s = np.ascontiguousarray(scales[np.arange(len(choice)), choice])
    got = _kernels.apply_choice(groups, lengths, s, choice, mids, n_mids, mags, n_grid)
    want = _kernels.apply_choice_reference(groups, lengths, s, choice, mids, n_mids, mags, n_grid)
    np.testing.assert_array_equal(got[0], want[0])  # codes, bit-exact
    np.testing.assert_array_equal(got[1], want[1])  # dequantized, bit-exact
    np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-12)
    # the fast argmin agrees wherever the best two candidates are not within rounding noise
    srt = np.sort(ref, axis=1)
    clear = (
        srt[:, 1] - srt[:, 0] > 1e-9 * srt[:, 1] if ref.shape[1] > 1 else np.ones(len(ref), bool)
    )
    assert np.array_equal(np.argmin(fast, axis=1)[clear], choice[clear])


@pytest.mark.parametrize("spec", ["mant-unicore16", "ant", ["fp4_e2m1", "int8", "mant3_a4"]])
@pytest.mark.parametrize("scale_format", ["fp32", "fp16", "e8m0", "int8"])
def test_fast_kernel_equals_reference_on_gaussian_and_heavy_tails(spec, scale_format):
    rng = np.random.default_rng(1)
    g = np.concatenate(
        [rng.standard_normal((300, 64)), rng.standard_t(2.0, (300, 64)), np.zeros((2, 64))]
    ).astype(np.float32)
    lengths = np.full(len(g), 64, dtype=np.int64)
    lengths[::7] = rng.integers(1, 64, size=len(lengths[::7]))
    g[np.arange(64)[None, :] >= lengths[:, None]] = 0  # padded slots are zero, as make_groups
    _check(candidate_set(spec), g, lengths, scale_format)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(1, 70),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["mant-unicore16", "fp8_e4m3fn", ["pot4", "flint4"]]),
)
def test_fast_kernel_equals_reference_on_random_shapes(n_groups, g, seed, spec):
    rng = np.random.default_rng(seed)
    groups = (rng.standard_normal((n_groups, g)) * rng.uniform(1e-3, 1e3)).astype(np.float32)
    groups[rng.random(groups.shape) < 0.1] = 0
    lengths = np.full(n_groups, g, dtype=np.int64)
    _check(candidate_set(spec), groups, lengths)


def test_exact_midpoints_agree_between_paths():
    # values exactly on int4 midpoints with scale 1 (group max 7)
    row = np.array([7.0, 0.5, 1.5, 2.5, 3.5, -4.5, 5.5, -6.5], dtype=np.float32)
    _check(candidate_set("int4"), row[None, :], np.array([8]))
    scales, mids, n_mids, mags, n_grid = _inputs(candidate_set("int4"), row[None, :], None, "fp32")
    codes, deq, _, _ = _kernels.apply_choice(
        row[None, :],
        np.array([8]),
        scales[:, 0].copy(),
        np.zeros(1, np.int64),
        mids,
        n_mids,
        mags,
        n_grid,
    )
    assert deq.tolist() == [[7.0, 1.0, 2.0, 3.0, 4.0, -5.0, 6.0, -7.0]]
