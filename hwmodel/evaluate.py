"""Evaluate a GEMM or a workload on an accelerator: the analytical cost model.

Per GEMM (A = m x k activations, B = k x n weights or KV cache). B runs at the width of its own
kind (``Precision.operand``: a per-kind override such as ``q`` for ``q_proj`` or ``value`` for
``pv``, else the headline weight / KV width); A runs at its projection's own input width if the
precision has one (``Precision.act_of``), else at ``act_bits``.

1. **PE mode.** The PE runs (B bits, activation bits) in its fastest covering mode, completing
   p MACs per PE-cycle. The array then sees a reduction of ceil(k / p): p > 1 packs p products
   into one PE-cycle (BitFusion-style fusion), p < 1 spreads one MAC over 1/p PE-cycles (fused or
   temporally decomposed units).
2. **Array.** SCALE-Sim v3's closed form (:mod:`hwmodel.systolic`) gives folds, cycles, mapping
   efficiency and SRAM accesses; ``array.preload: overlapped`` hides every WS / IS stationary
   load but the first (double-buffered stationary registers).
3. **Group epilogue** (PEs with one, e.g. MANT). Along the reduction, a column emits one
   (S1, S2) pair per *group segment*: the part of a quantization group inside one fold. When the
   fold span (rows x p) is not a multiple of the group size g, fold boundaries cut groups and
   add segments: segments = ceil(k/g) + (F_k - 1) - floor((F_k - 1) gcd(span, g) / g) for WS/IS
   (F_k reduction folds), ceil(k/g) for OS (reduction in time). Each segment costs one epilogue
   op per output; one unit per column runs ``ops_per_cycle``, so compute cycles =
   max(array cycles, ops / (units x rate)) + pipeline latency.
4. **Memory.** Operand bytes use the bits per element incl. group metadata. If either operand
   fits the active half of its buffer, both are read once; otherwise the tiler picks the cheaper
   loop order (B strips resident and A re-streamed, or A blocks resident and B re-streamed);
   if neither fits a single column, K is split and partial sums that overflow the output buffer
   spill to DRAM. Outputs are written once at the activation width.
5. **Time.** ``overlap: max`` (double buffering hides the shorter side) gives
   max(compute, memory); ``overlap: sum`` gives compute + memory. Initial buffer fill and final
   drain are not counted (as in SCALE-Sim's "Total Cycles").
6. **Energy.** pe = MACs x pJ/MAC of the mode; epilogue = ops x pJ/op; sram = bits read/written
   (SCALE-Sim access counts, partial sums at ``PSUM_BITS``, DRAM fills and drains); dram = bits
   x pJ/bit; static = PE leakage x time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from hwmodel.accelerator import PSUM_BITS, Accelerator, min_tile_issues, pe_area_um2
from hwmodel.cost import ENERGY_COMPONENTS, Cost
from hwmodel.precision import Precision, gemm_kind
from hwmodel.systolic import (
    cdiv,
    gemv_cycles,
    load_path_cycles,
    mapping,
    stationary_load_cycles,
    systolic_terms,
)
from hwmodel.workload import Gemm, Workload
from mant.errors import InputError, IssueCollector

__all__ = ["evaluate", "evaluate_gemm", "evaluate_many", "tile_overflow_bytes"]

_SCALAR = (max, min, math.gcd, math.ceil, math.floor)
_VECTOR = (np.maximum, np.minimum, np.gcd, np.ceil, np.floor)


def _terms(
    acc: Accelerator,
    gemm: Gemm,
    prec: Precision,
    rows: Any,
    cols: Any,
    df: str,
    vec: bool,
    preload: str = "serial",
    gemv_path: str = "load_path",
) -> tuple[Any, ...]:
    """Per-instance cost terms of one GEMM (ints/floats, or arrays when ``vec``)."""
    mx, mn, gcd, ceil, floor = _VECTOR if vec else _SCALAR
    pe = acc.pe
    b_bits, b_bpe = prec.operand(gemm)
    a_bits, a_bpe = prec.act_of(gemm)
    mode = _mode(acc, gemm, prec, b_bits, a_bits)
    p = mode.macs_per_cycle
    m, n, k = gemm.m, gemm.n, gemm.k
    k_arr = math.ceil(k / p)
    folds, sys_cycles, map_eff, ifmap, filt, ofmap = systolic_terms(
        m, n, k, rows, cols, df, k_arr, preload
    )
    e_load: Any = 0.0
    if gemv_path == "load_path":
        if df == "ws":
            st_bytes: Any = k * n * b_bpe / 8
        elif df == "is":
            st_bytes = m * k * a_bpe / 8
        else:
            st_bytes = 0.0  # OS: both operands stream from the array edges
        width = acc.array.load_bytes_per_cycle
        sys_cycles = load_path_cycles(m, n, k, rows, cols, df, st_bytes, width, k_arr)
        e_load = 8 * st_bytes * acc.array.load_pj_per_bit
    elif gemv_path != "scalesim" and df != "os" and m <= acc.array.gemv_max_m:
        t = mapping(m, n, k_arr, df)[2]
        st_bpe = b_bpe if df == "ws" else a_bpe
        bw = acc.dram.bw_bytes_per_cycle
        load = stationary_load_cycles(rows, cols, st_bpe, bw, gemv_path, p)
        sys_cycles = gemv_cycles(folds, rows, cols, t, gemv_path, load)
    elif preload == "serial":
        # SCALE-Sim's rule: report its own count ("Total Cycles", the index of the last
        # cycle), so cycles and utilisation equal what SCALE-Sim prints
        sys_cycles = sys_cycles - 1

    epi = pe.epilogue
    if epi is None:
        epi_ops: Any = 0
        compute = sys_cycles
    else:
        g = prec.group_of(gemm)  # this GEMM's own operand grouping
        groups = cdiv(k, g)
        if df == "os":
            segs: Any = groups
        else:
            span = rows * int(p) if p >= 1 else mx(rows // round(1 / p), 1)
            fk = cdiv(k, span)
            segs = groups + (fk - 1) - ((fk - 1) * gcd(span, g)) // g
        epi_ops = m * n * segs
        units = mn(cols, m if df == "is" else n)
        epi_cycles = ceil(epi_ops / (units * epi.ops_per_cycle))
        compute = mx(sys_cycles, epi_cycles) + epi.latency_cycles

    # DRAM traffic (bytes) from the tiling
    buf = acc.buffers
    wb = buf.active_bytes(buf.weight_bytes)
    ab = buf.active_bytes(buf.act_bytes)
    ob = buf.active_bytes(buf.out_bytes)
    a_bytes = m * k * a_bpe / 8
    b_bytes = k * n * b_bpe / 8
    o_bytes = m * n * a_bpe / 8
    if b_bytes <= wb or a_bytes <= ab:
        reads: Any = a_bytes + b_bytes
    else:
        reads = _streamed_reads(m, n, k, a_bpe, b_bpe, a_bytes, b_bytes, wb, ab, ob)
    dram_rd = reads
    dram_wr = o_bytes
    memory = ceil((dram_rd + dram_wr) / acc.dram.bw_bytes_per_cycle)
    cycles = mx(compute, memory) if acc.overlap == "max" else compute + memory

    psum_reads = ofmap - m * n if df != "os" else 0  # read-modify-write across K folds
    sram_rd_bits = ifmap * a_bpe + filt * b_bpe + psum_reads * PSUM_BITS + dram_wr * 8
    sram_wr_bits = ofmap * PSUM_BITS + dram_rd * 8
    e_pe = gemm.macs * mode.energy_pj_per_mac
    e_epi = epi_ops * epi.energy_pj_per_op if epi is not None else 0.0
    e_sram = sram_rd_bits * buf.read_pj_per_bit + sram_wr_bits * buf.write_pj_per_bit + e_load
    e_dram = 8 * (dram_rd * acc.dram.read_pj_per_bit + dram_wr * acc.dram.write_pj_per_bit)
    e_dram = e_dram + acc.dram.background_pj_per_s * cycles / acc.clock_hz
    e_static = pe.leakage_uw * rows * cols * cycles / acc.clock_hz * 1e6  # uW * s = 1e6 pJ
    peak = cycles * rows * cols * p
    ideal = gemm.macs / (rows * cols * p)  # compute at the peak of the GEMM's mode
    return (
        cycles,
        compute,
        memory,
        peak,
        map_eff * compute,
        epi_ops,
        (e_pe, e_epi, e_sram, e_dram, e_static),
        dram_rd,
        dram_wr,
        (sram_rd_bits + sram_wr_bits) / 8,
        ideal,
    )


def _mode(acc: Accelerator, gemm: Gemm, prec: Precision, b_bits: int, a_bits: int) -> Any:
    """The PE mode that runs the GEMM's B width against its A width ``a_bits``.

    Raises:
        InputError: no mode covers it; for a width from a per-kind override the message names
            the kind, the GEMM and the widths (headline widths keep ``PEType.mode_for``'s).
    """
    pe = acc.pe
    try:
        return pe.mode_for(b_bits, a_bits)
    except InputError:
        kind = gemm_kind(gemm)
        if kind is None or not any(o.kind is kind for o in prec.per_kind):
            raise
    offered = ", ".join(f"W{m.weight_bits}A{m.act_bits}" for m in pe.modes)
    widths = f"W{b_bits}A{a_bits}"
    raise InputError.single(
        f"precision.per_kind.{kind}",
        f"no mode of PE {pe.name} runs {widths} (GEMM {gemm.name}; modes {offered})",
        widths,
    )


def _streamed_reads(
    m: int,
    n: int,
    k: int,
    a_bpe: float,
    b_bpe: float,
    a_bytes: float,
    b_bytes: float,
    wb: float,
    ab: float,
    ob: float,
) -> float:
    """DRAM read bytes when neither operand fits on chip: the cheapest of three loop orders.

    1. B strips of ``nt`` full-K columns stay resident; all of A streams once per strip.
    2. A blocks of ``mt`` full-K rows stay resident; all of B streams once per block.
    3. An ``mt x nt`` block of partial sums stays in the output buffer while K streams;
       A is read once per column block and B once per row block.
    """
    options = []
    nt = math.floor(wb / (k * b_bpe / 8))
    if nt >= 1:
        options.append(b_bytes + a_bytes * cdiv(n, nt))
    mt = math.floor(ab / (k * a_bpe / 8))
    if mt >= 1:
        options.append(a_bytes + b_bytes * cdiv(m, mt))
    slots = max(int(ob // (PSUM_BITS // 8)), 1)
    nt = max(min(n, math.isqrt(slots)), 1)
    mt = max(min(m, slots // nt), 1)
    options.append(a_bytes * cdiv(n, nt) + b_bytes * cdiv(m, mt))
    return min(options)


def _precision(acc: Accelerator, precision: Precision | None) -> Precision:
    """``precision`` or the accelerator's default; a non-default one must fit one tile."""
    prec = acc.default_precision if precision is None else precision
    if prec is not acc.default_precision:
        c = IssueCollector()
        min_tile_issues(c, acc.array.rows, acc.array.cols, acc.buffers, prec, "accelerator")
        c.raise_if_any()
    return prec


def tile_overflow_bytes(acc: Accelerator, precision: Precision, rows: Any, cols: Any) -> Any:
    """Bytes by which the worst buffer misses one array tile (<= 0: every tile fits).

    The same rule as the tile check of :func:`evaluate` (``min_tile_issues``): the active part
    of each buffer holds R x C elements of its operand (B at the widest bits per element over
    weights, KV and every per-kind override, activations, ``PSUM_BITS`` partial sums).
    Broadcasts over ``rows`` and ``cols``.

    Example:
        >>> from hwmodel import load_accelerator
        >>> acc = load_accelerator("int8")
        >>> float(tile_overflow_bytes(acc, acc.default_precision, 32, 32)) < 0
        True
    """
    buf = acc.buffers
    pes = np.asarray(rows, dtype=np.float64) * np.asarray(cols, dtype=np.float64)
    b_bits = precision.widest_b_bits_per_element
    need_have = (
        (pes * b_bits / 8, buf.active_bytes(buf.weight_bytes)),
        (pes * precision.act_bits_per_element / 8, buf.active_bytes(buf.act_bytes)),
        (pes * PSUM_BITS / 8, buf.active_bytes(buf.out_bytes)),
    )
    return np.maximum.reduce([need - have for need, have in need_have])


def evaluate_gemm(acc: Accelerator, gemm: Gemm, precision: Precision | None = None) -> Cost:
    """Cost of one GEMM (times its ``count``) on ``acc``.

    Raises:
        InputError: the PE has no mode for the precision, or a buffer cannot hold one tile.
    """
    prec = _precision(acc, precision)
    return _gemm_cost(acc, gemm, prec)


def _gemm_cost(acc: Accelerator, gemm: Gemm, prec: Precision) -> Cost:
    rows, cols = acc.array.rows, acc.array.cols
    arr = acc.array
    t = _terms(
        acc,
        gemm,
        prec,
        rows,
        cols,
        arr.dataflow.value,
        False,
        arr.preload.value,
        arr.gemv_path.value,
    )
    cycles, compute, memory, peak, mapped, epi_ops, energy, rd, wr, sram, ideal = t
    cnt = gemm.count
    return Cost(
        name=gemm.name,
        cycles=cycles * cnt,
        compute_cycles=compute * cnt,
        memory_cycles=memory * cnt,
        macs=gemm.macs * cnt,
        peak_mac_slots=peak * cnt,
        mapped_pe_cycles=mapped * cnt,
        epilogue_ops=epi_ops * cnt,
        energy_breakdown_pj={k: v * cnt for k, v in zip(ENERGY_COMPONENTS, energy, strict=True)},
        dram_read_bytes=rd * cnt,
        dram_write_bytes=wr * cnt,
        sram_bytes=sram * cnt,
        area_um2=acc.area_um2,
        clock_hz=acc.clock_hz,
        peak_compute_cycles=ideal * cnt,
        dram_bw_bytes_per_cycle=acc.dram.bw_bytes_per_cycle,
    )


def evaluate(
    acc: Accelerator,
    layer: Gemm | Workload | Iterable[Gemm],
    precision: Precision | None = None,
) -> Cost:
    """Cost of a GEMM or a workload; a workload's cost lists its layers in ``cost.layers``.

    Args:
        acc: The accelerator.
        layer: A :class:`Gemm`, a :class:`Workload` or any iterable of GEMMs.
        precision: Operand precisions; defaults to ``acc.default_precision``.

    Raises:
        InputError: the PE has no mode for the precision, or a buffer cannot hold one tile.

    Example:
        >>> from hwmodel import load_accelerator, Gemm
        >>> cost = evaluate(load_accelerator("int8"), Gemm(m=64, n=64, k=64))
        >>> cost.macs, cost.cycles >= 64**3 / (45 * 32)
        (262144, True)
    """
    prec = _precision(acc, precision)
    if isinstance(layer, Gemm):
        return _gemm_cost(acc, layer, prec)
    return Cost.total(_gemm_cost(acc, g, prec) for g in layer)


def evaluate_many(
    acc: Accelerator,
    workload: Gemm | Workload | Iterable[Gemm],
    precision: Precision | None = None,
    *,
    rows: Any,
    cols: Any,
    dataflow: str | None = None,
    preload: str | None = None,
    gemv_path: str | None = None,
) -> dict[str, np.ndarray]:
    """Vectorised cost of a workload over many array shapes (broadcast ``rows`` x ``cols``).

    ``dataflow``, ``preload`` and ``gemv_path`` override the accelerator's (``acc.array``) when
    given.

    Returns arrays for ``cycles``, ``compute_cycles``, ``memory_cycles``, ``energy_pj``,
    ``energy_<component>_pj``, ``utilization``, ``mapping_efficiency``, ``dram_bytes``,
    ``area_um2``, ``pe_area_um2``, ``latency_s``, ``roofline_s`` and ``memory_bound``
    (:attr:`Cost.roofline_s`, :attr:`Cost.bound` ``== "memory"``), ``tile_overflow_bytes``
    (:func:`tile_overflow_bytes`) and ``feasible`` (every buffer holds one tile: overflow <= 0);
    each entry equals what :func:`evaluate` gives for ``acc.with_array(rows=r, cols=c)``, which
    raises instead where ``feasible`` is False.

    Raises:
        InputError: rows/cols < 1, unknown dataflow or preload, or no PE mode for the precision.

    Example:
        >>> import numpy as np
        >>> from hwmodel import load_accelerator, Gemm
        >>> out = evaluate_many(load_accelerator("mant"), Gemm(m=1, n=4096, k=4096),
        ...                     rows=np.array([32, 64]), cols=np.array([32, 32]))
        >>> out["cycles"].shape
        (2,)
    """
    prec = acc.default_precision if precision is None else precision
    r, c = np.broadcast_arrays(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))
    df = str(acc.array.dataflow if dataflow is None else dataflow)
    issues = IssueCollector()
    issues.check(bool(r.size == 0 or r.min() >= 1), "rows", "must be ints >= 1", rows)
    issues.check(bool(c.size == 0 or c.min() >= 1), "cols", "must be ints >= 1", cols)
    pl = str(acc.array.preload if preload is None else preload)
    issues.check(df in ("os", "ws", "is"), "dataflow", "must be one of os, ws, is", dataflow)
    issues.check(
        pl in ("serial", "overlapped"), "preload", "must be one of serial, overlapped", preload
    )
    gp = str(acc.array.gemv_path if gemv_path is None else gemv_path)
    issues.check(
        gp in ("load_path", "scalesim", "double_buffered", "memory_width", "vector"),
        "gemv_path",
        "must be one of load_path, scalesim, double_buffered, memory_width, vector",
        gemv_path,
    )
    issues.raise_if_any()
    gemms = (workload,) if isinstance(workload, Gemm) else tuple(workload)
    zero = np.zeros(r.shape, dtype=np.float64)
    acc_t = {
        "cycles": zero.copy(),
        "compute_cycles": zero.copy(),
        "memory_cycles": zero.copy(),
        "peak": zero.copy(),
        "mapped": zero.copy(),
        "dram_bytes": zero.copy(),
        "ideal": zero.copy(),
    }
    energy = {k: zero.copy() for k in ENERGY_COMPONENTS}
    macs = 0
    for g in gemms:
        t = _terms(acc, g, prec, r, c, df, True, pl, gp)
        cycles, compute, memory, peak, mapped, _, e, rd, wr, _, ideal = t
        cnt = g.count
        acc_t["cycles"] += cycles * cnt
        acc_t["compute_cycles"] += compute * cnt
        acc_t["memory_cycles"] += memory * cnt
        acc_t["peak"] += peak * cnt
        acc_t["mapped"] += mapped * cnt
        acc_t["dram_bytes"] += (rd + wr) * cnt
        acc_t["ideal"] += ideal * cnt
        for key, val in zip(ENERGY_COMPONENTS, e, strict=True):
            energy[key] += val * cnt
        macs += g.macs * cnt
    overflow = tile_overflow_bytes(acc, prec, r, c)
    dram_s = acc_t["dram_bytes"] / acc.dram.bw_bytes_per_cycle / acc.clock_hz
    pe_area = pe_area_um2(acc.pe, r, c).astype(np.float64)
    out = {
        "cycles": acc_t["cycles"],
        "compute_cycles": acc_t["compute_cycles"],
        "memory_cycles": acc_t["memory_cycles"],
        "energy_pj": sum(energy.values()),
        **{f"energy_{k}_pj": v for k, v in energy.items()},
        "utilization": macs / acc_t["peak"],
        "mapping_efficiency": acc_t["mapped"] / acc_t["compute_cycles"],
        "dram_bytes": acc_t["dram_bytes"],
        "pe_area_um2": pe_area,
        "area_um2": pe_area + acc.sram_area_um2 + acc.array.load_area_um2,
        "latency_s": acc_t["cycles"] / acc.clock_hz,
        "roofline_s": np.maximum(dram_s, acc_t["ideal"] / acc.clock_hz),
        "memory_bound": dram_s >= acc_t["ideal"] / acc.clock_hz,
        "tile_overflow_bytes": overflow,
        "feasible": overflow <= 0,
    }
    return out
