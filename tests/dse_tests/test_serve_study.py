"""Studies with ``workload.phase: serve``: the serve metrics as objectives (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from dse.evaluate.hardware import HardwareModel
from dse.study.spec import parse_spec
from hwmodel import evaluate_many, load_accelerator, load_model, serve
from mant.errors import InputError


def _spec(workload, objectives):
    return parse_spec(
        {
            "version": 1,
            "name": "s",
            "workload": workload,
            "space": {"pe_type": ["mant"], "rows": [64], "cols": [47], "dataflow": ["ws"]},
            "objectives": objectives,
        }
    )


def test_serve_metrics_are_objectives_only_with_phase_serve():
    wl = {"model": "llama-3.1-8b", "phase": "serve", "prompt_len": 512, "gen_len": 32}
    spec = _spec(wl, ["tpot_s", "tokens_per_s", "ttft_s"])
    assert (spec.workload.prompt_len, spec.workload.gen_len) == (512, 32)
    assert spec.workload.tokens_per_pass == 32
    with pytest.raises(InputError) as err:
        _spec({"model": "llama-3.1-8b", "phase": "decode"}, ["tpot_s"])
    assert "objectives[0].metric: needs workload.phase: serve" in str(err.value)


def test_study_serve_metrics_equal_hwmodel_serve():
    w = {"model": "mixtral-8x7b", "phase": "serve", "prompt_len": 256, "gen_len": 40, "batch": 2}
    spec = _spec(w, ["tpot_s"])
    hw = HardwareModel(spec.workload)
    acc = load_accelerator("mant")
    prec = acc.default_precision
    got = hw.cost_metrics(acc, prec)
    ref = serve(acc, load_model("mixtral-8x7b"), prompt_len=256, gen_len=40, batch=2)
    assert got["ttft_s"] == pytest.approx(ref.ttft_s, rel=1e-12)
    assert got["tpot_s"] == pytest.approx(ref.tpot_s, rel=1e-12)
    assert got["tokens_per_s"] == pytest.approx(ref.tokens_per_s, rel=1e-12)
    assert got["latency_s"] == pytest.approx(ref.ttft_s + 40 * ref.tpot_s, rel=1e-12)
    assert got["energy_pj"] == pytest.approx(ref.energy_per_token_pj * 80, rel=1e-9)
    # the vectorised path (the sweep's) gives the same figures
    base = acc.with_array(rows=1, cols=1)
    many = hw._serve_metrics(
        lambda wl: evaluate_many(
            base, wl, prec, rows=np.array([acc.array.rows]), cols=np.array([acc.array.cols])
        )
    )
    assert float(many["tpot_s"][0]) == pytest.approx(got["tpot_s"], rel=1e-9)
