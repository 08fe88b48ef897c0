"""The load path (the default GEMM model): decode as hardware runs it, for every dataflow.

Hand figures: LLaMA-2-7B's linear layers and LM head hold 32 x (4 x 4096^2 + 3 x 4096 x 11008)
+ 4096 x 32000 = 6,607,077,376 weights (``hardware_audit.md``); a decode step at a 2K context
reads 2 x 32 x 4096 x 2048 K and V elements.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwmodel import (
    Gemm,
    evaluate,
    evaluate_many,
    list_presets,
    llm_workload,
    load_accelerator,
    peak_macs_per_cycle,
)
from hwmodel.precision import Precision
from hwmodel.systolic import load_path_cycles

WEIGHTS = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000
KV_2K = 2 * 32 * 4096 * 2048


def _decode(acc, batch=1, seq_len=2048):
    return evaluate(acc, llm_workload("llama-2-7b", phase="decode", seq_len=seq_len, batch=batch))


def test_weight_count_matches_the_audit():
    assert WEIGHTS == 6_607_077_376


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_decodes_near_its_roofline(preset):
    """Batch-1 decode lands within 1.0-1.25x of max(DRAM time, compute time at peak), and the
    DRAM is the limit: weights + KV bytes over 256 GB/s, counted by hand."""
    acc = load_accelerator(preset)
    assert acc.array.gemv_path == "load_path" and acc.array.dataflow == "ws"
    cost = _decode(acc)
    prec = acc.default_precision
    hand_bytes = WEIGHTS * prec.weight_bits_per_element / 8 + KV_2K * prec.kv_bits_per_element / 8
    assert cost.macs == WEIGHTS + KV_2K
    # the model also moves the activations and outputs: < 0.5 % more than weights + KV
    assert hand_bytes <= cost.dram_bytes <= 1.005 * hand_bytes
    hand_dram_s = hand_bytes / 256e9
    assert cost.dram_time_s == pytest.approx(hand_dram_s, rel=5e-3)
    assert cost.bound == "memory"
    assert cost.roofline_s == pytest.approx(max(cost.dram_time_s, cost.peak_compute_s))
    assert cost.peak_compute_s < cost.dram_time_s
    assert 1.0 <= cost.latency_s / cost.roofline_s <= 1.25, (preset, cost.latency_s)


@pytest.mark.parametrize("dataflow", ["os", "is"])
def test_os_and_is_gemvs_cost_what_their_mapping_allows(dataflow):
    """At M = 1 only one array row (OS) or column (IS) is busy: int8 45 x 32, K = N = 4096."""
    acc = load_accelerator("int8").with_array(dataflow=dataflow)
    cost = evaluate(acc, Gemm(m=1, n=4096, k=4096))
    if dataflow == "os":
        # F = ceil(1/45) x ceil(4096/32) = 128 folds of T = K = 4096, skew and drain once
        assert cost.compute_cycles == 128 * 4096 + 45 + 32 - 2
    else:
        # F = ceil(4096/45) = 92 folds of T = N = 4096; each loads a 45 x 1 activation tile
        # (92 x 45 B at most) through the 256 B/cycle path: L = 4096 / (92 x 256) < 1
        assert cost.compute_cycles == 92 * 4096 + 1 + 45 + 32 - 2
    assert cost.latency_s >= cost.roofline_s
    # never below the compute roofline of the whole array
    assert cost.compute_cycles >= 4096 * 4096 / (45 * 32)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_decode_never_beats_the_roofline(dataflow):
    for preset in ("mant", "tender", "bitfusion"):
        acc = load_accelerator(preset).with_array(dataflow=dataflow)
        cost = _decode(acc)
        assert cost.latency_s >= cost.roofline_s * (1 - 1e-12), (preset, dataflow)
        assert cost.utilization <= 1.0


def test_batch_sweep_falls_until_the_compute_knee():
    """Per-token latency falls while the weights amortise over the batch, then stays flat once
    the linear layers are compute-bound."""
    acc = load_accelerator("mant")
    per_token = {b: _decode(acc, batch=b).latency_s / b for b in (1, 2, 4, 8, 16, 32, 64)}
    falls = [per_token[b] for b in (1, 2, 4, 8)]
    assert all(a > b for a, b in zip(falls, falls[1:], strict=False))
    assert per_token[1] / per_token[8] > 4
    flat = [per_token[b] for b in (16, 32, 64)]
    assert max(flat) / min(flat) < 1.01
    assert _decode(acc, batch=1).bound == "memory"
    assert _decode(acc, batch=64).bound == "compute"


def test_load_path_width_sets_ws_gemv_time():
    """A WS GEMV is load-bound: halving the path width doubles the load time."""
    acc = load_accelerator("mant").with_dram(bw_bytes_per_cycle=1e6)
    g = Gemm(m=1, n=4096, k=4096)
    wide = evaluate(acc, g)
    narrow = evaluate(acc.with_array(load_bytes_per_cycle=128.0), g)
    weights = 4096 * 4096 * 4.3125 / 8
    # 64 x 52 array: 64 x 79 folds; L = weights / (F W); ceil(L + F L) + R + C - 2, plus the
    # epilogue's 3
    for width, cost in ((256.0, wide), (128.0, narrow)):
        lf = weights / (64 * 79 * width)
        assert cost.compute_cycles == int(np.ceil(lf + 64 * 79 * lf)) + 64 + 52 - 2 + 3
    assert narrow.compute_cycles / wide.compute_cycles == pytest.approx(2.0, rel=1e-2)


def test_load_path_area_and_energy():
    acc = load_accelerator("mant")
    assert acc.array.load_area_um2 == 256.0 * acc.array.load_area_um2_per_byte
    assert acc.area_um2 == pytest.approx(
        acc.pe_area_um2 + acc.sram_area_um2 + acc.array.load_area_um2
    )
    g = Gemm(m=1, n=4096, k=4096)
    with_load = evaluate(acc, g).energy_breakdown_pj["sram"]
    scalesim = evaluate(acc.with_array(gemv_path="scalesim"), g).energy_breakdown_pj["sram"]
    # the load path adds pJ/bit x the weight bits it moves into the array
    assert with_load - scalesim == pytest.approx(4096 * 4096 * 4.3125 * 0.1)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_vectorised_matches_scalar(dataflow):
    acc = load_accelerator("mant").with_array(dataflow=dataflow)
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=4)
    rows, cols = np.array([64, 32, 17]), np.array([47, 32, 90])
    out = evaluate_many(acc, wl, rows=rows, cols=cols)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        one = evaluate(acc.with_array(rows=int(r), cols=int(c)), wl)
        assert out["cycles"][i] == one.cycles
        assert out["energy_pj"][i] == pytest.approx(one.energy_pj, rel=1e-12)
        assert out["area_um2"][i] == pytest.approx(one.area_um2, rel=1e-12)
        assert out["roofline_s"][i] == pytest.approx(one.roofline_s, rel=1e-12)
        assert bool(out["memory_bound"][i]) == (one.bound == "memory")


def test_closed_form_directly():
    # WS GEMV on mant's 64 x 47 array: the weights' DRAM time, plus one fill and drain
    weights = 4096 * 4096 * 4.3125 / 8
    assert load_path_cycles(1, 4096, 4096, 64, 47, "ws", weights, 256.0) == 35444
    # a long T hides the load: prefill's F T + first load + R + C - 2
    got = load_path_cycles(2048, 4096, 4096, 64, 47, "ws", weights, 256.0)
    assert got == 64 * 88 * 2048 + 7 + 64 + 47 - 2
    # OS has no stationary operand
    assert load_path_cycles(1, 64, 128, 32, 32, "os", 0.0, 256.0) == 2 * 128 + 62


def test_peak_rate_is_the_design_mode():
    assert peak_macs_per_cycle(load_accelerator("mant")) == 64 * 52  # W4A8, 1 MAC/PE-cycle
    assert peak_macs_per_cycle(load_accelerator("tender")) == 90 * 64  # its native W4A4
    assert peak_macs_per_cycle(load_accelerator("bitfusion")) == 39 * 32  # W8A8
    tender_a8 = load_accelerator("tender").with_precision(
        Precision(weight_bits=4, weight_bits_per_element=4.0, act_bits=8, kv_bits=16,
                  kv_bits_per_element=16.0, group_size=64)
    )  # fmt: skip
    assert peak_macs_per_cycle(tender_a8) == 90 * 64 / 4  # W4A8: four fused PEs per MAC
