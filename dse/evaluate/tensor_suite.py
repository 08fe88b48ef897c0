"""Named tensors and the tensor suite that measures a design's quantization error on them.

Used by every tensor-based accuracy source (:mod:`dse.evaluate.accuracy`,
:mod:`dse.evaluate.accuracy_files`);
errors are cached in a :class:`dse.evaluate.cache.QuantCache` keyed by tensor content id + kind +
config.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.study import numerics

if TYPE_CHECKING:
    from dse.evaluate.cache import QuantCache

__all__ = [
    "Activations",
    "KVCalibrator",
    "NamedKV",
    "NamedTensor",
    "TensorSuite",
    "activation_fake_quant",
    "content_id",
]


def content_id(name: str, *arrays: np.ndarray) -> str:
    """``name@sha256-prefix`` of the arrays' bytes, dtypes and shapes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return f"{name}@{h.hexdigest()[:16]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedTensor:
    """A weight tensor (rows, reduction dim), its content id and projection kind.

    Attributes:
        id: content id (:func:`content_id`).
        data: the weight (out_features, in_features).
        kind: the projection kind (``q`` ... ``down``,
        :func:`dse.study.tensor_kinds.projection_kind`)
            or None when the name does not say.
    """

    id: str
    data: np.ndarray
    kind: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Activations:
    """Activations that feed one weight: selection calibration and output-error data.

    Attributes:
        id: content id of both arrays.
        calibration: (tokens, in_features), for output-MSE selection.
        evaluation: (tokens, in_features) on which ``output_rel_mse`` is measured (the M-ANT
            protocol: other text than the calibration's); defaults to ``calibration``.
    """

    id: str
    calibration: np.ndarray
    evaluation: np.ndarray | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedKV:
    """One layer's K and V, each (kv_heads, tokens, head_dim), and their content id."""

    id: str
    k: np.ndarray
    v: np.ndarray


@dataclass(frozen=True, slots=True)
class LayerAlgorithm:
    """A weight config whose kind is rounded by GPTQ or AWQ or Hadamard-rotated
    (:func:`mant.gptq.quantize_layer`): the group quantizer's config and the spec it came from.

    ``to_dict`` is the config's plus the spec's ``algorithm`` / ``rotation`` /
    ``rotation_block`` (its cache key); round to nearest without a rotation is never wrapped, so
    its keys are the plain config's.
    """

    config: Any  # mant.quantize.QuantConfig
    spec: Any  # mant.quant_spec.QuantSpec

    @property
    def selection(self) -> Any:
        return self.config.selection

    @property
    def group_size(self) -> Any:
        return self.config.group_size

    @property
    def needs_activations(self) -> bool:
        """GPTQ and AWQ need the activations that feed the weight."""
        from mant.quant_spec import Algorithm

        return self.spec.algorithm is not Algorithm.RTN

    def to_dict(self) -> dict[str, Any]:
        out = self.config.to_dict()
        spec = self.spec.to_dict()
        for key in ("algorithm", "rotation", "rotation_block"):
            if key in spec:
                out[key] = spec[key]
        return out


def _cfg_json(config: Any) -> str:
    if config is None:  # an unquantized (fp16) kind
        return "null"
    return json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"), default=str)


def activation_fake_quant(x: np.ndarray, act: Any) -> np.ndarray:
    """``Q_a(x)``: activations ``x`` (tokens, in_features) fake-quantized by the activation spec
    ``act`` (a :class:`mant.quant_spec.QuantSpec`) as the runtime applies it: per token, groups
    along the reduction axis (:func:`mant.act_quant.act_quantizer`); Tender's channel
    decomposition (``format: tender``, :mod:`mant.tender`) over the whole token matrix.

    Example:
        >>> from mant.quant_spec import Kind, QuantSpec
        >>> x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
        >>> a4, a8 = (QuantSpec.parse(f"int{b}:g64", kind=Kind.ACTIVATIONS) for b in (4, 8))
        >>> e4, e8 = (float(np.sum((activation_fake_quant(x, a) - x) ** 2)) for a in (a4, a8))
        >>> bool(e8 < e4)
        True
    """
    from mant.act_quant import act_quantizer

    return act_quantizer(act)(x)


# quantized activation matrices a suite keeps (oldest dropped first): MiniLM's are up to
# 2048 tokens x 1536 inputs, 12.6 MB each in float32
_QACT_MEMO = 16

KVCalibration = Callable[[], tuple[np.ndarray, np.ndarray]]


