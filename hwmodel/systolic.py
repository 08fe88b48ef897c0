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

Stationary-operand preload (WS and IS only; OS has no stationary operand to load):

* ``serial`` (SCALE-Sim): each fold loads its stationary tile (R cycles, one row per cycle down
  the column shift chain) and then computes for T + C + R - 2 cycles (T streamed rows, C - 1 to
  cross the columns, R - 1 of skew / psum drain), so a fold costs 2R + C + T - 2.
* ``overlapped`` (double-buffered stationary registers, TPU-style): the next fold's tile shifts
  into shadow registers while the current fold computes; the shadow copy becomes active when the
  next fold starts. Only the first load is exposed. A later fold starts when both the previous
  fold has drained and its own load (R cycles, begun when the previous fold started) is done:
  max(R, T + C + R - 2) = T + C + R - 2 cycles after the previous start, since T, C >= 1. Total
  R + F (T + C + R - 2) = serial - (F - 1) R; equal to serial for one fold. The skew and drain
  of each fold stay exposed (folds are not pipelined into each other), as in SCALE-Sim.

The default GEMM model, ``load_path`` (:func:`load_path_cycles`), is the hardware these rules
leave out: a stationary-operand load path of W bytes per cycle, double-buffered and fed from
DRAM through the buffers, so each fold's load hides behind the previous fold's compute where
the path allows, and folds pipeline (skew and drain paid once per GEMM). It applies to every
GEMM and every dataflow; SCALE-Sim's rule stays the named alternative ``scalesim``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = [
    "Dataflow",
    "Preload",
    "GemvPath",
    "SystolicResult",
    "cdiv",
    "mapping",
    "fold_cycles",
    "gemv_cycles",
    "load_path_cycles",
    "stationary_load_cycles",
    "systolic_terms",
    "systolic_gemm",
]


class Dataflow(StrEnum):
    """Which operand stays in the PEs: outputs, weights (B operand) or inputs (A operand)."""

    OS = "os"
    WS = "ws"
    IS = "is"


class Preload(StrEnum):
    """How a WS / IS array loads the stationary operand of each fold.

    ``serial``: load, then compute (SCALE-Sim v3, 2R + C + T - 2 per fold).
    ``overlapped``: double-buffered stationary registers; the next fold's load hides behind the
    current fold's compute, only the first fold's R-cycle load is exposed.
    """

    SERIAL = "serial"
    OVERLAPPED = "overlapped"


class GemvPath(StrEnum):
    """How the array runs GEMMs (``docs/hwmodel.md``, "The load path").

    ``load_path`` (default): every GEMM, every dataflow, through the accelerator's
    double-buffered stationary-operand load path (``array.load_bytes_per_cycle``), folds
    pipelined (:func:`load_path_cycles`).
    ``scalesim``: the SCALE-Sim fold rule with the array's ``preload`` (exact for what SCALE-Sim
    simulates) for every GEMM.
    The three legacy GEMV paths below apply to WS / IS GEMMs with M <= ``gemv_max_m`` only
    (every other GEMM keeps the SCALE-Sim rule):
    ``double_buffered``: shadow stationary registers, one row per cycle (``overlapped``).
    ``memory_width``: the stationary tile enters through a path as wide as the DRAM interface,
    double-buffered, and consecutive folds pipeline (one fill and drain per GEMM).
    ``vector``: a GEMV mode that reads a fresh B tile from SRAM every cycle (load = 1 cycle),
    folds pipelined: the array acts as R x C MAC lanes.
    """

    LOAD_PATH = "load_path"
    SCALESIM = "scalesim"
    DOUBLE_BUFFERED = "double_buffered"
    MEMORY_WIDTH = "memory_width"
    VECTOR = "vector"


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


