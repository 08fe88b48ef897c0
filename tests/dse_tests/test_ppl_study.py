"""Perplexity as a study objective, and real-time KV selection of sets without a shipped LUT."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import llmrun
from dse.evaluate.accuracy import PerplexitySource
from dse.evaluate.cache import QuantCache
from dse.evaluate.objective import Evaluator
from dse.run.runner import run_study
from dse.study.design import Design
from dse.study.spec import load_spec, parse_spec
from mant.kv import KVQuantConfig, kv_groups, thresholds_for

STUDIES = Path(__file__).resolve().parents[2] / "studies"
FAMILY = {"family": "geometric", "n": 8, "a_min": 1, "a_max": 120, "include_int": True}


def _needs_smollm2() -> None:
    """Fetches the real model and text when they are not cached (idempotent; never skips)."""
    from llmrun.assets import fetch

    fetch(["smollm2-135m", "janeaustenr"], log=lambda *_: None)


@pytest.fixture
def ppl_calls(monkeypatch) -> list[tuple[str, str]]:
    """Counts real perplexity evaluations, one (weights, kv) entry per call."""
    calls: list[tuple[str, str]] = []
    real = llmrun.perplexity

    def counted(weights=None, kv=None, **kwargs):
        key = tuple(
            json.dumps(None if c is None else c.to_dict(), sort_keys=True) for c in (weights, kv)
        )
        calls.append(key)
        return real(weights=weights, kv=kv, **kwargs)

    monkeypatch.setattr(llmrun, "perplexity", counted)
    return calls


def _ppl_spec(space: dict, n_trials: int) -> object:
    return parse_spec(
        {
            "version": 1,
            "name": "ppl-hw-only",
            "seed": 1,
            "n_trials": n_trials,
            "sampler": {"name": "random"},
            "workload": {"model": "llama-2-7b", "phase": "decode", "seq_len": 256},
            "accuracy": {"source": "perplexity", "ppl_windows": 1},
            "space": space,
            "objectives": ["ppl", "latency_s", "area_um2"],
        }
    )


@pytest.mark.slow
def test_hardware_only_study_pays_for_each_perplexity_once(ppl_calls, tmp_path, capsys):
    """Six trials that differ only in the array shape: one perplexity, five cache hits; a
    resumed run in a new evaluator reads the on-disk cache and computes none."""
    _needs_smollm2()
    spec = _ppl_spec({"rows": [8, 16, 32], "cols": [8, 16, 32], "kv_bits": [4]}, 6)
    summary = run_study(spec, out_dir=tmp_path, progress=False, report=False)
    assert summary.n_complete + summary.n_duplicate == 6 and summary.n_complete > 1
    assert len(ppl_calls) == 1
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert df["metric.ppl"].nunique() == 1 and df["param.rows"].nunique() > 1
    assert 5.0 < df["metric.ppl"].iloc[0] < 200.0
    run_study(spec, out_dir=tmp_path, n_trials=9, progress=False, report=False)
    assert len(ppl_calls) == 1  # the three new trials hit the disk cache


@pytest.mark.slow
def test_each_distinct_quantization_setting_is_evaluated_once_and_timed(ppl_calls, capsys):
    """Evaluator over 2 new KV settings x 3 arrays: one perplexity each. Prints the
    seconds per trial of a cache miss and of a hit (docs/dse.md, docs/perplexity.md)."""
    _needs_smollm2()
    spec = _ppl_spec({"kv_bits": [4]}, 1)
    ev = Evaluator(spec)
    base = ev.evaluate({}).design  # warm-up: model load and weight quantization
    ppl_calls.clear()
    miss, hit, ppl = [], [], {}
    for kv_format in ("ant", "int4"):  # the warm-up used mant-unicore16
        for rows in (8, 16, 32):
            design = Design(**{**base.to_dict(), "kv_format": kv_format, "rows": rows})
            start = time.perf_counter()
            ppl.setdefault(kv_format, set()).add(ev.evaluate_design(design).metrics["ppl"])
            (miss if rows == 8 else hit).append(time.perf_counter() - start)
    assert len(ppl_calls) == 2 and len(set(ppl_calls)) == 2
    assert all(len(v) == 1 for v in ppl.values()) and ppl["ant"] != ppl["int4"]
    assert ev.cache.stats.misses == 3  # the warm-up's setting and the two above
    assert min(miss) > 20 * max(hit)
    with capsys.disabled():
        print(
            f"\nperplexity study, 1 window x 512 tokens: cache miss {np.mean(miss):.2f} s/trial,"
            f" hit {1e3 * np.mean(hit):.2f} ms/trial"
        )


def test_shipped_perplexity_study_is_valid_and_small():
    spec = load_spec(STUDIES / "smollm2-ppl.yaml")
    assert spec.accuracy.source == "perplexity" and spec.accuracy.ppl_windows <= 2
    names = {p.name: p for p in spec.space.params}
    assert set(names["kv_selection"].choices) == {"realtime", "oracle"}
    assert len(names["kv_format"].choices) >= 3 and len(names["group_size"].choices) >= 2
    assert len(names["rows"].choices) > 1 and len(names["cols"].choices) > 1
    assert spec.objectives[0].metric == "ppl"
    # every KV setting of the study has a real-time LUT without calibration data
    for fmt in names["kv_format"].raw_choices:
        for g in names["group_size"].choices:
            cfg = KVQuantConfig(candidates=fmt.replace("{bits}", "4"), group_size=g)
            assert not cfg.needs_calibration


def _tensors_spec() -> object:
    return parse_spec(
        {
            "version": 1,
            "name": "family-kv",
            "workload": {"model": "llama-2-7b", "phase": "decode", "seq_len": 256},
            "accuracy": {"source": "tensors", "n_tensors": 2},
            "space": {"kv_bits": [4]},
            "objectives": ["kv_rel_mse", "latency_s"],
        }
    )


@pytest.mark.slow
def test_family_kv_format_with_realtime_selection_is_calibrated_on_another_window(tmp_path):
    """A coefficient-family KV set has no shipped LUT: the tensors source calibrates one on
    window 1 (it evaluates window 0), caches it next to the study's cache, and the design
    completes with a real-time error between the oracle's and 1.25x it."""
    _needs_smollm2()
    from llmrun import kv_dump

    ev = Evaluator(_tensors_spec(), cache_dir=tmp_path / "cache")
    base = ev.evaluate({}).design
    err = {}
    for selection in ("realtime", "oracle"):
        design = Design(**{**base.to_dict(), "kv_format": FAMILY, "kv_selection": selection})
        err[selection] = ev.evaluate_design(design).metrics["kv_rel_mse"]
    assert err["oracle"] <= err["realtime"] <= 1.25 * err["oracle"]
    files = list((tmp_path / "cache" / "kv-thresholds").glob("*.json"))
    assert len(files) == 1
    # it is exactly the LUT of the window-1 groups (K per channel, V per token) ...
    w1 = kv_dump(window=1)
    groups = np.concatenate(
        [kv_groups(w1["k"], "channel", 64)[0], kv_groups(w1["v"], "token", 64)[0]]
    )
    expected = thresholds_for(FAMILY | {"k": 4}, "rms_absmax", 64, calibration=groups)
    assert json.loads(files[0].read_text())["edges"] == list(expected.edges)
    # ... and not the LUT of the evaluated window 0
    w0 = kv_dump(window=0)
    groups0 = np.concatenate(
        [kv_groups(w0["k"], "channel", 64)[0], kv_groups(w0["v"], "token", 64)[0]]
    )
    in_sample = thresholds_for(FAMILY | {"k": 4}, "rms_absmax", 64, calibration=groups0)
    assert in_sample.edges != expected.edges