def _thresholds_dir(cache: QuantCache) -> Path | None:
    """Where calibrated KV LUTs of a study go: next to its quantization cache (None: the
    default folder of :func:`mant.kv_calibrate.thresholds_for`)."""
    return None if cache.folder is None else cache.folder / "kv-thresholds"


class KVCalibrator:
    """Attaches calibrated LUTs to real-time KV configs that lack one (memoised per config).

    Args:
        calibration: returns the calibration ``(k, v)``; loaded once, on first need.
        source: provenance text of those K/V.
    """

    def __init__(self, calibration: KVCalibration | None, source: str) -> None:
        self._load = calibration
        self._kv: tuple[np.ndarray, np.ndarray] | None = None
        self.source = source
        self._memo: dict[str, Any] = {}

    def _calibration(self) -> tuple[np.ndarray, np.ndarray]:
        if self._kv is None:
            assert self._load is not None
            self._kv = self._load()
        return self._kv

    def __call__(self, kv_config: Any | None, cache: QuantCache) -> Any | None:
        if kv_config is None or self._load is None:
            return kv_config
        key = _cfg_json(kv_config)
        hit = self._memo.get(key)
        if hit is None:
            hit = numerics.calibrated_kv_config(
                kv_config,
                self._calibration,
                cache_dir=_thresholds_dir(cache),
                source=self.source,
            )
            self._memo[key] = hit
        return hit


