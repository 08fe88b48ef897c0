"""Load real tensors from ``.npy``, ``.npz``, ``.safetensors`` or ``.gguf`` files.

:func:`load_tensor` reads one tensor, :func:`tensor_names` lists a file's tensors and
:func:`iter_tensors` reads several one at a time (a whole checkpoint never sits in memory at
once). Each comes back as a :class:`LoadedTensor` that says what it is and how it was stored.

Example:
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.npy"); np.save(p, np.ones(3, np.float32))
    >>> t = load_tensor(p)
    >>> t.name, t.array.tolist(), t.stored
    ('w', [1.0, 1.0, 1.0], 'float32')
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mant.errors import InputError
from mant.file_headers import open_gguf, safetensors_header

__all__ = [
    "LoadedTensor",
    "load_tensor",
    "tensor_names",
    "TensorInfo",
    "tensor_info",
    "iter_tensors",
    "SUFFIXES",
]

SUFFIXES = (".npy", ".npz", ".safetensors", ".gguf")


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedTensor:
    """One tensor read from a file.

    Attributes:
        name: tensor name in the file (``.npy``: the file stem).
        array: float16/32/64 values (bf16 and GGUF-quantized tensors come back as float32).
        source: the file it came from.
        stored: how the file stores it (a numpy dtype name, a safetensors dtype such as ``BF16``
            or a GGUF type such as ``Q4_1``), so that a float32 array of dequantized 4-bit
            weights is not mistaken for full-precision data.
    """

    name: str
    array: np.ndarray
    source: str
    stored: str


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


def load_tensor(path: str | os.PathLike[str], name: str | None = None) -> LoadedTensor:
    """Load a float tensor.

    Args:
        path: ``.npy``, ``.npz``, ``.safetensors`` or ``.gguf`` file.
        name: tensor name inside the file (needed when there are several).

    Returns:
        :class:`LoadedTensor`; ``.npy`` files are named after the file stem. bf16 safetensors
        and GGUF tensors load as float32 (GGUF block-quantized types are dequantized).

    Raises:
        InputError: missing file, unknown suffix, unreadable file, missing name (lists the
            available names), non-float data, NaN or Inf.
    """
    p, key = _check_path(path)
    if p.suffix.lower() == ".npy" and name is not None and name != p.stem:
        raise InputError.single("tensor", f"must be {p.stem!r} for a .npy file", name)
    label = _pick(tensor_names(p), name, key)
    return next(iter_tensors(p, [label]))


def _check_path(path: str | os.PathLike[str]) -> tuple[Path, str]:
    p = Path(path)
    key = str(path)
    if not p.is_file():
        raise InputError.single(key, "must be an existing file", key)
    if p.suffix.lower() not in SUFFIXES:
        raise InputError.single(key, "must end in " + ", ".join(SUFFIXES), p.suffix)
    return p, key


def _unreadable(key: str, exc: Exception) -> InputError:
    return InputError.single(key, "must be a readable tensor file", f"{type(exc).__name__}: {exc}")


def tensor_names(path: str | os.PathLike[str]) -> list[str]:
    """Names of the tensors in a file, in file order (``.npy``: the file stem).

    Raises:
        InputError: missing, unknown or unreadable file.
    """
    p, key = _check_path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return [p.stem]
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return list(z.files)
        if suffix == ".safetensors":
            return list(_safetensors_header(p)[0])
        return [str(t.name) for t in open_gguf(p).tensors]
    except Exception as exc:  # unreadable or corrupt file: report it as bad input
        raise _unreadable(key, exc) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TensorInfo:
    """What a file says about one tensor without its data being converted.

    Attributes:
        shape: numpy axis order (GGUF shapes reversed, as :func:`iter_tensors` returns them).
        stored: the stored type (as :attr:`LoadedTensor.stored`).
        floating: whether :func:`load_tensor` accepts it (float or GGUF-quantized float data).
    """

    shape: tuple[int, ...]
    stored: str
    floating: bool


def tensor_info(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """Shape and stored type of every tensor in a file, in file order, from headers where the
    format has them (``.npz`` members are read).

    Raises:
        InputError: missing, unknown or unreadable file.
    """
    p, key = _check_path(path)
    suffix = p.suffix.lower()

    def of_array(a: np.ndarray) -> TensorInfo:
        return TensorInfo(shape=tuple(a.shape), stored=str(a.dtype), floating=a.dtype.kind == "f")

    try:
        if suffix == ".npy":
            return {p.stem: of_array(np.load(p, mmap_mode="r", allow_pickle=False))}
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {n: of_array(z[n]) for n in z.files}
        if suffix == ".safetensors":
            return {
                n: TensorInfo(
                    shape=tuple(i["shape"]),
                    stored=str(i["dtype"]),
                    floating=i["dtype"] in _SAFETENSORS_FLOATS,
                )
                for n, i in _safetensors_header(p)[0].items()
            }
        return {
            str(t.name): TensorInfo(
                shape=tuple(int(d) for d in t.shape[::-1]),
                stored=t.tensor_type.name,
                floating=not t.tensor_type.name.startswith("I"),
            )
            for t in open_gguf(p).tensors
        }
    except Exception as exc:  # unreadable or corrupt file: report it as bad input
        raise _unreadable(key, exc) from None


def iter_tensors(
    path: str | os.PathLike[str], names: Sequence[str] | None = None
) -> Iterator[LoadedTensor]:
    """Yield the tensors ``names`` (default: all) of a file one at a time, checked like
    :func:`load_tensor`.

    Raises:
        InputError: as :func:`load_tensor`; an unknown name is reported before any is read.
    """
    p, key = _check_path(path)
    available = tensor_names(p)
    wanted = list(available if names is None else names)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise InputError.single(
            "tensor", "must be one of: " + ", ".join(sorted(available)[:50]), unknown[0]
        )
    suffix = p.suffix.lower()
    if suffix == ".gguf":
        yield from _iter_gguf(p, key, wanted)
        return
    for label in wanted:
        try:
            if suffix == ".npy":
                arr = np.load(p, allow_pickle=False)
                stored = str(arr.dtype)
            elif suffix == ".npz":
                with np.load(p, allow_pickle=False) as z:
                    arr = z[label]
                stored = str(arr.dtype)
            else:
                arr, stored = _load_safetensors(p, label, key)
        except InputError:
            raise
        except Exception as exc:  # unreadable or corrupt file: report it as bad input
            raise _unreadable(key, exc) from None
        yield _checked(arr, label, key, stored)


def _checked(arr: np.ndarray, label: str, key: str, stored: str) -> LoadedTensor:
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
    return LoadedTensor(name=label, array=arr, source=key, stored=stored)


def _iter_gguf(p: Path, key: str, wanted: list[str]) -> Iterator[LoadedTensor]:
    """GGUF tensors, dequantized with ``gguf`` to float32 in numpy axis order (the GGUF shape
    reversed, i.e. ``(out_features, in_features)`` for a linear weight)."""
    try:
        from gguf.quants import dequantize

        by_name = {str(t.name): t for t in open_gguf(p).tensors}
    except Exception as exc:
        raise _unreadable(key, exc) from None
    for label in wanted:
        t = by_name[label]
        try:
            arr = dequantize(t.data, t.tensor_type).astype(np.float32, copy=False)
            arr = arr.reshape(tuple(int(d) for d in t.shape[::-1]))
        except Exception as exc:
            raise _unreadable(f"{key}:{label}", exc) from None
        yield _checked(np.ascontiguousarray(arr), label, key, t.tensor_type.name)


_SAFETENSORS_FLOATS = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2"}


def _safetensors_header(p: Path) -> tuple[dict, int]:
    """The checked safetensors header (8-byte length, JSON) without ``__metadata__``."""
    return safetensors_header(p)


def _load_safetensors(p: Path, label: str, key: str) -> tuple[np.ndarray, str]:
    """Read one tensor by the safetensors header; BF16 -> float32. Returns (array, dtype).

    Reading the header ourselves keeps the result independent of which numpy dtype
    extensions (e.g. ml_dtypes' bfloat16) happen to be registered.
    """
    header, n = _safetensors_header(p)
    info = header[label]
    if info["dtype"] not in _SAFETENSORS_FLOATS:
        raise InputError.single(f"{key}:{label}", "must hold floating-point values", info["dtype"])
    start, stop = info["data_offsets"]
    with open(p, "rb") as fh:
        fh.seek(8 + n + start)
        buf = fh.read(stop - start)
    arr = np.frombuffer(buf, dtype=_SAFETENSORS_FLOATS[info["dtype"]])
    if info["dtype"] == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.reshape(info["shape"]), str(info["dtype"])
