"""The trust table of ``docs/hwmodel.md``: one test per row.

1. SCALE-Sim cycles, exact (``gemv_path: scalesim``), every golden run.
2. The ANT artifact's WS cycle formula (``clevercool/ANT-Quantization``,
   ``ant_simulator/bitfusion/src/simulator/accelerator.py``: ``get_compute_cycles`` gives
   ``batch x ceil(no / (M pf)) x ceil(ni / (N pf))`` on an N x M array, and the layer total is
   ``compute + max(0, DRAM - compute) + latency``), on the default ``load_path``.
3. A roofline for prefill and decode of LLaMA-2-7B, bytes and MACs counted by hand.
4. Utilisation equal to SCALE-Sim's printed Overall Util %.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from hwmodel import Gemm, evaluate, llm_workload, load_accelerator
from hwmodel.precision import Precision

with open(Path(__file__).parent / "data" / "scalesim_v3_golden.csv", newline="") as _fh:
    GOLDEN = list(csv.DictReader(_fh))

WEIGHTS = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000  # 6.61 G incl. the LM head
LM_HEAD = 4096 * 32000


def _scalesim_int8(row):
    m, n, k, r, c = (int(row[x]) for x in ("M", "N", "K", "rows", "cols"))
    acc = (
        load_accelerator("int8")
        .with_array(rows=r, cols=c, dataflow=row["dataflow"], gemv_path="scalesim")
        .with_dram(bw_bytes_per_cycle=1e12)
    )
    return evaluate(acc, Gemm(m=m, n=n, k=k))


def test_row1_scalesim_cycles_exact():
    for row in GOLDEN:
        assert _scalesim_int8(row).cycles == int(row["total_cycles"]), row


@pytest.mark.parametrize(
    ("m", "n", "k", "rows", "cols", "bw"),
    [
        (64, 4096, 4096, 32, 32, 1e9),  # compute-bound prefill-like GEMM
        (512, 1024, 768, 45, 32, 1e9),
        (1, 4096, 4096, 45, 32, 64.0),  # GEMV, DRAM-bound at 64 B/cycle
        (8, 11008, 4096, 32, 16, 16.0),  # small batch, DRAM-bound
        (300, 500, 70, 16, 8, 1e9),  # edge folds on both sides
    ],
)
def test_row2_ant_artifact_ws_formula(m, n, k, rows, cols, bw):
    """WS on the load path: compute = the artifact's batch x ceil(N/C) x ceil(K/R) (pf = 1 on
    an INT8 PE) plus its ``latency`` (first tile load and one fill / drain, R + C - 2) when the
    stream hides each load; the total is compute + max(0, DRAM - compute)."""
    acc = load_accelerator("int8").with_array(rows=rows, cols=cols, dataflow="ws")
    acc = acc.with_dram(bw_bytes_per_cycle=bw).with_precision(INT8_PLAIN)
    cost = evaluate(acc, Gemm(m=m, n=n, k=k))
    folds = math.ceil(n / cols) * math.ceil(k / rows)
    ant_compute = m * folds  # batch x ceil(no / M) x ceil(ni / N)
    first_load = (k * n) / (folds * acc.array.load_bytes_per_cycle)  # 8-bit weights
    if m >= first_load:  # each fold's load hides behind the previous fold
        latency = math.ceil(first_load) + rows + cols - 2
        assert cost.compute_cycles == ant_compute + latency
    dram = math.ceil((m * k + k * n + m * n) / bw)  # INT8 A, B and outputs, read once
    assert cost.memory_cycles == dram
    assert cost.cycles == cost.compute_cycles + max(0, dram - cost.compute_cycles)


def test_row3_roofline_llama2_7b_decode_and_prefill():
    """MANT W4A8 (mant-hpca25: 4.3125 bits per weight, 4.28125 per KV element), 256 GB/s,
    64 x 52 = 3328 MACs/cycle."""
    acc = load_accelerator("mant")
    peak = 64 * 52 * 1e9  # MAC/s
    # decode, batch 1, 2K context: every weight and every K and V element once
    kv = 2 * 32 * 4096 * 2048
    dec = evaluate(acc, llm_workload("llama-2-7b", phase="decode", seq_len=2048))
    dec_bytes = WEIGHTS * 4.3125 / 8 + kv * 4.28125 / 8  # 3.85 GB
    dec_macs = WEIGHTS + kv  # one MAC per weight, QK^T and PV one per K / V element
    assert dec.macs == dec_macs
    roof = max(dec_bytes / 256e9, dec_macs / peak)
    assert roof == pytest.approx(15.04e-3, rel=1e-3)  # DRAM-bound: 15.0 ms vs 2.4 ms
    assert dec.roofline_s == pytest.approx(roof, rel=5e-3)  # + activations and outputs
    assert 1.0 <= dec.latency_s / roof <= 1.25
    assert dec.bound == "memory"
    # prefill of 2048 tokens, linear layers (the LM head for the last token only)
    pre = evaluate(
        acc, llm_workload("llama-2-7b", phase="prefill", seq_len=2048).scope("linear_layers")
    )
    pre_macs = 2048 * (WEIGHTS - LM_HEAD) + LM_HEAD
    assert pre.macs == pre_macs
    roof = max(pre.dram_bytes / 256e9, pre_macs / peak)
    assert roof == pytest.approx(pre_macs / peak)  # compute-bound: 4.5 s
    assert pre.roofline_s == pytest.approx(roof, rel=1e-9)
    assert pre.bound == "compute"
    assert 1.0 <= pre.latency_s / roof <= 1.1


# INT8 operands at exactly 8 bits (per-channel scales, as the ANT artifact's INT8 PE counts them)
INT8_PLAIN = Precision(
    weight_bits=8,
    weight_bits_per_element=8.0,
    act_bits=8,
    kv_bits=8,
    kv_bits_per_element=8.0,
    group_size=64,
    act_bits_per_element=8.0,
)


def test_row4_utilisation_equals_scalesim():
    for row in GOLDEN:
        util_pct = 100 * _scalesim_int8(row).utilization
        # SCALE-Sim prints two decimals
        assert abs(util_pct - float(row["overall_util_pct"])) <= 0.005 + 1e-9, row
