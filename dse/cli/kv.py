"""``mant-dse kv``: quantize a K/V pair from an ``.npz`` file as a recipe's KV cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "kv",
        help="quantize K and V (kv_heads, tokens, head_dim) as a recipe's KV cache",
        description=(
            "Reads K and V, shaped (kv_heads, tokens, head_dim) and taken after RoPE, from an "
            ".npz file and quantizes them as a prefill of that many tokens under the recipe's "
            "key/value setting (default mant-hpca25: K per token, V per channel in groups of "
            "64 tokens, the last tokens mod 64 V tokens left unquantized as the authors' "
            "prefill does; a = 0 / 25 / INT4 by var(x/absmax)). Prints relative MSE and the "
            "per-group type histograms."
        ),
    )
    parser.add_argument("file", help=".npz file holding K and V")
    parser.add_argument("--k", default="K", help="name of the K array in the file (default K)")
    parser.add_argument("--v", default="V", help="name of the V array in the file (default V)")
    parser.add_argument(
        "--recipe", default="mant-hpca25", help="named recipe or YAML file (default mant-hpca25)"
    )
    parser.add_argument("--kv", default=None, help="replace the recipe's K/V part, e.g. int4:g64")
    parser.add_argument("--oracle", action="store_true", help="also report MSE / oracle MSE")
    parser.add_argument("--save", metavar="OUT.npz", help="write the dequantized K and V here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _load(path: str, k_name: str, v_name: str) -> tuple[Any, Any]:
    import numpy as np

    from mant.errors import InputError, IssueCollector

    p = Path(path)
    if not p.is_file():
        raise InputError.single("file", "must be an existing .npz file", path)
    try:
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            arrays = {n: z[n] for n in (k_name, v_name) if n in names}
    except (OSError, ValueError) as exc:
        raise InputError.single("file", "must be a readable .npz file", f"{path}: {exc}") from None
    c = IssueCollector()
    for flag, name in (("k", k_name), ("v", v_name)):
        if name not in arrays:
            c.add(f"--{flag}", f"must name an array in the file ({', '.join(names)})", name)
        elif arrays[name].ndim != 3:
            c.add(flag, "must have shape (kv_heads, tokens, head_dim)", arrays[name].shape)
    c.raise_if_any()
    return arrays[k_name], arrays[v_name]


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    from dse.study.recipe_io import load_recipe
    from mant.errors import InputError
    from mant.kv import quantize_kv

    recipe = load_recipe(args.recipe, "recipe")
    if args.kv is not None:
        recipe = recipe.with_overrides(kv=args.kv)
    cfg = recipe.kv_config()
    if cfg is None:
        raise InputError.single(
            "recipe", "must quantize the KV cache (key and value)", recipe.name
        )
    k, v = _load(args.file, args.k, args.v)
    res = quantize_kv(k, v, cfg, compare_oracle=args.oracle)
    out: dict[str, Any] = {
        "recipe": recipe.name,
        "k_rel_mse": res.k.rel_mse,
        "v_rel_mse": res.v.rel_mse,
        "k_choice_histogram": res.k.choice_histogram(),
        "v_choice_histogram": res.v.choice_histogram(),
        "k_grouping": cfg.k_grouping.value,
        "v_grouping": cfg.v_grouping.value,
        "selection": cfg.selection.value,
        "group_size": cfg.group_size,
        "bits_per_element": cfg.bits_per_element,
        "k_unquantized_tokens": res.k.residual_tokens,
        "v_unquantized_tokens": res.v.residual_tokens,
    }
    if args.oracle:
        out["k_oracle_ratio"] = res.k.oracle_ratio
        out["v_oracle_ratio"] = res.v.oracle_ratio
    if args.save:
        dest = Path(args.save)
        with dest.open("wb") as fh:  # np.savez on a path would append .npz
            np.savez(fh, K=res.k.dequantized, V=res.v.dequantized)
        out["saved"] = str(dest)
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    print(
        f"recipe {recipe.name}: {cfg.candidates} g{cfg.group_size} {cfg.selection.value}, "
        f"K per {cfg.k_grouping.value}, V per {cfg.v_grouping.value}"
    )
    for name in ("k", "v"):
        hist = ", ".join(f"{n} {c}" for n, c in out[f"{name}_choice_histogram"].items())
        print(f"{name.upper()}  rel MSE {out[f'{name}_rel_mse']:.4e}   groups: {hist or 'none'}")
    if args.save:
        print(f"wrote {args.save}")
    return 0
