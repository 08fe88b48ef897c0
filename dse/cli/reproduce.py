"""``mant-dse reproduce``: the M-ANT paper's headline from the toolkit's own models."""

from __future__ import annotations

import argparse
import dataclasses
import json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="M-ANT vs ANT, OliVe, Tender and INT8 at iso-area: speedup, energy, accuracy",
        description=(
            "Evaluates every design of the reproduce config (default: the built-in copy of "
            "studies/reproduce/paper.yaml) at iso-area on LLaMA and OPT prefill and decode, "
            "measures each design's quantization error on real tensors, runs a one-at-a-time "
            "sensitivity analysis, and writes report.html (plotly, self-contained) and report.md. "
            "Compares the average and maximum speedup and energy reduction with the paper's "
            "2.99x / 4.46x and 2.81x / 4.10x."
        ),
    )
    parser.add_argument("--config", default=None, help="reproduce config YAML (default built-in)")
    parser.add_argument(
        "--out", default="runs/reproduce", help="report folder (default runs/reproduce)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument(
        "--no-accuracy", action="store_true", help="skip the accuracy side (hardware only)"
    )
    parser.add_argument(
        "--perplexity-windows",
        type=int,
        default=None,
        help="SmolLM2 perplexity windows per design (default: the config's; 0 skips)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dse.reproduce import run_reproduce
    from dse.reproduce.cases import load_config
    from dse.reproduce.info import summary_json
    from dse.reproduce.render import write_report
    from mant.errors import InputError

    cfg = load_config(args.config)
    if args.perplexity_windows is not None:
        if args.perplexity_windows < 0:
            raise InputError.single(
                "--perplexity-windows", "must be >= 0", args.perplexity_windows
            )
        cfg = dataclasses.replace(
            cfg,
            accuracy=dataclasses.replace(cfg.accuracy, perplexity_windows=args.perplexity_windows),
        )
    info = run_reproduce(cfg, accuracy=not args.no_accuracy)
    html_path, md_path = write_report(info, args.out)
    if args.json:
        summary = summary_json(info) | {"report_html": str(html_path), "report_md": str(md_path)}
        print(json.dumps(summary, indent=1, sort_keys=False))
        return 0
    h = info.headline_summary
    print(f"{cfg.subject} over {', '.join(cfg.baselines)} ({info.n_cases} cases, {cfg.mean} mean)")
    for row in info.headline:
        print(
            f"  {row.label:<26} {row.ours:6.2f}x   paper {row.paper:.2f}x   "
            f"({row.difference * 100:+.0f}%)"
        )
    for d, role, s in info.per_design:
        print(
            f"  vs {d:<8} ({role:<9}) speedup {s.speedup_avg:5.2f} (max {s.speedup_max:5.2f})"
            f"  energy {s.energy_reduction_avg:5.2f} (max {s.energy_reduction_max:5.2f})"
        )
    print(f"  max speedup case: {h.argmax_speedup}")
    print(f"report:  {html_path}")
    print(f"summary: {md_path}")
    return 0
