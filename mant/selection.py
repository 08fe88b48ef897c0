"""How a group picks its type among candidate formats: :class:`Selection`.

Its own small module because both the quantizer (:mod:`mant.quantize`) and the recipe
(:mod:`mant.tensor_recipe`, which builds quantizer configs) need it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["SELECTION_ALIASES", "Selection"]


class Selection(StrEnum):
    """How a group picks its type among the candidates.

    ``weight_mse`` and ``output_mse`` are offline rules for weights (least weight error, or least
    output error over calibration activations as the M-ANT authors do); ``variance`` (the
    authors' real-time KV rule on var(x / absmax)), ``lut`` (a calibrated threshold table on a
    one-pass statistic) and ``oracle`` (exhaustive least-MSE search) are KV rules; ``none`` is
    for a single format. Activations use least error among their candidates (``weight_mse``).
    """

    NONE = "none"
    WEIGHT_MSE = "weight_mse"
    OUTPUT_MSE = "output_mse"
    VARIANCE = "variance"
    LUT = "lut"
    ORACLE = "oracle"


SELECTION_ALIASES = {"realtime": Selection.LUT}
"""Older spellings: ``realtime`` is the calibrated threshold table (``lut``)."""
