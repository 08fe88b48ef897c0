"""Systolic-array mapping and cycle count: the closed form of SCALE-Sim v3's compute model.

A GEMM (M, N, K) maps onto an R x C array as (S_R, S_C, T) (reference ``hardware.md`` §2.1):

==========  ======  ======  ======
dataflow    S_R     S_C     T
==========  ======  ======  ======
os          M       N       K
ws          K       N       M
is          K       M       N
==========  ======  ======  ======

with F = ceil(S_R/R) * ceil(S_C/C) folds. SCALE-Sim 3.0.0 reports the index of the last cycle,
``F (R + C + T - 2) - 1`` for OS and ``F (2R + C + T - 2) - 1`` for WS and IS (§2.2); the number
of cycles is one more. Every function here accepts Python ints or numpy integer arrays (the same
arithmetic serves the scalar and the vectorised path).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Dataflow", "SystolicResult", "cdiv", "mapping", "systolic_terms", "systolic_gemm"]


class Dataflow(StrEnum):
    """Which operand stays in the PEs: outputs, weights (B operand) or inputs (A operand)."""

    OS = "os"
    WS = "ws"
    IS = "is"


def cdiv(a: Any, b: Any) -> Any:
    """Ceiling division for ints or integer arrays."""
    return -(-a // b)


def mapping(m: Any, n: Any, k: Any, dataflow: str) -> tuple[Any, Any, Any]:
    """(S_R, S_C, T) of a GEMM with A = M x K (ifmap) and B = K x N (filter)."""
    if dataflow == "os":
        return m, n, k
    if dataflow == "ws":
        return k, n, m
    if dataflow == "is":
        return k, m, n
    raise ValueError(f"unknown dataflow {dataflow!r}")


def systolic_terms(
    m: Any, n: Any, k: Any, rows: Any, cols: Any, dataflow: str, k_array: Any = None
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Folds, cycles, mapping efficiency and SRAM access counts (SCALE-Sim v3 semantics).

    Args:
        m, n, k: GEMM sizes (A is m x k, B is k x n); ints or integer arrays.
        rows, cols: Array rows R and columns C.
        dataflow: ``"os"``, ``"ws"`` or ``"is"``.
        k_array: Reduction length as seen by the array (defaults to ``k``); a PE completing p
            MACs per cycle sees ceil(k / p) (see ``hwmodel.evaluate``).

    Returns:
        ``(folds, cycles, mapping_efficiency, ifmap_reads, filter_reads, ofmap_writes)``:
        ``cycles`` counts cycles (SCALE-Sim's "Total Cycles" + 1); mapping efficiency is the mean
        over folds of used PEs / (R C), a fraction; reads and writes count elements.
    """
    kr = k if k_array is None else k_array
    s_r, s_c, t = mapping(m, n, kr, dataflow)
    folds = cdiv(s_r, rows) * cdiv(s_c, cols)
    if dataflow == "os":
        cycles = folds * (rows + cols + t - 2)
        ifmap = m * k * cdiv(n, cols)
        filt = k * n * cdiv(m, rows)
        ofmap = m * n + folds * (rows + cols)  # SCALE-Sim's per-fold OS quirk (§2.3)
    else:
        cycles = folds * (2 * rows + cols + t - 2)
        ofmap = m * n * cdiv(kr, rows)  # one partial-sum write per K fold
        if dataflow == "ws":
            ifmap = m * k * cdiv(n, cols)
            filt = k * n
        else:
            ifmap = m * k
            filt = k * n * cdiv(m, cols)
    map_eff = (s_r * s_c) / (folds * rows * cols)
    return folds, cycles, map_eff, ifmap, filt, ofmap


@dataclass(frozen=True, slots=True, kw_only=True)
class SystolicResult:
    """Compute-side figures of one GEMM on one array (no memory effects).

    Attributes:
        folds: Number of folds F.
        compute_cycles: Cycles the array needs (SCALE-Sim "Total Cycles" + 1).
        mapping_efficiency: Mean used-PE fraction over folds (0..1).
        macs: M N K.
        sram_ifmap_reads, sram_filter_reads, sram_ofmap_writes: Element accesses.
    """

    folds: int
    compute_cycles: int
    mapping_efficiency: float
    macs: int
    rows: int
    cols: int
    sram_ifmap_reads: int
    sram_filter_reads: int
    sram_ofmap_writes: int

    @property
    def scalesim_total_cycles(self) -> int:
        """What SCALE-Sim prints as "Total Cycles": the index of the last cycle."""
        return self.compute_cycles - 1

    @property
    def scalesim_util_pct(self) -> float:
        """SCALE-Sim's "Overall Util %": 100 MNK / (Total Cycles R C)."""
        return 100.0 * self.macs / (self.scalesim_total_cycles * self.rows * self.cols)

    @property
    def utilization(self) -> float:
        """Useful MACs per PE-cycle over the counted cycles (0..1)."""
        return self.macs / (self.compute_cycles * self.rows * self.cols)


def systolic_gemm(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> SystolicResult:
    """Scalar SCALE-Sim-equivalent figures for one GEMM.

    Example:
        >>> r = systolic_gemm(64, 64, 64, 32, 32, "os")
        >>> r.scalesim_total_cycles, r.sram_ofmap_writes  # hardware.md §2.3: 503 and 4352
        (503, 4352)
    """
    folds, cycles, map_eff, ifmap, filt, ofmap = systolic_terms(m, n, k, rows, cols, dataflow)
    return SystolicResult(
        folds=folds,
        compute_cycles=cycles,
        mapping_efficiency=map_eff,
        macs=m * n * k,
        rows=rows,
        cols=cols,
        sram_ifmap_reads=ifmap,
        sram_filter_reads=filt,
        sram_ofmap_writes=ofmap,
    )
