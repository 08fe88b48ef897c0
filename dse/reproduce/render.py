"""Thin rendering of :class:`dse.reproduce.info.ReproduceInfo`: self-contained HTML and Markdown.

The HTML embeds plotly.js once, so it opens offline. No number is computed here.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from dse.reproduce.info import KNOB_LABELS, ReproduceInfo
from hwmodel.cost import ENERGY_COMPONENTS

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["render_html", "render_markdown", "write_report"]


def _ratio_bars(info: ReproduceInfo, metric: str, title: str, paper: float) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    for design, role, _ in info.per_design:
        rows = [r for r in info.per_model_phase if r[0] == design]
        fig.add_bar(
            name=f"{design} ({role})",
            x=[f"{m}<br>{p}" for _, m, p, _ in rows],
            y=[getattr(s, metric) for *_, s in rows],
        )
    fig.add_hline(y=paper, line_dash="dash", annotation_text=f"paper average {paper:g}x")
    fig.add_hline(y=1.0, line_color="#888")
    fig.update_layout(title=title, barmode="group", yaxis_title="x over baseline", height=420)
    return fig


def _breakdown_fig(info: ReproduceInfo) -> go.Figure:
    import plotly.graph_objects as go

    subject = info.config.subject
    keys = sorted(info.energy_breakdown, key=lambda k: (k[1], k[0] != subject, k[0]))
    totals = {p: sum(info.energy_breakdown[(subject, p)].values()) for _, p in keys if p}
    fig = go.Figure()
    for comp in ENERGY_COMPONENTS:
        fig.add_bar(
            name=comp,
            x=[f"{d}<br>{p}" for d, p in keys],
            y=[info.energy_breakdown[k].get(comp, 0.0) / totals[k[1]] for k in keys],
        )
    fig.update_layout(
        title=f"Energy per component, summed over cases, relative to {subject}'s total per phase",
        barmode="stack",
        yaxis_title=f"energy / {subject} energy",
        height=420,
    )
    return fig


def _sensitivity_fig(info: ReproduceInfo) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    curves = info.sensitivity.curves
    n = len(curves)
    cols = 3
    nrows = -(-n // cols)
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=[KNOB_LABELS.get(k, k) for k in curves]
    )
    paper = info.config.paper
    for i, (knob, points) in enumerate(curves.items()):
        r, c = i // cols + 1, i % cols + 1
        x = [str(p.value) if isinstance(p.value, str) else p.value for p in points]
        for metric, color, label in (
            ("speedup_avg", "#1f77b4", "speedup"),
            ("energy_reduction_avg", "#d62728", "energy reduction"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[getattr(p.headline, metric) for p in points],
                    mode="lines+markers",
                    name=label,
                    line={"color": color},
                    showlegend=i == 0,
                    legendgroup=label,
                ),
                row=r,
                col=c,
            )
        for value, color in (
            (paper.speedup_avg, "#1f77b4"),
            (paper.energy_reduction_avg, "#d62728"),
        ):
            fig.add_hline(y=value, line_dash="dot", line_color=color, row=r, col=c)
        if not any(isinstance(p.value, str) for p in points) and knob not in ("act_bits",):
            fig.update_xaxes(type="log", row=r, col=c)
    fig.update_layout(
        title="Sensitivity of the headline averages (dotted: the paper's 2.99x / 2.81x)",
        height=300 * nrows,
    )
    return fig


def _accuracy_fig(info: ReproduceInfo) -> go.Figure:
    import plotly.graph_objects as go

    acc = info.accuracy
    assert acc is not None
    fig = go.Figure()
    names = [r.design for r in acc.rows]
    fig.add_bar(name="weights", x=names, y=[r.weight_rel_mse for r in acc.rows])
    fig.add_bar(name="K", x=names, y=[r.k_rel_mse for r in acc.rows])
    fig.add_bar(name="V", x=names, y=[r.v_rel_mse for r in acc.rows])
    fig.update_layout(
        title="Relative MSE per design at its paper's setting",
        barmode="group",
        yaxis={"type": "log", "title": "relative MSE"},
        height=380,
    )
    return fig


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _sections(info: ReproduceInfo) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table, shared by HTML and Markdown."""
    cfg = info.config
    out = [
        (
            f"Headline: {cfg.subject} over {', '.join(cfg.baselines)}",
            ["figure", "ours", "paper", "difference"],
            [
                [r.label, f"{r.ours:.2f}x", f"{r.paper:.2f}x", f"{r.difference * 100:+.0f}%"]
                for r in info.headline
            ],
        ),
        (
            "Per design (all cases)",
            [
                "design",
                "role",
                "speedup avg",
                "speedup max",
                "energy red. avg",
                "energy red. max",
                "arith. mean speedup",
                "cases",
            ],
            [
                [
                    d,
                    role,
                    f"{s.speedup_avg:.2f}",
                    f"{s.speedup_max:.2f}",
                    f"{s.energy_reduction_avg:.2f}",
                    f"{s.energy_reduction_max:.2f}",
                    f"{s.speedup_arith:.2f}",
                    str(s.n),
                ]
                for d, role, s in info.per_design
            ],
        ),
        (
            "Per model and phase (mean over sequence lengths and batches)",
            [
                "design",
                "model",
                "phase",
                "speedup avg",
                "speedup max",
                "energy red. avg",
                "energy red. max",
            ],
            [
                [
                    d,
                    m,
                    p,
                    f"{s.speedup_avg:.2f}",
                    f"{s.speedup_max:.2f}",
                    f"{s.energy_reduction_avg:.2f}",
                    f"{s.energy_reduction_max:.2f}",
                ]
                for d, m, p, s in info.per_model_phase
            ],
        ),
        (
            "Energy breakdown (share of each design's energy, summed over cases)",
            ["design", "phase", "total mJ", *ENERGY_COMPONENTS],
            [
                [d, p, f"{sum(e.values()) / 1e9:.4g}"]
                + [f"{100 * e.get(k, 0.0) / sum(e.values()):.1f}%" for k in ENERGY_COMPONENTS]
                for (d, p), e in sorted(info.energy_breakdown.items(), key=lambda t: t[0][::-1])
            ],
        ),
        (
            f"Iso-area check (budget {cfg.area_budget_um2:,.0f} um^2 of PE array, tolerance "
            f"{cfg.iso_area_tolerance:.0%} below)",
            ["design", "array", "PE area um^2", "fraction of budget", "ok"],
            [
                [r.design, r.array, f"{r.pe_area_um2:,.0f}", f"{r.fraction:.4f}", str(r.ok)]
                for r in info.iso_area
            ],
        ),
    ]
    if info.accuracy is not None:
        acc = info.accuracy
        out.append(
            (
                "Accuracy at each design's setting",
                [
                    "design",
                    "weights",
                    "weight b/elem",
                    "weight rel MSE",
                    "KV",
                    "K rel MSE",
                    "V rel MSE",
                    "perplexity",
                ],
                [
                    [
                        r.design,
                        r.weight_setting,
                        f"{r.weight_bits_per_element:g}",
                        f"{r.weight_rel_mse:.3e}",
                        r.kv_setting,
                        f"{r.k_rel_mse:.3e}",
                        f"{r.v_rel_mse:.3e}",
                        "-" if r.perplexity is None else f"{r.perplexity:.3f}",
                    ]
                    for r in acc.rows
                ],
            )
        )
    out.append(
        (
            f"Sensitivity (base point L={info.sensitivity.seq_len}, B={info.sensitivity.batch}; "
            "one knob at a time)",
            [
                "knob",
                "value",
                "base",
                "speedup avg",
                "energy red. avg",
                *(f"speedup vs {d}" for d, _, _ in info.per_design),
            ],
            [
                [
                    k,
                    str(p.value),
                    "*" if p.is_base else "",
                    f"{p.headline.speedup_avg:.2f}",
                    f"{p.headline.energy_reduction_avg:.2f}",
                    *(f"{p.per_design[d].speedup_avg:.2f}" for d, _, _ in info.per_design),
                ]
                for k, pts in info.sensitivity.curves.items()
                for p in pts
            ],
        )
    )
    out.append(
        (
            f"Assumptions ({len(info.assumptions)})",
            ["name", "value", "unit", "drives", "source"],
            [[a.name, a.value, a.unit, a.drives, a.source] for a in info.assumptions],
        )
    )
    return out


