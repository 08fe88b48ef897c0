"""The reproduction's outputs: one JSON summary and the same tables as Markdown and HTML.

``summary_json`` keys: ``linear_layers`` and ``whole_model`` (and ``grid``), each holding one
entry per baseline with ``speedup_avg``, ``speedup_max``, ``speedup_min``, ``speedup_geomean``,
``speedup_arith_mean`` (and the same for ``energy_reduction``), ``mean``, ``paper``,
``comparison`` (each published figure: ours, paper, difference, the explaining alternative) and
``cases``; then ``scopes``, ``alternatives``, ``iso_area``, ``assumptions`` (the named
assumption set, ``physical`` or ``paper``), ``pe_constants``, ``assumption_names`` and
``accuracy``.

Example:
    >>> from dse.reproduce.config import load_config
    >>> from dse.reproduce.run import run_reproduce
    >>> s = summary_json(run_reproduce(load_config(), accuracy_windows=0))
    >>> s["whole_model"]["tender"]["cases"][-1]["seq_len"]
    131072
"""

from __future__ import annotations

import dataclasses
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from dse.report.html import REPORT_CSS, table_html
from dse.reproduce.alternatives import FigureComparison, gemv_path_needs, published_scopes
from dse.reproduce.compute import ScopeResult
from dse.reproduce.run import ReproduceResult
from mant.atomic_write import write_text_atomic

__all__ = ["report_tables", "summary_json", "write_report"]

_CASE_KEYS = ("model", "phase", "seq_len", "batch", "speedup", "energy_reduction")


def _scope_json(res: ReproduceResult, sr: ScopeResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    comps = [f for f in res.alternatives.figures if f.scope == sr.scope.name]
    for b, s in sr.per_baseline.items():
        out[b] = {
            **s.figures,
            "mean": s.mean_kind,
            "paper": dict(sr.scope.paper.get(b, {})),
            "comparison": [dataclasses.asdict(f) for f in comps if f.baseline == b],
            "cases": [dataclasses.asdict(c) for c in s.cases],
        }
    return out


def summary_json(res: ReproduceResult) -> dict[str, Any]:
    """Every figure of the reproduction under stable keys (see the module docstring)."""
    cfg = res.config
    out: dict[str, Any] = {s: _scope_json(res, r) for s, r in res.scopes.items()}
    out["scopes"] = {
        s.name: {
            "title": s.title,
            "models": list(s.models),
            "phases": list(s.phases),
            "seq_lens": list(s.seq_lens),
            "batches": list(s.batches),
            "layers": s.layers,
            "baselines": list(s.baselines),
        }
        for s in cfg.scopes
    }
    out["alternatives"] = {
        a.name: {
            "description": a.description,
            "source": a.source,
            "figures": {
                f"{f.scope}.{f.baseline}.{f.figure}": res.alternatives.value(
                    a.name, f.scope, f.baseline, f.figure
                )
                for f in res.alternatives.figures
            },
        }
        for a in cfg.alternatives
    }
    published = published_scopes(cfg)
    # the headline: the first scope with published figures (``reproduce bitmod``: BitMoD's)
    out["baselines"] = out[published[0]] if published else {}
    out["comparison_name"] = cfg.name
    out["subject"] = cfg.subject
    out["gemv_paths"] = gemv_path_needs(res.alternatives)
    out["iso_area"] = {r.design: dataclasses.asdict(r) for r in res.iso_area}
    out["paper_pe_um2_per_mac"] = 148.0
    out["assumptions"] = res.config.assumptions  # the named assumption set
    out["pe_constants"] = res.config.pe_constants
    out["assumption_names"] = [a.name for a in res.assumptions]
    out["accuracy"] = None if res.accuracy is None else res.accuracy.to_dict()
    return out


def _x(v: float) -> str:
    return f"{v:.2f}x"


def _comparison_table(figs: tuple[FigureComparison, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "table": f.scope,
                "over": f.baseline,
                "figure": f.figure,
                "ours": _x(f.ours),
                "paper": _x(f.paper),
                "difference": f"{f.difference:+.0%}",
                "closest named alternative": f.explained_by or "none moves it closer",
                "ours under it": _x(f.explained_value) if f.explained_by else "",
                "gap closed": f"{f.closes:.0%}" if f.explained_by else "",
            }
            for f in figs
        ]
    )


def _scope_table(sr: ScopeResult) -> pd.DataFrame:
    rows = []
    for b, s in sr.per_baseline.items():
        f, paper = s.figures, sr.scope.paper.get(b, {})
        rows.append(
            {
                "over": b,
                "speedup geomean": _x(f["speedup_geomean"]),
                "speedup arith": _x(f["speedup_arith_mean"]),
                "speedup min..max": f"{f['speedup_min']:.2f}..{f['speedup_max']:.2f}",
                "energy geomean": _x(f["energy_reduction_geomean"]),
                "energy arith": _x(f["energy_reduction_arith_mean"]),
                "energy min..max": f"{f['energy_reduction_min']:.2f}.."
                f"{f['energy_reduction_max']:.2f}",
                "paper": ", ".join(f"{k} {v:.2f}" for k, v in paper.items()) or "-",
            }
        )
    return pd.DataFrame(rows)


