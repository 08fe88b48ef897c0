"""The hardware side: every design at iso-area on every case, and the ratios M-ANT achieves.

Definitions (stated in the report):

- speedup of the subject over a baseline on a case = baseline cycles / subject cycles (all
  designs run at the same clock, so this is the latency ratio);
- energy reduction = baseline energy / subject energy;
- an *average* is the config's mean (geometric by default) over every case of the designs it
  covers; a *maximum* is the largest per-case ratio. The headline average covers the
  ``baselines`` (ANT, OliVe, Tender); ``references`` (INT8) are reported but not averaged.

Example:
    >>> from dse.reproduce.cases import parse_config, reduce_config, DEFAULT_CONFIG
    >>> cfg = parse_config(reduce_config(DEFAULT_CONFIG, models=["llama-2-7b"], seq_lens=[2048],
    ...                                  batches=[1]))
    >>> hw = run_hardware(cfg)
    >>> round(hw.headline.speedup_avg, 2) > 1
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dse.reproduce.cases import Case, ReproduceConfig
from hwmodel import Accelerator, Cost, evaluate, iso_area, llm_workload, load_accelerator

__all__ = [
    "CaseCost",
    "Ratio",
    "Summary",
    "HardwareResult",
    "build_accelerators",
    "evaluate_cases",
    "case_ratios",
    "summarize",
    "mean",
    "run_hardware",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseCost:
    """One design on one case.

    Attributes:
        design: Design name.
        case: The workload point.
        cycles: Latency, cycles.
        latency_s: Latency, s.
        energy_pj: Total energy, pJ.
        energy_breakdown_pj: Energy per component (``hwmodel.cost.ENERGY_COMPONENTS``), pJ.
        bound: ``compute`` or ``memory``.
        utilization: Useful MACs / peak MAC slots (0..1).
        compute_cycles: Array time incl. epilogue stalls, cycles.
        memory_cycles: DRAM transfer time, cycles.
        dram_bytes: DRAM traffic, bytes.
    """

    design: str
    case: Case
    cycles: int
    latency_s: float
    energy_pj: float
    energy_breakdown_pj: dict[str, float]
    bound: str
    utilization: float
    compute_cycles: int = 0
    memory_cycles: int = 0
    dram_bytes: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Ratio:
    """The subject against one baseline on one case.

    Attributes:
        baseline: Baseline design name.
        case: The workload point.
        speedup: Baseline cycles / subject cycles.
        energy_reduction: Baseline energy / subject energy.
    """

    baseline: str
    case: Case
    speedup: float
    energy_reduction: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Average and maximum of a set of ratios.

    Attributes:
        speedup_avg, speedup_max: Mean (see ``mean``) and maximum speedup.
        energy_reduction_avg, energy_reduction_max: Same for energy reduction.
        speedup_arith: Arithmetic mean speedup (shown next to a geometric mean).
        energy_reduction_arith: Arithmetic mean energy reduction.
        n: Number of ratios covered.
        argmax_speedup: Label of the case with the largest speedup.
        argmax_energy: Label of the case with the largest energy reduction.
    """

    speedup_avg: float
    speedup_max: float
    energy_reduction_avg: float
    energy_reduction_max: float
    speedup_arith: float
    energy_reduction_arith: float
    n: int
    argmax_speedup: str
    argmax_energy: str

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "speedup_avg": self.speedup_avg,
            "speedup_max": self.speedup_max,
            "energy_reduction_avg": self.energy_reduction_avg,
            "energy_reduction_max": self.energy_reduction_max,
            "speedup_arith_mean": self.speedup_arith,
            "energy_reduction_arith_mean": self.energy_reduction_arith,
            "n_cases": self.n,
            "speedup_max_case": self.argmax_speedup,
            "energy_reduction_max_case": self.argmax_energy,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class HardwareResult:
    """The hardware side of the reproduction.

    Attributes:
        accelerators: Design name -> the iso-area accelerator evaluated.
        costs: Every (design, case) cost.
        ratios: Subject over every baseline and reference, per case.
        headline: Summary over the headline baselines.
        per_design: Design name -> summary of the subject against it (baselines and references).
        per_model_phase: (design, model, phase) -> summary over sequence lengths and batches.
    """

    accelerators: dict[str, Accelerator]
    costs: tuple[CaseCost, ...]
    ratios: tuple[Ratio, ...]
    headline: Summary
    per_design: dict[str, Summary]
    per_model_phase: dict[tuple[str, str, str], Summary]


def mean(values: Sequence[float], kind: str = "geometric") -> float:
    """Geometric or arithmetic mean of positive values.

    Example:
        >>> mean([1.0, 4.0]), mean([1.0, 4.0], "arithmetic")
        (2.0, 2.5)
    """
    if not values:
        raise ValueError("mean of no values")
    if kind == "geometric":
        return math.exp(sum(math.log(v) for v in values) / len(values))
    return sum(values) / len(values)


