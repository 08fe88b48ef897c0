"""GPTQ with any group quantizer, and Hadamard-rotated quantization of linear layers.

GPTQ (Frantar et al., ICLR 2023, Algorithm 1) quantizes a weight ``W`` (out, in) one input
column at a time and moves each column's rounding error onto the columns not yet quantized,
weighted by the inverse Hessian ``H = Xᵀ X`` of the layer's calibration inputs ``X`` (tokens, in),
so that the output error ``‖X Wᵀ - X Ŵᵀ‖`` stays small where round-to-nearest only keeps the
weight error small.

Here the quantizer is the group quantizer of :mod:`mant.quantize` with its candidate set: when
the sweep reaches the first column of a group, each row's group picks its type and scale from
its *current* values (the errors of the earlier columns already moved in), and every column
of the group then rounds
with that type and scale (the tie rule of the format: exact midpoint to the larger magnitude, to
even for OCP MX and NVFP4). So GPTQ composes with every format and every adaptive set: a MANT
group chooses its coefficient ``a`` inside the sweep. The choice follows ``cfg.selection``:
``weight_mse`` (the set's own rule: least weight error of the current values, earlier candidate
on ties) or ``output_mse``, the error GPTQ minimises: for the group ``F`` at the front of the
columns not yet quantized, each candidate ``c`` runs the group's own sweep (error ``e = w_F -
q_F``), and quantizing ``F`` so and compensating optimally on the later columns adds
``e ((H⁻¹)_FF)⁻¹ eᵀ`` to the output error (OBS with a block; ``H⁻¹`` of the remaining columns is
``UᵀU`` for GPTQ's upper factor ``U``, so ``(H⁻¹)_FF = U_FFᵀ U_FF``), i.e. ``‖e U_FF⁻¹‖²``,
which is the sum of the sweep's squared scaled errors ``((w_j - q_j) / U_jj)²``; the least
wins, the later candidate on ties (as the M-ANT authors' output-MSE rule for round to nearest).
Rounding ``w_F`` at once instead of by the sweep (no in-group compensation) chooses worse.
NVFP4's tensor scale comes from the whole original weight, as in round-to-nearest.

Details of the sweep, as in the reference implementation (IST-DASLab ``gptq``): the Hessian is
damped by ``damp`` times its mean diagonal; an input that never fires (zero diagonal) gets
diagonal 1 and its weight column is set to 0; the updates are applied lazily: column by column
inside a batch of whole groups (:data:`LAZY_BLOCK` columns or one group, whichever is more), and
onto the later columns as one matrix product when the batch is done (GPTQ's lazy batch), which
gives the same values as the column-by-column sweep up to floating-point summation order.
Each group's type and scale are chosen from its current values (the column-by-column
algorithm, which the tests use as the oracle).

AWQ (Lin et al., MLSys 2024): activation-aware per-input-channel scaling. The weight's input
channel ``j`` is multiplied by ``s_j = mean|X_j|^α`` (normalised by ``sqrt(max s · min s)``, as in
the authors' search) and the activations divided by it (folded into the previous operator), so the
channels that carry large activations lose less to rounding; ``α`` is searched over 0, 1/20, ...,
19/20 for the least output error ``‖X Wᵀ - X Ŵᵀ‖`` on the calibration activations. The result is
``Q(W·diag(s))·diag(s)⁻¹`` in the original basis; ``α = 0`` is round to nearest, so AWQ never does
worse on its calibration set.

Rotation: with ``rotation_block=b`` the input dimension of ``W`` (and of ``X``) is multiplied by a
block-diagonal normalised Hadamard matrix (:mod:`mant.rotation`) before quantizing, and the
result is rotated back, so ``X Ŵᵀ`` approximates ``X Wᵀ`` for the *unrotated* ``X``. The codes,
scales and per-group errors of the result are those of the rotated weight; its dequantized
values, and its total squared error (the rotation is orthogonal), are in the original basis.

Example:
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((32, 128)).astype(np.float32)
    >>> x = rng.standard_normal((256, 128)).astype(np.float32)
    >>> cfg = QuantConfig(candidates="int4", group_size=64)
    >>> out_err = lambda r: float(np.sum((x @ (w - r.dequantized).T) ** 2))
    >>> gptq_result = quantize_layer(w, cfg, algorithm="gptq", calibration=x)
    >>> out_err(gptq_result) < out_err(quantize(w, cfg))
    True
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from mant import _kernels
from mant._blas import one_blas_thread
from mant._gptq_kernels import output_costs, sweep_group
from mant.blocks import _absmax, block_scales, ties_to_even
from mant.errors import InputError
from mant.formats import BlockFormat, Family
from mant.groups import Granularity, check_finite, make_groups
from mant.olive import OliveFormat
from mant.output_select import pick_last_min
from mant.quantize import QuantConfig, _result, _tables, quantize, quantize_groups
from mant.registry import group_quantizer
from mant.result import GroupQuant, QuantResult
from mant.rotation import check_block, hadamard
from mant.scales import parse_scale_format, round_scales
from mant.selection import Selection

__all__ = [
    "AWQ_GRID",
    "GPTQ_VERSION",
    "HESSIAN_TOKENS",
    "Algorithm",
    "Hessian",
    "awq",
    "gptq",
    "quantize_layer",
]

# GPTQ's lazy batch: columns quantized before the later ones get their update (one BLAS
# product); whole groups, at least one (the reference code's block is 128 columns; on SmolLM2
# at g = 64, 64 was as fast as 128 and 1.2x faster than 256: the in-batch updates grow with it)
LAZY_BLOCK = 64

# GPTQ's version in caches' keys, raised whenever the sweep or its type choice changes, so that
# weights of an older one are never read back (2: output_mse chooses by the added output error
# of the group's own sweep; a stored SmolLM2 entry of an earlier weight_mse sweep gave
# perplexity 27.14 where this code gives 27.42).
GPTQ_VERSION = 2

# AWQ's exponents α (the authors search 20 points of [0, 1)).
AWQ_GRID = tuple(i / 20 for i in range(20))


class Algorithm(StrEnum):
    """How a weight's values are rounded onto its format."""

    RTN = "rtn"  # round to nearest, each group on its own (mant.quantize)
    GPTQ = "gptq"  # GPTQ's error-compensating column sweep (this module)
    AWQ = "awq"  # activation-aware channel scaling, then round to nearest (this module)


