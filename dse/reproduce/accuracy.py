"""The accuracy side: each design's weight and KV quantization error on real tensors.

Weights are the fp32 linear weights of all-MiniLM-L6-v2 (``llmrun.assets.minilm_weights``) and K/V
are real post-RoPE SmolLM2-135M activations (``llmrun.kv_dump``), when those assets are cached;
otherwise seeded synthetic tensors stand in and the result says so. Each design is quantized with
the setting of its paper (the config's ``weights`` / ``kv`` blocks). Relative MSE of a tensor is
sum((x - q)^2) / sum(x^2); a design's figure is the mean over tensors (K and V separately, then
their mean). Perplexity on SmolLM2 is optional (``perplexity_windows``).

Example:
    >>> from dse.reproduce.cases import KVQuantSpec
    >>> import numpy as np
    >>> k = np.ones((1, 128, 64), np.float32)
    >>> kq, vq = kv_fake_quant(KVQuantSpec(method="fp16"))(k, k)
    >>> float(np.abs(kq - k).max())
    0.0
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dse.reproduce.cases import AccuracySpec, KVQuantSpec, ReproduceConfig, WeightQuantSpec
from mant import QuantConfig, quantize
from mant.groups import Granularity
from mant.scales import ScaleFormat

__all__ = [
    "AccuracyRow",
    "AccuracyResult",
    "weight_config",
    "kv_fake_quant",
    "rel_mse",
    "load_weight_tensors",
    "load_kv_tensors",
    "run_accuracy",
]

_log = logging.getLogger(__name__)

KVFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyRow:
    """One design's quantization error.

    Attributes:
        design: Design name.
        weight_setting: Weight quantization, as text.
        kv_setting: KV quantization, as text.
        weight_bits_per_element: Weight bits incl. metadata of the accuracy setting.
        weight_rel_mse: Mean relative MSE over the weight tensors.
        k_rel_mse: Relative MSE of K.
        v_rel_mse: Relative MSE of V.
        perplexity: SmolLM2 perplexity with both quantizations, or None when not run.
    """

    design: str
    weight_setting: str
    kv_setting: str
    weight_bits_per_element: float
    weight_rel_mse: float
    k_rel_mse: float
    v_rel_mse: float
    perplexity: float | None = None

    @property
    def kv_rel_mse(self) -> float:
        """Mean of the K and V relative MSE."""
        return (self.k_rel_mse + self.v_rel_mse) / 2


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracyResult:
    """The accuracy side of the reproduction.

    Attributes:
        weight_source: What the weight tensors are.
        kv_source: What the K/V tensors are.
        rows: One row per design, in config order.
        fp_perplexity: Unquantized perplexity on the same windows, or None.
        perplexity_setting: Model, corpus and windows of the perplexity, or ``""``.
    """

    weight_source: str
    kv_source: str
    rows: tuple[AccuracyRow, ...]
    fp_perplexity: float | None = None
    perplexity_setting: str = ""


def rel_mse(x: np.ndarray, q: np.ndarray) -> float:
    """sum((x - q)^2) / sum(x^2) in float64.

    Example:
        >>> rel_mse(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
        0.5
    """
    x64 = np.asarray(x, np.float64)
    return float(np.sum((x64 - q) ** 2) / np.sum(x64**2))


def weight_config(spec: WeightQuantSpec) -> QuantConfig:
    """The ``mant`` configuration of a design's weight quantization (groups along the input)."""
    return QuantConfig(
        candidates=spec.candidates,
        group_size=spec.group_size,
        axis=-1,
        granularity=Granularity(spec.granularity),  # validated by cases.parse_config
        # an unvalidated str: QuantConfig.__post_init__ validates and coerces it
        scale_format=spec.scale_format,  # type: ignore[arg-type]
    )


def _describe_weights(spec: WeightQuantSpec) -> str:
    g = f" g{spec.group_size}" if spec.granularity == "group" else ""
    return f"{spec.candidates} per {spec.granularity}{g}, {spec.scale_format} scale"


def _describe_kv(spec: KVQuantSpec) -> str:
    if spec.method == "fp16":
        return "none (FP16 cache)"
    if spec.method in ("realtime", "oracle"):
        return f"{spec.candidates} g{spec.group_size}, {spec.method} selection (mant.kv)"
    if spec.method == "tender":
        return "Tender: K channel bias + INT4 per token, V INT4 per channel (Tender artifact)"
    g = f" g{spec.group_size}" if spec.granularity == "group" else ""
    return f"{spec.candidates} per {spec.granularity}{g} (K along tokens, V per token)"


def kv_fake_quant(spec: KVQuantSpec) -> KVFunction:
    """A function ``(k, v) -> (k', v')`` on arrays shaped ``(..., tokens, head_dim)``."""
    if spec.method == "fp16":

        def fp16(k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (
                k.astype(np.float16).astype(np.float32),
                v.astype(np.float16).astype(np.float32),
            )

        return fp16
    if spec.method in ("realtime", "oracle"):
        from mant.kv import Grouping, KVQuantConfig, quantize_kv

        cfg = KVQuantConfig(  # KIVI's layout, as before mant.kv defaulted to the authors'
            candidates=spec.candidates,
            group_size=spec.group_size or 64,
            selection=spec.method,
            k_grouping=Grouping.CHANNEL,
            v_grouping=Grouping.TOKEN,
        )

        def mant_kv(k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            res = quantize_kv(k, v, cfg)
            return res.k.dequantized, res.v.dequantized

        return mant_kv
    if spec.method == "tender":
        return _tender_kv
    # granularity is a str (not validated by cases.parse_config): QuantConfig validates it
    common: dict[str, Any] = {
        "candidates": spec.candidates,
        "group_size": spec.group_size,
        "granularity": spec.granularity,
        "scale_format": "fp16",
    }
    k_cfg = QuantConfig(axis=-2, **common)
    v_cfg = QuantConfig(axis=-1, **common)

    def plain(k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return quantize(k, k_cfg).dequantized, quantize(v, v_cfg).dequantized

    return plain


def _tender_int4(axis: int) -> QuantConfig:
    """Symmetric INT4 per channel (fp32 scales) along ``axis``."""
    return QuantConfig(
        candidates="int4",
        axis=axis,
        granularity=Granularity.CHANNEL,
        scale_format=ScaleFormat.FP32,
    )


def _tender_kv(k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tender's K and V (artifact ``snu-comparch/Tender``, ``models/modeling_llama_tender.py``).

    K: a per-channel bias ``(max + min) / 2`` over the tokens of each head (fp16, compensated
    exactly by Tender's bias terms) is subtracted, then symmetric INT4 per token (scale
    ``max|K - bias| / 7`` over the head dimension). V: symmetric INT4 per channel over the
    tokens (scale ``max|V| / 7``). Tender's decomposition (``mant.quantize_tender``) applies to
    the other operand of each attention product (Q and the scores), not to K and V.
    """
    hi, lo = k.max(axis=-2, keepdims=True), k.min(axis=-2, keepdims=True)
    bias = ((hi + lo) / 2).astype(np.float16).astype(np.float32)
    kq = quantize(k - bias, _tender_int4(-1)).dequantized + bias
    vq = quantize(v, _tender_int4(-2)).dequantized
    return kq.astype(np.float32), vq


def _cached(names: list[str]) -> bool:
    from llmrun.assets import AssetState, status

    try:
        return all(s.state is AssetState.OK for s in status(names))
    except Exception:  # noqa: BLE001 - an unreadable cache means "not available"
        return False


def load_weight_tensors(spec: AccuracySpec) -> tuple[list[np.ndarray], str]:
    """The weight tensors and a sentence saying what they are."""
    if spec.weights != "synthetic" and (spec.weights == "real" or _cached(["minilm-l6-v2"])):
        from llmrun.assets import minilm_weights

        tensors = minilm_weights()
        names = [
            n
            for n, t in tensors.items()
            if t.ndim == 2 and n.endswith(".weight") and "embeddings" not in n
        ][: spec.n_weight_tensors]
        shapes = sorted({tensors[n].shape for n in names})
        return [np.asarray(tensors[n], np.float32) for n in names], (
            f"real: {len(names)} fp32 linear weights of all-MiniLM-L6-v2 "
            f"(llmrun.assets.minilm_weights; first in file order, shapes {shapes})"
        )
    rng = np.random.default_rng(spec.seed)
    synthetic = [
        (rng.standard_t(5, size=(384, 384)) * 0.05).astype(np.float32)
        for _ in range(spec.n_weight_tensors)
    ]
    return synthetic, (
        f"synthetic: {spec.n_weight_tensors} seeded Student-t (df 5) 384 x 384 matrices, "
        f"seed {spec.seed} (MiniLM weights not cached; `mant-dse assets fetch`)"
    )


def load_kv_tensors(spec: AccuracySpec) -> tuple[np.ndarray, np.ndarray, str]:
    """K and V shaped ``(layers, kv_heads, tokens, head_dim)`` and a sentence saying what."""
    if spec.kv != "synthetic" and (spec.kv == "real" or _cached(["smollm2-135m", "janeaustenr"])):
        from llmrun import kv_dump

        d = kv_dump(window=0)
        layers = [i for i in spec.kv_layers if i < d["k"].shape[0]]
        return (
            d["k"][layers],
            d["v"][layers],
            (
                f"real: post-RoPE K and V of SmolLM2-135M-Instruct layers {layers}, Pride and "
                f"Prejudice window 0 of 512 tokens (llmrun.kv_dump)"
            ),
        )
    rng = np.random.default_rng(spec.seed + 1)
    shape = (len(spec.kv_layers), 3, 512, 64)
    offsets = rng.normal(0, 1.0, size=(1, 1, 1, 64)) * (rng.random((1, 1, 1, 64)) < 0.1) * 8
    k = (rng.standard_normal(shape) + offsets).astype(np.float32)
    v = rng.standard_t(6, size=shape).astype(np.float32)
    return (
        k,
        v,
        (
            f"synthetic: seeded K (Gaussian with 10% outlier channels) and V (Student-t df 6), "
            f"shape {shape}, seed {spec.seed + 1} (SmolLM2 not cached; `mant-dse assets fetch`)"
        ),
    )


def _perplexity(cfg: ReproduceConfig, windows: int) -> tuple[dict[str, float], float | None, str]:
    from llmrun import perplexity

    out: dict[str, float] = {}
    fp = perplexity(None, None, windows=windows).ppl
    for d in cfg.designs:
        fn = kv_fake_quant(d.kv)

        def hook(layer: int, k: np.ndarray, v: np.ndarray, fn: KVFunction = fn) -> tuple:
            return fn(k, v)

        res = perplexity(weight_config(d.weights), hook, windows=windows)
        out[d.name] = float(res.ppl)
    setting = f"SmolLM2-135M-Instruct, Pride and Prejudice, {windows} x 512-token windows"
    return out, float(fp), setting


def run_accuracy(cfg: ReproduceConfig) -> AccuracyResult:
    """Relative MSE (and optionally perplexity) of every design of ``cfg``."""
    spec = cfg.accuracy
    weights, w_src = load_weight_tensors(spec)
    k, v, kv_src = load_kv_tensors(spec)
    ppl: dict[str, float] = {}
    fp_ppl = None
    setting = ""
    if spec.perplexity_windows > 0:
        if spec.kv == "real" or _cached(["smollm2-135m", "janeaustenr"]):
            ppl, fp_ppl, setting = _perplexity(cfg, spec.perplexity_windows)
        else:
            setting = "skipped: SmolLM2 or the corpus is not cached (`mant-dse assets fetch`)"
    rows = []
    for d in cfg.designs:
        wcfg = weight_config(d.weights)
        w_err = [rel_mse(w, quantize(w, wcfg).dequantized) for w in weights]
        kq, vq = kv_fake_quant(d.kv)(k, v)
        rows.append(
            AccuracyRow(
                design=d.name,
                weight_setting=_describe_weights(d.weights),
                kv_setting=_describe_kv(d.kv),
                weight_bits_per_element=float(wcfg.bits_per_element),
                weight_rel_mse=float(np.mean(w_err)),
                k_rel_mse=rel_mse(k, kq),
                v_rel_mse=rel_mse(v, vq),
                perplexity=ppl.get(d.name),
            )
        )
        _log.info("accuracy %s done", d.name)
    return AccuracyResult(
        weight_source=w_src,
        kv_source=kv_src,
        rows=tuple(rows),
        fp_perplexity=fp_ppl,
        perplexity_setting=setting,
    )
