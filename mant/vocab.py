"""The words every package uses for "which tensor, how grouped, how chosen": defined once.

* :class:`TensorKind`: the tensor kinds of a transformer block. The weights of each linear
  projection ``q k v o gate up down`` (groups along in_features, the reduction dimension);
  ``activations`` (the input of every linear layer, per token); ``query`` (per token along
  head_dim); ``key`` and ``value`` (the KV cache); ``attn_probs`` (the softmax output P, groups
  along the key axis) and ``attn_out`` (the attention output O, per token). The kind lists
  :data:`WEIGHT_KINDS`, :data:`KV_KINDS`, :data:`ACT_KINDS` and :data:`B_OPERAND_KINDS` (what
  a GEMM's B operand can be: a projection's weights, K or V) are written here only;
  ``hwmodel.OperandKind`` is :class:`TensorKind`.
* :class:`Selection`: how a group picks its type among candidate formats.
* :class:`Algorithm` and :class:`Rotation`: how a weight is rounded (round to nearest, GPTQ,
  AWQ) and whether its input dimension is Hadamard-rotated first.
* :class:`Grouping`: which way a K or V group runs in a (..., tokens, head_dim) cache.
* :class:`Granularity` (the YAML word) and its typed forms :class:`PerGroup` (which carries its
  group size), :class:`PerChannel`, :class:`PerToken` and :class:`PerTensor`.

This module imports nothing of the toolkit, so every other module can import it.

Example:
    >>> TensorKind("down") in WEIGHT_KINDS, str(TensorKind.KEY)
    (True, 'key')
    >>> granularity_of(Granularity.GROUP, 64), granularity_of("channel", None)
    (PerGroup(size=64), PerChannel())
    >>> Selection("output_mse").value, Grouping("channel").value
    ('output_mse', 'channel')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ACT_KINDS",
    "Algorithm",
    "B_OPERAND_KINDS",
    "Granularity",
    "GranularityType",
    "Grouping",
    "KV_KINDS",
    "KV_SELECTIONS",
    "PerChannel",
    "PerGroup",
    "PerTensor",
    "PerToken",
    "Rotation",
    "SELECTION_ALIASES",
    "Selection",
    "TensorKind",
    "WEIGHT_KINDS",
    "WEIGHT_SELECTIONS",
    "granularity_of",
]


class TensorKind(StrEnum):
    """A tensor kind of a transformer block (see the module doc)."""

    Q = "q"
    K = "k"
    V = "v"
    O = "o"  # noqa: E741  (the projection's conventional name)
    GATE = "gate"
    UP = "up"
    DOWN = "down"
    ACTIVATIONS = "activations"
    QUERY = "query"
    KEY = "key"
    VALUE = "value"
    ATTN_PROBS = "attn_probs"
    ATTN_OUT = "attn_out"


WEIGHT_KINDS: tuple[TensorKind, ...] = (
    TensorKind.Q,
    TensorKind.K,
    TensorKind.V,
    TensorKind.O,
    TensorKind.GATE,
    TensorKind.UP,
    TensorKind.DOWN,
)
"""The projection weights, in block order."""

KV_KINDS: tuple[TensorKind, ...] = (TensorKind.KEY, TensorKind.VALUE)
"""The two halves of the KV cache."""

ACT_KINDS: tuple[TensorKind, ...] = (
    TensorKind.ACTIVATIONS,
    TensorKind.QUERY,
    TensorKind.ATTN_PROBS,
    TensorKind.ATTN_OUT,
)
"""The tensors quantized per token at run time (linear inputs, Q, P, O)."""

B_OPERAND_KINDS: tuple[TensorKind, ...] = WEIGHT_KINDS + KV_KINDS
"""What a GEMM's B operand can be: a projection's weights, or the K or V cache."""


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

WEIGHT_SELECTIONS = (Selection.WEIGHT_MSE, Selection.OUTPUT_MSE)
"""The rules of an offline (weight) quantizer."""

KV_SELECTIONS = (Selection.VARIANCE, Selection.LUT, Selection.ORACLE)
"""The rules of the real-time KV quantizer."""


class Algorithm(StrEnum):
    """How a weight's values are rounded onto its format (``mant.gptq``; weights only)."""

    RTN = "rtn"  # round to nearest, each group on its own (mant.quantize)
    GPTQ = "gptq"  # GPTQ's error-compensating column sweep
    AWQ = "awq"  # activation-aware channel scaling, then round to nearest


class Rotation(StrEnum):
    """A rotation of a weight's input dimension before it is quantized (``mant.rotation``)."""

    NONE = "none"
    HADAMARD = "hadamard"  # block-diagonal normalised Sylvester-Hadamard


class Grouping(StrEnum):
    """Which way a K or V group of g values runs in a (..., tokens, head_dim) tensor."""

    CHANNEL = "channel"  # along tokens, one head_dim channel; partial groups stay full precision
    # along head_dim, one token, when g divides head_dim; for g a multiple of head_dim along the
    # token's concatenated heads (kv_heads x head_dim values), the last group zero-padded
    TOKEN = "token"


class Granularity(StrEnum):
    """How many values share a scale, as YAML and the CLI say it."""

    GROUP = "group"
    CHANNEL = "channel"
    TENSOR = "tensor"


@dataclass(frozen=True, slots=True)
class PerGroup:
    """Groups of ``size`` consecutive values along the grouping axis share a scale."""

    size: int


@dataclass(frozen=True, slots=True)
class PerChannel:
    """One scale per row (every value along the grouping axis)."""


@dataclass(frozen=True, slots=True)
class PerToken:
    """One scale per token (a row of an activation)."""


@dataclass(frozen=True, slots=True)
class PerTensor:
    """One scale for the whole tensor."""


GranularityType = PerGroup | PerChannel | PerToken | PerTensor


def granularity_of(granularity: Granularity | str, group_size: int | None) -> GranularityType:
    """The typed granularity of a (granularity word, group size) pair."""
    g = Granularity(granularity)
    if g is Granularity.GROUP:
        if group_size is None:
            raise ValueError("group granularity needs a group size")
        return PerGroup(int(group_size))
    return PerChannel() if g is Granularity.CHANNEL else PerTensor()
