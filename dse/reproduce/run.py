"""One call that runs the whole reproduction: the paper's scopes, the grid, the alternatives,
the iso-area check, the assumptions and the accuracy side.

Example:
    >>> from dse.reproduce.config import load_config
    >>> res = run_reproduce(load_config(), accuracy_windows=0)
    >>> sorted(res.scopes)
    ['grid', 'linear_layers', 'whole_model']
    >>> all(a.within_rule for a in res.iso_area)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dse.reproduce.accuracy import AccuracyResult, run_accuracy
from dse.reproduce.alternatives import AlternativesResult, published_scopes, run_alternatives
from dse.reproduce.assumptions import Assumption, assumptions_table
from dse.reproduce.compute import ScopeResult, build_accelerators, run_scope
from dse.reproduce.config import ReproduceConfig
from hwmodel import Accelerator
from hwmodel.accelerator import pe_area_um2

__all__ = ["IsoAreaRow", "ReproduceResult", "run_reproduce"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IsoAreaRow:
    """One design's array at the area budget.

    Attributes:
        design: Design name.
        rows, cols: The resized array.
        pe_area_um2: PE array plus epilogues, um^2.
        budget_fraction: ``pe_area_um2`` / budget.
        pe_um2_per_mac: PE area per MAC/cycle in the design's weight mode, um^2.
        tight: One more row (or column, for a design that keeps its rows) would exceed the
            budget: the iso-area rule of ``hwmodel.iso_area``.
        within_rule: Fits the budget, tight, and ``budget_fraction >= 1 - tolerance`` (the
            tolerance holds at the default budget; a smaller budget makes one step coarser).
    """

    design: str
    rows: int
    cols: int
    pe_area_um2: float
    budget_fraction: float
    pe_um2_per_mac: float
    tight: bool
    within_rule: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReproduceResult:
    """Everything the report shows.

    Attributes:
        config: The configuration.
        accelerators: The iso-area designs evaluated (default assumptions).
        scopes: Scope name -> result under the default assumptions.
        alternatives: The alternatives on the paper's scopes and the per-figure comparison.
        iso_area: One row per design.
        assumptions: Every assumption, named and sourced.
        accuracy: The perplexity table (None when skipped).
    """

    config: ReproduceConfig
    accelerators: Mapping[str, Accelerator]
    scopes: Mapping[str, ScopeResult]
    alternatives: AlternativesResult
    iso_area: tuple[IsoAreaRow, ...]
    assumptions: tuple[Assumption, ...]
    accuracy: AccuracyResult | None


def iso_area_rows(
    cfg: ReproduceConfig, accs: Mapping[str, Accelerator], area_scale: float = 1.0
) -> tuple[IsoAreaRow, ...]:
    """Each design's area against the budget (times ``area_scale``) and the iso-area rule."""
    budget = cfg.area_budget_um2 * area_scale
    rows = []
    for name, acc in accs.items():
        p = acc.default_precision
        mode = acc.pe.mode_for(p.weight_bits, p.act_bits)
        frac = acc.pe_area_um2 / budget
        r, c = acc.array.rows, acc.array.cols
        grown = (r + 1, c) if cfg.design(name).keep == "cols" else (r, c + 1)
        tight = pe_area_um2(acc.pe, *grown) > budget
        floor = 1.0 - cfg.iso_area_tolerance if area_scale == 1.0 else 0.0
        rows.append(
            IsoAreaRow(
                design=name,
                rows=acc.array.rows,
                cols=acc.array.cols,
                pe_area_um2=acc.pe_area_um2,
                budget_fraction=frac,
                pe_um2_per_mac=acc.pe.area_um2 / mode.macs_per_cycle,
                tight=tight,
                within_rule=tight and floor <= frac <= 1.0,
            )
        )
    return tuple(rows)


def run_reproduce(cfg: ReproduceConfig, *, accuracy_windows: int | None = None) -> ReproduceResult:
    """The whole reproduction (``accuracy_windows=0`` skips the perplexity side)."""
    accs = build_accelerators(cfg)
    alts = run_alternatives(cfg, published_scopes(cfg))
    scopes = dict(alts.base)
    for s in cfg.scopes:
        if s.name not in scopes:
            scopes[s.name] = run_scope(cfg, s, accs)
    windows = cfg.accuracy_windows if accuracy_windows is None else accuracy_windows
    return ReproduceResult(
        config=cfg,
        accelerators=accs,
        scopes=scopes,
        alternatives=alts,
        iso_area=iso_area_rows(cfg, accs),
        assumptions=assumptions_table(cfg, accs),
        accuracy=run_accuracy(cfg, windows) if windows else None,
    )
