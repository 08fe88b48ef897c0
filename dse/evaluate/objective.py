"""Scores one design: accuracy (through the cache) + hardware cost + storage bits.

:class:`Evaluator` is independent of Optuna (the runner, the sweep and export all use it);
:func:`make_objective` wraps it as an Optuna objective that records the full configuration on the
trial and sets its constraints.

Example:
    >>> from dse.study.spec import parse_spec
    >>> spec = parse_spec({"version": 1, "name": "x", "objectives": ["latency_s"]})
    >>> Evaluator(spec).objective_names
    ['latency_s']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.evaluate.accuracy import AccuracySource, make_accuracy_source
from dse.evaluate.cache import QuantCache
from dse.evaluate.claims import ClaimBook
from dse.evaluate.evaluation import Evaluation
from dse.evaluate.failures import ADDED_ATTR, FAIL_ATTR, TrialFailed
from dse.evaluate.hardware import HardwareModel, precision_of
from dse.evaluate.interrupts import abortable
from dse.evaluate.pareto import to_minimization
from dse.study import numerics
from dse.study.design import Design, design_from_values, ignored_params
from mant.errors import InputError

if TYPE_CHECKING:
    import optuna

    from dse.study.spec_types import StudySpec

__all__ = ["Evaluation", "Evaluator", "make_objective", "RECORD_ATTR", "trial_record"]

# One user attribute per trial (one storage write): {"design", "quant", "metrics"}.
RECORD_ATTR = "mant_dse"


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
        self.hardware = hardware or HardwareModel(spec.workload, spec.accelerator)
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
            kvcfg = numerics.kv_side_configs(design.recipe)[0]
            hit = (wcfg, kvcfg, precision_of(design))
            self._configs[key] = hit
        return hit

    def numeric_metrics(self, design: Design) -> dict[str, float]:
        """Accuracy and bits-per-element metrics (independent of the array)."""
        wcfg, kvcfg, precision = self.configs(design)
        source = self.accuracy
        if hasattr(source, "recipe_metrics"):  # per-kind formats, K and V apart
            out = dict(source.recipe_metrics(design.recipe, self.cache))
        else:  # a plug-in scoring one weight config and one KV config
            _check_uniform(design)
            out = dict(source.metrics(wcfg, kvcfg, self.cache))
        out["weight_bits_per_element"] = self.hardware.weight_bits_per_element(precision)
        out["kv_bits_per_element"] = self.hardware.kv_bits_per_element(precision)
        return out

    def finish(self, design: Design, metrics: dict[str, float]) -> Evaluation:
        """Adds constraints and objectives to a complete metrics dict."""
        wcfg, kvcfg, _ = self.configs(design)
        constraints = {c.name: c.violation(metrics[c.metric]) for c in self.spec.all_constraints}
        return Evaluation(
            design=design,
            metrics=metrics,
            constraints=constraints,
            objectives=tuple(metrics[name] for name in self.objective_names),
            quant={
                "weights": None if wcfg is None else wcfg.to_dict(),
                "kv": None if kvcfg is None else kvcfg.to_dict(),
                **({"per_kind": design.recipe.to_dict()} if design.per_kind else {}),
            },
        )

    def evaluate_design(self, design: Design) -> Evaluation:
        """All metrics, constraints and objectives of one design."""
        _, _, precision = self.configs(design)
        self.hardware.check_modes(design, precision)  # before the (costly) numerics
        metrics = self.numeric_metrics(design)
        metrics.update(self.hardware.metrics(design, precision))
        return self.finish(design, metrics)

    def evaluate(self, values: Mapping[str, Any]) -> Evaluation:
        """Evaluates Optuna-facing parameter values (format labels allowed)."""
        return self.evaluate_design(design_from_values(self.spec.space, values))


def _check_uniform(design: Design) -> None:
    """Raises when a design quantizes weight kinds, or K and V, differently (a plug-in source
    with only ``metrics(weight_config, kv_config, cache)`` cannot score it)."""
    algo = [t for _, t in design.recipe.weights if t is not None and t.layer_algorithm]
    if algo:
        raise InputError.single(
            "space.weight_algorithm",
            "gptq, awq and rotations need a source with recipe_metrics(recipe, cache) "
            "(docs/inputs.md)",
            f"{algo[0].algorithm}/{algo[0].rotation}",
        )
    if numerics.uniform_configs(design.recipe) is None:
        raise InputError.single(
            "accuracy.source",
            "scores one weight config and one KV config; per-kind formats need a source with "
            "recipe_metrics(recipe, cache) (docs/inputs.md)",
            "plug-in",
        )


def make_objective(
    evaluator: Evaluator | StudySpec, *, cache_dir: str | Path | None = None
) -> Callable[[optuna.Trial], list[float]]:
    """An Optuna objective: suggest, evaluate, record design/metrics/quant, set constraints.

    Parameters a design ignores are not sampled (:func:`dse.study.design.ignored_params`). With
    ``sampler.solve_hardware`` the trial samples the quantization setting only and keeps the
    setting's whole hardware front (:mod:`dse.evaluate.solve`). A design, or a solved setting,
    drawn again is PRUNED as a duplicate (:data:`dse.evaluate.failures.DUPLICATE_ATTR`), not
    evaluated again, also when another worker drew it (a claim in the storage,
    :mod:`dse.evaluate.claims`).

    An expected per-design error (:class:`mant.errors.InputError`, e.g. a precision the PE has
    no mode for) is stored on the trial (:data:`dse.evaluate.failures.FAIL_ATTR`) and raised as
    :class:`dse.evaluate.failures.TrialFailed`, so the trial is FAIL with its reason; any other
    exception propagates (a bug stops the run).

    Args:
        evaluator: an :class:`Evaluator`, or a :class:`dse.study.spec.StudySpec` (an evaluator is
            made for it, with ``cache_dir``).
        cache_dir: quantization cache folder when ``evaluator`` is a spec.

    Raises:
        TypeError: anything else (names what it takes and what it got).
    """
    from dse.study.spec_types import StudySpec

    if isinstance(evaluator, StudySpec):
        evaluator = Evaluator(evaluator, cache_dir=cache_dir)
    elif not isinstance(evaluator, Evaluator):
        raise TypeError(
            "make_objective takes a dse.Evaluator or a dse.StudySpec (e.g. dse.load_spec(path)), "
            f"got {type(evaluator).__name__}"
        )
    elif cache_dir is not None:
        raise TypeError("make_objective: cache_dir goes to Evaluator(spec, cache_dir=...)")
    from dse.study.space import HARDWARE_PARAMS

    space = evaluator.spec.space
    solver = None
    if evaluator.spec.sampler.solve_hardware:
        from dse.evaluate.solve import HardwareSolver

        solver = HardwareSolver(evaluator)
    promoter = None
    if evaluator.spec.accuracy.multi_fidelity:  # dse.evaluate.multifid
        from dse.evaluate.multifid import Promoter

        promoter = Promoter(evaluator.spec, evaluator.cache)
    seen: dict[tuple[Any, ...], int] = {}
    book = ClaimBook(seen)  # the storage is asked too: other workers' claims
    loaded: list[bool] = []

    def ignored(values: Mapping[str, Any]) -> set[str]:
        return ignored_params(values, space)

    def objective(trial: optuna.Trial) -> list[float]:
        if not loaded:
            seen.update(_seen_designs(trial.study, solver is not None))
            loaded.append(True)
        skip = HARDWARE_PARAMS if solver is not None else ()
        values = space.suggest(trial, skip=skip, ignored=ignored)
        try:
            if solver is not None:
                with abortable():  # computes only: a signal aborts it (dse.evaluate.interrupts)
                    return _solved(trial, values, solver, book, promoter)
            design = design_from_values(space, values)
            book.check(trial, design.key)
            with abortable():  # computes only: a signal aborts it (dse.evaluate.interrupts)
                ev = evaluator.evaluate_design(design)
                promoted = promoter.for_trial(trial, ev) if promoter is not None else {}
        except InputError as exc:
            reason = "; ".join(str(i) for i in exc.issues) or str(exc)
            trial.set_user_attr(FAIL_ATTR, reason)
            raise TrialFailed(reason) from exc
        seen[design.key] = trial.number
        _record(trial, ev, promoted)
        return list(ev.objectives)

    return objective


def _record(trial: Any, ev: Evaluation, extra: Mapping[str, Any] | None = None) -> None:
    trial.set_user_attr(
        RECORD_ATTR,
        {"design": ev.design.to_dict(), "quant": dict(ev.quant), "metrics": dict(ev.metrics)},
    )
    for key, value in (extra or {}).items():  # a multi-fidelity promotion
        trial.set_user_attr(key, value)
    for name, value in ev.constraints.items():
        trial.set_constraint(name, value)


def _seen_designs(study: Any, solved: bool) -> dict[tuple[Any, ...], int]:
    """Design keys (and solved quantization settings) of the study's COMPLETE trials."""
    from optuna.trial import TrialState

    from dse.evaluate.solve import quant_key

    out: dict[tuple[Any, ...], int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        rec = trial_record(t)
        if not rec.get("design"):
            continue
        design = Design.from_dict(rec["design"])
        out.setdefault(design.key, t.number)
        if solved:
            out.setdefault(("setting", *quant_key(design)), t.number)
    return out


def _solved(
    trial: Any, values: dict[str, Any], solver: Any, book: ClaimBook, promoter: Any = None
) -> list[float]:
    """Solves the hardware of the drawn setting; records its front (see
    :mod:`dse.evaluate.solve`). With a multi-fidelity ``promoter``, the representative and each
    added design are promoted against the study's front so far and the designs before them."""
    import numpy as np
    import optuna
    from optuna.trial import TrialState

    from dse.evaluate.solve import quant_key
    from dse.study.space import HARDWARE_PARAMS

    space = solver.space
    first = {p.name: p.first for p in space.params if p.name in HARDWARE_PARAMS}
    setting = ("setting", *quant_key(design_from_values(space, {**values, **first})))
    book.check(trial, setting)
    seen = book.seen
    front = solver.solve(values)
    seen[setting] = trial.number
    rep = front[0][1]
    seen[rep.design.key] = trial.number
    promo: dict[int, dict[str, Any]] = {}
    if promoter is not None:
        done, n_promoted = promoter.front_of(
            trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        )
        for i, (_, ev) in enumerate(front):
            if promoter.decide(ev, done, n_promoted, extra=len(promo)):
                promo[i] = promoter.attrs(ev)
            if ev.feasible:
                x = to_minimization(np.asarray([ev.objectives], float), promoter.spec.directions)
                done = np.vstack([done, x])
    _record(trial, rep, promo.get(0))
    searched = {p.name: p for p in space.searched}
    added = []
    for i, (vals, ev) in enumerate(front[1:], start=1):
        if ev.design.key in seen:
            continue
        seen[ev.design.key] = trial.number
        names = [n for n in searched if n not in ignored_params(vals, space)]
        frozen = optuna.trial.create_trial(
            params={n: vals[n] for n in names},
            distributions={n: searched[n].distribution() for n in names},
            values=list(ev.objectives),
            user_attrs={
                RECORD_ATTR: {
                    "design": ev.design.to_dict(),
                    "quant": dict(ev.quant),
                    "metrics": dict(ev.metrics),
                },
                ADDED_ATTR: trial.number,
                **promo.get(i, {}),
            },
        )
        for name, value in ev.constraints.items():
            frozen.set_constraint(name, value)
        added.append(frozen)
    if added:
        trial.study.add_trials(added)
    return list(rep.objectives)


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The ``{"design", "quant", "metrics"}`` record of a trial ({} if it never got that far)."""
    return trial.user_attrs.get(RECORD_ATTR) or {}
