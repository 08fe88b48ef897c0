"""Study specification: a YAML file turned, once, into validated frozen dataclasses.

Parsing is validation: every unknown key, wrong type, empty choice list and impossible range is
collected with its path and raised together as one :class:`mant.errors.InputError`.

Example:
    >>> spec = parse_spec({"version": 1, "name": "tiny", "n_trials": 4,
    ...                    "space": {"rows": [16, 32]}, "objectives": ["latency_s"]})
    >>> spec.space.get("rows").choices
    (16, 32)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from dse.study.metrics import METRICS, Direction
from dse.study.space import PARAMS, QUANT_PARAMS, Categorical, Param, SearchSpace, parse_param
from dse.study.spec_dict import spec_to_dict
from dse.study.spec_types import (
    SPEC_VERSION,
    TILE_FIT,
    AccuracySpec,
    Constraint,
    GemmSpec,
    Objective,
    SamplerName,
    SamplerSpec,
    StudySpec,
    WorkloadSpec,
)
from mant.errors import IssueCollector
from mant.yaml_input import load_yaml_file

__all__ = [
    "SPEC_VERSION",
    "SamplerName",
    "SamplerSpec",
    "GemmSpec",
    "WorkloadSpec",
    "AccuracySpec",
    "Objective",
    "Constraint",
    "StudySpec",
    "TILE_FIT",
    "parse_spec",
    "load_spec",
    "spec_to_dict",
]

# ---------------------------------------------------------------- parsing helpers


def _keys(c: IssueCollector, data: Any, path: str, allowed: tuple[str, ...]) -> dict:
    """Checks ``data`` is a mapping with only ``allowed`` keys; returns it (or {} if not a map)."""
    if not isinstance(data, Mapping):
        c.add(path or "<root>", "must be a mapping", data)
        return {}
    for key in data:
        if key not in allowed:
            base = str(key).partition(".")[0]
            kinds = [k.partition(".")[2] for k in allowed if k.startswith(f"{base}.")]
            rule = (
                f"unknown key; {base} takes the kinds {', '.join(kinds)}"
                if "." in str(key) and kinds
                else f"unknown key; valid: {_key_list(allowed)}"
            )
            c.add(f"{path}.{key}" if path else str(key), rule, key)
    return dict(data)


def _key_list(allowed: tuple[str, ...]) -> str:
    """The valid keys, each per-kind family folded into one entry.

    Example:
        >>> _key_list(("rows", "act_bits", "act_bits.q", "act_bits.k", "cols"))
        'rows, act_bits[.q|k], cols'
    """
    kinds: dict[str, list[str]] = {}
    for key in allowed:
        base, dot, kind = key.partition(".")
        if dot:
            kinds.setdefault(base, []).append(kind)
    shown = []
    for key in allowed:
        base, dot, _ = key.partition(".")
        if not dot:
            shown.append(f"{key}[.{'|'.join(kinds[key])}]" if key in kinds else key)
        elif base not in allowed:  # a family without its plain key
            if key == f"{base}.{kinds[base][0]}":
                shown.append(f"{base}.{{{'|'.join(kinds[base])}}}")
    return ", ".join(shown)


def _int(
    c: IssueCollector,
    data: dict,
    key: str,
    path: str,
    default: int,
    low: int,
    high: int | None = None,
) -> int:
    value = data.get(key, default)
    bad = isinstance(value, bool) or not isinstance(value, int) or value < low
    if not bad and high is not None and value > high:
        c.add(_join(path, key), f"must be an int in {low}..{high}", value)
        return default
    if bad:
        rule = f"must be an int >= {low}" if high is None else f"must be an int in {low}..{high}"
        c.add(_join(path, key), rule, value)
        return default
    return value


# synthetic tensors: a tensor of 16384 x 16384 float64 values is 2 GiB already
_MAX_TENSOR_DIM = 16384


def _str(c: IssueCollector, data: dict, key: str, path: str, default: str | None) -> str | None:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        c.add(_join(path, key), "must be a non-empty string", value)
        return default
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _yaml_float(value: Any) -> Any:
    """PyYAML reads ``2.0e6`` (no exponent sign) as a string; accept it as a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------- sections


def _sampler(c: IssueCollector, data: Any) -> SamplerSpec:
    if isinstance(data, str):
        data = {"name": data}
    d = _keys(c, data, "sampler", ("name", "population_size", "solve_hardware"))
    name = d.get("name", "nsga2")
    if name not in {s.value for s in SamplerName}:
        c.add("sampler.name", f"must be one of {', '.join(s.value for s in SamplerName)}", name)
        name = "nsga2"
    solve = d.get("solve_hardware", name == "auto")
    c.check(isinstance(solve, bool), "sampler.solve_hardware", "must be true or false", solve)
    return SamplerSpec(
        name=SamplerName(name),
        population_size=_int(c, d, "population_size", "sampler", 20, 2),
        solve_hardware=solve is True or name == "auto",
    )


