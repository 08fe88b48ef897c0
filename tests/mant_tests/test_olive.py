"""OliVe outlier-victim pair quantization (mant.md §9.2) through the QuantConfig / quantize API."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mant.candidates import candidate_set
from mant.errors import InputError
from mant.formats import parse_format
from mant.olive import OLIVE_CLIP_RATIOS, OUTLIER_THRESHOLD, abfloat_magnitudes, ovp_victims
from mant.quantize import QuantConfig, quantize


def test_abfloat_and_normal_grids_match_mant_md():
    # mant.md §9.2: abfloat E2M1 bias 5 -> {48, .., 384} (the code for 32 excluded);
    # int4 normals <= 28, flint4 normals <= 32 (int4 / flint4 of §9.1 scaled by 32/8 and 32/16)
    assert abfloat_magnitudes().tolist() == [48, 64, 96, 128, 192, 256, 384]
    oi, of = parse_format("olive4_int"), parse_format("olive4_flint")
    assert oi.normal_magnitudes.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert of.normal_magnitudes.tolist() == [0, 2, 4, 6, 8, 12, 16, 32]
    assert (oi.normal_max, of.normal_max, oi.bits, of.bits) == (28.0, 32.0, 4, 4)
    assert oi.max_abs == 384.0 and parse_format(oi.name) == oi
    assert np.array_equal(oi.grid, -oi.grid[::-1]) and 0.0 in oi.grid


@pytest.mark.parametrize(
    ("pair", "victim"),
    [
        ((False, False), (False, False)),  # two normals: nothing pruned
        ((True, False), (False, True)),  # even outlier: odd partner is the victim
        ((False, True), (True, False)),  # odd outlier: even partner is the victim
        ((True, True), (False, True)),  # both outliers: keep the even one, zero the odd one
    ],
)
def test_ovp_rule_on_hand_made_pairs(pair, victim):
    assert tuple(ovp_victims(np.array(pair)).tolist()) == victim
    # the rule is per aligned pair: an unrelated pair in front does not move it
    both = ovp_victims(np.array([True, False, *pair]))
    assert tuple(both[2:].tolist()) == victim and both[:2].tolist() == [False, True]


def test_ovp_rule_leaves_an_unpaired_trailing_element_alone():
    assert ovp_victims(np.array([False, True, True])).tolist() == [True, False, False]


def test_quantized_pairs_follow_the_ovp_rule_exactly():
    # a 2-value group cannot hold an outlier next to a kept normal value
    x = np.array([[0.1, 0.2, 9.0, 0.3, 0.2, 0.1, 0.15, -9.5]], dtype=np.float32)
    x = np.concatenate([x, np.random.default_rng(1).normal(0, 0.1, (1, 56)).astype(np.float32)], 1)
    r = quantize(x, candidates="olive4_int", granularity="channel")
    q = r.dequantized[0]
    assert q[2] != 0 and q[3] == 0  # outlier at an even slot prunes its odd partner
    assert q[7] != 0 and q[6] == 0  # outlier at an odd slot prunes its even partner
    assert abs(q[2] - 9.0) < 0.1 * 9.0 and abs(q[7] + 9.5) < 0.1 * 9.5


def _artifact_like(row: np.ndarray, fmt_name: str) -> tuple[float, np.ndarray]:
    """Independent re-statement of OliVe's per-channel forward + clip search (mant.md §9.2).

    Nearest point of the signed normal+outlier grid by brute force, then the pair rule written
    as in the paper (victim = partner of an outlier; both outliers -> odd zeroed).
    """
    fmt = parse_format(fmt_name)
    grid = np.asarray(fmt.grid)
    x = row.astype(np.float64)
    base = max(abs(x.mean() + 3 * x.std(ddof=1)), abs(x.mean() - 3 * x.std(ddof=1)))
    best = (np.inf, None)
    for p in np.arange(75, 250, 2) / 100:
        s = float(np.float32(base * p / fmt.normal_max))
        q = grid[np.argmin(np.abs(x[:, None] / s - grid[None, :]), axis=1)]
        out = np.abs(q) > 32
        for j in range(0, len(q) - 1, 2):
            if out[j]:
                q[j + 1] = 0
            elif out[j + 1]:
                q[j] = 0
        err = np.mean((q * s - x) ** 2)
        if err < best[0]:
            best = (err, q * s)
    return best


@pytest.mark.parametrize("fmt", ["olive4_int", "olive4_flint"])
def test_per_channel_matches_an_independent_restatement(fmt):
    w = np.random.default_rng(2).standard_t(2.5, (6, 128)).astype(np.float32)
    r = quantize(w, candidates=fmt, granularity="channel", scale_format="fp32")  # as the artifact
    for c in range(w.shape[0]):
        err, deq = _artifact_like(w[c], fmt)
        assert r.group_error[c] == pytest.approx(err, rel=1e-9)
        np.testing.assert_allclose(r.dequantized[c], deq, rtol=1e-6, atol=1e-7)
    assert set(np.round(r.clip_ratio, 2)) <= set(np.round(OLIVE_CLIP_RATIOS, 2))


def test_codes_decode_to_the_dequantized_values():
    w = np.random.default_rng(3).standard_t(2, (16, 64)).astype(np.float32)
    r = quantize(w, candidates="olive-ovp", group_size=32)
    names = r.candidates
    grids = [parse_format(n).grid for n in names]
    codes = r.codes.reshape(-1, 32)
    for gi in range(r.n_groups):
        grid = grids[r.choice[gi]]
        np.testing.assert_allclose(
            grid[codes[gi]] * r.scales[gi], r.dequantized.reshape(-1, 32)[gi], rtol=1e-6
        )


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        (4, 32),
        elements=st.floats(-1e3, 1e3, allow_nan=False, width=32),
    )
)
def test_every_pair_holds_at_most_one_nonzero_outlier(x):
    r = quantize(x, candidates="olive-ovp", group_size=32)
    units = np.zeros_like(r.dequantized.reshape(-1, 32), dtype=np.float64)
    live = r.scales > 0
    units[live] = r.dequantized.reshape(-1, 32)[live] / r.scales[live, None]
    outlier = np.abs(units) > OUTLIER_THRESHOLD * (1 + 1e-6)
    even, odd = units[:, 0::2], units[:, 1::2]
    assert not np.any(outlier[:, 0::2] & (odd != 0))
    assert not np.any(outlier[:, 1::2] & (even != 0))
    assert np.all(np.isfinite(r.dequantized))


def test_outliers_are_kept_better_than_int4_on_a_heavy_tailed_tensor():
    # Gaussian weights with 0.5% outliers 10-30x larger, one isolated per pair at most
    rng = np.random.default_rng(4)
    w = rng.standard_normal((256, 512)).astype(np.float32)
    mask = np.zeros(w.shape, bool)
    mask[:, 0::2] = rng.random((256, 256)) < 0.01
    w[mask] *= rng.uniform(10, 30, int(mask.sum())).astype(np.float32)
    olive = quantize(w, candidates="olive-ovp", granularity="channel")
    int4 = quantize(w, candidates="int4", granularity="channel")
    int4_clip = quantize(w, candidates="int4", granularity="channel", clip_search=True)
    assert olive.rel_mse < 0.5 * min(int4.rel_mse, int4_clip.rel_mse)

    def outlier_rel(r):
        return float(np.sum((r.dequantized - w)[mask] ** 2) / np.sum(w[mask] ** 2))

    assert outlier_rel(olive) < min(outlier_rel(int4), outlier_rel(int4_clip))
    normal = ~mask
    normal_err = np.sum((olive.dequantized - w)[normal] ** 2)
    assert normal_err < np.sum((int4.dequantized - w)[normal] ** 2)


def test_config_accounting_and_validation():
    cfg = QuantConfig(candidates="olive-ovp", group_size=64, scale_format="fp16")
    assert cfg.bits_per_element == 4 + (16 + 1) / 64  # fp16 scale + 1 selector bit per group
    assert QuantConfig.from_dict(cfg.to_dict()) == cfg
    assert candidate_set("olive-ovp").names == ("olive4_int", "olive4_flint")
    with pytest.raises(InputError, match="even"):
        QuantConfig(candidates="olive4_int", group_size=33)
    with pytest.raises(InputError, match="mixed"):
        candidate_set(["olive4_int", "int4"])
    with pytest.raises(InputError):
        parse_format("olive8_int")


def test_all_zero_and_padded_groups():
    x = np.zeros((2, 40), np.float32)
    x[1, :32] = np.random.default_rng(5).standard_normal(32)
    x[1, 2:4] = [200.0, 2.5]
    r = quantize(x, candidates="olive-ovp", group_size=32)
    assert np.all(r.dequantized[0] == 0) and np.all(np.isfinite(r.dequantized))
    assert r.dequantized.shape == x.shape
    assert r.dequantized[1, 3] == 0  # the partner of the outlier 200 is pruned
    assert r.dequantized[1, 2] == pytest.approx(200.0, rel=0.15)
    assert abs(r.dequantized[1, 2]) > OUTLIER_THRESHOLD * r.scales[1]
    assert r.scales[0] == 0.0  # all-zero group: scale 0, exact zeros


def test_a_given_choice_is_respected_and_matches_the_single_format():
    from mant.quantize import quantize_groups

    g = np.random.default_rng(6).standard_t(2, (8, 32)).astype(np.float32)
    forced = quantize_groups(g, "olive-ovp", choice=np.ones(8, dtype=np.int64))
    alone = quantize_groups(g, "olive4_flint")
    assert forced.choice.tolist() == [1] * 8
    np.testing.assert_array_equal(forced.dequantized, alone.dequantized)
    free = quantize_groups(g, "olive-ovp")
    assert np.all(free.group_error <= forced.group_error)
    with pytest.raises(InputError, match="choice"):
        quantize_groups(g, "olive-ovp", choice=np.full(8, 2))
