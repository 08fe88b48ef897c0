"""Scores one design: accuracy (through the cache) + hardware cost + storage bits.

:class:`Evaluator` is independent of Optuna (the runner, the sweep and export all use it);
:func:`make_objective` wraps it as an Optuna objective that records the full configuration on the
trial and sets its constraints.

Example:
    >>> from dse.spec import parse_spec
    >>> spec = parse_spec({"version": 1, "name": "x", "objectives": ["latency_s"]})
    >>> Evaluator(spec).objective_names
    ['latency_s']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse import numerics
from dse.accuracy import AccuracySource, make_accuracy_source
from dse.cache import QuantCache
from dse.design import Design, design_from_values
from dse.hardware import HardwareModel, precision_of

if TYPE_CHECKING:
    import optuna

    from dse.spec import StudySpec

__all__ = ["Evaluation", "Evaluator", "make_objective", "RECORD_ATTR", "trial_record"]

# One user attribute per trial (one storage write): {"design", "quant", "metrics"}.
RECORD_ATTR = "mant_dse"


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """Everything measured about one design.

    Attributes:
        design: the design.
        metrics: every metric computed, by name (units in :data:`dse.metrics.METRICS`).
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


class Evaluator:
    """Evaluates designs of one study.

    Args:
        spec: the study.
        cache_dir: folder of the on-disk quantization cache (None: memory only).
        accuracy: an accuracy source (default: built from ``spec.accuracy`` on first use).
        hardware: a hardware model (default: built from ``spec.workload``).
    """

    def __init__(
        self,
        spec: StudySpec,
        *,
        cache_dir: str | Path | None = None,
        accuracy: AccuracySource | None = None,
        hardware: HardwareModel | None = None,
    ) -> None:
        self.spec = spec
        self.cache = QuantCache(cache_dir)
        self._accuracy = accuracy
        self.hardware = hardware or HardwareModel(spec.workload)
        self._configs: dict[Design, tuple[Any, Any, Any]] = {}

    @property
    def objective_names(self) -> list[str]:
        return self.spec.metric_names

    @property
    def accuracy(self) -> AccuracySource:
        if self._accuracy is None:
            self._accuracy = make_accuracy_source(self.spec.accuracy)
        return self._accuracy

    def configs(self, design: Design) -> tuple[Any, Any, Any]:
        """(weight QuantConfig, KVQuantConfig or None, Precision) of a design (memoised)."""
        key = replace(design, rows=0, cols=0)  # the configs do not depend on the array shape
        hit = self._configs.get(key)
        if hit is None:
            wcfg = numerics.weight_config(design)
            kvcfg = numerics.kv_config(design)
            hit = (wcfg, kvcfg, precision_of(design))
            self._configs[key] = hit
        return hit

    def numeric_metrics(self, design: Design) -> dict[str, float]:
        """Accuracy and bits-per-element metrics (independent of the array)."""
        wcfg, kvcfg, precision = self.configs(design)
        out = dict(self.accuracy.metrics(wcfg, kvcfg, self.cache))
        out["weight_bits_per_element"] = float(precision.weight_bits_per_element)
        out["kv_bits_per_element"] = float(precision.kv_bits_per_element)
        return out

    def finish(self, design: Design, metrics: dict[str, float]) -> Evaluation:
        """Adds constraints and objectives to a complete metrics dict."""
        wcfg, kvcfg, _ = self.configs(design)
        constraints = {c.name: c.violation(metrics[c.metric]) for c in self.spec.constraints}
        return Evaluation(
            design=design,
            metrics=metrics,
            constraints=constraints,
            objectives=tuple(metrics[name] for name in self.objective_names),
            quant={"weights": wcfg.to_dict(), "kv": None if kvcfg is None else kvcfg.to_dict()},
        )

    def evaluate_design(self, design: Design) -> Evaluation:
        """All metrics, constraints and objectives of one design."""
        _, _, precision = self.configs(design)
        metrics = self.numeric_metrics(design)
        metrics.update(self.hardware.metrics(design, precision))
        return self.finish(design, metrics)

    def evaluate(self, values: Mapping[str, Any]) -> Evaluation:
        """Evaluates Optuna-facing parameter values (format labels allowed)."""
        return self.evaluate_design(design_from_values(self.spec.space, values))


def make_objective(evaluator: Evaluator) -> Callable[[optuna.Trial], list[float]]:
    """An Optuna objective: suggest, evaluate, record design/metrics/quant, set constraints."""
    space = evaluator.spec.space

    def objective(trial: optuna.Trial) -> list[float]:
        ev = evaluator.evaluate(space.suggest(trial))
        trial.set_user_attr(
            RECORD_ATTR,
            {"design": ev.design.to_dict(), "quant": dict(ev.quant), "metrics": dict(ev.metrics)},
        )
        for name, value in ev.constraints.items():
            trial.set_constraint(name, value)
        return list(ev.objectives)

    return objective


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The ``{"design", "quant", "metrics"}`` record of a trial ({} if it never got that far)."""
    return trial.user_attrs.get(RECORD_ATTR) or {}
