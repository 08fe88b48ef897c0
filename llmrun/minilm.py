"""all-MiniLM-L6-v2 (a BERT encoder, fp32) in numpy: real activations of its linear layers.

The fp32 MiniLM weights are the toolkit's continuous-weight test bed (``docs/perplexity.md``);
output-MSE selection also needs the activations those weights multiply. This module runs the
encoder on text and returns, per linear weight, its input rows (tokens, in_features).

BERT, as ``transformers``' ``BertModel`` computes it (config of the asset: 6 layers, hidden 384,
12 heads of 32, FFN 1536, exact-erf GELU, LayerNorm eps 1e-12, post-LayerNorm): embeddings (word +
position + token type 0) -> LayerNorm; per layer: query/key/value of the hidden state ->
bidirectional softmax attention -> output dense + residual -> LayerNorm -> intermediate dense ->
GELU -> output dense + residual -> LayerNorm. Text is tokenized with the asset's WordPiece
``tokenizer.json`` and cut into windows of ``window_len`` tokens; each window runs alone, without
[CLS]/[SEP] (activations of running text, not of sentence pairs).

Example:
    >>> acts = minilm_activations("austen-emma", windows=2, window_len=128)
    >>> acts["encoder.layer.0.intermediate.dense.weight"].shape
    (256, 384)
"""

from __future__ import annotations

from functools import cache

import numpy as np

from llmrun.assets import asset_path, minilm_weights
from llmrun.text import corpus_text
from mant.errors import InputError

__all__ = ["LINEAR_SUFFIXES", "minilm_activations", "minilm_tokens"]

N_LAYERS = 6
N_HEADS = 12
EPS = 1e-12
LINEAR_SUFFIXES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@cache
def _weights() -> dict[str, np.ndarray]:
    return minilm_weights()


def minilm_tokens(corpus: str, *, windows: int, window_len: int) -> np.ndarray:
    """WordPiece ids (windows, window_len) of the start of a corpus, without special tokens."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(asset_path("minilm-l6-v2", "tokenizer.json")))
    tok.no_truncation()  # the file truncates to 128 tokens (sentence-transformers' max length)
    tok.no_padding()
    need = windows * window_len
    text = corpus_text(corpus)
    chars = 8 * need
    while True:
        ids = tok.encode(text[:chars], add_special_tokens=False).ids
        if len(ids) > need or chars >= len(text):
            break
        chars *= 2
    if len(ids) < need:
        raise InputError.single(
            "windows", f"must fit the corpus ({len(ids)} tokens of {corpus})", windows
        )
    return np.asarray(ids[:need], dtype=np.int64).reshape(windows, window_len)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def minilm_activations(
    corpus: str, *, windows: int = 8, window_len: int = 256
) -> dict[str, np.ndarray]:
    """Inputs of every linear weight of MiniLM on ``windows`` windows of a corpus.

    Returns:
        ``{weight name: float32 (windows * window_len, in_features)}`` for the 36 linear
        weights (``encoder.layer.{i}.{suffix}.weight``, suffixes :data:`LINEAR_SUFFIXES`).
    """
    if not 1 <= window_len <= 512:
        raise InputError.single("window_len", "must be in 1..512 (BERT positions)", window_len)
    w = _weights()
    ids = minilm_tokens(corpus, windows=windows, window_len=window_len)
    b, n = ids.shape
    e = "embeddings."
    h = (
        w[e + "word_embeddings.weight"][ids]
        + w[e + "position_embeddings.weight"][:n][None]
        + w[e + "token_type_embeddings.weight"][0]
    )
    h = _layer_norm(h, w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
    out: dict[str, np.ndarray] = {}

    def lin(name: str, x: np.ndarray) -> np.ndarray:
        out[name + ".weight"] = x.reshape(-1, x.shape[-1]).astype(np.float32)
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    for i in range(N_LAYERS):
        p = f"encoder.layer.{i}."
        d = h.shape[-1]
        hd = d // N_HEADS
        q, k, v = (lin(p + f"attention.self.{s}", h) for s in ("query", "key", "value"))

        def heads(t: np.ndarray, hd: int = hd) -> np.ndarray:
            return t.reshape(b, n, N_HEADS, hd).transpose(0, 2, 1, 3)

        scores = heads(q) @ heads(k).swapaxes(-1, -2) / np.sqrt(hd)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ heads(v)).transpose(0, 2, 1, 3).reshape(b, n, d)
        a = lin(p + "attention.output.dense", ctx) + h
        a = _layer_norm(
            a, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]
        )
        inter = _gelu(lin(p + "intermediate.dense", a))
        h = lin(p + "output.dense", inter) + a
        h = _layer_norm(h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return out
