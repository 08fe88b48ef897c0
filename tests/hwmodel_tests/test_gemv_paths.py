"""GEMV paths for decode on WS / IS arrays: hand-computed cycles, bounds, vectorised = scalar."""

from __future__ import annotations

import numpy as np
import pytest

from hwmodel import (
    Gemm,
    GemvPath,
    Precision,
    evaluate,
    evaluate_many,
    llm_workload,
    load_accelerator,
)
from hwmodel.systolic import gemv_cycles, stationary_load_cycles
from mant.errors import InputError


def _int8(**array):
    # int8 PE: W8A8 at 1 MAC per PE-cycle, no epilogue; DRAM 64 bytes per cycle; plain 8-bit
    # operands (no group scales) for the hand figures
    acc = load_accelerator("int8").with_dram(bw_bytes_per_cycle=64.0)
    acc = acc.with_precision(
        Precision(
            weight_bits=8, weight_bits_per_element=8, act_bits=8, kv_bits=8, kv_bits_per_element=8
        )  # fmt: skip
    )
    return acc.with_array(rows=32, cols=32, dataflow="ws", **array)


# Gemm(m=1, n=64, k=128) on 32 x 32 WS: S_R = K = 128 -> 4 row folds, S_C = N = 64 -> 2 column
# folds, F = 8 folds of T = M = 1 row.
#   scalesim        F (2R + C + T - 2) - 1            = 8 x 95 - 1             = 759
#                   (SCALE-Sim's own count: the index of the last cycle)
#   double_buffered R + F (R + C + T - 2)             = 32 + 8 x 63            = 536
#   memory_width    load = ceil(32 x 32 x 8 bits / (8 x 64 bytes)) = 16;
#                   load + F max(T, load) + R + C - 2 = 16 + 8 x 16 + 62       = 206
#   vector          load = 1: 1 + F x 1 + R + C - 2   = 1 + 8 + 62             = 71
#   load_path       the preset's 256-byte load path: L = 128 x 64 B / (8 x 256) = 4;
#                   ceil(L + F max(T, L)) + R + C - 2 = 4 + 32 + 62            = 98
HAND = {"scalesim": 759, "double_buffered": 536, "memory_width": 206, "vector": 71}
HAND["load_path"] = 98


@pytest.mark.parametrize("path", list(GemvPath))
def test_hand_computed_cycles(path):
    acc = _int8(gemv_path=str(path))
    cost = evaluate(acc, Gemm(m=1, n=64, k=128))
    assert cost.compute_cycles == HAND[str(path)]


def test_closed_forms_directly():
    assert stationary_load_cycles(32, 32, 8.0, 64.0, "memory_width") == 16
    assert stationary_load_cycles(32, 32, 8.0, 64.0, "vector") == 1
    assert gemv_cycles(8, 32, 32, 1, "memory_width", 16) == 206
    # a long T hides the load: 16 + 8 x 100 + 62
    assert gemv_cycles(8, 32, 32, 100, "memory_width", 16) == 878


def test_only_small_m_takes_the_path():
    g2 = Gemm(m=2, n=64, k=128)
    scalesim = evaluate(_int8(gemv_path="scalesim"), g2).compute_cycles  # 8 x 96 - 1
    assert scalesim == 767
    assert evaluate(_int8(gemv_path="memory_width"), g2).compute_cycles == scalesim
    # with gemv_max_m = 2: T = 2 < load 16, so the same 206 cycles as M = 1
    assert evaluate(_int8(gemv_path="memory_width", gemv_max_m=2), g2).compute_cycles == 206


def test_os_ignores_the_path():
    acc = load_accelerator("int8").with_array(
        rows=32, cols=32, dataflow="os", gemv_path="scalesim"
    )
    g = Gemm(m=1, n=64, k=128)
    assert (
        evaluate(acc.with_array(gemv_path="vector"), g).compute_cycles
        == evaluate(acc, g).compute_cycles
    )


@pytest.mark.parametrize("path", list(GemvPath))
@pytest.mark.parametrize("preset", ["mant", "tender", "bitfusion"])
def test_cycles_cover_the_macs_and_vectorised_matches(path, preset):
    acc = load_accelerator(preset).with_array(gemv_path=str(path))
    wl = llm_workload("llama-7b", phase="decode", seq_len=4096)
    cost = evaluate(acc, wl)
    assert cost.utilization <= 1.0
    rows = np.array([acc.array.rows, 32, 64])
    cols = np.array([acc.array.cols, 32, 16])
    out = evaluate_many(acc, wl, rows=rows, cols=cols)
    assert out["cycles"][0] == pytest.approx(cost.cycles, rel=1e-12)
    assert out["energy_pj"][0] == pytest.approx(cost.energy_pj, rel=1e-9)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        one = evaluate(acc.with_array(rows=int(r), cols=int(c)), wl)
        assert out["cycles"][i] == pytest.approx(one.cycles, rel=1e-12)


