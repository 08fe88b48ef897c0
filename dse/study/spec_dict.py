"""A validated study as plain YAML types: ``parse_spec(spec_to_dict(s)) == s``.

Example:
    >>> from dse.study.spec import parse_spec
    >>> spec_to_dict(parse_spec({"version": 1, "name": "x", "objectives": ["latency_s"]}))["name"]
    'x'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dse.study.space import IntRange
from dse.study.urls import strip_password

if TYPE_CHECKING:
    from dse.study.spec_types import AccuracySpec, StudySpec

__all__ = ["spec_to_dict"]


def spec_to_dict(spec: StudySpec) -> dict[str, Any]:
    """A plain-YAML rendering of a spec (parse_spec(spec_to_dict(s)) == s)."""
    space: dict[str, Any] = {}
    for p in spec.space.params:
        if isinstance(p, IntRange):
            space[p.name] = {"low": p.low, "high": p.high, "step": p.step}
        else:
            space[p.name] = [ch for ch in p.raw_choices]
    wl: dict[str, Any] = {
        "phase": spec.workload.phase,
        "seq_len": spec.workload.seq_len,
        "batch": spec.workload.batch,
    }
    if spec.workload.phase == "serve":
        wl.update(prompt_len=spec.workload.prompt_len, gen_len=spec.workload.gen_len)
    if spec.workload.gemms:
        wl["gemms"] = [
            {"name": g.name, "m": g.m, "n": g.n, "k": g.k, "count": g.count}
            for g in spec.workload.gemms
        ]
    else:
        wl["model"] = spec.workload.model
    a = spec.accuracy
    return {
        "version": spec.version,
        "name": spec.name,
        "seed": spec.seed,
        "n_trials": spec.n_trials,
        "sampler": {
            "name": spec.sampler.name.value,
            "population_size": spec.sampler.population_size,
            "solve_hardware": spec.sampler.solve_hardware,
        },
        "storage": strip_password(spec.storage),  # never a password on disk
        "workload": wl,
        "accuracy": {
            "source": a.source,
            "seed": a.seed,
            "n_tensors": a.n_tensors,
            "tensor_rows": a.tensor_rows,
            "tensor_cols": a.tensor_cols,
            "ppl_windows": a.ppl_windows,
            **({"model": a.model} if a.model != "smollm2-135m" else {}),
            **({"backend": a.backend} if a.backend != "numpy" else {}),
            **({"text": a.text} if a.text is not None else {}),
            **({"paths": list(a.paths)} if a.paths else {}),
            **({"tensors": list(a.tensors)} if a.tensors else {}),
            **(
                {
                    "calibration": {
                        w: path if tensor is None else {"path": path, "tensor": tensor}
                        for w, path, tensor in a.calibration
                    }
                }
                if a.calibration
                else {}
            ),
            **({"by_kind": True} if a.by_kind else {}),
            **_fidelity(a),
        },
        "space": space,
        "objectives": [
            {"metric": o.metric, "direction": o.direction.value} for o in spec.objectives
        ],
        "constraints": [
            {"metric": k.metric, **({"max": k.max} if k.max is not None else {"min": k.min})}
            for k in spec.constraints
        ],
        **({"accelerator": spec.accelerator} if spec.accelerator else {}),
    }


def _fidelity(a: AccuracySpec) -> dict[str, Any]:
    """``fidelity`` and ``promote`` of a multi-fidelity study; nothing for a single one (so a
    single-fidelity spec renders exactly as before these keys existed)."""
    p = a.promote
    if not a.multi_fidelity or p is None:
        return {}
    promote: dict[str, Any] = {
        "model": p.model,
        "windows": p.windows,
        "context": p.context,
        "margin": p.margin,
        "max_promoted": p.max_promoted,
    }
    if p.backend != "numpy":
        promote["backend"] = p.backend
    if p.text is not None:
        promote["text"] = p.text
    return {"fidelity": a.fidelity.value, "promote": promote}
