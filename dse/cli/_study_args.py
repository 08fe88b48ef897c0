"""Shared ``(--out DIR | --storage URL --study NAME)`` options of ``plot`` and ``export``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mant.errors import InputError

if TYPE_CHECKING:
    import optuna

__all__ = ["add_study_source", "open_existing_study"]


def add_study_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="output folder of a run (its journal file)")
    parser.add_argument("--storage", help="Optuna storage URL (with --study)")
    parser.add_argument("--study", help="study name in --storage")


def open_existing_study(args: argparse.Namespace) -> optuna.Study:
    """Loads the study named by the arguments (never creates one).

    Raises:
        InputError: neither --out nor --storage/--study, or no such study.
    """
    import optuna

    from dse.run.runner import SPEC_FILE
    from dse.run.storage import create_storage
    from dse.study.spec import load_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.storage:
        if not args.study:
            raise InputError.single("--study", "is required with --storage", None)
        storage, name = create_storage(args.storage, out_dir=None), args.study
    elif args.out:
        if not (args.out / SPEC_FILE).exists():
            raise InputError.single(
                "--out", f"holds no {SPEC_FILE}; is it a run folder?", str(args.out)
            )
        spec = load_spec(args.out / SPEC_FILE)
        storage = create_storage(spec.storage, out_dir=args.out)
        name = args.study or spec.name
    else:
        raise InputError.single("--out", "give --out DIR or --storage URL --study NAME", None)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise InputError.single("--study", "no such study in the storage", name) from None
