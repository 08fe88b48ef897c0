"""The reproduce configuration: which designs, models, phases, lengths and batches to compare.

A reproduce config is a small YAML file (``studies/reproduce/paper.yaml``) that loads, once, into
the frozen :class:`ReproduceConfig`. The same content ships as :data:`DEFAULT_CONFIG` (kept in
:mod:`dse.reproduce.defaults`, re-exported here), so the command also works outside a source
checkout; a test keeps the two equal.

Example:
    >>> cfg = parse_config(DEFAULT_CONFIG)
    >>> cfg.subject, cfg.baselines
    ('mant', ('ant', 'olive', 'tender'))
    >>> len(cfg.cases)  # models x phases x sequence lengths x batches
    60
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from dse.reproduce.defaults import CONFIG_VERSION, DEFAULT_CONFIG
from mant.errors import InputError, IssueCollector

__all__ = [
    "CONFIG_VERSION",
    "DEFAULT_CONFIG",
    "Case",
    "DesignSpec",
    "KVQuantSpec",
    "WeightQuantSpec",
    "SensitivitySpec",
    "AccuracySpec",
    "PaperClaims",
    "ReproduceConfig",
    "parse_config",
    "load_config",
    "reduce_config",
]

KNOBS = (
    "dram_bw_bytes_per_cycle",
    "area_scale",
    "buffer_kib",
    "seq_len",
    "batch",
    "act_bits",
    "dataflow",
    "preload",
    "dram_energy_scale",
)
"""Assumptions the sensitivity analysis can vary, one at a time."""

_CHOICE_KNOBS = {"dataflow": ("ws", "os", "is"), "preload": ("serial", "overlapped")}
"""Knobs whose values are names rather than numbers."""

_PHASES = ("prefill", "decode")
_KEEP = ("rows", "cols")
_GRANULARITIES = ("group", "channel", "tensor")
_KV_METHODS = ("realtime", "oracle", "quantize", "tender", "fp16")
_KV_NO_CANDIDATES = ("fp16", "tender")
_SOURCES = ("auto", "real", "synthetic")


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One workload point: a model, a phase, a sequence length and a batch.

    Attributes:
        model: hwmodel model preset name.
        phase: ``prefill`` or ``decode``.
        seq_len: Prompt length (prefill) or context length (decode), tokens.
        batch: Sequences processed together.
    """

    model: str
    phase: Literal["prefill", "decode"]
    seq_len: int
    batch: int

    @property
    def label(self) -> str:
        return f"{self.model} {self.phase} L={self.seq_len} B={self.batch}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightQuantSpec:
    """How the accuracy side quantizes a design's weights (fake-quant, ``mant.quantize``).

    Attributes:
        candidates: Named set or format name (``mant-unicore16``, ``ant``, ``int4`` ...).
        granularity: ``group``, ``channel`` or ``tensor``.
        group_size: Values per group (``group`` granularity only).
        scale_format: Stored scale format.
    """

    candidates: str
    granularity: str = "group"
    group_size: int | None = None
    scale_format: str = "fp16"


