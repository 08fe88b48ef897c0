"""Real-time KV-cache quantization: statistics, threshold LUTs, grouping and bad input."""

from __future__ import annotations

import itertools
import json
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from mant.candidates import candidate_set
from mant.errors import InputError
from mant.kv import (
    Grouping,
    KVQuantConfig,
    Selection,
    Statistic,
    ThresholdRule,
    Thresholds,
    _group,
    _min_mse_partition,
    _ungroup,
    calibrate_thresholds,
    candidate_errors,
    default_thresholds,
    group_statistic,
    kv_groups,
    normalized_variance,
    quantize_kv,
    select_realtime,
    select_variance,
    synthetic_groups,
    thresholds_for,
)
from mant.quantize import quantize_groups

UNICORE = "mant-unicore16"


@pytest.fixture(scope="module")
def mixture() -> dict[str, np.ndarray]:
    """The mant.md §7.1 mixture: 3,000 groups of 64 to calibrate, 3,000 more held out."""
    train = synthetic_groups(3000, 64, seed=0)
    held = synthetic_groups(3000, 64, seed=1)
    return {
        "train": train,
        "held": held,
        "held_err": candidate_errors(held, UNICORE, scale_format="fp32"),
        "train_err": candidate_errors(train, UNICORE, scale_format="fp32"),
    }


def _ratio(errors: np.ndarray, pick: np.ndarray) -> float:
    return float(errors[np.arange(errors.shape[0]), pick].sum() / errors.min(axis=1).sum())


@pytest.mark.parametrize("rule", list(ThresholdRule))
def test_realtime_within_1_25x_of_oracle_on_the_mixture(
    mixture: dict, rule: ThresholdRule
) -> None:
    # mant.md §7.1: the reference midpoint rule gets 1.12x; the issue asks for <= 1.25x
    th = calibrate_thresholds(
        mixture["train"], UNICORE, "rms_absmax", rule=rule, scale_format="fp32"
    )
    held = _ratio(mixture["held_err"], select_realtime(mixture["held"], th))
    best_fixed = float(mixture["held_err"].sum(axis=0).min() / mixture["held_err"].min(1).sum())
    assert 1.0 <= th.mse_ratio < 1.25
    assert 1.0 <= held < 1.25, f"{rule}: held-out MSE / oracle = {held:.3f}"
    assert held < best_fixed  # mant.md §7.1: the best single type is 1.40x


def test_min_mse_rule_beats_midpoint_on_calibration_data(mixture: dict) -> None:
    args = (mixture["train"], UNICORE, "rms_absmax")
    dp = calibrate_thresholds(*args, rule="min_mse", scale_format="fp32")
    mid = calibrate_thresholds(*args, rule="midpoint", scale_format="fp32")
    assert dp.mse_ratio <= mid.mse_ratio


def test_optimal_a_correlates_with_rms_over_absmax(mixture: dict) -> None:
    # mant.md §7.1 table: Spearman rho of the optimal a with RMS/absmax = 0.909, kurtosis -0.897
    oracle = mixture["train_err"].argmin(axis=1)  # set order: a = 0 .. 120, then INT4
    for stat, sign in (
        ("rms_absmax", 1),
        ("meanabs_absmax", 1),
        ("std_absmax", 1),
        ("kurtosis", -1),
    ):
        rho = spearmanr(group_statistic(mixture["train"], stat), oracle).statistic
        assert sign * rho > 0.85, (stat, rho)


