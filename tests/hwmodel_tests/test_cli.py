"""``mant-dse hw gemm`` and ``mant-dse hw llm``."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from hwmodel import Gemm, dump_accelerator, evaluate, load_accelerator

KEYS = {
    "cycles",
    "compute_cycles",
    "memory_cycles",
    "utilization",
    "mapping_efficiency",
    "energy_pj",
    "area_um2",
    "dram_bytes",
}


def test_gemm_json_matches_the_library(capsys):
    rc = main(
        [
            "hw",
            "gemm",
            "--accelerator",
            "mant",
            "--m",
            "64",
            "--n",
            "256",
            "--k",
            "512",
            "--rows",
            "32",
            "--cols",
            "16",
            "--dataflow",
            "os",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out)
    acc = load_accelerator("mant").with_array(rows=32, cols=16, dataflow="os")
    cost = evaluate(acc, Gemm(m=64, n=256, k=512))
    assert out["cycles"] == cost.cycles and out["energy_pj"] == pytest.approx(cost.energy_pj)


def test_llm_json_from_a_yaml_file(tmp_path, capsys):
    path = tmp_path / "acc.yaml"
    dump_accelerator(load_accelerator("tender"), path)
    rc = main(
        [
            "hw",
            "llm",
            "--accelerator",
            str(path),
            "--model",
            "smollm2-135m",
            "--phase",
            "decode",
            "--seq-len",
            "256",
            "--batch",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert KEYS <= set(out) and out["accelerator"] == "tender" and out["cycles"] > 0


def test_text_output_names_the_figures(capsys):
    assert (
        main(
            [
                "hw",
                "llm",
                "--accelerator",
                "int8",
                "--model",
                "llama-2-7b",
                "--phase",
                "decode",
                "--seq-len",
                "128",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "compute_cycles" in text and "dram_bytes" in text


def test_bad_values_exit_2_with_every_issue(capsys):
    rc = main(
        ["hw", "gemm", "--accelerator", "mant", "--m", "0", "--n", "8", "--k", "-2", "--rows", "0"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "error: --m: must be an int >= 1, got 0" in err
    assert "error: --k: must be an int >= 1, got -2" in err
    assert "error: --rows: must be an int >= 1, got 0" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["hw", "gemm", "--accelerator", "tpu9", "--m", "1", "--n", "1", "--k", "1"],
            "unknown preset",
        ),
        (["hw", "llm", "--accelerator", "ant", "--model", "llama-9"], "unknown model"),
        (
            [
                "hw",
                "gemm",
                "--accelerator",
                "mant",
                "--m",
                "1",
                "--n",
                "1",
                "--k",
                "1",
                "--rows",
                "4096",
                "--cols",
                "4096",
            ],
            "too small for one 4096x4096 tile",
        ),
    ],
)
def test_bad_inputs_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "hw",
                "gemm",
                "--accelerator",
                "mant",
                "--m",
                "1",
                "--n",
                "1",
                "--k",
                "1",
                "--dataflow",
                "rs",
            ]
        )
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_gemv_path_flag_reaches_the_model(capsys):
    argv = ["hw", "llm", "--accelerator", "mant", "--model", "llama-7b", "--phase", "decode"]
    assert main([*argv, "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert main([*argv, "--gemv-path", "scalesim", "--json"]) == 0
    serial = json.loads(capsys.readouterr().out)
    assert main([*argv, "--gemv-path", "vector", "--json"]) == 0
    vector = json.loads(capsys.readouterr().out)
    assert (default["gemv_path"], serial["gemv_path"]) == ("load_path", "scalesim")
    assert vector["gemv_path"] == "vector"
    assert vector["bound"] == "memory" and vector["cycles"] < serial["cycles"] / 10
    assert default["cycles"] < serial["cycles"] / 10
    assert main([*argv, "--gemv-max-m", "0"]) == 2
    assert "error: --gemv-max-m: must be an int >= 1, got 0" in capsys.readouterr().err
