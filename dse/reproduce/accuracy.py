"""The accuracy side: SmolLM2-135M perplexity of each recipe beside the paper's LLaMA-7B table.

Each recipe of ``accuracy.recipes`` runs whole (weights, activations, KV:
``llmrun.perplexity(recipe=...)``) on the first ``accuracy.windows`` 512-token windows. The
paper's ordering is compared by rank, not by value: SmolLM2-135M ships Q4_1 weights and is not
LLaMA-7B.

Example:
    >>> # run_accuracy(load_config())  # needs the SmolLM2 assets (mant-dse assets fetch)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dse.reproduce.config import ReproduceConfig
from dse.study.recipe_io import load_recipe
from mant.recipe import Recipe

__all__ = ["AccuracyRow", "AccuracyResult", "run_accuracy"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyRow:
    """One recipe's perplexity.

    Attributes:
        recipe: Recipe name.
        summary: ``W4A4 KV16``-style label.
        ours: SmolLM2-135M perplexity (None if not measured).
        paper: The paper's LLaMA-7B WikiText-2 perplexity (None if it gives none).
        applied: What of the recipe ran (``weights, activations, kv`` or a subset).
        note: Why nothing ran ("" if measured).
    """

    recipe: str
    summary: str
    ours: float | None
    paper: float | None
    applied: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyResult:
    """The accuracy table.

    Attributes:
        windows: 512-token windows per recipe.
        rows: One per recipe, config order.
        same_order: Whether our perplexities rank the recipes as the paper's do (None if not
            every recipe with a paper value was measured).
        pairs_in_order: Pairs of recipes ordered as in the paper, and all pairs compared.
        missing: Why nothing was measured, one sentence ("" if the run worked).
    """

    windows: int
    rows: tuple[AccuracyRow, ...]
    same_order: bool | None
    missing: str
    pairs_in_order: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "same_order_as_paper": self.same_order,
            "pairs_in_paper_order": list(self.pairs_in_order),
            "missing": self.missing,
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }


def _measure(recipe: Recipe, windows: int) -> tuple[float, str]:
    """Perplexity under the whole recipe and which parts of it quantize something."""
    from llmrun import perplexity

    parts = [
        name
        for name, on in (
            ("weights", recipe.weight_bits < 16),
            ("activations", recipe.act_bits < 16),
            ("kv", recipe.kv_bits < 16),
        )
        if on
    ]
    return float(perplexity(recipe=recipe, windows=windows).ppl), ", ".join(parts) or "none"


def _same_order(rows: tuple[AccuracyRow, ...]) -> bool | None:
    both = [r for r in rows if r.paper is not None]
    if any(r.ours is None for r in both):
        return None
    by_paper = [r.recipe for r in sorted(both, key=lambda r: r.paper or 0.0)]
    by_ours = [r.recipe for r in sorted(both, key=lambda r: r.ours or 0.0)]
    return by_paper == by_ours


def _pairs(rows: tuple[AccuracyRow, ...]) -> tuple[int, int]:
    both = [(r.ours, r.paper) for r in rows if r.ours is not None and r.paper is not None]
    pairs = [(a, b) for i, a in enumerate(both) for b in both[i + 1 :]]
    agree = sum((a[0] - b[0]) * (a[1] - b[1]) > 0 for a, b in pairs)
    return agree, len(pairs)


def run_accuracy(cfg: ReproduceConfig, windows: int | None = None) -> AccuracyResult:
    """Perplexity of every accuracy recipe (skipped when ``windows`` is 0 or assets missing)."""
    n = cfg.accuracy_windows if windows is None else windows
    paper: Mapping[str, float] = cfg.accuracy_paper
    rows: list[AccuracyRow] = []
    reason = ""
    for name in cfg.accuracy_recipes:
        recipe = load_recipe(name)
        ours, applied = None, "none"
        if n and not reason:
            try:
                ours, applied = _measure(recipe, n)
            except (FileNotFoundError, OSError) as exc:
                reason = f"SmolLM2 assets not available ({exc}); run `mant-dse assets fetch`"
                _log.warning(reason)
        note = reason or ("" if n else "skipped (windows = 0)")
        rows.append(
            AccuracyRow(
                recipe=name,
                summary=recipe.summary(),
                ours=ours,
                paper=paper.get(name),
                applied=applied,
                note=note,
            )
        )
    result = tuple(rows)
    return AccuracyResult(
        windows=n,
        rows=result,
        same_order=_same_order(result),
        missing=reason,
        pairs_in_order=_pairs(result),
    )
