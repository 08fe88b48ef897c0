"""Bit-exact integer emulation of the fused MANT-k x INT8 group dot product.

A k-bit MANT weight is ``w = (-1)^s * (a*i + 2^i)`` (times a group scale) with one coefficient
``a`` per group of ``g`` weights along the reduction dimension. Over one group, with the
conditionally negated activation ``x' = (-1)^s * x``, the dot product splits into two partial
sums that need neither the decoded weight nor ``a`` inside the MAC loop (``mant.md`` §8.1)::

    sum_k w_k * x_k = a * S1 + S2,   S1 = sum_k i_k * x'_k,   S2 = sum_k (x'_k << i_k)

:func:`fused_group_dot` emulates exactly that datapath per MAC (negate, multiply by the index,
shift by the index, two accumulators, one per-group epilogue ``a*S1 + S2``) in integer numpy;
:func:`decode_then_matmul` is the independent reference (decode every weight to an integer,
then an integer matmul). The two agree bit for bit. :func:`accumulator_widths` reports the
largest magnitudes each accumulator holds on given data, and :func:`accumulator_bounds` the
worst case, which reproduces the table of ``mant.md`` §8.2 (S1 17 b, S2 22 b, epilogue 24 b at
k = 4, g = 64, a <= 127).

Integers are int64 when the worst case fits in 62 bits (every k <= 6 at g <= 256, a <= 127);
for k = 7 and 8 the shift ``x << i`` reaches 2^70 and beyond, and the arrays switch to Python
integers (``dtype=object``): exact, but slow, so keep those inputs small.

Example:
    >>> import numpy as np
    >>> sign = np.array([[0, 1, 0, 0]])
    >>> index = np.array([[7, 3, 0, 1]])
    >>> a = np.array([[17, 5]])
    >>> x = np.array([1, 2, 3, -4], dtype=np.int8)
    >>> int(fused_group_dot(sign, index, a, x, group_size=2)[0])
    104
    >>> int(decode_then_matmul(sign, index, a, x, group_size=2)[0])
    104
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from mant.errors import InputError, IssueCollector

__all__ = [
    "AccumulatorWidths",
    "accumulator_bounds",
    "accumulator_widths",
    "decode_then_matmul",
    "decode_weights",
    "format_width_table",
    "fused_group_dot",
    "signed_bits",
    "split_grid_codes",
]

ACT_MIN = -128
ACT_MAX = 127
_INT64_SAFE_BITS = 62
_CHUNK_ELEMENTS = 1 << 22  # per-MAC intermediates per chunk (int64: 32 MiB)


def signed_bits(max_abs: int) -> int:
    """Two's-complement bits needed to hold every integer in ``[-max_abs, +max_abs]``.

    Example:
        >>> signed_bits(57_344), signed_bits(1 << 20), signed_bits(0)
        (17, 22, 1)
    """
    return int(max_abs).bit_length() + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AccumulatorWidths:
    """Largest magnitudes held by each stage of the fused datapath (measured or worst case).

    Attributes:
        product_s1: largest ``|i * x'|`` of one MAC.
        product_s2: largest ``|x' << i|`` of one MAC.
        s1: largest ``|S1|``, over every running prefix within a group.
        s2: largest ``|S2|``, over every running prefix within a group.
        epilogue: largest ``|a*S1 + S2|`` of one group.
        output: largest ``|sum of epilogues|``, over every running prefix across groups.
        decoded_product: largest ``|w * x|`` of the naive decode-then-multiply datapath.
    """

    product_s1: int
    product_s2: int
    s1: int
    s2: int
    epilogue: int
    output: int
    decoded_product: int

    def bits(self) -> dict[str, int]:
        """Signed bits of every stage, keyed by field name."""
        return {f.name: signed_bits(getattr(self, f.name)) for f in fields(self)}

    def within(self, bound: AccumulatorWidths) -> bool:
        """True when every stage is at most the same stage of ``bound``."""
        return all(getattr(self, f.name) <= getattr(bound, f.name) for f in fields(self))


def accumulator_bounds(
    *, bits: int = 4, group_size: int = 64, a_max: int = 127, n_groups: int = 1
) -> AccumulatorWidths:
    """Worst-case magnitudes of the fused MANT-k x INT8 datapath.

    ``x'`` reaches +128 (negating -128), the index reaches ``2^(k-1) - 1``; every sum is
    bounded by ``group_size`` times its largest term. At the defaults this is the table of
    ``mant.md`` §8.2: S1 57,344 (17 b), S2 1,048,576 (22 b), epilogue 8,331,264 (24 b);
    each doubling of ``group_size`` adds one bit to S1, S2 and the epilogue.

    Args:
        bits: MANT bits k (sign + k-1 index bits).
        group_size: values per group g (the reduction length per coefficient ``a``).
        a_max: largest coefficient ``a``.
        n_groups: groups accumulated into one output (for the output accumulator).

    Returns:
        The bounds as an :class:`AccumulatorWidths`.

    Example:
        >>> accumulator_bounds().bits()["epilogue"]
        24
    """
    c = IssueCollector()
    c.check(isinstance(bits, int) and 2 <= bits <= 8, "bits", "must be an int in 2..8", bits)
    c.check(
        isinstance(group_size, int) and group_size >= 1, "group_size", "must be >= 1", group_size
    )
    c.check(isinstance(a_max, int) and a_max >= 0, "a_max", "must be an int >= 0", a_max)
    c.check(isinstance(n_groups, int) and n_groups >= 1, "n_groups", "must be >= 1", n_groups)
    c.raise_if_any()
    i_max = (1 << (bits - 1)) - 1
    x_max = -ACT_MIN
    s1 = group_size * i_max * x_max
    s2 = group_size * (x_max << i_max)
    epilogue = a_max * s1 + s2
    return AccumulatorWidths(
        product_s1=i_max * x_max,
        product_s2=x_max << i_max,
        s1=s1,
        s2=s2,
        epilogue=epilogue,
        output=n_groups * epilogue,
        decoded_product=(a_max * i_max + (1 << i_max)) * x_max,
    )


def format_width_table(measured: AccumulatorWidths, bound: AccumulatorWidths) -> str:
    """A plain-text table: stage, measured max, measured bits, bound, bound bits."""
    mb, bb = measured.bits(), bound.bits()
    lines = [f"{'stage':<16}{'max |value|':>16}{'bits':>6}{'bound':>16}{'bits':>6}"]
    for f in fields(measured):
        name = f.name
        lines.append(
            f"{name:<16}{getattr(measured, name):>16}{mb[name]:>6}"
            f"{getattr(bound, name):>16}{bb[name]:>6}"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Operands:
    sign: np.ndarray  # (n_out, n_groups, g), bool
    index: np.ndarray  # (n_out, n_groups, g), int64 or object
    a: np.ndarray  # (n_out, n_groups), int64 or object
    x: np.ndarray  # (m, n_groups, g), int64 or object
    vector: bool  # x was 1-D: drop the batch axis of the output
    bits: int
    zero_code: bool


def _as_int_array(value: object, path: str, c: IssueCollector) -> np.ndarray | None:
    arr = np.asarray(value)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        c.add(path, "must be an integer array", str(arr.dtype))
        return None
    return arr.astype(np.int64)


def _validate(
    codes_sign: object,
    codes_index: object,
    a_per_group: object,
    x_int8: object,
    group_size: int,
    bits: int,
    zero_code: bool,
) -> _Operands:
    c = IssueCollector()
    ok_bits = c.check(
        isinstance(bits, int) and not isinstance(bits, bool) and 2 <= bits <= 8,
        "bits",
        "must be an int in 2..8",
        bits,
    )
    ok_g = c.check(
        isinstance(group_size, int) and not isinstance(group_size, bool) and group_size >= 1,
        "group_size",
        "must be an int >= 1",
        group_size,
    )
    sign = _as_int_array(codes_sign, "codes_sign", c)
    index = _as_int_array(codes_index, "codes_index", c)
    a = _as_int_array(a_per_group, "a_per_group", c)
    x = _as_int_array(x_int8, "x_int8", c)
    c.raise_if_any()
    assert sign is not None and index is not None and a is not None and x is not None

    c.check(sign.ndim == 2, "codes_sign", "must be 2-D (n_out, K)", sign.shape)
    c.check(index.shape == sign.shape, "codes_index", f"must have shape {sign.shape}", index.shape)
    c.check(x.ndim in (1, 2), "x_int8", "must be 1-D (K,) or 2-D (m, K)", x.shape)
    c.raise_if_any()
    n_out, k_len = sign.shape
    c.check(x.shape[-1] == k_len, "x_int8", f"last axis must have length K={k_len}", x.shape)
    if ok_g and k_len % group_size:
        c.add("group_size", f"must divide the reduction length K={k_len}", group_size)
    c.raise_if_any()
    n_groups = k_len // group_size
    c.check(
        a.shape == (n_out, n_groups),
        "a_per_group",
        f"must have shape {(n_out, n_groups)}",
        a.shape,
    )
    if sign.size:
        c.check(
            bool(np.all((sign == 0) | (sign == 1))),
            "codes_sign",
            "must be 0 or 1",
            np.unique(sign),
        )
        if ok_bits:
            i_max = (1 << (bits - 1)) - 1
            lo, hi = int(index.min()), int(index.max())
            c.check(lo >= 0 and hi <= i_max, "codes_index", f"must be in 0..{i_max}", (lo, hi))
    if a.size:
        c.check(int(a.min()) >= 0, "a_per_group", "must be >= 0", int(a.min()))
    if x.size:
        lo, hi = int(x.min()), int(x.max())
        c.check(lo >= ACT_MIN and hi <= ACT_MAX, "x_int8", "must be in -128..127", (lo, hi))
    c.raise_if_any()

    a_max = int(a.max()) if a.size else 0
    worst = accumulator_bounds(
        bits=bits, group_size=group_size, a_max=a_max, n_groups=max(n_groups, 1)
    )
    exact_int64 = worst.output.bit_length() <= _INT64_SAFE_BITS
    dtype = np.int64 if exact_int64 else object
    vector = x.ndim == 1
    x2 = x.reshape(1, k_len) if vector else x
    return _Operands(
        sign=sign.reshape(n_out, n_groups, group_size).astype(bool),
        index=index.reshape(n_out, n_groups, group_size).astype(dtype),
        a=a.astype(dtype),
        x=x2.reshape(x2.shape[0], n_groups, group_size).astype(dtype),
        vector=vector,
        bits=bits,
        zero_code=zero_code,
    )


def _rows_per_chunk(ops: _Operands) -> int:
    per_row = max(1, ops.x.shape[0] * ops.x.shape[1] * ops.x.shape[2])
    return max(1, _CHUNK_ELEMENTS // per_row)


def _emulate(
    ops: _Operands, *, track: bool, per_group: bool = False
) -> tuple[np.ndarray, AccumulatorWidths | None]:
    """Run the fused datapath, chunked over output rows; optionally track the widths."""
    m = ops.x.shape[0]
    n_out, n_groups = ops.a.shape
    out = np.zeros((m, n_out, n_groups) if per_group else (m, n_out), dtype=ops.x.dtype)
    peak = dict.fromkeys(
        ("product_s1", "product_s2", "s1", "s2", "epilogue", "output", "decoded_product"), 0
    )
    step = _rows_per_chunk(ops)
    for r0 in range(0, n_out, step):
        sl = slice(r0, r0 + step)
        sign, index, a = ops.sign[sl], ops.index[sl], ops.a[sl]
        # (m, rows, n_groups, g): conditional negation x' = (-1)^s * x, as the PE does it
        xp = np.where(sign[None], -ops.x[:, None], ops.x[:, None])
        if ops.zero_code:
            xp = np.where(index[None] == 0, 0, xp)  # gate: the exact-zero code adds nothing
        p1 = index[None] * xp  # (k-1)-bit x 9-bit multiply
        p2 = np.left_shift(xp, index[None])  # barrel shift by the index
        s1 = p1.sum(axis=-1)
        s2 = p2.sum(axis=-1)
        epilogue = a[None] * s1 + s2  # once per group, outside the MAC loop
        out[:, sl] = epilogue if per_group else epilogue.sum(axis=-1)
        if track and p1.size:
            decoded = _decode(sign, index, a, ops.zero_code)
            stages = {
                "product_s1": p1,
                "product_s2": p2,
                "s1": np.cumsum(p1, axis=-1),
                "s2": np.cumsum(p2, axis=-1),
                "epilogue": epilogue,
                "output": np.cumsum(epilogue, axis=-1),
                "decoded_product": decoded[None] * ops.x[:, None],
            }
            for name, arr in stages.items():
                peak[name] = max(peak[name], int(np.max(np.abs(arr))))
    result = out[0] if ops.vector else out
    return result, (AccumulatorWidths(**peak) if track else None)


def split_grid_codes(
    codes: object, *, bits: int = 4, zero_code: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Turn indices into a MANT format's sorted signed grid into (sign bit, index i).

    ``mant.quantize`` stores codes as positions in ``Format.grid`` (sorted, signed; with the
    exact-zero code the two zeros are one entry). The datapath wants the sign bit and ``i``.

    Args:
        codes: integer positions in the grid of a ``mant{bits}_a*`` (``_z``) format.
        bits: MANT bits k.
        zero_code: the format has the exact-zero code (grid of ``2^k - 1`` entries).

    Returns:
        (sign, index), int64 arrays shaped like ``codes``; sign 1 = negative.

    Example:
        >>> s, i = split_grid_codes([0, 3, 4, 7], bits=3)  # grid -23 -14 -7 -1 1 7 14 23 (a=5)
        >>> s.tolist(), i.tolist()
        ([1, 1, 0, 0], [3, 0, 0, 3])
    """
    c = IssueCollector()
    c.check(isinstance(bits, int) and 2 <= bits <= 8, "bits", "must be an int in 2..8", bits)
    arr = _as_int_array(codes, "codes", c)
    c.raise_if_any()
    assert arr is not None
    half = 1 << (bits - 1)
    center = half - 1 if zero_code else half
    size = 2 * half - (1 if zero_code else 0)
    if arr.size and (arr.min() < 0 or arr.max() >= size):
        raise InputError.single(
            "codes", f"must be in 0..{size - 1}", (int(arr.min()), int(arr.max()))
        )
    negative = arr < center
    index = np.where(negative, half - 1 - arr, arr - center)
    return negative.astype(np.int64), index.astype(np.int64)


