"""Parse-time checks of a study that would otherwise surface as failing trials (or never).

:func:`dse.study.spec.parse_spec` validates each field on its own; these checks look at what a
trial would do with the values: a seed numpy cannot take, GEMM sizes no accelerator model can
count, a model that is not shipped, a number format no trial can build (a calibration file that is
not there), constraints that no design can
meet together. Each becomes one ``path: rule, got value`` line before any output is created.

Example:
    >>> from mant.errors import IssueCollector
    >>> c = IssueCollector()
    >>> _check_seed(c, 2**40, "seed")
    >>> str(c.issues[0])
    'seed: must be an int in 0..4294967295 (numpy seeds are 32-bit), got 1099511627776'
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mant.errors import InputError, IssueCollector

if TYPE_CHECKING:
    from dse.study.spec_types import StudySpec

__all__ = ["MAX_ENUMERATED_DESIGNS", "MAX_GEMM_DIM", "MAX_SEED", "check_study"]

MAX_SEED = 2**32 - 1
# Larger than any layer of any model we know by a wide margin, small enough that cycle and
# energy counts stay finite and meaningful in float64
MAX_GEMM_DIM = 2**24
# the most designs a grid sampler or a sweep enumerates (Optuna's GridSampler lists every point)
MAX_ENUMERATED_DESIGNS = 2_000_000
# formats: bit widths tried per choice before a choice is declared unusable
_MAX_BITS_TRIED = 16


def check_study(c: IssueCollector, spec: StudySpec) -> None:
    """Records every issue of ``spec`` a trial would later fail on."""
    _check_seed(c, spec.seed, "seed")
    _check_seed(c, spec.accuracy.seed, "accuracy.seed")
    _check_workload(c, spec)
    names = {p.name for p in spec.space.params}
    checks = (("weight_format", "weight_bits", ()), ("kv_format", "kv_bits", (16,)))
    for base, bits, skip in checks:
        _check_formats(c, spec, base, bits, skip)
        for name in sorted(n for n in names if n.startswith(base + ".")):
            own_bits = bits + name[len(base) :]
            _check_formats(c, spec, name, own_bits if own_bits in names else bits, skip)
    for name in sorted(n for n in names if n == "act_format" or n.startswith("act_format.")):
        own_bits = "act_bits" + name[len("act_format") :]
        _check_act_formats(c, spec, name, own_bits if own_bits in names else "act_bits")
    per_kind_acts = sorted(n for n in names if n.startswith(("act_bits.", "act_format.")))
    if spec.accuracy.source == "perplexity" and per_kind_acts:
        c.add(
            f"space.{per_kind_acts[0]}",
            "the perplexity source runs one quantizer for every linear input (llmrun); "
            "per-kind activations are scored by output_rel_mse (tensors, synthetic, files)",
            per_kind_acts,
        )
    _check_constraints(c, spec)
    _check_grid_size(c, spec)


def _check_act_formats(c: IssueCollector, spec: StudySpec, name: str, bits_name: str) -> None:
    """An activation format choice is reported when no quantized width of the space makes a
    format that quantizes activations in real time (:func:`mant.act_quant.realtime_act_issue`):
    one format, not a weight-only rule."""
    from dse.study.design import resolve_bits
    from mant.act_quant import realtime_act_issue
    from mant.quant_spec import Kind, QuantSpec

    bits = [b for b in itertools.islice(spec.space.get(bits_name).values(), _MAX_BITS_TRIED)]
    bits = [b for b in bits if b < 16]
    if not bits:
        return
    for i, choice in enumerate(getattr(spec.space.get(name), "raw_choices", ())):
        why: str | None = None
        for b in bits:
            try:
                fmt = resolve_bits(choice, b)
                t = QuantSpec.from_value({"format": fmt}, name, kind=Kind.ACTIVATIONS)
                assert t is not None  # a format entry is never fp
                why = realtime_act_issue(t)
            except (InputError, ValueError, KeyError, TypeError) as exc:
                why = exc.issues[0].rule if isinstance(exc, InputError) else str(exc)
            if why is None:
                break
        if why is not None:
            c.add(f"space.{name}[{i}]", why, choice)


def _check_grid_size(c: IssueCollector, spec: StudySpec) -> None:
    """A grid sampler lists every point of its grid up front: refuse one too large to list."""
    from dse.study.space import HARDWARE_PARAMS

    s, space = spec.sampler, spec.space
    names = tuple(
        p.name for p in space.searched if not (s.solve_hardware and p.name in HARDWARE_PARAMS)
    )
    size = space.searched_size(names)
    # auto picks the grid when n_trials covers every setting (dse.run.samplers.make_sampler)
    grid = s.name == "grid" or (s.name == "auto" and size <= spec.n_trials)  # SamplerName values
    if grid and size > MAX_ENUMERATED_DESIGNS:
        c.add(
            "sampler.name",
            f"a grid over {size:,} designs is too large to enumerate (limit "
            f"{MAX_ENUMERATED_DESIGNS:,}): use nsga2, tpe or random, or narrow the space",
            s.name.value,
        )


def _check_seed(c: IssueCollector, seed: int, path: str) -> None:
    c.check(
        seed <= MAX_SEED, path, f"must be an int in 0..{MAX_SEED} (numpy seeds are 32-bit)", seed
    )


def _check_workload(c: IssueCollector, spec: StudySpec) -> None:
    from hwmodel import list_models

    w = spec.workload
    rule = f"must be an int in 1..{MAX_GEMM_DIM}"
    for i, g in enumerate(w.gemms):
        for key in ("m", "n", "k", "count"):
            value = getattr(g, key)
            c.check(value <= MAX_GEMM_DIM, f"workload.gemms[{i}].{key}", rule, value)
    c.check(w.seq_len <= MAX_GEMM_DIM, "workload.seq_len", rule, w.seq_len)
    c.check(w.batch <= MAX_GEMM_DIM, "workload.batch", rule, w.batch)
    if w.phase == "serve":
        total = w.prompt_len + w.gen_len
        c.check(
            total <= MAX_GEMM_DIM,
            "workload.gen_len",
            f"must keep prompt_len + gen_len <= {MAX_GEMM_DIM}",
            w.gen_len,
        )
    model_file = w.model is not None and (
        "/" in w.model or w.model.endswith((".yaml", ".yml", ".json", ".gguf"))
    )  # a model file: checked when the spec's inputs are read (dse.study.spec_inputs)
    if w.model is not None and not model_file and w.model not in list_models():
        c.add(
            "workload.model",
            f"unknown model; known models are {', '.join(list_models())}",
            w.model,
        )


def _check_formats(
    c: IssueCollector, spec: StudySpec, name: str, bits_name: str, skip_bits: tuple[int, ...]
) -> None:
    """A format choice is reported when no bit width of the space makes a candidate set of it."""
    from dse.study.design import resolve_bits
    from mant.candidates import candidate_set

    param = spec.space.get(name)
    bits_param = spec.space.get(bits_name)
    bits = [
        b for b in itertools.islice(bits_param.values(), _MAX_BITS_TRIED) if b not in skip_bits
    ]
    if not bits:
        return
    raw = getattr(param, "raw_choices", ())
    for i, choice in enumerate(raw):
        calibration = choice.get("calibration") if isinstance(choice, Mapping) else None
        if isinstance(calibration, str):  # data-derived family: building it is a k-means fit
            if not Path(calibration).is_file():
                c.add(f"space.{name}[{i}].calibration", "must be an existing file", calibration)
            continue
        first: InputError | Exception | None = None
        for b in bits:
            try:
                candidate_set(resolve_bits(choice, b))
                first = None
                break
            except (InputError, ValueError, KeyError, TypeError) as exc:
                first = first or exc
        if first is None:
            continue
        rule = first.issues[0].rule if isinstance(first, InputError) else str(first)
        c.add(f"space.{name}[{i}]", f"no trial can use it ({rule})", choice)


def _check_constraints(c: IssueCollector, spec: StudySpec) -> None:
    """``metric <= max`` and ``metric >= min`` with ``max < min``: no design is feasible."""
    for (i, a), (j, b) in itertools.combinations(enumerate(spec.constraints), 2):
        if a.metric != b.metric:
            continue
        for lo, hi, p in ((a, b, j), (b, a, i)):
            if lo.min is not None and hi.max is not None and hi.max < lo.min:
                c.add(
                    f"constraints[{p}]",
                    f"contradicts another constraint on {a.metric} (max below min): "
                    "no design is feasible",
                    {"min": lo.min, "max": hi.max},
                )
