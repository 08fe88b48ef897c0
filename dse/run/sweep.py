"""Exhaustive sweep of an enumerable space: the true Pareto front, to grade a study against.

Designs fail and are infeasible exactly as in a study: a width the PE has no mode for is a FAIL
row with its reason; a design whose buffers miss one array tile completes with the ``tile_fit``
constraint violated (``tile_overflow_bytes`` > 0), so it is never on the front.

Vectorised the way the costs factor: numerics once per distinct quantization config (through
the same cache as studies), then :func:`hwmodel.evaluate_many` over every (rows, cols) of the
space in one call per (PE type, dataflow, buffers, precision).

Example:
    >>> # df = sweep(load_spec("studies/quickstart.yaml"))
    >>> # hypervolume_ratio(study_df, df, spec)  # 1.0 = the study found the true front
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.evaluate.objective import Evaluator
from dse.evaluate.pareto import normalization_bounds
from dse.results.frame import TrialRecord, build_frame, front_hypervolume, objective_matrix
from dse.study.design import Design, canonical_values, ignored_params
from dse.study.spec_checks import MAX_ENUMERATED_DESIGNS
from mant.errors import InputError

if TYPE_CHECKING:
    from dse.study.spec import StudySpec

__all__ = ["MAX_SWEEP_DESIGNS", "sweep", "hypervolume_ratio", "hypervolume_ratio_curve"]

MAX_SWEEP_DESIGNS = MAX_ENUMERATED_DESIGNS
_ARRAY = ("rows", "cols")


def sweep(
    spec: StudySpec,
    *,
    evaluator: Evaluator | None = None,
    max_designs: int = MAX_SWEEP_DESIGNS,
    on_group: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Evaluates every design of the space; returns a results frame (``trial`` = design index).

    Equivalent designs are one design: a parameter the design ignores
    (:func:`dse.study.design.ignored_params`) is not enumerated for it.

    Args:
        spec: the study (its ``space`` is enumerated).
        evaluator: evaluator to use (default: a memory-cached one for the spec).
        max_designs: refuse larger spaces.
        on_group: progress callback ``(groups done, groups total)``.

    Raises:
        InputError: the space holds more than ``max_designs`` designs.
    """
    if spec.space.size > max_designs:
        raise InputError.single(
            "space", f"has too many designs to sweep (limit {max_designs})", spec.space.size
        )
    ev = evaluator or Evaluator(spec)
    space = spec.space
    searched = {p.name for p in space.searched}
    others = [p for p in space.params if p.name not in _ARRAY]
    rows_v = np.array(list(space.get("rows").values()), dtype=np.int64)
    cols_v = np.array(list(space.get("cols").values()), dtype=np.int64)
    rr, cc = (a.ravel() for a in np.meshgrid(rows_v, cols_v, indexing="ij"))
    combos = []  # equivalent designs are one design: ignored parameters at their first choice
    seen: set[tuple[Any, ...]] = set()
    for combo in itertools.product(*(list(p.values()) for p in others)):
        values0 = dict(zip((p.name for p in others), combo, strict=True))
        canon = canonical_values(space, values0)
        key = tuple(canon[p.name] for p in others)
        if key not in seen:
            seen.add(key)
            combos.append((key, ignored_params(canon, space)))
    records: list[TrialRecord] = []
    for gi, (combo, ignored) in enumerate(combos):
        values: dict[str, Any] = dict(zip((p.name for p in others), combo, strict=True))
        resolved = {p.name: p.resolve(values[p.name]) for p in others}
        design = Design.from_params({**resolved, "rows": int(rr[0]), "cols": int(cc[0])})
        try:
            _, _, precision = ev.configs(design)
            ev.hardware.check_modes(design, precision)
            numeric = ev.numeric_metrics(design)
            hw = ev.hardware.metrics_many(design, precision, rr, cc)
        except InputError as exc:  # the same per-design failures as a study's trials
            reason = "; ".join(str(i) for i in exc.issues)
            for i in range(len(rr)):
                params = {**values, "rows": int(rr[i]), "cols": int(cc[i])}
                records.append(
                    TrialRecord(
                        trial=len(records),
                        state="FAIL",
                        params={k: v for k, v in params.items() if k in searched - ignored},
                        reason=reason,
                    )
                )
            if on_group is not None:
                on_group(gi + 1, len(combos))
            continue
        for i in range(len(rr)):
            metrics = dict(numeric)
            metrics.update({k: float(v[i]) for k, v in hw.items()})
            d = Design.from_params({**resolved, "rows": int(rr[i]), "cols": int(cc[i])})
            e = ev.finish(d, metrics)
            params = {**values, "rows": int(rr[i]), "cols": int(cc[i])}
            records.append(
                TrialRecord(
                    trial=len(records),
                    state="COMPLETE",
                    params={k: v for k, v in params.items() if k in searched - ignored},
                    metrics=e.metrics,
                    constraints=e.constraints,
                )
            )
        if on_group is not None:
            on_group(gi + 1, len(combos))
    return build_frame(records, spec)


