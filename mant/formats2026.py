"""Named 2025-26 formats, each equal to its authors' code (issue 20, point 2), and the one place
that plugs the ``levels`` / ``subblock`` families and these names into name resolution.

Formats (facts: ``../shared/reference/formats_2026.md``; each rule is written out in
``docs/numerics.md``):

* ``bitmod_fp4``, ``bitmod_fp3``: BitMoD (HPCA'25), block 128, four level lists (ER/EA variants),
  FP16 scale ``absmax / qmax`` clamped to [1e-5, 1e4], threshold rounding, float16 arithmetic and
  float16 selection error, earlier list on ties (best error starts at 1000).
  ``abdelfattah-lab/BitMoD-HPCA-25`` @ e445a5f3, ``quant_weight.py`` ``search_datatype``.
* ``razer_mxfp4``, ``razer_nvfp4``: RaZeR, E2M1 with the -0 code remapped per block to +5, -5,
  +8 or -8. MX: block 32, ``2^(floor(log2 amax) - 2)``; NV: block 16, per-list scale
  ``amax / qmax`` then the chosen scale double-quantized to E4M3 under ``max s / 448`` (elements
  not re-rounded); output cast to FP16. ``abdelfattah-lab/BitMoD-MXFP4-NVFP4`` @ e5eb8dab.
* ``m2xfp4_w`` / ``m2xfp4_a``: M2XFP (ASPLOS'26) ``mxes`` / ``mxem`` (:mod:`mant.subblock`).
* ``nvfp4_4over6``: Four Over Six, NVFP4 whose block scale maps the block max to 6 or to 4
  (least SSE, 6 on ties), tensor scale ``amax / (6 * 256)``. ``mit-han-lab/fouroversix`` @
  dadfad69, ``quantize/pytorch/reference.py``.
* ``mxfp4_g16``: OCP MXFP4 (E8M0 ``2^(floor(log2 amax) - 2)``, E2M1 RNE) with blocks of 16, as in
  the Four Over Six and M2XFP papers' baselines.
* ``hif4``: HiFloat4, E6M2 + 8 x E1 + 16 x E1 scales over 64 S1P2 elements (:mod:`mant.hif4`).
  ``global-computing-consortium/HiFloat4`` @ c8e52aaa, ``HiF4_NVFP4_v14f16.py`` ``To_HiFX``.
* ``mxplus_fp4``: MX+ (MICRO'25), MXFP4 whose block max gets 3 mantissa bits (:mod:`mant.mxplus`);
  from the paper, no public code (assumptions in ``docs/numerics.md``).
* ``blockdialect_fp4`` / ``blockdialect_fp4_a``: BlockDialect (ICML'25), one of 16 FP4 dialects
  per block of 32 (:mod:`mant.blockdialect`); the formatbook is second-hand and the rule rests on
  named assumptions (weights: least squared error; activations: two-stage choice).

Example:
    >>> from mant.formats import parse_format
    >>> parse_format("bitmod_fp4").block, parse_format("bitmod_fp4").bits_per_element
    (128, 4.140625)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from mant._arith import ARITH_F16, ARITH_F32
from mant.adaptive_block import ADAPTIVE_BLOCK_FAMILY, AdaptiveBlockFormat
from mant.blockdialect import BLOCKDIALECT_SOURCE, DIALECTS, quantize_blockdialect
from mant.errors import InputError
from mant.formats import BlockFormat, FloatFormat, Format, register_format
from mant.hif4 import HIF4_MAGS, HIF4_SOURCE, quantize_hif4
from mant.levels import (
    _RE_LEVELS,
    LEVELS_FAMILY,
    LEVELS_KEYS,
    LevelsFormat,
    finish_groups,
    levels_family,
    parse_levels,
    quantize_levels_groups,
    run_levels,
)
from mant.mxplus import MXPLUS_SOURCE, quantize_mxplus
from mant.registry import register_candidate_family, register_group_quantizer
from mant.result import GroupQuant
from mant.scales import ScaleFormat
from mant.subblock import (
    _RE_SUB,
    M2XFP_SOURCE,
    SUBBLOCK_KEYS,
    parse_subblock,
    quantize_subblock_mantissa,
    quantize_subblock_scale,
    subblock_family,
    subblock_format,
)

__all__ = [
    "NAMED_2026",
    "PLUGIN_FAMILIES",
    "family_members",
]

_E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _signed(mags: Sequence[float], extra: float | None = None) -> tuple[float, ...]:
    vals = {float(m) for m in mags} | {-float(m) for m in mags}
    if extra is not None:
        vals.add(float(extra))
    return tuple(sorted(vals))


def _union(sets: Sequence[Sequence[float]]) -> LevelsFormat:
    vals = sorted({abs(v) for s in sets for v in s})
    return LevelsFormat(levels=_signed(vals))


# BitMoD grids (reference §1): base FP4 = 2 x E2M1, base FP3 = +-{0,1,2,4}; ER adds +-10 / +-3,
# EA adds +-16 / +-6, in the authors' search order er_pos, er_neg, ea_pos, ea_neg.
_BITMOD4 = tuple(_signed((0, 1, 2, 3, 4, 6, 8, 12), v) for v in (10, -10, 16, -16))
_BITMOD3 = tuple(_signed((0, 1, 2, 4), v) for v in (3, -3, 6, -6))
# RaZeR (reference §2): E2M1 plus one special value, order sm_pos, sm_neg, sr_pos, sr_neg.
_RAZER = tuple(_signed(_E2M1, v) for v in (5, -5, 8, -8))

BITMOD_SRC = (
    "abdelfattah-lab/BitMoD-HPCA-25@e445a5f31100a5057b4c5c4373da223ce95f1c3b "
    "bitmod_quant/quant_utils/quant_weight.py search_datatype"
)
RAZER_SRC = (
    "abdelfattah-lab/BitMoD-MXFP4-NVFP4@e5eb8dab5fa4bc3fa9bd27aa9252d269eaadb9dc "
    "weight_quant/quantize/quant_weight.py"
)
FOUR6_SRC = (
    "mit-han-lab/fouroversix@dadfad6901d473a734fe71e0b082e70ee993e23a "
    "src/fouroversix/quantize/pytorch/reference.py"
)


def _levels_block(
    label: str,
    rule: str,
    sets: tuple,
    block: int,
    scale: str,
    bits: int,
    scale_bits: int,
    src: str,
) -> AdaptiveBlockFormat:
    return AdaptiveBlockFormat(
        label=label,
        element=_union(sets),
        block=block,
        scale=scale,
        tensor_scale=rule == "razer_nv",
        rule=rule,
        element_bits=bits,
        meta_bits=scale_bits + math.ceil(math.log2(len(sets))),
        sets=sets,
        source=src,
    )


def _blockdialect(label: str, rule: str) -> AdaptiveBlockFormat:
    return AdaptiveBlockFormat(
        label=label,
        element=LevelsFormat(levels=_signed(np.unique(DIALECTS).tolist())),
        block=32,
        scale="e8m0",
        rule=rule,
        element_bits=4,
        meta_bits=4 + 5,
        sets=tuple(_signed(d) for d in DIALECTS.tolist()),
        source=BLOCKDIALECT_SOURCE + (" (two-stage activation rule)" if rule[-2:] == "_a" else ""),
    )


NAMED_2026: dict[str, BlockFormat] = {
    "bitmod_fp4": _levels_block("bitmod_fp4", "bitmod", _BITMOD4, 128, "fp16", 4, 16, BITMOD_SRC),
    "bitmod_fp3": _levels_block("bitmod_fp3", "bitmod", _BITMOD3, 128, "fp16", 3, 16, BITMOD_SRC),
    "razer_mxfp4": _levels_block("razer_mxfp4", "razer_mx", _RAZER, 32, "e8m0", 4, 8, RAZER_SRC),
    "razer_nvfp4": _levels_block("razer_nvfp4", "razer_nv", _RAZER, 16, "e4m3", 4, 8, RAZER_SRC),
    "m2xfp4_w": subblock_format(kind="scale", label="m2xfp4_w", source=M2XFP_SOURCE + " mxes"),
    "m2xfp4_a": subblock_format(kind="mantissa", label="m2xfp4_a", source=M2XFP_SOURCE + " mxem"),
    "nvfp4_4over6": AdaptiveBlockFormat(
        label="nvfp4_4over6",
        element=FloatFormat(exp_bits=2, man_bits=1),
        block=16,
        scale="e4m3",
        tensor_scale=True,
        rule="fouroversix",
        element_bits=4,
        meta_bits=8,
        source=FOUR6_SRC,
    ),
    "mxfp4_g16": BlockFormat(
        label="mxfp4_g16",
        element=FloatFormat(exp_bits=2, man_bits=1),
        block=16,
        scale="e8m0",
        emax=2,
    ),
    # HiF4: E6M2 + 8 x E1 + 16 x E1 per 64 (32 metadata bits); the E6M2 scale is computed in
    # bf16, which is the nominal scale format reported (no E6M2 ScaleFormat exists)
    "hif4": AdaptiveBlockFormat(
        label="hif4",
        element=LevelsFormat(levels=_signed(HIF4_MAGS)),
        block=64,
        scale="bf16",
        rule="hif4",
        element_bits=4,
        meta_bits=8 + 8 + 16,
        source=HIF4_SOURCE,
    ),
    # MX+: E2M1 elements, the block max with 3 mantissa bits (E2M3's grid covers both), E8M0
    # scale and a 5-bit index of the block max per 32
    "mxplus_fp4": AdaptiveBlockFormat(
        label="mxplus_fp4",
        element=FloatFormat(exp_bits=2, man_bits=3),
        block=32,
        scale="e8m0",
        rule="mxplus",
        element_bits=4,
        meta_bits=8 + 5,
        source=MXPLUS_SOURCE,
    ),
    # BlockDialect: 16 dialects of 8 magnitudes (multiples of 0.5 up to 7.5; the union grid holds
    # all of them), a power-of-two scale (5-bit exponent; e8m0 is the nearest scale format) and
    # a 4-bit dialect id per 32
    "blockdialect_fp4": _blockdialect("blockdialect_fp4", "blockdialect"),
    "blockdialect_fp4_a": _blockdialect("blockdialect_fp4_a", "blockdialect_a"),
}
_MX16_SRC = "OCP MX v1.0 rule with blocks of 16 (baseline in the Four Over Six and M2XFP papers)"
SOURCES: dict[str, str] = {k: getattr(v, "source", "") or _MX16_SRC for k, v in NAMED_2026.items()}


def _by_name(m: re.Match[str]) -> Format:
    """A ``levels(..)`` or ``subblock_..`` name (its pattern matched) -> its format."""
    fmt = parse_levels(m.string) or parse_subblock(m.string)
    assert fmt is not None  # the registered patterns are the parsers' own
    return fmt


# Names -> formats: the one registry of mant.formats.parse_format, as any format registers.
for _name, _fmt in NAMED_2026.items():
    register_format(_name, _fmt)
register_format(_RE_LEVELS.pattern[1:-1], _by_name, label="levels(v0,v1,..)[_mse][_even]")
register_format(_RE_SUB.pattern[1:-1], _by_name, label="subblock_scale|mantissa_b{B}s{S}")

PLUGIN_FAMILIES: dict[str, tuple[str, ...]] = {"levels": LEVELS_KEYS, "subblock": SUBBLOCK_KEYS}


def family_members(spec: Mapping[str, Any]) -> tuple[str, tuple[Format, ...]]:
    """A ``levels`` or ``subblock`` family dict -> (set label, members) for ``candidate_set``."""
    if spec.get("family") == "levels":
        return levels_family(spec)
    fmt = subblock_family(spec)
    return fmt.name, (fmt,)


# Family dicts -> candidate sets (mant.candidates.candidate_set), through mant.registry.
for _family in PLUGIN_FAMILIES:
    register_candidate_family(_family, family_members)


# ---- group quantizers ----------------------------------------------------------------------


def _amax(groups: np.ndarray) -> np.ndarray:
    """``max |x|`` per group, float32 (one compiled pass; the sign of a zero is irrelevant to
    every rule below: it is clipped, offset or only compared with 0)."""
    from mant import _levels_kernels  # numba: loaded when quantizing

    return _levels_kernels.absmax_rows(np.ascontiguousarray(groups, dtype=np.float32))


def _level_formats(fmt: AdaptiveBlockFormat) -> tuple[LevelsFormat, ...]:
    return tuple(LevelsFormat(levels=s) for s in fmt.sets)


def _bitmod(groups, lengths, fmt, choice) -> GroupQuant:
    from mant import _levels_kernels  # numba: loaded when quantizing

    # the authors' weights are float16: x16 = f32(f16(x)), and its max |.| per group
    x16, amax32 = _levels_kernels.f16_rows(np.ascontiguousarray(groups, dtype=np.float32))
    amax = amax32.astype(np.float64)
    qmax = np.array([max(abs(v) for v in s) for s in fmt.sets])
    s = (amax[:, None] / qmax[None, :]).astype(np.float16).astype(np.float64)
    s = np.clip(s, float(np.float16(1e-5)), 1e4)
    ch, idx, deq, err, energy = run_levels(
        x16,
        lengths,
        s,
        _level_formats(fmt),
        ref=groups,
        arith=ARITH_F16,
        best0=1000.0,
        choice=choice,
    )
    # a group never below the starting error 1000 is left at zero, as in the authors' code
    ch = np.maximum(ch, 0)
    return _packed(fmt, ch, idx, deq, err, energy, s[np.arange(len(ch)), ch])


def _packed(fmt, ch, idx, deq, err, energy, scales) -> GroupQuant:
    return GroupQuant(
        dequantized=deq,
        codes=_grid_codes(fmt, ch, idx),
        scales=np.asarray(scales, dtype=np.float64),
        choice=ch.astype(np.int16),
        group_error=err,
        energy=energy,
    )


def _list_tables(fmt: AdaptiveBlockFormat) -> tuple[np.ndarray, np.ndarray]:
    """Padded level lists (float32) and each level's code in the format's union grid (int16)."""
    width = max(len(s) for s in fmt.sets)
    values = np.zeros((len(fmt.sets), width), dtype=np.float32)
    codes = np.zeros((len(fmt.sets), width), dtype=np.int16)
    for c, lv in enumerate(fmt.sets):
        values[c, : len(lv)] = lv
        codes[c, : len(lv)] = np.searchsorted(fmt.grid, lv)
    return values, codes


def _grid_codes(fmt: AdaptiveBlockFormat, ch: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Level index in the chosen list -> code in the format's union grid (via a small table)."""
    from mant import _levels_kernels  # numba: loaded when quantizing

    table = _list_tables(fmt)[1]
    return _levels_kernels.list_codes(np.asarray(ch, dtype=np.int64), idx, table)


