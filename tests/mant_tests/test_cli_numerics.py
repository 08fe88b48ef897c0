"""`mant-dse formats` and `mant-dse quantize` end to end (in-process)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.cli import main


def test_formats_json_lists_families_and_grids(capsys):
    assert main(["formats", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    by_name = {f["name"]: f for f in info["formats"]}
    assert by_name["mant4_a5"]["magnitudes"] == [1, 7, 14, 23, 36, 57, 94, 163]  # mant.md §2.1
    assert by_name["mxfp4"]["block_size"] == 32
    assert "mant{k}_a{a}[_z]" in info["families"]
    assert info["candidate_sets"]["mant-unicore16"]["size"] == 16


def test_formats_text(capsys):
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "flint4" in out and "0 1 2 3 4 6 8 16" in out


def test_quantize_json_object(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    np.save(tmp_path / "w.npy", x)
    assert main(["quantize", str(tmp_path / "w.npy"), "--json", "--scale-format", "fp16"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "rel_mse",
        "sqnr_db",
        "bits_per_element",
        "group_size",
        "n_groups",
        "choice_histogram",
        "seconds",
    ):
        assert key in out
    assert out["bits_per_element"] == 4.3125 and out["n_groups"] == 256
    assert sum(out["choice_histogram"].values()) == 256
    assert out["sqnr_db"] == pytest.approx(-10 * np.log10(out["rel_mse"]))


def test_quantize_candidate_list_and_format(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((8, 128)).astype(np.float32)
    np.savez(tmp_path / "m.npz", w=x)
    assert (
        main(["quantize", str(tmp_path / "m.npz"), "--candidates", "int4,fp4_e2m1", "--json"]) == 0
    )
    assert set(json.loads(capsys.readouterr().out)["choice_histogram"]) == {"int4", "fp4_e2m1"}
    assert main(["quantize", str(tmp_path / "m.npz"), "--format", "nvfp4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["group_size"] == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "fp9"], "format: must be a known format (int{k}"),
        (["--group-size", "0"], "--group-size: must be an int in 1..65536, got 0"),
        (["--axis", "3"], "axis: must be in -2..1"),
        (["--tensor", "nope"], "tensor: must be 'w' for a .npy file"),
    ],
)
def test_quantize_bad_input_exits_2_with_one_clear_message(tmp_path, capsys, args, message):
    np.save(tmp_path / "w.npy", np.ones((4, 64), np.float32))
    assert main(["quantize", str(tmp_path / "w.npy"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_quantize_rejects_non_float_and_all_zero_files(tmp_path, capsys):
    np.save(tmp_path / "i.npy", np.arange(64))
    np.save(tmp_path / "z.npy", np.zeros(64, np.float32))
    assert main(["quantize", str(tmp_path / "i.npy")]) == 2
    assert "must hold floating-point values" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "z.npy")]) == 2
    assert "must have a non-zero value" in capsys.readouterr().err
