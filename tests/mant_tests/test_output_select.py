"""Output-MSE (activation-aware) selection: equal to a direct X·Ŵᵀ computation, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from mant.errors import InputError
from mant.output_select import GramCalibration, pick_last_min
from mant.quantize import QuantConfig, Selection, quantize, quantize_with_choice

CANDIDATES = "mant-unicore16"


def _configs(group_size: int, scale_format: str = "fp16") -> tuple[QuantConfig, QuantConfig]:
    kw = {"candidates": CANDIDATES, "group_size": group_size, "scale_format": scale_format}
    return QuantConfig(**kw), QuantConfig(**kw, selection="output_mse")


def direct_choice(w: np.ndarray, x: np.ndarray, cfg_w: QuantConfig) -> tuple[np.ndarray, ...]:
    """The authors' rule written out: for each candidate c, quantize every group with c, compute
    the mean over tokens of (X_g w - X_g ŵ)^2 with explicit products, keep the least per (row,
    group), the later candidate on ties (values within 1e-9 of the group's scale)."""
    rows, width = w.shape
    g = int(cfg_w.group_size)
    n_gpr = -(-width // g)
    n_cand = len(cfg_w.candidate_set.formats)
    x64 = x.astype(np.float64)
    err = np.empty((rows, n_gpr, n_cand))
    for c in range(n_cand):
        w_hat = quantize_with_choice(w, cfg_w, np.full(rows * n_gpr, c)).dequantized
        for j in range(n_gpr):
            cols = slice(j * g, min(width, (j + 1) * g))
            ref = x64[:, cols] @ w[:, cols].T.astype(np.float64)  # (tokens, rows)
            out = x64[:, cols] @ w_hat[:, cols].T.astype(np.float64)
            err[:, j, c] = ((ref - out) ** 2).mean(axis=0)
    flat = err.reshape(rows * n_gpr, n_cand)
    scale = np.maximum(flat.max(axis=1), 1e-300)
    return pick_last_min(flat, 1e-9 * scale), flat


def _check_equal(w, x, group_size=64, scale_format="fp16"):
    cfg_w, cfg_o = _configs(group_size, scale_format)
    r = quantize(w, cfg_o, calibration=x)
    ref, err = direct_choice(w, x, cfg_w)
    bad = np.flatnonzero(r.choice != ref)
    assert bad.size == 0, (
        f"{bad.size} groups differ, first {bad[:5]}: got {r.choice[bad[:5]]}, "
        f"direct {ref[bad[:5]]}, errors {err[bad[:1]]}"
    )
    # the dequantized tensor is the chosen candidate's
    again = quantize_with_choice(w, cfg_w, r.choice)
    np.testing.assert_array_equal(r.dequantized, again.dequantized)
    return r, err


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_inputs_choose_as_the_direct_computation(seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((40, 192)).astype(np.float32)
    # channel scales spread over two decades, as LLM activations are
    x = (rng.standard_normal((300, 192)) * np.exp(rng.uniform(-2, 2, 192))).astype(np.float32)
    r, _ = _check_equal(w, x)
    # output-MSE differs from weight-MSE somewhere: the activations matter
    assert (r.choice != quantize(w, _configs(64)[0]).choice).any()


def test_padding_few_tokens_and_heavy_tails():
    rng = np.random.default_rng(3)
    w = rng.standard_t(3, (24, 200)).astype(np.float32)  # 200 = 3 * 64 + 8: a padded group
    x = rng.standard_normal((20, 200)).astype(np.float32)  # 20 tokens < g: H is singular
    x[:, 5] *= 1e3  # one massive-activation channel
    _check_equal(w, x)
    _check_equal(w, x, group_size=32, scale_format="fp32")
    _check_equal(w, x, group_size=64, scale_format="int8")  # int8 scale-of-scales per tensor


def test_exact_ties_go_to_the_later_candidate():
    rng = np.random.default_rng(4)
    n_cand = 16
    w = rng.standard_normal((6, 128)).astype(np.float32)
    w[1, :64] = 0.0  # all-zero group: scale 0, every candidate gives 0 (error 0)
    x = rng.standard_normal((50, 128)).astype(np.float32)
    x[:, 64:] = 0.0  # group 1 has no activation: every candidate has output error 0
    x[:, 1:64] = 0.0  # group 0 sees channel 0 only: candidates equal there tie exactly
    r, err = _check_equal(w, x)
    err = err.reshape(6, 2, n_cand)
    choice = r.choice.reshape(6, 2)
    assert (err[:, 1] == 0).all() and (choice[:, 1] == n_cand - 1).all()
    for row in range(6):  # group 0: the last of the candidates sharing the least error
        tied = np.flatnonzero(err[row, 0] == err[row, 0].min())
        assert choice[row, 0] == tied[-1]
    assert (err[1, 0] == 0).all() and choice[1, 0] == n_cand - 1
    # weight-MSE breaks the same exact tie the other way (earlier candidate)
    assert quantize(w, _configs(64)[0]).choice.reshape(6, 2)[1, 0] == 0


def test_pick_last_min_is_the_sequential_less_or_equal_rule():
    rng = np.random.default_rng(5)
    err = rng.integers(0, 4, (500, 7)).astype(float)  # many exact ties
    best = np.full(500, np.inf)
    seq = np.zeros(500, dtype=np.int64)
    for c in range(7):  # the authors' update: mse <= min_mse takes the newer candidate
        take = err[:, c] <= best
        best[take], seq[take] = err[take, c], c
    np.testing.assert_array_equal(pick_last_min(err), seq)


def test_gram_calibration_is_shared_and_equal_to_activations():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((16, 128)).astype(np.float32)
    x = rng.standard_normal((64, 128)).astype(np.float32)
    cfg = _configs(64)[1]
    cal = GramCalibration.from_activations(x, group_size=64)
    np.testing.assert_array_equal(
        quantize(w, cfg, calibration=cal).choice, quantize(w, cfg, calibration=x).choice
    )


def test_config_round_trip_and_bits():
    cfg_w, cfg_o = _configs(64)
    assert cfg_o.selection is Selection.OUTPUT_MSE and cfg_w.selection is Selection.WEIGHT_MSE
    assert QuantConfig.from_dict(cfg_o.to_dict()) == cfg_o
    assert cfg_o.to_dict()["selection"] == "output_mse"
    assert cfg_o.bits_per_element == cfg_w.bits_per_element == 4 + (16 + 4) / 64
    assert QuantConfig(candidates=CANDIDATES, selection="output-mse") == QuantConfig(
        candidates=CANDIDATES, selection="output_mse"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"selection": "oracle"}, "selection: must be one of weight_mse, output_mse, got"),
        (
            {"selection": "output_mse", "clip_search": True},
            "clip_search: must be false with selection output_mse, got True",
        ),
        (
            {"selection": "output_mse", "granularity": "channel"},
            "granularity: must be group with selection output_mse, got 'channel'",
        ),
        ({"selection": "output_mse", "candidates": "mxfp4"}, "candidates: must be symmetric"),
    ],
)
def test_bad_configs(kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        QuantConfig(**{"candidates": CANDIDATES, **kwargs})


def test_bad_calibration():
    w = np.ones((4, 128), np.float32)
    cfg_w, cfg_o = _configs(64)
    with pytest.raises(InputError, match="calibration: is required with selection output_mse"):
        quantize(w, cfg_o)
    with pytest.raises(
        InputError, match="calibration: must have in_features=128 columns, got 100"
    ):
        quantize(w, cfg_o, calibration=np.ones((8, 100), np.float32))
    bad = np.ones((8, 128), np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(InputError, match="calibration: must be finite, got '1 NaN"):
        quantize(w, cfg_o, calibration=bad)
    with pytest.raises(InputError, match="calibration: must be a 2-d array"):
        quantize(w, cfg_o, calibration=np.ones(128, np.float32))
    with pytest.raises(InputError, match="calibration: is only used with selection output_mse"):
        quantize(w, cfg_w, calibration=np.ones((8, 128), np.float32))
    with pytest.raises(InputError, match="axis: must be the last axis"):
        quantize(w, QuantConfig(**{**cfg_o.to_dict(), "axis": 0}), calibration=np.ones((8, 4)))


@pytest.mark.parametrize("threads", [1, 2])
def test_gram_matrices_equal_each_group_product_on_any_thread_count(threads):
    import numba

    from mant.output_select import gram_matrices

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((1500, 200)) * np.exp(rng.normal(size=200))).astype(np.float32)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        gram = gram_matrices(x, group_size=64)
    finally:
        numba.set_num_threads(before)
    x64 = x.astype(np.float64)
    for j in range(4):  # the last group (200 = 3 x 64 + 8) is zero-padded
        cols = x64[:, j * 64 : (j + 1) * 64]
        want = np.zeros((64, 64))
        want[: cols.shape[1], : cols.shape[1]] = cols.T @ cols
        np.testing.assert_allclose(gram[j], want, rtol=1e-12, atol=1e-9)