def _razer_mx(groups, lengths, fmt, choice) -> GroupQuant:
    x = np.ascontiguousarray(groups, dtype=np.float32)
    amax = _amax(x)
    tiny = np.float32(2.0**-126)
    e = np.floor(np.log2(amax + tiny * (amax == 0))) - np.float32(2.0)
    e = np.maximum(e, np.float32(-127.0)).astype(np.float64)
    scale = np.exp2(e)
    s = np.repeat(scale[:, None], len(fmt.sets), axis=1)
    # the authors' final cast to float16 (out_f16)
    ch, idx, deq, err, energy = run_levels(
        x, lengths, s, _level_formats(fmt), choice=choice, out_f16=True
    )
    return _packed(fmt, np.maximum(ch, 0), idx, deq, err, energy, scale)


def _razer_nv(groups, lengths, fmt, choice) -> GroupQuant:
    from mant import _levels_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    amax = _amax(x)
    qmax = np.array([max(abs(v) for v in s) for s in fmt.sets], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (amax[:, None] / qmax[None, :]).astype(np.float32)
    ch, idx, _, _, _ = run_levels(
        x,
        lengths,
        s.astype(np.float64),
        _level_formats(fmt),
        arith=ARITH_F32,
        choice=choice,
    )
    ch = np.maximum(ch, 0)
    sel = s[np.arange(len(ch)), ch]
    # double quantization of the chosen scales to E4M3 under an fp32 tensor scale (authors' code)
    t = np.maximum(np.float32(sel.max(initial=0.0) / np.float32(448.0)), np.float32(1e-7))
    ratio = np.abs(sel / t).astype(np.float32)
    exp = np.maximum(np.floor(np.log2(ratio + (ratio == 0))), np.float32(-6.0))
    man = np.rint(ratio / np.exp2(exp) * 8).astype(np.float32) / np.float32(8.0)
    sdq = ((np.exp2(exp) * man).astype(np.float32) * t).astype(np.float32)
    # elements: f16(f32(level * sdq)) (the authors' output cast), codes and errors in one pass
    values, codes_of = _list_tables(fmt)
    deq, codes, err, energy = _levels_kernels.scaled_levels_f16(
        x, np.asarray(lengths, dtype=np.int64), ch, idx, values, codes_of, sdq
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=sdq.astype(np.float64),
        choice=ch.astype(np.int16),
        group_error=err,
        energy=energy,
    )


def _fouroversix(groups, lengths, fmt, choice) -> GroupQuant:
    """Four Over Six (default config); the per-block rule is :mod:`mant._nvfp_kernels`."""
    from mant import _nvfp_kernels  # numba: loaded when quantizing

    x = np.ascontiguousarray(groups, dtype=np.float32)
    big_a = np.float32(np.abs(x).max(initial=0.0))
    n = x.shape[0]
    if big_a == 0:
        z = np.zeros_like(x)
        return finish_groups(groups, lengths, z, z.astype(np.int64), np.zeros(n), np.zeros(n))
    deq, codes, scales, pick, err, energy = _nvfp_kernels.fouroversix_blocks(
        x, np.asarray(lengths, dtype=np.int64), big_a
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scales,
        choice=pick.astype(np.int16),
        group_error=err,
        energy=energy,
    )


_RULES: dict[str, Callable[..., GroupQuant]] = {
    "bitmod": _bitmod,
    "razer_mx": _razer_mx,
    "razer_nv": _razer_nv,
    "fouroversix": _fouroversix,
    "subblock_scale": quantize_subblock_scale,
    "subblock_mantissa": quantize_subblock_mantissa,
    "hif4": quantize_hif4,
    "mxplus": quantize_mxplus,
    "blockdialect": quantize_blockdialect,
    "blockdialect_a": quantize_blockdialect,
}


# ---- group quantizers: the one registry of mant.quantize.quantize_groups (mant.registry) ----


@register_group_quantizer(ADAPTIVE_BLOCK_FAMILY)
def _adaptive_block_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    cs: Any,
    scale_format: ScaleFormat,
    choice: np.ndarray | None,
    clip_search: bool,
) -> GroupQuant:
    """A block format with its own rule (``fmt.rule``), the only member of its set."""
    fmt0 = cs.formats[0]
    # the format is the set's only member, so its choice is 0; its inner choice (list, bias,
    # scale) is a deterministic function of the block, redone on every call
    out = _RULES[fmt0.rule](groups, lengths, fmt0, None)
    return replace(out, choice=np.zeros(groups.shape[0], dtype=np.int16))


@register_group_quantizer(LEVELS_FAMILY)
def _levels_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    cs: Any,
    scale_format: ScaleFormat,
    choice: np.ndarray | None,
    clip_search: bool,
) -> GroupQuant:
    """Level-list formats (:mod:`mant.levels`): their scale rule and tie rule."""
    lv = tuple(f for f in cs.formats if isinstance(f, LevelsFormat))
    if len(lv) != len(cs.formats):
        raise InputError.single(
            "candidates",
            "levels formats cannot be mixed with other formats",
            [f.name for f in cs.formats],
        )
    return quantize_levels_groups(groups, lengths, lv, scale_format, choice)
