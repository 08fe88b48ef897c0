"""Checked headers of ``.safetensors`` and ``.gguf`` files, before any of their data is trusted.

A header is data from the user: a count, a shape or an offset in it can be anything. These
functions check it against the file it sits in, so that a corrupt or hostile file is rejected at
once with a message rather than read for minutes, allocated or silently misread.

- :func:`safetensors_header`: the rules of ``safetensors.safe_open`` (a JSON object; every
  tensor a known dtype, a shape of non-negative ints and ``data_offsets`` that cover the data
  buffer exactly, in order, without gaps or overlaps, each ``prod(shape) * itemsize`` bytes long;
  ``__metadata__`` a mapping of strings).
- :func:`open_gguf`: a ``GGUFReader`` for a file whose tensor and metadata counts can fit in it
  (the reader would otherwise loop over a count of 2**40 for minutes).

Both raise ``ValueError`` with a short reason; the callers report it as bad input.

Example:
    >>> import json, os, struct, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> h = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    >>> _ = open(p, "wb").write(struct.pack("<Q", len(h)) + h + bytes(8))
    >>> safetensors_header(p)[0]["w"]["shape"]
    [2]
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

__all__ = ["SAFETENSORS_ITEMSIZE", "open_gguf", "safetensors_header"]

# bytes per element of each safetensors dtype (the crate's Dtype enum)
SAFETENSORS_ITEMSIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


def _nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def safetensors_header(path: str | os.PathLike[str]) -> tuple[dict[str, dict[str, Any]], int]:
    """The checked header of a safetensors file, without ``__metadata__``, and its length.

    Raises:
        ValueError: the header breaks a rule of the format (the message says which).
        OSError: the file cannot be read.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError("file is shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, _MAX_HEADER_BYTES):
            raise ValueError(f"header length {n} exceeds the file ({size} bytes)")
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except RecursionError:
        raise ValueError("header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise ValueError(f"header must be a JSON object, got {type(header).__name__}")
    meta = header.pop("__metadata__", None)
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
    ):
        raise ValueError("__metadata__ must be a mapping of strings")
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"tensor {name!r}: must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in SAFETENSORS_ITEMSIZE:
            raise ValueError(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_nonneg_int(d) for d in shape):
            raise ValueError(f"tensor {name!r}: shape must be non-negative ints, got {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_nonneg_int(o) for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise ValueError(f"tensor {name!r}: data_offsets must be [begin <= end], ints >= 0")
        if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_ITEMSIZE[dtype]:
            raise ValueError(
                f"tensor {name!r}: data_offsets {offsets} do not hold shape {shape} of {dtype}"
            )
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            what = "overlap" if begin < end else "leave a gap"
            raise ValueError(f"tensor {name!r}: data_offsets {what} at byte {begin}")
        end = stop
    if end != size - 8 - n:
        raise ValueError(f"tensors cover {end} bytes of a {size - 8 - n}-byte data buffer")
    return header, n


# the smallest a GGUF tensor-info record (name length, n_dims, type, offset) and a metadata
# key/value (key length, value type, a one-byte value) can be: counts beyond size / these fail
_GGUF_MIN_TENSOR_INFO = 8 + 4 + 4 + 8
_GGUF_MIN_KV = 8 + 4 + 1


def open_gguf(path: str | os.PathLike[str]) -> Any:
    """A ``gguf.GGUFReader`` for the file, once its header counts are checked against its size.

    Raises:
        ValueError: not a GGUF file, or it claims more tensors or metadata than it can hold.
        OSError: the file cannot be read.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise ValueError("not a GGUF file (no GGUF magic and header)")
    (version,) = struct.unpack("<I", head[4:8])
    if version == 1:  # 32-bit counts
        n_tensors, n_kv = struct.unpack("<II", head[8:16])
    else:
        n_tensors, n_kv = struct.unpack("<QQ", head[8:24])
    if n_tensors * _GGUF_MIN_TENSOR_INFO + n_kv * _GGUF_MIN_KV > size:
        raise ValueError(f"{n_tensors} tensors, {n_kv} keys do not fit in {size} bytes")
    from gguf import GGUFReader

    return GGUFReader(os.fspath(path))
