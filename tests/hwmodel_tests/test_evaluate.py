"""Cost-model contracts: bounds, additivity, vectorised = scalar, group epilogue, traffic."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwmodel import (
    Cost,
    Gemm,
    Precision,
    Workload,
    evaluate,
    evaluate_many,
    llm_workload,
    load_accelerator,
)
from mant.errors import InputError

PRESETS = ["int8", "ant", "olive", "tender", "mant", "fp16"]
dims = st.integers(1, 3000)
sides = st.integers(1, 96)
dataflows = st.sampled_from(["os", "ws", "is"])


def _peak_macs_per_cycle(acc, gemm):
    prec = acc.default_precision
    b = prec.kv_bits if gemm.operand == "kv" else prec.weight_bits
    mode = acc.pe.mode_for(b, prec.act_bits)
    return acc.array.rows * acc.array.cols * mode.macs_per_cycle


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(PRESETS),
    m=dims,
    n=dims,
    k=dims,
    r=sides,
    c=sides,
    df=dataflows,
    operand=st.sampled_from(["weight", "kv"]),
)
def test_cycles_bound_utilisation_and_energy(name, m, n, k, r, c, df, operand):
    acc = load_accelerator(name).with_array(rows=r, cols=c, dataflow=df)
    gemm = Gemm(m=m, n=n, k=k, operand=operand)
    cost = evaluate(acc, gemm)
    assert cost.compute_cycles >= gemm.macs / _peak_macs_per_cycle(acc, gemm)
    assert cost.cycles >= max(cost.compute_cycles, cost.memory_cycles)
    assert 0 < cost.utilization <= 1
    assert 0 < cost.mapping_efficiency <= 1
    assert all(v >= 0 for v in cost.energy_breakdown_pj.values())
    assert cost.energy_pj == pytest.approx(sum(cost.energy_breakdown_pj.values()))
    assert cost.dram_bytes > 0 and cost.latency_s == cost.cycles / acc.clock_hz


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(PRESETS), m=dims, n=dims, k=dims, count=st.integers(1, 50))
def test_costs_add_and_count_multiplies(name, m, n, k, count):
    acc = load_accelerator(name)
    one = evaluate(acc, Gemm(m=m, n=n, k=k))
    many = evaluate(acc, Gemm(m=m, n=n, k=k, count=count))
    assert many.cycles == count * one.cycles
    assert many.energy_pj == pytest.approx(count * one.energy_pj)
    other = evaluate(acc, Gemm(m=n, n=k, k=m))
    both = one + other
    assert both.cycles == one.cycles + other.cycles
    assert both.energy_pj == pytest.approx(one.energy_pj + other.energy_pj)
    assert both.macs == one.macs + other.macs
    assert both.utilization == pytest.approx(
        (one.macs + other.macs) / (one.peak_mac_slots + other.peak_mac_slots)
    )
    assert both.layers == (one, other)


def test_workload_cost_is_the_sum_of_its_layers():
    acc = load_accelerator("mant")
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=1024)
    total = evaluate(acc, wl)
    layers = [evaluate(acc, g) for g in wl]
    assert total.cycles == sum(c.cycles for c in layers)
    assert total.dram_bytes == pytest.approx(sum(c.dram_bytes for c in layers))
    for key in total.energy_breakdown_pj:
        assert total.energy_breakdown_pj[key] == pytest.approx(
            sum(c.energy_breakdown_pj[key] for c in layers)
        )
    assert [c.name for c in total.layers] == [g.name for g in wl]
    assert Cost.total(layers) == total


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(PRESETS),
    df=dataflows,
    rows=st.lists(st.integers(1, 128), min_size=1, max_size=6),
    cols=st.integers(1, 128),
    m=dims,
    n=dims,
    k=dims,
)
def test_vectorised_path_equals_scalar_path(name, df, rows, cols, m, n, k):
    acc = load_accelerator(name).with_array(rows=1, cols=1, dataflow=df)
    wl = Workload(gemms=(Gemm(m=m, n=n, k=k, count=3), Gemm(m=n, n=m, k=k, operand="kv")))
    out = evaluate_many(acc, wl, rows=np.array(rows), cols=cols)
    for i, r in enumerate(rows):
        try:
            one = evaluate(acc.with_array(rows=r, cols=cols), wl)
        except InputError:
            assert not out["feasible"][i]
            continue
        assert out["feasible"][i]
        assert out["cycles"][i] == one.cycles
        assert out["compute_cycles"][i] == one.compute_cycles
        assert out["memory_cycles"][i] == one.memory_cycles
        assert out["energy_pj"][i] == pytest.approx(one.energy_pj, rel=1e-12)
        assert out["utilization"][i] == pytest.approx(one.utilization, rel=1e-12)
        assert out["mapping_efficiency"][i] == pytest.approx(one.mapping_efficiency, rel=1e-12)
        assert out["dram_bytes"][i] == pytest.approx(one.dram_bytes, rel=1e-12)
        assert out["area_um2"][i] == pytest.approx(one.area_um2, rel=1e-12)


def _segments_by_enumeration(k, span, g):
    """Oracle: distinct (fold, group) pairs when folds of ``span`` cut a length-k reduction."""
    return len({(i // span, i // g) for i in range(k)})


@settings(max_examples=120, deadline=None)
@given(
    k=st.integers(1, 1500),
    rows=st.integers(1, 130),
    g=st.sampled_from([16, 32, 64, 128]),
    m=st.integers(1, 4),
    n=st.integers(1, 40),
)
def test_epilogue_ops_count_group_segments(k, rows, g, m, n):
    acc = load_accelerator("mant").with_array(rows=rows, cols=32, dataflow="ws")
    prec = dataclasses.replace(acc.default_precision, group_size=g)
    cost = evaluate(acc, Gemm(m=m, n=n, k=k), prec)
    assert cost.epilogue_ops == m * n * _segments_by_enumeration(k, rows, g)


def test_misaligned_group_size_costs_epilogue_time_and_energy():
    """64 rows hold one g = 64 group per fold; 104 rows (UniCore's M-ANT array) cut groups."""
    gemm = Gemm(m=512, n=4096, k=4096)
    base = load_accelerator("mant").with_dram(bw_bytes_per_cycle=1e9)
    aligned = evaluate(base.with_array(rows=64, cols=32), gemm)
    cut = evaluate(base.with_array(rows=104, cols=32), gemm)
    assert aligned.epilogue_ops == 512 * 4096 * 64  # exactly one op per group and output
    assert cut.epilogue_ops > aligned.epilogue_ops
    assert cut.energy_breakdown_pj["epilogue"] > aligned.energy_breakdown_pj["epilogue"]
    # with 104 rows each output needs up to 3 segments per fold: the epilogue sets the pace
    assert cut.compute_cycles > gemm.macs / (104 * 32) * 1.5


def test_pe_without_epilogue_has_none():
    cost = evaluate(load_accelerator("ant"), Gemm(m=64, n=64, k=4096))
    assert cost.epilogue_ops == 0 and cost.energy_breakdown_pj["epilogue"] == 0


def test_metadata_bits_travel_with_the_weights():
    """Decode GEMM whose weights fit on chip: DRAM bytes = A + B + outputs at their real widths."""
    acc = load_accelerator("mant")
    m, n, k = 1, 256, 512
    for bpe in (4.0, 4.25, 4.3125, 4.5):
        prec = dataclasses.replace(
            acc.default_precision, weight_bits_per_element=bpe, act_bits_per_element=8.0
        )
        cost = evaluate(acc, Gemm(m=m, n=n, k=k), prec)
        assert cost.dram_bytes == pytest.approx((m * k * 8 + k * n * bpe + m * n * 8) / 8)


def test_decode_is_memory_bound_at_low_bandwidth_and_overlap_models_differ():
    gemm = Gemm(m=1, n=4096, k=4096)
    acc = load_accelerator("mant").with_dram(bw_bytes_per_cycle=1.0)
    fast = evaluate(acc, gemm)
    assert fast.bound == "memory" and fast.cycles == fast.memory_cycles
    serial = evaluate(dataclasses.replace(acc, overlap="sum"), gemm)
    assert serial.cycles == fast.compute_cycles + fast.memory_cycles


def test_buffer_reuse_cuts_dram_traffic():
    gemm = Gemm(m=2048, n=4096, k=4096)
    w8a8 = Precision(weight_bits=8, weight_bits_per_element=8, act_bits=8, kv_bits=8,
                     kv_bits_per_element=8)  # fmt: skip
    small = evaluate(
        load_accelerator("int8").with_buffers(weight_bytes=131072, act_bytes=131072), gemm, w8a8
    )
    big = evaluate(
        load_accelerator("int8").with_buffers(weight_bytes=64 << 20, act_bytes=64 << 20),
        gemm,
        w8a8,
    )
    # with B resident, each operand is read exactly once
    assert big.dram_read_bytes == 2048 * 4096 + 4096 * 4096
    assert small.dram_read_bytes > 4 * big.dram_read_bytes


def test_kv_operand_uses_kv_precision():
    acc = load_accelerator("ant")  # 4-bit weights, 16-bit KV (hardware.md §5)
    w = evaluate(acc, Gemm(m=1, n=128, k=2048))
    kv = evaluate(acc, Gemm(m=1, n=128, k=2048, operand="kv"))
    assert kv.compute_cycles > w.compute_cycles
    assert kv.dram_bytes > w.dram_bytes


def test_evaluate_many_rejects_bad_arrays():
    acc = load_accelerator("mant")
    with pytest.raises(InputError) as err:
        evaluate_many(acc, Gemm(m=1, n=1, k=1), rows=np.array([0, 4]), cols=4, dataflow="xy")
    assert {i.path for i in err.value.issues} == {"rows", "dataflow"}


def test_precision_validation_lists_all_issues():
    with pytest.raises(InputError) as err:
        Precision(
            weight_bits=0,
            weight_bits_per_element=-1.0,
            act_bits=8,
            kv_bits=4,
            kv_bits_per_element=2.0,
            group_size=64,
        )
    assert {i.path for i in err.value.issues} == {
        "precision.weight_bits",
        "precision.weight_bits_per_element",
        "precision.kv_bits_per_element",
    }
