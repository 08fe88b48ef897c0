"""`mant-dse quantize --algorithm gptq|awq --rotation hadamard --calibration X.npz` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main
from mant.gptq import quantize_layer
from mant.quantize import QuantConfig


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((24, 128)).astype(np.float32)
    x = (rng.standard_normal((96, 128)) * np.exp(rng.uniform(-2, 2, 128))).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    np.savez(tmp_path / "x.npz", X=x, narrow=x[:, :100])
    return tmp_path, w, x


def _base(tmp):
    return [
        "quantize",
        str(tmp / "w.npy"),
        "--candidates",
        "mant-unicore16",
        "--group-size",
        "64",
        "--calibration",
        str(tmp / "x.npz"),
        "--calibration-tensor",
        "X",
    ]


def test_gptq_hadamard_json_and_saved_tensor(files, capsys):
    tmp, w, x = files
    out = tmp / "out.npy"
    args = [*_base(tmp), "--algorithm", "gptq", "--rotation", "hadamard"]
    assert main([*args, "--save", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    cfg = QuantConfig(candidates="mant-unicore16", group_size=64, scale_format="fp16")
    ref = quantize_layer(w, cfg, algorithm="gptq", rotation_block=64, calibration=x)
    assert (info["algorithm"], info["rotation"]) == ("gptq", "hadamard:64")
    assert info["calibration_tokens"] == 96 and info["bits_per_element"] == 4.3125
    np.testing.assert_array_equal(np.load(out), ref.dequantized)
    # GPTQ spends weight error to lower the output error on its own calibration inputs
    assert main([*_base(tmp)[:6], "--json"]) == 0
    rtn = json.loads(capsys.readouterr().out)
    x64 = x.astype(np.float64)
    ref_out = x64 @ w.T.astype(np.float64)
    rq = quantize_layer(w, cfg).dequantized.astype(np.float64)
    rtn_out = float(np.sum((ref_out - x64 @ rq.T) ** 2) / np.sum(ref_out**2))
    assert rtn["algorithm"] == "rtn" and info["output_rel_mse"] < rtn_out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--algorithm", "foo"], "error: --algorithm: must be rtn, gptq or awq, got 'foo'"),
        (
            ["--algorithm", "gptq", "--calibration-tensor", "narrow"],
            "error: calibration: must have in_features=128 columns, got 100",
        ),
        (
            ["--algorithm", "awq", "--calibration-tensor", "narrow"],
            "error: calibration: must have in_features=128 columns, got 100",
        ),
        (["--algorithm", "gptq", "--rotation", "givens"], "error: --rotation: must be none or"),
        (
            ["--algorithm", "gptq", "--rotation", "hadamard", "--rotation-block", "48"],
            "error: --rotation-block: must be a power of two dividing in_features=128 or row, "
            "got '48'",
        ),
        (
            ["--algorithm", "gptq", "--rotation", "hadamard", "--rotation-block", "256"],
            "error: --rotation-block: must be a power of two dividing in_features=128",
        ),
        (
            ["--algorithm", "gptq", "--rotation", "hadamard", "--group-size", "48"],
            "error: --group-size: must be a power of two dividing in_features=128 to be the "
            "Hadamard block",
        ),
        (["--algorithm", "gptq", "--rotation-block", "64"], "error: --rotation-block: is only"),
        (["--algorithm", "gptq", "--damp", "-1"], "error: --damp: must be a number in (0, 1)"),
        (
            ["--algorithm", "gptq", "--selection", "output-mse", "--candidates", "int4_asym"],
            "error: candidates: must be symmetric grid formats",
        ),
    ],
)
def test_bad_values_exit_2_with_one_line(files, capsys, extra, message):
    tmp, _, _ = files
    args = _base(tmp)
    if "--calibration-tensor" in extra:
        args = args[:-2]
    assert main([*args, *extra, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""


def test_awq_without_calibration_names_awq(files, capsys):
    tmp, _, _ = files
    assert main(["quantize", str(tmp / "w.npy"), "--algorithm", "awq"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: --calibration: is required with --selection output-mse or --algorithm gptq|awq, "
        "got 'no file'\n"
    )


def test_gptq_with_the_output_error_choice_from_the_cli(files, capsys):
    tmp, w, x = files
    out = tmp / "out.npy"
    args = [*_base(tmp), "--algorithm", "gptq", "--selection", "output-mse"]
    assert main([*args, "--save", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    cfg = QuantConfig(
        candidates="mant-unicore16", group_size=64, scale_format="fp16", selection="output_mse"
    )
    ref = quantize_layer(w, cfg, algorithm="gptq", calibration=x)
    np.testing.assert_array_equal(np.load(out), ref.dequantized)
    assert info["algorithm"] == "gptq"
