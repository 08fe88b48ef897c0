"""HTML of the report's answer sections: ``context``, ``pick``, ``fidelity`` and ``designs``.

Thin rendering of :mod:`dse.report.info` / :mod:`dse.report.pick` values. The designs table is
sorted and filtered by a few lines of embedded vanilla JavaScript (no CDN: works offline).

Example:
    >>> from dse.report.info import ContextInfo
    >>> "id='context'" in context_html(ContextInfo(items=(("workload", "GEMM"),)))
    True
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.report.pick import COMPARED_METRICS, PickInfo, PickRow
from dse.report.units import display_unit, format_value, metric_label, ratio_text

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from dse.report.info import ContextInfo
    from dse.report.multifid import FidelityInfo
    from dse.report.pick import DrillDown
    from dse.study.spec import StudySpec

__all__ = [
    "CSS",
    "TABLE_JS",
    "context_html",
    "pick_table_html",
    "pick_bars",
    "drill_figure",
    "designs_html",
    "fidelity_html",
    "fidelity_figure",
]

CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{margin-bottom:4px} section{margin:18px 0 30px} .note{color:#555;font-size:13px;max-width:1100px}
dl.context{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.context dt{font-weight:600} dl.context dd{margin:0}
.scroll{max-width:100%;overflow-x:auto;border:1px solid #e3e3e3}
table.data{border-collapse:collapse;font-size:13px;width:100%}
table.data td,table.data th{padding:3px 7px;border-bottom:1px solid #e6e6e6;text-align:right;
vertical-align:top} table.data th{background:#f5f5f5;position:sticky;top:0;cursor:pointer;
white-space:normal} table.data td.t,table.data th.t{text-align:left}
table.data td.p{white-space:nowrap}
table.data td.trials{max-width:160px;white-space:normal;word-break:break-word;color:#666}
table.data th.sorted-asc::after{content:" ▲"} table.data th.sorted-desc::after{content:" ▼"}
.pe{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:5px}
.grid{display:flex;flex-wrap:wrap;gap:8px} .caption{font-size:13px;color:#555;max-width:560px;
margin:0 0 8px 8px} input.filter{font-size:14px;padding:4px 8px;width:340px;margin:6px 0}
.better{color:#1a7f37} .worse{color:#b42318}
"""

# Click a header to sort (numbers by data-v); type in the box to filter rows (all words match).
TABLE_JS = """
function mdseSort(th){const t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex;
const asc=!th.classList.contains('sorted-asc');t.querySelectorAll('th').forEach(h=>
h.classList.remove('sorted-asc','sorted-desc'));th.classList.add(asc?'sorted-asc':'sorted-desc');
const key=r=>{const c=r.cells[i],v=c.dataset.v;return v===undefined?c.textContent:parseFloat(v)};
const rows=Array.from(b.rows).sort((a,c)=>{const x=key(a),y=key(c);
const o=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
return asc?o:-o});rows.forEach(r=>b.appendChild(r))}
function mdseFilter(inp){const t=document.getElementById(inp.dataset.table);
const words=inp.value.toLowerCase().split(/\\s+/).filter(w=>w);let n=0;
Array.from(t.tBodies[0].rows).forEach(r=>{const s=r.textContent.toLowerCase();
const ok=words.every(w=>s.includes(w));r.style.display=ok?'':'none';n+=ok});
document.getElementById(inp.dataset.table+'-count').textContent=n}
"""


def _swatch(pe: str) -> str:
    from dse.report.units import pe_color

    return f"<span class='pe' style='background:{pe_color(pe)}'></span>"


def context_html(info: ContextInfo) -> str:
    """The ``context`` section: what was studied."""
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in info.items)
    return (
        f"<section id='context'><h2>What was studied</h2><dl class='context'>{rows}</dl></section>"
    )


def _params_text(row: PickRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in row.params.items() if k != "pe_type" and v != "–")


