"""The HTML report: a thin plotly rendering of :mod:`dse.report.info` and :mod:`dse.report.pick`.

The file is self-contained (plotly.js and the table script embedded once), so it opens offline.
It leads with the answer: ``#context`` (what was studied), ``#pick`` (knee, best per objective
and per PE type against a reference, drill-down), then the plots (coloured by PE type, in
display units from :mod:`dse.report.units`) and ``#designs`` (distinct Pareto designs).

Example:
    >>> # write_report(load_frame("runs/quickstart"), spec, "runs/quickstart/report.html")
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.report.info import (
    Front3DInfo,
    HistoryInfo,
    HypervolumeInfo,
    ParallelInfo,
    ProjectionInfo,
    ReportInfo,
    report_info,
)
from dse.report.units import PE_COLORS, DisplayUnit, display_unit, metric_label, pe_color
from dse.study.metrics import METRICS
from mant.atomic_write import write_text_atomic

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from dse.study.spec import StudySpec

__all__ = ["PE_COLORS", "REPORT_CSS", "pe_color", "render_report", "table_html", "write_report"]

_INFEASIBLE = "#c7c7c7"
_COLORS = {"pareto": "#d62728", "feasible": "#1f77b4", "infeasible": "#b0b0b0"}


def _unit(name: str, values: Any) -> DisplayUnit:
    return display_unit(name, values)


def _axis(name: str, unit: DisplayUnit | None = None) -> str:
    if unit is not None:
        return metric_label(name, unit)
    info = METRICS.get(name)
    return f"{name} [{info.unit}]" if info and info.unit != "1" else name


def _log_axis(name: str) -> str:
    return "log" if name.endswith(("rel_mse", "latency_s", "energy_pj", "cycles")) else "linear"


def _axis_layout(name: str, values: Any) -> dict[str, Any]:
    """Plotly axis settings for a metric (values already in display units).

    No SI-letter ticks ("800B", "15M"): every axis writes large or small numbers as powers of
    ten. Plotly labels the minor ticks of a log axis spanning a few decades with bare digits
    ("5 0.1 2 5 1 2 5"), so a log axis whose data spans a decade or more is labelled at the
    decades only; a narrower one gets a few labels.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    # plain numbers (100, 1000) when the display unit keeps them short; else powers of ten
    plain = bool(v.size) and v.min() >= 1e-3 and v.max() < 1e5
    layout: dict[str, Any] = {
        "type": _log_axis(name),
        "exponentformat": "none" if plain else "power",
    }
    if layout["type"] != "log":
        return layout
    layout["minor"] = {"ticks": "outside", "showgrid": True}
    if v.size and np.log10(v.max() / v.min()) >= 1:
        layout["dtick"] = 1  # one label per decade (log10 units)
    else:
        layout["nticks"] = 4  # within a decade: a few labels, as on a linear axis
    return layout


def _pe_traces(
    fig: go.Figure,
    classes: tuple[str, ...],
    pes: tuple[str, ...],
    make: Any,
) -> None:
    """Infeasible points in grey, then one trace per PE type (Pareto points outlined)."""
    cls = np.asarray(classes)
    pe = np.asarray(pes)
    sel = np.flatnonzero(cls == "infeasible")
    if sel.size:
        fig.add_trace(make("infeasible", sel, _INFEASIBLE, np.zeros(sel.size, bool)))
    for name in dict.fromkeys(pes):
        sel = np.flatnonzero((pe == name) & (cls != "infeasible"))
        if sel.size:
            fig.add_trace(make(f"{name} PE", sel, pe_color(name), cls[sel] == "pareto"))


def _limit_shapes(fig: go.Figure, metric: str, limits: tuple[float, ...], axis: str) -> None:
    """Dashed constraint lines (limits in display units) on the x or y axis."""
    for v in limits:
        line = {"color": "#444", "dash": "dash", "width": 1.5}
        text = f"{metric_label(metric)} limit"
        if axis == "x":
            fig.add_vline(x=v, line=line, annotation_text=text, annotation_position="top left")
        else:
            fig.add_hline(y=v, line=line, annotation_text=text, annotation_position="top right")


