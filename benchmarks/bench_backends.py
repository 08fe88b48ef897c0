"""Backend agreement and speed: numpy, torch on the CPU, torch on CUDA (when there is a GPU).

Builds a random Llama-shaped Hugging Face checkpoint (bf16 shards, a byte-level tokenizer, no
download), then scores the same text with every available backend, unquantized and under the
M-ANT authors' recipe with INT4 weights (``mant-hpca25``, ``int4:g64``: INT8 activations, the
authors' KV4 cache), in float32 and float64. Prints, per case and backend, the perplexity, its
relative difference from numpy and the median seconds of ``--runs`` runs.

    python benchmarks/bench_backends.py [--layers 2] [--d-model 64] [--runs 1] [--threads 1]

``--layers 30 --d-model 576 --heads 9 --kv-heads 3 --d-ffn 1536`` is SmolLM2-135M's shape. The
weights are random, so the perplexities are large: only their agreement and the times mean
anything. What it shows: in float64 every backend prints the same digits (to ~1e-14); in float32
unquantized runs agree to ~1e-7 and quantized runs to what the activation and KV quantizers'
rounding flips allow (docs/perplexity.md, Agreement).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from llmrun.hf import save_hf_checkpoint
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel
from llmrun.perplexity import perplexity

TEXT = "It is a truth universally acknowledged, that a single man in possession " * 60


def _byte_tokenizer():  # noqa: ANN202 - a tokenizers.Tokenizer
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def random_model(
    layers: int, d: int, heads: int, kv_heads: int, ffn: int, seed: int = 0
) -> LlamaModel:
    """A Llama-shaped model with Gaussian weights (vocabulary 256: the byte tokenizer's)."""
    rng = np.random.default_rng(seed)
    kv = d // heads * kv_heads
    cfg = LlamaConfig(n_layers=layers, d_model=d, n_heads=heads, n_kv_heads=kv_heads, d_ffn=ffn,
                      vocab_size=256, rms_eps=1e-5, rope_base=1e5, context_length=8192,
                      rope_scaling=None)  # fmt: skip

    def w(*shape: int, scale: float) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    s = d**-0.5
    blocks = tuple(
        LayerWeights(
            attn_norm=1 + w(d, scale=0.1),
            wq=w(d, d, scale=s),
            wk=w(kv, d, scale=s),
            wv=w(kv, d, scale=s),
            wo=w(d, d, scale=s),
            ffn_norm=1 + w(d, scale=0.1),
            w_gate=w(ffn, d, scale=s),
            w_up=w(ffn, d, scale=s),
            w_down=w(d, ffn, scale=ffn**-0.5),
            bq=None,
            bk=None,
            bv=None,
        )  # fmt: skip
        for _ in range(layers)
    )
    return LlamaModel(name="random-llama", config=cfg, tok_embd=w(256, d, scale=s),
                      output_norm=1 + w(d, scale=0.1), layers=blocks, output=None)  # fmt: skip


def backends() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = [("numpy", None)]
    try:
        import torch
    except ImportError:
        return found
    found.append(("torch", "cpu"))
    if torch.cuda.is_available():
        found.append(("torch", "cuda"))
    return found


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--d-ffn", type=int, default=128)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    model = random_model(a.layers, a.d_model, a.heads, a.kv_heads, a.d_ffn)
    folder = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    save_hf_checkpoint(model, folder, tokenizer=_byte_tokenizer(), dtype="BF16", shards=2)
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    rows = []
    for dtype in ("float32", "float64"):
        for recipe in (None, "mant-hpca25"):
            args = dict(model=str(folder), text=folder / "text.txt", windows=a.windows,
                        window_len=a.context, dtype=dtype, threads=a.threads)  # fmt: skip
            if recipe:
                args.update(recipe=recipe, weights="int4:g64")
            ref = None
            for backend, device in backends():
                times, ppl = [], 0.0
                for _ in range(a.runs):
                    start = time.perf_counter()
                    ppl = perplexity(backend=backend, device=device, **args).ppl
                    times.append(time.perf_counter() - start)
                ref = ppl if ref is None else ref
                rows.append({"dtype": dtype, "recipe": recipe or "fp", "backend": backend,
                             "device": device or "host", "ppl": ppl,
                             "rel_vs_numpy": abs(ppl - ref) / ref,
                             "seconds": statistics.median(times)})  # fmt: skip
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'dtype':8} {'recipe':12} {'backend':14} {'ppl':>14} {'rel vs numpy':>12} {'s':>7}")
    for r in rows:
        name = f"{r['backend']}/{r['device']}"
        print(f"{r['dtype']:8} {r['recipe']:12} {name:14} {r['ppl']:14.6g} "
              f"{r['rel_vs_numpy']:12.2e} {r['seconds']:7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