def build_accelerators(
    cfg: ReproduceConfig,
    *,
    area_scale: float = 1.0,
    dram_bw_bytes_per_cycle: float | None = None,
    buffer_kib: float | None = None,
    act_bits: int | None = None,
    dataflow: str | None = None,
    preload: str | None = None,
    dram_energy_scale: float = 1.0,
) -> dict[str, Accelerator]:
    """Each design's preset, resized to the PE-area budget (times ``area_scale``).

    Args:
        cfg: The configuration.
        area_scale: Multiplies the area budget (the array-size knob).
        dram_bw_bytes_per_cycle: Replaces every design's DRAM bandwidth, bytes/cycle.
        buffer_kib: Replaces every design's weight, activation and output buffer size, KiB.
        act_bits: Replaces every design's activation width, bits (PE mode and traffic).
        dataflow: Replaces every design's dataflow (``ws``, ``os`` or ``is``).
        preload: Replaces every design's stationary-operand preload (``serial`` or
            ``overlapped``; ``hwmodel.systolic``).
        dram_energy_scale: Multiplies every design's DRAM read and write energy per bit.
    """
    from hwmodel import Precision

    out: dict[str, Accelerator] = {}
    for d in cfg.designs:
        acc = load_accelerator(d.preset)
        if dram_bw_bytes_per_cycle is not None:
            acc = acc.with_dram(bw_bytes_per_cycle=float(dram_bw_bytes_per_cycle))
        if dram_energy_scale != 1.0:
            acc = acc.with_dram(
                read_pj_per_bit=acc.dram.read_pj_per_bit * dram_energy_scale,
                write_pj_per_bit=acc.dram.write_pj_per_bit * dram_energy_scale,
            )
        if buffer_kib is not None:
            size = int(buffer_kib * 1024)
            acc = acc.with_buffers(weight_bytes=size, act_bytes=size, out_bytes=size)
        if act_bits is not None:
            p = acc.default_precision
            acc = acc.with_precision(
                Precision(
                    weight_bits=p.weight_bits,
                    weight_bits_per_element=p.weight_bits_per_element,
                    act_bits=int(act_bits),
                    kv_bits=p.kv_bits,
                    kv_bits_per_element=p.kv_bits_per_element,
                    group_size=p.group_size,
                    act_bits_per_element=float(act_bits),
                )
            )
        if dataflow is not None or preload is not None:
            acc = acc.with_array(dataflow=dataflow, preload=preload)
        out[d.name] = iso_area(acc, cfg.area_budget_um2 * area_scale, keep=d.keep)
    return out


def evaluate_cases(
    accelerators: dict[str, Accelerator], cases: Iterable[Case]
) -> tuple[CaseCost, ...]:
    """Every accelerator on every case, each at its own default precision."""
    out: list[CaseCost] = []
    for case in cases:
        wl = llm_workload(case.model, phase=case.phase, seq_len=case.seq_len, batch=case.batch)
        for name, acc in accelerators.items():
            c: Cost = evaluate(acc, wl)
            out.append(
                CaseCost(
                    design=name,
                    case=case,
                    cycles=int(c.cycles),
                    latency_s=float(c.latency_s),
                    energy_pj=float(c.energy_pj),
                    energy_breakdown_pj={k: float(v) for k, v in c.energy_breakdown_pj.items()},
                    bound=c.bound,
                    utilization=float(c.utilization),
                    compute_cycles=int(c.compute_cycles),
                    memory_cycles=int(c.memory_cycles),
                    dram_bytes=float(c.dram_bytes),
                )
            )
    return tuple(out)


def case_ratios(
    costs: Iterable[CaseCost], subject: str, others: Sequence[str]
) -> tuple[Ratio, ...]:
    """The subject's speedup and energy reduction over each of ``others``, per case."""
    by_key = {(c.design, c.case): c for c in costs}
    cases = [c.case for c in by_key.values() if c.design == subject]
    return tuple(
        Ratio(
            baseline=b,
            case=case,
            speedup=by_key[(b, case)].cycles / by_key[(subject, case)].cycles,
            energy_reduction=by_key[(b, case)].energy_pj / by_key[(subject, case)].energy_pj,
        )
        for b in others
        for case in cases
    )


def summarize(ratios: Sequence[Ratio], kind: str = "geometric") -> Summary:
    """Average (``kind`` mean) and maximum of the ratios."""
    sp = [r.speedup for r in ratios]
    en = [r.energy_reduction for r in ratios]
    best_sp = max(ratios, key=lambda r: r.speedup)
    best_en = max(ratios, key=lambda r: r.energy_reduction)
    return Summary(
        speedup_avg=mean(sp, kind),
        speedup_max=max(sp),
        energy_reduction_avg=mean(en, kind),
        energy_reduction_max=max(en),
        speedup_arith=mean(sp, "arithmetic"),
        energy_reduction_arith=mean(en, "arithmetic"),
        n=len(ratios),
        argmax_speedup=f"{best_sp.baseline}: {best_sp.case.label}",
        argmax_energy=f"{best_en.baseline}: {best_en.case.label}",
    )


def run_hardware(cfg: ReproduceConfig) -> HardwareResult:
    """Evaluate every design on every case of ``cfg`` and summarize the subject's gains."""
    accs = build_accelerators(cfg)
    costs = evaluate_cases(accs, cfg.cases)
    others = cfg.baselines + cfg.references
    ratios = case_ratios(costs, cfg.subject, others)
    headline = summarize([r for r in ratios if r.baseline in cfg.baselines], cfg.mean)
    per_design = {b: summarize([r for r in ratios if r.baseline == b], cfg.mean) for b in others}
    per_mp = {
        (b, m, p): summarize(
            [r for r in ratios if (r.baseline, r.case.model, r.case.phase) == (b, m, p)], cfg.mean
        )
        for b in others
        for m in cfg.models
        for p in cfg.phases
    }
    return HardwareResult(
        accelerators=accs,
        costs=costs,
        ratios=ratios,
        headline=headline,
        per_design=per_design,
        per_model_phase=per_mp,
    )
