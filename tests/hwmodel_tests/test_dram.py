"""DRAM types, background power, capacity, and accelerator files that never mean something else."""

from __future__ import annotations

import json

import pytest
import yaml

from dse.cli import main
from hwmodel import (
    DRAM_TYPES,
    DramType,
    Gemm,
    Precision,
    capacity_issue,
    evaluate,
    footprint_bytes,
    list_presets,
    llm_workload,
    load_accelerator,
)
from hwmodel.accelerator import accelerator_from_dict
from mant.errors import InputError

GIB = 1 << 30


def _raw(name: str = "mant") -> dict:
    return yaml.safe_load(load_accelerator(name).to_yaml())


def test_every_type_is_sourced_and_nonzero():
    for kind, spec in DRAM_TYPES.items():
        assert spec.bw_bytes_per_s > 0 and spec.capacity_bytes > 0, kind
        assert spec.read_pj_per_bit > 0 and spec.write_pj_per_bit > 0, kind
        assert spec.background_mw > 0 and spec.source, kind
    hbm2 = DRAM_TYPES[DramType.HBM2]
    assert "O'Connor" in hbm2.source and "MICRO'17" in hbm2.source
    assert (hbm2.bw_bytes_per_s, hbm2.capacity_bytes, hbm2.read_pj_per_bit) == (
        256e9,
        8 * GIB,
        3.9,
    )


@pytest.mark.parametrize("preset", list_presets())
def test_presets_use_one_hbm2_stack(preset):
    dram = load_accelerator(preset).dram
    assert (dram.type, dram.stacks) == (DramType.HBM2, 1)
    assert dram.bw_bytes_per_cycle == 256.0  # 256 GB/s at 1 GHz
    assert dram.capacity_bytes == 16 * GIB  # 8-Hi of 16 Gb dies (the presets' override)
    assert (dram.read_pj_per_bit, dram.write_pj_per_bit, dram.background_mw) == (3.9, 3.9, 485.0)


def test_type_figures_scale_with_stacks_and_clock_and_yield_to_explicit_fields():
    data = _raw()
    data["clock_hz"] = 500_000_000
    data["dram"] = {"type": "hbm3", "stacks": 2, "read_pj_per_bit": 5.0}
    acc = accelerator_from_dict(data)
    assert acc.dram.bw_bytes_per_cycle == pytest.approx(2 * 819.2e9 / 500e6)
    assert acc.dram.capacity_bytes == 32 * GIB
    assert acc.dram.background_mw == 2 * 485.0
    assert (acc.dram.read_pj_per_bit, acc.dram.write_pj_per_bit) == (5.0, 3.9)  # override wins
    assert accelerator_from_dict(acc.to_dict()) == acc  # the dump loads back equal
    data["dram"] = {"type": "ddr4", "stacks": 4}
    ddr4 = accelerator_from_dict(data).dram
    assert ddr4.bw_bytes_per_cycle == pytest.approx(4 * 25.6e9 / 500e6)
    assert (ddr4.read_pj_per_bit, ddr4.write_pj_per_bit) == (10.94, 11.72)


def test_dram_energy_is_bits_times_pj_plus_background():
    acc = load_accelerator("int8")
    cost = evaluate(acc, Gemm(m=1, n=4096, k=4096))
    rd, wr = cost.dram_read_bytes, cost.dram_write_bytes
    background = 485e-3 * cost.latency_s * 1e12  # W x s, in pJ
    want = 8 * 3.9 * (rd + wr) + background
    assert cost.energy_breakdown_pj["dram"] == pytest.approx(want, rel=1e-12)


def test_footprint_and_capacity():
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048)
    weights = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000
    kv = 2 * 32 * 4096 * 2048
    mant = load_accelerator("mant")
    # mant-hpca25: weights 4 + 20/64 = 4.3125 bits, KV 4 + 18/64 = 4.28125 bits (native recipe)
    assert footprint_bytes(wl, mant.default_precision) == weights * 4.3125 / 8 + kv * 4.28125 / 8
    assert capacity_issue(mant, wl, mant.default_precision) == ""
    fp16 = load_accelerator("fp16")
    assert footprint_bytes(wl, fp16.default_precision) == (weights + kv) * 2
    assert capacity_issue(fp16, wl, fp16.default_precision) == ""  # 14.29 GB in 17.18 GB
    wl32k = llm_workload("llama-2-7b", phase="decode", seq_len=32768)
    why = capacity_issue(fp16, wl32k, fp16.default_precision)
    assert "30.39 GB" in why and "17.18 GB" in why and "dram.capacity_bytes" in why
    # 128K context, FP16 KV: 68.7 GB of KV alone (hardware_audit.md)
    p = Precision(
        weight_bits=16,
        weight_bits_per_element=16,
        act_bits=16,
        kv_bits=16,
        kv_bits_per_element=16,
        group_size=64,
    )
    long = llm_workload("llama-2-7b", phase="decode", seq_len=131072)
    assert footprint_bytes(long, p) - weights * 2 == pytest.approx(2 * 32 * 4096 * 131072 * 2)


