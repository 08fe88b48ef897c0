"""Named alternatives, one at a time, and which one explains each published figure.

Every alternative of the config (``tender_kv.unicore_int4``, ``mant_pe.paper_148um2``,
``preload.overlapped`` ...) rebuilds every design at iso-area and re-runs the paper's scopes.
For each published figure the report then gives ours, the paper's, the difference and the
alternative that moves ours closest to the paper's (on a log scale), with the value it gives.
No constant is fitted: an alternative is a named, sourced setting, taken or left whole.

Example:
    >>> from dse.reproduce.config import load_config
    >>> cfg = load_config()
    >>> res = run_alternatives(cfg, scopes=("whole_model",))
    >>> f = res.figures[0]
    >>> (f.scope, f.baseline, f.figure), f.paper
    (('whole_model', 'tender', 'speedup_avg'), 2.99)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dse.reproduce.compute import ScopeResult, build_accelerators, run_scope
from dse.reproduce.config import ReproduceConfig

__all__ = [
    "FigureComparison",
    "AlternativesResult",
    "PAPER_SCOPES",
    "published_scopes",
    "gemv_path_needs",
    "run_alternatives",
]

PAPER_SCOPES = ("linear_layers", "whole_model")
"""Scopes that carry the M-ANT paper's published figures (the grid is our own)."""


def published_scopes(cfg: ReproduceConfig) -> tuple[str, ...]:
    """The scopes of ``cfg`` that carry published figures, in config order."""
    return tuple(s.name for s in cfg.scopes if s.paper)


@dataclass(frozen=True, slots=True, kw_only=True)
class FigureComparison:
    """One published figure against ours.

    Attributes:
        scope, baseline, figure: Which figure (``speedup_avg`` ...).
        ours: Our value under the default assumptions.
        paper: The published value.
        difference: ours / paper - 1.
        explained_by: The alternative that brings ours closest to the paper's ("" if none does).
        explained_value: Our value under that alternative.
        closes: Fraction of the log gap that alternative closes (1 = reaches the paper's).
    """

    scope: str
    baseline: str
    figure: str
    ours: float
    paper: float
    difference: float
    explained_by: str
    explained_value: float
    closes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AlternativesResult:
    """Every alternative on every paper scope, and the per-figure comparison.

    Attributes:
        base: Scope name -> result under the default assumptions.
        runs: Alternative name -> scope name -> result.
        figures: One comparison per published figure, in config order.
    """

    base: Mapping[str, ScopeResult]
    runs: Mapping[str, Mapping[str, ScopeResult]]
    figures: tuple[FigureComparison, ...]

    def value(self, alt: str, scope: str, baseline: str, figure: str) -> float:
        """Our figure under one alternative."""
        return self.runs[alt][scope].per_baseline[baseline].figures[figure]


def _compare(
    scope: str,
    baseline: str,
    figure: str,
    paper: float,
    base: ScopeResult,
    runs: Mapping[str, Mapping[str, ScopeResult]],
) -> FigureComparison:
    ours = base.per_baseline[baseline].figures[figure]
    gap = math.log(paper / ours)
    best, best_value, best_left = "", ours, abs(gap)
    for name, by_scope in runs.items():
        v = by_scope[scope].per_baseline[baseline].figures[figure]
        left = abs(math.log(paper / v))
        if left < best_left - 1e-9:
            best, best_value, best_left = name, v, left
    closes = 1.0 - best_left / abs(gap) if gap else 1.0
    return FigureComparison(
        scope=scope,
        baseline=baseline,
        figure=figure,
        ours=ours,
        paper=paper,
        difference=ours / paper - 1.0,
        explained_by=best,
        explained_value=best_value,
        closes=closes,
    )


def run_alternatives(
    cfg: ReproduceConfig, scopes: Sequence[str] = PAPER_SCOPES
) -> AlternativesResult:
    """The default run and every alternative on ``scopes``, and every figure's comparison."""
    chosen = [s for s in cfg.scopes if s.name in scopes]
    accs = build_accelerators(cfg)
    base = {s.name: run_scope(cfg, s, accs) for s in chosen}
    runs: dict[str, dict[str, ScopeResult]] = {}
    for alt in cfg.alternatives:
        alt_accs = build_accelerators(cfg, alt)
        runs[alt.name] = {s.name: run_scope(cfg, s, alt_accs, alt) for s in chosen}
    figures = tuple(
        _compare(s.name, b, fig, value, base[s.name], runs)
        for s in chosen
        for b, figs in s.paper.items()
        for fig, value in figs.items()
    )
    return AlternativesResult(base=base, runs=runs, figures=figures)


def gemv_path_needs(
    res: AlternativesResult, scope: str = "whole_model"
) -> list[dict[str, object]]:
    """For each published figure of ``scope``: its value under every decode load path
    (``load_path`` = the default, then each ``gemv.*`` alternative) and the path closest to the
    paper's value (log scale)."""
    rows: list[dict[str, object]] = []
    paths = [n for n in res.runs if n.startswith("gemv.")]
    for f in res.figures:
        if f.scope != scope:
            continue
        values = {"load_path": f.ours} | {
            p.removeprefix("gemv."): res.value(p, f.scope, f.baseline, f.figure) for p in paths
        }
        closest = min(values, key=lambda k: abs(math.log(f.paper / values[k])))
        rows.append(
            {"baseline": f.baseline, "figure": f.figure, "paper": f.paper}
            | values
            | {"closest": closest}
        )
    return rows
