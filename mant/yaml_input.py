"""Reading a user's YAML file strictly: UTF-8 only, no duplicate keys, a bounded number of aliases.

``yaml.safe_load`` keeps the last of two equal keys (a silent override), accepts any alias
(a "billion laughs" document of a few lines expands to a value whose rendering never ends) and
reads a Latin-1 file as an exception from deep inside the decoder. :func:`load_yaml_text` and
:func:`load_yaml_file` turn each into one :class:`mant.errors.InputError` line.

Example:
    >>> load_yaml_text("a: 1\\nb: [2, 3]\\n", where="demo.yaml")
    {'a': 1, 'b': [2, 3]}
    >>> load_yaml_text("a: 1\\na: 2\\n", where="demo.yaml")
    Traceback (most recent call last):
    ...
    mant.errors.InputError: demo.yaml:2: duplicate key (YAML keeps only the last one), got 'a'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mant.errors import InputError

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "StrictLoader",
    "check_depth",
    "load_yaml_file",
    "load_yaml_text",
]

MAX_ALIASES = 100
# no input of the toolkit nests deeper than a few levels; a value nested thousands deep would
# exhaust Python's recursion limit in the parser or in any code that walks it
MAX_DEPTH = 64


def check_depth(value: Any, *, where: str, limit: int = MAX_DEPTH) -> None:
    """Rejects a parsed value (lists and mappings) nested more than ``limit`` levels deep.

    Walks the value without recursion, so any depth is safe to check.

    Raises:
        InputError: ``where: is nested more than LIMIT levels deep``.
    """
    stack = [(value, 1)]
    seen: set[int] = set()
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, list | dict) or id(node) in seen:
            continue
        if depth > limit:
            raise InputError.single(where, f"is nested more than {limit} levels deep", "...")
        seen.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader rejecting duplicate mapping keys and more than :data:`MAX_ALIASES` aliases."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.where = "yaml"
        self.n_aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.n_aliases += 1
            if self.n_aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise InputError.single(
                    f"{self.where}:{mark.line + 1}",
                    f"uses more than {MAX_ALIASES} YAML aliases (&/*), which is not a study",
                    self.n_aliases,
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # unhashable key: SafeConstructor reports it
                    continue
                if duplicate:
                    raise InputError.single(
                        f"{self.where}:{key_node.start_mark.line + 1}",
                        "duplicate key (YAML keeps only the last one)",
                        key,
                    )
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1.0e9 and 1e9 as text: its floats need a dot and a signed exponent
# (1.0e+9). YAML 1.2 and every user read them as numbers; so does this loader.
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml_text(text: str, *, where: str) -> Any:
    """Parses YAML text strictly; ``where`` names the source in messages (a path)."""
    loader = StrictLoader(text)
    loader.where = where
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise InputError.single(at, "is not valid YAML", str(exc).splitlines()[0]) from None
    except RecursionError:
        raise InputError.single(
            where, f"is nested more than {MAX_DEPTH} levels deep", "..."
        ) from None
    finally:
        loader.dispose()
    check_depth(data, where=where)
    return data


def load_yaml_file(path: str | Path, *, what: str = "file") -> Any:
    """Reads and parses a YAML file strictly.

    Raises:
        InputError: unreadable, not UTF-8, not valid YAML, a duplicate key or an alias bomb.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError.single(str(p), f"cannot read {what} ({exc.strerror})", str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError.single(
            f"{p}:{line}", f"{what} must be UTF-8 text", data[exc.start : exc.start + 4]
        ) from None
    return load_yaml_text(text, where=str(p))
