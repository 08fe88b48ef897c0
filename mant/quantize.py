"""Group quantization with exact per-group adaptive selection among candidate formats.

Each group (see :mod:`mant.groups`) gets, per candidate, the scale ``absmax / max_abs`` rounded
to the scale format (:mod:`mant.scales`); elements round to the nearest level with the rule of
:mod:`mant._kernels` (exact midpoint -> larger magnitude, saturating). The group keeps the
candidate with the least MSE; an exact MSE tie goes to the earlier candidate. With
``clip_search`` the raw scale is also multiplied by ``p`` in 0.75 .. 1.50 (1% steps, ANT's
search, mant.md §9.1) and the best (candidate, p) pair wins (earlier candidate, then smaller p,
on ties).

With ``selection="output_mse"`` the group instead keeps the candidate with the least error of the
layer's output over calibration activations (``quantize(w, cfg, calibration=X)``; ties go to the
later candidate, as the M-ANT authors' search): see :mod:`mant.output_select`.

Special members:

* ``int{k}_asym``: per-group ``scale = (max - min) / (2^k - 1)`` (rounded to the scale format)
  and zero point ``zp = clip(floor(-min / scale + 1/2), 0, 2^k - 1)``; ``q = clip(floor(x / scale
  + 1/2) + zp, 0, 2^k - 1)`` (ties upward). Codes are ``q``; the zero point adds ``k`` metadata
  bits per group.
* OliVe formats (``olive4_int``, ``olive4_flint``; set ``olive-ovp``): outlier-victim pairs
  with their own 3-sigma clip search, see :mod:`mant.olive`.
* Block formats (the only member of their set): MX uses OCP MX v1.0's shared exponent
  ``2^(floor(log2(absmax)) - emax_elem)``; NVFP4 uses an fp32 tensor scale
  ``absmax_tensor / (6 * 448)`` and E4M3 block scales ``absmax_block / 6 / tensor_scale``;
  their elements round half to even as OCP specifies (:mod:`mant.blocks`).

Example:
    >>> x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    >>> r = quantize(x, QuantConfig(candidates="mant-unicore16", group_size=64))
    >>> r.n_groups, r.bits_per_element
    (256, 4.3125)
    >>> 0.005 < r.rel_mse < 0.01
    True
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

import numpy as np

from mant import _kernels
from mant._blas import one_blas_thread
from mant.blocks import _absmax, block_scales
from mant.candidates import CandidateSet, candidate_set
from mant.errors import InputError
from mant.formats import BlockFormat, Family, Format
from mant.groups import Granularity, GroupLayout, check_finite, make_groups, ungroup
from mant.olive import olive_quantize_groups
from mant.output_select import GramCalibration, check_calibration, select_output_mse
from mant.quant_spec import QuantConfig, _meta_bits
from mant.registry import CandidatesLike, GroupQuantizer, group_quantizer, register_group_quantizer
from mant.result import GroupQuant, QuantResult
from mant.scales import DEFAULT_SCALE, ScaleFormat, parse_scale_format, round_scales
from mant.selection import Selection
from mant.tender import TenderConfig, quantize_tender

__all__ = [
    "QuantConfig",
    "QuantResult",
    "GroupQuant",
    "Selection",
    "quantize",
    "quantize_groups",
    "quantize_with_choice",
    "SpecLike",
]


CLIP_RATIOS = np.round(np.arange(75, 151) / 100.0, 2)


@functools.lru_cache(maxsize=256)
def _tables(cs: CandidateSet) -> tuple[np.ndarray, ...]:
    """Per-candidate midpoints, magnitudes, counts and grid sizes, padded to one width."""
    fmts = cs.formats
    mags_list = [np.zeros(1) if f.asymmetric else np.asarray(f.magnitudes) for f in fmts]
    width = max(len(m) for m in mags_list)
    mids = np.zeros((len(fmts), max(width - 1, 1)))
    mags = np.zeros((len(fmts), width))
    n_mids = np.zeros(len(fmts), dtype=np.int64)
    n_grid = np.zeros(len(fmts), dtype=np.int64)
    for c, (f, m) in enumerate(zip(fmts, mags_list, strict=True)):
        mags[c, : len(m)] = m
        mids[c, : len(m) - 1] = (m[1:] + m[:-1]) / 2
        n_mids[c] = len(m) - 1
        n_grid[c] = len(f.grid)
    max_abs = np.array([f.max_abs for f in fmts])
    for a in (mids, mags, n_mids, n_grid, max_abs):
        a.setflags(write=False)
    return mids, mags, n_mids, n_grid, max_abs


def _asym(groups: np.ndarray, lengths: np.ndarray, fmt: Format, scale_format: ScaleFormat):
    """Asymmetric integer quantization of every group: (codes, deq, mse, scale, zero point)."""
    g = groups.shape[1]
    valid = np.arange(g)[None, :] < lengths[:, None]
    x = groups.astype(np.float64)
    lo = np.minimum(np.where(valid, x, np.inf).min(axis=1), 0.0)
    hi = np.maximum(np.where(valid, x, -np.inf).max(axis=1), 0.0)
    top = 2**fmt.bits - 1
    s = round_scales((hi - lo) / top, scale_format)
    safe = np.where(s > 0, s, 1.0)
    zp = np.where(s > 0, np.clip(np.floor(-lo / safe + 0.5), 0, top), 0.0)
    q = np.clip(np.floor(x / safe[:, None] + 0.5) + zp[:, None], 0, top)
    q = np.where(s[:, None] > 0, q, zp[:, None])
    deq = (q - zp[:, None]) * s[:, None]
    err = np.where(valid, (x - deq) ** 2, 0.0).sum(axis=1) / lengths
    return q.astype(np.int16), deq.astype(np.float32), err, s, zp.astype(np.int16)


def _validate_groups(groups: Any, lengths: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(groups)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError.single("groups", "must be a 2-d array (n_groups, g)", arr.shape)
    if arr.dtype.kind != "f":
        raise InputError.single("groups", "must be a float array", str(arr.dtype))
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    check_finite(arr, "groups")
    if lengths is None:
        n = np.full(arr.shape[0], arr.shape[1], dtype=np.int64)
    else:
        n = np.ascontiguousarray(lengths, dtype=np.int64)
        if n.shape != (arr.shape[0],) or n.min() < 1 or n.max() > arr.shape[1]:
            raise InputError.single("lengths", f"must be ints in 1..{arr.shape[1]}", n.shape)
    return arr, n


def _family_quantizer(cs: CandidateSet) -> GroupQuantizer | None:
    """The registered quantizer of the set's family; a family with one is never mixed."""
    families = [str(f.family) for f in cs.formats]
    special = group_quantizer(families[0])
    if len(set(families)) > 1:
        for fam in families:
            if group_quantizer(fam) is not None:
                raise InputError.single(
                    "candidates", f"{fam} formats cannot be mixed with other formats", cs.names
                )
    return special


