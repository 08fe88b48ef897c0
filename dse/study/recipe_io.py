"""Recipe files: a :class:`mant.recipe.Recipe` read from and written to YAML.

A recipe argument anywhere in the toolkit (study YAML ``recipe:``, ``--recipe`` on the CLI, the
reproduce config, exported designs) is a shipped name (``mant-dse recipes``), a path to a YAML
file with the schema of ``docs/recipes.md``, or an inline mapping. ``dump_recipe`` writes the
file that ``load_recipe`` reads back to an equal value.

Example:
    >>> r = load_recipe("mant-hpca25")
    >>> load_recipe(yaml.safe_load(recipe_yaml(r))) == r
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mant.atomic_write import write_text_atomic
from mant.errors import InputError
from mant.recipe import Recipe
from mant.recipes import RECIPES, named_recipe, parse_recipe_arg

__all__ = ["dump_recipe", "load_recipe", "recipe_yaml"]


def load_recipe(value: Any, path: str = "recipe") -> Recipe:
    """A recipe from a shipped name, a YAML file path, a mapping or a Recipe.

    Raises:
        InputError: unknown name, unreadable or invalid file, or any recipe problem.
    """
    if isinstance(value, Recipe | Mapping):
        return parse_recipe_arg(value, path)
    if not isinstance(value, str | Path):
        raise InputError.single(path, "must be a recipe name, a YAML file or a mapping", value)
    text = str(value)
    if text in RECIPES:
        return named_recipe(text, path)
    p = Path(text)
    if p.suffix.lower() not in (".yaml", ".yml") and not p.exists():
        raise InputError.single(
            path, "must be a named recipe (" + ", ".join(RECIPES) + ") or a YAML file", text
        )
    try:
        raw = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError.single(path, f"cannot read recipe file ({reason})", text) from None
    from mant.yaml_input import load_yaml_text

    return Recipe.from_dict(load_yaml_text(raw, where=text), text)


def recipe_yaml(recipe: Recipe) -> str:
    """The YAML text of a recipe (keys in schema order)."""
    return yaml.safe_dump(recipe.to_dict(), sort_keys=False, width=99, allow_unicode=True)


def dump_recipe(recipe: Recipe, dest: str | Path) -> Path:
    """Writes ``recipe`` as YAML to ``dest`` atomically and returns the path."""
    dest = Path(dest)
    write_text_atomic(dest, recipe_yaml(recipe))
    return dest
