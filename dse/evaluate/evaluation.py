"""What one design's evaluation measured: :class:`Evaluation` (a frozen value).

Its own module so that the evaluator (:mod:`dse.evaluate.objective`) and the hardware solver
(:mod:`dse.evaluate.solve`) both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dse.study.design import Design

__all__ = ["Evaluation"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """Everything measured about one design.

    Attributes:
        design: the design.
        metrics: every metric computed, by name (units in :data:`dse.study.metrics.METRICS`).
        constraints: constraint values by constraint name; feasible when all <= 0.
        objectives: objective values in the spec's order.
        quant: ``{"weights": QuantConfig dict, "kv": KVQuantConfig dict | None}``.
    """

    design: Design
    metrics: Mapping[str, float]
    constraints: Mapping[str, float]
    objectives: tuple[float, ...]
    quant: Mapping[str, Any]

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())