def test_group_statistic_known_values() -> None:
    flat = np.array([[1.0, -1.0, 1.0, -1.0]])
    spike = np.array([[2.0, 0.0, 0.0, 0.0]])
    # by hand: spike rms = 2/2 = 1, mean|x| = 1/2, absmax 2; E[x^4]/E[x^2]^2 = 4/1
    expect = {
        "rms_absmax": (1.0, 0.5),
        "meanabs_absmax": (1.0, 0.25),
        "std_absmax": (1.0, np.sqrt(1 - 0.25) / 2),
        "crest": (1.0, 2.0),
        "kurtosis": (1.0, 4.0),
    }
    for stat, (f, s) in expect.items():
        got = group_statistic(np.concatenate([flat, spike, np.zeros((1, 4))]), stat)
        np.testing.assert_allclose(got, [f, s, 0.0], err_msg=stat)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    scale=st.floats(1e-3, 1e3),
    stat=st.sampled_from([s.value for s in Statistic]),
)
def test_selection_is_scale_invariant_and_follows_the_lut(
    seed: int, scale: float, stat: str
) -> None:
    groups = synthetic_groups(64, 32, seed=seed)
    edges = np.sort(np.random.default_rng(seed).uniform(0.1, 5.0, 4))
    th = Thresholds(
        statistic=stat,
        candidate_set=UNICORE,
        candidates=("mant4_a0", "mant4_a17", "mant4_a60", "mant4_a120", "int4"),
        choices=(0, 3, 8, 14, 15),
        edges=tuple(edges),
        group_size=32,
    )
    pick = select_realtime(groups, th)
    value = group_statistic(groups, stat)
    position = np.searchsorted(edges, value)
    np.testing.assert_array_equal(pick, np.array(th.choices)[position])
    # a power-of-two scale is exact in float32, so the statistic is unchanged bit for bit
    p2 = 2.0 ** np.round(np.log2(scale))
    np.testing.assert_array_equal(select_realtime(groups * np.float32(p2), th), pick)
    order = np.argsort(value, kind="stable")
    assert np.all(np.diff(position[order]) >= 0)  # monotone in the statistic


def test_min_mse_partition_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        errors = rng.random((6, 3))
        ends, path = _min_mse_partition(errors, max_bins=100)
        assert ends.tolist() == [1, 2, 3, 4, 5, 6]
        best = min(
            sum(errors[i, c] for i, c in enumerate(seq))
            for seq in itertools.combinations_with_replacement(range(3), 6)
        )
        assert np.all(np.diff(path) >= 0)
        np.testing.assert_allclose(errors[np.arange(6), path].sum(), best)


def test_single_candidate_set_gives_a_one_entry_lut() -> None:
    th = calibrate_thresholds(synthetic_groups(200, 16), "int4", "rms_absmax")
    assert th.choices == (0,) and th.edges == ()
    assert th.mse_ratio == pytest.approx(1.0)
    assert select_realtime(synthetic_groups(5, 16), th).tolist() == [0] * 5


# --------------------------------------------------------------------------- KV tensors


