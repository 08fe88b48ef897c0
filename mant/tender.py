"""Tender: decomposed activation quantization with power-of-two group scales (mant.md §9.3).

Tender (artifact ``snu-comparch/Tender``, ``models/modeling_llama_tender.py``, read for the
rules below) quantizes an activation matrix ``(tokens, channels)`` as follows:

1. The rows are split into chunks of ``chunk_rows`` (256) tokens.
2. Per chunk, each channel's bias ``(max + min) / 2`` is subtracted; the artifact compensates
   it exactly through ``bias @ W``, so the fake-quantized value is ``Q(x - bias) + bias``.
3. Per chunk, ``tmax = max |x - bias|`` and per channel ``cmax = max |x - bias|``.
4. With ``G = n_groups`` (8, ``decomp_factor``), thresholds ``T_i = tmax / 2^(G-1-i)``;
   a channel joins group 0 when ``cmax <= T_0`` and group ``i`` when ``T_(i-1) < cmax <= T_i``.
5. Group ``i`` uses symmetric INT with scale ``T_i / qmax`` (``qmax = 2^(bits-1) - 1``): the
   group scales are powers of two apart, so partial sums are re-aligned with 1-bit shifts.
   Elements round half to even (``torch.round``) and clamp to ``[-(qmax + 1), qmax]``.

The artifact calibrates ``bias``, ``tmax`` and the group index on sample data and reuses them;
here they come from the tensor itself (the calibration pass). Unlike the artifact, a partial
last chunk computes its statistics over its real rows only (the artifact zero-pads it first).

Weights in Tender are per-output-channel symmetric INT4 with scale ``max|w| / 7`` and
round-to-nearest: ``QuantConfig(candidates="int4", granularity="channel")`` on a
``(out, in)`` weight is that scheme (exact ties, a measure-zero event, go to the larger
magnitude there instead of to even).

Bits per element: ``bits`` per element plus, per chunk, ``ceil(log2 G)`` group-index bits and
a bias per channel (16 bits as fp16) and one fp32 ``tmax``:
``bits + (ceil(log2 G) + 16) / chunk_rows + 32 / (chunk_rows * channels)``.

Example:
    >>> x = np.random.default_rng(0).standard_normal((512, 64)).astype(np.float32)
    >>> x[:, 3] *= 40.0  # an outlier channel
    >>> r = quantize_tender(x, TenderConfig())
    >>> bool(r.rel_mse < 0.02), r.n_groups
    (True, 128)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from mant.errors import InputError, IssueCollector, reject_unknown_keys
from mant.groups import check_finite
from mant.result import QuantResult

__all__ = ["TenderConfig", "quantize_tender"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TenderConfig:
    """Tender's decomposed activation quantization.

    Attributes:
        bits: element bits (4 or 8 in the artifact; 2..8 accepted).
        chunk_rows: tokens per chunk (256 in the artifact).
        n_groups: channel groups ``G`` per chunk, scales ``2^i`` apart (8 in the artifact).
        channel_bias: subtract the per-chunk channel bias ``(max + min) / 2`` first.
        bias_format: ``fp16`` (the artifact's model dtype) or ``fp32``; the bias is rounded
            to it and its bits are counted (only with ``channel_bias``).
        axis: the channel axis; every other axis is flattened into tokens.

    Example:
        >>> TenderConfig().bits_per_element(channels=4096)  # 4 + (3 + 16) / 256 + 32 / 2^20
        4.074249267578125
    """

    bits: int = 4
    chunk_rows: int = 256
    n_groups: int = 8
    channel_bias: bool = True
    bias_format: Literal["fp16", "fp32"] = "fp16"
    axis: int = -1

    def __post_init__(self) -> None:
        c = IssueCollector()
        for name, lo, hi in (
            ("bits", 2, 8),
            ("chunk_rows", 1, 1 << 20),
            ("n_groups", 1, 64),
        ):
            v = getattr(self, name)
            ok = bool(
                isinstance(v, int | np.integer) and not isinstance(v, bool) and lo <= v <= hi
            )
            c.check(ok, f"tender.{name}", f"must be an int in {lo}..{hi}", v)
        c.check(
            isinstance(self.channel_bias, bool),
            "tender.channel_bias",
            "must be a bool",
            self.channel_bias,
        )
        c.check(
            self.bias_format in ("fp16", "fp32"),
            "tender.bias_format",
            "must be fp16 or fp32",
            self.bias_format,
        )
        ax = self.axis
        c.check(
            isinstance(ax, int) and not isinstance(ax, bool), "tender.axis", "must be an int", ax
        )
        c.raise_if_any()

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def index_bits(self) -> int:
        """Bits of a channel's group index: ``ceil(log2 G)``."""
        return math.ceil(math.log2(self.n_groups)) if self.n_groups > 1 else 0

    def bits_per_element(self, channels: int, rows: int | None = None) -> float:
        """Storage bits per element for ``channels`` channels (full chunks unless ``rows``)."""
        chunk = self.chunk_rows if rows is None else min(self.chunk_rows, max(int(rows), 1))
        bias_bits = 16 if self.bias_format == "fp16" else 32
        per_channel = self.index_bits + (bias_bits if self.channel_bias else 0)
        return self.bits + per_channel / chunk + 32 / (chunk * channels)

    def to_dict(self) -> dict[str, Any]:
        """Plain types; :meth:`from_dict` inverts it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenderConfig:
        """Build from a mapping; unknown keys raise :class:`InputError` listing the valid ones."""
        valid = [f.name for f in fields(cls)]
        reject_unknown_keys(data, "tender", valid)
        return cls(**dict(data))


def _as_matrix(x: Any, axis: int) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(x)
    if arr.dtype.kind != "f" or arr.size == 0 or arr.ndim < 1:
        raise InputError.single("x", "must be a non-empty float array", (arr.dtype, arr.shape))
    if not -arr.ndim <= axis < arr.ndim:
        raise InputError.single("tender.axis", f"must be in -{arr.ndim}..{arr.ndim - 1}", axis)
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, "x")
    moved = np.moveaxis(arr, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved


def quantize_tender(x: Any, cfg: TenderConfig | None = None) -> QuantResult:
    """Fake-quantize an activation tensor with Tender's decomposition.

    Args:
        x: activations, channels on ``cfg.axis`` (e.g. ``(tokens, hidden)``), finite floats.
        cfg: the configuration (default :class:`TenderConfig`).

    Returns:
        :class:`mant.quantize.QuantResult` whose groups are the ``(chunk, channel)`` columns:
        ``choice`` is each column's decomposition group, ``scales`` its scale ``T_i / qmax``,
        ``candidates`` names the ``G`` power-of-two levels, ``codes`` are the integers.

    Raises:
        InputError: non-float, empty or non-finite input, bad axis.
    """
    cfg = TenderConfig() if cfg is None else cfg
    mat, moved = _as_matrix(x, cfg.axis)
    rows, ch = mat.shape
    r = cfg.chunk_rows
    n_chunks = -(-rows // r)
    x64 = np.zeros((n_chunks * r, ch))
    x64[:rows] = mat
    valid = (np.arange(n_chunks * r) < rows).reshape(n_chunks, r, 1)
    blocks = x64.reshape(n_chunks, r, ch)
    if cfg.channel_bias:
        hi = np.where(valid, blocks, -np.inf).max(axis=1, keepdims=True)
        lo = np.where(valid, blocks, np.inf).min(axis=1, keepdims=True)
        dtype = np.float16 if cfg.bias_format == "fp16" else np.float32
        bias = ((hi + lo) / 2).astype(dtype).astype(np.float64)
    else:
        bias = np.zeros((n_chunks, 1, ch))
    centred = np.where(valid, blocks - bias, 0.0)
    cmax = np.abs(centred).max(axis=1)  # (chunks, ch)
    tmax = cmax.max(axis=1, keepdims=True)  # (chunks, 1)
    g = cfg.n_groups
    thresholds = tmax / 2.0 ** (g - 1 - np.arange(g))[None, :]  # (chunks, G)
    group = np.zeros(cmax.shape, dtype=np.int64)
    for i in range(g - 1):  # group i when T_(i-1) < cmax <= T_i
        group += cmax > thresholds[:, i : i + 1]
    scale = np.take_along_axis(thresholds, group, axis=1) / cfg.qmax  # (chunks, ch)
    safe = np.where(scale > 0, scale, 1.0)[:, None, :]
    q = np.clip(np.rint(centred / safe), -(cfg.qmax + 1), cfg.qmax)
    deq = np.where(valid, q * scale[:, None, :] + bias, 0.0)
    err_sq = np.where(valid, (deq - blocks) ** 2, 0.0)
    n_rows = valid.sum(axis=1)  # (chunks, 1)
    out = deq.reshape(-1, ch)[:rows].astype(np.float32)
    codes = q.reshape(-1, ch)[:rows].astype(np.int16)
    shape = moved.shape
    names = tuple(f"int{cfg.bits}_tmax/{2 ** (g - 1 - i)}" for i in range(g))
    return QuantResult(
        dequantized=np.moveaxis(out.reshape(shape), -1, cfg.axis),
        codes=np.moveaxis(codes.reshape(shape), -1, cfg.axis),
        scales=scale.ravel(),
        choice=group.ravel().astype(np.int16),
        group_error=(err_sq.sum(axis=1) / n_rows).ravel(),
        candidates=names,
        bits_per_element=cfg.bits_per_element(ch, rows),
        group_size=min(r, rows),
        n_groups=n_chunks * ch,
        sum_sq_error=float(err_sq.sum()),
        sum_sq_ref=float(np.sum(np.square(mat, dtype=np.float64))),
        original=np.asarray(x),
    )
