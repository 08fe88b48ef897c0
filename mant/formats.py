"""Number formats: a canonical name plus a pure derivation of the value grid.

Every format is a frozen value with ``.name`` (canonical, parses back to an equal value),
``.bits`` (bits per element), ``.grid`` (sorted float64 array of every representable value,
signed, read-only) and ``.max_abs``. Grids are in *grid units*: a quantizer multiplies them by a
per-group scale.

Families and their names (``k`` = element bits):

* ``int{k}``: symmetric sign-magnitude integers ``-(2^(k-1)-1) .. 2^(k-1)-1`` (INT4 has 15 levels).
* ``int{k}_asym``: unsigned levels ``0 .. 2^k-1`` used with a per-group zero point.
* ``pot{k}``: ANT power of two, magnitudes ``{0, 2^0, .., 2^(2^(k-1)-2)}``.
* ``flint{k}``: ANT flint, magnitudes for k=4 ``{0,1,2,3,4,6,8,16}`` (source: ANT artifact
  ``clevercool/ANT-Quantization``, reproduced in mant.md §9.1); other k follow the same
  first-one-exponent construction.
* ``fp{k}_e{E}m{M}[fn|fnuz]``: binary floats with ml_dtypes semantics. 8-bit names follow
  ml_dtypes exactly (``fp8_e4m3fn`` finite with NaN at S.1111.111, ``fp8_e4m3`` IEEE-like with
  Inf, ``fp8_e5m2`` IEEE-like, ``*fnuz`` with bias + 1). Sub-8-bit floats are all finite
  (OCP MX) and print without the ``fn`` suffix (``fp4_e2m1`` == ``fp4_e2m1fn``).
* ``mant{k}_a{a}[_z]``: M-ANT, magnitudes ``a*i + 2^i`` for ``i in 0 .. 2^(k-1)-1``; ``_z``
  replaces ``i = 0`` by an exact zero (mant.md §2).
* ``olive{k}_int`` / ``olive{k}_flint``: OliVe's outlier-victim-pair element (normals plus
  abfloat outliers, mant.md §9.2), defined and quantized in :mod:`mant.olive`.
* ``LevelsFormat``: a format given by data (its magnitudes), registered under its own name
  with :func:`register_format`; every family above is registered the same way.
* Block formats with a fixed block and scale: ``mxfp4``, ``mxfp6_e2m3``, ``mxfp6_e3m2``,
  ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxint8`` (OCP MX v1.0: block 32, E8M0 scale) and ``nvfp4``
  (block 16, E4M3 scale, fp32 per-tensor scale).

Example:
    >>> f = parse_format("mant4_a5")
    >>> f.grid[8:].tolist()
    [1.0, 7.0, 14.0, 23.0, 36.0, 57.0, 94.0, 163.0]
    >>> parse_format("fp4_e2m1fn").name
    'fp4_e2m1'
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np

from mant.errors import InputError, Issue

__all__ = [
    "Format",
    "IntFormat",
    "PotFormat",
    "FlintFormat",
    "FloatFormat",
    "MantFormat",
    "BlockFormat",
    "FloatVariant",
    "LevelsFormat",
    "parse_format",
    "register_format",
    "unregister_format",
    "known_families",
    "example_format_names",
]

FloatVariant = Literal["ieee", "fn", "fnuz"]


class Family(StrEnum):
    INT = "int"
    POT = "pot"
    FLINT = "flint"
    FP = "fp"
    MANT = "mant"
    BLOCK = "block"
    OLIVE = "olive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Format:
    """Base of every format. Subclasses define ``name``, ``bits`` and ``_build_grid``."""

    @property
    def name(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def bits(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def family(self) -> str:  # pragma: no cover - abstract
        """The family name a group quantizer registers under (:mod:`mant.registry`)."""
        raise NotImplementedError

    def _build_grid(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def grid(self) -> np.ndarray:
        """Sorted float64 array of every representable value (grid units, read-only)."""
        return _cached_grid(self)

    @property
    def magnitudes(self) -> np.ndarray:
        """Sorted non-negative magnitudes of a sign-symmetric grid (read-only)."""
        return _cached_magnitudes(self)

    @property
    def max_abs(self) -> float:
        """Largest representable magnitude in grid units."""
        return float(np.max(np.abs(self.grid)))

    @property
    def asymmetric(self) -> bool:
        """True when the format is quantized with a zero point (``int{k}_asym``)."""
        return False

    @property
    def block_size(self) -> int | None:
        """Fixed block size of block formats (MX, NVFP4); ``None`` otherwise."""
        return None

    def __str__(self) -> str:
        return self.name


@functools.lru_cache(maxsize=4096)
def _cached_grid(fmt: Format) -> np.ndarray:
    grid = np.unique(np.asarray(fmt._build_grid(), dtype=np.float64))
    grid.setflags(write=False)
    return grid


@functools.lru_cache(maxsize=4096)
def _cached_magnitudes(fmt: Format) -> np.ndarray:
    grid = fmt.grid
    mags = np.unique(np.abs(grid))
    if not fmt.asymmetric and not np.array_equal(np.unique(np.concatenate([-mags, mags])), grid):
        raise ValueError(f"{fmt.name}: grid is not sign-symmetric")
    mags.setflags(write=False)
    return mags


def _check_bits(bits: int, lo: int, hi: int, what: str) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not lo <= bits <= hi:
        raise InputError.single(what, f"must be an int in {lo}..{hi}", bits)


@dataclass(frozen=True, slots=True, kw_only=True)
class IntFormat(Format):
    """Integer grid: symmetric sign-magnitude, or unsigned levels with a zero point.

    Args:
        k: element bits, 2..8.
        asym: unsigned levels ``0 .. 2^k-1`` quantized with a per-group zero point.
        step: grid unit (``mxint8`` uses 1/64, OCP MX's implicit 2^-6).
    """

    k: int = 4
    asym: bool = False

    def __post_init__(self) -> None:
        _check_bits(self.k, 2, 8, "format.int.bits")

    @property
    def name(self) -> str:
        return f"int{self.k}_asym" if self.asym else f"int{self.k}"

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> Family:
        return Family.INT

    @property
    def asymmetric(self) -> bool:
        return self.asym

    def _build_grid(self) -> np.ndarray:
        if self.asym:
            return np.arange(2**self.k, dtype=np.float64)
        top = 2 ** (self.k - 1) - 1
        return np.arange(-top, top + 1, dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class PotFormat(Format):
    """ANT power-of-two: magnitudes ``{0, 1, 2, 4, .., 2^(2^(k-1)-2)}`` (mant.md §9.1)."""

    k: int = 4

    def __post_init__(self) -> None:
        _check_bits(self.k, 2, 8, "format.pot.bits")

    @property
    def name(self) -> str:
        return f"pot{self.k}"

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> Family:
        return Family.POT

    def _build_grid(self) -> np.ndarray:
        mags = np.concatenate([[0.0], 2.0 ** np.arange(2 ** (self.k - 1) - 1)])
        return np.concatenate([-mags, mags])


@dataclass(frozen=True, slots=True, kw_only=True)
class FlintFormat(Format):
    """ANT flint with ``B = k - 1`` magnitude bits.

    Construction (matches both ANT tables, B=3 ``{0,1,2,3,4,6,8,16}`` and B=4
    ``{0..8,10,12,14,16,24,32,64}``, mant.md §9.1): integers ``0 .. 2^(B-1)-1``; then for
    ``j = 1 .. B-1`` a segment of ``2^(B-1-j)`` values starting at ``2^(B-2+j)`` with step
    ``2^(B-2+j) / 2^(B-1-j)``; then the top value ``4^(B-1)``.
    """

    k: int = 4

    def __post_init__(self) -> None:
        _check_bits(self.k, 3, 8, "format.flint.bits")

    @property
    def name(self) -> str:
        return f"flint{self.k}"

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> Family:
        return Family.FLINT

    def _build_grid(self) -> np.ndarray:
        b = self.k - 1
        mags = [float(v) for v in range(2 ** (b - 1))]
        for j in range(1, b):
            start = 2 ** (b - 2 + j)
            count = 2 ** (b - 1 - j)
            step = start / count
            mags += [start + step * t for t in range(count)]
        mags.append(float(4 ** (b - 1)))
        m = np.asarray(mags)
        return np.concatenate([-m, m])


@dataclass(frozen=True, slots=True, kw_only=True)
class FloatFormat(Format):
    """Binary float ``1 + exp_bits + man_bits`` bits with ml_dtypes semantics.

    Args:
        exp_bits: exponent bits E >= 1.
        man_bits: mantissa bits M >= 0.
        variant: ``ieee`` (top exponent reserved for Inf/NaN), ``fn`` (finite; 8-bit formats
            reserve only the all-ones code for NaN, narrower ones have no NaN), ``fnuz``
            (finite, bias + 1, no negative zero).
    """

    exp_bits: int = 2
    man_bits: int = 1
    variant: FloatVariant = "fn"

    def __post_init__(self) -> None:
        c = []
        if not 1 <= self.exp_bits <= 7:
            c.append(Issue("format.fp.exp_bits", "must be an int in 1..7", self.exp_bits))
        if not 0 <= self.man_bits <= 7:
            c.append(Issue("format.fp.man_bits", "must be an int in 0..7", self.man_bits))
        if not 3 <= 1 + self.exp_bits + self.man_bits <= 8:
            c.append(Issue("format.fp.bits", "must be in 3..8 (1 + E + M)", self.bits))
        if self.variant not in ("ieee", "fn", "fnuz"):
            c.append(Issue("format.fp.variant", "must be one of ieee, fn, fnuz", self.variant))
        elif self.variant == "ieee" and (self.bits < 8 or self.exp_bits < 2):
            c.append(Issue("format.fp.variant", "ieee needs 8 bits and E >= 2", self.variant))
        if c:
            raise InputError(c)

    @property
    def name(self) -> str:
        suffix = {"ieee": "", "fn": "fn", "fnuz": "fnuz"}[self.variant]
        if self.bits < 8 and self.variant == "fn":
            suffix = ""
        return f"fp{self.bits}_e{self.exp_bits}m{self.man_bits}{suffix}"

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def family(self) -> Family:
        return Family.FP

    @property
    def bias(self) -> int:
        return 2 ** (self.exp_bits - 1) - 1 + (1 if self.variant == "fnuz" else 0)

    def _build_grid(self) -> np.ndarray:
        e_max = 2**self.exp_bits - 1
        n_man = 2**self.man_bits
        mags = []
        for e in range(e_max + 1):
            if self.variant == "ieee" and e == e_max:
                continue
            for m in range(n_man):
                if self.variant == "fn" and self.bits == 8 and e == e_max and m == n_man - 1:
                    continue  # NaN code
                frac = m / n_man
                v = (
                    frac * 2.0 ** (1 - self.bias)
                    if e == 0
                    else (1 + frac) * 2.0 ** (e - self.bias)
                )
                mags.append(v)
        m_arr = np.asarray(mags)
        return np.concatenate([-m_arr, m_arr])


@dataclass(frozen=True, slots=True, kw_only=True)
class MantFormat(Format):
    """M-ANT: magnitudes ``a*i + 2^i`` for ``i in 0 .. 2^(k-1)-1`` (mant.md §2).

    Args:
        k: element bits, 2..8 (sign + k-1 index bits).
        a: integer coefficient >= 0.
        zero: replace ``i = 0`` (magnitude 1) by an exact zero.

    Example:
        >>> MantFormat(k=4, a=17).max_abs
        247.0
    """

    k: int = 4
    a: int = 0
    zero: bool = False

    def __post_init__(self) -> None:
        c = []
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 2 <= self.k <= 8:
            c.append(Issue("format.mant.k", "must be an int in 2..8", self.k))
        if isinstance(self.a, bool) or not isinstance(self.a, int | np.integer) or self.a < 0:
            c.append(Issue("format.mant.a", "must be an int >= 0", self.a))
        if c:
            raise InputError(c)
        object.__setattr__(self, "a", int(self.a))

    @property
    def name(self) -> str:
        return f"mant{self.k}_a{self.a}" + ("_z" if self.zero else "")

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> Family:
        return Family.MANT

    def _build_grid(self) -> np.ndarray:
        i = np.arange(2 ** (self.k - 1), dtype=np.float64)
        mags = self.a * i + 2.0**i
        if self.zero:
            mags[0] = 0.0
        return np.concatenate([-mags, mags])


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockFormat(Format):
    """A block format: element format, fixed block size, shared-scale format.

    Args:
        label: canonical name (``mxfp4``, ``nvfp4``, ...).
        element: the element format.
        block: values per block.
        scale: shared scale format (``e8m0`` for MX, ``e4m3`` for NVFP4).
        tensor_scale: NVFP4's extra fp32 per-tensor scale.
        emax: MX's ``emax_elem`` (largest power of two of the element grid), OCP MX v1.0 §6.3.
    """

    label: str
    element: Format
    block: int
    scale: str
    tensor_scale: bool = False
    emax: int = 0

    @property
    def name(self) -> str:
        return self.label

    @property
    def bits(self) -> int:
        return self.element.bits

    @property
    def family(self) -> str:
        return Family.BLOCK

    @property
    def block_size(self) -> int:
        return self.block

    def _build_grid(self) -> np.ndarray:
        return np.asarray(self.element.grid)


OUTLIER_THRESHOLD = 32.0
"""Grid units above which a value is an outlier (mant.md §9.2)."""


def abfloat_magnitudes(*, exp_bits: int = 2, man_bits: int = 1, exp_bias: int = 5) -> np.ndarray:
    """Positive abfloat outlier magnitudes ``(1 + m / 2^M) * 2^(e + bias)``, without ``2^bias``.

    Example:
        >>> abfloat_magnitudes().tolist()
        [48.0, 64.0, 96.0, 128.0, 192.0, 256.0, 384.0]
    """
    e = np.arange(2**exp_bits)[:, None] + exp_bias
    m = np.arange(2**man_bits)[None, :]
    values = ((1.0 + m / 2.0**man_bits) * 2.0**e).ravel()
    return values[1:]  # 2^bias itself is the outlier threshold (a normal level)


@dataclass(frozen=True, slots=True, kw_only=True)
class OliveFormat(Format):
    """OliVe element: scaled int4 or flint4 normals plus abfloat outliers (4 bits).

    Its quantizer (outlier-victim pairs and the clip search) is :mod:`mant.olive`.

    Args:
        k: element bits; only 4 (the width whose rules mant.md §9.2 records).
        normal: ``int`` or ``flint``.
    """

    k: int = 4
    normal: Literal["int", "flint"] = "int"

    def __post_init__(self) -> None:
        if self.k != 4:
            raise InputError.single("format.olive.bits", "must be 4", self.k)
        if self.normal not in ("int", "flint"):
            raise InputError.single("format.olive.normal", "must be int or flint", self.normal)

    @property
    def name(self) -> str:
        return f"olive{self.k}_{self.normal}"

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> Family:
        return Family.OLIVE

    @property
    def normal_magnitudes(self) -> np.ndarray:
        """Normal levels in grid units: int ``{0, 4, .., 28}``, flint ``{0, 2, .., 16, 32}``."""
        if self.normal == "int":
            mags = IntFormat(k=self.k).magnitudes * (OUTLIER_THRESHOLD / 2 ** (self.k - 1))
        else:
            flint = FlintFormat(k=self.k).magnitudes
            mags = flint * (OUTLIER_THRESHOLD / flint[-1])
        return np.asarray(mags, dtype=np.float64)

    @property
    def normal_max(self) -> float:
        """Top normal level: the clip value maps here (28 for int, 32 for flint)."""
        return float(self.normal_magnitudes[-1])

    @property
    def outlier_magnitudes(self) -> np.ndarray:
        return abfloat_magnitudes()

    def _build_grid(self) -> np.ndarray:
        mags = np.concatenate([self.normal_magnitudes, self.outlier_magnitudes])
        return np.concatenate([-mags, mags])


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelsFormat(Format):
    """A format given by data: its non-negative magnitudes, mirrored to a sign-symmetric grid.

    The default group quantizer serves it (absmax scaling, nearest level), so a new format of
    this kind is one :func:`register_format` call and nothing else.

    Args:
        label: its name.
        levels: the magnitudes in grid units (0 may be one of them).
        k: element bits (default: enough for ``2 * len(levels)`` codes).
    """

    label: str
    levels: tuple[float, ...]
    k: int = 0

    def __post_init__(self) -> None:
        lv = tuple(float(v) for v in self.levels)
        ok = bool(lv) and all(math.isfinite(v) and v >= 0 for v in lv) and max(lv) > 0
        if not ok:
            raise InputError.single(
                f"format.{self.label}.levels", "must be finite numbers >= 0, one > 0", lv
            )
        object.__setattr__(self, "levels", lv)
        if not self.k:
            object.__setattr__(self, "k", max(1, math.ceil(math.log2(2 * len(set(lv))))))

    @property
    def name(self) -> str:
        return self.label

    @property
    def bits(self) -> int:
        return self.k

    @property
    def family(self) -> str:
        return "levels"

    def _build_grid(self) -> np.ndarray:
        mags = np.asarray(self.levels, dtype=np.float64)
        return np.concatenate([-mags, mags])


def _mx(label: str, element: Format) -> BlockFormat:
    emax = int(math.floor(math.log2(element.max_abs)))
    return BlockFormat(label=label, element=element, block=32, scale="e8m0", emax=emax)


_BLOCK_FORMATS: dict[str, BlockFormat] = {
    "mxfp4": _mx("mxfp4", FloatFormat(exp_bits=2, man_bits=1)),
    "mxfp6_e2m3": _mx("mxfp6_e2m3", FloatFormat(exp_bits=2, man_bits=3)),
    "mxfp6_e3m2": _mx("mxfp6_e3m2", FloatFormat(exp_bits=3, man_bits=2)),
    "mxfp8_e4m3": _mx("mxfp8_e4m3", FloatFormat(exp_bits=4, man_bits=3)),
    "mxfp8_e5m2": _mx("mxfp8_e5m2", FloatFormat(exp_bits=5, man_bits=2, variant="ieee")),
    # OCP MXINT8: 8-bit two's complement with an implicit 2^-6, used symmetrically (+-127),
    # so its emax_elem is 6 on the integer grid.
    "mxint8": _mx("mxint8", IntFormat(k=8)),
    "nvfp4": BlockFormat(
        label="nvfp4",
        element=FloatFormat(exp_bits=2, man_bits=1),
        block=16,
        scale="e4m3",
        tensor_scale=True,
        emax=2,
    ),
}

FormatBuilder = Callable[[re.Match[str]], Format]
"""Builds a format from the match of its family's name pattern (raises InputError if invalid)."""

_REGISTRY: list[tuple[re.Pattern[str], FormatBuilder, tuple[str, ...]]] = []


def register_format(
    pattern: str, build: FormatBuilder | Format, *, label: str | tuple[str, ...] = ""
) -> None:
    """Make :func:`parse_format` (and so every candidate spec) know a format or family.

    Args:
        pattern: a regular expression matched against the lower-case name (whole name), or
            a plain name for one fixed format.
        build: the :class:`Format` itself (one fixed name), or a function of the match.
        label: how :func:`known_families` lists it (default: ``pattern``); a tuple for a
            pattern that covers several families.

    Raises:
        InputError: the pattern is registered already.

    Example:
        >>> register_format("toy2_doc", LevelsFormat(label="toy2_doc", levels=(0.5, 1.0)))
        >>> parse_format("TOY2_DOC").grid.tolist()
        [-1.0, -0.5, 0.5, 1.0]
        >>> unregister_format("toy2_doc")
    """
    if any(p.pattern == f"^{pattern}$" for p, _, _ in _REGISTRY):
        raise InputError.single("format", "is registered already", pattern)
    builder = _constant(build) if isinstance(build, Format) else build
    labels = (label,) if isinstance(label, str) else tuple(label)
    _REGISTRY.append(
        (re.compile(f"^{pattern}$"), builder, tuple(x for x in labels if x) or (pattern,))
    )
    parse_format.cache_clear()


def _constant(fmt: Format) -> FormatBuilder:
    return lambda _m: fmt


def unregister_format(pattern: str) -> None:
    """Remove a registration of :func:`register_format` (tests, notebooks); unknown: no-op."""
    _REGISTRY[:] = [r for r in _REGISTRY if r[0].pattern != f"^{pattern}$"]
    parse_format.cache_clear()


def _int_family(m: re.Match[str]) -> Format:
    family, k, asym = m.group(1), int(m.group(2)), m.group(3)
    if family == "int":
        return IntFormat(k=k, asym=bool(asym))
    if asym:
        raise _unknown(m.string)
    return PotFormat(k=k) if family == "pot" else FlintFormat(k=k)


def _fp_family(m: re.Match[str]) -> Format:
    bits, e, mm, suffix = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if bits != 1 + e + mm:
        raise InputError.single("format", f"fp{bits} needs 1 + E + M = {bits}", m.string)
    variant: FloatVariant = "fn" if suffix == "fn" else "fnuz" if suffix == "fnuz" else "ieee"
    if variant == "ieee" and bits < 8:
        variant = "fn"  # sub-8-bit floats are finite (OCP MX); no IEEE variant exists
    return FloatFormat(exp_bits=e, man_bits=mm, variant=variant)


def known_families() -> tuple[str, ...]:
    """Name patterns that :func:`parse_format` accepts (the registered ones, in order)."""
    return tuple(label for _, _, labels in _REGISTRY for label in labels)


def example_format_names() -> tuple[str, ...]:
    """One canonical name per common format (what ``mant-dse formats`` lists)."""
    return (
        "int4",
        "int4_asym",
        "int8",
        "pot4",
        "flint4",
        "fp4_e2m1",
        "fp6_e2m3",
        "fp6_e3m2",
        "fp8_e4m3fn",
        "fp8_e4m3",
        "fp8_e5m2",
        "fp8_e4m3fnuz",
        "fp8_e5m2fnuz",
        "mant4_a0",
        "mant4_a5",
        "mant4_a17",
        "mant4_a17_z",
        "mant4_a120",
        "olive4_int",
        "olive4_flint",
        *_BLOCK_FORMATS,
    )


@functools.lru_cache(maxsize=4096)
def parse_format(name: str) -> Format:
    """Parse a format name (case-insensitive) into its frozen :class:`Format`.

    Args:
        name: e.g. ``int4``, ``fp8_e4m3fn``, ``mxfp4``, ``mant4_a17_z``.

    Returns:
        The format; ``parse_format(f.name) == f``.

    Raises:
        InputError: unknown name (the message lists the known families) or bad parameters.

    Example:
        >>> parse_format("FP8_E4M3FN").max_abs
        448.0
    """
    if not isinstance(name, str):
        raise InputError.single("format", "must be a format name string", name)
    key = name.strip().lower()
    for pattern, build, _ in _REGISTRY:
        if m := pattern.match(key):
            return build(m)
    raise _unknown(name)


def _unknown(name: str) -> InputError:
    return InputError.single(
        "format", "must be a known format (" + ", ".join(known_families()) + ")", name
    )


# The shipped families register exactly as a new one would.
register_format(
    r"(int|pot|flint)(\d+)(_asym)?",
    _int_family,
    label=("int{k}", "int{k}_asym", "pot{k}", "flint{k}"),
)
register_format(r"fp(\d+)_e(\d+)m(\d+)(fn|fnuz)?", _fp_family, label="fp{k}_e{E}m{M}[fn|fnuz]")
register_format(
    r"mant(\d+)_a(\d+)(_z)?",
    lambda m: MantFormat(k=int(m.group(1)), a=int(m.group(2)), zero=bool(m.group(3))),
    label="mant{k}_a{a}[_z]",
)
register_format(
    r"olive(\d+)_(int|flint)",
    lambda m: OliveFormat(k=int(m.group(1)), normal="flint" if m.group(2) == "flint" else "int"),
    label="olive{k}_int|flint",
)
for _name, _block in _BLOCK_FORMATS.items():
    register_format(_name, _block)
