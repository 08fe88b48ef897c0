"""The ``mant-dse`` command line.

Each sub-command lives in its own module under ``dse.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``(args) -> int``. Heavy imports happen inside the command, so that ``mant-dse formats``
does not pay for Optuna.

Bad input raises :class:`mant.errors.InputError`; ``main`` prints each issue and returns 2.
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
from collections.abc import Sequence

from mant.errors import InputError, MantDseError

__all__ = ["main", "build_parser"]

# module name under dse.cli -> registers one or more sub-commands
_COMMAND_MODULES = (
    "formats",
    "quantize",
    "compare",
    "hw",
    "run",
    "plot",
    "export",
    "evaluate",
    "ppl",
    "kv",
    "assets",
    "reproduce",
    "recipes",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags in the toolkit's one-line style (still exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mant-dse",
        description="Co-design low-bit number formats (M-ANT and peers) and their accelerators.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dse.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dse.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _safe(text: object) -> str:
    """A message line with control characters escaped (no raw ANSI codes, no forged lines)."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), str(text))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        for issue in exc.issues:
            print(f"error: {_safe(issue)}", file=sys.stderr)
        return 2
    except MantDseError as exc:
        print(f"error: {_safe(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a folder that vanished: say what, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {_safe(where)}{_safe(exc.strerror or exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        signum = int(getattr(exc, "signum", signal.SIGINT))
        name = signal.Signals(signum).name
        print(f"interrupted by {name}: everything completed so far is kept", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
