"""Small validation helpers shared by the YAML loaders (dict in, issues out)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from mant.errors import InputError, Issue, IssueCollector

__all__ = ["check_keys", "require_int", "require_number", "reprefix", "in_file"]


def check_keys(
    data: Any,
    path: str,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
    collector: IssueCollector | None = None,
) -> bool:
    """Check that ``data`` is a mapping with every required key and no unknown key.

    An unknown key names the nearest valid key (``difflib``) and lists the valid ones:
    ``array.colums: unknown key (did you mean 'cols'?); valid keys are rows, cols, ...``.
    Returns whether ``data`` is a mapping. Raises at once when no collector is given.

    Example:
        >>> c = IssueCollector()
        >>> check_keys({"rows": 1, "colums": 2}, "array", required=("rows", "cols"), collector=c)
        True
        >>> str(c.issues[0])
        "array.colums: unknown key (did you mean 'cols'?); valid keys are rows, cols, got 'colums'"
    """
    own = collector is None
    c = IssueCollector() if collector is None else collector
    required = tuple(required)
    known = list(dict.fromkeys([*required, *optional]))
    if not isinstance(data, Mapping):
        c.add(path or "<root>", "must be a mapping", data)
        is_mapping = False
    else:
        is_mapping = True
        for key in data:
            if key in known:
                continue
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            where = f"{path}.{key}" if path else str(key)
            c.add(where, f"unknown key{hint}; valid keys are {', '.join(known)}", key)
        for key in required:
            if key not in data:
                c.add(f"{path}.{key}" if path else key, "is required", None)
    if own:
        c.raise_if_any()
    return is_mapping


def in_file(error: InputError, file: str) -> InputError:
    """The same issues with the file they come from in front of each path."""
    return InputError(Issue(f"{file}: {i.path}", i.rule, i.value) for i in error.issues)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_int(c: IssueCollector, value: Any, path: str, minimum: int = 1) -> bool:
    """Record an issue unless ``value`` is an int >= ``minimum``."""
    return c.check(
        _is_int(value) and value >= minimum, path, f"must be an int >= {minimum}", value
    )


def require_number(
    c: IssueCollector,
    value: Any,
    path: str,
    *,
    positive: bool = True,
    allow_zero: bool = False,
    maximum: float | None = None,
) -> bool:
    """Record an issue unless ``value`` is a finite number (> 0, or >= 0 with ``allow_zero``;
    at most ``maximum`` when given)."""
    ok = (isinstance(value, int | float) and not isinstance(value, bool)) and value == value
    ok = ok and value not in (float("inf"), float("-inf"))
    if ok and positive:
        ok = value >= 0 if allow_zero else value > 0
    if ok and maximum is not None:
        ok = value <= maximum
    rule = "must be a number" + ((" >= 0" if allow_zero else " > 0") if positive else "")
    if maximum is not None:
        rule += f" and <= {maximum:g}"
    return c.check(ok, path, rule, value)


def reprefix(error: InputError, old: str, new: str) -> InputError:
    """The same issues with the leading path component ``old`` replaced by ``new``."""
    issues = []
    for issue in error.issues:
        p = issue.path
        if p == old or p.startswith(old + "."):
            p = new + p[len(old) :]
        issues.append(Issue(p, issue.rule, issue.value))
    return InputError(issues)