@pytest.mark.slow
def test_perplexity_source_calibrates_on_the_first_window_it_does_not_score():
    _needs_smollm2()
    from llmrun import kv_dump

    source = PerplexitySource(_ppl_spec({}, 1).accuracy)  # scores window 0
    cfg = KVQuantConfig(candidates=FAMILY | {"k": 4}, group_size=64)
    got = source.calibrate_kv(cfg, QuantCache(None))
    w1 = kv_dump(window=1)
    assert got == cfg.calibrated(w1["k"], w1["v"])
    assert "window 1" in got.thresholds.source
    assert source.calibrate_kv(got, QuantCache(None)) is got  # nothing left to calibrate


def test_synthetic_source_calibrates_family_kv_on_its_own_draw(tmp_path):
    """The synthetic source calibrates a LUT for a family KV set on its calibration draw
    (seed + 1) and both selections complete, real-time within 1.25x of the oracle."""
    spec = parse_spec(
        {
            "version": 1,
            "name": "family-kv-synthetic",
            "workload": {"gemms": [{"m": 16, "n": 256, "k": 256}]},
            "accuracy": {"source": "synthetic", "n_tensors": 1, "tensor_rows": 128},
            "space": {"kv_bits": [4]},
            "objectives": ["kv_rel_mse", "latency_s"],
        }
    )
    fam_kv = FAMILY | {"k": 4}
    ev = Evaluator(spec, cache_dir=tmp_path / "cache")
    base = ev.evaluate({}).design
    err = {}
    for selection in ("realtime", "oracle"):
        design = Design(**{**base.to_dict(), "kv_format": fam_kv, "kv_selection": selection})
        err[selection] = ev.evaluate_design(design).metrics["kv_rel_mse"]
    assert err["oracle"] <= err["realtime"] <= 1.25 * err["oracle"]
    assert len(list((tmp_path / "cache" / "kv-thresholds").glob("*.json"))) == 1
