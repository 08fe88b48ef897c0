"""The float32 output-error filter: its bound holds, and with float64 on the unsettled groups the
choice is exactly the float64 rule's, near ties and exact ties included."""

from __future__ import annotations

import numpy as np
import pytest

from mant.blocks import _absmax
from mant.output_filter import factor_grams, filter_choice
from mant.output_select import GramCalibration, output_errors, pick_last_min, select_output_mse
from mant.quantize import QuantConfig, _tables, make_groups, quantize, round_scales


def _setup(w: np.ndarray, x: np.ndarray, g: int = 64, scale_format: str = "fp16"):
    cfg = QuantConfig(candidates="mant-unicore16", group_size=g, scale_format=scale_format)
    groups, lengths, _ = make_groups(w, axis=-1, group_size=g, granularity=cfg.granularity)
    mids, mags, n_mids, _, max_abs = _tables(cfg.candidate_set)
    scales = round_scales(_absmax(groups)[:, None] / max_abs[None, :], cfg.scale_format)
    cal = GramCalibration.from_activations(x, group_size=g)
    return groups, lengths, scales, (mids, mags, n_mids), cal


def _float64_rule(groups, lengths, scales, tables, cal):
    err, tol = output_errors(groups, lengths, scales, tables, cal.gram, tokens=cal.tokens)
    return pick_last_min(err, tol), err * cal.tokens


@pytest.mark.parametrize(
    ("seed", "g", "scale_format"), [(0, 64, "fp16"), (1, 32, "fp32"), (2, 64, "int8")]
)
def test_bound_holds_and_choice_is_the_float64_one(seed, g, scale_format):
    rng = np.random.default_rng(seed)
    w = rng.standard_t(3, (48, 200)).astype(np.float32)  # 200 = 3 * 64 + 8: a padded group
    x = (rng.standard_normal((400, 200)) * np.exp(rng.uniform(-3, 3, 200))).astype(np.float32)
    x[:, 7] *= 300.0  # a massive-activation channel: an ill-conditioned H
    args = _setup(w, x, g, scale_format)
    _, _, q, beta = filter_choice(*args[:4], args[4].factor, keep_errors=True)
    assert q is not None and beta is not None
    ref, err64 = _float64_rule(*args)
    assert (np.abs(q - err64) <= beta).all()
    assert (beta <= 1e-3 * np.maximum(q, 1e-30) + 1e-30).mean() > 0.9  # and it is tight
    choice, redone = select_output_mse(*args)
    np.testing.assert_array_equal(choice, ref)
    assert redone < len(choice) // 4  # most groups are settled in float32


def test_near_and_exact_ties_are_resolved_as_float64():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((64, 128)).astype(np.float32)
    x = rng.standard_normal((300, 128)).astype(np.float32)
    # group 0 sees channel 0 and, 1e4 times weaker, the others: candidates that round w[:, 0]
    # alike differ by ~1e-8 of their error (float32 cannot tell them apart, float64 can)
    x[:, 1:64] *= 1e-4
    x[:, 64:] = 0.0  # group 1: no activation, every candidate ties exactly at 0
    groups, lengths, scales, tables, cal = _setup(w, x)
    fast, flagged, _, _ = filter_choice(groups, lengths, scales, tables, cal.factor)
    ref, err64 = _float64_rule(groups, lengths, scales, tables, cal)
    assert (fast != ref).any()  # float32 alone gets some of them wrong
    assert flagged[fast != ref].all()  # and flags each of those
    choice, _ = select_output_mse(groups, lengths, scales, tables, cal)
    np.testing.assert_array_equal(choice, ref)
    assert (choice[1::2] == 15).all()  # exact ties: the later candidate
    near = err64[0::2]
    assert ((near.max(axis=1) - near.min(axis=1)) > 0).all()  # group 0: no exact tie


def test_singular_grams_are_factored():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((10, 100)).astype(np.float32)  # 10 tokens < g: rank 10
    x[:, 3] = 0.0
    cal = GramCalibration.from_activations(x, group_size=64)
    f = factor_grams(cal.gram)
    low = f.lower.astype(np.float64) * f.bounds[:, 4, None, None]  # R / p, p a power of two
    assert (np.triu(low, 1) == 0).all()
    recon = np.matmul(low, low.transpose(0, 2, 1))
    scale = np.abs(cal.gram).max()
    assert np.abs(recon - cal.gram).max() <= 1e-5 * scale
    assert (f.bounds[:, 0] >= 0).all() and (f.bounds[:, 0] <= 1e-9 * scale).all()


@pytest.mark.parametrize("magnitude", [1e-25, 1e-12, 1e12, 1e17])
def test_tiny_and_huge_activations_choose_as_float64(magnitude):
    rng = np.random.default_rng(10)
    w = rng.standard_normal((40, 128)).astype(np.float32)
    x = rng.standard_normal((200, 128)) * np.exp(rng.uniform(-2, 2, 128)) * magnitude
    args = _setup(w, x.astype(np.float32))
    _, _, q, beta = filter_choice(*args[:4], args[4].factor, keep_errors=True)
    assert q is not None and beta is not None
    ref, err64 = _float64_rule(*args)
    assert (np.abs(q - err64) <= beta).all()
    np.testing.assert_array_equal(select_output_mse(*args)[0], ref)


def test_quantize_output_mse_equals_the_float64_rule_with_many_rows():
    rng = np.random.default_rng(9)
    w = rng.standard_normal((700, 128)).astype(np.float32)  # more rows than a filter block
    x = (rng.standard_normal((256, 128)) * np.exp(rng.uniform(-2, 2, 128))).astype(np.float32)
    cfg = QuantConfig(
        candidates="mant-unicore16", group_size=64, scale_format="fp16", selection="output_mse"
    )
    r = quantize(w, cfg, calibration=x)
    ref, _ = _float64_rule(*_setup(w, x))
    np.testing.assert_array_equal(r.choice, ref)


def test_one_blas_thread_limits_every_blas_library_and_restores_it():
    from threadpoolctl import threadpool_info

    from mant._blas import one_blas_thread

    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with one_blas_thread():
        inside = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert inside and set(inside) == {1}
    assert after == before