def _kv(seed: int = 0, tokens: int = 100, dim: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = rng.standard_t(4, (3, tokens, dim)).astype(np.float32)
    v = rng.standard_normal((3, tokens, dim)).astype(np.float32)
    return k, v


def test_k_channel_groups_run_along_tokens_with_a_residual() -> None:
    k, _ = _kv(tokens=100)
    groups, residual = kv_groups(k, "channel", 32)
    assert residual == 100 % 32 and groups.shape == (3 * 3 * 64, 32)
    # group order: head, token block, channel
    np.testing.assert_array_equal(groups[0], k[0, 0:32, 0])
    np.testing.assert_array_equal(groups[64 + 5], k[0, 32:64, 5])
    np.testing.assert_array_equal(groups[3 * 64], k[1, 0:32, 0])


def test_v_token_groups_run_along_head_dim() -> None:
    _, v = _kv(tokens=10)
    groups, residual = kv_groups(v, "token", 32)
    assert residual == 0 and groups.shape == (3 * 10 * 2, 32)
    np.testing.assert_array_equal(groups[3], v[0, 1, 32:64])


def _kivi(**kwargs) -> KVQuantConfig:
    """KIVI's layout with the calibrated LUT over mant-unicore16 (the former default)."""
    base = {"candidates": UNICORE, "k_grouping": "channel", "v_grouping": "token"}
    return KVQuantConfig(**{**base, "selection": "lut", **kwargs})


def test_quantize_kv_keeps_residual_tokens_exact_and_matches_groupwise() -> None:
    k, v = _kv(tokens=100)
    cfg = _kivi(group_size=32, scale_format="fp32")
    res = quantize_kv(k, v, cfg, compare_oracle=True)
    assert res.k.residual_tokens == 4
    np.testing.assert_array_equal(res.k.dequantized[:, 96:], k[:, 96:])
    assert not np.array_equal(res.k.dequantized[:, :96], k[:, :96])
    # the K groups are exactly mant.quantize with the real-time choice
    groups, _ = kv_groups(k, "channel", 32)
    q = quantize_groups(groups, UNICORE, choice=res.k.choice, scale_format="fp32")
    again, _ = kv_groups(res.k.dequantized, "channel", 32)
    np.testing.assert_array_equal(again, q.dequantized)
    assert res.k.choice.tolist() == select_realtime(groups, cfg.resolved_thresholds()).tolist()
    # per group the oracle is never worse, so the ratios are >= 1
    assert np.all(res.k.group_error >= res.k.oracle_group_error * (1 - 1e-6))
    assert res.oracle_ratio >= 1.0 and res.k.oracle_ratio >= 1.0 and res.v.oracle_ratio >= 1.0
    assert sum(res.v.choice_histogram().values()) == res.v.n_groups == 3 * 100 * 2


def test_oracle_selection_has_ratio_one_and_matches_the_search() -> None:
    k, v = _kv(seed=2)
    res = quantize_kv(k, v, _kivi(selection="oracle"), compare_oracle=True)
    assert res.oracle_ratio == pytest.approx(1.0)
    groups, _ = kv_groups(v, "token", 64)
    assert (
        res.v.choice.tolist()
        == quantize_groups(groups, UNICORE, scale_format="fp16").choice.tolist()
    )


def test_authors_layout_is_the_default_and_short_caches() -> None:
    k, v = _kv(tokens=20)
    res = quantize_kv(k, v, KVQuantConfig())
    assert res.k.grouping is Grouping.TOKEN and res.k.n_groups == 3 * 20
    # 20 tokens < g = 64: every V channel group is still in the residual buffer
    assert res.v.n_groups == 0 and res.v.residual_tokens == 20
    np.testing.assert_array_equal(res.v.dequantized, v)
    assert res.v.rel_mse == 0.0


def _authors_pick(groups: np.ndarray) -> np.ndarray:
    """pseudo_quantize_mant's masks, written out (var with ddof=1 of x / absmax)."""
    var = np.var(groups / np.abs(groups).max(axis=1, keepdims=True), axis=1, ddof=1)
    return np.where(var < 0.05, 0, np.where(var <= 0.25, 1, 2))


def test_variance_rule_is_the_authors_and_their_layout_the_default() -> None:
    k, v = _kv(seed=11, tokens=128)
    k[0, :, 5] *= 30.0  # an outlier channel: spiky K token groups, a = 0
    v[1] = np.sign(v[1])  # flat groups, var(x / absmax) ~ 1: INT4
    res = quantize_kv(k, v, KVQuantConfig(), compare_oracle=True)
    assert res.k.candidate_names == ("mant4_a0", "mant4_a25", "int4")
    kg, _ = kv_groups(k, "token", 64)
    vg, vres = kv_groups(v, "channel", 64)
    assert vres == 0 and res.v.residual_tokens == 0
    np.testing.assert_array_equal(res.k.choice, _authors_pick(kg))
    np.testing.assert_array_equal(res.v.choice, _authors_pick(vg))
    assert set(res.k.choice_histogram()) >= {"mant4_a0", "mant4_a25"}
    assert set(res.v.choice_histogram()) >= {"mant4_a25", "int4"}
    q = quantize_groups(kg, "mant-kv3", choice=res.k.choice, scale_format="fp16")
    np.testing.assert_array_equal(kv_groups(res.k.dequantized, "token", 64)[0], q.dequantized)
    assert 1.0 <= res.oracle_ratio < 1.5
    # boundaries: 0.05 and 0.25 themselves pick a = 25
    assert select_variance(np.array([[1.0, -1.0] * 2]), "mant-kv3").tolist() == [2]
    both = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.5, 0.0, 0.0]])
    var = normalized_variance(both)
    np.testing.assert_allclose(var, [0.25, np.var([1, 0.5, 0, 0], ddof=1)])
    assert select_variance(both, "mant-kv3").tolist() == [1, 1]