class TensorSuite:
    """Scores a design by quantization error over a fixed set of tensors.

    Metrics: ``weight_rel_mse``, ``weight_sqnr_db`` (means over weight tensors; with
    ``by_kind``, means over projection kinds of the means over each kind's tensors),
    ``kv_rel_mse``, ``kv_sqnr_db`` (means over K/V layers; 0 and
    :data:`dse.study.numerics.MAX_SQNR_DB` at fp16 KV), ``rel_mse`` (mean of the two relative
    MSEs),
    and with ``output_error`` ``output_rel_mse`` (``||X (W - Ŵ)ᵀ||² / ||X Wᵀ||²`` on the
    evaluation activations, averaged like the weight metrics) and ``output_and_kv_rel_mse``
    (mean of ``output_rel_mse`` and ``kv_rel_mse``).

    Args:
        weights: the weight tensors.
        kv: the K/V layers.
        kv_calibration: returns calibration ``(k, v)`` (other data than ``kv``) for real-time
            KV sets without a shipped LUT; None leaves such configs as they are.
        calibration_source: provenance text of the calibration K/V.
        activations: returns ``{tensor id: Activations}`` (loaded once, on first need: output-
            MSE selection or ``output_error``); None: the suite has none.
        by_kind: score each tensor with its kind's weight recipe (see :meth:`recipe_metrics`).
        output_error: also report ``output_rel_mse`` (needs ``activations``).
    """

    def __init__(
        self,
        weights: tuple[NamedTensor, ...],
        kv: tuple[NamedKV, ...],
        *,
        kv_calibration: KVCalibration | None = None,
        calibration_source: str = "",
        activations: Callable[[], dict[str, Activations]] | None = None,
        by_kind: bool = False,
        output_error: bool = False,
    ) -> None:
        self.weights = weights
        self.kv = kv
        self.calibrate_kv = KVCalibrator(kv_calibration, calibration_source)
        self._load_acts = activations
        self._acts: dict[str, Activations] | None = None
        self.by_kind = by_kind
        self.output_error = output_error
        # suite-level memo: (kind, config json) -> averaged metrics; makes cache hits cheap
        self._memo: dict[tuple[str, str], dict[str, float]] = {}
        self._grams: dict[tuple[str, int], Any] = {}
        self._hessians: dict[str, np.ndarray] = {}
        self._qacts: dict[tuple[str, str], np.ndarray] = {}

    # --- activations ---------------------------------------------------------------------
    def activations(self, tensor: NamedTensor, why: str) -> Activations:
        """The activations of one weight tensor.

        Raises:
            InputError: the suite has none for it (``why`` says what needs them).
        """
        from mant.errors import InputError

        if self._acts is None and self._load_acts is not None:
            self._acts = self._load_acts()
        acts = (self._acts or {}).get(tensor.id)
        if acts is None:
            raise InputError.single(
                "accuracy.calibration",
                f"{why} needs the activations that feed each weight tensor "
                "(files source: give accuracy.calibration)",
                tensor.id.split("@")[0],
            )
        return acts

    def _gram(self, tensor: NamedTensor, group_size: int) -> Any:
        key = (tensor.id, group_size)
        if key not in self._grams:
            from mant.output_select import GramCalibration

            x = self.activations(tensor, "output-MSE selection").calibration
            self._grams[key] = GramCalibration.from_activations(x, group_size=group_size)
        return self._grams[key]

    def _hessian(self, tensor: NamedTensor) -> np.ndarray:
        """``XᵀX`` (float64) of the evaluation activations of a tensor."""
        if tensor.id not in self._hessians:
            acts = self.activations(tensor, "output_rel_mse")
            x = acts.calibration if acts.evaluation is None else acts.evaluation
            x64 = np.asarray(x, dtype=np.float64)
            self._hessians[tensor.id] = x64.T @ x64
        return self._hessians[tensor.id]

    def _eval_x(self, tensor: NamedTensor) -> np.ndarray:
        acts = self.activations(tensor, "output_rel_mse")
        return acts.calibration if acts.evaluation is None else acts.evaluation

    def _quantized_x(self, tensor: NamedTensor, act: Any) -> np.ndarray:
        """``Q_a(X)`` (float64) of a tensor's evaluation activations under the activation spec
        ``act`` (memoised per tensor and spec: every weight config of a study shares it)."""
        key = (tensor.id, _cfg_json(act))
        if key not in self._qacts:
            if len(self._qacts) >= _QACT_MEMO:  # bounded: a study meets many act specs
                del self._qacts[next(iter(self._qacts))]
            x = np.asarray(self._eval_x(tensor), dtype=np.float32)
            self._qacts[key] = np.asarray(activation_fake_quant(x, act), dtype=np.float32)
        return self._qacts[key].astype(np.float64)

    # --- one tensor ----------------------------------------------------------------------
    def _weight_row(self, tensor: NamedTensor, config: Any, act: Any = None) -> dict[str, float]:
        from mant.quantize import quantize
        from mant.selection import Selection

        if config is None:  # fp16 weights: no weight error (the activations may have some)
            w_hat = np.asarray(tensor.data, dtype=np.float64)
            out = {"rel_mse": 0.0, "sqnr_db": numerics.MAX_SQNR_DB}
        elif isinstance(config, LayerAlgorithm):
            res = self._layer_algorithm(tensor, config)
            rel = float(res.rel_mse)
            out = {"rel_mse": rel, "sqnr_db": numerics.sqnr_db(rel)}
            w_hat = np.asarray(res.dequantized, dtype=np.float64)
        else:
            kwargs = {}
            if getattr(config, "selection", None) is Selection.OUTPUT_MSE:
                kwargs["calibration"] = self._gram(tensor, int(config.group_size))
            res = quantize(tensor.data, config, **kwargs)
            rel = float(res.rel_mse)
            out = {"rel_mse": rel, "sqnr_db": numerics.sqnr_db(rel)}
            w_hat = np.asarray(res.dequantized, dtype=np.float64)
        if self.output_error:
            w = np.asarray(tensor.data, dtype=np.float64)
            if act is None:  # unquantized activations: ||X (W - Ŵ)ᵀ||² through XᵀX
                e = w - w_hat
                h = self._hessian(tensor)
                power = float(np.sum((w @ h) * w))
                out["output_rel_mse"] = float(np.sum((e @ h) * e)) / power if power > 0 else 0.0
            else:  # ||X Wᵀ - Q_a(X) Ŵᵀ||² / ||X Wᵀ||²
                y = np.asarray(self._eval_x(tensor), dtype=np.float64) @ w.T
                y_hat = self._quantized_x(tensor, act) @ w_hat.T
                power = float(np.sum(y * y))
                err = float(np.sum(np.square(y - y_hat)))
                out["output_rel_mse"] = err / power if power > 0 else 0.0
        return out

    def _layer_algorithm(self, tensor: NamedTensor, config: LayerAlgorithm) -> Any:
        """One 2-d weight by GPTQ / AWQ / a rotation, on its calibration activations."""
        from mant.errors import InputError
        from mant.gptq import quantize_layer
        from mant.selection import Selection

        w = np.asarray(tensor.data, dtype=np.float32)
        if w.ndim != 2:
            raise InputError.single(
                "accuracy.weights", "must be 2-d (out, in) for gptq, awq or a rotation", w.shape
            )
        spec = config.spec
        x = None
        if config.needs_activations or config.selection is Selection.OUTPUT_MSE:
            x = self.activations(tensor, f"algorithm {spec.algorithm}").calibration
        return quantize_layer(
            w,
            config.config,
            algorithm=spec.algorithm.value,
            rotation_block=spec.rotation_block_for(w.shape[1]),
            calibration=None if x is None else np.asarray(x, dtype=np.float32),
        )

    def _weight_parts(self, tensor: NamedTensor, config: Any, act: Any = None) -> dict[str, Any]:
        from mant.selection import Selection

        parts: dict[str, Any] = {
            "tensor": tensor.id,
            "kind": "weight",
            "config": None if config is None else config.to_dict(),
        }
        output_mse = getattr(config, "selection", None) is Selection.OUTPUT_MSE
        algo = isinstance(config, LayerAlgorithm) and config.needs_activations
        if output_mse or algo or self.output_error:
            parts["activations"] = self.activations(tensor, "output-MSE selection").id
        if self.output_error:
            parts["output_error"] = True
            if act is not None:  # the activation quantizer changes the output error only
                parts["act_config"] = act.to_dict()
        return parts

    # --- metrics -------------------------------------------------------------------------
    def _weight_metrics(
        self,
        configs: list[tuple[NamedTensor, Any]],
        cache: QuantCache,
        act: Any = None,
        acts: list[Any] | None = None,
    ) -> dict[str, float]:
        """Mean weight (and output) errors; ``act`` is the activation spec (a
        :class:`mant.quant_spec.QuantSpec`, None: fp16 activations) that ``output_rel_mse``
        applies to the inputs of every linear layer, or ``acts`` one per entry of ``configs``
        (each layer's input quantized by its own kind's spec)."""
        per = list(acts) if acts is not None else [act] * len(configs)
        if not self.output_error:  # only the output error sees activations
            per = [None] * len(configs)
        act_keys = sorted({_cfg_json(a) for a in per}) or ["null"]
        key = (
            "weight",
            json.dumps(
                [
                    act_keys[0] if len(act_keys) == 1 else [_cfg_json(a) for a in per],
                    *((t.id, _cfg_json(c)) for t, c in configs),
                ]
            ),
        )
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        fields = ("rel_mse", "sqnr_db", *(("output_rel_mse",) if self.output_error else ()))
        exact = {"rel_mse": 0.0, "sqnr_db": numerics.MAX_SQNR_DB, "output_rel_mse": 0.0}
        rows = [
            (
                t.kind if self.by_kind else None,
                exact  # an unquantized (fp16) kind with fp16 activations has no error
                if c is None and a is None
                else cache.get_or_compute(
                    self._weight_parts(t, c, a),
                    functools.partial(self._weight_row, t, c, a),
                    fields=fields,
                ),
            )
            for (t, c), a in zip(configs, per, strict=True)
        ]
        groups: dict[str | None, list[dict[str, float]]] = {}
        for kind, row in rows:
            groups.setdefault(kind, []).append(row)
        out = {
            f: float(np.mean([np.mean([r[f] for r in g]) for g in groups.values()]))
            for f in fields
        }
        self._memo[key] = out
        return out

    def _kv_metrics(self, kv_configs: tuple[Any, Any], cache: QuantCache) -> dict[str, float]:
        """Pooled K and V error (errors and powers summed over both) of per-side configs."""
        k_cfg, v_cfg = (self.calibrate_kv(c, cache) for c in kv_configs)
        if (k_cfg is None and v_cfg is None) or not self.kv:
            return {"rel_mse": 0.0, "sqnr_db": numerics.MAX_SQNR_DB}
        if k_cfg is not None and k_cfg == v_cfg:  # one config: the pooled quantize_kv
            return self._mean(
                "kv", k_cfg, cache, self.kv, lambda t: numerics.kv_error(t.k, t.v, k_cfg)
            )
        key = (
            "kv-sides",
            json.dumps([None if c is None else _cfg_json(c) for c in (k_cfg, v_cfg)]),
        )
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        cfgs = {"key": k_cfg, "value": v_cfg}
        rows = [
            cache.get_or_compute(
                {
                    "tensor": item.id,
                    "kind": "kv-sides",
                    "config": {n: None if c is None else c.to_dict() for n, c in cfgs.items()},
                },
                functools.partial(numerics.kv_sides_error, item.k, item.v, k_cfg, v_cfg),
                fields=("rel_mse", "sqnr_db"),
            )
            for item in self.kv
        ]
        out = {k: float(np.mean([r[k] for r in rows])) for k in ("rel_mse", "sqnr_db")}
        self._memo[key] = out
        return out

    def _mean(
        self,
        kind: str,
        config: Any,
        cache: QuantCache,
        items: tuple[Any, ...],
        one: Callable[[Any], dict[str, float]],
    ) -> dict[str, float]:
        key = (kind, _cfg_json(config))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        cfg_dict = config.to_dict()
        rows = [
            cache.get_or_compute(
                {"tensor": item.id, "kind": kind, "config": cfg_dict},
                functools.partial(one, item),
                fields=("rel_mse", "sqnr_db"),
            )
            for item in items
        ]
        out = {k: float(np.mean([r[k] for r in rows])) for k in ("rel_mse", "sqnr_db")}
        self._memo[key] = out
        return out

    def _combine(self, w: dict[str, float], kv: dict[str, float]) -> dict[str, float]:
        out = {
            "weight_rel_mse": w["rel_mse"],
            "weight_sqnr_db": w["sqnr_db"],
            "kv_rel_mse": kv["rel_mse"],
            "kv_sqnr_db": kv["sqnr_db"],
            "rel_mse": 0.5 * (w["rel_mse"] + kv["rel_mse"]),
        }
        if "output_rel_mse" in w:
            out["output_rel_mse"] = w["output_rel_mse"]
            out["output_and_kv_rel_mse"] = 0.5 * (w["output_rel_mse"] + kv["rel_mse"])
        return out

    def metrics(
        self, weight_config: Any, kv_config: Any | None, cache: QuantCache
    ) -> dict[str, float]:
        """Metrics of one weight config (every tensor) and one KV config (None: fp16 KV)."""
        w = self._weight_metrics([(t, weight_config) for t in self.weights], cache)
        return self._combine(w, self._kv_metrics((kv_config, kv_config), cache))

    def recipe_metrics(self, recipe: Any, cache: QuantCache) -> dict[str, float]:
        """Metrics of a :class:`mant.recipe.Recipe`: each weight tensor quantized by its
        projection kind's recipe (``by_kind``; else every tensor by ``q``'s), K and V each by
        their own.

        Raises:
            InputError: ``by_kind`` and a tensor whose name gives no projection kind while the
                recipe's weight kinds differ.
        """
        configs = _tensor_configs(self.weights, recipe, self.by_kind)
        if recipe.act_kinds:  # each layer's input by its own kind's activation spec
            acts = [recipe.activation(_scored_kind(t, recipe, self.by_kind)) for t, _ in configs]
            w = self._weight_metrics(configs, cache, acts=acts)
        else:
            w = self._weight_metrics(configs, cache, recipe.activations)
        return self._combine(w, self._kv_metrics(numerics.kv_side_configs(recipe), cache))