def _bounds(true_df: pd.DataFrame, spec: StudySpec) -> tuple[np.ndarray, np.ndarray]:
    values = objective_matrix(true_df, spec)
    feasible = true_df["feasible"].to_numpy(bool)
    return normalization_bounds(values[feasible & true_df["pareto"].to_numpy(bool)])


def hypervolume_ratio(study_df: pd.DataFrame, true_df: pd.DataFrame, spec: StudySpec) -> float:
    """HV(study front) / HV(true front), both normalised by the true front's ideal and nadir.

    1.0 means the study found the whole true front (it cannot exceed 1 when the sweep covers
    every design the study can propose).
    """
    return _ratio(study_df, spec, *_true_front(true_df, spec))


def _true_front(true_df: pd.DataFrame, spec: StudySpec) -> tuple[np.ndarray, np.ndarray, float]:
    """(ideal, nadir, hypervolume) of the true front, the scale every ratio is measured on."""
    ideal, nadir = _bounds(true_df, spec)
    return ideal, nadir, front_hypervolume(true_df, spec, ideal=ideal, nadir=nadir)


def _ratio(
    study_df: pd.DataFrame, spec: StudySpec, ideal: np.ndarray, nadir: np.ndarray, true_hv: float
) -> float:
    if true_hv <= 0:
        return float("nan")
    return front_hypervolume(study_df, spec, ideal=ideal, nadir=nadir) / true_hv


def hypervolume_ratio_curve(
    study_df: pd.DataFrame,
    true_df: pd.DataFrame,
    spec: StudySpec,
    checkpoints: list[int],
    sampler_trials: list[int] | None = None,
) -> dict[int, float]:
    """Hypervolume ratio reached after the first N trials, for each N in ``checkpoints``.

    With ``sampler_trials`` (the numbers of the sampler's trials, duplicates included), N counts
    those: the designs after N trials are every row numbered below the (N+1)-th sampler trial
    (designs a hardware solve added belong to the trial that solved them).
    """
    true_front = _true_front(true_df, spec)
    ordered = study_df.sort_values("trial")
    out = {}
    for n in checkpoints:
        if sampler_trials is not None:
            cut = sampler_trials[n] if n < len(sampler_trials) else np.inf
            head = ordered[ordered["trial"] < cut]
        else:
            head = ordered.head(n)
        records = [
            TrialRecord(
                trial=int(r["trial"]),
                state=str(r["state"]),
                metrics={o.metric: r[f"obj.{o.metric}"] for o in spec.objectives},
                constraints={c.name: r[f"con.{c.name}"] for c in spec.all_constraints},
            )
            for _, r in head.iterrows()
        ]
        out[n] = _ratio(build_frame(records, spec), spec, *true_front)
    return out