def _ratio_cell(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "<td>–</td>"
    cls = "better" if v > 1.005 else ("worse" if v < 0.995 else "")
    return f"<td class='{cls}' data-v='{v:.6g}'>{ratio_text(v)}×</td>"


def pick_table_html(pick: PickInfo, spec: StudySpec) -> str:
    """The chosen designs with their objectives and their ratios to the reference."""
    on_list = pick.reference is not None and any(
        r.trial == pick.reference.trial for r in pick.picks
    )
    rows = [*pick.picks, *((pick.reference,) if pick.reference and not on_list else ())]
    metrics = list(dict.fromkeys([*spec.metric_names, *COMPARED_METRICS]))
    units = {m: display_unit(m, [r.values.get(m, np.nan) for r in rows]) for m in metrics}
    ratios = list(dict.fromkeys(k for r in rows for k in r.vs_reference))
    head = "".join(
        [
            "<th class='t'>pick</th><th class='t'>PE</th><th class='t'>design</th><th>trial</th>",
            *(f"<th>{html.escape(metric_label(m, units[m]))}</th>" for m in metrics),
            *(f"<th>{html.escape(k)} ×</th>" for k in ratios),
        ]
    )
    body = []
    for r in rows:
        cells = [
            f"<td class='t'><b>{html.escape(r.label)}</b></td>",
            f"<td class='t'>{_swatch(r.pe_type)}{html.escape(r.pe_type)}</td>",
            f"<td class='t'>{html.escape(_params_text(r))}</td>",
            f"<td>{r.trial}</td>",
            *(
                f"<td>{html.escape(format_value(m, r.values.get(m, np.nan), units[m]))}</td>"
                for m in metrics
            ),
            *(_ratio_cell(r.vs_reference.get(k)) for k in ratios),
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<div class='scroll'><table class='data pick'><thead><tr>"
        + head
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div>"
    )


def pick_bars(pick: PickInfo) -> go.Figure:
    """Paper-style normalised bars: each pick's ratio to the reference (> 1 is better)."""
    import plotly.graph_objects as go

    ratios = list(dict.fromkeys(k for r in pick.picks for k in r.vs_reference))
    labels = ["<br>".join([*r.roles, f"<i>{r.pe_type} · trial {r.trial}</i>"]) for r in pick.picks]
    fig = go.Figure()
    palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756"]
    for j, k in enumerate(ratios):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[r.vs_reference.get(k, np.nan) for r in pick.picks],
                name=f"{k} ×",
                marker={"color": palette[j % len(palette)]},
                text=[f"{ratio_text(r.vs_reference.get(k, np.nan))}×" for r in pick.picks],
                textposition="outside",
            )
        )
    fig.add_hline(y=1.0, line={"color": "#222", "dash": "dot"})
    ref = pick.reference
    title = "Each pick against the reference"
    if ref is not None:
        title += f": the best {ref.pe_type} PE design, trial {ref.trial} (= 1×; higher is better)"
    fig.update_layout(
        title=title,
        barmode="group",
        height=470,
        margin={"t": 60, "b": 110},
        xaxis={"tickangle": 0},
        yaxis={"title": "× reference (reference / pick)", "rangemode": "tozero"},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"},
    )
    return fig


# distinct colours for the drill-down categories (energy components and layers together):
# plotly's Dark24 then Light24 qualitative sets
DRILL_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
    "#FD3216", "#00FE35", "#6A76FC", "#FED4C4", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616",
)  # fmt: skip