def _projection(p: ProjectionInfo) -> go.Figure:
    import plotly.graph_objects as go

    ux, uy = _unit(p.x_name, p.x), _unit(p.y_name, p.y)
    x, y = ux.scale(p.x), uy.scale(p.y)
    hover = np.asarray(p.hover or [f"trial {t}" for t in p.trial], dtype=object)
    fig = go.Figure()
    _pe_traces(
        fig,
        p.classes,
        p.pe_type or ("design",) * len(p.classes),
        lambda name, sel, color, pareto: go.Scatter(
            x=x[sel],
            y=y[sel],
            mode="markers",
            name=name,
            marker={
                "color": color,
                "size": np.where(pareto, 9, 5),
                "opacity": np.where(pareto, 1.0, 0.45),
                "line": {"color": "#111", "width": np.where(pareto, 1.2, 0)},
                "symbol": "x" if name == "infeasible" else "circle",
            },
            text=hover[sel],
            hovertemplate="%{text}<extra></extra>",
        ),
    )
    if p.front_x:
        fig.add_trace(
            go.Scatter(
                x=ux.scale(p.front_x),
                y=uy.scale(p.front_y),
                mode="lines",
                name="2-D front",
                line={"shape": "hv", "color": "#222", "width": 1},
                hoverinfo="skip",
            )
        )
    _limit_shapes(fig, p.x_name, tuple(ux.scale_one(v) for v in p.x_limits), "x")
    _limit_shapes(fig, p.y_name, tuple(uy.scale_one(v) for v in p.y_limits), "y")
    fig.update_layout(
        title=f"{metric_label(p.y_name)} vs {metric_label(p.x_name)}",
        height=440,
        margin={"t": 50, "r": 10},
        legend={"itemsizing": "constant"},
        xaxis={"title": _axis(p.x_name, ux), **_axis_layout(p.x_name, x)},
        yaxis={"title": _axis(p.y_name, uy), **_axis_layout(p.y_name, y)},
    )
    return fig


def _front3d(f: Front3DInfo) -> go.Figure:
    import plotly.graph_objects as go

    units = [_unit(n, v) for n, v in zip(f.names, (f.x, f.y, f.z), strict=True)]
    x, y, z = (u.scale(v) for u, v in zip(units, (f.x, f.y, f.z), strict=True))
    hover = np.asarray(f.hover or [f"trial {t}" for t in f.trial], dtype=object)
    fig = go.Figure()
    _pe_traces(
        fig,
        f.classes,
        f.pe_type or ("design",) * len(f.classes),
        lambda name, sel, color, pareto: go.Scatter3d(
            x=x[sel],
            y=y[sel],
            z=z[sel],
            mode="markers",
            name=name,
            marker={"color": color, "size": np.where(pareto, 5, 2.5)},
            text=hover[sel],
            hovertemplate="%{text}<extra></extra>",
        ),
    )
    fig.update_layout(
        title="Objectives in 3-D (large points: Pareto designs)",
        height=560,
        margin={"t": 50},
        scene={
            "xaxis": {"title": _axis(f.names[0], units[0]), "exponentformat": "power"},
            "yaxis": {"title": _axis(f.names[1], units[1]), "exponentformat": "power"},
            "zaxis": {"title": _axis(f.names[2], units[2]), "exponentformat": "power"},
        },
    )
    return fig


def _parallel(p: ParallelInfo) -> go.Figure:
    import plotly.graph_objects as go

    dims = []
    for label, values, ticks in zip(p.labels, p.values, p.tick_text, strict=True):
        dim: dict[str, Any] = {"label": label, "values": values}
        if label in METRICS and ticks is None:  # an objective: display unit, no SI letters
            unit = _unit(label, values)
            dim = {"label": _axis(label, unit), "values": unit.scale(values), "tickformat": ".3~r"}
        if ticks is not None:
            dim |= {"tickvals": list(range(len(ticks))), "ticktext": list(ticks)}
        elif label not in METRICS:  # an integer parameter: ticks at the values present only
            present = np.unique(np.asarray(values, dtype=float))
            present = present[np.isfinite(present)]
            if 0 < len(present) <= 24 and np.all(present == np.round(present)):
                dim |= {
                    "tickvals": present.tolist(),
                    "ticktext": [str(int(v)) for v in present],
                }
        dims.append(dim)
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": p.on_front.astype(float),
                "cmin": 0,
                "cmax": 1,
                "colorscale": [[0, "#9ecae1"], [1, "#d62728"]],
            },
            dimensions=dims,
        )
    )
    fig.update_layout(
        title="Parallel coordinates (red: Pareto designs)",
        height=500,
        margin={"t": 80, "l": 80, "r": 80, "b": 70},  # the last axis' labels clear the heading
    )
    return fig


