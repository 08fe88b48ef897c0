"""One file per PE: native recipe, colour, named constant sets; presets derive their precision."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from hwmodel import (
    Precision,
    evaluate,
    iso_area,
    list_pes,
    list_presets,
    llm_workload,
    load_accelerator,
    load_pe,
)
from hwmodel.accelerator import native_precision
from hwmodel.pe import CONSTANT_SETS
from mant.errors import InputError
from mant.recipes import named_recipe, recipe_names

# every PE offers the M-ANT comparison's two sets; `bitmod` only the PEs of BitMoD's comparison
EVERY_PE_SETS = ("unicore", "paper")
BITMOD_PES = ("ant", "bitmod", "olive")


@pytest.mark.parametrize("name", list_pes())
def test_every_pe_file_names_its_recipe_colour_and_both_constant_sets(name):
    pe = load_pe(name)
    assert pe.native_recipe in recipe_names()
    assert pe.color is not None and pe.color.startswith("#")
    extra = ("bitmod",) if name in BITMOD_PES else ()
    assert set(pe.constant_sets) == {*EVERY_PE_SETS, *extra} <= set(CONSTANT_SETS)
    for s in pe.constant_sets:
        assert load_pe(name, s).constants == s
        assert load_pe(name, s).source  # every set names its source
        for m in load_pe(name, s).modes:
            assert m.source  # and every number of every mode


@pytest.mark.parametrize("name", list_presets())
def test_a_preset_takes_its_precision_from_its_pes_native_recipe(name):
    raw = yaml.safe_load((resources.files("hwmodel") / "presets" / f"{name}.yaml").read_text())
    assert "default_precision" not in raw  # never stated twice
    acc = load_accelerator(name)
    expected = Precision.from_recipe(named_recipe(acc.pe.native_recipe))
    assert acc.default_precision == expected == native_precision(acc.pe)
    assert "default_precision" not in acc.to_dict()


def test_no_two_pes_share_a_native_recipe():
    recipes = [load_pe(n).native_recipe for n in list_pes()]
    assert len(set(recipes)) == len(recipes)


def test_the_accelerator_picks_the_constant_set():
    acc = load_accelerator("mant")
    assert acc.pe_constants == "unicore" and acc.pe.constants == "unicore"
    paper = acc.with_pe_constants("paper")
    assert paper.pe.area_um2 == 148.0 and paper.pe.constants == "paper"
    assert paper.to_dict()["pe_constants"] == "paper"
    assert load_accelerator("mant").to_dict().get("pe_constants") is None
    with pytest.raises(InputError, match="accelerator.pe_constants: must be one of"):
        acc.with_pe_constants("guess")


def test_the_epilogue_is_inside_unicores_mant_area():
    """UniCore's M-ANT GEMM area is the whole array: 64 x 52 PEs spend its 104 x 32 budget."""
    acc = load_accelerator("mant")
    assert acc.pe.epilogue is not None and acc.pe.epilogue.area_um2_per_column == 0.0
    assert (acc.array.rows, acc.array.cols) == (64, 52)
    assert acc.array.rows * acc.array.cols == 104 * 32
    assert acc.pe_area_um2 == pytest.approx(785929 / 2024 * 104 * 32, rel=1e-9)


def test_leakage_is_one_28nm_density_for_every_pe_of_a_set():
    # Bit Fusion's 45 nm synthesis (64.314 uW over 1733.13 um^2) scaled like its area and energy
    density = 64.314 / 1733.13 * 45 / 28
    for name in list_pes():
        for s in EVERY_PE_SETS:
            pe = load_pe(name, s)
            assert pe.leakage_uw == pytest.approx(density * pe.area_um2, rel=2e-3), (name, s)


def test_a_set_the_pe_lacks_and_a_bad_colour_are_reported(tmp_path):
    text = (resources.files("hwmodel") / "data" / "pes" / "int8.yaml").read_text()
    data = yaml.safe_load(text)
    del data["constants"]["paper"]
    data["color"] = "red"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as err:
        load_pe(str(path), "paper")
    text = str(err.value)
    assert "pe.color: must be a colour #rrggbb, got 'red'" in text
    assert "pe.constants: has no set 'paper'; this PE offers unicore" in text


def test_a_pe_file_on_the_search_path_is_a_pe(tmp_path, monkeypatch):
    data = yaml.safe_load((resources.files("hwmodel") / "data" / "pes" / "int8.yaml").read_text())
    data["name"] = "npu9"
    (tmp_path / "npu9.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MANT_DSE_PE_PATH", str(tmp_path))
    assert "npu9" in list_pes()
    assert load_pe("npu9").native_recipe == "int8-g64"


