"""``mant-dse recipes``: the shipped quantization recipes, or one of them as YAML."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "recipes", help="list the named quantization recipes with their bits per element"
    )
    p.add_argument("name", nargs="?", help="print this recipe (name or YAML file) as YAML")
    p.add_argument("--to", metavar="FILE", help="write the recipe to FILE instead of printing")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _row(recipe: Any) -> dict[str, Any]:
    from dse.study.pe_recipes import native_pe_of

    return {
        "name": recipe.name,
        "native_pe": native_pe_of(recipe.name),
        "summary": recipe.summary(),
        "weight_bits_per_element": recipe.weight_bits_per_element,
        "act_bits_per_element": recipe.act_bits_per_element,
        "kv_bits_per_element": recipe.kv_bits_per_element,
        "description": recipe.description,
    }


def run(args: argparse.Namespace) -> int:
    from dse.study.recipe_io import dump_recipe, load_recipe, recipe_yaml
    from mant.recipes import named_recipe, recipe_names

    if args.name is not None:
        recipe = load_recipe(args.name, "recipes.name")
        if args.to:
            print(f"wrote {dump_recipe(recipe, args.to)}")
        elif args.json:
            print(json.dumps(recipe.to_dict(), indent=1))
        else:
            print(recipe_yaml(recipe), end="")
        return 0
    rows = [_row(named_recipe(n)) for n in recipe_names()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    w = max([15] + [len(r["name"]) for r in rows])
    print(
        f"{'recipe':<{w}} {'kind':<12} {'W bits/el':>9} {'A bits/el':>9} {'KV bits/el':>10} "
        f"{'native PE':<10} about"
    )
    for r in rows:
        print(
            f"{r['name']:<{w}} {r['summary']:<12} {r['weight_bits_per_element']:>9.4g} "
            f"{r['act_bits_per_element']:>9.4g} {r['kv_bits_per_element']:>10.4g} "
            f"{r['native_pe'] or '-':<10} {r['description']}"
        )
    return 0
