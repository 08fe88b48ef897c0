"""Issue 20, point 5: the fast paths of the 2025-26 formats equal their element-by-element forms.

The speed work (``benchmarks/bench_formats.py``) replaced per-element branches, scratch-array
round trips and numpy passes by compiled, vectorizable passes. Every output must stay bit for bit
what it was: each fast kernel is compared here with the element-by-element rule it replaced (the
serial ``subblock_scale_search_reference``, or the plain numpy expression), on tensors chosen to
hit exact midpoints, signed zeros, tiny and huge values and padded groups; and every format's
whole result must not depend on the numba thread count. (The dequantized tensors are also checked
against the authors' rules in ``test_formats2026.py``.)
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest

from mant import _levels_kernels, _subblock_kernels
from mant.formats2026 import NAMED_2026
from mant.levels import grid_codes
from mant.quantize import QuantConfig, quantize
from mant.subblock import FP6_MAGS, m2x_exponent

_FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], dtype=np.float32)


def _hard_blocks(width: int, seed: int = 3) -> np.ndarray:
    """Blocks of FP4 values, their midpoints and neighbours times ratio and power-of-two scales,
    plus zero, signed-zero, subnormal and near-overflow blocks (float32, ``(G, width)``)."""
    rng = np.random.default_rng(seed)
    mids = (_FP4[1:] + _FP4[:-1]) / 2
    base = np.concatenate([_FP4, mids, np.nextafter(mids, 0), np.nextafter(mids, 9), [7.0, 9.0]])
    ratios = np.array([1.0, 1.25, 1.5, 1.75, 1.1], dtype=np.float32)
    vals = rng.choice(np.concatenate([base, -base]), (96, width)).astype(np.float32)
    vals *= rng.choice(ratios, (96, 1)) * np.exp2(rng.integers(-4, 5, (96, 1)))
    gauss = rng.standard_normal((32, width)).astype(np.float32)
    special = np.zeros((6, width), dtype=np.float32)
    special[1, ::2] = -0.0
    special[2] = rng.standard_normal(width) * 1e-42  # subnormal
    special[3] = rng.standard_normal(width) * 1e37
    special[3, 0] = 3e38
    special[4, :4] = [1e-3, -1e-44, -0.0, 2e-45]
    special[5] = -1e-45
    return np.ascontiguousarray(np.concatenate([vals, gauss, special]), dtype=np.float32)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (so -0.0 differs from 0.0 and NaN equals itself)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("width", "sub", "ratios", "biases"),
    [
        (32, 8, (1.0, 1.25, 1.5, 1.75), (-1, 0, 1)),
        (16, 4, (1.0, 1.1, 1.3), (-8, -2, 0, 3, 8)),
        (64, 16, (1.0, 1.5), (0,)),
        (32, 32, (1.0,), (-1, 1)),
    ],
)
def test_mxes_fast_search_equals_the_element_by_element_search(width, sub, ratios, biases):
    x = _hard_blocks(width)
    exps = m2x_exponent(x)[:, 0].astype(np.float32)
    args = (x, exps, sub, np.array(ratios, np.float32), np.array(biases, np.float32))
    fast = _subblock_kernels.subblock_scale_search(*args)
    slow = _subblock_kernels.subblock_scale_search_reference(*args)
    for name, f, s in zip(("bias index", "fp4", "dequantized", "scale"), fast, slow, strict=True):
        bad = np.flatnonzero(np.asarray(f).ravel() != np.asarray(s).ravel())[:5]
        assert _same(f, s), f"{name}: first differences at {bad.tolist()}"


def test_grid_codes_kernel_equals_the_numpy_rule():
    mags = FP6_MAGS.astype(np.float32)
    grid = np.concatenate([-mags[:0:-1], mags]).astype(np.float64)
    rng = np.random.default_rng(4)
    q = rng.choice(np.concatenate([mags, -mags]), (40, 24)).astype(np.float32)
    q[0, :3] = [-0.0, 0.0, -6.0]
    table = np.zeros(int(grid[-1] * 8) + 1, dtype=np.int16)
    table[np.rint(grid[grid >= 0] * 8).astype(np.int64)] = np.flatnonzero(grid >= 0)
    zero = int(np.flatnonzero(grid == 0)[0])
    k = table[np.rint(np.abs(q) * 8).astype(np.int64)] - zero
    want = (zero + np.where(q < 0, -k, k)).astype(np.int16)
    assert _same(grid_codes(grid, q), want)
    assert np.array_equal(grid[want], q)


def test_float16_rows_and_absmax_rows_equal_numpy():
    x = _hard_blocks(32)
    x[0, :3] = [65519.0, 65520.0, -1e6]  # just under, at and over the float16 overflow
    with np.errstate(over="ignore"):
        want16 = x.astype(np.float16).astype(np.float32)
    got16, amax16 = _levels_kernels.f16_rows(x)
    assert _same(got16, want16)
    assert _same(amax16, np.abs(want16).max(axis=1))
    assert _same(_levels_kernels.absmax_rows(x), np.abs(x).max(axis=1))


def test_list_codes_and_razer_nv_output_pass_equal_numpy():
    rng = np.random.default_rng(6)
    fmt = NAMED_2026["razer_nvfp4"]
    sets = fmt.sets
    values = np.array(sets, dtype=np.float32)
    codes_of = np.array([np.searchsorted(fmt.grid, s) for s in sets], dtype=np.int16)
    x = (rng.standard_normal((50, 16)) * 3).astype(np.float32)
    lengths = np.full(50, 16, dtype=np.int64)
    lengths[-1] = 5  # a padded last group
    ch = rng.integers(0, len(sets), 50).astype(np.int64)
    idx = rng.integers(0, 16, (50, 16)).astype(np.int16)
    sdq = (rng.random(50) * 1e3).astype(np.float32)
    sdq[:2] = [0.0, 1e4]  # a zero block scale; one that overflows float16 for large levels
    assert _same(_levels_kernels.list_codes(ch, idx, codes_of), codes_of[ch[:, None], idx])
    deq, codes, err, energy = _levels_kernels.scaled_levels_f16(
        x, lengths, ch, idx, values, codes_of, sdq
    )
    valid = np.arange(16)[None, :] < lengths[:, None]
    with np.errstate(over="ignore"):
        want = (values[ch[:, None], idx] * sdq[:, None]).astype(np.float16).astype(np.float32)
    want = np.where(valid, want, np.float32(0.0))
    assert _same(deq, want)
    assert _same(codes, np.where(valid, codes_of[ch[:, None], idx], 0).astype(np.int16))
    d2 = np.where(valid, (want.astype(np.float64) - x.astype(np.float64)) ** 2, 0.0)
    np.testing.assert_allclose(err, d2.sum(axis=1) / lengths, rtol=1e-15)
    x2 = np.where(valid, x.astype(np.float64) ** 2, 0.0)
    np.testing.assert_allclose(energy, x2.sum(axis=1), rtol=1e-15)


@pytest.mark.parametrize("name", sorted(NAMED_2026))
def test_every_named_format_is_independent_of_the_thread_count(name):
    x = np.concatenate([_hard_blocks(128)[:, :128], _hard_blocks(128, seed=9)[:64]])
    x = np.ascontiguousarray(np.tile(x, (2, 1)), dtype=np.float32)
    assert_same_on_any_thread_count(x, name)


def assert_same_on_any_thread_count(x: np.ndarray, name: str) -> None:
    """``quantize(x, name)`` on one numba thread and on all of them: the same bits."""
    before = numba.get_num_threads()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # saturating scales of huge blocks are warned
            numba.set_num_threads(1)
            one = quantize(x, QuantConfig(candidates=name))
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            many = quantize(x, QuantConfig(candidates=name))
    finally:
        numba.set_num_threads(before)
    for field in ("dequantized", "codes", "scales", "choice", "group_error"):
        assert _same(getattr(one, field), getattr(many, field)), field