def test_all_zero_groups_give_zeros_not_nan() -> None:
    k, v = _kv()
    k[1] = 0.0
    v[:] = 0.0
    res = quantize_kv(k, v, _kivi(), compare_oracle=True)
    assert np.all(np.isfinite(res.k.dequantized)) and np.all(np.isfinite(res.v.dequantized))
    np.testing.assert_array_equal(res.k.dequantized[1], 0.0)
    np.testing.assert_array_equal(res.v.dequantized, 0.0)
    assert res.v.rel_mse == 0.0 and res.v.oracle_ratio == 1.0
    assert np.isfinite(res.rel_mse) and np.isfinite(res.oracle_ratio)


def test_config_round_trip_and_bits_per_element() -> None:
    # mant.md §4 table: FP16 scale + 4-bit index at g = 64 -> 4.3125; 8-bit scale -> 4.1875
    assert _kivi().bits_per_element == 4.3125
    assert _kivi(scale_format="e8m0").bits_per_element == 4.1875
    assert KVQuantConfig().bits_per_element == 4 + 18 / 64  # mant-kv3: 2 selector bits
    th = default_thresholds(UNICORE, "kurtosis", 64)
    cfg = KVQuantConfig(
        candidates=UNICORE, statistic="kurtosis", thresholds=th, selection="realtime"
    )
    data = json.loads(json.dumps(cfg.to_dict()))
    assert KVQuantConfig.from_dict(data) == cfg
    assert cfg.selection is Selection.LUT and cfg.statistic is Statistic.KURTOSIS


def test_shipped_thresholds_load_with_provenance() -> None:
    text = resources.files("mant").joinpath("data", "kv_thresholds.json").read_text()
    doc = json.loads(text)
    assert {"source", "created", "thresholds", "evaluation"} <= set(doc)
    for stat in Statistic:
        th = default_thresholds(UNICORE, stat, 64)
        assert th.statistic is stat and th.group_size == 64 and th.source
        assert th.mse_ratio is not None and 1.0 <= th.mse_ratio < 1.25
        assert len(th.choices) == len(th.edges) + 1 >= 2
    with pytest.raises(InputError, match="shipped"):
        default_thresholds(UNICORE, "rms_absmax", 48)


def _paths(exc: pytest.ExceptionInfo[InputError]) -> set[str]:
    return {i.path for i in exc.value.issues}


def test_bad_config_collects_every_issue() -> None:
    with pytest.raises(InputError) as exc:
        KVQuantConfig(
            group_size=0,
            k_grouping="diagonal",
            selection="guess",
            statistic="median",
            scale_format="fp12",
            candidates="no-such-set",
        )
    assert _paths(exc) == {
        "kv.group_size",
        "kv.k_grouping",
        "kv.selection",
        "kv.statistic",
        "kv.scale_format",
        "kv.candidates",
    }
    with pytest.raises(InputError, match="valid keys"):
        KVQuantConfig.from_dict({"group_size": 64, "grup": 1})
    with pytest.raises(InputError) as exc:
        _kivi(statistic="crest", thresholds=default_thresholds(UNICORE, "rms_absmax"))
    assert _paths(exc) == {"kv.thresholds.statistic"}
    with pytest.raises(InputError) as exc:
        KVQuantConfig(candidates=UNICORE, selection="variance", v_staging_bits=1)  # no a = 25
    assert _paths(exc) == {"kv.selection", "kv.v_staging_bits"}
    # left unset, the selection is the LUT for a set without the authors' three types
    assert KVQuantConfig(candidates=UNICORE).selection.value == "lut"


def test_bad_thresholds() -> None:
    with pytest.raises(InputError) as exc:
        Thresholds(
            statistic="rms_absmax",
            candidate_set=UNICORE,
            candidates=("a", "b", "c"),
            choices=(0, 1, 2),
            edges=(0.5, 0.2),
            group_size=64,
        )
    assert _paths(exc) == {"thresholds.edges"}


