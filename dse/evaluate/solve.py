"""Search where search is needed: the hardware dimensions solved exactly per quantization setting.

A quantization setting (PE type, formats, bit widths, group size, KV settings) costs milliseconds
to seconds of numerics; the hardware model evaluates about 10^6 array configurations per second
vectorised. So with ``sampler: {solve_hardware: true}`` (and ``sampler: auto``) a trial samples
the quantization parameters only, and :class:`HardwareSolver` evaluates *every* combination of
the hardware parameters (:data:`dse.study.space.HARDWARE_PARAMS`: rows x cols in one
``hwmodel.evaluate_many`` call per dataflow / buffers / clock / DRAM combination) for that
setting. Every feasible, non-dominated design of the setting is kept in the study: the trial
reports one of them (its objectives guide the sampler) and the others are added as COMPLETE
trials marked :data:`dse.evaluate.failures.ADDED_ATTR`, visible in the storage, the dashboard and
the results frame but not counted toward ``n_trials``. The union of the per-setting fronts holds
the global front, so a study that has drawn every setting has the exact front.

A trial that draws a setting (or, without solving, a design) evaluated before, or claimed by a
running trial of another worker (:mod:`dse.evaluate.claims`), is PRUNED with
:data:`dse.evaluate.failures.DUPLICATE_ATTR`: nothing is evaluated or listed twice.

Example:
    >>> # HardwareSolver(Evaluator(spec)).solve(values)  # -> front designs of the setting
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dse.evaluate.evaluation import Evaluation
from dse.evaluate.pareto import pareto_mask, to_minimization
from dse.study.design import OPTIONAL_FIELDS as _OPTIONAL
from dse.study.design import Design, design_from_values, freeze
from dse.study.space import HARDWARE_PARAMS

if TYPE_CHECKING:
    from dse.evaluate.hardware import HardwareModel
    from dse.study.spec_types import StudySpec
    from hwmodel import Precision


class Evaluator(Protocol):
    """What the solver asks of :class:`dse.evaluate.objective.Evaluator` (which does not import
    this)."""

    spec: StudySpec
    hardware: HardwareModel

    def configs(self, design: Design) -> tuple[Any, Any, Precision]: ...

    def numeric_metrics(self, design: Design) -> dict[str, float]: ...

    def finish(self, design: Design, metrics: dict[str, float]) -> Evaluation: ...


__all__ = ["HardwareSolver", "MAX_SOLVE_DESIGNS", "quant_key"]

# refuse to solve more hardware combinations than this per setting (about 10 s)
MAX_SOLVE_DESIGNS = 10_000_000
_ARRAY = ("rows", "cols")


def quant_key(design: Design) -> tuple[Any, ...]:
    """What a quantization setting is: the design without its hardware parameters."""
    return tuple(
        (name, freeze(getattr(design, name)))
        for name in _FIELDS
        if name not in HARDWARE_PARAMS and name in _in_key(design)
    )


def _in_key(design: Design) -> set[str]:
    """The fields :attr:`Design.key` holds (the weight algorithm and rotation only when not
    ``rtn`` / ``none``)."""
    return {n for n in _FIELDS if n not in _OPTIONAL or getattr(design, n) != _OPTIONAL[n]}


_FIELDS = tuple(Design.__dataclass_fields__)


class HardwareSolver:
    """Evaluates every hardware combination of one quantization setting, keeps its front."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.ev = evaluator
        self.space = evaluator.spec.space
        hw = [p for p in self.space.params if p.name in HARDWARE_PARAMS and p.name not in _ARRAY]
        self._hw_names = [p.name for p in hw]
        self._hw_combos = list(itertools.product(*(list(p.values()) for p in hw)))
        rows = np.array(list(self.space.get("rows").values()), dtype=np.int64)
        cols = np.array(list(self.space.get("cols").values()), dtype=np.int64)
        self._rr, self._cc = (a.ravel() for a in np.meshgrid(rows, cols, indexing="ij"))

    @property
    def n_hardware(self) -> int:
        """Hardware combinations per quantization setting."""
        return len(self._hw_combos) * len(self._rr)

    def solve(self, values: Mapping[str, Any]) -> list[tuple[dict[str, Any], Evaluation]]:
        """The feasible non-dominated designs of the setting in ``values`` (hardware values are
        ignored), as ``(Optuna-facing values, evaluation)``; best-compromise first. Without a
        feasible design: the one least in violation, alone.

        Raises:
            InputError: the setting cannot be evaluated (e.g. no PE mode for its widths).
        """
        spec = self.ev.spec
        base = {k: v for k, v in values.items() if k not in HARDWARE_PARAMS}
        first = {p.name: p.first for p in self.space.params if p.name in HARDWARE_PARAMS}
        design0 = design_from_values(self.space, {**first, **base})
        _, _, precision = self.ev.configs(design0)
        self.ev.hardware.check_modes(design0, precision)
        numeric = self.ev.numeric_metrics(design0)
        blocks: list[dict[str, np.ndarray]] = []
        combos: list[dict[str, Any]] = []
        for combo in self._hw_combos:
            hv = dict(zip(self._hw_names, combo, strict=True))
            d = design_from_values(self.space, {**first, **base, **hv})
            hw = self.ev.hardware.metrics_many(d, precision, self._rr, self._cc)
            blocks.append(hw)
            combos.append(hv)
        n = len(self._rr)
        metrics = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        for k, v in numeric.items():
            metrics[k] = np.full(n * len(blocks), v)
        objectives = np.stack([metrics[m] for m in spec.metric_names], axis=1)
        violations = np.stack(
            [c.violation(0.0) + _sign(c) * metrics[c.metric] for c in spec.all_constraints],
            axis=1,
        )
        feasible = np.all(violations <= 0, axis=1)
        flipped = to_minimization(objectives, spec.directions)
        if feasible.any():
            mask = pareto_mask(flipped, feasible)
            idx = np.flatnonzero(mask)
            _, first_of = np.unique(flipped[idx], axis=0, return_index=True)
            idx = idx[np.sort(first_of)]  # one design per objective vector
            idx = idx[np.argsort(_compromise(flipped[idx]), kind="stable")]
        else:
            idx = np.array([int(np.argmin(np.clip(violations, 0, None).sum(axis=1)))])
        out = []
        for i in idx:
            hv = {**combos[i // n], "rows": int(self._rr[i % n]), "cols": int(self._cc[i % n])}
            full = {**first, **base, **hv}
            design = design_from_values(self.space, full)
            m = {k: float(v[i]) for k, v in metrics.items()}
            out.append((full, self.ev.finish(design, m)))
        return out


def _sign(constraint: Any) -> float:
    """``violation(x) = violation(0) + sign * x`` (max: +1, min: -1)."""
    return 1.0 if constraint.max is not None else -1.0


def _compromise(points: np.ndarray) -> np.ndarray:
    """Distance to the ideal point after scaling each objective to [0, 1] over ``points``."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.sqrt((((points - lo) / span) ** 2).sum(axis=1))
