"""Accelerator files: presets, validation (all issues at once), dump round trip, iso-area."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodel import (
    Precision,
    accelerator_from_dict,
    dump_accelerator,
    iso_area,
    list_presets,
    load_accelerator,
)
from mant.errors import InputError

# UniCore's M-ANT PE budget: 104 x 32 PEs of 785929/2024 um^2 (configuration.py, hardware.md §5)
UNICORE_BUDGET_UM2 = 104 * 32 * 785929 / 2024


def test_presets_include_the_paper_designs():
    assert {"int8", "ant", "olive", "tender", "mant"} <= set(list_presets())


@pytest.mark.parametrize("name", list_presets())
def test_preset_dump_loads_back_equal_and_text_is_stable(name, tmp_path):
    acc = load_accelerator(name)
    path = tmp_path / f"{name}.yaml"
    dump_accelerator(acc, path)
    again = load_accelerator(str(path))
    assert again == acc
    assert again.to_yaml() == path.read_text()


def test_paper_bit_widths_of_the_presets():
    # each preset runs its PE's native recipe: the baselines as the M-ANT paper ran them
    # (16-bit KV cache, mant_authors.md §3), M-ANT with its 4-bit KV cache
    kv = {
        n: load_accelerator(n).default_precision.kv_bits
        for n in ("ant", "olive", "tender", "mant")
    }
    assert kv == {"ant": 16, "olive": 16, "tender": 16, "mant": 4}
    # mant.md §4: 4 + (16-bit scale + 4-bit selector) / 64 = 4.3125
    assert load_accelerator("mant").default_precision.weight_bits_per_element == 4.3125


@pytest.mark.parametrize(
    ("name", "cols", "rows"),
    # UniCore configuration.py arrays (hardware.md §5): ant 78x64, tender 90x64, tender_w8a8 45x32
    [("ant", 64, 78), ("tender", 64, 90), ("int8", 32, 45)],
)
def test_iso_area_reproduces_unicore_arrays(name, cols, rows):
    acc = load_accelerator(name).with_array(cols=cols)
    assert iso_area(acc, UNICORE_BUDGET_UM2).array.rows == rows


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["int8", "ant", "olive", "tender", "mant", "fp16"]),
    cols=st.integers(1, 64),
    budget=st.floats(2e5, 3e6),
)
def test_iso_area_spends_at_most_the_budget_and_one_more_row_would_not_fit(name, cols, budget):
    acc = load_accelerator(name).with_array(rows=1, cols=cols)
    try:
        sized = iso_area(acc, budget)
    except InputError:
        assert acc.pe_area_um2 > budget
        return
    assert sized.pe_area_um2 <= budget
    assert sized.with_array(rows=sized.array.rows + 1).pe_area_um2 > budget


def _raw(name="mant"):
    return yaml.safe_load(load_accelerator(name).to_yaml())


def test_bad_file_reports_every_issue_at_once(tmp_path):
    data = _raw()
    data["array"]["rows"] = 0
    data["array"]["dataflow"] = "rs"
    data["buffers"]["out_bytes"] = -5
    data["dram"]["bw_bytes_per_cycle"] = 0
    data["pe"] = "no-such-pe"
    data["turbo"] = True
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_accelerator(str(path))
    # every issue names the file first (hwmodel._validate.in_file)
    assert all(i.path.startswith(f"{path}: ") for i in err.value.issues)
    paths = {i.path.split(": ", 1)[1] for i in err.value.issues}
    assert paths == {
        "accelerator.array.rows",
        "accelerator.array.dataflow",
        "accelerator.buffers.out_bytes",
        "accelerator.dram.bw_bytes_per_cycle",
        "accelerator.pe",
        "accelerator.turbo",
    }
    text = str(err.value)
    assert "accelerator.array.rows: must be an int >= 1, got 0" in text
    assert "accelerator.array.dataflow: must be one of os, ws, is, got 'rs'" in text
    assert "unknown key; valid keys are" in text


def test_buffer_too_small_for_one_tile_names_each_buffer():
    data = _raw()
    data["array"] = {"rows": 512, "cols": 256, "dataflow": "ws"}
    data["buffers"]["weight_bytes"] = 1024
    with pytest.raises(InputError) as err:
        accelerator_from_dict(data)
    paths = [i.path for i in err.value.issues]
    assert paths == ["accelerator.buffers.weight_bytes", "accelerator.buffers.out_bytes"]
    assert all("too small for one 512x256 tile" in i.rule for i in err.value.issues)


def test_with_helpers_validate_and_replace():
    acc = load_accelerator("mant").with_array(rows=64, cols=32, dataflow="os")
    assert (acc.array.rows, acc.array.cols, str(acc.array.dataflow)) == (64, 32, "os")
    assert acc.with_buffers(weight_bytes=262144).buffers.weight_bytes == 262144
    with pytest.raises(InputError, match="array.rows: must be an int >= 1, got -3"):
        acc.with_array(rows=-3)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown preset"):
        load_accelerator("tpu-v9")
    with pytest.raises(InputError, match="file not found"):
        load_accelerator(str(tmp_path / "nope.yaml"))


def test_mant_preset_bits_follow_mant_accounting():
    # the native recipe mant-hpca25: MANT4 weights with an FP16 scale and a 4-bit selector per
    # group of 64 (mant.md §4: 4.3125 bits); the KV cache picks one of 3 types (2-bit selector:
    # 4 + 18/64 = 4.28125); INT8 activations with an FP16 scale per group of 64 (8.25)
    prec = load_accelerator("mant").default_precision
    expected = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4, group_size=64)
    assert prec.weight_bits_per_element == expected.weight_bits_per_element == 4.3125
    assert (prec.kv_bits, prec.kv_bits_per_element) == (4, 4.28125)
    assert prec.act_bits_per_element == 8.25