def test_bad_tensors() -> None:
    k, v = _kv()
    cfg = _kivi()
    bad = k.copy()
    bad[0, 3, 7] = np.nan
    with pytest.raises(InputError, match=r"k: must be finite .*nan at index \(0, 3, 7\)"):
        quantize_kv(bad, v, cfg)
    bad_v = v.copy()
    bad_v[1, 1, 1] = np.inf
    with pytest.raises(InputError) as exc:
        quantize_kv(bad, bad_v, cfg)
    assert _paths(exc) == {"k", "v"}
    with pytest.raises(InputError, match="floating-point"):
        quantize_kv(k.astype(np.int32), v, cfg)
    with pytest.raises(InputError, match="leading shape"):
        quantize_kv(k, v[:, :50], cfg)
    with pytest.raises(InputError, match="multiple of group_size=64"):
        quantize_kv(k, v[..., :48], cfg)
    with pytest.raises(InputError, match="finite"):
        calibrate_thresholds(np.array([[1.0, np.nan]]), UNICORE)
    with pytest.raises(InputError, match="non-zero group"):
        calibrate_thresholds(np.zeros((4, 8)), UNICORE)


# --------------------------------------------------------------------------- any candidate set

SHIPPED_SETS = (UNICORE, "mant-dense", "ant", "olive")


@pytest.mark.parametrize("fmt", ["int4", "int4_asym", "mant4_a17", "int8"])
def test_one_format_realtime_needs_no_table_and_equals_oracle(fmt: str) -> None:
    k, v = _kv(seed=3)
    realtime = KVQuantConfig(candidates=fmt, selection="realtime")
    assert realtime.selection is Selection.LUT and not realtime.needs_calibration
    lut = realtime.resolved_thresholds()
    assert lut.choices == (0,) and lut.edges == () and lut.candidates == (fmt,)
    got = quantize_kv(k, v, realtime, compare_oracle=True)
    ref = quantize_kv(k, v, KVQuantConfig(candidates=fmt, selection="oracle"))
    assert got.oracle_ratio == 1.0
    for a, b in ((got.k, ref.k), (got.v, ref.v)):
        np.testing.assert_array_equal(a.dequantized, b.dequantized)
        assert a.choice.max() == 0
    assert KVQuantConfig.from_dict(realtime.to_dict()) == realtime


def test_one_format_kv_recipe_needs_no_selection() -> None:
    from mant.recipe import Recipe

    cfg = Recipe.from_dict({"name": "x", "key": "int4_asym:g64", "value": "int4_asym:g64"})
    cfg = cfg.kv_config()
    assert cfg.selection is Selection.ORACLE  # one format: nothing to select
    k, v = _kv(seed=4)
    assert quantize_kv(k, v, cfg, compare_oracle=True).oracle_ratio == 1.0


def _shipped_doc() -> dict:
    return json.loads(resources.files("mant").joinpath("data", "kv_thresholds.json").read_text())


@pytest.mark.parametrize("name", SHIPPED_SETS)
def test_every_shipped_set_has_tables_with_provenance_and_held_out_ratio(name: str) -> None:
    for g, stat in itertools.product((32, 64, 128), Statistic):
        th = default_thresholds(name, stat, g)
        assert (th.candidate_set, th.statistic, th.group_size) == (name, stat, g)
        # provenance: the calibration script's real-K/V protocol (windows 0..1, window 2 held out)
        assert th.source.startswith("SmolLM2") and "windows 0..2" in th.source
        assert th.mse_ratio is not None and 1.0 <= th.mse_ratio < 1.25
        assert th.heldout_mse_ratio is not None and 1.0 <= th.heldout_mse_ratio <= 1.25
        # a shipped LUT names real members of its set, at their indices
        assert th.candidates == tuple(candidate_set(name).names[j] for j in th.choices)
        KVQuantConfig(
            candidates=name, group_size=g, statistic=stat, thresholds=th, selection="lut"
        )
    entries = [e for e in _shipped_doc()["evaluation"] if e["candidate_set"] == name]
    assert len(entries) == 3 * len(Statistic)