def _workload(c: IssueCollector, data: Any) -> WorkloadSpec:
    d = _keys(
        c,
        data,
        "workload",
        ("model", "phase", "seq_len", "batch", "gemms", "prompt_len", "gen_len"),
    )
    phase = d.get("phase", "decode")
    if phase not in ("decode", "prefill", "serve"):
        c.add("workload.phase", "must be one of decode, prefill, serve", phase)
        phase = "decode"
    gemms: list[GemmSpec] = []
    raw = d.get("gemms", [])
    if not isinstance(raw, list):
        c.add("workload.gemms", "must be a list of {name, m, n, k, count}", raw)
        raw = []
    for i, g in enumerate(raw):
        p = f"workload.gemms[{i}]"
        gd = _keys(c, g, p, ("name", "m", "n", "k", "count"))
        if not gd:
            continue
        gemms.append(
            GemmSpec(
                name=_str(c, gd, "name", p, f"gemm{i}") or f"gemm{i}",
                m=_int(c, gd, "m", p, 1, 1),
                n=_int(c, gd, "n", p, 1, 1),
                k=_int(c, gd, "k", p, 1, 1),
                count=_int(c, gd, "count", p, 1, 1),
            )
        )
    model = _str(c, d, "model", "workload", None if gemms else "llama-2-7b")
    if gemms and "model" in d:
        c.add("workload", "give either model or gemms, not both", sorted(d))
    return WorkloadSpec(
        model=None if gemms else model,
        phase=phase,
        seq_len=_int(c, d, "seq_len", "workload", 2048, 1),
        batch=_int(c, d, "batch", "workload", 1, 1),
        gemms=tuple(gemms),
        prompt_len=_int(c, d, "prompt_len", "workload", 2048, 1),
        gen_len=_int(c, d, "gen_len", "workload", 256, 1),
    )


def _accuracy(c: IssueCollector, data: Any) -> AccuracySpec:
    from dse.study.sources import source_names
    from llmrun.model import is_checkpoint_dir

    fields = (
        "source",
        "seed",
        "n_tensors",
        "tensor_rows",
        "tensor_cols",
        "ppl_windows",
        "model",
        "backend",
        "text",
        "paths",
        "tensors",
        "calibration",
        "by_kind",
        "fidelity",
        "promote",
    )
    d = _keys(c, data, "accuracy", fields)
    model = d.get("model", "smollm2-135m")
    ok = model == "smollm2-135m" or (isinstance(model, str) and is_checkpoint_dir(model))
    c.check(ok, "accuracy.model", "must be smollm2-135m or a folder with config.json", model)
    backend = d.get("backend", "numpy")
    c.check(backend in ("numpy", "torch"), "accuracy.backend", "must be numpy or torch", backend)
    text = d.get("text")
    ok = text is None or (isinstance(text, str) and Path(text).is_file())
    c.check(ok, "accuracy.text", "must be a text file", text)
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("paths", "tensors"):
        raw = d.get(key, [])
        raw = [raw] if isinstance(raw, str) else raw
        ok = isinstance(raw, list) and all(isinstance(v, str) and v for v in raw)
        c.check(ok, f"accuracy.{key}", "must be a list of non-empty strings", raw)
        lists[key] = tuple(raw) if ok else ()
    source = d.get("source", "synthetic")
    names = source_names()
    if source not in names:
        c.add("accuracy.source", f"must be one of {', '.join(names)}", source)
        source = "synthetic"
    from dse.study.spec_fidelity import parse_fidelity

    fidelity, promote = parse_fidelity(c, d)
    return AccuracySpec(
        source=source,
        seed=_int(c, d, "seed", "accuracy", 0, 0),
        n_tensors=_int(c, d, "n_tensors", "accuracy", 3, 1, 1024),
        tensor_rows=_int(c, d, "tensor_rows", "accuracy", 128, 1, _MAX_TENSOR_DIM),
        tensor_cols=_int(c, d, "tensor_cols", "accuracy", 512, 1, _MAX_TENSOR_DIM),
        ppl_windows=_int(c, d, "ppl_windows", "accuracy", 2, 1, 100_000),
        model=str(model),
        backend=str(backend),
        text=None if text is None else str(text),
        paths=lists["paths"],
        tensors=lists["tensors"],
        calibration=_calibration(c, d.get("calibration")),
        by_kind=_bool(c, d, "by_kind", "accuracy"),
        fidelity=fidelity,
        promote=promote,
    )


