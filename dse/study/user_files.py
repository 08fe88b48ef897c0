"""The user's tensor files of a study's ``files`` accuracy source, opened and checked at parse.

The file rules (formats, tensor names, calibration entries) are those of
:mod:`dse.evaluate.accuracy_files`, which scores them; this module only reads and checks, so the
spec parser (:mod:`dse.study.spec_inputs`) can open every file when the study is parsed without
importing the evaluation layer.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); np.save(os.path.join(d, "w.npy"), np.ones((4, 64), np.float32))
    >>> tensor_names(os.path.join(d, "w.npy"))
    ['w']
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mant.errors import InputError

if TYPE_CHECKING:
    from dse.study.spec_types import AccuracySpec

__all__ = ["FILE_SUFFIXES", "check_files", "load_named", "tensor_names"]

FILE_SUFFIXES = (".npy", ".npz", ".safetensors", ".gguf")


def _check_path(path: str) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FILE_SUFFIXES:
        raise InputError.single(path, "must end in " + ", ".join(FILE_SUFFIXES), p.suffix)
    if not p.is_file():
        raise InputError.single(path, "must be an existing tensor file", path)
    return p


@functools.lru_cache(maxsize=64)
def tensor_names(path: str) -> list[str]:
    """Names of the floating-point tensors of two or more dimensions in a file (headers only)."""
    p = _check_path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
            return [p.stem] if arr.ndim >= 2 and arr.dtype.kind == "f" else []
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return [n for n in z.files if z[n].ndim >= 2 and z[n].dtype.kind == "f"]
        if suffix == ".safetensors":
            from mant.file_headers import safetensors_header

            header, _ = safetensors_header(p)
            return [
                k
                for k, v in header.items()
                if len(v["shape"]) >= 2 and v["dtype"] in ("F16", "F32", "F64", "BF16")
            ]
        return [t.name for t in _gguf(str(p)).tensors if len(t.shape) >= 2]
    except InputError:
        raise
    except Exception as exc:  # corrupt or unreadable file: bad input
        raise InputError.single(
            path, "must be a readable tensor file", f"{type(exc).__name__}: {exc}"
        ) from None


@functools.lru_cache(maxsize=4)
def _gguf(path: str) -> Any:
    from mant.file_headers import open_gguf

    return open_gguf(path)


def load_named(path: str, name: str) -> np.ndarray:
    """One tensor as float32 (rows, last axis)."""
    p = _check_path(path)
    if p.suffix.lower() == ".gguf":
        from gguf.quants import dequantize

        t = next((t for t in _gguf(str(p)).tensors if t.name == name), None)
        if t is None:
            raise InputError.single(f"{path}: tensor", "must name a tensor of the file", name)
        try:
            arr = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            arr = arr.reshape(tuple(int(d) for d in t.shape[::-1]))
        except Exception as exc:  # a corrupt tensor: bad input
            raise InputError.single(
                f"{path}:{name}", "must be a readable tensor", f"{type(exc).__name__}: {exc}"
            ) from None
        from mant.groups import check_finite

        check_finite(arr, f"{path}:{name}")
    else:
        from mant.tensor_io import load_tensor

        arr = load_tensor(p, name).array.astype(np.float32, copy=False)
    return np.ascontiguousarray(arr.reshape(-1, arr.shape[-1]))


def _selection(spec: AccuracySpec) -> list[tuple[str, str]]:
    """(path, tensor name) pairs the source uses, in file order."""
    if not spec.paths:
        raise InputError.single("paths", "must list at least one tensor file", [])
    names = {path: tensor_names(path) for path in spec.paths}
    if not spec.tensors:
        pairs = [(path, n) for path, ns in names.items() for n in ns]
        if not pairs:
            raise InputError.single("paths", "hold no floating-point tensor of 2+ dims", None)
        return pairs
    pairs = []
    for i, want in enumerate(spec.tensors):
        where = [path for path, ns in names.items() if want in ns]
        if not where:
            known = sorted({n for ns in names.values() for n in ns})
            shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            raise InputError.single(
                f"tensors[{i}]", f"must name a 2-D+ float tensor of the files ({shown})", want
            )
        pairs.append((where[0], want))
    return pairs


def _calibration_entries(spec: AccuracySpec) -> dict[str, tuple[str, str]]:
    """Weight name -> (activation file, activation tensor name), every entry checked."""
    weights = {name for _, name in _selection(spec)}
    out = {}
    for weight, path, tensor in spec.calibration:
        where = f"accuracy.calibration.{weight}"
        if weight not in weights:
            raise InputError.single(
                where, "must name a weight tensor the source uses", sorted(weights)[:10]
            )
        names = tensor_names(path)
        if tensor is None:
            if weight in names:
                tensor = weight
            elif len(names) == 1:
                tensor = names[0]
            else:
                raise InputError.single(
                    f"{where}.tensor",
                    "must be given: the file holds several tensors and none is named "
                    "like the weight",
                    names[:10],
                )
        elif tensor not in names:
            raise InputError.single(
                f"{where}.tensor", f"must name a 2-D+ float tensor of {path}", tensor
            )
        out[weight] = (path, tensor)
    return out


def check_files(spec: AccuracySpec) -> None:
    """Raises when a file is missing or unreadable, a named tensor does not exist, or a
    calibration entry names an unknown weight or tensor; then reads every tensor (one at a
    time) and raises on NaN/Inf, an all-zero weight (its error would be a perfect, meaningless
    0; ``mant-dse quantize`` refuses it too) or calibration activations that do not fit their
    weight, so that no trial fails on them later."""
    from mant.output_select import check_calibration

    columns = {}
    for path, name in _selection(spec):
        arr = load_named(path, name)
        if not np.any(arr):
            raise InputError.single(f"{path}:{name}", "must have a non-zero value", "all zeros")
        columns[name] = arr.shape[1]
    for weight, (path, tensor) in _calibration_entries(spec).items():
        try:
            check_calibration(load_named(path, tensor), columns[weight])
        except InputError as exc:
            issue = exc.issues[0]
            raise InputError.single(
                f"accuracy.calibration.{weight}", issue.rule, issue.value
            ) from None
