"""The results frame: one pandas schema for every study and sweep.

Columns, in this order (an empty study still has all of them):

=============== ========================================================================
``trial``       trial number (int)
``state``       ``COMPLETE``, ``FAIL``, ``RUNNING``, ``WAITING`` or ``PRUNED``
``param.<p>``   every searched parameter of the spec (format parameters hold their label)
``obj.<m>``     every objective, in the spec's unit and direction (NaN unless COMPLETE)
``metric.<m>``  every metric of :data:`dse.study.metrics.METRICS` (NaN when not computed)
``con.<c>``     every constraint value; feasible when <= 0
``feasible``    COMPLETE and every constraint <= 0
``pareto``      on the feasible front of the objectives (maximised ones flipped)
``promoted``    ``accuracy.fidelity: multi`` only: promoted to real perplexity (``metric.ppl``
                holds it; NaN for the others; :mod:`dse.evaluate.multifid`)
``fail_reason`` why a FAIL trial failed (:func:`dse.evaluate.failures.failure_reason`), else empty
=============== ========================================================================

Example:
    >>> from dse.study.spec import parse_spec
    >>> spec = parse_spec({"version": 1, "name": "x", "objectives": ["latency_s"]})
    >>> list(build_frame([], spec).columns)[:2]
    ['trial', 'state']
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.evaluate.pareto import (
    hypervolume,
    normalization_bounds,
    normalize,
    pareto_mask,
    to_minimization,
)
from dse.study.metrics import METRICS
from dse.study.space import HARDWARE_PARAMS
from dse.study.spec import TILE_FIT

if TYPE_CHECKING:
    import optuna

    from dse.study.spec import StudySpec

__all__ = [
    "TrialRecord",
    "columns_for",
    "build_frame",
    "frame_from_study",
    "listed_trials",
    "save_frame",
    "load_frame",
    "objective_matrix",
    "front_hypervolume",
    "RESULTS_CSV",
    "RESULTS_PARQUET",
]

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialRecord:
    """One evaluated (or failed) design, independent of Optuna."""

    trial: int
    state: str
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    constraints: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
    promoted: bool = False


def columns_for(spec: StudySpec) -> list[str]:
    """The frame's columns for a spec, in schema order."""
    return [
        "trial",
        "state",
        *(f"param.{p.name}" for p in spec.space.searched),
        *(f"obj.{o.metric}" for o in spec.objectives),
        *(f"metric.{m}" for m in METRICS),
        *(f"con.{c.name}" for c in spec.all_constraints),
        "feasible",
        "pareto",
        *(["promoted"] if spec.accuracy.multi_fidelity else []),
        "fail_reason",
    ]


def build_frame(records: Iterable[TrialRecord], spec: StudySpec) -> pd.DataFrame:
    """Builds the results frame (with ``feasible`` and ``pareto``) from trial records."""
    cols = columns_for(spec)
    rows = []
    for r in records:
        complete = r.state == "COMPLETE"
        row: dict[str, Any] = {"trial": r.trial, "state": r.state}
        for p in spec.space.searched:
            row[f"param.{p.name}"] = r.params.get(p.name)
        for o in spec.objectives:
            row[f"obj.{o.metric}"] = r.metrics.get(o.metric, math.nan) if complete else math.nan
        for m in METRICS:
            row[f"metric.{m}"] = r.metrics.get(m, math.nan)
        cons = []
        for c in spec.all_constraints:
            value = r.constraints.get(c.name, math.nan)
            if c is TILE_FIT and c.name not in r.constraints and complete:
                # recorded before the tile fit was a constraint: it was checked by raising
                value = c.violation(r.metrics.get(c.metric, 0.0))
            row[f"con.{c.name}"] = value
            cons.append(value)
        row["feasible"] = complete and all(v <= 0 for v in cons)
        row["promoted"] = r.promoted
        row["fail_reason"] = r.reason
        rows.append(row)
    df = pd.DataFrame(rows, columns=[c for c in cols if c != "pareto"])
    df = df.astype({"trial": "int64", "state": "string", "feasible": "bool"})
    for col in cols:
        if col.startswith(("obj.", "metric.", "con.")):
            df[col] = df[col].astype("float64")
    values = objective_matrix(df, spec)
    df["pareto"] = pareto_mask(values, df["feasible"].to_numpy()) if len(df) else []
    df["pareto"] = df["pareto"].astype("bool")
    if "promoted" in df:
        df["promoted"] = df.pop("promoted").astype("bool")
    df["fail_reason"] = df.pop("fail_reason").astype("string")
    return df.sort_values("trial", kind="stable").reset_index(drop=True)