def _calibration(c: IssueCollector, data: Any) -> tuple[tuple[str, str, str | None], ...]:
    """``{weight name: FILE | {path: FILE, tensor: NAME}}`` -> (weight, file, tensor) triples."""
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        c.add(
            "accuracy.calibration",
            "must map weight tensor names to activation files ({path, tensor} or a path)",
            data,
        )
        return ()
    out: list[tuple[str, str, str | None]] = []
    for name, entry in data.items():
        p = f"accuracy.calibration.{name}"
        if isinstance(entry, str) and entry:
            out.append((str(name), entry, None))
            continue
        d = _keys(c, entry, p, ("path", "tensor"))
        path, tensor = d.get("path"), d.get("tensor")
        ok = isinstance(path, str) and bool(path)
        c.check(ok, f"{p}.path", "must be a tensor file path", path)
        t_ok = tensor is None or (isinstance(tensor, str) and bool(tensor))
        c.check(t_ok, f"{p}.tensor", "must be a tensor name", tensor)
        if ok and t_ok:
            out.append((str(name), str(path), None if tensor is None else str(tensor)))
    return tuple(out)


def _bool(c: IssueCollector, d: Mapping, key: str, path: str) -> bool:
    value = d.get(key, False)
    c.check(isinstance(value, bool), f"{path}.{key}", "must be true or false", value)
    return value is True


def _space(c: IssueCollector, data: Any) -> SearchSpace:
    d = _keys(c, data if data is not None else {}, "space", tuple(PARAMS))
    params: list[Param] = []
    for name in PARAMS:
        if name in d:
            param = parse_param(c, name, d[name], f"space.{name}")
        elif PARAMS[name].per_kind_of:
            continue  # a per-kind parameter exists only where the spec gives it
        elif name == "quantization":  # native when no quantization parameter is named
            native = not any(q in d for q in QUANT_PARAMS)
            param = Categorical(name=name, choices=("native" if native else "space",))
        else:
            param = Categorical(name=name, choices=(PARAMS[name].default,))
        if param is not None:
            params.append(param)
    return SearchSpace(params=tuple(params))


def _objectives(c: IssueCollector, data: Any) -> tuple[Objective, ...]:
    if not isinstance(data, list) or not data:
        c.add(
            "objectives", "must be a non-empty list of metric names or {metric, direction}", data
        )
        return ()
    out: list[Objective] = []
    for i, item in enumerate(data):
        p = f"objectives[{i}]"
        d = (
            {"metric": item}
            if isinstance(item, str)
            else _keys(c, item, p, ("metric", "direction"))
        )
        metric = d.get("metric")
        if metric not in METRICS:
            c.add(f"{p}.metric", f"must be one of {', '.join(METRICS)}", metric)
            continue
        direction = d.get("direction", METRICS[metric].direction.value)
        if direction not in ("minimize", "maximize"):
            c.add(f"{p}.direction", "must be minimize or maximize", direction)
            continue
        if any(o.metric == metric for o in out):
            c.add(f"{p}.metric", "is already an objective", metric)
            continue
        out.append(Objective(metric=metric, direction=Direction(direction)))
    return tuple(out)