def _heldout_ratio(name: str, g: int, layers: slice) -> float:
    """Real-time / oracle squared error on SmolLM2 window 2 over the groups the calibration
    script scores: K per channel and the full (unpadded) V per-token groups."""
    from llmrun import kv_dump
    from mant.kv_calibrate import candidate_errors
    from mant.kv_select import select_realtime

    d = kv_dump(window=2)
    k, v = d["k"][layers], d["v"][layers]
    v_groups = kv_groups(v, "token", g)[0]
    width = v.shape[-1] * v.shape[-3]
    if g > v.shape[-1] and width % g:  # drop each token's zero-padded last group
        per_token = -(-width // g)
        v_groups = v_groups[np.arange(v_groups.shape[0]) % per_token != per_token - 1]
    groups = np.concatenate([kv_groups(k, "channel", g)[0], v_groups])
    err = candidate_errors(groups, name, scale_format=KVQuantConfig().scale_format)
    pick = select_realtime(groups, default_thresholds(name, "rms_absmax", g))
    return float(err[np.arange(len(groups)), pick].sum() / err.min(axis=1).sum())


def _needs_smollm2() -> None:
    """Fetches the real model and text when they are not cached (idempotent; never skips)."""
    from llmrun.assets import fetch

    fetch(["smollm2-135m", "janeaustenr"], log=lambda *_: None)


@pytest.mark.slow
@pytest.mark.parametrize("g", [32, 64, 128])
@pytest.mark.parametrize("name", SHIPPED_SETS)
def test_shipped_lut_reproduces_its_held_out_ratio_on_real_smollm2_kv(name: str, g: int) -> None:
    """The JSON's held-out figure (window 2, all 30 layers) is reproducible and <= 1.25."""
    _needs_smollm2()
    shipped = default_thresholds(name, "rms_absmax", g).heldout_mse_ratio
    ratio = _heldout_ratio(name, g, slice(None))
    assert ratio == pytest.approx(shipped, abs=2e-3)
    assert ratio <= 1.25


def _family() -> dict:
    return {"family": "geometric", "n": 8, "a_min": 1, "a_max": 120, "include_int": True}


def test_on_demand_calibration_is_cached_by_content_and_deterministic(
    tmp_path, monkeypatch
) -> None:
    import mant.kv_calibrate as ks

    calls: list[int] = []
    real = ks.calibrate_thresholds

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ks, "calibrate_thresholds", counting)
    monkeypatch.setattr(ks, "_MEMO", {})
    train = synthetic_groups(2000, 64, seed=10)
    first = thresholds_for(_family(), "rms_absmax", 64, calibration=train, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.json"))
    assert len(calls) == 1 and len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    assert Thresholds.from_dict(json.loads(files[0].read_text())) == first
    # same content again: served from memory, then (memo cleared) from the file, not recomputed
    assert (
        thresholds_for(_family(), "rms_absmax", 64, calibration=train.copy(), cache_dir=tmp_path)
        is first
    )
    monkeypatch.setattr(ks, "_MEMO", {})
    assert (
        thresholds_for(_family(), "rms_absmax", 64, calibration=train, cache_dir=tmp_path) == first
    )
    assert len(calls) == 1
    # deterministic: a fresh calibration elsewhere gives the same table
    monkeypatch.setattr(ks, "_MEMO", {})
    other = tmp_path / "other"
    assert thresholds_for(_family(), "rms_absmax", 64, calibration=train, cache_dir=other) == first
    assert len(calls) == 2
    # other data or another statistic is another key
    thresholds_for(_family(), "rms_absmax", 64, calibration=train[:1500], cache_dir=tmp_path)
    thresholds_for(_family(), "crest", 64, calibration=train, cache_dir=tmp_path)
    assert len(calls) == 4 and len(list(tmp_path.glob("*.json"))) == 3
    # the calibrated LUT generalises: held-out real-time error within 1.25x of the oracle
    held = synthetic_groups(2000, 64, seed=11)
    errors = candidate_errors(held, _family(), scale_format="fp16")
    assert 1.0 <= _ratio(errors, select_realtime(held, first)) <= 1.25


def test_thresholds_for_prefers_tables_that_need_no_data(tmp_path) -> None:
    groups = synthetic_groups(300, 64, seed=2)
    for name in SHIPPED_SETS:
        got = thresholds_for(name, "rms_absmax", 64, calibration=groups, cache_dir=tmp_path)
        assert got == default_thresholds(name, "rms_absmax", 64)
    assert thresholds_for("int4", "crest", 32, cache_dir=tmp_path).choices == (0,)
    assert not list(tmp_path.iterdir())  # nothing was calibrated
    with pytest.raises(InputError, match="calibrat"):
        thresholds_for(_family(), "rms_absmax", 64, cache_dir=tmp_path)
    with pytest.raises(InputError, match="group_size=64"):
        thresholds_for(_family(), "rms_absmax", 64, calibration=groups[:, :32], cache_dir=tmp_path)


def test_family_config_calibrates_on_other_kv_then_quantizes_and_round_trips(tmp_path) -> None:
    cfg = KVQuantConfig(candidates=_family(), group_size=32, selection="lut")
    assert cfg.needs_calibration
    with pytest.raises(InputError, match="no shipped thresholds"):
        quantize_kv(*_kv(seed=5), cfg)
    ready = cfg.calibrated(*_kv(seed=6, tokens=512), cache_dir=tmp_path)
    assert not ready.needs_calibration and ready.thresholds is not None
    assert ready.thresholds.candidate_set == candidate_set(_family()).name
    assert ready.calibrated(*_kv(seed=7), cache_dir=tmp_path) is ready  # nothing left to do
    res = quantize_kv(*_kv(seed=5), ready, compare_oracle=True)
    assert 1.0 <= res.oracle_ratio <= 1.25
    assert KVQuantConfig.from_dict(json.loads(json.dumps(ready.to_dict()))) == ready
    # a LUT of another set is refused, even with the same statistic and g
    with pytest.raises(InputError, match="same members"):
        _kivi(group_size=32, thresholds=ready.thresholds)


# ---------------------------------------------------------------------- token groups > head_dim


def _old_token_path(x: np.ndarray, cfg: KVQuantConfig) -> dict[str, np.ndarray]:
    """The token grouping before groups could span heads: a plain reshape along head_dim."""
    groups = x.reshape(-1, cfg.group_size)
    choice = select_realtime(groups, cfg.resolved_thresholds())
    q = quantize_groups(groups, UNICORE, choice=choice, scale_format=cfg.scale_format)
    return {
        "dequantized": q.dequantized.reshape(x.shape),
        "choice": choice,
        "group_error": q.group_error * cfg.group_size,
    }


@pytest.mark.parametrize("g", [8, 16, 32, 64])
def test_token_groups_that_divide_head_dim_are_unchanged(g: int) -> None:
    k, v = _kv(seed=3, tokens=70)
    lut = Thresholds(  # no shipped table below g = 32: a hand-made one
        statistic="rms_absmax",
        candidate_set=UNICORE,
        candidates=("mant4_a0", "mant4_a17", "mant4_a60", "mant4_a120", "int4"),
        choices=(0, 3, 8, 14, 15),
        edges=(0.2, 0.3, 0.4, 0.5),
        group_size=g,
    )
    cfg = _kivi(group_size=g, k_grouping="token", thresholds=None if g >= 32 else lut)
    res = quantize_kv(k, v, cfg)
    for x, got in ((k, res.k), (v, res.v)):
        saved = _old_token_path(x, cfg)
        np.testing.assert_array_equal(got.dequantized, saved["dequantized"])
        np.testing.assert_array_equal(got.choice, saved["choice"])
        np.testing.assert_array_equal(got.group_error, saved["group_error"])


def test_v_token_groups_of_128_span_the_tokens_heads_with_padding() -> None:
    k, v = _kv(seed=4, tokens=300)  # (3 kv_heads, 300 tokens, head_dim 64): 192 values a token
    groups, residual = kv_groups(v, "token", 128)
    assert residual == 0 and groups.shape == (300 * 2, 128)
    # token t: group 2t = heads 0 and 1, group 2t+1 = head 2 then 64 padded zeros
    np.testing.assert_array_equal(groups[2 * 7], np.concatenate([v[0, 7], v[1, 7]]))
    np.testing.assert_array_equal(groups[2 * 7 + 1, :64], v[2, 7])
    np.testing.assert_array_equal(groups[1::2, 64:], 0.0)

    res128 = quantize_kv(k, v, _kivi(group_size=128), compare_oracle=True)
    res64 = quantize_kv(k, v, _kivi(group_size=64), compare_oracle=True)
    assert res128.v.dequantized.shape == v.shape and res128.k.dequantized.shape == k.shape
    assert res128.v.n_groups == 600 and res128.v.residual_tokens == 0
    assert np.all(np.isfinite(res128.v.dequantized))
    # bigger groups cost a little accuracy, never much on Gaussian V; the LUT stays near oracle
    assert res64.v.rel_mse < res128.v.rel_mse < 1.5 * res64.v.rel_mse
    assert 1.0 <= res128.v.oracle_ratio <= 1.25
    # nominal bits: padding is not counted (docs/kv_and_fused.md)
    assert res128.bits_per_element == 4 + 20 / 128
    # the padding rule: the padded group is head 2 alone, exactly as a group of 64 would be
    oracle = {"selection": "oracle", "scale_format": "fp32"}
    alone = quantize_kv(k, v, _kivi(group_size=64, **oracle)).v.dequantized
    spans = quantize_kv(k, v, _kivi(group_size=128, **oracle)).v
    np.testing.assert_array_equal(spans.dequantized[2], alone[2])
    np.testing.assert_allclose(
        spans.group_error[1::2],
        np.sum((alone[2] - v[2]) ** 2, axis=-1, dtype=np.float64),
        rtol=1e-5,
    )
    # the statistic of a padded group ignores its padding
    np.testing.assert_allclose(spans.statistic[1::2], group_statistic(v[2], "rms_absmax"))


def test_groups_must_divide_head_dim_or_be_whole_heads() -> None:
    k, v = _kv(tokens=10)
    with pytest.raises(InputError, match="v.head_dim: must be a multiple of group_size=96"):
        quantize_kv(k, v, _kivi(group_size=96))
    cfg = _kivi(group_size=256, k_grouping="token", selection="oracle")
    res = quantize_kv(k, v, cfg)  # 192 values a token: one group, 64 padded slots
    assert res.k.n_groups == res.v.n_groups == 10
    np.testing.assert_array_equal(res.v.dequantized.shape, v.shape)


@settings(max_examples=60, deadline=None)
@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    tokens=st.integers(1, 9),
    dim=st.sampled_from([4, 8, 16, 32]),
    per=st.sampled_from([1, 2, 3, 4]),
    seed=st.integers(0, 2**16),
)
def test_token_groups_round_trip_any_shape(
    lead: list[int], tokens: int, dim: int, per: int, seed: int
) -> None:
    g = dim * per if per > 1 else dim // 2  # whole heads per group, or halves of a head
    x = np.random.default_rng(seed).standard_normal((*lead, tokens, dim)).astype(np.float32)
    groups, residual, lengths = _group(x, Grouping.TOKEN, g)
    heads = lead[-1] if lead else 1  # axis -3 holds the kv_heads; a 2-d cache is one head
    width = heads * dim
    per_token = -(-width // g) if g > dim else dim // g * heads
    assert residual == 0 and groups.shape == (x.size // width * per_token, g)
    np.testing.assert_array_equal(_ungroup(groups, x, Grouping.TOKEN, g), x)
    if lengths is not None:  # padded slots are zeros, the valid ones hold every value once
        assert lengths.sum() == x.size
        valid = np.arange(g)[None, :] < lengths[:, None]
        np.testing.assert_array_equal(groups[~valid], 0.0)
    else:
        assert groups.size == x.size
    if x.ndim >= 3 and per > 1:  # a token's groups are its heads, concatenated in order
        row = np.concatenate([x[(0,) * (x.ndim - 3)][h, 0] for h in range(heads)])
        np.testing.assert_array_equal(groups[:per_token].reshape(-1)[:width], row)
    cfg = _kivi(group_size=g, k_grouping="token", selection="oracle")
    v = quantize_kv(x, x, cfg)
    assert v.v.dequantized.shape == x.shape and np.all(np.isfinite(v.v.dequantized))
    np.testing.assert_array_equal(v.k.dequantized, v.v.dequantized)
    # rounding to nearest never flips a sign: no error exceeds the absmax
    assert np.all(np.abs(v.v.dequantized - x) <= np.abs(x).max() + 1e-6)


def test_family_calibrates_on_full_groups_when_v_groups_span_heads(tmp_path) -> None:
    cfg = _kivi(candidates=_family(), group_size=128)
    ready = cfg.calibrated(*_kv(seed=8, tokens=512), cache_dir=tmp_path)
    res = quantize_kv(*_kv(seed=9), ready, compare_oracle=True)
    assert res.v.n_groups == 200 and 1.0 <= res.oracle_ratio <= 1.25
