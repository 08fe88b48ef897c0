"""The systolic model against SCALE-Sim 3.0.0's golden runs (data/README.md), every row."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hwmodel import Gemm, evaluate, load_accelerator, systolic_gemm

with open(Path(__file__).parent / "data" / "scalesim_v3_golden.csv", newline="") as _fh:
    GOLDEN = list(csv.DictReader(_fh))

# SCALE-Sim prints util and mapping efficiency with two decimals (hardware.md §2.5).
PCT_TOL = 0.006


def _ids(row: dict[str, str]) -> str:
    return f"{row['M']}x{row['N']}x{row['K']}-{row['rows']}x{row['cols']}-{row['dataflow']}"


def test_golden_file_has_all_21_runs():
    assert len(GOLDEN) == 21  # hardware.md §2.5: 21 SCALE-Sim runs


@pytest.mark.parametrize("row", GOLDEN, ids=_ids)
def test_closed_form_matches_scalesim(row):
    m, n, k, r, c = (int(row[x]) for x in ("M", "N", "K", "rows", "cols"))
    res = systolic_gemm(m, n, k, r, c, row["dataflow"])
    got = {
        "folds": res.folds,
        "total_cycles": res.scalesim_total_cycles,
        "sram_ifmap_reads": res.sram_ifmap_reads,
        "sram_filter_reads": res.sram_filter_reads,
        "sram_ofmap_writes": res.sram_ofmap_writes,
    }
    want = {key: int(row[key]) for key in got}
    assert got == want, f"inputs {row}"
    assert res.compute_cycles == int(row["total_cycles"]) + 1
    assert abs(res.scalesim_util_pct - float(row["overall_util_pct"])) < PCT_TOL
    assert abs(100 * res.mapping_efficiency - float(row["mapping_eff_pct"])) < PCT_TOL


@pytest.mark.parametrize("row", GOLDEN, ids=_ids)
def test_evaluate_compute_cycles_match_scalesim(row):
    """Trust table, rows 1 and 4: the full model on an INT8 array (1 MAC/PE-cycle, no epilogue)
    with DRAM out of the way and ``gemv_path: scalesim`` reports SCALE-Sim's own Total Cycles
    and its Overall Util % (to the two decimals SCALE-Sim prints)."""
    m, n, k, r, c = (int(row[x]) for x in ("M", "N", "K", "rows", "cols"))
    acc = (
        load_accelerator("int8")
        .with_array(rows=r, cols=c, dataflow=row["dataflow"], gemv_path="scalesim")
        .with_dram(bw_bytes_per_cycle=1e12)
    )
    cost = evaluate(acc, Gemm(m=m, n=n, k=k))
    assert cost.compute_cycles == int(row["total_cycles"])
    assert cost.cycles == cost.compute_cycles
    assert abs(100 * cost.mapping_efficiency - float(row["mapping_eff_pct"])) < PCT_TOL
    assert abs(100 * cost.utilization - float(row["overall_util_pct"])) <= 0.005 + 1e-9
