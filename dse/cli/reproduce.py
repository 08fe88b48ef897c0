"""``mant-dse reproduce``: the M-ANT paper's two tables, computed the paper's way."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="M-ANT vs Tender, OliVe, ANT, BitFusion at iso-area: the paper's two tables",
        description=(
            "Computes the M-ANT paper's two tables with its scopes: the linear layers of eight "
            "LLaMA/OPT models at sequence 2048, batch 1, against Tender, OliVe, ANT and "
            "BitFusion, and the whole LLaMA-7B with attention from 2K to 128K against Tender "
            "and OliVe. Every published figure is shown next to ours with the named assumption "
            "that explains most of the difference; the accuracy side runs the recipes on "
            "SmolLM2. Writes report.md, report.html and summary.json."
        ),
    )
    parser.add_argument(
        "comparison",
        nargs="?",
        choices=("mant", "bitmod"),
        default="mant",
        help="which published comparison: mant (the M-ANT paper's two tables, the default) or "
        "bitmod (BitMoD's speedups over ANT and OliVe on its own models, context and batch); "
        "docs/reproduce.md",
    )
    parser.add_argument(
        "--assumptions",
        choices=("physical", "paper"),
        default="physical",
        help="named assumption set: physical (the default hardware model) or paper (all the "
        "M-ANT paper's assumptions together: its 148 um^2/MAC PE, baselines at W4A4, whole model "
        "compute-bound); docs/reproduce.md",
    )
    parser.add_argument(
        "--config", default=None, help="reproduce config YAML (default: the shipped set's)"
    )
    parser.add_argument(
        "--out", default="runs/reproduce", help="report folder (default runs/reproduce)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument(
        "--no-accuracy", action="store_true", help="skip the perplexity side (hardware only)"
    )
    parser.add_argument(
        "--perplexity-windows",
        type=int,
        default=None,
        help="SmolLM2 perplexity windows per recipe (default: the config's; 0 skips)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dse.reproduce.config import load_config
    from dse.reproduce.report import summary_json, write_report
    from dse.reproduce.run import run_reproduce
    from mant.errors import InputError

    if args.perplexity_windows is not None and args.perplexity_windows < 0:
        raise InputError.single("--perplexity-windows", "must be >= 0", args.perplexity_windows)
    cfg = load_config(args.config, args.assumptions, args.comparison)
    windows = 0 if args.no_accuracy else args.perplexity_windows
    res = run_reproduce(cfg, accuracy_windows=windows)
    md_path, html_path, json_path = write_report(res, args.out)
    if args.json:
        print(json.dumps(summary_json(res), indent=1))
        return 0
    subject = "M-ANT" if cfg.subject == "mant" else cfg.subject
    print(
        f"{subject} over each baseline, assumptions {cfg.assumptions} (PE constants "
        f"{cfg.pe_constants}; {cfg.mean} mean; arithmetic in brackets)"
    )
    for f in res.alternatives.figures:
        s = res.scopes[f.scope].per_baseline[f.baseline].figures
        arith = s.get(f.figure.replace("_avg", "_arith_mean"), f.ours)
        extra = f" [{arith:.2f}x]" if f.figure.endswith("_avg") else ""
        why = f"  closest: {f.explained_by} {f.explained_value:.2f}x" if f.explained_by else ""
        print(
            f"  {f.scope:<13} {f.baseline:<9} {f.figure:<21} {f.ours:5.2f}x{extra:<9} paper "
            f"{f.paper:.2f}x ({f.difference:+.0%}){why}"
        )
    if res.accuracy is not None:
        for r in res.accuracy.rows:
            ours = "-" if r.ours is None else f"{r.ours:.2f}"
            paper = "-" if r.paper is None else f"{r.paper:.2f}"
            print(f"  ppl {r.recipe:<12} ours {ours:>7}  paper {paper:>6}  {r.note}")
    print(f"report: {html_path}\nsummary: {md_path}, {json_path}")
    return 0