def fold_cycles(
    folds: Any, rows: Any, cols: Any, t: Any, dataflow: str, preload: str = "serial"
) -> Any:
    """Cycles of ``folds`` folds of temporal length ``t`` on an R x C array.

    OS: F (R + C + T - 2). WS / IS serial: F (2R + C + T - 2). WS / IS overlapped:
    R + F max(R, T + C + R - 2) (first load exposed, later loads hidden; module docstring).

    Example:
        >>> fold_cycles(4, 32, 32, 1, "ws"), fold_cycles(4, 32, 32, 1, "ws", "overlapped")
        (380, 284)
    """
    if dataflow == "os":
        return folds * (rows + cols + t - 2)
    compute = t + cols + rows - 2  # stream T rows, cross C - 1 columns, R - 1 skew / drain
    if preload == "serial":
        return folds * (rows + compute)
    if preload == "overlapped":
        # A later fold waits for the previous fold to drain and for its own R-cycle load
        # (started with the previous fold); with T, C >= 1 the drain is always the longer.
        return rows + folds * _max(rows, compute)
    raise ValueError(f"unknown preload {preload!r}")


def stationary_load_cycles(
    rows: Any,
    cols: Any,
    bits_per_element: float,
    bw_bytes_per_cycle: float,
    path: str,
    elements_per_pe: float = 1.0,
) -> Any:
    """Cycles to bring one R x C stationary tile into the array on a GEMV path.

    ``memory_width``: ceil(R C e bits / (8 bw)), the tile through a path of ``bw`` bytes per
    cycle, where a PE holds e = ``elements_per_pe`` stationary elements (the PE mode's MACs per
    cycle: 4 for a BitFusion W4A4 unit, 1/4 when four Tender units fuse for one W4A8 MAC).
    ``vector``: 1 (a tile is read from SRAM every cycle). ``scalesim`` and ``double_buffered``:
    R (one row per cycle down the column shift chains).

    Example:
        >>> stationary_load_cycles(64, 47, 4.3125, 256.0, "memory_width")  # 1621.5 B / 256
        7
    """
    if path == "memory_width":
        need = rows * cols * elements_per_pe * bits_per_element / (8 * bw_bytes_per_cycle)
        return np.ceil(need).astype(np.int64) if isinstance(need, np.ndarray) else math.ceil(need)
    if path == "vector":
        return rows * 0 + 1
    return rows


def gemv_cycles(folds: Any, rows: Any, cols: Any, t: Any, path: str, load: Any) -> Any:
    """Cycles of a WS / IS GEMM on a GEMV path (``load`` from :func:`stationary_load_cycles`).

    ``scalesim``: F (2R + C + T - 2). ``double_buffered``: R + F (R + C + T - 2).
    ``memory_width`` and ``vector``: load + F max(T, load) + R + C - 2: the first tile's load
    is exposed, every later load hides behind the previous fold (double-buffered), folds follow
    each other every max(T, load) cycles, and the skew and drain (R + C - 2) are paid once.

    Example:
        >>> gemv_cycles(4, 32, 32, 1, "memory_width", 2), gemv_cycles(4, 32, 32, 1, "vector", 1)
        (72, 67)
    """
    if path == "scalesim":
        return fold_cycles(folds, rows, cols, t, "ws", "serial")
    if path == "double_buffered":
        return fold_cycles(folds, rows, cols, t, "ws", "overlapped")
    if path in ("memory_width", "vector"):
        return load + folds * _max(t, load) + rows + cols - 2
    raise ValueError(f"unknown gemv path {path!r}")