def quantize_groups(
    groups: np.ndarray,
    candidates: CandidateSet | Any,
    *,
    choice: np.ndarray | None = None,
    scale_format: ScaleFormat | str = DEFAULT_SCALE,
    clip_search: bool = False,
    lengths: np.ndarray | None = None,
) -> GroupQuant:
    """Quantize rows of ``groups``, each with its best (or the given) candidate.

    Args:
        groups: ``(n_groups, g)`` float32 values (finite).
        candidates: a :class:`CandidateSet` or any spec :func:`candidate_set` accepts.
        choice: per-group candidate index; when given no search is done.
        scale_format: per-group scale format (int8's scale-of-scales spans these groups).
        clip_search: also search the clip ratio (ignored when ``choice`` is given).
        lengths: valid values per group (the rest is padding), default all ``g``.

    Returns:
        :class:`GroupQuant`.

    Example:
        >>> g = np.array([[0.1, -0.5, 0.25, 1.0]], dtype=np.float32)
        >>> q = quantize_groups(g, candidate_set("int4"), scale_format="fp32")
        >>> np.round(q.dequantized.astype(float) * 7, 3).tolist()  # scale fl32(1/7)
        [[1.0, -3.0, 2.0, 7.0]]
    """
    cs = candidate_set(candidates)
    sf = parse_scale_format(scale_format)
    arr, n = _validate_groups(groups, lengths)
    n_groups = arr.shape[0]
    n_cand = len(cs.formats)
    special = _family_quantizer(cs)  # mant.registry: the one dispatch
    if special is not None:
        ch = None if choice is None else _check_choice(choice, n_groups, n_cand)
        return special(arr, n, cs, sf, ch, clip_search)
    mids, mags, n_mids, n_grid, max_abs = _tables(cs)
    asym = [c for c, f in enumerate(cs.formats) if f.asymmetric]
    ratios = CLIP_RATIOS if (clip_search and choice is None) else np.ones(1)
    n_r = len(ratios)

    raw = _absmax(arr)[:, None, None] / max_abs[None, :, None] * ratios[None, None, :]
    scales = round_scales(raw.reshape(n_groups, n_cand * n_r), sf)

    if choice is not None:
        ch = _check_choice(choice, n_groups, n_cand)
        pick = ch * n_r
    else:
        if n_cand == 1 and n_r == 1:
            pick = np.zeros(n_groups, dtype=np.int64)
        else:
            if n_r == 1:
                t_mids, t_mags, t_nm = mids, mags, n_mids
            else:
                t_mids = np.repeat(mids, n_r, axis=0)
                t_mags = np.repeat(mags, n_r, axis=0)
                t_nm = np.repeat(n_mids, n_r)
            err = _kernels.search_errors(arr, n, scales, t_mids, t_nm, t_mags)
            for c in asym:
                err[:, c * n_r : (c + 1) * n_r] = _asym(arr, n, cs.formats[c], sf)[2][:, None]
            pick = np.argmin(err, axis=1)
        ch = pick // n_r

    sel_scale = np.ascontiguousarray(np.take_along_axis(scales, pick[:, None], axis=1)[:, 0])
    codes, deq, gerr, energy = _kernels.apply_choice(
        arr, n, sel_scale, ch, mids, n_mids, mags, n_grid
    )
    zero_points = None
    if asym:
        zero_points = np.zeros(n_groups, dtype=np.int16)
        for c in asym:
            rows = np.flatnonzero(ch == c)
            if rows.size:
                q, d, e, s, zp = _asym(arr[rows], n[rows], cs.formats[c], sf)
                codes[rows], deq[rows], gerr[rows] = q, d, e
                sel_scale[rows], zero_points[rows] = s, zp
    clip = ratios[pick % n_r] if n_r > 1 else None
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=sel_scale,
        choice=ch.astype(np.int16),
        group_error=gerr,
        energy=energy,
        zero_points=zero_points,
        clip_ratio=clip,
    )


