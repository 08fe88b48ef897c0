"""Rank quantization settings over a set of tensors: which format and group size to pick.

A *setting* is one candidate set, group size and scale format (a :class:`QuantConfig`).
:func:`settings_grid` expands lists of each into distinct settings and drops those above a
bits-per-element budget (known without data); :func:`compare_settings` quantizes every tensor
with every setting and ranks the settings by their aggregate relative MSE

    ``rel_mse = sum over tensors of squared errors / sum over tensors of squared values``,

so large tensors weigh in proportion to their size, as in a whole-checkpoint error. Block
formats (MX, NVFP4) fix their own group size and scale format: they appear once whatever the
lists hold.

Example:
    >>> x = np.random.default_rng(0).standard_normal((8, 128)).astype(np.float32)
    >>> grid = settings_grid(["int4", "mant-unicore16"], [32, 128], max_bits=4.5)
    >>> [(s.label, s.config.group_size) for s in grid]
    [('int4', 32), ('int4', 128), ('mant-unicore16', 128)]
    >>> best = compare_settings({"x": x}, grid)[0]
    >>> best.label, best.group_size, best.bits_per_element
    ('mant-unicore16', 128, 4.15625)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mant.candidates import candidate_set
from mant.errors import InputError, IssueCollector
from mant.formats import BlockFormat
from mant.quantize import QuantConfig, quantize
from mant.scales import parse_scale_format

__all__ = ["Setting", "SettingScore", "settings_grid", "compare_settings", "parse_candidates"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting to try: the text the user gave for the candidates and the config."""

    label: str
    config: QuantConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingScore:
    """A setting's aggregate error over the tensors.

    Attributes:
        label: the candidates as given (a named set, a format, or formats joined by ``+``).
        group_size: values per group; scale_format: group scale format.
        bits_per_element: storage bits per element incl. scale and selector metadata.
        rel_mse: sum of squared errors / sum of squared values over all tensors.
        sqnr_db: ``-10 log10(rel_mse)`` (``inf`` for an exact result).
        n_tensors, n_elements: what was quantized.
    """

    label: str
    group_size: int
    scale_format: str
    bits_per_element: float
    rel_mse: float
    sqnr_db: float
    n_tensors: int
    n_elements: int

    def to_dict(self) -> dict[str, Any]:
        """Plain types; the JSON row of ``mant-dse compare``."""
        return {
            "candidates": self.label,
            "group_size": self.group_size,
            "scale_format": self.scale_format,
            "bits_per_element": self.bits_per_element,
            "rel_mse": self.rel_mse,
            "sqnr_db": self.sqnr_db,
            "n_tensors": self.n_tensors,
            "n_elements": self.n_elements,
        }


def parse_candidates(text: str) -> str | tuple[str, ...]:
    """One candidate-set spec: a named set or format name, or format names joined by ``+``.

    Example:
        >>> parse_candidates("mant4_a17+int4")
        ('mant4_a17', 'int4')
    """
    parts = tuple(p.strip() for p in text.split("+"))
    return parts if len(parts) > 1 else parts[0]


def settings_grid(
    candidates: Sequence[str],
    group_sizes: Sequence[int],
    scale_formats: Sequence[str | None] = (None,),
    *,
    max_bits: float | None = None,
    axis: int = -1,
) -> list[Setting]:
    """Every distinct (candidates x group size x scale format) setting within the budget.

    Args:
        candidates: candidate-set specs (:func:`parse_candidates`).
        group_sizes: values per group.
        scale_formats: scale formats; ``None`` is the default (fp16).
        max_bits: keep settings with at most this many bits per element (None: all).
        axis: the axis groups run along.

    Raises:
        InputError: a bad spec (path ``candidates[i]``, ``group_size``, ``scale_format``), or
            no setting within ``max_bits`` (names the smallest count on offer).
    """
    c = IssueCollector()
    for g in group_sizes:
        ok = isinstance(g, int | np.integer) and not isinstance(g, bool) and g >= 1
        c.check(ok, "group_size", "must be an int >= 1", g)
    for sf in scale_formats:
        if sf is not None:
            try:
                parse_scale_format(sf)
            except InputError as exc:
                c.extend(exc)
    c.raise_if_any()
    settings: dict[str, Setting] = {}
    for i, text in enumerate(candidates):
        try:
            spec = parse_candidates(text)
            cs = candidate_set(spec)  # resolved once, carried into every setting's config
            block = isinstance(cs.formats[0], BlockFormat)
        except InputError as exc:
            c.extend(exc, f"candidates[{i}]")
            continue
        sizes: list[int | None] = [None] if block else list(group_sizes)
        scales: list[Any] = [None] if block else list(scale_formats)  # None: the default
        for size in sizes:
            for sf in scales:
                try:
                    cfg = QuantConfig(
                        candidates=spec, group_size=size, scale_format=sf, axis=axis, resolved=cs
                    )
                except InputError as exc:  # e.g. an odd group size for OliVe pairs
                    c.extend(exc, f"candidates[{i}]")
                    continue
                key = f"{text}|{cfg.group_size}|{cfg.scale_format}"
                settings.setdefault(key, Setting(label=text, config=cfg))
    c.raise_if_any()
    out = list(settings.values())
    if max_bits is not None:
        kept = [s for s in out if s.config.bits_per_element <= max_bits + 1e-12]
        if not kept:
            least = min(s.config.bits_per_element for s in out)
            raise InputError.single(
                "max_bits",
                f"must allow at least one setting (the smallest is {least:g})",
                max_bits,
            )
        out = kept
    return out


def compare_settings(
    tensors: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]],
    settings: Sequence[Setting],
    *,
    on_step: Callable[[str, Setting], None] | None = None,
) -> list[SettingScore]:
    """Quantize every tensor with every setting; settings ranked best (least rel_mse) first.

    Args:
        tensors: name -> array, or an iterable of ``(name, array)`` read one at a time (so a
            checkpoint streams through memory).
        settings: from :func:`settings_grid`.
        on_step: called after each (tensor, setting) quantization, e.g. to advance a bar.

    Ties in rel_mse go to fewer bits per element, then to the earlier setting.
    """
    items = tensors.items() if isinstance(tensors, Mapping) else tensors
    sse = [0.0] * len(settings)
    ref = 0.0
    n_tensors = n_elements = 0
    for name, x in items:
        arr = np.asarray(x, dtype=np.float32)
        ref += float(np.sum(np.square(arr, dtype=np.float64)))
        n_tensors += 1
        n_elements += arr.size
        for j, s in enumerate(settings):
            sse[j] += quantize(arr, s.config).sum_sq_error
            if on_step is not None:
                on_step(name, s)
    if n_tensors == 0:
        raise InputError.single("tensors", "must hold at least one tensor", 0)
    scores = []
    for j, s in enumerate(settings):
        rel = sse[j] / ref if ref > 0 else 0.0
        scores.append(
            SettingScore(
                label=s.label,
                group_size=int(s.config.group_size or 0),
                scale_format=str(s.config.scale_format),
                bits_per_element=float(s.config.bits_per_element),
                rel_mse=rel,
                sqnr_db=math.inf if rel == 0 else -10.0 * math.log10(rel),
                n_tensors=n_tensors,
                n_elements=n_elements,
            )
        )
    order = sorted(
        range(len(scores)), key=lambda j: (scores[j].rel_mse, scores[j].bits_per_element, j)
    )
    return [scores[j] for j in order]
