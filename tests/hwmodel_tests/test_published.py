"""BitFusion PE and preset; the M-ANT PE against its one published constant; RQU overhead."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from hwmodel import (
    MANT_PE_AREA_UM2_PER_MAC,
    RQU_EXPOSED_OVERHEAD,
    Gemm,
    evaluate,
    iso_area,
    load_accelerator,
    load_pe,
    mant_pe_area_check,
    with_exposed_overhead,
)
from mant.errors import InputError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hwmodel.md"

# The Bit Fusion authors' synthesis of one Fusion Unit (hsharma35/bitfusion,
# results/systolic_array_synth.csv: N=1, M=1, 8-bit max, 2-bit min, 45 nm, 500 MHz).
FU_AREA_45NM_UM2 = 1733.129989
FU_DYNAMIC_NW_500MHZ = 279960.0


def test_bitfusion_modes_follow_the_fusion_rule():
    pe = load_pe("bitfusion")
    for w in (2, 4, 8):
        for a in (2, 4, 8):
            mode = pe.mode_for(w, a)
            assert mode.macs_per_cycle == (8 // w) * (8 // a), (w, a)
    # a 3-bit weight runs in the 4-bit mode
    assert pe.mode_for(3, 8).macs_per_cycle == 2


def test_bitfusion_paper_constants_are_the_synthesis_row_scaled_to_28nm():
    pe = load_pe("bitfusion", "paper")
    assert pe.area_um2 == pytest.approx(FU_AREA_45NM_UM2 * (28 / 45) ** 2, rel=1e-5)
    per_cycle_pj = FU_DYNAMIC_NW_500MHZ * 1e-9 / 500e6 * 1e12 * 28 / 45
    for mode in pe.modes:
        if mode.weight_bits <= 8 and mode.act_bits <= 8:  # 16-bit passes are derived
            assert mode.macs_per_cycle * mode.energy_pj_per_mac == pytest.approx(
                per_cycle_pj, rel=1e-3
            )


def test_bitfusion_preset_spends_the_common_pe_budget():
    acc = load_accelerator("bitfusion")
    budget = 104 * 32 * 785929 / 2024  # UniCore's M-ANT array, as every preset
    assert iso_area(acc, budget).array == acc.array
    assert acc.array.cols == 32
    assert acc.pe_area_um2 <= budget


def test_mant_pe_area_against_the_published_148um2_per_mac():
    check = mant_pe_area_check()
    assert check.published_um2_per_mac == MANT_PE_AREA_UM2_PER_MAC == 148.0
    pe = load_pe("mant")
    assert check.model_um2_per_mac == pe.area_um2  # one W4A8 MAC per PE-cycle
    # UniCore's M-ANT GEMM area includes the per-column epilogue: no area on top of it
    assert check.model_with_epilogue_um2_per_mac == pe.area_um2
    # the paper set is the published figure itself (epilogue included)
    assert mant_pe_area_check(load_pe("mant", "paper")).ratio == 1.0
    print(f"M-ANT PE: {check.model_um2_per_mac:.1f} um^2/MAC vs 148: {check.ratio:.2f}x")
    # what docs/hwmodel.md states must be what the model computes
    text = DOCS.read_text()
    stated = re.search(r"M-ANT PE area check: ([\d.]+) um\^2 per MAC, ([\d.]+)x", text)
    assert stated is not None
    assert float(stated.group(1)) == round(check.model_um2_per_mac, 1)
    assert float(stated.group(2)) == round(check.ratio, 2)
    stated_epi = re.search(r"with the epilogue ([\d.]+) um\^2 per MAC, ([\d.]+)x", text)
    assert stated_epi is not None
    assert float(stated_epi.group(1)) == round(check.model_with_epilogue_um2_per_mac, 1)
    assert float(stated_epi.group(2)) == round(check.ratio_with_epilogue, 2)


def test_exposed_overhead_adds_time_and_leakage_only():
    cost = evaluate(load_accelerator("mant"), Gemm(m=2048, n=4096, k=4096))
    out = with_exposed_overhead(cost)
    extra = math.ceil(RQU_EXPOSED_OVERHEAD * cost.cycles)
    assert out.cycles == cost.cycles + extra
    scale = out.cycles / cost.cycles
    assert out.energy_breakdown_pj["static"] == pytest.approx(
        cost.energy_breakdown_pj["static"] * scale
    )
    for key in ("pe", "epilogue", "sram", "dram"):
        assert out.energy_breakdown_pj[key] == cost.energy_breakdown_pj[key]
    assert out.dram_bytes == cost.dram_bytes and out.macs == cost.macs
    assert with_exposed_overhead(cost, 0.0) == cost
    with pytest.raises(InputError, match="overhead: must be a number in"):
        with_exposed_overhead(cost, 1.5)


def test_bitfusion_unicore_constants_are_unicore_ant_w8a8():
    """Same source as the ANT PE it is: UniCore's ANT W8A8 (1055044/1024 um^2, 1.074 pJ)."""
    bf, ant = load_pe("bitfusion"), load_pe("ant")
    assert bf.constants == ant.constants == "unicore"
    assert bf.area_um2 == pytest.approx(1055044 / 1024, rel=1e-6)
    assert bf.mode_for(8, 8).energy_pj_per_mac == ant.mode_for(8, 8).energy_pj_per_mac == 1.074
    # one W8A8 Fusion Unit costs what four ANT W4A4 units cost (area and energy)
    assert bf.area_um2 == pytest.approx(4 * ant.area_um2, rel=1e-5)
    assert bf.mode_for(4, 4).energy_pj_per_mac == pytest.approx(
        ant.mode_for(4, 4).energy_pj_per_mac, rel=2e-3
    )
    # no more the same W8A8 MAC cost as M-ANT's W4A8 MAC (issue 24): UniCore's W8A8 range
    assert 0.86 <= bf.mode_for(8, 8).energy_pj_per_mac <= 1.155