def _constraints(c: IssueCollector, data: Any) -> tuple[Constraint, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        c.add("constraints", "must be a list of {metric, max} or {metric, min}", data)
        return ()
    out: list[Constraint] = []
    for i, item in enumerate(data):
        p = f"constraints[{i}]"
        d = _keys(c, item, p, ("metric", "max", "min"))
        if not d:
            continue
        metric: Any = d.get("metric")  # checked against METRICS below
        ok = c.check(
            metric in METRICS, f"{p}.metric", f"must be one of {', '.join(METRICS)}", metric
        )
        bounds = [k for k in ("max", "min") if k in d]
        if len(bounds) != 1:
            c.add(p, "needs exactly one of max, min", sorted(d))
            continue
        value = _yaml_float(d[bounds[0]])
        if not _number(value):
            c.add(f"{p}.{bounds[0]}", "must be a finite number", value)
            continue
        if ok:
            out.append(Constraint(metric=metric, **{bounds[0]: float(value)}))
    return tuple(out)


_TOP = (
    "version",
    "name",
    "seed",
    "n_trials",
    "sampler",
    "storage",
    "workload",
    "accuracy",
    "space",
    "objectives",
    "constraints",
    "accelerator",
)


# A study name names the folder runs/<name> and the study in a shared storage, and is printed in
# messages: one path component of letters, digits, "_", "." and "-", starting with a letter/digit.
_NAME_RE = re.compile(r"\w[\w.-]*")
MAX_NAME_CHARS = 100


def _study_name(c: IssueCollector, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        c.add("name", "must be a non-empty string", name)
    elif len(name) > MAX_NAME_CHARS:
        c.add("name", f"must be at most {MAX_NAME_CHARS} characters, not {len(name)}", name)
    elif not _NAME_RE.fullmatch(name):
        c.add(
            "name",
            "must be letters, digits, '_', '.' and '-' and start with a letter or digit (it names "
            "the folder runs/<name>: no '/', '..', spaces or control characters)",
            name,
        )
    else:
        return name
    return "study"


def parse_spec(data: Any) -> StudySpec:
    """Validates a spec mapping (as loaded from YAML) into a :class:`StudySpec`.

    Raises:
        InputError: with one issue per problem found anywhere in the spec.
    """
    c = IssueCollector()
    d = _keys(c, data, "", _TOP)
    if not d and not isinstance(data, Mapping):
        c.raise_if_any()
    version = d.get("version")
    c.check(version == SPEC_VERSION, "version", f"must be {SPEC_VERSION}", version)
    name = _study_name(c, d.get("name"))
    storage = _str(c, d, "storage", "", None)
    spec = StudySpec(
        name=name,
        seed=_int(c, d, "seed", "", 0, 0),
        n_trials=_int(c, d, "n_trials", "", 100, 1),
        sampler=_sampler(c, d.get("sampler", "nsga2")),
        storage=storage,
        workload=_workload(c, d.get("workload", {})),
        accuracy=_accuracy(c, d.get("accuracy", {})),
        space=_space(c, d.get("space", {})),
        objectives=_objectives(c, d.get("objectives")),
        constraints=_constraints(c, d.get("constraints")),
        accelerator=_str(c, d, "accelerator", "", None),
    )
    acc_data = d.get("accuracy")
    by_kind_given = isinstance(acc_data, Mapping) and "by_kind" in acc_data
    if not by_kind_given and any(
        p.name.startswith(("weight_", "act_")) and "." in p.name for p in spec.space.params
    ):  # a space that varies weights or inputs per kind scores each kind with its own
        spec = replace(spec, accuracy=replace(spec.accuracy, by_kind=True))
    named = {o.metric for o in spec.objectives} | {k.metric for k in spec.constraints}
    if named & {"output_rel_mse", "output_and_kv_rel_mse"}:
        spec = replace(spec, accuracy=replace(spec.accuracy, output_error=True))
    from dse.study.spec_inputs import check_inputs

    spec = check_inputs(c, spec, space_given="pe_type" in (d.get("space") or {}))
    _check_metric_sources(c, spec)
    from dse.study.spec_fidelity import check_fidelity

    check_fidelity(c, spec)
    if not c.issues:  # the checks of what a trial would do assume valid fields
        from dse.study.spec_checks import check_study

        check_study(c, spec)
    c.raise_if_any()
    return spec


SERVE_METRICS = ("ttft_s", "tpot_s", "tokens_per_s")
"""Metrics only a ``workload.phase: serve`` study produces."""
_TENSOR_METRICS = ("weight_rel_mse", "weight_sqnr_db", "kv_rel_mse", "kv_sqnr_db", "rel_mse")


def _check_metric_sources(c: IssueCollector, spec: StudySpec) -> None:
    """Objectives and constraints must name metrics the accuracy source produces."""
    source = spec.accuracy.source
    if source not in ("synthetic", "tensors", "perplexity", "files"):
        source = ""  # a registered plug-in source: checked when it runs
    output = ("output_rel_mse", "output_and_kv_rel_mse")
    missing: tuple[str, ...] = (*_TENSOR_METRICS, *output) if source == "perplexity" else ("ppl",)
    if not source:
        missing = ()
    if source == "files":  # weights only
        missing = ("ppl", "kv_rel_mse", "kv_sqnr_db", "rel_mse", "output_and_kv_rel_mse")
        if not spec.accuracy.calibration:
            missing += ("output_rel_mse",)
    named = [(f"objectives[{i}].metric", o.metric) for i, o in enumerate(spec.objectives)]
    named += [(f"constraints[{i}].metric", k.metric) for i, k in enumerate(spec.constraints)]
    for path, metric in named:
        if metric in missing:
            c.add(path, f"is not produced by accuracy source {source!r}", metric)
    if spec.workload.phase != "serve":
        for path, metric in named:
            if metric in SERVE_METRICS:
                c.add(path, "needs workload.phase: serve (with prompt_len, gen_len)", metric)


def load_spec(path: str | Path) -> StudySpec:
    """Reads and validates a study YAML file.

    Raises:
        InputError: unreadable file, bad YAML, or any spec problem (all at once).
    """
    p = Path(path)
    data = load_yaml_file(path, what="study file")
    from dse.study.spec_inputs import resolve_paths

    return parse_spec(resolve_paths(data, p.resolve().parent))
