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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Issue", "MantDseError", "InputError", "IssueCollector"]


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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


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

    def extend(self, error: InputError, prefix: str = "") -> None:
        for issue in error.issues:
            path = f"{prefix}.{issue.path}" if prefix and issue.path else (prefix or issue.path)
            self.issues.append(Issue(path, issue.rule, issue.value))

    def raise_if_any(self) -> None:
        if self.issues:
            raise InputError(self.issues)