def test_per_kind_group_size_sets_each_gemms_epilogue():
    """Halving only the KV groups doubles the epilogue work of QK^T and PV and nothing else."""
    from hwmodel import evaluate, llm_workload

    acc = load_accelerator("mant")
    base = acc.default_precision
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048)
    kv32 = base.with_kinds(
        {
            "key": (4, base.of_kind("key")[1], 32),
            "value": (4, base.of_kind("value")[1], 32),
        }
    )
    assert kv32.group_size == 64 and [o.group_size for o in kv32.per_kind] == [32, 32]
    a, b = evaluate(acc, wl, base), evaluate(acc, wl, kv32)
    ops = {lc.name: lc.epilogue_ops for lc in a.layers}
    ops32 = {lc.name: lc.epilogue_ops for lc in b.layers}
    for name in ops:
        factor = 2 if name in ("qk", "pv") else 1
        assert ops32[name] == factor * ops[name], name
    assert b.energy_pj > a.energy_pj
    # round trip through YAML keeps the group size
    assert Precision.from_dict(kv32.to_dict()) == kv32


def test_the_bitmod_set_is_bitmods_simulator_with_its_place_and_route_factor():
    """BitMoD-HPCA-25 e445a5f bitmod_sim: test_bitmod.py 0.56 pJ / 1507.7 um^2 (4-wide,
    bit-serial 2 bits per cycle), test_ant.py 0.56 / 1318.6, test_olive.py 0.613 / 1318.6, all
    times pe_array.py PR_SCALING = 1.5; the simulator charges no leakage."""
    bm, ant, olive = (load_pe(n, "bitmod") for n in ("bitmod", "ant", "olive"))
    assert bm.area_um2 == pytest.approx(1507.7 * 1.5)
    assert ant.area_um2 == olive.area_um2 == pytest.approx(1318.6 * 1.5)
    w4 = bm.mode_for(4, 16)
    assert w4.macs_per_cycle == 2.0 and w4.energy_pj_per_mac == pytest.approx(0.56 * 1.5 * 2 / 4)
    assert bm.mode_for(3, 16) == w4  # ceil(3 / 2) = 2 cycles, as W4
    assert bm.mode_for(8, 16).macs_per_cycle == 1.0  # the 8-bit KV cache: 4 cycles per 4 MACs
    assert ant.mode_for(5, 16).energy_pj_per_mac == pytest.approx(0.56 * 1.5)
    assert olive.mode_for(16, 16).energy_pj_per_mac == pytest.approx(0.613 * 1.5)
    assert bm.leakage_uw == ant.leakage_uw == olive.leakage_uw == 0.0
    # the unicore set is the simulator's number before the factor, as UniCore's own are
    assert load_pe("bitmod").area_um2 == 1507.7
    assert load_pe("bitmod").mode_for(4, 16).energy_pj_per_mac == pytest.approx(0.28)
    with pytest.raises(InputError, match="has no set 'bitmod'"):
        load_pe("mant", "bitmod")


@pytest.mark.parametrize("name", ["bitmod", "mxfp", "m2xfp", "nvfp4", "razer", "fourover6"])
def test_the_2025_26_presets_are_iso_area_and_run_hw_llm(name):
    budget = 104 * 32 * 785929 / 2024  # UniCore's M-ANT array, as every preset
    acc = load_accelerator(name)
    keep = "cols" if name == "bitmod" else "rows"
    again = iso_area(acc, budget, keep=keep)
    assert (again.array.rows, again.array.cols) == (acc.array.rows, acc.array.cols)
    assert 0.97 <= acc.pe_area_um2 / budget <= 1.0
    cost = evaluate(acc, llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1))
    assert cost.cycles > 0 and cost.bound == "memory"


def test_the_mx_pe_runs_nvfp4_with_twice_the_block_segments():
    acc = load_accelerator("mxfp")
    wl = llm_workload("llama-2-7b", phase="prefill", seq_len=256, batch=1)
    mx = evaluate(acc, wl)
    nv = evaluate(acc.with_precision(Precision.from_recipe(named_recipe("nvfp4-w4a4"))), wl)
    # blocks of 16 against 32: about twice the segments (the LM head and the attention GEMMs
    # with their unquantized 16-bit operands have none)
    ratio = nv.energy_breakdown_pj["epilogue"] / mx.energy_breakdown_pj["epilogue"]
    assert 1.8 <= ratio <= 2.0
    assert nv.dram_bytes > mx.dram_bytes  # 4.5 bits per element against 4.25


NEW_2026_PES = ("nvfp4", "razer", "fourover6")


@pytest.mark.parametrize("name", NEW_2026_PES)
def test_the_nvfp4_razer_and_4over6_pes_carry_tagged_sources(name):
    """Every constant of the three PE files says where it comes from ([T] third-party, [D]
    derived, [U] unverified / named assumption), as the mxfp and m2xfp files do."""
    pe = load_pe(name)
    assert any(tag in pe.source for tag in ("[T", "[D", "[U"))
    assert pe.epilogue is not None and any(t in pe.epilogue.source for t in ("[D", "[U"))
    for m in pe.modes:
        assert any(tag in m.source for tag in ("[T", "[D", "[U")), (name, m)
    assert {(m.weight_bits, m.act_bits) for m in pe.modes} == {(4, 4), (4, 8), (8, 8), (16, 16)}
    raw = yaml.safe_load((resources.files("hwmodel") / "presets" / f"{name}.yaml").read_text())
    # the same memory system as every other preset
    assert raw["dram"] == {"type": "hbm2", "stacks": 1, "capacity_bytes": 17179869184}