@register_group_quantizer(Family.BLOCK)
def _block_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    cs: CandidatesLike,
    scale_format: ScaleFormat,
    choice: np.ndarray | None,
    clip_search: bool,
) -> GroupQuant:
    """OCP MX / NVFP4 (the only member of their set): the block-scale rule of
    :mod:`mant.blocks`, nearest level, elements rounding half to even as OCP specifies."""
    fmt = cs.formats[0]
    assert isinstance(fmt, BlockFormat) and isinstance(cs, CandidateSet)
    from mant import _block_kernels  # the one-pass form of apply_choice + ties_to_even

    mids, mags, n_mids, n_grid, _ = _tables(cs)
    if fmt.tensor_scale:  # NVFP4
        scale = np.ascontiguousarray(block_scales(groups, fmt))
    else:  # MX: block_scales' rule, compiled
        scale = _block_kernels.mx_scales(groups, fmt.emax)
    ch = np.zeros(groups.shape[0], dtype=np.int64) if choice is None else choice
    nm = int(n_mids[0])
    codes, deq, gerr, energy, tie = _block_kernels.mx_elements(
        groups, lengths, scale, mids[0, :nm].copy(), mags[0, : nm + 1].copy(), int(n_grid[0])
    )
    rows = np.flatnonzero(tie)
    if rows.size:  # the error after the move, numpy's sum as before: (|x| - fl(m * s))^2
        lev = np.abs(fmt.grid[codes[rows]]) * scale[rows, None]
        valid = np.arange(groups.shape[1])[None, :] < lengths[rows, None]
        sq = np.where(valid, (np.abs(groups[rows].astype(np.float64)) - lev) ** 2, 0.0)
        gerr[rows] = sq.sum(axis=1) / lengths[rows]
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scale,
        choice=ch.astype(np.int16),
        group_error=gerr,
        energy=energy,
    )