def objective_matrix(df: pd.DataFrame, spec: StudySpec) -> np.ndarray:
    """(n, n_objectives) objective values, flipped so that smaller is better."""
    raw = df[[f"obj.{o.metric}" for o in spec.objectives]].to_numpy(dtype=float)
    return to_minimization(raw, spec.directions)


def front_hypervolume(
    df: pd.DataFrame,
    spec: StudySpec,
    *,
    ideal: np.ndarray | None = None,
    nadir: np.ndarray | None = None,
    margin: float = 0.1,
) -> float:
    """Hypervolume of the feasible front after normalising ideal -> 0 and nadir -> 1.

    The reference point is ``1 + margin`` in every normalised objective. Without bounds, they are
    taken from the frame's own feasible points; pass the bounds of a true front (a sweep) to
    compare studies on one scale.
    """
    values = objective_matrix(df, spec)
    feasible = df["feasible"].to_numpy(dtype=bool)
    if ideal is None or nadir is None:
        ideal, nadir = normalization_bounds(values[feasible])
    pts = normalize(values[feasible & df["pareto"].to_numpy(dtype=bool)], ideal, nadir)
    return hypervolume(pts, np.full(values.shape[1], 1.0 + margin))


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    from dse.evaluate.failures import failure_reason
    from dse.evaluate.multifid import promoted_ppl
    from dse.evaluate.objective import trial_record

    record = trial_record(trial)
    metrics = dict(record.get("metrics") or {})
    ppl = promoted_ppl(trial)
    if ppl is not None:  # multi-fidelity: the promoted design's perplexity
        metrics["ppl"] = ppl
    params = dict(trial.params)
    for name in HARDWARE_PARAMS:  # solved (not sampled) hardware parameters
        if name not in params and name in (record.get("design") or {}):
            params[name] = record["design"][name]
    return TrialRecord(
        reason=failure_reason(trial) if trial.state.name == "FAIL" else "",
        trial=trial.number,
        state=trial.state.name,
        params=params,
        metrics={k: float(v) for k, v in metrics.items()},
        constraints=dict(trial.constraints or {}),
        promoted=ppl is not None,
    )


def listed_trials(trials: Iterable[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials the results frame lists: not those PRUNED as duplicates, and of COMPLETE trials
    that recorded the same design (two workers that both evaluated it, see
    :mod:`dse.evaluate.claims`)
    only the first, by trial number."""
    from dse.evaluate.failures import DUPLICATE_ATTR
    from dse.evaluate.objective import trial_record

    out = []
    designs: set[str] = set()
    for t in sorted(trials, key=lambda t: t.number):
        if DUPLICATE_ATTR in t.user_attrs:
            continue
        design = trial_record(t).get("design")
        if t.state.name == "COMPLETE" and design:
            key = json.dumps(design, sort_keys=True, default=str)
            if key in designs:
                continue
            designs.add(key)
        out.append(t)
    return out


def frame_from_study(study: optuna.Study, spec: StudySpec) -> pd.DataFrame:
    """The results frame of an Optuna study run by :mod:`dse.run.runner`: every trial of
    :func:`listed_trials`, so a design is listed once whatever the number of workers."""
    return build_frame(map(_record, listed_trials(study.get_trials(deepcopy=False))), spec)


def save_frame(df: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """Writes ``results.csv`` and ``results.parquet`` into ``out_dir`` (each atomically);
    returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv, parquet = out / RESULTS_CSV, out / RESULTS_PARQUET
    write_frame_atomic(df, csv)
    write_frame_atomic(df, parquet)
    return csv, parquet


def write_frame_atomic(df: pd.DataFrame, path: Path) -> None:
    """Writes a frame as CSV or Parquet (by suffix) atomically: never a half-written file."""
    from mant.atomic_write import write_bytes_atomic, write_text_atomic

    if path.suffix == ".parquet":
        write_bytes_atomic(path, df.to_parquet(None, index=False))
    else:
        write_text_atomic(path, df.to_csv(index=False))


def load_frame(out_dir: str | Path) -> pd.DataFrame:
    """Reads ``results.parquet`` (or ``results.csv``) back from an output folder."""
    out = Path(out_dir)
    if (out / RESULTS_PARQUET).exists():
        return pd.read_parquet(out / RESULTS_PARQUET)
    return pd.read_csv(out / RESULTS_CSV)
