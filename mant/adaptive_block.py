"""Block formats that carry their own per-block choice or sub-block metadata (issue 20).

:class:`AdaptiveBlockFormat` is a :class:`~mant.formats.BlockFormat` (so every entry point already
fixes its group size and scale format, and keeps it the only member of its candidate set) whose
block is quantized by a rule of its own instead of OCP's: a set of level lists chosen per block
(BitMoD, RaZeR), a choice between two block scales (Four Over Six), sub-block scale mantissas /
extra mantissa bits (M2XFP), a three-level scale (HiF4), a wider block max (MX+) or one of 16 FP4
dialects (BlockDialect). The rules live in :mod:`mant.formats2026`, :mod:`mant.subblock`,
:mod:`mant.hif4`, :mod:`mant.mxplus` and :mod:`mant.blockdialect`; this module holds only the
value, so all can import it.

Bits per element count every stored bit: element bits plus ``meta_bits`` per block (block scale,
selector, sub-block fields); a per-tensor fp32 scale is not counted (as for ``nvfp4``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mant.formats import BlockFormat

__all__ = ["ADAPTIVE_BLOCK_FAMILY", "AdaptiveBlockFormat"]

ADAPTIVE_BLOCK_FAMILY = "adaptive_block"
"""The family (:mod:`mant.registry` key) of every :class:`AdaptiveBlockFormat`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdaptiveBlockFormat(BlockFormat):
    """A named block format with its own quantization rule.

    Args (besides :class:`BlockFormat`'s ``label``, ``element`` (the union grid), ``block``,
    ``scale``, ``tensor_scale``):
        rule: the quantizer key (``bitmod``, ``razer_mx``, ``razer_nv``, ``fouroversix``,
            ``subblock_scale``, ``subblock_mantissa``, ``hif4``, ``mxplus``, ``blockdialect``,
            ``blockdialect_a``).
        element_bits: stored bits per element.
        meta_bits: stored metadata bits per block (scale + selector + sub-block fields).
        sets: the level lists chosen per block (grid units), in the authors' search order.
        sub: sub-block size (0: none).
        source: where the definition comes from (repository and commit, or paper).

    Example:
        >>> from mant.formats import parse_format
        >>> parse_format("razer_mxfp4").bits_per_element
        4.3125
    """

    rule: str
    element_bits: int = 4
    meta_bits: int = 8
    sets: tuple[tuple[float, ...], ...] = ()
    sub: int = 0
    source: str = ""

    @property
    def bits(self) -> int:
        return self.element_bits

    @property
    def family(self) -> str:
        return ADAPTIVE_BLOCK_FAMILY

    @property
    def bits_per_element(self) -> float:
        """Element bits plus every metadata bit of a block, per element."""
        return self.element_bits + self.meta_bits / self.block
