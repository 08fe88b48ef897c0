"""The study specification's frozen values (:class:`StudySpec` and its parts), and nothing else.

A leaf module: :mod:`dse.study.spec` parses YAML into these, and every module that only reads a
spec (``spec_checks``, ``spec_dict``, ``spec_inputs``, ``accuracy``, ``objective``, ...) imports
them from here, so no module imports the parser back (no import cycle, type-only imports included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dse.study.metrics import Direction
from dse.study.space import SearchSpace

__all__ = [
    "SPEC_VERSION",
    "TILE_FIT",
    "AccuracySpec",
    "Constraint",
    "Fidelity",
    "GemmSpec",
    "Objective",
    "PromoteSpec",
    "SamplerName",
    "SamplerSpec",
    "StudySpec",
    "WorkloadSpec",
]

SPEC_VERSION = 1


class SamplerName(StrEnum):
    TPE = "tpe"
    NSGA2 = "nsga2"
    NSGA3 = "nsga3"
    RANDOM = "random"
    GRID = "grid"
    QMC = "qmc"
    GP = "gp"
    AUTO = "auto"


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplerSpec:
    """Which Optuna sampler proposes designs.

    Attributes:
        name: the sampler; ``auto``: a grid over the quantization settings when there are at
            most ``n_trials`` of them (exact), else NSGA-II, both with ``solve_hardware``.
        population_size: generation size of NSGA-II / NSGA-III (ignored by the others).
        solve_hardware: sample quantization settings only and solve the hardware parameters
            exactly for each (:mod:`dse.evaluate.solve`).
    """

    name: SamplerName = SamplerName.NSGA2
    population_size: int = 20
    solve_hardware: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmSpec:
    """One matrix product ``(m x k) @ (k x n)``, repeated ``count`` times."""

    name: str
    m: int
    n: int
    k: int
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadSpec:
    """An LLM preset (model, phase, seq_len, batch) or an explicit list of GEMMs.

    ``phase: serve`` costs a whole request: a prefill of ``prompt_len`` tokens, then
    ``gen_len`` decode steps (``hwmodel.serve``); ``seq_len`` is not used by it.
    """

    model: str | None = "llama-2-7b"
    phase: str = "decode"
    seq_len: int = 2048
    batch: int = 1
    gemms: tuple[GemmSpec, ...] = ()
    prompt_len: int = 2048
    gen_len: int = 256

    @property
    def tokens_per_pass(self) -> int:
        """Tokens produced (decode, serve) or consumed (prefill) by one pass of the workload."""
        if self.phase == "serve":
            return self.batch * self.gen_len
        return self.batch if self.phase == "decode" else self.batch * self.seq_len


class Fidelity(StrEnum):
    """``single``: every trial gets the source's metrics only; ``multi``: the source is a cheap
    proxy and designs near its front are promoted to real perplexity (:class:`PromoteSpec`)."""

    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True, slots=True, kw_only=True)
class PromoteSpec:
    """Which designs of a ``fidelity: multi`` study get real perplexity, and how it is measured.

    A feasible trial is promoted when it completes unless a feasible COMPLETE trial before it
    beats it by more than ``margin`` in every objective: with objectives as minimised values
    (maximised ones negated), trial ``x`` is promoted unless some such ``p`` has
    ``p_i + margin * |p_i| <= x_i`` for every objective ``i`` and ``<`` for one (relative
    epsilon-dominance; ``margin: 0`` is plain Pareto dominance; :mod:`dse.evaluate.multifid`).

    Attributes:
        model: ``smollm2-135m`` or a Hugging Face checkpoint folder (``llmrun.hf``).
        backend: ``numpy`` or ``torch``.
        text: a UTF-8 text file scored instead of Pride and Prejudice (None: Pride and Prejudice).
        windows: text windows scored per promoted design.
        context: tokens per window (each window scores ``context - 1`` tokens).
        margin: relative slack of the epsilon-dominance rule, in ``[0, 1)`` (0.1 = 10 %).
        max_promoted: at most this many promoted trials in the study (None: no limit).
    """

    model: str = "smollm2-135m"
    backend: str = "numpy"
    text: str | None = None
    windows: int = 2
    context: int = 512
    margin: float = 0.1
    max_promoted: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracySpec:
    """Where accuracy numbers come from.

    Attributes:
        source: a name registered in :mod:`dse.evaluate.accuracy` (``synthetic``, ``tensors``,
            ``perplexity``).
        seed: seed of the synthetic suite.
        n_tensors: tensors per kind (weights, K, V) in the suite; real suites take the first ones.
        tensor_rows: rows of each synthetic tensor.
        tensor_cols: columns of each synthetic tensor (the grouped axis).
        ppl_windows: 512-token windows of Pride and Prejudice scored by the perplexity source.
        model: perplexity source: ``smollm2-135m`` or a Hugging Face checkpoint folder
            (``llmrun.hf``: Llama, Mistral, Qwen2).
        backend: perplexity source: ``numpy`` or ``torch`` (the ``[torch]`` extra).
        text: perplexity source: a UTF-8 text file scored instead of Pride and Prejudice.
        paths: ``files`` source: tensor files (.npy, .npz, .safetensors, .gguf).
        tensors: ``files`` source: tensor names to use (empty: every 2-D tensor of the files).
        calibration: ``files`` source: the activations that feed each weight, as
            ``(weight tensor name, file, tensor name or None)``; they drive output-MSE selection
            (``space.weight_selection: output_mse``) and the ``output_rel_mse`` metric.
        by_kind: score each weight tensor with its projection kind's format (kinds read from
            the tensor names) and average per kind; on by default when the space varies a
            weight parameter per kind (``weight_bits.q`` ...).
        fidelity: ``single`` (default) or ``multi``: the source is the proxy and designs near
            the proxy front also get perplexity (``promote``).
        promote: the perplexity of ``fidelity: multi`` (None when single).
    """

    source: str = "synthetic"
    seed: int = 0
    n_tensors: int = 3
    tensor_rows: int = 128
    tensor_cols: int = 512
    ppl_windows: int = 2
    model: str = "smollm2-135m"
    backend: str = "numpy"
    text: str | None = None
    paths: tuple[str, ...] = ()
    tensors: tuple[str, ...] = ()
    calibration: tuple[tuple[str, str, str | None], ...] = ()
    by_kind: bool = False
    output_error: bool = False  # set when an objective or constraint names output_rel_mse
    fidelity: Fidelity = Fidelity.SINGLE
    promote: PromoteSpec | None = None

    @property
    def multi_fidelity(self) -> bool:
        return self.fidelity is Fidelity.MULTI and self.promote is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Objective:
    """A metric to optimise and its direction."""

    metric: str
    direction: Direction


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    """A bound on a metric: Optuna sees ``value - max`` (or ``min - value``); <= 0 is feasible."""

    metric: str
    max: float | None = None
    min: float | None = None

    @property
    def name(self) -> str:
        return f"{self.metric}_{'max' if self.max is not None else 'min'}"

    def violation(self, value: float) -> float:
        """Constraint value in the metric's unit; <= 0 means satisfied."""
        if self.max is not None:
            return float(value) - self.max
        return float(self.min) - float(value)  # type: ignore[arg-type]


# Every design must fit one array tile in each buffer: a constraint of every study (not written
# in the spec), so an infeasible design is one that violates it, on the study and sweep paths.
TILE_FIT = Constraint(metric="tile_overflow_bytes", max=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class StudySpec:
    """A whole study, validated."""

    version: int = SPEC_VERSION
    name: str
    seed: int = 0
    n_trials: int = 100
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    storage: str | None = None
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)
    accuracy: AccuracySpec = field(default_factory=AccuracySpec)
    space: SearchSpace = field(default_factory=SearchSpace)
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    accelerator: str | None = None

    @property
    def directions(self) -> list[str]:
        return [str(o.direction) for o in self.objectives]

    @property
    def all_constraints(self) -> tuple[Constraint, ...]:
        """The spec's constraints and the built-in :data:`TILE_FIT`."""
        return (*self.constraints, TILE_FIT)

    @property
    def metric_names(self) -> list[str]:
        return [o.metric for o in self.objectives]