def _cases_table(sr: ScopeResult) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for b, s in sr.per_baseline.items():
        for c in s.cases:
            row = rows.setdefault(c.label, {"case": c.label, "M-ANT bound": c.subject_bound})
            row[f"{b} speedup"] = f"{c.speedup:.2f}"
            row[f"{b} energy"] = f"{c.energy_reduction:.2f}"
    return pd.DataFrame(list(rows.values()))


def _alternatives_table(res: ReproduceResult) -> pd.DataFrame:
    figs = res.alternatives.figures
    alt = res.alternatives
    rows = [{"alternative": "(default)"} | {_fig_label(f): f"{f.ours:.2f}" for f in figs}]
    for a in res.config.alternatives:
        values = {_fig_label(f): alt.value(a.name, f.scope, f.baseline, f.figure) for f in figs}
        rows.append({"alternative": a.name} | {k: f"{v:.2f}" for k, v in values.items()})
    rows.append({"alternative": "(paper)"} | {_fig_label(f): f"{f.paper:.2f}" for f in figs})
    return pd.DataFrame(rows)


def _fig_label(f: FigureComparison) -> str:
    scope = {"linear_layers": "lin", "whole_model": "whole"}.get(f.scope, f.scope)
    short = f.figure.replace("energy_reduction", "en").replace("speedup", "sp")
    return f"{scope} {f.baseline} {short}"


def report_tables(res: ReproduceResult) -> list[tuple[str, str, pd.DataFrame]]:
    """(heading, sentence, table) for every section, in report order."""
    cfg = res.config
    out: list[tuple[str, str, pd.DataFrame]] = [
        (
            "Each published figure",
            f"Ours under the default assumptions ({cfg.mean} mean), the paper's, and the named "
            "alternative (one at a time) that brings ours closest to it.",
            _comparison_table(res.alternatives.figures),
        )
    ]
    for name in published_scopes(cfg):
        sr = res.scopes[name]
        out.append((sr.scope.title, "Per baseline, both means.", _scope_table(sr)))
        out.append((f"{sr.scope.title}: per case", "", _cases_table(sr)))
    out.append(
        (
            "Named alternatives",
            "Each row changes one assumption for every design and re-runs both tables.",
            _alternatives_table(res),
        )
    )
    needs = gemv_path_needs(res.alternatives)
    if needs:
        out.append(
            (
                "Which decode load path each whole-model figure needs",
                "Our value under each GEMV path of hwmodel (load_path is the default) and the "
                "path closest to the paper's value.",
                pd.DataFrame(needs).round(2),
            )
        )
    out.append(
        (
            "Iso-area designs",
            f"Budget {cfg.area_budget_um2:,.0f} um^2 of PE array; rule: within "
            f"{cfg.iso_area_tolerance:.0%} below it."
            + (" The paper's M-ANT PE: 148 um^2/MAC." if cfg.subject == "mant" else ""),
            pd.DataFrame([dataclasses.asdict(r) for r in res.iso_area]),
        )
    )
    if res.accuracy is not None:
        acc = res.accuracy
        out.append(
            (
                "Accuracy: perplexity per recipe",
                f"SmolLM2-135M, {acc.windows} x 512 tokens, beside the paper's LLaMA-7B "
                f"WikiText-2. Same order as the paper: {acc.same_order} "
                f"({acc.pairs_in_order[0]} of {acc.pairs_in_order[1]} pairs in its order). "
                f"{acc.missing}",
                pd.DataFrame([dataclasses.asdict(r) for r in acc.rows]),
            )
        )
    grid = res.scopes.get("grid")
    if grid is not None:
        out.append((grid.scope.title, "", _scope_table(grid)))
    out.append(
        (
            "Assumptions",
            "",
            pd.DataFrame([dataclasses.asdict(a) for a in res.assumptions]),
        )
    )
    return out


def _markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def write_report(res: ReproduceResult, out_dir: str | Path) -> tuple[Path, Path, Path]:
    """Writes ``report.md``, ``report.html`` and ``summary.json``; returns their paths."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tables = report_tables(res)
    title = html.escape(res.config.title)
    md = [f"# {res.config.title}", ""]
    body = [f"<h1>{title}</h1>"]
    for head, sentence, df in tables:
        md += [f"## {head}", "", sentence, "", _markdown(df), ""]
        body += [
            f"<h2>{html.escape(head)}</h2>",
            f"<p>{html.escape(sentence)}</p>",
            table_html(df),
        ]
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{REPORT_CSS}</style></head><body>" + "\n".join(body) + "</body></html>"
    )
    paths = (d / "report.md", d / "report.html", d / "summary.json")
    write_text_atomic(paths[0], "\n".join(md))
    write_text_atomic(paths[1], page)
    write_text_atomic(paths[2], json.dumps(summary_json(res), indent=1))
    return paths
