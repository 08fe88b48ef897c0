"""Bit widths of the operands a layer runs at: weights, activations and the KV cache.

The bits *per element* include the group metadata (scale and type selector) that travels with
the values; ``mant.bits_per_element`` computes them (``mant.md`` §4), and this module only calls
it (no second copy of the formula).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mant import bits_per_element
from mant.errors import IssueCollector

__all__ = ["Precision"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Precision:
    """Operand precisions of a layer.

    Attributes:
        weight_bits: Element width of weights in bits (selects the PE mode).
        weight_bits_per_element: Weight storage/traffic bits per element incl. metadata.
        act_bits: Activation element width in bits (selects the PE mode).
        kv_bits: KV-cache element width in bits (the B operand of attention GEMMs).
        kv_bits_per_element: KV storage/traffic bits per element incl. metadata.
        group_size: Elements per quantization group along the reduction dimension.
        act_bits_per_element: Activation traffic bits per element; defaults to ``act_bits``.

    Example:
        >>> Precision(weight_bits=4, weight_bits_per_element=4.3125, act_bits=8, kv_bits=4,
        ...           kv_bits_per_element=4.25, group_size=64).act_bits_per_element
        8.0
    """

    weight_bits: int
    weight_bits_per_element: float
    act_bits: int
    kv_bits: int
    kv_bits_per_element: float
    group_size: int = 64
    act_bits_per_element: float = field(default=-1.0)

    def __post_init__(self) -> None:
        c = IssueCollector()
        for name in ("weight_bits", "act_bits", "kv_bits", "group_size"):
            value = getattr(self, name)
            c.check(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"precision.{name}",
                "must be an int >= 1",
                value,
            )
        if self.act_bits_per_element == -1.0 and isinstance(self.act_bits, int):
            object.__setattr__(self, "act_bits_per_element", float(self.act_bits))
        for name, bits in (
            ("weight_bits_per_element", "weight_bits"),
            ("kv_bits_per_element", "kv_bits"),
            ("act_bits_per_element", "act_bits"),
        ):
            value = getattr(self, name)
            base = getattr(self, bits)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and isinstance(base, int) and value >= base
            c.check(ok, f"precision.{name}", f"must be a number >= {bits}", value)
        c.raise_if_any()
        for name in ("weight_bits_per_element", "kv_bits_per_element", "act_bits_per_element"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @classmethod
    def grouped(
        cls,
        *,
        weight_bits: int,
        act_bits: int,
        kv_bits: int,
        group_size: int = 64,
        scale_bits: int = 16,
        weight_selector_bits: int = 4,
        kv_selector_bits: int = 0,
    ) -> Precision:
        """A group-quantized precision with bits per element from ``mant``'s accounting.

        Example:
            >>> p = Precision.grouped(weight_bits=4, act_bits=8, kv_bits=4)
            >>> p.weight_bits_per_element, p.kv_bits_per_element
            (4.3125, 4.25)
        """
        return cls(
            weight_bits=weight_bits,
            weight_bits_per_element=bits_per_element(
                weight_bits, group_size, scale_bits, weight_selector_bits
            ),
            act_bits=act_bits,
            kv_bits=kv_bits,
            kv_bits_per_element=bits_per_element(
                kv_bits, group_size, scale_bits, kv_selector_bits
            ),
            group_size=group_size,
        )

    @classmethod
    def from_recipe(cls, recipe: Any) -> Precision:
        """The precision a :class:`mant.recipe.Recipe` asks of the hardware.

        Element bits pick the PE mode; bits per element (metadata included) set the traffic and
        storage. Weights take the widest projection kind; unquantized kinds count 16 bits.

        Example:
            >>> from mant.recipes import named_recipe
            >>> p = Precision.from_recipe(named_recipe("mant-hpca25"))
            >>> p.weight_bits, p.weight_bits_per_element, p.act_bits, p.kv_bits_per_element
            (4, 4.3125, 8, 4.28125)
        """
        return cls(
            weight_bits=recipe.weight_bits,
            weight_bits_per_element=recipe.weight_bits_per_element,
            act_bits=recipe.act_bits,
            act_bits_per_element=recipe.act_bits_per_element,
            kv_bits=recipe.kv_bits,
            kv_bits_per_element=recipe.kv_bits_per_element,
            group_size=recipe.group_size,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping (YAML/JSON); ``Precision.from_dict(p.to_dict()) == p``."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_dict(cls, data: Any, path: str = "precision") -> Precision:
        """Validate a mapping into a Precision; unknown keys are input errors."""
        from hwmodel._validate import check_keys

        check_keys(data, path, required=_REQUIRED, optional=_FIELDS)
        return cls(**data)


_FIELDS = (
    "weight_bits",
    "weight_bits_per_element",
    "act_bits",
    "kv_bits",
    "kv_bits_per_element",
    "group_size",
    "act_bits_per_element",
)
_REQUIRED = _FIELDS[:5]