@register_group_quantizer("olive")
def _olive_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    cs: CandidatesLike,
    scale_format: ScaleFormat,
    choice: np.ndarray | None,
    clip_search: bool,
) -> GroupQuant:
    """OliVe's outlier-victim pairs with their own clip search (:mod:`mant.olive`)."""
    ch = None if choice is None else _check_choice(choice, groups.shape[0], len(cs.formats))
    codes, deq, scales, picked, err, energy, ratio = olive_quantize_groups(
        groups, lengths, cs.formats, scale_format, ch
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=scales,
        choice=picked,
        group_error=err,
        energy=energy,
        clip_ratio=ratio,
    )


def _check_choice(choice: Any, n_groups: int, n_cand: int) -> np.ndarray:
    ch = np.asarray(choice)
    if (
        ch.shape != (n_groups,)
        or ch.dtype.kind not in "iu"
        or (ch.size and (ch.min() < 0 or ch.max() >= n_cand))
    ):
        raise InputError.single(
            "choice", f"must be ints in 0..{n_cand - 1}, one per group", ch.shape
        )
    return ch.astype(np.int64)


class SpecLike(Protocol):
    """A value that says how a tensor is quantized: a :class:`mant.quant_spec.QuantSpec`."""

    def quant_config(self, *, axis: int = -1) -> QuantConfig | TenderConfig: ...


def quantize(
    x: np.ndarray,
    cfg: QuantConfig | TenderConfig | SpecLike | None = None,
    *,
    calibration: np.ndarray | GramCalibration | None = None,
    **overrides: Any,
) -> QuantResult:
    """Fake-quantize a tensor.

    Args:
        x: real tensor (any shape, finite; converted to float32).
        cfg: the configuration (default ``QuantConfig()``); keyword overrides build one.
            A :class:`mant.quant_spec.QuantSpec` is quantized along the last axis with its
            carried candidate set (one with a GPTQ / AWQ algorithm or a rotation is refused:
            :func:`mant.gptq.quantize_layer` runs it, with its calibration activations). A
            :class:`mant.tender.TenderConfig` runs Tender's activation scheme instead.
        calibration: for ``selection="output_mse"`` only: activations (tokens, in_features)
            that multiply ``x`` (out_features, in_features), grouped along its last axis, or
            their :class:`~mant.output_select.GramCalibration` (to share it between weights).

    Returns:
        :class:`QuantResult`.

    Raises:
        InputError: NaN/Inf, empty tensor, bad axis or group size, unknown candidates; for
            output-MSE, missing or mismatched calibration activations.

    Example:
        >>> r = quantize(np.linspace(-1, 1, 128, dtype=np.float32), candidates="int4")
        >>> r.choice_histogram()
        {'int4': 2}
        >>> from mant.quant_spec import QuantSpec
        >>> quantize(np.ones(64, np.float32), QuantSpec.parse("int4:g32", kind="q")).n_groups
        2
    """
    if cfg is not None and not isinstance(cfg, QuantConfig | TenderConfig):
        if not callable(getattr(cfg, "quant_config", None)):
            raise InputError.single(
                "cfg", "must be a QuantConfig, a QuantSpec or a TenderConfig", type(cfg)
            )
        if getattr(cfg, "layer_algorithm", False):  # never rounded to nearest in silence
            raise InputError.single(
                "cfg",
                "has an algorithm or a rotation: quantize it with mant.gptq.quantize_layer("
                "w, spec.quant_config(), algorithm=spec.algorithm, rotation_block=..., "
                "calibration=X)",
                str(cfg),
            )
        cfg = cfg.quant_config(axis=-1)
    if cfg is not None and not isinstance(cfg, QuantConfig):
        if isinstance(cfg, TenderConfig) and not overrides:
            return quantize_tender(x, cfg)
        raise InputError.single("cfg", "must be a QuantConfig or a TenderConfig", type(cfg))
    if cfg is None:
        cfg = QuantConfig(**overrides)
    elif overrides:
        cfg = QuantConfig(**{**cfg.to_dict(), **overrides})
    if cfg.selection is Selection.OUTPUT_MSE and calibration is None:
        raise InputError.single(
            "calibration", "is required with selection output_mse", "no activations"
        )
    if cfg.selection is not Selection.OUTPUT_MSE and calibration is not None:
        raise InputError.single(
            "calibration", "is only used with selection output_mse", str(cfg.selection)
        )
    with one_blas_thread():  # numba's parallel kernels get the cores (mant._blas)
        groups, lengths, layout = make_groups(
            x, axis=cfg.axis, group_size=cfg.group_size, granularity=cfg.granularity
        )
        if cfg.selection is Selection.OUTPUT_MSE:
            gq = _output_mse_groups(groups, lengths, layout, cfg, calibration)
        else:
            gq = quantize_groups(
                groups,
                cfg.candidate_set,
                scale_format=cfg.scale_format,
                clip_search=cfg.clip_search,
                lengths=lengths,
            )
        return _result(gq, layout, cfg, x, lengths)