def _decode(sign: np.ndarray, index: np.ndarray, a: np.ndarray, zero_code: bool) -> np.ndarray:
    one = np.ones_like(index)
    magnitude = a[..., None] * index + np.left_shift(one, index)
    if zero_code:
        magnitude = np.where(index == 0, 0, magnitude)
    return np.where(sign, -magnitude, magnitude)


def _weights(ops: _Operands) -> np.ndarray:
    """(n_out, K) integer weights of validated operands."""
    w = _decode(ops.sign, ops.index, ops.a, ops.zero_code)
    return w.reshape(w.shape[0], -1)


def decode_weights(
    codes_sign: object,
    codes_index: object,
    a_per_group: object,
    group_size: int,
    *,
    bits: int = 4,
    zero_code: bool = False,
) -> np.ndarray:
    """Decode MANT codes to integer weights ``(-1)^s * (a*i + 2^i)`` (0 for the zero code).

    Args:
        codes_sign: (n_out, K) sign bits, 1 = negative.
        codes_index: (n_out, K) indices in ``0..2^(bits-1)-1``.
        a_per_group: (n_out, K // group_size) coefficients ``a >= 0``.
        group_size: values per group along K.
        bits: MANT bits k.
        zero_code: index 0 means exact zero instead of +-1.

    Returns:
        (n_out, K) integer weights (int64, or Python ints when they could pass 62 bits).
    """
    sign = np.asarray(codes_sign)
    probe = np.zeros(sign.shape[-1] if sign.ndim == 2 else 0, dtype=np.int64)
    ops = _validate(codes_sign, codes_index, a_per_group, probe, group_size, bits, zero_code)
    return _weights(ops)


