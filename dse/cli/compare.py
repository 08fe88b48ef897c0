"""``mant-dse compare FILE``: rank formats, group sizes and scale formats over a file's tensors.

Answers "which format and group size for my checkpoint at <= X bits?" in one call: every
combination of ``--candidates`` x ``--group-size`` x ``--scale-format`` within ``--max-bits``
quantizes every (or every named) tensor, and the settings are ranked by the aggregate relative
MSE (sum of squared errors / sum of squares over all tensors, :mod:`mant.compare`).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

__all__ = ["CANDIDATE_LISTS", "register"]

# Named lists of candidates for ``--candidates``: each expands to its entries in place.
CANDIDATE_LISTS: dict[str, tuple[str, ...]] = {
    # M-ANT against the 2025-26 formats (issue 20), each at its own block size (BitMoD 128,
    # HiF4 64, MX / MX+ / M2XFP / RaZeR-MX / BlockDialect 32, NVFP4 / 4-over-6 / RaZeR-NV /
    # mxfp4_g16 16); INT4 for reference
    "formats-2026": (
        "mant-unicore16",
        "m2xfp4_w",
        "m2xfp4_a",
        "nvfp4",
        "nvfp4_4over6",
        "razer_nvfp4",
        "mxfp4",
        "mxfp4_g16",
        "razer_mxfp4",
        "mxplus_fp4",
        "blockdialect_fp4",
        "blockdialect_fp4_a",
        "bitmod_fp4",
        "hif4",
        "int4",
    ),
}

_CSV_FIELDS = (
    "rank",
    "candidates",
    "group_size",
    "scale_format",
    "bits_per_element",
    "rel_mse",
    "sqnr_db",
    "n_tensors",
    "n_elements",
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare",
        help="rank candidate sets x group sizes x scale formats over a file's tensors",
        description=(
            "Quantize every tensor of FILE (.npy, .npz, .safetensors, .gguf; without --tensor, "
            "every float tensor with 2 or more dimensions) with every setting within the budget "
            "and rank the settings by rel_mse = sum of squared errors / sum of squares over all "
            "tensors. GGUF tensors stored quantized (e.g. Q4_1) are dequantized first: the "
            "error is then measured against the stored values."
        ),
    )
    p.add_argument("file", metavar="FILE", help="tensor file (.npy, .npz, .safetensors, .gguf)")
    p.add_argument(
        "--tensor",
        action="append",
        default=None,
        metavar="NAME",
        help="a tensor to include (repeat for several; default all with ndim >= 2)",
    )
    p.add_argument(
        "--candidates",
        required=True,
        metavar="SET[,SET...]",
        help="candidate sets to compare: named sets (mant-unicore16, ant, ...), format names "
        "(int4, mxfp4, ...), formats joined by '+' into one set (mant4_a17+int4), or a named "
        "list of candidates: formats-2026 (MANT against the 2025-26 formats and INT4)",
    )
    p.add_argument(
        "--group-size",
        required=True,
        metavar="G[,G...]",
        help="group sizes, e.g. 32,64,128 (block formats keep their own)",
    )
    p.add_argument(
        "--scale-format",
        default="fp16",
        metavar="F[,F...]",
        help="group scale formats (default fp16; block formats keep their own)",
    )
    p.add_argument(
        "--max-bits", type=float, default=None, metavar="B", help="bits-per-element budget"
    )
    p.add_argument("--axis", type=int, default=-1, help="axis the groups run along (default -1)")
    p.add_argument("--csv", metavar="OUT", default=None, help="also write the ranking as CSV")
    p.add_argument("--json", action="store_true", help="print the ranked rows as a JSON list")
    p.set_defaults(func=run)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _candidates(text: str) -> list[str]:
    """``--candidates`` with named lists (:data:`CANDIDATE_LISTS`) expanded, duplicates once."""
    out: list[str] = []
    for t in _split(text):
        for c in CANDIDATE_LISTS.get(t, (t,)):
            if c not in out:
                out.append(c)
    return out


def _group_sizes(text: str) -> list[int]:
    from dse.cli.quantize import MAX_GROUP_SIZE
    from mant.errors import InputError

    out = []
    for part in _split(text) or [text]:
        try:
            g = int(part)
        except ValueError:
            g = 0
        if not 1 <= g <= MAX_GROUP_SIZE:
            raise InputError.single(
                "--group-size", f"must be comma-separated ints in 1..{MAX_GROUP_SIZE}", text
            )
        out.append(g)
    return out


def _check_args(args: argparse.Namespace) -> None:
    from mant.errors import IssueCollector

    c = IssueCollector()
    c.check(bool(_split(args.candidates)), "--candidates", "must name a set", args.candidates)
    c.check(
        bool(_split(args.scale_format)), "--scale-format", "must name a format", args.scale_format
    )
    mb = args.max_bits
    c.check(mb is None or (math.isfinite(mb) and mb > 0), "--max-bits", "must be a number > 0", mb)
    c.raise_if_any()


def _settings(args: argparse.Namespace) -> list[Any]:
    """The grid, with errors renamed to the flags they came from."""
    from mant.compare import settings_grid
    from mant.errors import InputError

    _check_args(args)
    cands = _candidates(args.candidates)
    try:
        return settings_grid(
            cands,
            _group_sizes(args.group_size),
            _split(args.scale_format),
            max_bits=args.max_bits,
            axis=args.axis,
        )
    except InputError as exc:
        raise InputError([_rename(i, cands) for i in exc.issues]) from None


def _rename(issue: Any, cands: list[str]) -> Any:
    from mant.errors import Issue

    path = issue.path
    if path.startswith("candidates["):
        i = int(path[len("candidates[") : path.index("]")])
        flag = "--group-size" if path.endswith("group_size") else "--candidates"
        path = f"{flag} ({cands[i]})" if flag == "--group-size" else f"--candidates {cands[i]}"
    elif path == "max_bits":
        path = "--max-bits"
    elif path.endswith("scale_format"):
        path = "--scale-format"
    elif path.endswith("group_size"):
        path = "--group-size"
    return Issue(path, issue.rule, issue.value)


def _tensors(args: argparse.Namespace) -> tuple[list[str], Any]:
    """Names to quantize and a lazy (name, array) iterator over them."""
    from mant.errors import InputError
    from mant.tensor_io import iter_tensors, tensor_info

    names = args.tensor
    if names is None:
        info = tensor_info(args.file)
        names = [n for n, t in info.items() if len(t.shape) >= 2 and t.floating]
        if not names:
            raise InputError.single(
                args.file, "must hold a float tensor with 2 or more dimensions", list(info)
            )
    return names, ((t.name, t.array) for t in iter_tensors(args.file, names))


def run(args: argparse.Namespace) -> int:
    import time

    from tqdm.auto import tqdm

    from mant.compare import compare_settings

    settings = _settings(args)
    names, tensors = _tensors(args)
    start = time.perf_counter()
    with tqdm(
        total=len(names) * len(settings), unit="q", desc="compare", disable=None, leave=False
    ) as bar:

        def step(name: str, setting: Any) -> None:
            bar.set_postfix_str(name[-32:], refresh=False)
            bar.update()

        scores = compare_settings(tensors, settings, on_step=step)
    seconds = time.perf_counter() - start
    rows = [{"rank": k + 1, **s.to_dict()} for k, s in enumerate(scores)]
    if args.csv:
        _write_csv(args.csv, rows)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "rank"} for r in rows]))
        return 0
    n = scores[0]
    print(
        f"{args.file}: {n.n_tensors} tensor(s), {n.n_elements:,} values, "
        f"{len(settings)} setting(s)"
        + (f" within {args.max_bits:g} bits/element" if args.max_bits is not None else "")
        + f" ({seconds:.1f} s)"
    )
    print(
        f"{'#':>3}  {'candidates':<22}{'g':>5}  {'scale':<6}{'bits':>8}{'rel_mse':>12}{'sqnr':>8}"
    )
    for r in rows:
        sq = "inf" if math.isinf(r["sqnr_db"]) else f"{r['sqnr_db']:.2f}"
        print(
            f"{r['rank']:>3}  {r['candidates']:<22}{r['group_size']:>5}  {r['scale_format']:<6}"
            f"{r['bits_per_element']:>8g}{r['rel_mse']:>12.4e}{sq:>8}"
        )
    if args.csv:
        print(f"wrote {args.csv}")
    return 0


def _write_csv(path: str, rows: list[dict[str, Any]]) -> None:
    import csv
    import io
    from pathlib import Path

    from mant.atomic_write import write_text_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(Path(path), buf.getvalue())
