"""`mant-dse compare` and mant.compare: a ranking of settings over a file's tensors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from dse.cli import main
from mant.compare import compare_settings, settings_grid
from mant.quantize import QuantConfig, quantize


@pytest.fixture
def checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "a.weight": rng.standard_normal((16, 256)).astype(np.float32),
        "b.weight": (rng.standard_t(3, (8, 128)) * 5).astype(np.float32),
        "norm": np.ones(256, np.float32),  # 1-D: left out unless named
        "ids": np.arange(8, dtype=np.int32).reshape(2, 4),  # not float: left out
    }
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    return path, tensors


def test_json_rows_rank_the_aggregate_error_of_every_setting(checkpoint, capsys, tmp_path):
    path, tensors = checkpoint
    args = ["compare", str(path), "--candidates", "int4,mant-unicore16,mxfp4"]
    args += ["--group-size", "32,64", "--scale-format", "fp16,fp32", "--max-bits", "4.5"]
    assert main([*args, "--json", "--csv", str(tmp_path / "r.csv")]) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = {"candidates", "group_size", "scale_format", "bits_per_element", "rel_mse"}
    assert all(keys <= set(r) for r in rows)
    got = {(r["candidates"], r["group_size"], r["scale_format"]) for r in rows}
    # fp32 at g = 32 (5 or 5.125 bits) and int4/mant g = 32 fp32 are over budget; mxfp4 once
    assert got == {
        ("int4", 32, "fp16"),
        ("int4", 64, "fp16"),
        ("int4", 64, "fp32"),
        ("mant-unicore16", 64, "fp16"),
        ("mxfp4", 32, "e8m0"),
    }
    assert all(r["bits_per_element"] <= 4.5 for r in rows)
    assert {r["n_tensors"] for r in rows} == {2}
    errs = [r["rel_mse"] for r in rows]
    assert errs == sorted(errs)
    # the aggregate is sum of squared errors over sum of squares of the two matrices
    mats = [tensors["a.weight"], tensors["b.weight"]]
    for r in rows:
        cfg = QuantConfig(
            candidates=r["candidates"],
            group_size=r["group_size"],
            scale_format=None if r["candidates"] == "mxfp4" else r["scale_format"],
        )
        sse = sum(quantize(m, cfg).sum_sq_error for m in mats)
        ref = sum(float(np.sum(m.astype(np.float64) ** 2)) for m in mats)
        assert r["rel_mse"] == pytest.approx(sse / ref, rel=1e-12)
    with open(tmp_path / "r.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [t["candidates"] for t in table] == [r["candidates"] for r in rows]
    assert table[0]["rank"] == "1"


def test_named_tensors_and_text_table(checkpoint, capsys):
    path, _ = checkpoint
    args = ["compare", str(path), "--tensor", "norm", "--candidates", "int4", "--group-size", "64"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 tensor(s), 256 values, 1 setting(s)" in out
    assert "int4" in out and "4.25" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--candidates", "nope", "--group-size", "64"], "error: --candidates nope: must be"),
        (["--candidates", "int4", "--group-size", "0"], "error: --group-size: must be"),
        (
            ["--candidates", "int4", "--group-size", "64", "--scale-format", "fp9"],
            "error: --scale-format: must be one of",
        ),
        (
            ["--candidates", "int4", "--group-size", "64", "--max-bits", "4"],
            "error: --max-bits: must allow at least one setting (the smallest is 4.25), got 4.0",
        ),
        (["--candidates", "int4", "--group-size", "64", "--tensor", "x"], "error: tensor: must"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(checkpoint, capsys, flags, message):
    path, _ = checkpoint
    assert main(["compare", str(path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and "Traceback" not in err


def test_grid_dedupes_block_formats_and_orders_ties_by_bits():
    grid = settings_grid(["nvfp4", "int8"], [16, 64], ["fp16", "bf16"])
    assert [(s.label, s.config.group_size, str(s.config.scale_format)) for s in grid] == [
        ("nvfp4", 16, "e4m3"),
        ("int8", 16, "fp16"),
        ("int8", 16, "bf16"),
        ("int8", 64, "fp16"),
        ("int8", 64, "bf16"),
    ]
    zeros = {"z": np.zeros((2, 64), np.float32)}
    ranked = compare_settings(zeros, settings_grid(["int4"], [16, 64]))
    assert [s.group_size for s in ranked] == [64, 16]  # both exact: fewer bits first


def test_formats_2026_list_ranks_every_new_format_at_its_own_block_size(capsys):
    """``--candidates formats-2026`` on the shipped MiniLM checkpoint: every 2025-26 format in
    the ranking at its own block size and bits per element, next to MANT (issue 20 point 4)."""
    from dse.cli.compare import CANDIDATE_LISTS
    from llmrun.assets import asset_path

    path = asset_path("minilm-l6-v2")
    args = ["compare", str(path), "--tensor", "embeddings.token_type_embeddings.weight"]
    args += ["--candidates", "formats-2026", "--group-size", "64,128", "--json"]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    got = {(r["candidates"], r["group_size"]): r["bits_per_element"] for r in rows}
    want = {
        ("mant-unicore16", 64): 4.3125,
        ("mant-unicore16", 128): 4.15625,
        ("bitmod_fp4", 128): 4.140625,
        ("m2xfp4_w", 32): 4.5,
        ("m2xfp4_a", 32): 4.5,
        ("mxfp4", 32): 4.25,
        ("razer_mxfp4", 32): 4.3125,
        ("mxplus_fp4", 32): 4.40625,  # E8M0 + 5-bit block-max index per 32
        ("blockdialect_fp4", 32): 4.28125,  # 4-bit dialect id + 5-bit exponent per 32
        ("blockdialect_fp4_a", 32): 4.28125,
        ("hif4", 64): 4.5,  # E6M2 + 8 x E1 + 16 x E1 per 64
        ("nvfp4", 16): 4.5,
        ("nvfp4_4over6", 16): 4.5,
        ("mxfp4_g16", 16): 4.5,
        ("razer_nvfp4", 16): 4.625,
        ("int4", 64): 4.25,
        ("int4", 128): 4.125,
    }
    assert got == want
    assert {r["candidates"] for r in rows} == set(CANDIDATE_LISTS["formats-2026"])
    assert all(r["n_elements"] == 768 and r["rel_mse"] > 0 for r in rows)
    errs = [r["rel_mse"] for r in rows]
    assert errs == sorted(errs)
    # a 4.6-bit budget drops RaZeR-NVFP4 (4.625 bits) and keeps the rest
    assert main([*args, "--max-bits", "4.6"]) == 0
    kept = {r["candidates"] for r in json.loads(capsys.readouterr().out)}
    assert kept == set(CANDIDATE_LISTS["formats-2026"]) - {"razer_nvfp4"}