def quantize_layer(
    w: np.ndarray,
    cfg: QuantConfig,
    *,
    algorithm: Algorithm | str = Algorithm.RTN,
    rotation_block: int | None = None,
    calibration: np.ndarray | None = None,
    damp: float = 0.01,
    hessian: Hessian | None = None,
) -> QuantResult:
    """Quantizes a linear layer's weight ``w`` (out, in) with an algorithm and a rotation.

    Args:
        w: the weight, groups along its input (last) axis.
        cfg: the format, candidate set, group size and scale format (group granularity).
        algorithm: ``rtn``, ``gptq`` or ``awq``.
        rotation_block: ``None`` (no rotation) or the Hadamard block (a power of two dividing
            ``in``; the group size rotates each group, ``in`` the whole row).
        calibration: activations (tokens, in) that multiply ``w``; required by ``gptq`` and by
            ``output_mse`` selection.
        damp: GPTQ's Hessian damping, a fraction of its mean diagonal.
        hessian: for ``gptq`` without a rotation, the :class:`Hessian` of the calibration
            activations, built once for all the weights that share them (q, k and v; gate and
            up); it stands for ``calibration`` and carries its own ``damp``.

    Returns:
        :class:`~mant.result.QuantResult` whose ``dequantized`` is in ``w``'s own basis.
    """
    try:
        algo = Algorithm(algorithm)
    except ValueError:
        raise InputError.single("algorithm", "must be rtn, gptq or awq", algorithm) from None
    arr = _matrix(w, "w")
    if hessian is not None:
        if not isinstance(hessian, Hessian):
            raise InputError.single("hessian", "must be a mant.gptq.Hessian", type(hessian))
        if algo is not Algorithm.GPTQ or rotation_block is not None:
            raise InputError.single(
                "hessian", "is used by gptq without a rotation only", f"{algo}, {rotation_block}"
            )
        if calibration is not None:
            raise InputError.single(
                "hessian", "stands for calibration: pass one of them", "both given"
            )
        return gptq(arr, cfg, hessian)
    x = None if calibration is None else _matrix(calibration, "calibration")
    if x is not None and x.shape[1] != arr.shape[1]:  # the wording of mant.output_select
        raise InputError.single(
            "calibration", f"must have in_features={arr.shape[1]} columns", x.shape[1]
        )
    if rotation_block is not None:
        check_block(rotation_block, arr.shape[1], "rotation_block")
        arr = hadamard(arr, block=rotation_block).astype(np.float32)
        x = None if x is None else hadamard(x, block=rotation_block).astype(np.float32)
    if algo is not Algorithm.RTN and x is None:
        raise InputError.single("calibration", f"is required by {algo}", "no activations")
    if algo is Algorithm.GPTQ:
        assert x is not None
        res = gptq(arr, cfg, x, damp=damp)
    elif algo is Algorithm.AWQ:
        assert x is not None
        res = awq(arr, cfg, x)
    else:
        needs = cfg.selection is Selection.OUTPUT_MSE
        res = quantize(arr, cfg, calibration=x if needs else None)
    if rotation_block is None:
        return res
    back = hadamard(res.dequantized, block=rotation_block).astype(np.float32)
    return _rebased(res, back, np.asarray(w))


