"""Load one real tensor from ``.npy``, ``.npz`` or ``.safetensors``.

Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.npy"); np.save(p, np.ones(3, np.float32))
    >>> load_tensor(p)[1].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mant.errors import InputError

__all__ = ["load_tensor", "SUFFIXES"]

SUFFIXES = (".npy", ".npz", ".safetensors")


def _pick(names: list[str], name: str | None, path: str) -> str:
    if not names:
        raise InputError.single(path, "must hold at least one tensor", "an empty file")
    if name is None:
        if len(names) == 1:
            return names[0]
        raise InputError.single(
            "tensor", "must name one of the tensors: " + ", ".join(sorted(names)[:50]), None
        )
    if name not in names:
        raise InputError.single("tensor", "must be one of: " + ", ".join(sorted(names)[:50]), name)
    return name


def load_tensor(path: str | os.PathLike[str], name: str | None = None) -> tuple[str, np.ndarray]:
    """Load a float tensor.

    Args:
        path: ``.npy``, ``.npz`` or ``.safetensors`` file.
        name: tensor name inside ``.npz`` / ``.safetensors`` (needed when there are several).

    Returns:
        ``(name, array)``; ``.npy`` files are named after the file stem. bf16 safetensors load
        as float32.

    Raises:
        InputError: missing file, unknown suffix, unreadable file, missing name (lists the
            available names), non-float data, NaN or Inf.
    """
    p = Path(path)
    key = str(path)
    if not p.is_file():
        raise InputError.single(key, "must be an existing file", key)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError.single(key, "must end in " + ", ".join(SUFFIXES), p.suffix)
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
            label = p.stem
            if name is not None and name != label:
                raise InputError.single("tensor", f"must be {label!r} for a .npy file", name)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                label = _pick(list(z.files), name, key)
                arr = z[label]
        else:
            arr, label = _load_safetensors(p, name, key)
    except InputError:
        raise
    except Exception as exc:  # unreadable or corrupt file: report it as bad input
        raise InputError.single(
            key, "must be a readable tensor file", f"{type(exc).__name__}: {exc}"
        ) from None
    if arr.dtype.kind != "f":
        raise InputError.single(
            f"{key}:{label}", "must hold floating-point values", str(arr.dtype)
        )
    arr = np.asarray(arr)
    if arr.ndim == 0 or arr.size == 0:
        raise InputError.single(
            f"{key}:{label}", "must be a tensor of at least one element and dimension", arr.shape
        )
    if arr.dtype not in (np.float16, np.float32, np.float64):
        arr = arr.astype(np.float32)
    from mant.groups import check_finite

    check_finite(arr, f"{key}:{label}")
    return label, arr


_SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2"}


def _load_safetensors(p: Path, name: str | None, key: str) -> tuple[np.ndarray, str]:
    """Read one tensor by the safetensors header (8-byte length, JSON, data); BF16 -> float32.

    Reading the header ourselves keeps the result independent of which numpy dtype
    extensions (e.g. ml_dtypes' bfloat16) happen to be registered.
    """
    import json
    import struct

    with open(p, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        header.pop("__metadata__", None)
        label = _pick(list(header), name, key)
        info = header[label]
        if info["dtype"] not in _SAFETENSORS_FLOATS:
            raise InputError.single(
                f"{key}:{label}", "must hold floating-point values", info["dtype"]
            )
        start, stop = info["data_offsets"]
        fh.seek(8 + n + start)
        buf = fh.read(stop - start)
    arr = np.frombuffer(buf, dtype=_SAFETENSORS_FLOATS[info["dtype"]])
    if info["dtype"] == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.reshape(info["shape"]), label
