"""The seam to ``mant``: quantization configs of a design and their error metrics.

Everything dse needs from the number-format side goes through these few functions, so a
change of the ``mant`` API touches one file.

Example:
    >>> from dse.study.design import Design
    >>> d = Design(pe_type="mant", group_size=64, weight_bits=4, weight_format="int{bits}",
    ...            kv_bits=16, kv_format="int{bits}", act_bits=8, rows=32, cols=32,
    ...            dataflow="ws")
    >>> weight_config(d).group_size
    64
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from mant.kv import KVQuantConfig
    from mant.quantize import QuantConfig
    from mant.recipe import Recipe
    from mant.tender import TenderConfig


class Designed(Protocol):
    """Anything with a recipe (a :class:`dse.study.design.Design`; this module does not import
    it)."""

    @property
    def recipe(self) -> Recipe: ...


__all__ = [
    "MAX_SQNR_DB",
    "weight_config",
    "calibrated_kv_config",
    "kv_error",
    "kv_side_configs",
    "kv_sides_error",
    "uniform_configs",
    "sqnr_db",
]

# SQNR reported for an unquantized (fp16) tensor, to keep objective values finite.
MAX_SQNR_DB = 200.0


def weight_config(design: Designed) -> QuantConfig | TenderConfig | None:
    """The weight :class:`mant.QuantConfig` of the design's recipe (reduction axis), or None
    when its weights stay unquantized (the ``fp16`` PE's native recipe)."""
    from mant.quant_spec import Kind

    t = design.recipe.weight(Kind.Q)
    return None if t is None else t.quant_config(axis=-1)


def resolve_candidates(spec: Any) -> Any:
    """A candidate spec ready for ``mant``: a data-derived family (``quantiles`` / ``kmeans``
    with a ``calibration`` tensor file and optional ``tensor`` name) gets its coefficients from
    that tensor here, once per process (``mant`` never loads or quantizes data to build a set).
    """
    from collections.abc import Mapping

    if not (isinstance(spec, Mapping) and spec.get("family") in ("quantiles", "kmeans")):
        return spec
    if "coefficients" in spec:
        return spec
    key = repr(sorted(spec.items()))
    if key not in _RESOLVED:
        from mant.data_families import resolve_data_family
        from mant.errors import InputError
        from mant.tensor_io import load_tensor

        calib = spec.get("calibration")
        if not isinstance(calib, str):
            raise InputError.single(
                "weight_format.calibration", "must be a tensor file path", calib
            )
        tensor = load_tensor(calib, spec.get("tensor")).array
        _RESOLVED[key] = resolve_data_family(spec, tensor)
    return _RESOLVED[key]


_RESOLVED: dict[str, Any] = {}


def sqnr_db(rel_mse: float) -> float:
    """SQNR in dB of a relative MSE, capped at :data:`MAX_SQNR_DB`."""
    return MAX_SQNR_DB if rel_mse <= 0 else min(MAX_SQNR_DB, -10.0 * math.log10(rel_mse))


def kv_side_configs(recipe: Recipe) -> tuple[Any | None, Any | None]:
    """The ``mant.kv.KVQuantConfig`` that quantizes K and the one that quantizes V.

    One config for both when the recipe's key and value share format, group size, scale format
    and selection rule (:meth:`mant.recipe.Recipe.kv_config`); else each side's own (a side
    left in fp is None).
    """
    from mant.errors import InputError
    from mant.recipe import Recipe

    if recipe.key is None and recipe.value is None:
        return None, None
    try:
        cfg = recipe.kv_config()
        return cfg, cfg
    except InputError:
        pass
    sides = []
    for t in (recipe.key, recipe.value):
        sides.append(None if t is None else Recipe(name="side", key=t, value=t).kv_config())
    return sides[0], sides[1]


def uniform_configs(recipe: Recipe) -> tuple[Any, Any | None] | None:
    """``(weight config, KV config or None)`` when the recipe quantizes every weight kind alike
    and K and V alike (what a one-config accuracy source can score), else None."""
    from mant.quant_spec import WEIGHT_KINDS

    weights = {repr(recipe.weight(k)) for k in WEIGHT_KINDS}
    k_cfg, v_cfg = kv_side_configs(recipe)
    q = recipe.weight("q")
    if len(weights) > 1 or k_cfg != v_cfg or q is None:
        return None
    return q.quant_config(axis=-1), k_cfg


def kv_sides_error(
    k: Any, v: Any, k_config: KVQuantConfig | None, v_config: KVQuantConfig | None
) -> dict[str, float]:
    """Pooled relative MSE and SQNR of K under ``k_config`` and V under ``v_config`` (None: fp,
    no error): errors and powers summed over both, as :func:`kv_error` pools them."""
    from mant.kv import quantize_kv

    err = 0.0
    k_res = None if k_config is None else quantize_kv(k, v, k_config).k
    v_res = None if v_config is None else quantize_kv(k, v, v_config).v
    energy = float(np.sum(np.square(np.asarray(k, dtype=np.float64)))) + float(
        np.sum(np.square(np.asarray(v, dtype=np.float64)))
    )
    for res in (k_res, v_res):
        if res is not None:
            err += float(res.squared_error)
    rel = err / energy if energy > 0 else 0.0
    return {"rel_mse": rel, "sqnr_db": sqnr_db(rel)}


def kv_error(k: Any, v: Any, config: KVQuantConfig) -> dict[str, float]:
    """Relative MSE and SQNR (dB) of quantizing one layer's K and V (errors and powers pooled)."""
    from mant.kv import quantize_kv

    rel = float(quantize_kv(k, v, config).rel_mse)
    return {"rel_mse": rel, "sqnr_db": sqnr_db(rel)}


def calibrated_kv_config(
    config: KVQuantConfig | None,
    calibration: Callable[[], tuple[Any, Any]],
    *,
    cache_dir: str | Path | None = None,
    source: str = "",
) -> KVQuantConfig | None:
    """``config`` with a real-time LUT calibrated on demand when it needs one (else unchanged).

    Args:
        config: a :class:`mant.kv.KVQuantConfig` or None (fp16 KV).
        calibration: returns calibration ``(k, v)``, each (..., tokens, head_dim); called only
            when a LUT is missing. Accuracy sources pass K/V that they do not evaluate.
        cache_dir: cache folder of :func:`mant.kv_calibrate.thresholds_for` (None: its default).
        source: provenance text stored with a new table.
    """
    if config is None or not config.needs_calibration:
        return config
    k, v = calibration()
    return config.calibrated(k, v, cache_dir=cache_dir, source=source)