@dataclass(frozen=True, slots=True)
class Hessian:
    """GPTQ's view of a layer's calibration inputs, shared by the weights they feed.

    Attributes:
        u: upper Cholesky factor of the damped inverse Hessian, ``H⁻¹ = Uᵀ U`` (float64).
        dead: inputs that never fire (their weight columns are set to 0).
        damp: the damping it was built with.
    """

    u: np.ndarray
    dead: np.ndarray
    damp: float

    @classmethod
    def from_activations(cls, x: np.ndarray, *, damp: float = 0.01) -> Hessian:
        """``H = Xᵀ X`` damped by ``damp`` times its mean diagonal, and the upper Cholesky
        factor of its inverse.

        ``H`` is a sum of float32 ``syrk`` products over fixed blocks of
        :data:`HESSIAN_TOKENS` tokens (the blocks run on numba's thread count, one BLAS
        thread each, and add up in float64 in token order: the same bits for any thread
        count). The factor: ``U`` with ``H⁻¹ = Uᵀ U`` is ``V⁻¹`` for the "UL" factor
        ``H = V Vᵀ`` (``V`` upper), which is the Cholesky factor of ``H`` with rows and
        columns reversed; so one ``potrf`` and one ``trtri`` (float64) give it, where GPTQ's
        reference code runs Cholesky, the inverse from it and a second Cholesky (twice the
        work; the same ``U`` up to rounding, tested).

        Raises:
            InputError: a bad ``damp``, non-finite ``x``, or a Hessian that is not positive
                definite even after damping.
        """
        if isinstance(damp, bool) or not (isinstance(damp, int | float) and 0 < damp < 1):
            raise InputError.single("damp", "must be a number in (0, 1)", damp)
        from scipy.linalg import lapack

        xs = _matrix(x, "calibration", finite=False)
        n = xs.shape[1]
        # P H P (P reverses the order) in a Fortran-order float64 array, for LAPACK in place
        rev = np.zeros((n, n), order="F")
        _gram_into(xs, rev[::-1, ::-1])
        diag = np.diagonal(rev)[::-1]  # H's diagonal, in H's order
        if not np.isfinite(diag).all():  # a NaN or Inf in X, or finite values that overflow
            check_finite(xs, "calibration")
            raise InputError.single(
                "calibration", "must be small enough that XᵀX is finite in float32", "overflow"
            )
        dead = diag == 0
        diag = np.where(dead, 1.0, diag)
        diag = diag + damp * float(np.mean(diag))
        np.fill_diagonal(rev, diag[::-1])
        with one_blas_thread():
            # P H P = Rᵀ R, so H = V Vᵀ with V = P Rᵀ P upper, and U = V⁻¹ = P R⁻ᵀ P
            r, info = lapack.dpotrf(rev, lower=0, clean=1, overwrite_a=1)
            if info == 0:
                r, info = lapack.dtrtri(r, lower=0, overwrite_c=1)
        if info != 0:
            raise InputError.single(
                "calibration",
                "gives a Hessian that is not positive definite after damping (raise damp)",
                damp,
            )
        return cls(u=np.ascontiguousarray(r.T[::-1, ::-1]), dead=dead, damp=float(damp))


