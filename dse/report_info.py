"""The pure "info" step of the report: what each plot shows, computed from a results frame.

Nothing here draws; :mod:`dse.report` turns these values into plotly figures. Tests check these.

Example:
    >>> import pandas as pd
    >>> staircase(pd.Series([1.0, 2.0, 3.0]).to_numpy(), pd.Series([3.0, 1.0, 2.0]).to_numpy())
    ([1.0, 2.0], [3.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dse.pareto import hypervolume_history, normalization_bounds, normalize, pareto_mask
from dse.results import objective_matrix

if TYPE_CHECKING:
    from dse.spec import StudySpec

__all__ = [
    "PointClass",
    "ProjectionInfo",
    "Front3DInfo",
    "ParallelInfo",
    "HistoryInfo",
    "HypervolumeInfo",
    "ReportInfo",
    "point_classes",
    "staircase",
    "projections",
    "front3d",
    "parallel",
    "history",
    "hypervolume_over_trials",
    "pareto_table",
    "report_info",
]

PointClass = str  # "pareto" | "feasible" | "infeasible"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionInfo:
    """One 2-D projection: every complete point, its class, and the 2-D front (staircase)."""

    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    trial: np.ndarray
    classes: tuple[PointClass, ...]
    front_x: list[float]
    front_y: list[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class Front3DInfo:
    names: tuple[str, str, str]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    trial: np.ndarray
    classes: tuple[PointClass, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelInfo:
    """Parallel coordinates: one dimension per searched parameter and objective."""

    labels: tuple[str, ...]
    values: tuple[np.ndarray, ...]
    tick_text: tuple[tuple[str, ...] | None, ...]
    on_front: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryInfo:
    """One objective over trial numbers, with the running best (feasible only)."""

    name: str
    trial: np.ndarray
    value: np.ndarray
    best: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class HypervolumeInfo:
    """Normalised hypervolume (reference 1.1 after ideal -> 0, nadir -> 1) after each trial."""

    trial: np.ndarray
    hypervolume: np.ndarray


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInfo:
    title: str
    counts: dict[str, int]
    projections: tuple[ProjectionInfo, ...]
    front3d: Front3DInfo | None
    parallel: ParallelInfo
    histories: tuple[HistoryInfo, ...]
    hypervolume: HypervolumeInfo
    table: pd.DataFrame


def _complete(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["state"] == "COMPLETE"]


def point_classes(df: pd.DataFrame) -> tuple[PointClass, ...]:
    """``pareto``, ``feasible`` or ``infeasible`` per row."""
    return tuple(
        "pareto" if p else ("feasible" if f else "infeasible")
        for p, f in zip(df["pareto"], df["feasible"], strict=True)
    )


def staircase(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """The 2-D non-dominated points of (x, y), both minimised, sorted by x."""
    pts = np.column_stack([x, y]).astype(float)
    mask = pareto_mask(pts)
    front = pts[mask]
    front = front[np.lexsort((front[:, 1], front[:, 0]))]
    return front[:, 0].tolist(), front[:, 1].tolist()


def _minimised(df: pd.DataFrame, spec: StudySpec, names: list[str]) -> np.ndarray:
    sign = {o.metric: (-1.0 if o.direction == "maximize" else 1.0) for o in spec.objectives}
    return np.column_stack([df[f"obj.{n}"].to_numpy(float) * sign[n] for n in names])


def projections(df: pd.DataFrame, spec: StudySpec) -> tuple[ProjectionInfo, ...]:
    """Every pair of objectives; the staircase is the feasible 2-D front (in plot units)."""
    done = _complete(df)
    names = spec.metric_names
    feas = done[done["feasible"]]
    out = []
    for a, b in combinations(names, 2):
        mv = _minimised(feas, spec, [a, b])
        fx, fy = staircase(mv[:, 0], mv[:, 1]) if len(feas) else ([], [])
        sign = _minimised(pd.DataFrame({f"obj.{a}": [1.0], f"obj.{b}": [1.0]}), spec, [a, b])[0]
        out.append(
            ProjectionInfo(
                x_name=a,
                y_name=b,
                x=done[f"obj.{a}"].to_numpy(float),
                y=done[f"obj.{b}"].to_numpy(float),
                trial=done["trial"].to_numpy(),
                classes=point_classes(done),
                front_x=[v * sign[0] for v in fx],
                front_y=[v * sign[1] for v in fy],
            )
        )
    return tuple(out)


def front3d(df: pd.DataFrame, spec: StudySpec) -> Front3DInfo | None:
    """The first three objectives in 3-D, or None with fewer than three objectives."""
    names = spec.metric_names
    if len(names) < 3:
        return None
    done = _complete(df)
    a, b, c = names[:3]
    return Front3DInfo(
        names=(a, b, c),
        x=done[f"obj.{a}"].to_numpy(float),
        y=done[f"obj.{b}"].to_numpy(float),
        z=done[f"obj.{c}"].to_numpy(float),
        trial=done["trial"].to_numpy(),
        classes=point_classes(done),
    )


def parallel(df: pd.DataFrame, spec: StudySpec) -> ParallelInfo:
    """Searched parameters (categorical ones as codes with tick labels) then objectives."""
    done = _complete(df)
    labels: list[str] = []
    values: list[np.ndarray] = []
    ticks: list[tuple[str, ...] | None] = []
    for p in spec.space.searched:
        col = done[f"param.{p.name}"]
        labels.append(p.name)
        if pd.api.types.is_numeric_dtype(col):
            values.append(col.to_numpy(float))
            ticks.append(None)
        else:
            # non-numeric columns come from Categorical params (IntRange columns are ints)
            cats = [str(c) for c in p.choices]  # type: ignore[union-attr]
            # a parameter the design ignores (not sampled for it) is NaN
            values.append(
                np.array([cats.index(str(v)) if str(v) in cats else np.nan for v in col], float)
            )
            ticks.append(tuple(cats))
    for o in spec.objectives:
        labels.append(o.metric)
        values.append(done[f"obj.{o.metric}"].to_numpy(float))
        ticks.append(None)
    return ParallelInfo(
        labels=tuple(labels),
        values=tuple(values),
        tick_text=tuple(ticks),
        on_front=done["pareto"].to_numpy(bool),
    )


def history(df: pd.DataFrame, spec: StudySpec) -> tuple[HistoryInfo, ...]:
    """Each objective by trial number with its running best over feasible trials."""
    done = _complete(df).sort_values("trial")
    out = []
    for o in spec.objectives:
        v = done[f"obj.{o.metric}"].to_numpy(float)
        masked = np.where(done["feasible"].to_numpy(bool), v, np.nan)
        signed = -masked if o.direction == "maximize" else masked
        signed = np.where(np.isnan(signed), np.inf, signed)
        best = np.minimum.accumulate(signed) if len(signed) else signed
        best = np.where(np.isinf(best), np.nan, best)
        out.append(
            HistoryInfo(
                name=o.metric,
                trial=done["trial"].to_numpy(),
                value=v,
                best=-best if o.direction == "maximize" else best,
            )
        )
    return tuple(out)


def hypervolume_over_trials(df: pd.DataFrame, spec: StudySpec) -> HypervolumeInfo:
    """Normalised feasible hypervolume after each complete trial."""
    done = _complete(df).sort_values("trial")
    values = objective_matrix(done, spec)
    feasible = done["feasible"].to_numpy(bool)
    if not feasible.any():
        return HypervolumeInfo(trial=done["trial"].to_numpy(), hypervolume=np.zeros(len(done)))
    ideal, nadir = normalization_bounds(values[feasible])
    hv = hypervolume_history(
        normalize(values, ideal, nadir), feasible, np.full(values.shape[1], 1.1)
    )
    return HypervolumeInfo(trial=done["trial"].to_numpy(), hypervolume=hv)


def pareto_table(df: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """The feasible Pareto designs: trial, searched parameters, objectives (by first objective)."""
    cols = ["trial", *(f"param.{p.name}" for p in spec.space.searched)]
    cols += [f"obj.{m}" for m in spec.metric_names]
    front = df[df["pareto"]][cols]
    return front.sort_values(cols[-len(spec.objectives)], kind="stable").reset_index(drop=True)


def report_info(df: pd.DataFrame, spec: StudySpec) -> ReportInfo:
    """Everything the report shows."""
    states = df["state"].value_counts()
    counts = {
        "trials": len(df),
        "complete": int(states.get("COMPLETE", 0)),
        "failed": int(states.get("FAIL", 0)),
        "feasible": int(df["feasible"].sum()),
        "pareto": int(df["pareto"].sum()),
    }
    return ReportInfo(
        title=spec.name,
        counts=counts,
        projections=projections(df, spec),
        front3d=front3d(df, spec),
        parallel=parallel(df, spec),
        histories=history(df, spec),
        hypervolume=hypervolume_over_trials(df, spec),
        table=pareto_table(df, spec),
    )
