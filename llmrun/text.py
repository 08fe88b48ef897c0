"""Tokenizer (rebuilt from the GGUF with ``tokenizers``) and the text corpora used for perplexity.

Tokenizer (``real_models.md`` §4.1): GPT-2-style byte-level BPE; vocabulary from
``tokenizer.ggml.tokens`` (id = position), merges from ``tokenizer.ggml.merges`` (space-separated
pairs). The GGUF's pre-tokenizer tag is ``smollm``: digits are split one by one before the
byte-level split (the SmolLM2 vocabulary has only single-digit number tokens). No BOS token is
prepended.

Corpora come from the ``janeaustenr`` asset (one R character vector per novel, one element per
line; lines are joined with newlines). Token ids are cached as ``.npy`` under ``derived/tokens``.

Example:
    >>> ids = corpus_tokens("austen-pride", max_chars=200_000)
"""

from __future__ import annotations

import hashlib
import os
from enum import StrEnum
from functools import cache
from pathlib import Path

import numpy as np

from llmrun.assets import asset_path, derived_dir
from llmrun.model import ModelName
from mant.errors import InputError, Issue

__all__ = [
    "Corpus",
    "build_tokenizer",
    "corpus_text",
    "corpus_tokens",
    "encode",
    "file_tokens",
    "model_key",
]


class Corpus(StrEnum):
    """Texts available for perplexity (Jane Austen's novels, public domain)."""

    AUSTEN_PRIDE = "austen-pride"
    AUSTEN_EMMA = "austen-emma"
    AUSTEN_PERSUASION = "austen-persuasion"
    AUSTEN_SENSE = "austen-sense"
    AUSTEN_MANSFIELD = "austen-mansfield"
    AUSTEN_NORTHANGER = "austen-northanger"


_R_VARIABLE = {
    Corpus.AUSTEN_PRIDE: "prideprejudice",
    Corpus.AUSTEN_EMMA: "emma",
    Corpus.AUSTEN_PERSUASION: "persuasion",
    Corpus.AUSTEN_SENSE: "sensesensibility",
    Corpus.AUSTEN_MANSFIELD: "mansfieldpark",
    Corpus.AUSTEN_NORTHANGER: "northangerabbey",
}

# characters of the text tokenized for perplexity: the numpy reference runs of real_models.md §6
# used a 200,000-character prefix of Pride & Prejudice (about 40 windows of 512 tokens)
DEFAULT_MAX_CHARS = 200_000


def parse_corpus(name: str) -> Corpus:
    """Validate a corpus name; unknown names raise :class:`InputError`."""
    try:
        return Corpus(name)
    except ValueError:
        raise InputError(
            Issue("corpus", f"must be one of {[c.value for c in Corpus]}", name)
        ) from None


@cache
def _novels() -> dict[str, list[str | None]]:
    from llmrun.rdata import read_lazyload

    rdb = asset_path("janeaustenr", "Rdata.rdb")
    return read_lazyload(rdb, asset_path("janeaustenr", "Rdata.rdx"))


def corpus_text(name: str) -> str:
    """The full text of a corpus (lines joined with ``\\n``; NA lines become empty)."""
    lines = _novels()[_R_VARIABLE[parse_corpus(name)]]
    return "\n".join(line or "" for line in lines)


def _checkpoint_tokenizer(model: str) -> Path | None:
    """``tokenizer.json`` of a checkpoint folder (None: ``model`` is a shipped model's name)."""
    folder = Path(model)
    if model in ModelName.__members__.values() or not (folder / "config.json").is_file():
        return None
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise InputError(Issue("model", "must be a folder holding tokenizer.json", str(folder)))
    return path.resolve()


def model_key(model: str) -> str:
    """A file-name-safe key for a model's tokens: its name, or for a checkpoint folder a hash of
    its ``tokenizer.json``."""
    path = _checkpoint_tokenizer(model)
    if path is None:
        return model
    return "hf-" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@cache
def build_tokenizer(model: str = "smollm2-135m"):
    """A ``tokenizers.Tokenizer``: rebuilt from the model GGUF's embedded vocabulary and merges,
    or a checkpoint folder's ``tokenizer.json``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    checkpoint = _checkpoint_tokenizer(model)
    if checkpoint is not None:
        return Tokenizer.from_file(str(checkpoint))
    from gguf import GGUFReader

    reader = GGUFReader(str(asset_path(model)))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    kinds = reader.fields["tokenizer.ggml.token_type"].contents()
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    control = 3  # llama.cpp token type CONTROL
    tok.add_special_tokens(
        [AddedToken(t, special=True) for t, k in zip(tokens, kinds, strict=True) if k == control]
    )
    return tok


def corpus_tokens(
    name: str = "austen-pride", *, model: str = "smollm2-135m", max_chars: int = DEFAULT_MAX_CHARS
) -> np.ndarray:
    """Token ids (int32) of the first ``max_chars`` characters of a corpus, cached on disk."""
    corpus = parse_corpus(name)
    path = derived_dir("tokens") / f"{model_key(model)}-{corpus.value}-{max_chars}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    text = corpus_text(corpus)[:max_chars]
    ids = encode(text, model)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, ids)
    tmp.replace(path)
    return ids


def encode(text: str, model: str = "smollm2-135m") -> np.ndarray:
    """Token ids (int32) of ``text``, without special tokens (no BOS / EOS)."""
    ids = build_tokenizer(str(model)).encode(text, add_special_tokens=False).ids
    return np.asarray(ids, dtype=np.int32)


def file_tokens(path: str | os.PathLike[str], model: str = "smollm2-135m") -> np.ndarray:
    """Token ids (int32) of a UTF-8 text file (e.g. WikiText-2 raw), without special tokens.

    Raises:
        InputError: the file is missing or not UTF-8 text.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            Issue("text", "must be a readable UTF-8 text file", f"{p}: {exc}")
        ) from None
    return encode(text, model)