def decode_then_matmul(
    codes_sign: object,
    codes_index: object,
    a_per_group: object,
    x_int8: object,
    group_size: int,
    *,
    bits: int = 4,
    zero_code: bool = False,
) -> np.ndarray:
    """Reference: decode every weight to an integer, then an integer matmul ``x @ W.T``.

    Takes the same arguments as :func:`fused_group_dot` and returns the same integers.
    """
    ops = _validate(codes_sign, codes_index, a_per_group, x_int8, group_size, bits, zero_code)
    w = _weights(ops)
    x = ops.x.reshape(ops.x.shape[0], -1)
    out = x @ w.T
    return out[0] if ops.vector else out


def fused_group_dot(
    codes_sign: object,
    codes_index: object,
    a_per_group: object,
    x_int8: object,
    group_size: int,
    *,
    bits: int = 4,
    zero_code: bool = False,
    per_group: bool = False,
) -> np.ndarray:
    """Integer MANT-k x INT8 dot products through the fused two-accumulator datapath.

    Per group: ``S1 = sum i*x'``, ``S2 = sum x' << i`` with ``x' = (-1)^s * x``; then
    ``out += a*S1 + S2``. Group scales are left out: multiply the result by the product of
    the weight and activation scales of each group to get real values.

    Args:
        codes_sign: (n_out, K) sign bits, 1 = negative.
        codes_index: (n_out, K) indices in ``0..2^(bits-1)-1``.
        a_per_group: (n_out, K // group_size) coefficients ``a >= 0``, one per group.
        x_int8: (K,) or (m, K) activations in -128..127.
        group_size: values per group g along the reduction axis K; must divide K.
        bits: MANT bits k in 2..8.
        zero_code: index 0 is an exact zero (the PE gates ``x'`` to 0) instead of +-1.
        per_group: return each group's epilogue ``a*S1 + S2`` (a trailing n_groups axis)
            instead of their sum, so that per-group scales can be applied.

    Returns:
        (n_out,) for 1-D ``x_int8`` or (m, n_out), plus a trailing (n_groups,) axis with
        ``per_group``: int64, or Python ints (``dtype=object``) when the worst case could pass
        62 bits (k >= 7).

    Raises:
        InputError: non-integer arrays, codes or activations out of range, shapes that do
            not match, or a group size < 1 or not dividing K.
    """
    ops = _validate(codes_sign, codes_index, a_per_group, x_int8, group_size, bits, zero_code)
    out, _ = _emulate(ops, track=False, per_group=per_group)
    return out


def accumulator_widths(
    codes_sign: object,
    codes_index: object,
    a_per_group: object,
    x_int8: object,
    group_size: int,
    *,
    bits: int = 4,
    zero_code: bool = False,
) -> AccumulatorWidths:
    """Largest magnitudes each accumulator of the fused datapath holds on these operands.

    Same arguments as :func:`fused_group_dot`. Compare with :func:`accumulator_bounds`
    (``measured.within(bound)``) and print both with :func:`format_width_table`.

    Example:
        >>> import numpy as np
        >>> g = 64
        >>> ones = np.ones((1, g), dtype=np.int64)
        >>> w = accumulator_widths(ones, 7 * ones, [[127]], np.full(g, -128), g)
        >>> w == accumulator_bounds(bits=4, group_size=g, a_max=127)
        True
    """
    ops = _validate(codes_sign, codes_index, a_per_group, x_int8, group_size, bits, zero_code)
    _, widths = _emulate(ops, track=True)
    assert widths is not None
    return widths