def test_gemv_paths_let_kv_bytes_set_decode_time():
    """LLaMA-7B decode attention at 128K with twice the KV bytes (4.25 -> 8.5 bits per element,
    same 4-bit PE mode), on the mant preset (64 x 47, 256 bytes per cycle).

    vector: memory-bound, time ratio = byte ratio. memory_width: the tile load follows the
    bytes. scalesim: fold-bound, the KV bytes do not move time at all.
    """
    mant = load_accelerator("mant").with_array(cols=47)  # the 64 x 47 array of the hand figures
    base = mant.default_precision  # pinned at 4.25 bits per KV element for the hand figures
    kv4 = type(base)(**{**base.to_dict(), "kv_bits_per_element": 4.25, "act_bits_per_element": 8})
    wide = type(kv4)(**{**kv4.to_dict(), "kv_bits_per_element": 8.5})
    wl = llm_workload("llama-7b", phase="decode", seq_len=131072).attention()

    def run(path):
        acc = mant.with_array(gemv_path=path)
        c4, c8 = evaluate(acc, wl, kv4), evaluate(acc, wl, wide)
        return c4, c8.cycles / c4.cycles

    # Per head and layer, QK and PV each read 128 x 131072 KV elements plus INT8 activations
    # and outputs: Q 128 B and scores 131072 B (QK), probabilities 131072 B and output 128 B (PV).
    c4, r = run("vector")
    assert c4.bound == "memory"
    kv_elems, act_bytes = 2 * 128 * 131072, 2 * (128 + 131072)
    hand = (kv_elems * 8.5 / 8 + act_bytes) / (kv_elems * 4.25 / 8 + act_bytes)
    assert r == pytest.approx(hand, rel=1e-4)  # memory cycles round up per GEMM instance

    # memory_width, KV4 QK^T per head and layer: K = 128 -> 2 row folds of 64, N = 131072 ->
    # 2789 column folds of 47, F = 5578; load = ceil(64 x 47 x 4.25 / (8 x 256)) = 7 cycles;
    # 7 + 5578 x 7 + 64 + 47 - 2, plus the epilogue's 3-cycle latency; 32 layers x 32 heads.
    # With 8.5 bits: load = ceil(12.48) = 13.
    acc = mant.with_array(gemv_path="memory_width")
    qk4 = evaluate(acc, wl, kv4).layers[0]
    qk8 = evaluate(acc, wl, wide).layers[0]
    assert qk4.name == "qk"
    assert qk4.compute_cycles == 1024 * (7 + 5578 * 7 + 109 + 3)
    assert qk8.compute_cycles == 1024 * (13 + 5578 * 13 + 109 + 3)

    c4, r = run("scalesim")
    assert c4.compute_cycles > 10 * c4.memory_cycles and r == 1.0  # fold-bound


def test_memory_width_load_counts_the_elements_a_pe_holds():
    """A BitFusion unit in W4A8 holds 2 weights (2 MACs per cycle), so its tile is twice as big."""
    assert stationary_load_cycles(32, 32, 4.0, 64.0, "memory_width", 2.0) == 16
    acc = load_accelerator("bitfusion").with_dram(bw_bytes_per_cycle=64.0)
    acc = acc.with_array(rows=32, cols=32, gemv_path="memory_width")
    p = acc.default_precision
    w4a8 = type(p)(**{**p.to_dict(), "weight_bits": 4, "weight_bits_per_element": 4.0})
    # k = 128 at 2 MACs per PE-cycle -> the array sees 64: 2 row folds x 2 column folds = 4;
    # load = ceil(32 x 32 x 2 x 4 bits / (8 x 64)) = 16; 16 + 4 x 16 + 32 + 32 - 2 = 142
    assert evaluate(acc, Gemm(m=1, n=64, k=128), w4a8).compute_cycles == 142


def test_evaluate_many_gemv_path_override():
    acc = load_accelerator("mant")
    wl = llm_workload("llama-7b", phase="decode", seq_len=8192)
    out = evaluate_many(acc, wl, rows=[64, 32], cols=[47, 32], gemv_path="memory_width")
    one = evaluate(acc.with_array(rows=32, cols=32, gemv_path="memory_width"), wl)
    assert out["cycles"][1] == pytest.approx(one.cycles, rel=1e-12)
    with pytest.raises(InputError, match="gemv_path: must be one of"):
        evaluate_many(acc, wl, rows=[64], cols=[47], gemv_path="gpu")
