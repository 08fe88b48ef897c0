"""PE types: shipped data files, precision modes, refusals, user-written PE files."""

from __future__ import annotations

import pytest
import yaml

from hwmodel import Gemm, Precision, evaluate, list_pes, load_accelerator, load_pe
from mant.errors import InputError


@pytest.mark.parametrize("name", list_pes())
def test_every_shipped_pe_loads_and_names_its_sources(name):
    pe = load_pe(name)
    assert pe.name == name
    assert pe.source.strip() and pe.technology_nm > 0 and pe.clock_hz > 0
    assert pe.area_um2 > 0 and pe.modes
    for mode in pe.modes:
        assert mode.source.strip(), f"{name} W{mode.weight_bits}A{mode.act_bits} has no source"
        assert mode.macs_per_cycle > 0 and mode.energy_pj_per_mac > 0


def test_ant_runs_4bit_at_four_times_the_8bit_throughput():
    # ANT artifact conf_ant.ini: a 4-bit op gets (8/4)^2 = 4x peak throughput (hardware.md §6)
    pe = load_pe("ant")
    assert pe.mode_for(4, 4).macs_per_cycle == 4 * pe.mode_for(8, 8).macs_per_cycle


def test_mant_w8a8_runs_at_half_the_w4a8_throughput():
    # UniCore configuration.py: M-ANT W8A8 = two fused 4-bit PEs (hardware.md §5)
    pe = load_pe("mant")
    assert pe.mode_for(8, 8).macs_per_cycle == pe.mode_for(4, 8).macs_per_cycle / 2
    assert pe.mode_for(4, 4).energy_pj_per_mac == pe.mode_for(4, 8).energy_pj_per_mac


def test_narrow_operands_use_the_fastest_covering_mode():
    pe = load_pe("ant")
    assert pe.mode_for(3, 4) is pe.mode_for(4, 4)
    assert pe.mode_for(5, 8) is pe.mode_for(8, 8)


def test_a_pe_refuses_a_precision_it_has_no_mode_for():
    with pytest.raises(InputError, match=r"pe\.mant\.modes: no mode runs W16A8"):
        load_pe("mant").mode_for(16, 8)


def test_evaluate_refuses_unsupported_kv_precision():
    acc = load_accelerator("mant")
    fp16_kv = Precision(
        weight_bits=4,
        weight_bits_per_element=4.3125,
        act_bits=8,
        kv_bits=16,
        kv_bits_per_element=16.0,
        group_size=64,
    )
    with pytest.raises(InputError):
        evaluate(acc, Gemm(m=1, n=128, k=2048, operand="kv"), fp16_kv)
    # the weight GEMM of the same precision is fine: the KV side is what the PE refuses
    assert evaluate(acc, Gemm(m=1, n=128, k=2048), fp16_kv).macs == 128 * 2048


def test_user_pe_file_loads_and_bad_one_reports_every_issue(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(_plain(load_pe("int8"))))
    data["name"] = "my-int8"
    good = tmp_path / "my.yaml"
    good.write_text(yaml.safe_dump(data))
    assert load_pe(str(good)).name == "my-int8"

    data["area_um2"] = 0
    data["modes"][0]["macs_per_cycle"] = -1
    data["colour"] = "red"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_pe(str(bad))
    paths = {i.path for i in err.value.issues}
    assert paths == {"pe.area_um2", "pe.modes[0].macs_per_cycle", "pe.colour"}


def _plain(pe):
    return {
        "name": pe.name,
        "description": pe.description,
        "source": pe.source,
        "technology_nm": pe.technology_nm,
        "clock_hz": pe.clock_hz,
        "area_um2": pe.area_um2,
        "leakage_uw": pe.leakage_uw,
        "modes": [
            {
                "weight_bits": m.weight_bits,
                "act_bits": m.act_bits,
                "macs_per_cycle": m.macs_per_cycle,
                "energy_pj_per_mac": m.energy_pj_per_mac,
                "source": m.source,
            }
            for m in pe.modes
        ],
    }


def test_absurd_pe_rates_are_refused_not_overflowed(tmp_path):
    """A PE with ``macs_per_cycle: 1e300`` overflowed every cost silently (issue 22)."""
    data = yaml.safe_load(yaml.safe_dump(_plain(load_pe("int8"))))
    data["name"] = "absurd"
    data["modes"][0]["macs_per_cycle"] = 1e300
    data["modes"][0]["energy_pj_per_mac"] = 1e9
    bad = tmp_path / "absurd.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_pe(str(bad))
    text = str(err.value)
    assert "modes[0].macs_per_cycle: must be a number > 0 and <= 1024, got 1e+300" in text
    assert "modes[0].energy_pj_per_mac: must be a number > 0 and <= 10000" in text
