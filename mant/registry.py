"""One registry of group quantizers, keyed by format family (``Format.family``).

:func:`mant.quantize.quantize_groups` asks :func:`group_quantizer` for the family of a candidate
set's formats; a family with no entry gets the default grid quantizer (absmax scale per
candidate rounded to the scale format, nearest level, least-error candidate), which serves
every sign-symmetric grid: ``int``, ``pot``, ``flint``, ``fp``, ``mant``, the block formats
(MX, NVFP4: their block-scale rule) and any :class:`mant.formats.LevelsFormat`. A family with its
own rounding (OliVe's outlier-victim pairs, a sub-block scale) registers its quantizer here.

How to add a format (``docs/architecture.md``): one module that defines the :class:`Format`
(or a :class:`~mant.formats.LevelsFormat` value), one ``mant.formats.register_format`` call for
its name, and, only if the default quantizer does not fit, one ``@register_group_quantizer``.

Example:
    >>> import mant.quantize  # registers the shipped quantizers (OliVe's)
    >>> "olive" in registered_families()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from mant.candidates import CandidateSet
    from mant.result import GroupQuant
    from mant.scales import ScaleFormat

__all__ = [
    "GroupQuantizer",
    "group_quantizer",
    "register_group_quantizer",
    "registered_families",
    "unregister_group_quantizer",
]


class GroupQuantizer(Protocol):
    """Quantizes the rows of ``groups`` (``(n_groups, g)`` float32, ``lengths`` valid values
    each) with the candidates of ``cs``: the best per group, or ``choice`` when given."""

    def __call__(
        self,
        groups: np.ndarray,
        lengths: np.ndarray,
        cs: CandidateSet,
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
