"""The pure "info" step of the report: what each plot shows, computed from a results frame.

Nothing here draws; :mod:`dse.report.html` turns these values into plotly figures. Tests check
these.

Example:
    >>> import pandas as pd
    >>> staircase(pd.Series([1.0, 2.0, 3.0]).to_numpy(), pd.Series([3.0, 1.0, 2.0]).to_numpy())
    ([1.0, 2.0], [3.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.evaluate.pareto import hypervolume_history, normalization_bounds, normalize, pareto_mask
from dse.report.multifid import FidelityInfo, fidelity_info, perplexity_view
from dse.report.pick import (
    PickInfo,
    design_identity,
    design_of_row,
    distinct_designs,
    param_texts,
    pick_info,
)
from dse.report.units import format_value
from dse.results.frame import objective_matrix
from dse.study.space import IntRange

if TYPE_CHECKING:
    from dse.study.spec import StudySpec

__all__ = [
    "PointClass",
    "ContextInfo",
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
    "context_info",
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
    pe_type: tuple[str, ...] = ()
    hover: tuple[str, ...] = ()
    x_limits: tuple[float, ...] = ()
    y_limits: tuple[float, ...] = ()
    n_pareto_off_front: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Front3DInfo:
    names: tuple[str, str, str]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    trial: np.ndarray
    classes: tuple[PointClass, ...]
    pe_type: tuple[str, ...] = ()
    hover: tuple[str, ...] = ()


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
class ContextInfo:
    """What was studied, as label -> text lines (workload, accuracy source, objectives, ...)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportInfo:
    spec: StudySpec
    title: str
    counts: dict[str, int]
    context: ContextInfo
    pick: PickInfo
    projections: tuple[ProjectionInfo, ...]
    front3d: Front3DInfo | None
    parallel: ParallelInfo
    histories: tuple[HistoryInfo, ...]
    hypervolume: HypervolumeInfo
    table: pd.DataFrame
    fidelity: FidelityInfo | None = None
    """``accuracy.fidelity: multi``: promotions and the proxy-perplexity rank correlation."""
    pick_spec: StudySpec | None = None
    """The spec the pick was made with (multi-fidelity: perplexity in place of the proxy)."""


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


def pe_types(df: pd.DataFrame, spec: StudySpec) -> tuple[str, ...]:
    """The PE type of each row (the fixed one when ``pe_type`` is not searched)."""
    if "param.pe_type" in df:
        return tuple(str(v) for v in df["param.pe_type"])
    return (str(spec.space.fixed_values().get("pe_type", "")),) * len(df)


def hover_texts(df: pd.DataFrame, spec: StudySpec) -> tuple[str, ...]:
    """Per row: the design's parameters and its objective values in display units."""
    from dse.report.units import display_unit

    units = {m: display_unit(m, df[f"obj.{m}"]) for m in spec.metric_names}
    out = []
    cols = [f"param.{p.name}" for p in spec.space.searched]
    seen: dict[tuple[Any, ...], str] = {}  # one parameter text per distinct parameter set
    for r, pe in zip(df.to_dict("records"), pe_types(df, spec), strict=True):
        key = tuple(str(r[c]) for c in cols)
        if key not in seen:
            texts = param_texts(spec, r, design_of_row(spec, r))
            seen[key] = ", ".join(
                f"{n}={v}" for n, v in texts.items() if n != "pe_type" and v != "–"
            )
        params = seen[key]
        objs = "<br>".join(
            f"{m}: {format_value(m, r[f'obj.{m}'], units[m])}" for m in spec.metric_names
        )
        out.append(f"<b>{pe} PE</b> · trial {r['trial']}<br>{params}<br>{objs}")
    return tuple(out)


def _limits(spec: StudySpec, metric: str) -> tuple[float, ...]:
    return tuple(
        float(v)
        for c in spec.constraints
        if c.metric == metric
        for v in (c.max, c.min)
        if v is not None
    )


