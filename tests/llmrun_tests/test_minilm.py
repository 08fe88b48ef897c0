"""MiniLM fp32 weights with their real activations: output-MSE selection vs weight-MSE."""

from __future__ import annotations

import numpy as np
import pytest

from llmrun.assets import minilm_weights
from llmrun.minilm import LINEAR_SUFFIXES, minilm_activations, minilm_tokens
from mant.errors import InputError
from mant.quantize import QuantConfig, quantize


@pytest.fixture(scope="module")
def acts():
    return (
        minilm_activations("austen-emma", windows=4, window_len=128),
        minilm_activations("austen-pride", windows=2, window_len=128),
    )


def test_activations_cover_every_linear_weight(acts):
    calib, _ = acts
    weights = minilm_weights()
    assert len(calib) == 6 * len(LINEAR_SUFFIXES) == 36
    for name, x in calib.items():
        assert x.shape == (512, weights[name].shape[1]) and x.dtype == np.float32
        assert np.isfinite(x).all()
    # post-LayerNorm hidden states feed q/k/v: per token mean ~ LayerNorm bias mean, real spread
    x = calib["encoder.layer.2.attention.self.query.weight"]
    assert 0.2 < float(x.std()) < 5.0
    # the GELU output feeding output.dense is bounded below by GELU's minimum (about -0.17)
    assert float(calib["encoder.layer.0.output.dense.weight"].min()) > -0.2


def test_output_mse_beats_weight_mse_on_real_minilm_activations(acts):
    calib, held = acts
    weights = minilm_weights()
    kw = {"candidates": "mant-unicore16", "group_size": 64, "scale_format": "fp16"}
    sums = {"weight_mse": np.zeros(4), "output_mse": np.zeros(4)}
    for name, x_c in calib.items():
        w = weights[name]
        for sel in sums:
            cal = x_c if sel == "output_mse" else None
            q = quantize(w, QuantConfig(**kw, selection=sel), calibration=cal).dequantized
            for i, x in enumerate((x_c, held[name])):
                x64 = x.astype(np.float64)
                sums[sel][2 * i] += np.sum((x64 @ (w - q).T.astype(np.float64)) ** 2)
                sums[sel][2 * i + 1] += np.sum((x64 @ w.T.astype(np.float64)) ** 2)
    rel = {sel: (s[0] / s[1], s[2] / s[3]) for sel, s in sums.items()}
    assert rel["output_mse"][0] < 0.9 * rel["weight_mse"][0], rel  # on the calibration text
    assert rel["output_mse"][1] < rel["weight_mse"][1], rel  # on a different text


def test_tokens_and_bad_windows():
    ids = minilm_tokens("austen-emma", windows=1, window_len=8)
    assert ids.shape == (1, 8) and ids.dtype == np.int64
    with pytest.raises(InputError, match="window_len: must be in 1..512"):
        minilm_activations("austen-emma", windows=1, window_len=600)
