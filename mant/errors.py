"""One exception hierarchy for the whole toolkit.

Every user-facing entry point (YAML specs, CLI flags, tensor files, accelerator files)
reports bad input by raising :class:`InputError` with one :class:`Issue` per problem;
the CLI prints them and exits with status 2.

Example:
    >>> raise InputError([Issue("hwmodel.array.rows", "must be an int >= 1", 0)])
    Traceback (most recent call last):
    ...
    mant.errors.InputError: hwmodel.array.rows: must be an int >= 1, got 0
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Issue", "MantDseError", "InputError", "IssueCollector", "reject_unknown_keys"]


class MantDseError(Exception):
    """Base class of every error the toolkit raises on purpose."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with user input: where it is, the rule it breaks, and the value found."""

    path: str
    rule: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}, got {_show(self.value)}"


# a message shows at most this much of a value; reprlib never renders more than a few items of a
# container, so a huge (or self-referencing, or alias-expanded) value costs no time either
_MAX_SHOWN = 80
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 8, 8, 8
_REPR.maxstring = _REPR.maxother = _MAX_SHOWN
_REPR.maxlong = 40


def _show(value: Any) -> str:
    text = _REPR.repr(value) if isinstance(value, list | tuple | dict | set | str) else repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class InputError(MantDseError, ValueError):
    """Bad user input. Holds every issue found, one line each."""

    def __init__(self, issues: Issue | Iterable[Issue]):
        self.issues: tuple[Issue, ...] = (issues,) if isinstance(issues, Issue) else tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def single(cls, path: str, rule: str, value: Any = None) -> InputError:
        return cls(Issue(path, rule, value))


class IssueCollector:
    """Collects issues while validating, then raises them all at once.

    Example:
        >>> c = IssueCollector()
        >>> c.check(3 > 0, "g", "must be > 0", 3)
        True
        >>> c.raise_if_any()
    """

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, rule: str, value: Any = None) -> None:
        self.issues.append(Issue(path, rule, value))

    def check(self, ok: bool, path: str, rule: str, value: Any = None) -> bool:
        if not ok:
            self.add(path, rule, value)
        return ok

    def check_keys(
        self, data: Any, path: str, *, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> bool:
        """Records a non-mapping, every unknown key (listing the valid ones) and every missing
        required key. Returns whether ``data`` is a mapping.

        Example:
            >>> c = IssueCollector()
            >>> c.check_keys({"rows": 1, "colour": 2}, "array", allowed=("rows", "cols"))
            True
            >>> str(c.issues[0])
            "array.colour: unknown key; valid keys are rows, cols, got 'colour'"
        """
        if not isinstance(data, Mapping):
            self.add(path or "<root>", "must be a mapping", data)
            return False
        required = tuple(required)
        known = list(dict.fromkeys([*required, *allowed]))
        for key in data:
            if key not in known:
                self.add(_join(path, key), f"unknown key; valid keys are {', '.join(known)}", key)
        for key in required:
            if key not in data:
                self.add(_join(path, key), "is required", None)
        return True

    def extend(self, error: InputError, prefix: str = "") -> None:
        for issue in error.issues:
            path = f"{prefix}.{issue.path}" if prefix and issue.path else (prefix or issue.path)
            self.issues.append(Issue(path, issue.rule, issue.value))

    def raise_if_any(self) -> None:
        if self.issues:
            raise InputError(self.issues)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def reject_unknown_keys(data: Mapping[str, Any], path: str, valid: Iterable[str]) -> None:
    """Raises one :class:`InputError` naming every key of ``data`` outside ``valid``.

    Example:
        >>> reject_unknown_keys({"axis": 0}, "quant", ("axis", "group_size"))
    """
    valid = tuple(valid)
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise InputError.single(path, "unknown keys; valid: " + ", ".join(valid), unknown)