def projections(df: pd.DataFrame, spec: StudySpec) -> tuple[ProjectionInfo, ...]:
    """Every pair of objectives; the staircase is the feasible 2-D front (in metric units)."""
    done = _complete(df)
    names = spec.metric_names
    feas = done[done["feasible"]]
    hover, pes = hover_texts(done, spec), pe_types(done, spec)
    out = []
    for a, b in combinations(names, 2):
        mv = _minimised(feas, spec, [a, b])
        fx, fy = staircase(mv[:, 0], mv[:, 1]) if len(feas) else ([], [])
        sign = _minimised(pd.DataFrame({f"obj.{a}": [1.0], f"obj.{b}": [1.0]}), spec, [a, b])[0]
        on_2d = set(zip(fx, fy, strict=True))
        par = {(float(x), float(y)) for x, y in _minimised(done[done["pareto"]], spec, [a, b])}
        off = len(par - on_2d)  # distinct points, Pareto in every objective, off this 2-D front
        out.append(
            ProjectionInfo(
                pe_type=pes,
                hover=hover,
                x_limits=_limits(spec, a),
                y_limits=_limits(spec, b),
                n_pareto_off_front=off,
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
        pe_type=pe_types(done, spec),
        hover=hover_texts(done, spec),
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
    """One row per distinct feasible Pareto design (see :func:`dse.report.pick.distinct_designs`).

    Columns: ``trial`` (first), ``trials``, ``n_trials``, ``p.<param>`` (text, ``–`` where
    the PE ignores it), ``obj.<m>`` and every ``metric.<m>``; ordered by the first objective.
    """
    front = df[df["pareto"]]
    if front.empty:
        cols = ["trial", "trials", "n_trials", *(f"p.{p.name}" for p in spec.space.searched)]
        return pd.DataFrame(columns=cols + [f"obj.{m}" for m in spec.metric_names])
    return distinct_designs(front, spec)


def _workload_text(spec: StudySpec) -> str:
    w = spec.workload
    if w.gemms:
        gemms = ", ".join(
            f"{g.name} {g.m}x{g.k}x{g.n}" + (f" x{g.count}" if g.count > 1 else "")
            for g in w.gemms
        )
        return f"{len(w.gemms)} GEMMs (m x k x n): {gemms}"
    if w.phase == "serve":
        return (
            f"{_model_shown(w.model)}, serve: prompt {w.prompt_len}, generate {w.gen_len} tokens, "
            f"batch {w.batch}"
        )
    return f"{_model_shown(w.model)}, {w.phase}, sequence length {w.seq_len}, batch {w.batch}"


def _model_shown(model: Any) -> str:
    """A preset name as it is; a model file by its file name (a report is shared: the absolute
    path of the author's machine says nothing and tells where their files are)."""
    text = str(model)
    return f"{Path(text).name} (model file)" if ("/" in text or "\\" in text) else text


def _unmodelled_text(spec: StudySpec) -> str:
    """Keys of the workload's model file that change the compute and are not modelled."""
    if spec.workload.model is None:
        return ""
    from dse.study.model_source import load_model_config

    try:
        return "; ".join(load_model_config(spec.workload.model).unmodelled)
    except Exception:  # the file moved since the study ran: the report still renders
        return ""


def _accuracy_text(spec: StudySpec) -> str:
    text = _source_text(spec)
    p = spec.accuracy.promote
    if spec.accuracy.multi_fidelity and p is not None:
        model = p.model if p.model == "smollm2-135m" else Path(p.model).name
        cap = f", at most {p.max_promoted}" if p.max_promoted is not None else ""
        text += (
            f"; multi-fidelity: designs within {p.margin:g} of the proxy front promoted to "
            f"{model} perplexity ({p.windows} windows of {p.context} tokens{cap})"
        )
    return text


def _source_text(spec: StudySpec) -> str:
    a = spec.accuracy
    if a.source == "synthetic":
        return (
            f"synthetic tensors ({a.n_tensors} per kind, {a.tensor_rows} x {a.tensor_cols}, "
            f"seed {a.seed})"
        )
    if a.source == "perplexity":
        return f"perplexity of the real model ({a.ppl_windows} windows of 512 tokens)"
    if a.source == "files":
        named = f"{len(a.tensors)} named tensors" if a.tensors else "every tensor"
        cal = f", activations for {len(a.calibration)}" if a.calibration else ""
        return f"your files: {named} of {len(a.paths)} file(s){cal}" + _extras(a)
    weights = "of every projection kind" if a.by_kind else "of weights"
    if a.source == "tensors":  # name the stand-ins: they are not the studied model's tensors
        return (
            f"stand-in real tensors: {a.n_tensors} fp32 weight matrices {weights} of "
            f"all-MiniLM-L6-v2 (gate scored on its up projection), {a.n_tensors} K/V layers "
            "of SmolLM2-135M" + _extras(a)
        )
    return f"{a.source}: {a.n_tensors} real tensors {weights}, {a.n_tensors} K/V layers" + _extras(
        a
    )


def _accelerator_text(spec: StudySpec) -> str:
    """The accelerator each design starts from (dse.evaluate.hardware.HardwareModel._template)."""
    if spec.accelerator is not None:
        base = str(spec.accelerator)
        shown = f"{Path(base).name} (file)" if base.endswith((".yaml", ".yml")) else base
        return f"{shown}, its PE replaced by each design's pe_type; array and buffers per design"
    return (
        "the preset named by each design's pe_type (a PE file: the mant preset with that PE); "
        "array and buffers per design"
    )


def _extras(a: Any) -> str:
    parts = []
    if a.by_kind:
        parts.append("each tensor at its kind's format")
    if a.output_error:
        parts.append("output error on real activations")
    return f" ({'; '.join(parts)})" if parts else ""


def _constraint_text(c: Any) -> str:
    if c.max is not None:
        return f"{c.metric} ≤ {format_value(c.metric, c.max)}"
    return f"{c.metric} ≥ {format_value(c.metric, c.min)}"


def _choices_text(param: Any) -> str:
    """``{a, b, c}``, or ``16..128`` for an integer range (``16..128 step 16``, ``log``)."""
    if isinstance(param, IntRange):
        step = f" step {param.step}" if param.step != 1 else ""
        return f"{param.low}..{param.high}{step}" + (" (log)" if param.log else "")
    return "{" + ", ".join(map(str, param.values())) + "}"


def context_info(df: pd.DataFrame, spec: StudySpec) -> ContextInfo:
    """What was studied: workload, accuracy source, objectives, constraints, space, trials."""
    done = _complete(df)
    distinct = {design_identity(design_of_row(spec, r)) for r in done.to_dict("records")}
    front = distinct_designs(df[df["pareto"]], spec) if df["pareto"].any() else df.iloc[:0]
    searched = "; ".join(f"{p.name} ∈ {_choices_text(p)}" for p in spec.space.searched)
    objectives = ", ".join(f"{o.direction} {o.metric}" for o in spec.objectives)
    items = [
        ("workload", _workload_text(spec)),
        *([("not modelled", u)] if (u := _unmodelled_text(spec)) else []),
        ("base accelerator", _accelerator_text(spec)),
        ("accuracy", _accuracy_text(spec)),
        ("objectives", objectives),
        ("constraints", ", ".join(map(_constraint_text, spec.constraints)) or "none"),
        ("design space", f"{spec.space.size:,} designs: {searched or 'one design'}"),
        (
            "trials",
            f"{len(df)} run ({len(done)} complete, {int(df['feasible'].sum())} feasible, "
            f"sampler {spec.sampler.name}, seed {spec.seed})",
        ),
        (
            "distinct designs",
            f"{len(distinct)} evaluated, {len(front)} on the Pareto front "
            f"({int(df['pareto'].sum())} Pareto trials)",
        ),
    ]
    return ContextInfo(items=tuple(items))


def report_info(df: pd.DataFrame, spec: StudySpec, *, reference_pe: str = "int8") -> ReportInfo:
    """Everything the report shows."""
    states = df["state"].value_counts()
    counts = {
        "trials": len(df),
        "complete": int(states.get("COMPLETE", 0)),
        "failed": int(states.get("FAIL", 0)),
        "feasible": int(df["feasible"].sum()),
        "pareto": int(df["pareto"].sum()),
    }
    pick_df, pick_spec = perplexity_view(df, spec)  # multi-fidelity: promoted, on perplexity
    return ReportInfo(
        spec=spec,
        title=spec.name,
        counts=counts,
        context=context_info(df, spec),
        pick=pick_info(pick_df, pick_spec, reference_pe=reference_pe),
        fidelity=fidelity_info(df, spec),
        pick_spec=pick_spec,
        projections=projections(df, spec),
        front3d=front3d(df, spec),
        parallel=parallel(df, spec),
        histories=history(df, spec),
        hypervolume=hypervolume_over_trials(df, spec),
        table=pareto_table(df, spec),
    )
