"""Data-derived coefficient families: MANT coefficients summarising a calibration tensor.

A ``quantiles`` or ``kmeans`` family picks the ``a`` values of a candidate set from the
per-group optimal ``a`` of real data. Deriving them quantizes the calibration tensor, so it is an
explicit step here, run once by the front end (which also loads the tensor from its file), and
never a side effect of building a :class:`~mant.candidates.CandidateSet` or a ``QuantConfig``.

Example:
    >>> x = np.random.default_rng(0).standard_normal((64, 256)).astype(np.float32)
    >>> cs = data_family_set({"family": "quantiles", "n": 4}, x)
    >>> len(cs.formats) <= 4, cs.name
    (True, 'quantiles4_g64')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mant.candidates import _DATA_FAMILIES, CandidateSet, candidate_set
from mant.errors import InputError
from mant.formats import MantFormat
from mant.groups import make_groups
from mant.quantize import quantize_groups

__all__ = ["coefficients_from_data", "data_family_set", "resolve_data_family"]


def coefficients_from_data(
    tensor: np.ndarray, n: int, method: str = "quantiles", group_size: int = 64, k: int = 4
) -> tuple[int, ...]:
    """``n`` coefficients summarising the per-group optimal ``a`` of a calibration tensor.

    Each group's optimal ``a`` comes from the exact search over ``mant{k}_a0 .. a127`` (the
    ``mant-dense`` search, fp32 scale). ``quantiles`` takes the ``(i + 0.5) / n`` quantiles of
    those values; ``kmeans`` runs 1-d Lloyd iterations from the quantiles. Results are rounded
    and de-duplicated, ascending.

    Args:
        tensor: calibration tensor (groups along the last axis).
        n: number of coefficients wanted (1..128).
        method: ``quantiles`` or ``kmeans``.
        group_size: values per group.
        k: MANT element bits.
    """

    if method not in _DATA_FAMILIES:
        raise InputError.single("candidates.family", "must be quantiles or kmeans", method)
    groups, lengths, _ = make_groups(tensor, axis=-1, group_size=group_size)
    dense = CandidateSet(name="dense", formats=tuple(MantFormat(k=k, a=a) for a in range(128)))
    best = quantize_groups(groups, dense, lengths=lengths).choice.astype(np.float64)
    levels = (np.arange(n) + 0.5) / n
    centers = np.quantile(best, levels)
    if method == "kmeans":
        for _ in range(100):
            edges = (centers[1:] + centers[:-1]) / 2
            label = np.searchsorted(edges, best)
            sums = np.bincount(label, weights=best, minlength=n)
            counts = np.bincount(label, minlength=n)
            new = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
            if np.allclose(new, centers):
                break
            centers = np.sort(new)
    return tuple(dict.fromkeys(int(v) for v in np.floor(np.sort(centers) + 0.5)))


def resolve_data_family(spec: Mapping[str, Any], calibration: Any) -> dict[str, Any]:
    """The family spec with its ``coefficients`` derived from ``calibration`` (an array).

    The result is plain data: :func:`mant.candidates.candidate_set` builds it without data.
    """
    family = spec.get("family")
    if family not in _DATA_FAMILIES:
        raise InputError.single("candidates.family", "must be quantiles or kmeans", family)
    arr = np.asarray(calibration)
    if arr.dtype.kind != "f" or arr.size == 0:
        raise InputError.single(
            "candidates.calibration", "must be a non-empty float array", arr.dtype.name
        )
    out = {k: v for k, v in spec.items() if k not in ("calibration", "tensor")}
    out["coefficients"] = list(
        coefficients_from_data(
            arr,
            n=int(spec.get("n", 8)),
            method=str(family),
            group_size=int(spec.get("group_size", 64)),
            k=int(spec.get("k", 4)),
        )
    )
    return out


def data_family_set(spec: Mapping[str, Any], calibration: Any) -> CandidateSet:
    """The candidate set of a data-derived family on ``calibration``."""
    return candidate_set(resolve_data_family(spec, calibration))
