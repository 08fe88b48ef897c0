"""A reader for R lazy-load databases (``Rdata.rdb`` + ``Rdata.rdx``), standard library only.

No maintained Python library reads this format, so this is a small hand-written reader for the
subset of R's XDR serialization that data packages use: vectors of strings, integers, doubles and
logicals, lists, pairlists (attributes) and symbols. The layout (``real_models.md`` §5.1; R
Internals, "Serialization Formats" and "Lazy loading"):

* ``Rdata.rdx`` is a gzip-compressed serialization of a list ``variables`` / ``references`` /
  ``compressed``; ``variables`` maps each variable name to an (offset, length) integer pair into
  the rdb.
* each rdb blob is a 4-byte big-endian uncompressed length, then a compressed body: an optional
  type byte (``Z`` zlib, ``2`` bzip2, ``X`` xz, ``0`` none) followed by the payload; without a type
  byte it is zlib.
* a serialization starts ``X\\n``, three int32 versions and (version 3) a native-encoding string.

Example (``rdb_path`` / ``rdx_path`` the ``janeaustenr`` package's lazy-load database, which
``mant-dse assets fetch`` downloads; ``tests/llmrun_tests/test_rdata.py`` reads it):
    >>> lines = read_lazyload(rdb_path, rdx_path)["prideprejudice"]  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import bz2
import gzip
import lzma
import struct
import zlib
from pathlib import Path
from typing import Any

from mant.errors import MantDseError

__all__ = ["RDataError", "read_lazyload", "unserialize"]

# SEXP type codes (R Internals, "Rinternals.h")
_NILSXP, _SYMSXP, _LISTSXP, _CHARSXP, _LGLSXP = 0, 1, 2, 9, 10
_INTSXP, _REALSXP, _STRSXP, _VECSXP = 13, 14, 16, 19
# pseudo-SEXP codes written by the serializer
_REFSXP, _NILVALUE_SXP = 255, 254
_NA_INTEGER = -(2**31)
_HAS_ATTR, _HAS_TAG = 1 << 9, 1 << 10


class RDataError(MantDseError):
    """The file is not an R serialization this reader understands."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.refs: list[Any] = []

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise RDataError(f"truncated R serialization at byte {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> builtins.int:  # `int` here is the method above
        n = self.int()
        if n == -1:  # long vector: two int32 halves
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def item(self) -> Any:
        flags = self.int()
        kind = flags & 0xFF
        if kind == _NILVALUE_SXP:
            return None
        if kind == _REFSXP:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == _SYMSXP:
            name = self.item()
            self.refs.append(name)
            return name
        if kind == _LISTSXP:
            return self._pairlist(flags)
        if kind == _CHARSXP:
            n = self.int()
            return None if n == -1 else self.take(n).decode("utf-8", errors="replace")
        if kind in (_LGLSXP, _INTSXP):
            n = self.length()
            values = struct.unpack(f">{n}i", self.take(4 * n))
            out: Any = [None if v == _NA_INTEGER else v for v in values]
            if kind == _LGLSXP:
                out = [None if v is None else bool(v) for v in out]
        elif kind == _REALSXP:
            n = self.length()
            out = list(struct.unpack(f">{n}d", self.take(8 * n)))
        elif kind in (_STRSXP, _VECSXP):
            n = self.length()
            out = [self.item() for _ in range(n)]
        else:
            raise RDataError(f"unsupported SEXP type {kind} at byte {self.pos - 4}")
        if flags & _HAS_ATTR:
            attrs = self.item()
            names = attrs.get("names") if isinstance(attrs, dict) else None
            if kind == _VECSXP and names is not None and len(names) == len(out):
                return dict(zip(names, out, strict=True))
        return out

    def _pairlist(self, flags: builtins.int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            if flags & _HAS_ATTR:
                self.item()
            tag = self.item() if flags & _HAS_TAG else str(len(out))
            out[tag] = self.item()
            flags = self.int()
            if flags & 0xFF != _LISTSXP:
                if flags & 0xFF != _NILVALUE_SXP:
                    raise RDataError("pairlist ends with something other than NULL")
                return out


def unserialize(data: bytes) -> Any:
    """Decode one XDR R serialization into Python values.

    Character, integer, double and logical vectors become lists (NA -> None); named lists become
    dicts.
    """
    r = _Reader(data)
    if r.take(2) != b"X\n":
        raise RDataError("not an XDR R serialization (expected 'X\\n')")
    version = r.int()
    r.int()  # writer R version
    r.int()  # minimal reader R version
    if version == 3:
        r.take(r.int())  # native encoding name
    elif version != 2:
        raise RDataError(f"unsupported serialization version {version}")
    return r.item()


def _decompress(blob: bytes) -> bytes:
    (size,) = struct.unpack(">I", blob[:4])
    tag, body = blob[4:5], blob[5:]
    if tag == b"Z":
        out = zlib.decompress(body)
    elif tag == b"2":
        out = bz2.decompress(body)
    elif tag == b"X":
        out = lzma.decompress(body)
    elif tag == b"0":
        out = body
    else:
        out = zlib.decompress(blob[4:])
    if len(out) != size:
        raise RDataError(f"blob decompressed to {len(out)} bytes, header says {size}")
    return out


def read_lazyload(rdb: Path, rdx: Path) -> dict[str, Any]:
    """Every variable of a lazy-load database, by name.

    Args:
        rdb: the ``Rdata.rdb`` file.
        rdx: the ``Rdata.rdx`` index next to it.
    """
    index = unserialize(gzip.decompress(rdx.read_bytes()))
    if not isinstance(index, dict) or not isinstance(index.get("variables"), dict):
        raise RDataError(f"{rdx}: no 'variables' table")
    data = rdb.read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        out[name] = unserialize(_decompress(data[offset : offset + length]))
    return out