def quantize_with_choice(x: np.ndarray, cfg: QuantConfig, choice: np.ndarray) -> QuantResult:
    """Fake-quantize ``x`` with a given candidate per group (no search).

    ``choice`` is ``QuantResult.choice`` of an earlier run with the same config and tensor; the
    result is then identical to that run's.
    """
    groups, lengths, layout = make_groups(
        x, axis=cfg.axis, group_size=cfg.group_size, granularity=cfg.granularity
    )
    gq = quantize_groups(
        groups,
        cfg.candidate_set,
        choice=np.asarray(choice).astype(np.int64, copy=False),
        scale_format=cfg.scale_format,
        lengths=lengths,
    )
    return _result(gq, layout, cfg, x, lengths)


def _output_mse_groups(
    groups: np.ndarray,
    lengths: np.ndarray,
    layout: GroupLayout,
    cfg: QuantConfig,
    calibration: Any,
) -> GroupQuant:
    """The least output error over the calibration activations (mant.output_select)."""
    if layout.axis != max(len(layout.shape), 1) - 1:
        raise InputError.single(
            "axis", "must be the last axis with selection output_mse", cfg.axis
        )
    cal: GramCalibration | None = None
    if isinstance(calibration, GramCalibration):
        cal = calibration
        if cal.in_features != layout.n_cols:
            raise InputError.single(
                "calibration", f"must have in_features={layout.n_cols} columns", cal.in_features
            )
        if cal.group_size != layout.group_size:
            raise InputError.single(
                "calibration.group_size", f"must be {layout.group_size}", cal.group_size
            )
    else:
        acts = check_calibration(calibration, layout.n_cols)
    cs = cfg.candidate_set
    mids, mags, n_mids, n_grid, max_abs = _tables(cs)
    # plain symmetric grids only (QuantConfig checks): the search's scales are the stored ones
    scales = round_scales(_absmax(groups)[:, None] / max_abs[None, :], cfg.scale_format)
    if len(cs.formats) > 1:
        if cal is None:
            cal = GramCalibration.from_activations(acts, group_size=layout.group_size)
        choice, _ = select_output_mse(groups, lengths, scales, (mids, mags, n_mids), cal)
    else:
        choice = np.zeros(groups.shape[0], dtype=np.int64)
    sel_scale = np.ascontiguousarray(np.take_along_axis(scales, choice[:, None], axis=1)[:, 0])
    codes, deq, gerr, energy = _kernels.apply_choice(
        groups, lengths, sel_scale, choice, mids, n_mids, mags, n_grid
    )
    return GroupQuant(
        dequantized=deq,
        codes=codes,
        scales=sel_scale,
        choice=choice.astype(np.int16),
        group_error=gerr,
        energy=energy,
    )


def _result(
    gq: GroupQuant, layout: GroupLayout, cfg: QuantConfig, x: Any, lengths: np.ndarray
) -> QuantResult:
    cs = cfg.candidate_set
    if cfg.granularity is Granularity.GROUP:
        bpe = cfg.bits_per_element
    else:
        meta = _meta_bits(cs, cfg.scale_format)
        bpe = (
            cs.bits + meta / layout.n_cols
            if cfg.granularity is Granularity.CHANNEL
            else (cs.bits + meta / max(int(np.prod(layout.shape)), 1))
        )
    return QuantResult(
        dequantized=ungroup(gq.dequantized, layout),
        codes=ungroup(gq.codes, layout),
        scales=gq.scales,
        choice=gq.choice,
        group_error=gq.group_error,
        candidates=cs.names,
        bits_per_element=float(bpe),
        group_size=layout.group_size,
        n_groups=layout.n_groups,
        zero_points=gq.zero_points,
        clip_ratio=gq.clip_ratio,
        sum_sq_error=float(np.dot(gq.group_error, lengths)),
        sum_sq_ref=float(gq.energy.sum()),
        original=np.asarray(x),
    )