def test_cli_prints_the_roofline_keys(capsys):
    args = ["hw", "llm", "--accelerator", "fp16", "--model", "llama-2-7b", "--phase", "decode"]
    assert main([*args, "--seq-len", "32768", "--batch", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "roofline_s",
        "bound",
        "dram_bytes",
        "macs",
        "latency_s",
        "energy_pj",
        "dram_bw_bytes_per_s",
        "peak_macs_per_s",
        "footprint_bytes",
        "dram_capacity_bytes",
        "fits",
    ):
        assert key in out, key
    assert out["fits"] is False and "17.18 GB" in out["infeasible"]
    assert out["dram_bw_bytes_per_s"] == 256e9 and out["peak_macs_per_s"] == 30 * 16 * 1e9
    assert out["roofline_s"] == pytest.approx(
        max(out["dram_bytes"] / out["dram_bw_bytes_per_s"], out["macs"] / out["peak_macs_per_s"])
    )
    assert main(["hw", "llm", "--accelerator", "mant", "--model", "llama-2-7b"]) == 0
    text = capsys.readouterr().out
    assert "roofline" in text and "1 x hbm2" in text


def test_study_design_that_does_not_fit_fails_with_the_reason():
    from dse.evaluate.hardware import HardwareModel
    from dse.study.design import Design
    from dse.study.spec import WorkloadSpec

    hw = HardwareModel(WorkloadSpec(model="llama-2-7b", phase="decode", seq_len=32768))
    design = Design(
        pe_type="fp16",
        group_size=64,
        weight_bits=16,
        weight_format="int{bits}",
        kv_bits=16,
        kv_format="int{bits}",
        act_bits=16,
        rows=16,
        cols=16,
        dataflow="ws",
    )
    prec = load_accelerator("fp16").default_precision
    with pytest.raises(InputError) as err:
        hw.check_modes(design, prec)
    msg = str(err.value)
    assert "footprint_bytes" in msg and "dram.capacity_bytes 17179869184" in msg


# ------------------------------------------------ accelerator files (issue 24, point 5)


@pytest.mark.parametrize(
    ("section", "key", "near"),
    [
        ("array", "colums", "cols"),
        ("buffers", "weight_byte", "weight_bytes"),
        ("dram", "bandwidth", None),
        ("dram", "typ", "type"),
        (None, "overlapp", "overlap"),
    ],
)
def test_unknown_key_is_one_exit_2_message(tmp_path, capsys, section, key, near):
    data = _raw()
    (data if section is None else data[section])[key] = 64
    path = tmp_path / "acc.yaml"
    path.write_text(yaml.safe_dump(data))
    args = ["hw", "llm", "--accelerator", str(path), "--model", "llama-2-7b", "--json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    where = f"accelerator.{section}.{key}" if section else f"accelerator.{key}"
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0] and where in lines[0] and "unknown key" in lines[0]
    if near:
        assert f"did you mean {near!r}" in lines[0]


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("buffers", "read_pj_per_bit"),
        ("buffers", "write_pj_per_bit"),
        ("buffers", "area_um2_per_kib"),
    ],
)
def test_missing_energy_or_area_field_is_an_error(tmp_path, capsys, section, key):
    data = _raw()
    del data[section][key]
    path = tmp_path / "acc.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["hw", "llm", "--accelerator", str(path), "--model", "llama-2-7b"]) == 2
    err = capsys.readouterr().err
    assert f"accelerator.{section}.{key}: is required" in err and "Traceback" not in err


def test_custom_dram_needs_every_figure_and_typed_dram_fills_them():
    data = _raw()
    data["dram"] = {"bw_bytes_per_cycle": 64.0, "read_pj_per_bit": 10.0}
    with pytest.raises(InputError) as err:
        accelerator_from_dict(data)
    paths = sorted(i.path for i in err.value.issues)
    assert paths == [
        "accelerator.dram.background_mw",
        "accelerator.dram.capacity_bytes",
        "accelerator.dram.write_pj_per_bit",
    ]
    data["dram"] = {"type": "lpddr5"}
    assert accelerator_from_dict(data).dram.read_pj_per_bit == 4.0
    data["dram"] = {"type": "gddr6"}
    with pytest.raises(InputError, match="dram.type: must be one of hbm2, hbm3"):
        accelerator_from_dict(data)


def test_overlap_and_load_path_fields_have_documented_defaults():
    data = _raw()
    del data["overlap"]
    for key in ("gemv_path", "load_bytes_per_cycle", "load_pj_per_bit", "load_area_um2_per_byte"):
        del data["array"][key]
    acc = accelerator_from_dict(data)
    assert acc == load_accelerator("mant")
    assert acc.overlap == "max" and acc.array.gemv_path == "load_path"
    assert acc.array.load_pj_per_bit > 0 and acc.array.load_area_um2_per_byte > 0
