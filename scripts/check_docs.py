"""Checks that the figures the README and docs quote are what their commands print.

Every quoted figure is an entry of ``docs/figures.yaml``::

    - doc: README.md                         # the file that quotes it
      quote: "decode takes {} ms"            # the quoted text; {} is where the figure stands
      command: hw llm --accelerator mant --model llama-2-7b --phase decode --json
      key: latency_s                         # dotted path into the command's JSON output
      scale: 1000                            # the doc shows key x scale (default 1)
      format: ".1f"                          # how the doc writes it (Python format spec)
      cheap: true                            # run in CI (false: only with --all)

The check runs the ``mant-dse`` command (in this process), reads the value at ``key``, writes it
into ``quote`` with ``format`` and fails unless that exact text stands in ``doc``. So a figure
that drifts (the model changed, the doc did not) fails CI, and every quoted figure names the
command that prints it. Entries marked ``cheap: false`` (benchmarks, long studies) are checked
with ``--all``; without it their quote must still stand in the doc.

Usage (from the repository root)::

    python scripts/check_docs.py            # the cheap entries (CI runs these)
    python scripts/check_docs.py --all      # every entry
    python scripts/check_docs.py --list     # each figure with its command

Exit status: 0 when every checked figure matches, 1 when one does not, 2 on a malformed entry.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import sys
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures.yaml"
_KEYS = {"doc", "quote", "command", "key", "scale", "format", "cheap"}


@dataclass(frozen=True)
class Figure:
    """One quoted figure and the command that prints it."""

    doc: str
    quote: str
    command: str
    key: str
    scale: float = 1.0
    format: str = ""
    cheap: bool = True

    def render(self, value: Any) -> str:
        """The quote with the command's value written in, as the doc must show it."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = value * self.scale if self.scale != 1 else value
        return self.quote.replace("{}", format(value, self.format))


def load_figures(path: Path = FIGURES) -> list[Figure]:
    """The entries of ``docs/figures.yaml``; a malformed one raises ValueError naming it."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise ValueError(f"{path.name}: must be a list of figures, got {type(data).__name__}")
    out = []
    for i, entry in enumerate(data):
        where = f"{path.name}[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: must be a mapping, got {entry!r}")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
        for required in ("doc", "quote", "command", "key"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise ValueError(f"{where}.{required}: must be a non-empty string")
        if entry["quote"].count("{}") != 1:
            raise ValueError(f"{where}.quote: must hold exactly one {{}}, got {entry['quote']!r}")
        doc = ROOT / entry["doc"]
        if ROOT not in doc.resolve().parents or not doc.is_file():
            raise ValueError(
                f"{where}.doc: must be a file of the repository, got {entry['doc']!r}"
            )
        out.append(Figure(**entry))
    return out


def run_command(command: str) -> Any:
    """Runs ``mant-dse COMMAND`` in this process and returns its JSON output."""
    from dse.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        status = main(shlex.split(command))
    if status != 0:
        raise RuntimeError(f"`mant-dse {command}` exited {status}")
    return json.loads(buf.getvalue())


def lookup(data: Any, key: str) -> Any:
    """``a.b.0.c`` into nested mappings and lists; ``#`` is the length (``rows.#``, or ``#`` for
    a command that prints a list)."""
    for part in key.split("."):
        if part == "#" and isinstance(data, Sized) and not isinstance(data, str):
            data = len(data)
        elif (
            isinstance(data, Sequence) and not isinstance(data, str) and part.lstrip("-").isdigit()
        ):
            data = data[int(part)]
        elif isinstance(data, Mapping) and part in data:
            data = data[part]
        else:
            raise KeyError(f"no {part!r} on the way to {key!r}")
    return data


def check(figures: Sequence[Figure], *, run_all: bool = False) -> list[str]:
    """The problems found (empty when every checked figure stands in its doc as printed)."""
    problems: list[str] = []
    outputs: dict[str, Any] = {}
    for f in figures:
        text = (ROOT / f.doc).read_text(encoding="utf-8")
        head, _, tail = f.quote.partition("{}")
        if head not in text or tail not in text:
            problems.append(f"{f.doc}: the quote {f.quote!r} is not in the file")
            continue
        if not (f.cheap or run_all):
            continue
        try:
            if f.command not in outputs:
                outputs[f.command] = run_command(f.command)
            value = lookup(outputs[f.command], f.key)
        except (RuntimeError, KeyError, ValueError) as exc:
            problems.append(f"{f.doc}: `mant-dse {f.command}` -> {f.key}: {exc}")
            continue
        expected = f.render(value)
        if expected not in text:
            problems.append(
                f"{f.doc}: `mant-dse {f.command}` prints {f.key} = {value!r}, so the doc must say "
                f"{expected!r}"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="also run the expensive commands")
    parser.add_argument("--list", action="store_true", help="list each figure and its command")
    args = parser.parse_args(argv)
    try:
        figures = load_figures()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for f in figures:
            print(f"{f.doc}: {f.quote!r}  <-  mant-dse {f.command}  [{f.key}]")
        return 0
    problems = check(figures, run_all=args.all)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    checked = sum(f.cheap or args.all for f in figures)
    print(f"{len(figures)} figures, {checked} run, {len(problems)} wrong")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