def load_path_cycles(
    m: Any,
    n: Any,
    k: Any,
    rows: Any,
    cols: Any,
    dataflow: str,
    stationary_bytes: Any,
    load_bytes_per_cycle: float,
    k_array: Any = None,
) -> Any:
    """Compute cycles of one GEMM on the ``load_path`` model (any dataflow, any M).

    The stationary operand (WS: B, IS: A; OS has none, both operands stream from the edges)
    enters through a load path of W = ``load_bytes_per_cycle`` bytes per cycle that is
    double-buffered: fold f + 1 loads while fold f computes, and the path streams tiles back to
    back. With (S_R, S_C, T) the mapping and F the folds, a fold needs L = S / (F W) cycles of
    load on average (S = ``stationary_bytes`` of the GEMM, so edge tiles load only what they
    hold) and T cycles of streaming; folds follow each other every max(T, L) cycles and the
    skew and drain (R + C - 2) are paid once per GEMM, as is the first load:

        cycles = ceil(L + F max(T, L)) + R + C - 2    (OS: L = 0)

    At M = 1 this is one array row (OS: F = ceil(N / C) folds of T = K) or one column (IS:
    T = N per fold) busy, and a WS GEMV is load-bound: F L = S / W, the DRAM time of the weights
    when W equals the DRAM bandwidth. It is never below the compute roofline (F T >= MNK/(RC))
    nor, for WS / IS, below S / W.

    Args:
        m, n, k: GEMM sizes; ints or integer arrays.
        rows, cols: Array rows R and columns C.
        dataflow: ``"os"``, ``"ws"`` or ``"is"``.
        stationary_bytes: Bytes of the stationary operand of one GEMM instance.
        load_bytes_per_cycle: Load-path width W, bytes per cycle.
        k_array: Reduction length as seen by the array (defaults to ``k``).

    Example:
        >>> load_path_cycles(1, 4096, 4096, 64, 47, "ws", 4096 * 4096 * 4.3125 / 8, 256.0)
        35444
    """
    kr = k if k_array is None else k_array
    s_r, s_c, t = mapping(m, n, kr, dataflow)
    folds = cdiv(s_r, rows) * cdiv(s_c, cols)
    if dataflow == "os":
        load: Any = folds * 0.0
    else:
        load = stationary_bytes / (folds * load_bytes_per_cycle)
    need = load + folds * _max(t, load)
    whole = np.ceil(need).astype(np.int64) if isinstance(need, np.ndarray) else math.ceil(need)
    return whole + rows + cols - 2


def _max(a: Any, b: Any) -> Any:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return max(a, b)


def systolic_terms(
    m: Any,
    n: Any,
    k: Any,
    rows: Any,
    cols: Any,
    dataflow: str,
    k_array: Any = None,
    preload: str = "serial",
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Folds, cycles, mapping efficiency and SRAM access counts (SCALE-Sim v3 semantics).

    Args:
        m, n, k: GEMM sizes (A is m x k, B is k x n); ints or integer arrays.
        rows, cols: Array rows R and columns C.
        dataflow: ``"os"``, ``"ws"`` or ``"is"``.
        k_array: Reduction length as seen by the array (defaults to ``k``); a PE completing p
            MACs per cycle sees ceil(k / p) (see ``hwmodel.evaluate``).
        preload: ``"serial"`` (SCALE-Sim) or ``"overlapped"`` stationary loads (WS / IS only;
            see the module docstring). SRAM access counts do not depend on it.

    Returns:
        ``(folds, cycles, mapping_efficiency, ifmap_reads, filter_reads, ofmap_writes)``:
        ``cycles`` counts cycles (SCALE-Sim's "Total Cycles" + 1); mapping efficiency is the mean
        over folds of used PEs / (R C), a fraction; reads and writes count elements.
    """
    kr = k if k_array is None else k_array
    s_r, s_c, t = mapping(m, n, kr, dataflow)
    folds = cdiv(s_r, rows) * cdiv(s_c, cols)
    cycles = fold_cycles(folds, rows, cols, t, dataflow, preload)
    if dataflow == "os":
        ifmap = m * k * cdiv(n, cols)
        filt = k * n * cdiv(m, rows)
        ofmap = m * n + folds * (rows + cols)  # SCALE-Sim's per-fold OS quirk (§2.3)
    else:
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


def systolic_gemm(
    m: int, n: int, k: int, rows: int, cols: int, dataflow: str, preload: str = "serial"
) -> SystolicResult:
    """Scalar SCALE-Sim-equivalent figures for one GEMM (``preload="serial"``).

    Example:
        >>> r = systolic_gemm(64, 64, 64, 32, 32, "os")
        >>> r.scalesim_total_cycles, r.sram_ofmap_writes  # hardware.md §2.3: 503 and 4352
        (503, 4352)
    """
    folds, cycles, map_eff, ifmap, filt, ofmap = systolic_terms(
        m, n, k, rows, cols, dataflow, preload=preload
    )
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
