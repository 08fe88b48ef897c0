"""The hardware side: every design at iso-area on every case of a scope, and M-ANT's ratios.

Per case, speedup = baseline cycles / M-ANT cycles (one clock for all, so the latency ratio)
and energy reduction = baseline energy / M-ANT energy. Per baseline, the average is the
config's mean (geometric by default; both means are always kept) over the scope's cases.

Example:
    >>> from dse.reproduce.config import load_config
    >>> cfg = load_config()
    >>> accs = build_accelerators(cfg)
    >>> s = run_scope(cfg, cfg.scope("whole_model"), accs)
    >>> s.per_baseline["tender"].cases[-1].seq_len
    131072
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dse.reproduce.config import Alternative, DesignSpec, ReproduceConfig, Scope
from dse.study.recipe_io import load_recipe
from hwmodel import Accelerator, Precision, evaluate, iso_area, llm_workload, load_accelerator
from hwmodel.workload import Workload

__all__ = [
    "CaseRatio",
    "BaselineSummary",
    "ScopeResult",
    "build_accelerators",
    "design_accelerator",
    "mean",
    "run_scope",
    "scope_workload",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseRatio:
    """M-ANT against one baseline on one case.

    Attributes:
        model, phase, seq_len, batch: The case.
        speedup: Baseline cycles / M-ANT cycles.
        energy_reduction: Baseline energy / M-ANT energy.
        subject_cycles, baseline_cycles: Latency, cycles.
        subject_energy_pj, baseline_energy_pj: Energy, pJ.
        subject_bound, baseline_bound: ``compute`` or ``memory``.
    """

    model: str
    phase: str
    seq_len: int
    batch: int
    speedup: float
    energy_reduction: float
    subject_cycles: float
    baseline_cycles: float
    subject_energy_pj: float
    baseline_energy_pj: float
    subject_bound: str
    baseline_bound: str

    @property
    def label(self) -> str:
        return f"{self.model} {self.phase} L={self.seq_len} B={self.batch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineSummary:
    """M-ANT over one baseline across a scope's cases.

    Attributes:
        baseline: Design name.
        mean_kind: Which mean ``*_avg`` is (``geometric`` or ``arithmetic``).
        figures: ``speedup_avg``, ``_max``, ``_min``, ``_geomean``, ``_arith_mean`` and the
            same for ``energy_reduction``.
        cases: Per-case ratios.
    """

    baseline: str
    mean_kind: str
    figures: Mapping[str, float]
    cases: tuple[CaseRatio, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeResult:
    """One scope evaluated.

    Attributes:
        scope: The scope.
        per_baseline: Baseline -> summary.
    """

    scope: Scope
    per_baseline: Mapping[str, BaselineSummary]


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


def design_accelerator(
    cfg: ReproduceConfig, d: DesignSpec, alt: Alternative | None = None
) -> Accelerator:
    """One design's preset with its recipe's precision, resized to the area budget.

    ``alt`` (a named alternative) may replace the recipe, its activation or KV part, the PE area,
    the PE's energy, the array's dataflow, preload or GEMV path, DRAM bandwidth or energy, buffer
    sizes and the budget.
    """
    s: Mapping[str, Any] = {**cfg.settings, **(alt.settings if alt else {})}
    own: Mapping[str, Any] = alt.designs.get(d.name, {}) if alt else {}
    recipe = load_recipe(own["recipe"]) if "recipe" in own else d.recipe
    changes = {k: own.get(k, s.get(k)) for k in ("acts", "kv") if own.get(k, s.get(k))}
    if changes:
        recipe = recipe.with_overrides(**changes)
    acc = load_accelerator(d.preset)
    if acc.pe_constants != cfg.pe_constants:  # every design of a comparison takes one set
        acc = acc.with_pe_constants(cfg.pe_constants)
    acc = acc.with_precision(Precision.from_recipe(recipe))
    if "pe_area_um2" in own or "pe_energy_scale" in own:
        area = float(own.get("pe_area_um2", acc.pe.area_um2))
        k = float(own.get("pe_energy_scale", 1.0))
        modes = tuple(
            dataclasses.replace(m, energy_pj_per_mac=m.energy_pj_per_mac * k) for m in acc.pe.modes
        )
        pe = dataclasses.replace(
            acc.pe,
            area_um2=area,
            leakage_uw=acc.pe.leakage_uw * area / acc.pe.area_um2,
            modes=modes,
        )
        acc = dataclasses.replace(acc, pe=pe)
    if "dram_bw_bytes_per_cycle" in s:
        acc = acc.with_dram(bw_bytes_per_cycle=float(s["dram_bw_bytes_per_cycle"]))
    if "dram_pj_per_bit" in s:
        e = float(s["dram_pj_per_bit"])
        acc = acc.with_dram(read_pj_per_bit=e, write_pj_per_bit=e)
    if "dram_background_mw" in s:
        acc = acc.with_dram(background_mw=float(s["dram_background_mw"]))
    if "dram_energy_scale" in s:
        k = float(s["dram_energy_scale"])
        acc = acc.with_dram(
            read_pj_per_bit=acc.dram.read_pj_per_bit * k,
            write_pj_per_bit=acc.dram.write_pj_per_bit * k,
        )
    if "buffer_kib" in s:
        size = int(float(s["buffer_kib"]) * 1024)
        acc = acc.with_buffers(weight_bytes=size, act_bytes=size, out_bytes=size)
    if {"dataflow", "preload", "gemv_path"} & set(s):
        acc = acc.with_array(
            dataflow=s.get("dataflow"), preload=s.get("preload"), gemv_path=s.get("gemv_path")
        )
    rows, cols = own.get("rows", d.rows), own.get("cols", d.cols)
    if rows is not None and cols is not None:  # a fixed array, as the comparison configured it
        return acc.with_array(rows=int(rows), cols=int(cols))
    budget = cfg.area_budget_um2 * float(s.get("area_scale", 1.0))
    return iso_area(acc, budget, keep=d.keep)


def build_accelerators(
    cfg: ReproduceConfig, alt: Alternative | None = None
) -> dict[str, Accelerator]:
    """Every design of ``cfg`` (under ``alt`` if given), by name."""
    return {d.name: design_accelerator(cfg, d, alt) for d in cfg.designs}


def scope_workload(scope: Scope, model: str, phase: str, seq_len: int, batch: int) -> Workload:
    """One case's workload: every layer, or (``layers: linear``) the projections of the blocks
    only (``hwmodel`` scope ``linear_layers``, built without the LM head)."""
    whole = scope.layers == "all"
    wl = llm_workload(model, phase=phase, seq_len=seq_len, batch=batch, lm_head=whole)
    return wl if whole else wl.scope("linear_layers")


def _summary(baseline: str, kind: str, cases: tuple[CaseRatio, ...]) -> BaselineSummary:
    figures: dict[str, float] = {}
    for metric in ("speedup", "energy_reduction"):
        values = [getattr(c, metric) for c in cases]
        figures[f"{metric}_avg"] = mean(values, kind)
        figures[f"{metric}_max"] = max(values)
        figures[f"{metric}_min"] = min(values)
        figures[f"{metric}_geomean"] = mean(values, "geometric")
        figures[f"{metric}_arith_mean"] = mean(values, "arithmetic")
    return BaselineSummary(baseline=baseline, mean_kind=kind, figures=figures, cases=cases)


def _case_cost(
    cfg: ReproduceConfig,
    scope: Scope,
    acc: Accelerator,
    name: str,
    case: tuple[str, str, int, int],
) -> tuple[float, float, str]:
    """(cycles, energy pJ, bound) of one design on one case; a ``generate`` case is a prefill
    plus ``scope.generate_tokens`` decode steps (the bound is the decode step's)."""
    model, phase, seq_len, batch = case
    d = cfg.design(name)
    own = d.model_recipes.get(model)
    prec = Precision.from_recipe(own) if own is not None else None
    decode_prec = Precision.from_recipe(d.decode_recipe) if d.decode_recipe else prec
    if phase != "generate":
        wl = scope_workload(scope, model, phase, seq_len, batch)
        c = evaluate(acc, wl, decode_prec if phase == "decode" else prec)
        return float(c.cycles), float(c.energy_pj), str(c.bound)
    pre = evaluate(acc, scope_workload(scope, model, "prefill", seq_len, batch), prec)
    step = evaluate(acc, scope_workload(scope, model, "decode", seq_len, batch), decode_prec)
    n = scope.generate_tokens
    return (
        float(pre.cycles + n * step.cycles),
        float(pre.energy_pj + n * step.energy_pj),
        str(step.bound),
    )


def run_scope(
    cfg: ReproduceConfig,
    scope: Scope,
    accs: Mapping[str, Accelerator],
    alt: Alternative | None = None,
) -> ScopeResult:
    """Evaluate M-ANT and the scope's baselines on every case of the scope."""
    settings: Mapping[str, Any] = {**cfg.settings, **(alt.settings if alt else {})}
    phases = (settings["phase"],) if "phase" in settings else scope.phases
    cycle_scale = float(settings.get("subject_cycle_scale", 1.0))
    names = (cfg.subject, *scope.baselines)
    per: dict[str, list[CaseRatio]] = {b: [] for b in scope.baselines}
    for model in scope.models:
        for phase in phases:
            for seq_len in scope.seq_lens:
                for batch in scope.batches:
                    case = (model, phase, seq_len, batch)
                    costs = {n: _case_cost(cfg, scope, accs[n], n, case) for n in names}
                    sub_c, sub_e, sub_bound = costs[cfg.subject]
                    sub_cycles = sub_c * cycle_scale
                    for b in scope.baselines:
                        b_c, b_e, b_bound = costs[b]
                        per[b].append(
                            CaseRatio(
                                model=model,
                                phase=phase,
                                seq_len=seq_len,
                                batch=batch,
                                speedup=b_c / sub_cycles,
                                energy_reduction=b_e / sub_e,
                                subject_cycles=float(sub_cycles),
                                baseline_cycles=b_c,
                                subject_energy_pj=sub_e,
                                baseline_energy_pj=b_e,
                                subject_bound=sub_bound,
                                baseline_bound=b_bound,
                            )
                        )
    return ScopeResult(
        scope=scope,
        per_baseline={b: _summary(b, cfg.mean, tuple(per[b])) for b in scope.baselines},
    )
