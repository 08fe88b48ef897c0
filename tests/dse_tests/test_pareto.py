"""Pareto mask and hypervolume: fronts with known answers, an independent oracle, properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dse.evaluate.pareto import (
    hypervolume,
    hypervolume_history,
    normalization_bounds,
    normalize,
    pareto_mask,
    to_minimization,
)


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def _oracle_mask(v: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Pairwise definition, written out with Python loops."""
    out = np.zeros(len(v), dtype=bool)
    for i in range(len(v)):
        if feasible[i]:
            out[i] = not any(feasible[j] and _dominates(v[j], v[i]) for j in range(len(v)))
    return out


def _grid_hv_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume by a sweep over sorted x (independent of moocore)."""
    pts = sorted(map(tuple, points[np.all(points < ref, axis=1)]))
    hv, best_y = 0.0, ref[1]
    xs = [p[0] for p in pts] + [ref[0]]
    for (x, y), x_next in zip(pts, xs[1:], strict=True):
        best_y = min(best_y, y)
        hv += (x_next - x) * (ref[1] - best_y)
    return hv


values = arrays(
    np.float64,
    st.tuples(st.integers(1, 40), st.integers(1, 4)),
    elements=st.integers(0, 6).map(float),  # small integers: many ties and duplicates
)


def test_known_front_2d():
    v = np.array([[1, 5], [2, 3], [3, 3], [4, 1], [5, 5], [2, 3]], dtype=float)
    # (3,3) is dominated by (2,3); (5,5) by everything; the duplicate (2,3) stays on the front
    assert pareto_mask(v).tolist() == [True, True, False, True, False, True]


def test_infeasible_and_nan_rows_are_never_on_the_front_and_dominate_nothing():
    v = np.array([[0, 0], [1, 1], [np.nan, 0], [2, 0.5]], dtype=float)
    feasible = np.array([False, True, True, True])
    assert pareto_mask(v, feasible).tolist() == [False, True, False, True]


def test_known_hypervolumes():
    # one box: (3-1) * (4-2) = 4
    assert hypervolume(np.array([[1.0, 2.0]]), np.array([3.0, 4.0])) == pytest.approx(4.0)
    # staircase (1,3),(2,2),(3,1) with ref (4,4): 3 + 2 + 1 = 6 unit squares
    front = np.array([[1, 3], [2, 2], [3, 1]], dtype=float)
    assert hypervolume(front, np.array([4.0, 4.0])) == pytest.approx(6.0)
    # 3-D: unit cube corners at 0 with ref 1 -> 1; point at ref contributes nothing
    assert hypervolume(np.array([[0.0, 0, 0], [1, 1, 1]]), np.ones(3)) == pytest.approx(1.0)
    assert hypervolume(np.empty((0, 2)), np.ones(2)) == 0.0


def test_to_minimization_flips_maximised_columns_only():
    v = np.array([[1.0, 2.0]])
    assert to_minimization(v, ["minimize", "maximize"]).tolist() == [[1.0, -2.0]]
    assert v.tolist() == [[1.0, 2.0]]


@settings(max_examples=150, deadline=None)
@given(values, st.data())
def test_mask_matches_pairwise_definition(v, data):
    feasible = np.array(data.draw(st.lists(st.booleans(), min_size=len(v), max_size=len(v))))
    assert pareto_mask(v, feasible).tolist() == _oracle_mask(v, feasible).tolist()


@settings(max_examples=100, deadline=None)
@given(values)
def test_front_properties(v):
    mask = pareto_mask(v)
    front, rest = v[mask], v[~mask]
    assert mask.any()  # a non-empty finite set always has a non-dominated point
    for a, b in itertools.permutations(front, 2):
        assert not _dominates(a, b)
    for r in rest:
        assert any(_dominates(f, r) for f in front)
    perm = np.random.default_rng(0).permutation(len(v))
    assert pareto_mask(v[perm]).tolist() == mask[perm].tolist()


@settings(max_examples=100, deadline=None)
@given(values.filter(lambda a: a.shape[1] == 2))
def test_hypervolume_2d_matches_sweep_oracle(v):
    ref = np.full(2, 7.0)
    assert hypervolume(v, ref) == pytest.approx(_grid_hv_2d(v, ref))


@settings(max_examples=100, deadline=None)
@given(values, st.data())
def test_hypervolume_properties(v, data):
    ref = np.full(v.shape[1], 7.0)
    hv = hypervolume(v, ref)
    assert 0.0 <= hv <= 7.0 ** v.shape[1]
    # only the front matters
    assert hypervolume(v[pareto_mask(v)], ref) == pytest.approx(hv)
    # adding a point never lowers it
    extra = np.array(
        data.draw(st.lists(st.integers(0, 6), min_size=v.shape[1], max_size=v.shape[1])),
        dtype=float,
    )
    assert hypervolume(np.vstack([v, extra]), ref) >= hv - 1e-9


@settings(max_examples=50, deadline=None)
@given(values)
def test_history_is_monotone_and_ends_at_the_full_hypervolume(v):
    ref = np.full(v.shape[1], 7.0)
    hist = hypervolume_history(v, None, ref)
    assert np.all(np.diff(hist) >= -1e-9)
    assert hist[-1] == pytest.approx(hypervolume(v, ref))


def test_normalization_maps_bounds_to_zero_and_one():
    v = np.array([[1.0, 10.0], [3.0, 10.0]])
    ideal, nadir = normalization_bounds(v)
    n = normalize(v, ideal, nadir)
    assert n[:, 0].tolist() == [0.0, 1.0] and n[:, 1].tolist() == [0.0, 0.0]


def test_large_inputs_use_the_fast_filter_with_the_same_answer():
    rng = np.random.default_rng(0)
    v = np.round(rng.random((2500, 3)), 2)  # rounding makes ties and duplicate rows
    v[7] = v[3]
    feasible = rng.random(2500) > 0.1
    fast = pareto_mask(v, feasible)
    ok = np.flatnonzero(feasible)
    slow = np.zeros(len(v), dtype=bool)
    for start in range(0, len(ok), 500):  # the pairwise definition on the feasible rows
        block = v[ok[start : start + 500]]
        dom = np.all(v[ok][None] <= block[:, None], axis=2) & np.any(
            v[ok][None] < block[:, None], axis=2
        )
        slow[ok[start : start + 500]] = ~dom.any(axis=1)
    assert (fast == slow).all() and fast.sum() > 1