def _history(histories: tuple[HistoryInfo, ...], hv: HypervolumeInfo) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(histories) + 1
    units = [_unit(h.name, h.value) for h in histories]
    fig = make_subplots(
        rows=n,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[_axis(h.name, u) for h, u in zip(histories, units, strict=True)]
        + ["hypervolume (normalised)"],
    )
    for i, (h, u) in enumerate(zip(histories, units, strict=True), start=1):
        fig.add_trace(
            go.Scatter(
                x=h.trial,
                y=u.scale(h.value),
                mode="markers",
                name=h.name,
                marker={"size": 4, "color": "#1f77b4"},
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=h.trial,
                y=u.scale(h.best),
                mode="lines",
                name=f"best {h.name}",
                line={"color": "#d62728"},
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(**_axis_layout(h.name, u.scale(h.value)), row=i, col=1)
    fig.add_trace(
        go.Scatter(
            x=hv.trial,
            y=hv.hypervolume,
            mode="lines",
            name="hypervolume",
            line={"color": "#2ca02c"},
            showlegend=False,
        ),
        row=n,
        col=1,
    )
    fig.update_xaxes(title_text="trial", row=n, col=1)
    fig.update_layout(
        title="Objectives and hypervolume over trials", height=220 * n, margin={"t": 70}
    )
    return fig


def table_html(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p>No feasible design yet.</p>"
    return table.to_html(
        index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="pareto"
    )


REPORT_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{margin-bottom:4px} .counts span{margin-right:18px}
table.pareto{border-collapse:collapse;font-size:13px} table.pareto td,table.pareto th{
padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
.grid{display:flex;flex-wrap:wrap;gap:8px}
"""


def render_report(info: ReportInfo) -> str:
    """The report as one self-contained HTML string (plotly.js and the table script embedded).

    Sections, in order: ``context`` (what was studied), ``pick`` (the knee, the best design per
    objective and per PE type against a reference, and their drill-down), ``fidelity``
    (multi-fidelity studies: promotions, Spearman's rho, proxy vs perplexity), the Pareto plots,
    and ``designs`` (one row per distinct Pareto design, sortable and filterable).
    """
    from plotly.offline import get_plotlyjs

    from dse.report.pick import drilldown
    from dse.report.sections import (
        CSS,
        TABLE_JS,
        context_html,
        designs_html,
        drill_figure,
        fidelity_figure,
        fidelity_html,
        pick_bars,
        pick_table_html,
    )

    spec = info.spec

    def div(fig: go.Figure, width_px: int | None = None) -> str:
        responsive = width_px is None
        fig.update_layout(autosize=responsive, width=width_px)
        html_div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"responsive": responsive},
            default_width="100%" if responsive else f"{width_px}px",
        )
        return f"<div>{html_div}</div>"

    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(info.title)} - mant-dse report</title>",
        f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script>",
        f"<script>{TABLE_JS}</script></head><body>",
        f"<h1>{html.escape(info.title)}</h1>",
        context_html(info.context),
        "<section id='pick'><h2>Which design to pick</h2>",
    ]
    pick = info.pick
    if not pick.picks:
        parts.append("<p>No feasible design yet: nothing to pick.</p></section>")
    else:
        ref = pick.reference
        parts += [
            f"<p class='note'><b>Knee</b>: {html.escape(pick.knee_rule)} "
            + (
                f"<b>Reference</b>: the best {html.escape(ref.pe_type)} PE design (trial "
                f"{ref.trial}, {html.escape(ref.label)}); ratios are "
                "reference / pick for latency (speedup), energy, area and the accuracy error, so "
                "above 1× is better than the reference.</p>"
                if ref is not None
                else "</p>"
            ),
            pick_table_html(pick, info.pick_spec or spec),
            div(pick_bars(pick)),
            "<h3>Drill-down: where the energy and the time go</h3>"
            "<p class='note'>Each pick re-evaluated from its recorded parameters with the "
            "hardware model.</p>",
            div(drill_figure([drilldown(spec, r) for r in pick.picks])),
        ]
        parts.append("</section>")
    if info.fidelity is not None:
        parts += [
            "<section id='fidelity'>",
            fidelity_html(info.fidelity),
            div(fidelity_figure(info.fidelity), width_px=560) if info.fidelity.n_promoted else "",
            "</section>",
        ]
    parts.append("<section id='plots'><h2>Pareto projections</h2><div class='grid'>")
    names = spec.metric_names
    n_obj = len(names)
    for p in info.projections:
        caption = ""
        if p.n_pareto_off_front and n_obj > 2:
            caption = (
                f"<p class='caption'>{p.n_pareto_off_front} outlined Pareto points lie above the "
                f"black 2-D front: they are Pareto-optimal in all {n_obj} objectives "
                f"({', '.join(names)}) and win on an objective not shown here.</p>"
            )
        parts.append(f"<div>{div(_projection(p), width_px=560)}{caption}</div>")
    parts.append(
        "</div><p class='note'>Colour: PE type. Outlined large points: Pareto designs (all "
        "objectives); faded points: feasible but dominated; grey crosses: infeasible. Dashed "
        "lines: constraints. Hover a point for its design.</p></section>"
    )
    if info.front3d is not None:
        parts += ["<h2>3-D front</h2>", div(_front3d(info.front3d))]
    parts += [
        "<h2>Parameters and objectives</h2>",
        div(_parallel(info.parallel)),
        "<h2>History</h2>",
        div(_history(info.histories, info.hypervolume)),
        designs_html(info.table, spec),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(
    df: pd.DataFrame, spec: StudySpec, path: str | Path, *, reference_pe: str = "int8"
) -> Path:
    """Writes the report for a results frame (atomically); returns its path.

    ``reference_pe``: the PE type whose best design the picks are compared with (falls back to
    the first PE type of the space with a feasible design).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(p, render_report(report_info(df, spec, reference_pe=reference_pe)))
    return p
