"""Issue 20, point 5: the one-pass block kernels (:mod:`mant._block_kernels`) equal the numpy
forms they replaced, bit for bit.

OCP MX / NVFP4 elements (``mxfp4_g16``, ``mxfp4``, ``mxfp8_e4m3``, ``mxint8``, ``nvfp4``) against
``apply_choice_reference`` + :func:`mant.blocks.ties_to_even`; HiF4, MX+ and BlockDialect against
:func:`mant.hif4.hif4_blocks`, :func:`mant.mxplus.mxplus_blocks` and
:func:`mant.blockdialect.blockdialect_blocks` packed by :func:`mant.levels.finish_groups`. The
tensors hit exact midpoints, level ties between dialects, HiF4's level-2/3 thresholds, signed
zeros, all-zero, subnormal and near-overflow blocks, and padded groups (zero padding, and
non-zero padding that the scale rules read as the numpy forms do). Every output must also be
independent of the numba thread count.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mant._kernels import apply_choice_reference
from mant.blockdialect import blockdialect_blocks
from mant.blocks import block_scales, ties_to_even
from mant.formats import parse_format
from mant.hif4 import hif4_blocks
from mant.levels import finish_groups, grid_codes
from mant.mxplus import mxplus_blocks
from mant.quantize import quantize_groups
from tests.mant_tests.test_format_kernels2026 import (
    _hard_blocks,
    _same,
    assert_same_on_any_thread_count,
)

FIELDS = ("dequantized", "codes", "scales", "group_error", "energy")


def _tensors(width: int, seed: int = 0) -> list[np.ndarray]:
    """Gaussian, heavy-tailed (Student t, 2 degrees of freedom; Cauchy), the hard blocks, blocks of
    quarter multiples of powers of two (exact midpoints of every grid here) and HiF4 blocks
    built on its thresholds, each ``(G, width)`` float32."""
    rng = np.random.default_rng(seed)
    quarters = rng.integers(-40, 41, (64, width)) / 4 * np.exp2(rng.integers(-6, 7, (64, 1)))
    quarters[::7, 0] = 7.5 * np.exp2(rng.integers(-3, 3, len(quarters[::7])))  # dialect maxima
    # HiF4: the E6M2 scale of a block with max 7 * 2^k is 2^k; elements at the level-2/3
    # thresholds (2, 4 times it) and at S1P2 midpoints below and above them
    k = np.exp2(rng.integers(-8, 8, (64, 1)))
    hif = rng.choice([0.125, 0.375, 1.875, 2.0, 3.75, 3.875, 4.0, 7.5, 7.75], (64, width)) * k
    hif[:, 0] = 7 * k[:, 0]
    hif *= rng.choice([-1, 1], hif.shape)
    return [
        np.ascontiguousarray(t, dtype=np.float32)
        for t in (
            rng.standard_normal((300, width)),
            rng.standard_t(2, (300, width)),
            rng.standard_cauchy((100, width)) * 1e-2,
            _hard_blocks(width, seed=seed + 1),
            quarters,
            hif,
        )
    ]


def _lengths(x: np.ndarray, seed: int) -> list[np.ndarray]:
    """All full; some groups padded (random valid counts)."""
    rng = np.random.default_rng(seed)
    ragged = rng.integers(1, x.shape[1] + 1, x.shape[0]).astype(np.int64)
    return [np.full(x.shape[0], x.shape[1], dtype=np.int64), ragged]


def _padded(x: np.ndarray, lengths: np.ndarray, zero: bool) -> np.ndarray:
    keep = np.arange(x.shape[1])[None, :] < lengths[:, None]
    return np.ascontiguousarray(np.where(keep | (not zero), x, np.float32(0.0)))


def _cases(width: int):
    for i, x in enumerate(_tensors(width, seed=width)):
        for j, n in enumerate(_lengths(x, seed=i)):
            for zero in (True, False) if j else (True,):
                yield _padded(x, n, zero), n


def _check(fast, want, label: str) -> None:
    for field in FIELDS:
        f, w = getattr(fast, field), getattr(want, field)
        bad = np.flatnonzero(np.asarray(f).ravel() != np.asarray(w).ravel())[:5]
        assert _same(f, w), f"{label} {field}: first differences at {bad.tolist()}"


def _seq_sum(a: np.ndarray) -> np.ndarray:
    """Row sums accumulated element by element (the kernels' order; ``cumsum`` is sequential)."""
    return np.cumsum(a, axis=1)[:, -1]


def _ocp_reference(groups: np.ndarray, lengths: np.ndarray, name: str):
    """The OCP path as it was: scales, ``apply_choice`` (its numpy oracle), ties to even, the
    moved blocks' errors summed by numpy."""
    fmt = parse_format(name)
    mags = np.asarray(fmt.magnitudes, dtype=np.float64)
    mids = (mags[1:] + mags[:-1]) / 2
    scale = block_scales(groups, fmt)
    codes, deq, _, energy = apply_choice_reference(
        groups,
        lengths,
        scale,
        np.zeros(len(groups), dtype=np.int64),
        mids[None, :],
        np.array([len(mids)]),
        mags[None, :],
        np.array([len(fmt.grid)]),
    )
    valid = np.arange(groups.shape[1])[None, :] < lengths[:, None]
    a = np.abs(groups.astype(np.float64))
    sq = np.where(valid, (a - np.abs(fmt.grid[codes]) * scale[:, None]) ** 2, 0.0)
    err = _seq_sum(sq) / lengths
    energy = _seq_sum(np.where(valid, groups.astype(np.float64) ** 2, 0.0))
    rows = ties_to_even(groups, scale, codes, deq, fmt)
    lev = np.abs(fmt.grid[codes[rows]]) * scale[rows, None]
    sq = np.where(valid[rows], (a[rows] - lev) ** 2, 0.0)
    err[rows] = sq.sum(axis=1) / lengths[rows]
    want = finish_groups(groups, lengths, deq, codes, scale, np.zeros(len(groups)))
    return want, err, energy, len(rows)


@pytest.mark.parametrize(
    ("name", "width"),
    [("mxfp4_g16", 16), ("mxfp4", 32), ("mxfp8_e4m3", 32), ("mxint8", 32), ("nvfp4", 16)],
)
def test_ocp_block_pass_equals_apply_choice_then_ties_to_even(name, width):
    n_moved = 0
    for groups, lengths in _cases(width):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # saturating E4M3 scales of the huge blocks
            fast = quantize_groups(groups, name, lengths=lengths)
            want, err, energy, moved = _ocp_reference(groups, lengths, name)
        n_moved += moved
        assert _same(fast.dequantized, want.dequantized)
        assert _same(fast.codes, want.codes)
        assert _same(fast.scales, want.scales)
        assert _same(fast.group_error, err)
        assert _same(fast.energy, energy)
    if not parse_format(name).tensor_scale:  # power-of-two scales: the tensors hit midpoints
        assert n_moved > 0  # blocks whose errors numpy re-summed after a tie moved


def _blocks_reference(groups: np.ndarray, lengths: np.ndarray, name: str):
    """The quantizer as it was: the numpy block form, packed by ``finish_groups``."""
    fmt = parse_format(name)
    choice = np.zeros(len(groups), dtype=np.int64)
    if fmt.rule == "hif4":
        q, scale = hif4_blocks(groups)
    elif fmt.rule == "mxplus":
        q, exp = mxplus_blocks(groups)
        scale = np.exp2(exp)
    else:
        q, exp, choice = blockdialect_blocks(groups, online=fmt.rule == "blockdialect_a")
        scale = np.exp2(exp)
    deq = (q * scale[:, None]).astype(np.float32)
    return finish_groups(groups, lengths, deq, grid_codes(fmt.grid, q), scale, choice)


@pytest.mark.parametrize(
    ("name", "width"),
    [("hif4", 64), ("mxplus_fp4", 32), ("blockdialect_fp4", 32), ("blockdialect_fp4_a", 32)],
)
def test_block_pass_equals_the_numpy_block_form(name, width):
    from mant.formats2026 import _RULES

    fmt = parse_format(name)
    for groups, lengths in _cases(width):
        fast = _RULES[fmt.rule](groups, lengths, fmt, None)
        want = _blocks_reference(groups, lengths, name)
        _check(fast, want, name)
        assert _same(fast.choice, want.choice)  # BlockDialect's dialect ids


@pytest.mark.parametrize(
    "name", ["mxfp4_g16", "mxfp4", "nvfp4", "hif4", "mxplus_fp4", "blockdialect_fp4_a"]
)
def test_block_pass_is_independent_of_the_thread_count(name):
    width = parse_format(name).block
    x = np.concatenate(_tensors(width, seed=5))  # ~900 blocks: many parallel chunks
    assert_same_on_any_thread_count(x, name)


def test_hif4_refuses_other_group_sizes():
    from mant.errors import InputError
    from mant.hif4 import quantize_hif4

    x = np.ones((2, 32), dtype=np.float32)
    with pytest.raises(InputError, match="group_size: must be 64 for hif4, got 32"):
        quantize_hif4(x, np.full(2, 32), parse_format("hif4"), None)
