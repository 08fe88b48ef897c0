"""``mant-dse export``: write accelerator + quantization files of chosen designs."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.cli._study_args import add_study_source, open_existing_study

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export designs as accelerator YAML + quantization configs",
    )
    add_study_source(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, nargs="+", help="trial number(s)")
    which.add_argument("--pareto", action="store_true", help="every feasible Pareto design")
    p.add_argument("--to", type=Path, required=True, help="destination folder")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from dse.cli._paths import check_output_dir
    from dse.export import export_trials
    from dse.run.runner import load_study_spec

    check_output_dir(args.to, "--to")
    study = open_existing_study(args)
    spec = load_study_spec(study)
    paths = export_trials(study, spec, "pareto" if args.pareto else args.trial, args.to)
    for path in paths:
        print(f"exported: {path}")
    if not paths:
        print("nothing to export: the study has no feasible Pareto design yet")
    return 0