def test_nvfp4_is_the_mx_brick_with_an_e4m3_block16_epilogue():
    """The NVFP4 PE is the mxfp brick (same area and MAC energies, so the same 32 x 156 array);
    its epilogue is the E4M3 x E4M3 scale product per 16-element block: 0.62 pJ against MX's
    0.58 (Horowitz x 28/45, hwmodel/data/pes/nvfp4.yaml)."""
    nv, mx = load_pe("nvfp4"), load_pe("mxfp")
    assert nv.area_um2 == mx.area_um2 and nv.leakage_uw == mx.leakage_uw
    assert [m.energy_pj_per_mac for m in nv.modes] == [m.energy_pj_per_mac for m in mx.modes]
    assert nv.epilogue.energy_pj_per_op == 0.62 and mx.epilogue.energy_pj_per_op == 0.58
    a_nv, a_mx = load_accelerator("nvfp4"), load_accelerator("mxfp")
    assert (a_nv.array.rows, a_nv.array.cols) == (a_mx.array.rows, a_mx.array.cols)
    wl = llm_workload("llama-2-7b", phase="prefill", seq_len=256, batch=1)
    nv_prec = Precision.from_recipe(named_recipe("nvfp4-w4a4"))
    on_nv, on_mx = evaluate(a_nv, wl), evaluate(a_mx.with_precision(nv_prec), wl)
    assert a_nv.default_precision == nv_prec
    # same recipe, same segments: the epilogue energy differs by 0.62 / 0.58 exactly
    ratio = on_nv.energy_breakdown_pj["epilogue"] / on_mx.energy_breakdown_pj["epilogue"]
    assert ratio == pytest.approx(0.62 / 0.58, rel=1e-12)
    assert on_nv.energy_breakdown_pj["pe"] == on_mx.energy_breakdown_pj["pe"]


def test_four_over_six_runs_the_nvfp4_datapath():
    """4/6 lives in the stored E4M3 scale: the fourover6 PE and preset equal nvfp4's, so at the
    same recipe the two cost exactly the same; 4/6 at its own recipe moves the same bytes
    (4.5 bits per element each)."""
    a46, anv = load_accelerator("fourover6"), load_accelerator("nvfp4")

    def numbers(pe):
        ep = pe.epilogue
        return [
            (m.weight_bits, m.act_bits, m.macs_per_cycle, m.energy_pj_per_mac) for m in pe.modes
        ], (ep.energy_pj_per_op, ep.latency_cycles, ep.ops_per_cycle, ep.area_um2_per_column)

    assert numbers(a46.pe) == numbers(anv.pe)  # the sources differ in wording only
    assert a46.pe.area_um2 == anv.pe.area_um2
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
    same = evaluate(a46.with_precision(anv.default_precision), wl)
    ref = evaluate(anv, wl)
    assert same.cycles == ref.cycles and same.energy_pj == pytest.approx(ref.energy_pj, 1e-12)
    own = evaluate(a46, wl)
    assert own.dram_bytes == ref.dram_bytes and own.cycles == ref.cycles
    assert "run time" in a46.pe.notes  # the cost is in quantizing activations: stated


def test_razer_charges_its_special_value_decode_and_runs_both_variants():
    """RaZeR's W4 modes cost the mxfp brick plus the decode (0.019 pJ, Horowitz 8b add x 28/45),
    its area +10 % [U]; the native recipe (razer_mxfp4, 4.3125 bits) and the NVFP4 variant
    (4.625 bits) both run on it."""
    rz, mx = load_pe("razer"), load_pe("mxfp")
    assert rz.mode_for(4, 4).energy_pj_per_mac == pytest.approx(
        mx.mode_for(4, 4).energy_pj_per_mac + 0.019
    )
    assert rz.mode_for(8, 8).energy_pj_per_mac == mx.mode_for(8, 8).energy_pj_per_mac
    assert rz.area_um2 == pytest.approx(1.1 * mx.area_um2, rel=2e-3)
    acc = load_accelerator("razer")
    assert acc.default_precision.weight_bits_per_element == 4.3125
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
    mx_cost = evaluate(acc, wl)
    nv = acc.with_precision(Precision.from_recipe(named_recipe("razer-nv-w4a4")))
    nv_cost = evaluate(nv, wl)
    assert nv_cost.dram_bytes > mx_cost.dram_bytes  # 4.625 bits per element against 4.3125
    assert mx_cost.bound == nv_cost.bound == "memory"
