"""The R lazy-load reader: hand-built serializations, blob compressions, the real janeaustenr."""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib

import pytest

from llmrun.rdata import RDataError, _decompress, unserialize
from llmrun.text import corpus_text


def _i(n: int) -> bytes:
    return struct.pack(">i", n)


def _charsxp(s: str | None) -> bytes:
    if s is None:
        return _i(9) + _i(-1)
    raw = s.encode()
    return _i(9 | (8 << 12)) + _i(len(raw)) + raw  # levels bit 3: UTF-8


def _strsxp(items: list[str | None]) -> bytes:
    return _i(16) + _i(len(items)) + b"".join(_charsxp(s) for s in items)


def _header() -> bytes:
    return b"X\n" + _i(3) + _i(0x040201) + _i(0x030500) + _i(5) + b"UTF-8"


def test_character_vector_with_na():
    assert unserialize(_header() + _strsxp(["It is a truth", None, "é"])) == [
        "It is a truth",
        None,
        "é",
    ]


def test_named_list_of_integer_pairs_like_an_rdx_index():
    names_attr = _i(2 | (1 << 10)) + _i(1) + _charsxp("names") + _strsxp(["a", "b"]) + _i(254)
    body = (
        _i(19 | (1 << 9))
        + _i(2)
        + _i(13) + _i(2) + _i(0) + _i(7)
        + _i(13) + _i(2) + _i(7) + _i(-(2**31))
        + names_attr
    )  # fmt: skip
    assert unserialize(_header() + body) == {"a": [0, 7], "b": [7, None]}


@pytest.mark.parametrize(
    "tag, pack",
    [(b"Z", zlib.compress), (b"2", bz2.compress), (b"X", lzma.compress), (b"0", bytes)],
)
def test_blob_compressions(tag, pack):
    payload = b"X\n" + b"abc" * 100
    assert _decompress(struct.pack(">I", len(payload)) + tag + pack(payload)) == payload


def test_untagged_blob_is_zlib_and_length_is_checked():
    payload = b"hello" * 10
    assert _decompress(struct.pack(">I", len(payload)) + zlib.compress(payload)) == payload
    with pytest.raises(RDataError, match="header says"):
        _decompress(struct.pack(">I", 3) + zlib.compress(payload))


def test_not_a_serialization():
    with pytest.raises(RDataError):
        unserialize(b"RDX3\n")


def test_pride_and_prejudice_from_the_debian_package():
    text = corpus_text("austen-pride")
    assert text.startswith("PRIDE AND PREJUDICE\n\nBy Jane Austen")
    assert "It is a truth universally acknowledged" in text
    # "Pride & Prejudice: 685 k characters" (real_models.md §2)
    assert 680_000 < len(text) < 690_000
