"""Which accuracy sources a spec may name (``accuracy.source``), and their factories.

The spec parser checks ``accuracy.source`` against :func:`source_names` without importing the
evaluation layer; :mod:`dse.evaluate.accuracy` registers each source's factory here (the
built-in ones when it is imported, a plug-in's through ``dse.register_accuracy_source``).

Example:
    >>> "tensors" in source_names()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BUILTIN_SOURCES", "register_source", "source_factory", "source_names"]

# The sources dse.evaluate.accuracy defines (their factories register when it is imported).
BUILTIN_SOURCES = ("files", "perplexity", "synthetic", "tensors")

_FACTORIES: dict[str, Callable[[Any], Any]] = {}


def register_source(name: str, factory: Callable[[Any], Any]) -> None:
    """Adds (or replaces) the factory of ``accuracy.source: <name>``."""
    _FACTORIES[name] = factory


def source_names() -> list[str]:
    """Every name ``accuracy.source`` may take, sorted."""
    return sorted(set(BUILTIN_SOURCES) | set(_FACTORIES))


def source_factory(name: str) -> Callable[[Any], Any] | None:
    """The factory registered under ``name``, or None."""
    return _FACTORIES.get(name)