# calibration tokens per product of the Hessian (fixed, so the sum is the same on any thread count)
HESSIAN_TOKENS = 4096


def _gram_into(x: np.ndarray, out: np.ndarray) -> None:
    """Adds ``Xᵀ X`` into ``out`` (float64): float32 products of :data:`HESSIAN_TOKENS` tokens
    (numpy's ``A.T @ A`` is one ``syrk``), on numba's thread count, summed in token order."""
    import numba

    starts = range(0, x.shape[0], HESSIAN_TOKENS)
    workers = max(1, min(numba.get_num_threads(), len(starts)))

    def part(t0: int) -> np.ndarray:
        block = x[t0 : t0 + HESSIAN_TOKENS]
        with np.errstate(over="ignore"):  # an overflow is reported from the diagonal
            return (block.T @ block).T  # symmetric; transposed, it runs along out's memory

    with one_blas_thread():
        if workers == 1:
            for t0 in starts:
                out += part(t0)
            return
        with ThreadPoolExecutor(workers) as pool:
            for i in range(0, len(starts), workers):  # a round of products, added in order
                for product in pool.map(part, starts[i : i + workers]):
                    out += product


def gptq(
    w: np.ndarray,
    cfg: QuantConfig,
    calibration: np.ndarray | Hessian,
    *,
    damp: float = 0.01,
) -> QuantResult:
    """GPTQ of ``w`` (out, in) with ``cfg``'s group quantizer.

    Args:
        w: the weight.
        cfg: format or candidate set, group size, scale format (group granularity).
        calibration: the activations (tokens, in) that multiply ``w``, or their
            :class:`Hessian` (to share it between the weights of one input).
        damp: the damping when ``calibration`` is activations.

    Raises:
        InputError: a non-group granularity, a selection other than ``weight_mse`` and
            ``output_mse``, OliVe's pair formats, a bad ``damp``, or a Hessian that is not
            positive definite even after damping.
    """
    _check_config(cfg)
    hess = (
        calibration
        if isinstance(calibration, Hessian)
        else Hessian.from_activations(calibration, damp=damp)
    )
    # Fortran order: the columns after a block are one contiguous block, updated in place
    arr = np.asfortranarray(_matrix(w, "w"), dtype=np.float64)
    n_out, n_in = arr.shape
    if hess.u.shape != (n_in, n_in):
        raise InputError.single(
            "calibration", f"must have in_features={n_in} columns", hess.u.shape[0]
        )
    arr[:, hess.dead] = 0.0
    u = hess.u
    g = cfg.group_size or 64
    cs = cfg.candidate_set
    compiled = not any(f.asymmetric for f in cs.formats) and not isinstance(
        cs.formats[0], BlockFormat
    )
    tables = _tables(cs)
    mids, mags, n_mids, n_grid, _ = tables
    sf = parse_scale_format(cfg.scale_format)
    # QuantConfig admits output_mse for symmetric grid types only: the compiled sweep's sets
    by_output = cfg.selection is Selection.OUTPUT_MSE
    from scipy.linalg import blas

    with one_blas_thread():
        tensor_absmax = float(np.abs(np.asarray(w, dtype=np.float32)).max())
        n_k = -(-n_in // g)
        scales = np.zeros((n_out, n_k))
        choice = np.zeros((n_out, n_k), dtype=np.int64)
        zps = np.zeros((n_out, n_k), dtype=np.int16)
        deq = np.zeros((n_out, n_in), dtype=np.float32, order="F")
        codes = np.zeros((n_out, n_in), dtype=np.int16, order="F")
        step = g * max(1, LAZY_BLOCK // g)  # lazy batch: whole groups
        for i1 in range(0, n_in, step):
            i2 = min(i1 + step, n_in)
            w1 = arr[:, i1:i2]  # a view: the sweep updates arr in place
            err = np.zeros_like(w1)
            for j0 in range(0, i2 - i1, g):
                j1 = min(j0 + g, i2 - i1)
                k = (i1 + j0) // g
                if by_output:
                    scales[:, k], choice[:, k] = _select_by_output(w1, j0, j1, u, i1, sf, tables)
                elif compiled:
                    scales[:, k], choice[:, k] = _select(w1[:, j0:j1], cs, sf, tables)
                if compiled:
                    sweep_group(
                        w1, j0, j1, u, i1, np.ascontiguousarray(scales[:, k]),
                        np.ascontiguousarray(choice[:, k]), mids, n_mids, mags, n_grid,
                        codes[:, i1:i2], deq[:, i1:i2], err,
                    )  # fmt: skip
                    continue
                gq = _choose(w1[:, j0:j1], cs, cfg.scale_format, tensor_absmax)
                scales[:, k], choice[:, k] = gq.scales, gq.choice
                if gq.zero_points is not None:
                    zps[:, k] = gq.zero_points
                for j in range(j0, j1):
                    col = i1 + j
                    c, q = _round_column(w1[:, j], scales[:, k], choice[:, k], zps[:, k], cs)
                    codes[:, col], deq[:, col] = c, q
                    e = (w1[:, j] - q.astype(np.float64)) / u[col, col]
                    w1[:, j + 1 :] -= np.outer(e, u[col, col + 1 : i2])
                    err[:, j] = e
            if i2 < n_in:  # arr[:, i2:] -= err @ u[i1:i2, i2:], in place
                blas.dgemm(
                    -1.0, err, u[i1:i2, i2:].T, beta=1.0, c=arr[:, i2:], trans_b=1, overwrite_c=1
                )
    deq, codes = np.ascontiguousarray(deq), np.ascontiguousarray(codes)
    return _assemble(np.asarray(w), deq, codes, scales, choice, zps, cfg)


def awq(w: np.ndarray, cfg: QuantConfig, calibration: np.ndarray) -> QuantResult:
    """AWQ's activation-aware scaling of ``w`` (out, in), then ``cfg``'s quantizer.

    Returns the result for the best ``α`` of :data:`AWQ_GRID`, with its dequantized values in
    ``w``'s basis (``Q(W·diag(s))·diag(s)⁻¹``).
    """
    arr = _matrix(w, "w")
    x = _matrix(calibration, "calibration").astype(np.float64)
    mean_abs = np.abs(x).mean(axis=0)
    mean_abs = np.where(mean_abs > 0, mean_abs, mean_abs[mean_abs > 0].min(initial=1.0))
    ref = x @ arr.T.astype(np.float64)
    best: tuple[float, QuantResult, np.ndarray] | None = None
    for alpha in AWQ_GRID:
        s = mean_abs**alpha
        s = s / np.sqrt(s.max() * s.min())
        needs = cfg.selection is Selection.OUTPUT_MSE
        scaled_x = (x / s).astype(np.float32) if needs else None
        res = quantize((arr * s).astype(np.float32), cfg, calibration=scaled_x)
        back = (res.dequantized.astype(np.float64) / s).astype(np.float32)
        diff = ref - x @ back.T.astype(np.float64)
        err = float(np.sum(diff * diff))
        if best is None or err < best[0]:
            best = (err, res, back)
    assert best is not None
    return _rebased(best[1], best[2], np.asarray(w))


def _matrix(a: Any, path: str, *, finite: bool = True) -> np.ndarray:
    """``a`` as a non-empty 2-d float32 array; ``finite=False`` skips the NaN/Inf scan (a
    caller that checks a result computed from every value instead)."""
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.dtype.kind != "f" or 0 in arr.shape:
        raise InputError.single(path, "must be a non-empty 2-d float array", arr.shape)
    arr = arr.astype(np.float32, copy=False)
    if finite:
        check_finite(arr, path)
    return arr


def _check_config(cfg: QuantConfig) -> None:
    if cfg.granularity is not Granularity.GROUP or cfg.axis not in (-1, 1):
        raise InputError.single(
            "granularity",
            "gptq needs groups along the weight's input axis (axis -1)",
            cfg.granularity,
        )
    if cfg.selection not in (Selection.WEIGHT_MSE, Selection.OUTPUT_MSE):
        raise InputError.single(
            "selection",
            "gptq chooses each group's type inside its sweep by weight_mse or output_mse",
            str(cfg.selection),
        )
    if cfg.clip_search:
        raise InputError.single("clip_search", "is not searched inside gptq's sweep", True)
    fmt = cfg.candidate_set.formats[0]
    if isinstance(fmt, OliveFormat):
        raise InputError.single(
            "candidates", "gptq rounds element by element; OliVe's pairs are not", cfg.candidates
        )
    if group_quantizer(fmt.family) is not None and fmt.family != Family.BLOCK:
        raise InputError.single(
            "candidates",
            "gptq rounds each element on a grid with its group's scale; this family rounds its "
            f"own way ({fmt.family})",
            cfg.candidates,
        )


def _choose(values: np.ndarray, cs: Any, scale_format: Any, tensor_absmax: float) -> GroupQuant:
    """Each row's type and scale for the group starting here, from its current values."""
    gq = quantize_groups(values.astype(np.float32), cs, scale_format=scale_format)
    fmt = cs.formats[0]
    if isinstance(fmt, BlockFormat) and fmt.tensor_scale:  # NVFP4: the whole weight's scale
        anchor = np.zeros((1, values.shape[1]), dtype=np.float32)
        anchor[0, 0] = tensor_absmax
        s = block_scales(np.vstack([values.astype(np.float32), anchor]), fmt)[:-1]
        gq = GroupQuant(**{**_fields(gq), "scales": s})
    return gq


def _select(
    values: np.ndarray, cs: Any, sf: Any, tables: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's (scale, candidate) for the group starting here, from its current values:
    :func:`mant.quantize.quantize_groups`' search (same scales, errors and ties) without its
    checks and its rounding (the sweep rounds)."""
    arr = np.ascontiguousarray(values, dtype=np.float32)
    mids, mags, n_mids, _, max_abs = tables
    scales = round_scales(_absmax(arr)[:, None] / max_abs[None, :], sf)
    if scales.shape[1] == 1:
        pick = np.zeros(len(arr), dtype=np.int64)
    else:
        lengths = np.full(len(arr), arr.shape[1], dtype=np.int64)
        err = _kernels.search_errors(arr, lengths, scales, mids, n_mids, mags)
        pick = np.argmin(err, axis=1)
    return scales[np.arange(len(arr)), pick], pick


def _select_by_output(
    w1: np.ndarray,
    j0: int,
    j1: int,
    u: np.ndarray,
    c0: int,
    sf: Any,
    tables: tuple[np.ndarray, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's (scale, candidate) for the group in columns ``j0..j1-1`` of the batch by
    GPTQ's own loss: the least output error the group's sweep with the candidate adds
    (:func:`output_costs`), the later candidate on exact ties (the authors' output-MSE rule);
    each candidate's scale is the weight-MSE search's."""
    values = np.ascontiguousarray(w1[:, j0:j1], dtype=np.float32)
    mids, mags, n_mids, _, max_abs = tables
    scales = round_scales(_absmax(values)[:, None] / max_abs[None, :], sf)
    if scales.shape[1] == 1:
        pick = np.zeros(len(values), dtype=np.int64)
    else:
        cost = output_costs(w1, j0, j1, u, c0, np.ascontiguousarray(scales), mids, n_mids, mags)
        pick = pick_last_min(cost)
    return scales[np.arange(len(values)), pick], pick


def _fields(gq: GroupQuant) -> dict[str, Any]:
    return {name: getattr(gq, name) for name in GroupQuant.__dataclass_fields__}


def _round_column(
    col: np.ndarray,
    scale: np.ndarray,
    choice: np.ndarray,
    zp: np.ndarray,
    cs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """One column rounded per row with that row's fixed type and scale: (codes, values)."""
    mids, mags, n_mids, n_grid, _ = _tables(cs)
    x = np.ascontiguousarray(col, dtype=np.float32)[:, None]
    ones = np.ones(len(col), dtype=np.int64)
    s = np.ascontiguousarray(scale, dtype=np.float64)
    # the kernel's rule in numpy: one value per row is too little work for numba's threads
    codes, deq, _, _ = _kernels.apply_choice_reference(
        x, ones, s, choice, mids, n_mids, mags, n_grid
    )
    fmt0 = cs.formats[0]
    if isinstance(fmt0, BlockFormat):
        ties_to_even(x, s, codes, deq, fmt0)
    for c, fmt in enumerate(cs.formats):
        if not fmt.asymmetric:
            continue
        rows = np.flatnonzero(choice == c)
        if rows.size:
            top = 2**fmt.bits - 1
            safe = np.where(s[rows] > 0, s[rows], 1.0)
            q = np.clip(np.floor(x[rows, 0].astype(np.float64) / safe + 0.5) + zp[rows], 0, top)
            q = np.where(s[rows] > 0, q, zp[rows])
            codes[rows, 0] = q
            deq[rows, 0] = (q - zp[rows]) * s[rows]
    return codes[:, 0], deq[:, 0]


def _assemble(
    w: np.ndarray,
    deq: np.ndarray,
    codes: np.ndarray,
    scales: np.ndarray,
    choice: np.ndarray,
    zps: np.ndarray,
    cfg: QuantConfig,
) -> QuantResult:
    """The sweep's values as a :class:`QuantResult` in :func:`make_groups`' group order."""
    g = cfg.group_size or 64
    groups, lengths, layout = make_groups(w, axis=-1, group_size=g)

    def regroup(a: np.ndarray) -> np.ndarray:  # make_groups' order, padded with zeros
        if layout.pad:
            a = np.concatenate([a, np.zeros((a.shape[0], layout.pad), a.dtype)], axis=1)
        return np.ascontiguousarray(a).reshape(-1, g)

    q_groups = regroup(deq)
    ref = groups.astype(np.float64)
    diff = ref - q_groups
    asym = any(f.asymmetric for f in cfg.candidate_set.formats)
    gq = GroupQuant(
        dequantized=q_groups,
        codes=regroup(codes),
        scales=scales.reshape(-1),
        choice=choice.reshape(-1).astype(np.int16),
        group_error=np.einsum("ij,ij->i", diff, diff) / lengths,
        energy=np.einsum("ij,ij->i", ref, ref),
        zero_points=zps.reshape(-1) if asym else None,
    )
    return _result(gq, layout, cfg, w, lengths)


def _rebased(res: QuantResult, back: np.ndarray, w: np.ndarray) -> QuantResult:
    """``res`` with its dequantized values rotated back into the original basis."""
    from dataclasses import replace

    diff = w.astype(np.float64) - back.astype(np.float64)
    return replace(
        res,
        dequantized=back,
        sum_sq_error=float((diff**2).sum()),
        sum_sq_ref=float((w.astype(np.float64) ** 2).sum()),
        original=w,
    )
