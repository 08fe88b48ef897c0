"""The HTML report: a thin plotly rendering of :mod:`dse.report_info`.

The file is self-contained (plotly.js embedded once), so it opens offline.

Example:
    >>> # write_report(load_frame("runs/quickstart"), spec, "runs/quickstart/report.html")
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.metrics import METRICS
from dse.report_info import (
    Front3DInfo,
    HistoryInfo,
    HypervolumeInfo,
    ParallelInfo,
    ProjectionInfo,
    ReportInfo,
    report_info,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from dse.spec import StudySpec

__all__ = ["REPORT_CSS", "render_report", "table_html", "write_report"]

_COLORS = {"pareto": "#d62728", "feasible": "#1f77b4", "infeasible": "#b0b0b0"}


def _axis(name: str) -> str:
    info = METRICS.get(name)
    return f"{name} [{info.unit}]" if info and info.unit != "1" else name


def _log_axis(name: str) -> str:
    return "log" if name.endswith(("rel_mse", "latency_s", "energy_pj", "cycles")) else "linear"


def _axis_layout(name: str, values: Any) -> dict[str, Any]:
    """Plotly axis settings for a metric: its scale and, on a log axis, readable tick labels.

    Plotly labels the minor ticks of a log axis spanning a few decades with bare digits
    ("5 0.1 2 5 1 2 5"). A log axis whose data spans a decade or more is therefore labelled
    at the decades only, its minor ticks and grid lines kept unlabelled; a narrower one gets a
    few labels. Numbers are written as powers of ten rather than with SI letters (plotly's "B"
    for 1e9 reads as bytes).
    """
    layout: dict[str, Any] = {"type": _log_axis(name)}
    if layout["type"] != "log":
        return layout
    layout |= {"exponentformat": "power", "minor": {"ticks": "outside", "showgrid": True}}
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and np.log10(v.max() / v.min()) >= 1:
        layout["dtick"] = 1  # one label per decade (log10 units)
    else:
        layout["nticks"] = 4  # within a decade: a few labels, as on a linear axis
    return layout


def _class_traces(
    fig: go.Figure, classes: tuple[str, ...], order: tuple[str, ...], trace: Any
) -> None:
    """Adds one trace per point class in ``order``: ``trace(cls, sel)`` with the row indices."""
    for cls in order:
        sel = [i for i, c in enumerate(classes) if c == cls]
        if sel:
            fig.add_trace(trace(cls, sel))


def _projection(p: ProjectionInfo) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    _class_traces(
        fig,
        p.classes,
        ("infeasible", "feasible", "pareto"),
        lambda cls, sel: go.Scatter(
            x=p.x[sel],
            y=p.y[sel],
            mode="markers",
            name=cls,
            marker={"color": _COLORS[cls], "size": 7 if cls == "pareto" else 5},
            text=[f"trial {t}" for t in p.trial[sel]],
        ),
    )
    if p.front_x:
        fig.add_trace(
            go.Scatter(
                x=p.front_x,
                y=p.front_y,
                mode="lines",
                name="2-D front",
                line={"shape": "hv", "color": "#2ca02c"},
            )
        )
    fig.update_layout(
        title=f"{p.y_name} vs {p.x_name}",
        height=420,
        margin={"t": 50},
        xaxis={"title": _axis(p.x_name), **_axis_layout(p.x_name, p.x)},
        yaxis={"title": _axis(p.y_name), **_axis_layout(p.y_name, p.y)},
    )
    return fig


def _front3d(f: Front3DInfo) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    _class_traces(
        fig,
        f.classes,
        ("feasible", "pareto", "infeasible"),
        lambda cls, sel: go.Scatter3d(
            x=f.x[sel],
            y=f.y[sel],
            z=f.z[sel],
            mode="markers",
            name=cls,
            marker={"color": _COLORS[cls], "size": 4},
            text=[f"trial {t}" for t in f.trial[sel]],
        ),
    )
    fig.update_layout(
        title="Objectives in 3-D",
        height=560,
        margin={"t": 50},
        scene={
            "xaxis_title": _axis(f.names[0]),
            "yaxis_title": _axis(f.names[1]),
            "zaxis_title": _axis(f.names[2]),
        },
    )
    return fig


def _parallel(p: ParallelInfo) -> go.Figure:
    import plotly.graph_objects as go

    dims = []
    for label, values, ticks in zip(p.labels, p.values, p.tick_text, strict=True):
        dim = {"label": label, "values": values}
        if ticks is not None:
            dim |= {"tickvals": list(range(len(ticks))), "ticktext": list(ticks)}
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
        height=460,
        margin={"t": 80, "l": 80, "r": 80},
    )
    return fig


def _history(histories: tuple[HistoryInfo, ...], hv: HypervolumeInfo) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(histories) + 1
    fig = make_subplots(
        rows=n,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[h.name for h in histories] + ["hypervolume (normalised)"],
    )
    for i, h in enumerate(histories, start=1):
        fig.add_trace(
            go.Scatter(
                x=h.trial,
                y=h.value,
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
                y=h.best,
                mode="lines",
                name=f"best {h.name}",
                line={"color": "#d62728"},
                showlegend=False,
            ),
            row=i,
            col=1,
        )
        fig.update_yaxes(**_axis_layout(h.name, h.value), row=i, col=1)
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
    """The report as one self-contained HTML string (plotly.js embedded)."""
    from plotly.offline import get_plotlyjs

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

    counts = " ".join(f"<span><b>{html.escape(k)}</b>: {v}</span>" for k, v in info.counts.items())
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(info.title)} - mant-dse report</title>",
        f"<style>{REPORT_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(info.title)}</h1><p class='counts'>{counts}</p>",
        "<h2>Pareto projections</h2><div class='grid'>",
        *(div(_projection(p), width_px=560) for p in info.projections),
        "</div>",
    ]
    if info.front3d is not None:
        parts += ["<h2>3-D front</h2>", div(_front3d(info.front3d))]
    parts += [
        "<h2>Parameters and objectives</h2>",
        div(_parallel(info.parallel)),
        "<h2>History</h2>",
        div(_history(info.histories, info.hypervolume)),
        f"<h2>Pareto designs ({len(info.table)})</h2>",
        table_html(info.table),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(df: pd.DataFrame, spec: StudySpec, path: str | Path) -> Path:
    """Writes the report for a results frame; returns its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_report(report_info(df, spec)), encoding="utf-8")
    return p
