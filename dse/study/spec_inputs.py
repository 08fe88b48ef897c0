"""The user's own files in a study: model, accelerator, PE types and tensors, checked at parse.

A study YAML may name files instead of shipped presets (``docs/inputs.md``):

- ``workload.model``: a model YAML, a ``config.json`` or a GGUF file
(:mod:`dse.study.model_source`);
- top-level ``accelerator``: an accelerator YAML (schema of ``hwmodel/presets/*.yaml``) or a
  preset name, the base design whose rows, cols, buffers, clock and DRAM the space may vary;
- ``space.pe_type`` entries: PE YAML files (schema of ``hwmodel/data/pes/*.yaml``);
- ``accuracy: {source: files, paths: [...], tensors: [...]}``: tensor files
  (:mod:`dse.study.user_files`).

Relative paths are relative to the study file (:func:`resolve_paths`). Every file is opened
while the spec is parsed, so a missing file, an unknown tensor name or an unsupported
architecture is one message before anything runs.

Example:
    >>> resolve_paths({"workload": {"model": "llama-2-7b"}}, Path("."))["workload"]["model"]
    'llama-2-7b'
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.study.space import PE_FILE_SUFFIXES, Categorical
from mant.errors import InputError, IssueCollector

if TYPE_CHECKING:
    from dse.study.spec_types import StudySpec

__all__ = ["base_pe", "check_inputs", "resolve_paths"]

_FILE_SUFFIXES = (".yaml", ".yml", ".json", ".gguf", ".npy", ".npz", ".safetensors")


def _resolve(value: Any, base: Path) -> Any:
    if not isinstance(value, str) or not value.lower().endswith(_FILE_SUFFIXES):
        return value
    p = Path(value).expanduser()
    return value if p.is_absolute() else str((base / p).resolve())


def resolve_paths(data: Any, base: Path) -> Any:
    """A copy of a study mapping with its relative file paths made absolute (against ``base``)."""
    if not isinstance(data, dict):
        return data
    out = copy.deepcopy(data)
    wl = out.get("workload")
    if isinstance(wl, dict) and "model" in wl:
        wl["model"] = _resolve(wl["model"], base)
    if "accelerator" in out:
        out["accelerator"] = _resolve(out["accelerator"], base)
    space = out.get("space")
    if isinstance(space, dict) and isinstance(space.get("pe_type"), list | str):
        pes = space["pe_type"]
        space["pe_type"] = (
            [_resolve(v, base) for v in pes] if isinstance(pes, list) else _resolve(pes, base)
        )
    acc = out.get("accuracy")
    if isinstance(acc, dict) and isinstance(acc.get("paths"), list | str):
        paths = acc["paths"]
        acc["paths"] = (
            [_resolve(v, base) for v in paths]
            if isinstance(paths, list)
            else [_resolve(paths, base)]
        )
    if isinstance(acc, dict) and isinstance(acc.get("calibration"), dict):
        acc["calibration"] = {
            w: (
                _resolve(e, base)
                if isinstance(e, str)
                else {**e, "path": _resolve(e["path"], base)}
                if isinstance(e, dict) and isinstance(e.get("path"), str)
                else e
            )
            for w, e in acc["calibration"].items()
        }
    return out


def base_pe(accelerator: str) -> str:
    """The PE of a base accelerator as ``space.pe_type`` names it (a name or an absolute path)."""
    from hwmodel import load_accelerator

    acc = load_accelerator(accelerator)
    ref = acc.pe_ref
    if ref.endswith(PE_FILE_SUFFIXES) and not Path(ref).is_absolute():
        ref = str((Path(accelerator).parent / ref).resolve())
    return ref


def check_inputs(c: IssueCollector, spec: StudySpec, *, space_given: bool) -> StudySpec:
    """Opens every file the spec names (issues into ``c``); returns the spec with ``pe_type``
    defaulting to the base accelerator's PE."""
    from dse.study.model_source import load_model_config, warn_unmodelled
    from hwmodel import load_pe

    if spec.workload.model is not None and not spec.workload.gemms:
        model = _collect(c, "workload.model", lambda: load_model_config(spec.workload.model))
        if model is not None:  # keys the workload does not model: a warning, and the report
            warn_unmodelled(model)
    if spec.accelerator is not None:
        pe = _collect(c, "accelerator", lambda: base_pe(str(spec.accelerator)))
        if pe is not None and not space_given:
            params = tuple(
                Categorical(name="pe_type", choices=(pe,)) if p.name == "pe_type" else p
                for p in spec.space.params
            )
            spec = replace(spec, space=replace(spec.space, params=params))
    pe_param = next((p for p in spec.space.params if p.name == "pe_type"), None)
    if pe_param is not None:
        for i, v in enumerate(pe_param.values()):
            if isinstance(v, str) and v.endswith(PE_FILE_SUFFIXES):
                _collect(c, f"space.pe_type[{i}]", lambda v=v: load_pe(v))
    if spec.accuracy.source == "files":
        from dse.study.user_files import check_files

        _collect(c, "accuracy", lambda: check_files(spec.accuracy))
    return spec


def _collect(c: IssueCollector, path: str, load: Any) -> Any:
    try:
        return load()
    except InputError as exc:
        for issue in exc.issues:
            where = issue.path if issue.path.startswith(path) else f"{path}: {issue.path}"
            c.add(where, issue.rule, issue.value)
        return None
