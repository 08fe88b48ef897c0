"""``mant-dse formats``: every format family, example grids and the named candidate sets."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("formats", help="list number formats and example grids")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe() -> dict[str, Any]:
    """Plain description of the known families, example formats and named sets."""
    from mant.candidates import NAMED_SETS
    from mant.formats import example_format_names, known_families, parse_format

    formats = []
    for name in example_format_names():
        f = parse_format(name)
        entry: dict[str, Any] = {
            "name": f.name,
            "bits": f.bits,
            "levels": len(f.grid),
            "max_abs": f.max_abs,
            "block_size": f.block_size,
        }
        if not f.asymmetric:
            entry["magnitudes"] = [float(v) for v in f.magnitudes[:16]]
            entry["magnitudes_truncated"] = len(f.magnitudes) > 16
        formats.append(entry)
    sets = {k: {"size": len(v), "members": list(v[:20])} for k, v in NAMED_SETS.items()}
    from mant.formats2026 import SOURCES  # issue 20: named 2025-26 formats and their sources

    named = []
    for name, source in SOURCES.items():
        f = parse_format(name)
        block = int(f.block_size or 1)
        bpe = getattr(f, "bits_per_element", f.bits + 8 / block)
        named.append(
            {
                "name": name,
                "bits": f.bits,
                "block_size": block,
                "bits_per_element": bpe,
                "source": source,
            }
        )
    return {
        "families": list(known_families()),
        "formats": formats,
        "candidate_sets": sets,
        "named_formats": named,
    }


def run(args: argparse.Namespace) -> int:
    info = describe()
    if args.json:
        print(json.dumps(info))
        return 0
    print("families: " + ", ".join(info["families"]))
    print(f"{'format':<14}{'bits':>5}{'levels':>8}{'max_abs':>11}{'block':>7}  magnitudes")
    for f in info["formats"]:
        mags = f.get("magnitudes")
        shown = "" if mags is None else " ".join(f"{m:g}" for m in mags[:9])
        if mags is not None and (len(mags) > 9 or f["magnitudes_truncated"]):
            shown += " ..."
        block = "-" if f["block_size"] is None else str(f["block_size"])
        print(
            f"{f['name']:<14}{f['bits']:>5}{f['levels']:>8}{f['max_abs']:>11g}{block:>7}  {shown}"
        )
    w = max([14] + [len(f["name"]) + 1 for f in info["named_formats"]])
    print(f"{'named format':<{w}}{'bits':>5}{'block':>7}{'b/elt':>10}  source")
    for f in info["named_formats"]:
        print(
            f"{f['name']:<{w}}{f['bits']:>5}{f['block_size']:>7}{f['bits_per_element']:>10g}"
            f"  {f['source']}"
        )
    print(
        "candidate sets: "
        + ", ".join(f"{k} ({v['size']})" for k, v in info["candidate_sets"].items())
    )
    return 0
