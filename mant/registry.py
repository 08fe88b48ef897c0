"""One registry of group quantizers, keyed by format family (``Format.family``).

:func:`mant.quantize.quantize_groups` asks :func:`group_quantizer` for the family of a candidate
set's formats; a family with no entry gets the default grid quantizer (absmax scale per
candidate rounded to the scale format, nearest level, least-error candidate), which serves
every sign-symmetric grid: ``int``, ``pot``, ``flint``, ``fp``, ``mant`` and any
:class:`mant.formats.LevelsFormat`. A family with its own rule registers its quantizer here:
``olive`` (outlier-victim pairs) and ``block`` (MX / NVFP4 block scales) in
:mod:`mant.quantize`, ``adaptive_block`` and ``level_lists`` in :mod:`mant.formats2026`. This is
the only dispatch of :func:`mant.quantize.quantize_groups`.

How to add a format (``docs/architecture.md``): one module that defines the :class:`Format`
(or a :class:`~mant.formats.LevelsFormat` value), one ``mant.formats.register_format`` call for
its name, and, only if the default quantizer does not fit, one ``@register_group_quantizer``.

Example:
    >>> import mant.quantize  # registers the shipped quantizers
    >>> sorted(registered_families())
    ['adaptive_block', 'block', 'level_lists', 'olive']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy as np

    from mant.formats import Format
    from mant.result import GroupQuant
    from mant.scales import ScaleFormat

__all__ = [
    "CandidateFamily",
    "CandidatesLike",
    "GroupQuantizer",
    "candidate_family",
    "register_candidate_family",
    "group_quantizer",
    "register_group_quantizer",
    "registered_families",
    "unregister_group_quantizer",
]


class CandidatesLike(Protocol):
    """What a group quantizer reads of a :class:`mant.candidates.CandidateSet`."""

    @property
    def formats(self) -> tuple[Format, ...]: ...

    @property
    def names(self) -> tuple[str, ...]: ...


class GroupQuantizer(Protocol):
    """Quantizes the rows of ``groups`` (``(n_groups, g)`` float32, ``lengths`` valid values
    each) with the candidates of ``cs``: the best per group, or ``choice`` when given."""

    def __call__(
        self,
        groups: np.ndarray,
        lengths: np.ndarray,
        cs: CandidatesLike,
        scale_format: ScaleFormat,
        choice: np.ndarray | None,
        clip_search: bool,
    ) -> GroupQuant: ...


_GROUP_QUANTIZERS: dict[str, GroupQuantizer] = {}


def register_group_quantizer(family: str) -> Callable[[GroupQuantizer], GroupQuantizer]:
    """Decorator: ``fn`` quantizes every candidate set whose formats are of ``family``.

    Raises:
        ValueError: the family has a quantizer already.
    """

    def add(fn: GroupQuantizer) -> GroupQuantizer:
        key = str(family)
        if key in _GROUP_QUANTIZERS:
            raise ValueError(f"a group quantizer for family {key!r} is registered already")
        _GROUP_QUANTIZERS[key] = fn
        return fn

    return add


def unregister_group_quantizer(family: str) -> None:
    """Remove a family's quantizer (tests, notebooks); unknown: no-op."""
    _GROUP_QUANTIZERS.pop(str(family), None)


def group_quantizer(family: str) -> GroupQuantizer | None:
    """The quantizer registered for ``family``, or None (the default grid quantizer)."""
    return _GROUP_QUANTIZERS.get(str(family))


def registered_families() -> tuple[str, ...]:
    """Families with a quantizer of their own (registered once their module is imported)."""
    return tuple(_GROUP_QUANTIZERS)


CandidateFamily = Callable[["Mapping[str, Any]"], "tuple[str, tuple[Format, ...]]"]
"""Builds a candidate set from a family dict: ``spec -> (set label, members)``."""

_CANDIDATE_FAMILIES: dict[str, CandidateFamily] = {}


def register_candidate_family(family: str, build: CandidateFamily) -> None:
    """Let :func:`mant.candidates.candidate_set` build ``{"family": family, ...}`` dicts with
    ``build`` (a format family defined by data: ``levels``, ``subblock``).

    Raises:
        ValueError: the family has a builder already.
    """
    if family in _CANDIDATE_FAMILIES:
        raise ValueError(f"a candidate family {family!r} is registered already")
    _CANDIDATE_FAMILIES[family] = build


def candidate_family(family: Any) -> CandidateFamily | None:
    """The builder registered for a family dict's ``family``, or None."""
    return _CANDIDATE_FAMILIES.get(family) if isinstance(family, str) else None
