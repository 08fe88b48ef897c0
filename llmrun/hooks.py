"""Quantization hooks of the forward pass: weights (once per set) and the KV cache (per layer).

* Weights: every linear projection of every block (q, k, v, o, gate, up, down; 210 tensors for
  SmolLM2) is fake-quantized with ``mant.quantize.quantize(w, QuantConfig(..., axis=-1))``, i.e.
  groups along in_features, the reduction dimension. The tied embedding / output head and the norms
  stay as stored. SmolLM2's linear weights are already Q4_1 (asymmetric 4-bit, g = 32;
  ``real_models.md`` §7), so any weight result on this model measures re-quantization of a 4-bit
  grid, not of continuous weights.
* KV: a ``(layer, k, v) -> (k, v)`` callable applied to post-RoPE K and V of each layer before
  attention, shape (batch, kv_heads, tokens, head_dim). :mod:`llmrun.quantizers` builds the
  recipe's (the authors' decode-time cache); the small per-token INT quantizer here reproduces
  the reference demo of ``real_models.md`` §6. :func:`mant_kv_hook` quantizes a whole window at
  once with ``mant.kv.quantize_kv`` (prefill semantics: a channel group is quantized with
  statistics of tokens that follow the query, and V's last ``tokens mod g`` tokens stay fp).

Example:
    >>> k, v = np.random.default_rng(0).standard_normal((2, 1, 3, 10, 64)).astype(np.float32)
    >>> hook = reference_int_kv_hook(bits=4, group_size=64, symmetric=False)
    >>> k_hat, v_hat = hook(0, k, v)
    >>> k_hat.shape, bool(np.abs(k_hat - k).max() < 0.5)
    ((1, 3, 10, 64), True)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from llmrun.forward import KVHook
from llmrun.model import LINEAR_NAMES, LlamaModel

if TYPE_CHECKING:
    from mant.kv import KVQuantConfig
    from mant.quantize import QuantConfig

__all__ = [
    "WeightErrors",
    "mant_kv_hook",
    "quantize_model_weights",
    "reference_int_kv_hook",
]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WeightErrors:
    """Relative squared error of quantized weights, summed over all linear tensors.

    Attributes:
        rel_mse: sum ||W - Q||^2 / sum ||W||^2 (dimensionless).
        n_tensors: tensors quantized.
        n_values: values quantized.
        bits_per_element: the config's storage cost in bits per weight (incl. metadata).
    """

    rel_mse: float
    n_tensors: int
    n_values: int
    bits_per_element: float


def quantize_model_weights(
    model: LlamaModel, config: QuantConfig
) -> tuple[LlamaModel, WeightErrors]:
    """A copy of ``model`` whose linear weights are fake-quantized with ``config`` (a QuantConfig).

    Returns:
        The quantized model and the summed weight error.
    """
    from mant.quantize import quantize

    err = ref = 0.0
    n_tensors = n_values = 0
    layers = []
    for layer in model.layers:
        updates = {}
        for field in LINEAR_NAMES.values():
            w = getattr(layer, field)
            q = np.asarray(quantize(w, config).dequantized, dtype=np.float32)
            err += float(np.sum((q.astype(np.float64) - w) ** 2))
            ref += float(np.sum(w.astype(np.float64) ** 2))
            n_tensors += 1
            n_values += w.size
            updates[field] = q
        layers.append(dataclasses.replace(layer, **updates))
    quantized = dataclasses.replace(model, layers=tuple(layers))
    bpe = float(getattr(config, "bits_per_element", float("nan")))
    stats = WeightErrors(
        rel_mse=err / ref, n_tensors=n_tensors, n_values=n_values, bits_per_element=bpe
    )
    return quantized, stats


def _fake_int(x: np.ndarray, bits: int, symmetric: bool) -> np.ndarray:
    """Round-to-nearest INT fake-quantization of the last axis (one group per row)."""
    if symmetric:
        # scale absmax / (2^(b-1) - 1), clip to [-2^(b-1), 2^(b-1) - 1] (real_models.md §6 demo)
        qmax = 2 ** (bits - 1) - 1
        scale = np.max(np.abs(x), axis=-1, keepdims=True) / qmax
        scale = np.where(scale > 0, scale, 1.0)
        return np.clip(np.round(x / scale), -qmax - 1, qmax) * scale
    # asymmetric: 2^b - 1 steps between the group's min and max, integer zero point
    lo = np.min(x, axis=-1, keepdims=True)
    step = (np.max(x, axis=-1, keepdims=True) - lo) / (2**bits - 1)
    step = np.where(step > 0, step, 1.0)
    zero = np.round(-lo / step)
    return (np.clip(np.round(x / step) + zero, 0, 2**bits - 1) - zero) * step


def reference_int_kv_hook(*, bits: int, group_size: int, symmetric: bool) -> KVHook:
    """Per-token INT fake-quantization of K and V: groups of ``group_size`` along head_dim.

    This is the KV demo quantizer of ``real_models.md`` §6 (which does not use K per-channel).

    Args:
        bits: integer bits per value.
        group_size: values per group; must divide head_dim.
        symmetric: absmax scale (True) or min/max affine (False).
    """

    def hook(layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for x in (k, v):
            shape = x.shape
            if shape[-1] % group_size:
                raise ValueError(f"head_dim {shape[-1]} is not a multiple of g={group_size}")
            g = x.reshape(*shape[:-1], shape[-1] // group_size, group_size)
            out.append(_fake_int(g, bits, symmetric).reshape(shape).astype(x.dtype))
        return out[0], out[1]

    return hook


def mant_kv_hook(config: KVQuantConfig) -> KVHook:
    """KV hook running ``mant.kv.quantize_kv`` with a ``KVQuantConfig`` on each window and
    layer."""
    from mant.kv import quantize_kv

    def hook(layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        res = quantize_kv(k, v, config)  # leading axes (window, kv_head) are independent caches
        return res.k.dequantized, res.v.dequantized

    return hook
