"""Lazy re-exports for package ``__init__`` modules (PEP 562 ``__getattr__`` / ``__dir__``).

A package lists ``name -> module`` once; ``import package`` then stays cheap (``mant-dse --help``
does not pay for numba or Optuna) while ``package.name``, ``from package import name`` and
``dir(package)`` work as with eager imports.

Example:
    >>> getattr_, dir_ = lazy_exports("mant", {"rel_mse": "mant.metrics"})
    >>> getattr_("rel_mse").__name__, "rel_mse" in dir_()
    ('rel_mse', True)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["lazy_exports"]


class _LazyPackage(ModuleType):
    """A package whose exported names win over same-named submodules.

    Importing ``mant.quantize`` (the module) makes Python set ``mant.quantize`` on the package;
    with eager re-exports the function imported afterwards replaced it. This keeps that result:
    a submodule bound under an exported name of its own binds the export instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        exports = self.__dict__.get("_lazy_exports", {})
        if (
            isinstance(value, ModuleType)
            and exports.get(name) == value.__name__ == f"{self.__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, importing ``exports[name]`` on first use and
    caching the value in the package namespace."""

    mod = sys.modules[package]
    mod.__dict__["_lazy_exports"] = dict(exports)
    mod.__class__ = _LazyPackage
    for name, value in list(vars(mod).items()):  # submodules imported before this call
        if isinstance(value, ModuleType) and exports.get(name) == value.__name__:
            setattr(mod, name, value)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