def _intro(info: ReproduceInfo) -> list[str]:
    cfg = info.config
    lines = [
        f"{cfg.subject} against {', '.join(cfg.baselines)} (headline) and "
        f"{', '.join(cfg.references) or 'no reference'} (reported) at iso-area, on "
        f"{info.n_cases} cases: models {', '.join(cfg.models)}; phases "
        f"{', '.join(cfg.phases)}; sequence lengths {', '.join(map(str, cfg.seq_lens))}; "
        f"batches {', '.join(map(str, cfg.batches))}. Each design runs at the bit widths of "
        "its paper (its preset's default precision).",
        f"Definition: speedup = baseline cycles / {cfg.subject} cycles; energy reduction = "
        f"baseline energy / {cfg.subject} energy, per case; average = {cfg.mean} mean over "
        "baselines x cases; maximum = largest per-case ratio. Paper: "
        f"{cfg.paper.source}.",
    ]
    if info.accuracy is not None:
        lines.append(f"Weight tensors: {info.accuracy.weight_source}.")
        lines.append(f"K/V tensors: {info.accuracy.kv_source}.")
        if info.accuracy.fp_perplexity is not None:
            lines.append(
                f"Perplexity: {info.accuracy.perplexity_setting}; unquantized "
                f"{info.accuracy.fp_perplexity:.3f}. SmolLM2's linears ship as Q4_1, so weight "
                "settings re-quantize a 4-bit grid (real_models.md section 7)."
            )
        elif info.accuracy.perplexity_setting:
            lines.append(f"Perplexity: {info.accuracy.perplexity_setting}.")
    return lines


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin-bottom:16px}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
"""


def render_html(info: ReproduceInfo) -> str:
    """The report as one self-contained HTML string (plotly.js embedded)."""
    from plotly.offline import get_plotlyjs

    def div(fig: go.Figure) -> str:
        return fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})

    paper = info.config.paper
    sections = _sections(info)
    figs = [
        _ratio_bars(info, "speedup_avg", "Speedup per model and phase", paper.speedup_avg),
        _ratio_bars(
            info,
            "energy_reduction_avg",
            "Energy reduction per model and phase",
            paper.energy_reduction_avg,
        ),
        _breakdown_fig(info),
    ]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(info.config.name)} - mant-dse reproduce</title>",
        f"<style>{_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>Reproducing the M-ANT headline ({html.escape(info.config.name)})</h1>",
        *(f"<p>{html.escape(line)}</p>" for line in _intro(info)),
    ]
    for title, headers, rows in sections[:2]:
        parts += [f"<h2>{html.escape(title)}</h2>", _table(headers, rows)]
    parts += ["<h2>How our figure differs from the paper's</h2><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in info.explanation]
    parts += ["</ul>", *(div(f) for f in figs)]
    for title, headers, rows in sections[2:]:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if title.startswith("Accuracy"):
            parts.append(div(_accuracy_fig(info)))
        if title.startswith("Sensitivity"):
            parts.append(div(_sensitivity_fig(info)))
        parts.append(_table(headers, rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(info: ReproduceInfo) -> str:
    """The report as Markdown (tables and sentences, no plots)."""
    sections = _sections(info)
    parts = [f"# Reproducing the M-ANT headline ({info.config.name})", "", *_intro(info), ""]
    for title, headers, rows in sections[:2]:
        parts += [f"## {title}", "", _md_table(headers, rows), ""]
    parts += ["## How our figure differs from the paper's", ""]
    parts += [f"- {line}" for line in info.explanation] + [""]
    for title, headers, rows in sections[2:]:
        parts += [f"## {title}", "", _md_table(headers, rows), ""]
    return "\n".join(parts)


def write_report(info: ReproduceInfo, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(info), encoding="utf-8")
    md_path.write_text(render_markdown(info), encoding="utf-8")
    return html_path, md_path