@dataclass(frozen=True, slots=True, kw_only=True)
class KVQuantSpec:
    """How the accuracy side quantizes a design's K and V.

    ``realtime`` / ``oracle``: ``mant.kv.quantize_kv`` (K per channel, V per token, groups of
    ``group_size``); ``quantize``: ``mant.quantize`` with K grouped along tokens and V along the
    head dimension; ``tender``: the Tender artifact's INT4 K (per-channel bias, then per token)
    and V (per channel); ``fp16``: no KV quantization (the cache is stored in FP16).

    Attributes:
        method: ``realtime``, ``oracle``, ``quantize``, ``tender`` or ``fp16``.
        candidates: Named set or format name (unused for ``fp16`` and ``tender``).
        granularity: ``group`` or ``channel`` (``quantize`` only).
        group_size: Values per group.
    """

    method: str
    candidates: str = ""
    granularity: str = "channel"
    group_size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignSpec:
    """One accelerator in the comparison.

    Attributes:
        name: Label in the report.
        preset: hwmodel preset (array, buffers, DRAM, PE and the precision its paper uses).
        keep: The array side held fixed when resizing to the area budget (``rows`` or ``cols``).
        weights: Weight quantization for the accuracy side.
        kv: KV quantization for the accuracy side.
    """

    name: str
    preset: str
    keep: Literal["rows", "cols"]
    weights: WeightQuantSpec
    kv: KVQuantSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivitySpec:
    """One-at-a-time sensitivity of the headline speedup.

    Attributes:
        seq_len: Sequence length of the base point, tokens.
        batch: Batch of the base point.
        knobs: Knob name -> values swept (all other assumptions at their base value).
    """

    seq_len: int
    batch: int
    knobs: tuple[tuple[str, tuple[float | str, ...]], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccuracySpec:
    """The accuracy side.

    Attributes:
        weights: ``auto`` (real MiniLM weights if cached, else synthetic), ``real``, ``synthetic``.
        kv: ``auto`` (real SmolLM2 K/V if the model is cached, else synthetic), ``real``,
            ``synthetic``.
        n_weight_tensors: MiniLM linear weights used (the first ones in file order).
        kv_layers: SmolLM2 layers whose K/V are used.
        perplexity_windows: 512-token windows of SmolLM2 perplexity per design (0 = skip).
        seed: Seed of the synthetic fallback tensors.
    """

    weights: str = "auto"
    kv: str = "auto"
    n_weight_tensors: int = 8
    kv_layers: tuple[int, ...] = (0, 7, 14, 21, 29)
    perplexity_windows: int = 0
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperClaims:
    """The published headline figures (M-ANT over state-of-the-art accelerators).

    Attributes:
        speedup_avg, speedup_max: Average and maximum speedup.
        energy_reduction_avg, energy_reduction_max: Average and maximum energy reduction.
        source: Where the numbers come from.
    """

    speedup_avg: float
    speedup_max: float
    energy_reduction_avg: float
    energy_reduction_max: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReproduceConfig:
    """A validated reproduce configuration.

    Attributes:
        name: Label.
        subject: The design whose speedup is reported (M-ANT).
        baselines: Designs in the headline average (the paper's state-of-the-art accelerators).
        references: Designs reported next to them but not averaged (the INT8 baseline).
        area_budget_um2: PE-array area every design is resized to spend, um^2.
        iso_area_tolerance: Allowed shortfall of a design's PE area below the budget (fraction).
        mean: ``geometric`` or ``arithmetic``: how the average over cases is taken.
        designs: Every design, subject first.
        models, phases, seq_lens, batches: The case grid.
        sensitivity: One-at-a-time sensitivity setup.
        accuracy: Accuracy-side setup.
        paper: The published figures.
    """

    name: str
    subject: str
    baselines: tuple[str, ...]
    references: tuple[str, ...]
    area_budget_um2: float
    iso_area_tolerance: float
    mean: Literal["geometric", "arithmetic"]
    designs: tuple[DesignSpec, ...]
    models: tuple[str, ...]
    phases: tuple[str, ...]
    seq_lens: tuple[int, ...]
    batches: tuple[int, ...]
    sensitivity: SensitivitySpec
    accuracy: AccuracySpec
    paper: PaperClaims

    @property
    def cases(self) -> tuple[Case, ...]:
        """Every (model, phase, seq_len, batch), in that nesting order."""
        return tuple(
            Case(model=m, phase=p, seq_len=s, batch=b)  # type: ignore[arg-type]
            for m in self.models
            for p in self.phases
            for s in self.seq_lens
            for b in self.batches
        )

    def design(self, name: str) -> DesignSpec:
        return next(d for d in self.designs if d.name == name)


def _keys(c: IssueCollector, data: Any, path: str, required: tuple, optional: tuple) -> bool:
    if not c.check_keys(data, path, allowed=optional, required=required):
        return False
    return all(k in data for k in required)


def _ints(c: IssueCollector, value: Any, path: str) -> tuple[int, ...]:
    ok = (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    )
    c.check(bool(ok), path, "must be a non-empty list of ints >= 1", value)
    return tuple(value) if ok else ()


def _names(c: IssueCollector, value: Any, path: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        c.add(path, "must be a non-empty list of names", value)
        return ()
    for i, v in enumerate(value):
        c.check(v in known, f"{path}[{i}]", f"must be one of {', '.join(known)}", v)
    return tuple(value)


def _design(c: IssueCollector, name: str, raw: Any, path: str) -> DesignSpec | None:
    from hwmodel import list_presets

    if not _keys(c, raw, path, ("preset", "keep", "weights", "kv"), ()):
        return None
    ok = c.check(
        raw["preset"] in list_presets(), f"{path}.preset", "unknown preset", raw["preset"]
    )
    ok &= c.check(raw["keep"] in _KEEP, f"{path}.keep", "must be rows or cols", raw["keep"])
    w, kv = raw["weights"], raw["kv"]
    weights = kvq = None
    if _keys(
        c, w, f"{path}.weights", ("candidates",), ("granularity", "group_size", "scale_format")
    ):
        ok &= c.check(
            w.get("granularity", "group") in _GRANULARITIES,
            f"{path}.weights.granularity",
            f"must be one of {', '.join(_GRANULARITIES)}",
            w.get("granularity"),
        )
        weights = WeightQuantSpec(**w)
    if _keys(c, kv, f"{path}.kv", ("method",), ("candidates", "granularity", "group_size")):
        ok &= c.check(
            kv["method"] in _KV_METHODS,
            f"{path}.kv.method",
            f"must be one of {', '.join(_KV_METHODS)}",
            kv["method"],
        )
        if kv["method"] not in _KV_NO_CANDIDATES:
            ok &= c.check(
                isinstance(kv.get("candidates"), str),
                f"{path}.kv.candidates",
                "is required unless method is fp16 or tender",
                kv.get("candidates"),
            )
        kvq = KVQuantSpec(**kv)
    if not ok or weights is None or kvq is None:
        return None
    return DesignSpec(name=name, preset=raw["preset"], keep=raw["keep"], weights=weights, kv=kvq)


def parse_config(data: Any, path: str = "reproduce") -> ReproduceConfig:
    """Validate a mapping (as read from YAML) into a :class:`ReproduceConfig`.

    Raises:
        InputError: one issue per unknown or missing key, unknown design, model, phase or knob,
            and bad number, all at once.
    """
    from hwmodel import list_models

    c = IssueCollector()
    top = tuple(DEFAULT_CONFIG)
    if not _keys(c, data, path, top, ()):
        c.raise_if_any()
    c.check(data["version"] == CONFIG_VERSION, f"{path}.version", "must be 1", data["version"])
    designs: list[DesignSpec] = []
    if isinstance(data["designs"], Mapping) and data["designs"]:
        for name, raw in data["designs"].items():
            d = _design(c, str(name), raw, f"{path}.designs.{name}")
            if d is not None:
                designs.append(d)
    else:
        c.add(f"{path}.designs", "must be a non-empty mapping of design name -> design", None)
    names = tuple(str(n) for n in data["designs"]) if isinstance(data["designs"], Mapping) else ()
    subject = data["subject"]
    c.check(subject in names, f"{path}.subject", "must name a design", subject)
    baselines = _names(c, data["baselines"], f"{path}.baselines", names)
    references = (
        ()
        if data["references"] in (None, [])
        else _names(c, data["references"], f"{path}.references", names)
    )
    c.check(subject not in baselines, f"{path}.baselines", "must not contain the subject", subject)
    budget = data["area_budget_um2"]
    c.check(
        isinstance(budget, int | float) and budget > 0,
        f"{path}.area_budget_um2",
        "must be a number > 0",
        budget,
    )
    tol = data["iso_area_tolerance"]
    c.check(
        isinstance(tol, int | float) and 0 <= tol < 1,
        f"{path}.iso_area_tolerance",
        "must be a number in [0, 1)",
        tol,
    )
    c.check(
        data["mean"] in ("geometric", "arithmetic"),
        f"{path}.mean",
        "must be geometric or arithmetic",
        data["mean"],
    )
    models = _names(c, data["models"], f"{path}.models", tuple(list_models()))
    phases = _names(c, data["phases"], f"{path}.phases", _PHASES)
    seq_lens = _ints(c, data["seq_lens"], f"{path}.seq_lens")
    batches = _ints(c, data["batches"], f"{path}.batches")

    sens = None
    raw = data["sensitivity"]
    if _keys(c, raw, f"{path}.sensitivity", ("seq_len", "batch", "knobs"), ()):
        knobs: list[tuple[str, tuple[float | str, ...]]] = []
        if isinstance(raw["knobs"], Mapping):
            for knob, values in raw["knobs"].items():
                kp = f"{path}.sensitivity.knobs.{knob}"
                if not c.check(knob in KNOBS, kp, f"unknown knob; known are {', '.join(KNOBS)}"):
                    continue
                if knob in _CHOICE_KNOBS:
                    choices = _CHOICE_KNOBS[knob]
                    ok = (
                        isinstance(values, list)
                        and values
                        and all(isinstance(v, str) and v in choices for v in values)
                    )
                    rule = f"must be a non-empty list of {', '.join(choices)}"
                else:
                    ok = (
                        isinstance(values, list)
                        and values
                        and all(
                            isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                            for v in values
                        )
                    )
                    rule = "must be a non-empty list of numbers > 0"
                if c.check(bool(ok), kp, rule, values):
                    knobs.append((knob, tuple(values)))
        else:
            c.add(f"{path}.sensitivity.knobs", "must be a mapping of knob -> values", raw["knobs"])
        for key in ("seq_len", "batch"):
            v = raw[key]
            c.check(
                isinstance(v, int) and v >= 1, f"{path}.sensitivity.{key}", "must be int >= 1", v
            )
        sens = SensitivitySpec(seq_len=raw["seq_len"], batch=raw["batch"], knobs=tuple(knobs))

    acc = None
    raw = data["accuracy"]
    if _keys(c, raw, f"{path}.accuracy", (), tuple(AccuracySpec.__dataclass_fields__)):
        for key in ("weights", "kv"):
            v = raw.get(key, "auto")
            c.check(
                v in _SOURCES, f"{path}.accuracy.{key}", f"must be one of {', '.join(_SOURCES)}", v
            )
        for key in ("n_weight_tensors", "perplexity_windows", "seed"):
            v = raw.get(key, 0)
            c.check(
                isinstance(v, int) and v >= 0, f"{path}.accuracy.{key}", "must be an int >= 0", v
            )
        layers = raw.get("kv_layers", [0])
        ok = isinstance(layers, list) and layers and all(isinstance(v, int) for v in layers)
        c.check(bool(ok), f"{path}.accuracy.kv_layers", "must be a non-empty list of ints", layers)
        acc = AccuracySpec(**{**raw, "kv_layers": tuple(layers) if ok else (0,)})

    paper = None
    raw = data["paper"]
    fields = tuple(PaperClaims.__dataclass_fields__)
    if _keys(c, raw, f"{path}.paper", fields, ()):
        for key in fields[:-1]:
            c.check(
                isinstance(raw[key], int | float) and raw[key] > 0,
                f"{path}.paper.{key}",
                "must be a number > 0",
                raw[key],
            )
        paper = PaperClaims(**raw)
    c.raise_if_any()
    assert sens is not None and acc is not None and paper is not None
    designs.sort(key=lambda d: d.name != subject)
    return ReproduceConfig(
        name=str(data["name"]),
        subject=subject,
        baselines=baselines,
        references=references,
        area_budget_um2=float(budget),
        iso_area_tolerance=float(tol),
        mean=data["mean"],
        designs=tuple(designs),
        models=models,
        phases=phases,
        seq_lens=seq_lens,
        batches=batches,
        sensitivity=sens,
        accuracy=acc,
        paper=paper,
    )


def load_config(path: str | Path | None = None) -> ReproduceConfig:
    """Load a reproduce config from a YAML file, or :data:`DEFAULT_CONFIG` when ``path`` is None.

    Raises:
        InputError: missing file, invalid YAML or invalid content.
    """
    if path is None:
        return parse_config(copy.deepcopy(DEFAULT_CONFIG))
    p = Path(path)
    if not p.is_file():
        raise InputError.single("config", "file not found", str(path))
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise InputError.single("config", f"is not valid YAML ({exc})", str(path)) from exc
    return parse_config(data)


def reduce_config(data: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A deep copy of a raw config with top-level keys replaced (for quick runs and tests)."""
    out = copy.deepcopy(dict(data))
    out.update(copy.deepcopy(overrides))
    return out