def _scored_kind(t: NamedTensor, recipe: Any, by_kind: bool) -> str:
    """The projection kind whose activation spec a tensor's input takes (``q``'s without
    ``by_kind``, as for its weights).

    Raises:
        InputError: ``by_kind`` and a tensor whose name gives no projection kind while the
            recipe's activation kinds differ.
    """
    from mant.errors import InputError

    if not by_kind:
        return "q"
    if t.kind is None:
        raise InputError.single(
            "accuracy.by_kind",
            "needs a projection kind in every tensor name (q_proj, attn_q, "
            "attention.self.query, ...) when activations differ per kind; this one has none",
            t.id.split("@")[0],
        )
    return str(t.kind)


def _tensor_configs(
    weights: tuple[NamedTensor, ...], recipe: Any, by_kind: bool
) -> list[tuple[NamedTensor, Any]]:
    from mant.errors import InputError
    from mant.quant_spec import WEIGHT_KINDS

    configs: dict[str, Any] = {}
    for k in WEIGHT_KINDS:
        tr = recipe.weight(k)  # None: unquantized, scored as exact
        if tr is not None and tr.layer_algorithm:
            configs[k.value] = LayerAlgorithm(tr.quant_config(axis=-1), tr)
        else:
            configs[k.value] = None if tr is None else tr.quant_config(axis=-1)
    uniform = len({_cfg_json(c) for c in configs.values()}) == 1
    out = []
    for t in weights:
        if by_kind and t.kind is None and not uniform:
            raise InputError.single(
                "accuracy.by_kind",
                "needs a projection kind in every tensor name (q_proj, attn_q, "
                "attention.self.query, ...); this one has none",
                t.id.split("@")[0],
            )
        out.append((t, configs[t.kind if by_kind and t.kind is not None else "q"]))
    return out
