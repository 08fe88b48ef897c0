"""Activation fake-quantization for a model's forward pass, driven by a :class:`QuantSpec`.

Activations are quantized on the fly, per token: groups of g along the last axis (the reduction
dimension of the consumer: in_features of a linear layer, head_dim of Q, the key axis of the
attention probabilities). Symmetric INT formats take a fast numpy path that is the M-ANT
authors' ``pseudo_quantize_int`` (``quant_func.py``, commit 75fb156): scale = max(absmax,
1e-5) / (2^(b-1) - 1) per group, round to nearest, clip to [-2^(b-1), 2^(b-1) - 1]; a last
group shorter than g is zero-padded, which leaves its absmax unchanged. The group scale is
rounded to the recipe's scale format (fp16 by default, as the authors' fp16 model holds it).
Any other format (ANT's or OliVe's types, Tender's decomposition, channel or tensor
granularity) goes through :func:`mant.quantize.quantize`, one leading slice (one window) at a
time so that windows of a batch stay independent.

Example:
    >>> import numpy as np
    >>> from mant.quant_spec import Kind, QuantSpec
    >>> q = act_quantizer(QuantSpec.parse("int8:g64", kind=Kind.ACTIVATIONS))
    >>> x = np.linspace(-1, 1, 128, dtype=np.float32).reshape(1, 128)
    >>> float(np.abs(q(x) - x).max()) <= 0.5 / 127 + 1e-6
    True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mant.formats import IntFormat
from mant.groups import Granularity
from mant.quant_spec import QuantSpec
from mant.scales import ScaleFormat

__all__ = [
    "WEIGHT_ONLY_RULES",
    "ActQuantizer",
    "act_quantizer",
    "int_fake_quant",
    "realtime_act_issue",
]

ActQuantizer = Callable[[np.ndarray], np.ndarray]
"""``x -> x_hat``, same shape and dtype, groups along the last axis."""

_SCALE_DTYPES = {ScaleFormat.FP16: np.float16, ScaleFormat.FP32: np.float32}

WEIGHT_ONLY_RULES = {
    "bitmod": "BitMoD searches a data type per weight group; its activations stay fp16 "
    "(abdelfattah-lab/BitMoD-HPCA-25)",
    "razer_mx": "RaZeR's MXFP4 variant is its weight quantizer (special-value search per block)",
    "razer_nv": "RaZeR's NVFP4 variant is its weight quantizer (the activation variant, "
    "nvfp4_razer_e4m3, is another format)",
    "subblock_scale": "M2XFP's sub-block scale search (mxes) is its weight format; its "
    "activations use m2xfp4_a (mxem)",
}
"""Rules of :class:`mant.adaptive_block.AdaptiveBlockFormat` defined for weights only (an
offline search per block), each with why (``formats_2026.md``)."""


def realtime_act_issue(recipe: QuantSpec) -> str | None:
    """Why ``recipe`` cannot quantize activations on the fly, per token, or None if it can.

    Activations are quantized as they are produced, so the recipe must be one format (a set of
    several needs a type search per group: M-ANT selects types in real time only for the KV
    cache, through its threshold LUT) and not a weight-only adaptive rule
    (:data:`WEIGHT_ONLY_RULES`).

    Example:
        >>> from mant.quant_spec import Kind, QuantSpec
        >>> [realtime_act_issue(QuantSpec.parse(f, kind=Kind.ACTIVATIONS)) is None
        ...  for f in ("int4:g64", "nvfp4", "m2xfp4_a", "mant-unicore16", "bitmod_fp4")]
        [True, True, True, False, False]
    """
    cs = recipe.candidate_set
    if cs is None:
        return "must be a format with a candidate set (Tender's decomposition is PE-native)"
    if len(cs.formats) != 1:
        return (
            f"must be one format, not a set of {len(cs.formats)} (a per-group type search "
            "cannot run on activations in real time)"
        )
    why = WEIGHT_ONLY_RULES.get(str(getattr(cs.formats[0], "rule", "")))
    return None if why is None else f"cannot quantize activations in real time ({why})"


def int_fake_quant(
    x: np.ndarray, bits: int, group_size: int, scale_dtype: type = np.float32
) -> np.ndarray:
    """Symmetric absmax INT fake-quantization in groups of ``group_size`` along the last axis.

    Args:
        x: any shape; the last axis is grouped (zero-padded to a multiple of g).
        bits: integer bits (8: [-128, 127], scale absmax / 127).
        group_size: values per group.
        scale_dtype: the scale is rounded to this float type.
    """
    n = x.shape[-1]
    pad = -n % group_size
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)]) if pad else x
    g = xp.reshape(*xp.shape[:-1], -1, group_size)
    qmax = 2 ** (bits - 1) - 1
    absmax = np.maximum(np.max(np.abs(g), axis=-1, keepdims=True), 1e-5)
    scale = (absmax / qmax).astype(scale_dtype).astype(x.dtype)
    out = (np.clip(np.round(g / scale), -qmax - 1, qmax) * scale).reshape(xp.shape)
    return out[..., :n] if pad else out


def act_quantizer(recipe: QuantSpec) -> ActQuantizer:
    """The per-token activation quantizer of one tensor recipe (see the module doc)."""
    cs = recipe.candidate_set
    fmt = None if cs is None or len(cs.formats) != 1 else cs.formats[0]
    fast = (
        isinstance(fmt, IntFormat)
        and not fmt.name.endswith("_asym")
        and recipe.granularity is Granularity.GROUP
        and recipe.scale_format in _SCALE_DTYPES
        and not recipe.clip_search
    )
    if fast:
        assert fmt is not None and recipe.group_size is not None
        assert recipe.scale_format is not None
        bits, g = int(fmt.bits), int(recipe.group_size)
        sdt = _SCALE_DTYPES[ScaleFormat(recipe.scale_format)]
        return lambda x: int_fake_quant(x, bits, g, sdt)
    cfg = recipe.quant_config(axis=-1)

    def general(x: np.ndarray) -> np.ndarray:
        from mant.quantize import quantize

        if x.ndim <= 2:
            return np.asarray(quantize(x, cfg).dequantized, dtype=x.dtype).reshape(x.shape)
        return np.stack([general(part) for part in x])

    return general
