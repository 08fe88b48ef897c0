"""``mant-dse plot``: write the self-contained HTML report of a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.cli._study_args import add_study_source, open_existing_study
from mant.errors import InputError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="write the HTML report (what was studied, the design to pick, Pareto plots, designs)",
    )
    add_study_source(p)
    p.add_argument("--to", type=Path, help="report path (default: <out>/report.html)")
    p.add_argument(
        "--reference",
        default="int8",
        metavar="PE",
        help="PE type whose best design the picks are compared with (default int8)",
    )
    p.set_defaults(func=_plot)


def _plot(args: argparse.Namespace) -> int:
    from dse.cli._paths import check_output_dir, check_output_file
    from dse.report.html import write_report
    from dse.results.frame import frame_from_study, save_frame
    from dse.run.runner import REPORT_FILE, load_study_spec
    from dse.study.space import PE_TYPES

    if args.to is not None:
        check_output_file(args.to, "--to")
    if args.reference not in PE_TYPES:
        raise InputError.single(
            "--reference", f"must be one of {', '.join(PE_TYPES)}", args.reference
        )
    study = open_existing_study(args)
    spec = load_study_spec(study)
    df = frame_from_study(study, spec)
    if args.to is not None:
        target = args.to
    else:
        folder = args.out or Path("runs") / spec.name
        check_output_dir(folder, "--out")  # results and report go there: a bad folder is exit 2
        save_frame(df, folder)
        target = folder / REPORT_FILE
    path = write_report(df, spec, target, reference_pe=args.reference)
    print(f"report: {path}")
    return 0