def drill_figure(drills: list[DrillDown]) -> go.Figure:
    """Energy by component and time by layer of each pick (stacked bars, display units)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    labels = [d.label for d in drills]
    eu = display_unit("energy_pj", [sum(d.energy_by_component_pj.values()) for d in drills])
    tu = display_unit("latency_s", [d.latency_s for d in drills])
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.2,
        subplot_titles=[f"energy by component [{eu.label}]", f"time by layer [{tu.label}]"],
    )
    parts = (
        ("energy", eu, [d.energy_by_component_pj for d in drills], 1),
        ("time", tu, [d.time_by_layer_s for d in drills], 2),
    )
    # one colour per category over both charts: plotly's 10-colour cycle gave "dram" and
    # "down_proj" the same purple
    keys = list(dict.fromkeys(k for _, _, values, _ in parts for v in values for k in v))
    colour = {k: DRILL_PALETTE[i % len(DRILL_PALETTE)] for i, k in enumerate(keys)}
    for group, unit, values, col in parts:
        for k in dict.fromkeys(k for v in values for k in v):
            fig.add_trace(
                go.Bar(
                    y=labels,
                    x=[unit.scale_one(v.get(k, 0.0)) for v in values],
                    name=k,
                    marker={"color": colour[k]},
                    orientation="h",
                    legendgroup=group,
                    legendgrouptitle_text=group,
                ),
                row=1,
                col=col,
            )
    # tall enough for the legend of every category (two group titles included), not only bars
    height = max(120 + 44 * len(drills), 110 + 22 * (len(keys) + 2))
    fig.update_layout(barmode="stack", height=height, margin={"t": 50, "l": 10})
    fig.update_xaxes(exponentformat="power")
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    return fig


def _cell(value: Any, metric: str | None, unit: Any) -> str:
    if metric is None:
        text = html.escape(str(value))
        return f"<td class='t'>{text}</td>"
    v = float(value)
    if not np.isfinite(v):
        return "<td data-v='NaN'>–</td>"
    return f"<td data-v='{v:.9g}'>{html.escape(format_value(metric, v, unit))}</td>"


def designs_html(table: pd.DataFrame, spec: StudySpec) -> str:
    """The ``designs`` section: one row per distinct Pareto design, sortable and filterable."""
    head = "<section id='designs'><h2>Pareto designs ({n} distinct)</h2>"
    if table.empty:
        return head.format(n=0) + "<p>No feasible design yet.</p></section>"
    # multi-fidelity: the promoted designs' perplexity beside the proxy (– for the others)
    ppl = ["ppl"] if "metric.ppl" in table and table["metric.ppl"].notna().any() else []
    metrics = list(
        dict.fromkeys(
            [
                *spec.metric_names,
                *ppl,
                *COMPARED_METRICS,
                "weight_bits_per_element",
                "memory_bound",
            ]
        )
    )
    metrics = [m for m in metrics if f"metric.{m}" in table or f"obj.{m}" in table]

    def col(m: str) -> pd.Series:
        return table[f"obj.{m}"] if f"obj.{m}" in table else table[f"metric.{m}"]

    units = {m: display_unit(m, col(m)) for m in metrics}
    # a parameter every listed design ignores (all "–") is a column of dashes: left out
    params = [
        p.name
        for p in spec.space.searched
        if f"p.{p.name}" in table and (table[f"p.{p.name}"].astype(str) != "–").any()
    ]
    ths = [
        "<th class='t' onclick='mdseSort(this)'>#</th>",
        *(f"<th class='t' onclick='mdseSort(this)'>{html.escape(p)}</th>" for p in params),
        *(
            f"<th onclick='mdseSort(this)'>{html.escape(metric_label(m, units[m]))}</th>"
            for m in metrics
        ),
        "<th class='t' onclick='mdseSort(this)'>trials</th>",
    ]
    body = []
    for i, r in enumerate(table.to_dict("records"), start=1):
        pe = str(r.get("p.pe_type", ""))
        cells = [f"<td data-v='{i}'>{i}</td>"]
        for p in params:
            text = html.escape(str(r[f"p.{p}"]))
            cells.append(
                f"<td class='t'>{_swatch(pe)}{text}</td>"
                if p == "pe_type"
                else f"<td class='t p'>{text}</td>"
            )
        cells += [_cell(col(m).iloc[i - 1], m, units[m]) for m in metrics]
        cells.append(f"<td class='t trials'>{html.escape(str(r['trials']))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    n = len(table)
    return (
        head.format(n=n)
        + "<p class='note'>One row per distinct design: trials that build the same "
        "quantization and hardware are merged (their trial numbers are listed), and a "
        "parameter the PE ignores shows as – (baseline PEs run their own weight format, "
        'shown as "(PE)"). Click a header to sort; type to filter (e.g. <i>mant 64</i>).</p>'
        "<input class='filter' type='search' placeholder='filter rows…' "
        "data-table='designs-table' oninput='mdseFilter(this)'> "
        "<span class='note'><span id='designs-table-count'>"
        f"{n}</span> of {n} shown</span>"
        "<div class='scroll'><table class='data' id='designs-table'><thead><tr>"
        + "".join(ths)
        + "</tr></thead><tbody>"
        + "".join(body)
        + "</tbody></table></div></section>"
    )


def fidelity_html(info: FidelityInfo) -> str:
    """The multi-fidelity summary: promotions and the proxy-perplexity rank correlation."""
    from dse.report.multifid import fidelity_line

    return (
        "<h2>Proxy and perplexity</h2>"
        f"<p>{html.escape(fidelity_line(info))}.</p>"
        "<p class='note'>Every design is scored by the proxy; a design within "
        f"{info.margin:g} (relative) of the proxy front when it completed is promoted to "
        "real perplexity (cached per quantization setting). "
        + (
            "The pick above is made among the promoted designs, with perplexity in place of "
            "the proxy. "
            if info.n_promoted
            else "No design is promoted yet: the pick above uses the proxy. "
        )
        + "The correlation counts each quantization setting once.</p>"
    )


def fidelity_figure(info: FidelityInfo) -> go.Figure:
    """Scatter of the promoted designs: proxy (x) against perplexity (y)."""
    import plotly.graph_objects as go

    unit = display_unit(info.proxy, info.proxy_values)
    fig = go.Figure()
    for name, sel, color in (
        ("on the proxy front", info.pareto, "#d62728"),
        ("near the proxy front", ~info.pareto, "#1f77b4"),
    ):
        if not sel.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=unit.scale(info.proxy_values[sel]),
                y=info.ppl_values[sel],
                mode="markers",
                name=name,
                marker={"color": color, "size": 8},
                text=[f"trial {t}" for t in info.trial[sel]],
                hovertemplate="%{text}<br>%{x:.4g}, ppl %{y:.4g}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"perplexity vs {metric_label(info.proxy)} (promoted designs)",
        height=420,
        margin={"t": 50, "r": 10},
        xaxis={"title": metric_label(info.proxy, unit)},
        yaxis={"title": "perplexity"},
    )
    return fig
