"""`mant-dse quantize --selection output-mse --calibration CALFILE --save OUT.npy` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main
from mant.quantize import QuantConfig, quantize


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(11)
    w = rng.standard_normal((32, 192)).astype(np.float32)
    x = (rng.standard_normal((120, 192)) * np.exp(rng.uniform(-2, 2, 192))).astype(np.float32)
    np.savez(tmp_path / "w.npz", proj=w, other=np.ones((2, 2), np.float32))
    np.savez(tmp_path / "acts.npz", x=x, narrow=x[:, :100])
    return tmp_path, w, x


def test_output_mse_json_and_saved_tensor(files, capsys):
    tmp, w, x = files
    out_path = tmp / "deq.npy"
    args = ["quantize", str(tmp / "w.npz"), "--tensor", "proj", "--candidates"]
    args += ["mant-unicore16", "--group-size", "64", "--selection", "output-mse"]
    args += ["--calibration", str(tmp / "acts.npz"), "--calibration-tensor", "x"]
    assert main([*args, "--save", str(out_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    cfg = QuantConfig(candidates="mant-unicore16", group_size=64, selection="output_mse")
    ref = quantize(w, cfg, calibration=x)
    assert info["selection"] == "output_mse" and info["calibration_tokens"] == 120
    assert info["choice_histogram"] == ref.choice_histogram()
    assert sum(info["choice_histogram"].values()) == 32 * 3
    np.testing.assert_array_equal(np.load(out_path), ref.dequantized)
    # the same command with weight-MSE: larger output error on these activations
    assert main([*args[:8], "--json"]) == 0
    weight = json.loads(capsys.readouterr().out)
    assert weight["selection"] == "weight_mse" and "output_rel_mse" not in weight
    wq = quantize(w, QuantConfig(candidates="mant-unicore16", group_size=64)).dequantized
    x64 = x.astype(np.float64)
    ref_out = x64 @ w.T.astype(np.float64)
    rel_w = np.sum((ref_out - x64 @ wq.T.astype(np.float64)) ** 2) / np.sum(ref_out**2)
    assert info["output_rel_mse"] < rel_w


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--calibration-tensor", "narrow"],
            "error: calibration: must have in_features=192 columns, got 100",
        ),
        (["--calibration", "MISSING"], "error: MISSING: must be an existing file"),
        (["--calibration", "none"], "error: --calibration: is required with --selection"),
        (["--selection", "oracle"], "error: selection: must be one of weight_mse, output_mse"),
        (["--save", "out.txt"], "error: --save: must end in .npy, got 'out.txt'"),
    ],
)
def test_bad_input_exits_2_with_one_line(files, capsys, extra, message):
    tmp, _, _ = files
    args = ["quantize", str(tmp / "w.npz"), "--tensor", "proj", "--selection", "output-mse"]
    cal = ["--calibration", str(tmp / "acts.npz"), "--calibration-tensor", "x"]
    if extra[:1] == ["--calibration"]:
        cal = [] if extra[1] == "none" else ["--calibration", str(tmp / extra[1])]
        extra = []
        message = message.replace("MISSING", str(tmp / "MISSING"))
    elif extra[:1] == ["--calibration-tensor"]:
        cal = cal[:2]
    assert main([*args, *cal, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_calibration_without_output_mse_is_refused(files, capsys):
    tmp, _, _ = files
    args = ["quantize", str(tmp / "w.npz"), "--tensor", "proj"]
    assert main([*args, "--calibration", str(tmp / "acts.npz")]) == 2
    assert "--calibration: is only used with --selection output-mse" in capsys.readouterr().err
