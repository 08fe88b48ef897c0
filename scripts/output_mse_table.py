"""Weight-MSE vs output-MSE selection of M-ANT weights on SmolLM2-135M -> markdown rows.

Usage (from the repository root):

    python scripts/output_mse_table.py [--windows 2 --window-len 256] [--threads 1]
    python scripts/output_mse_table.py --minilm     # the fp32 MiniLM weights instead

Weights: mant-unicore16 (the authors' 15 a-values + INT4), g = 64 along in_features, fp16
scales, every linear projection of every block; nothing else quantized (W-only, activations and
KV in fp32). Output-MSE uses the default calibration (the first 16 x 512 tokens of Emma, no BOS)
through ``llmrun.calibration.quantize_weights``, whose cache makes a re-run cheap. Perplexity on
the first windows of Pride and Prejudice (``docs/perplexity.md``'s protocol), a different text.
Prints one markdown row per setting.

``--minilm``: the 36 linear weights of the fp32 all-MiniLM-L6-v2 (continuous weights, no Q4_1
artifact) with their real activations (``llmrun.minilm``): calibration on 16 windows of 256
tokens of Emma, output error also on 8 held-out windows of Pride and Prejudice; per g, the summed
relative weight error and relative output error of each selection.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--window-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--minilm", action="store_true", help="MiniLM fp32 weights instead")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if args.minilm:
        return minilm_table()

    import numpy as np

    from llmrun import PreparedModel, load_model, window_nll
    from llmrun.calibration import quantize_weights
    from llmrun.text import corpus_tokens
    from mant.recipe import Recipe

    model = load_model("smollm2-135m")
    ids = corpus_tokens("austen-pride", model=model.name, max_chars=10**9)
    tokens = ids[: args.windows * args.window_len].reshape(args.windows, args.window_len)

    def ppl(m) -> float:
        net = PreparedModel.build(m)
        nll, n = 0.0, 0
        for lo in range(0, len(tokens), 4):
            part, count = window_nll(net, tokens[lo : lo + 4])
            nll, n = nll + part, n + count
        return float(np.exp(nll / n))

    base = {"format": "mant-unicore16", "group_size": 64, "scale_format": "fp16"}
    settings = [
        ("weight-MSE", {**base, "selection": "weight_mse"}, True),
        ("output-MSE (propagated, the authors' way)", {**base, "selection": "output_mse"}, True),
        ("output-MSE (unquantized activations)", {**base, "selection": "output_mse"}, False),
    ]
    print(f"fp32 (as stored: Q4_1 linears): PPL {ppl(model):.3f}", file=sys.stderr)
    print(
        "| selection | W bits/elt | W rel. MSE [Q4_1] | output rel. MSE (calib.) "
        "| PPL W-only [Q4_1] |"
    )
    print("|---|---|---|---|---|")
    for label, weights, propagate in settings:
        recipe = Recipe.from_dict({"name": label, "weights": weights})
        start = time.perf_counter()
        qmodel, stats = quantize_weights(model, recipe, propagate=propagate)
        seconds = time.perf_counter() - start
        out = "-" if stats.output_rel_mse is None else f"{stats.output_rel_mse:.3e}"
        print(
            f"| {label} | {stats.bits_per_element:g} | {stats.rel_mse:.3e} | {out} | "
            f"{ppl(qmodel):.3f} |",
            flush=True,
        )
        print(
            f"  {label}: {seconds:.1f} s (forward {stats.forward_seconds:.1f} s, quantize "
            f"{stats.quantize_seconds:.1f} s, cached {stats.cached})",
            file=sys.stderr,
        )
    return 0


def minilm_table() -> int:
    import numpy as np

    from llmrun.assets import minilm_weights
    from llmrun.minilm import minilm_activations
    from mant.quantize import QuantConfig, quantize

    weights = minilm_weights()
    calib = minilm_activations("austen-emma", windows=16, window_len=256)
    held = minilm_activations("austen-pride", windows=8, window_len=256)
    print(
        "| g | selection | bits/elt | weight rel. MSE | output rel. MSE (calibration, Emma) "
        "| output rel. MSE (held out, Pride) |"
    )
    print("|---|---|---|---|---|---|")
    for g in (32, 64, 128):
        for sel in ("weight_mse", "output_mse"):
            cfg = QuantConfig(
                candidates="mant-unicore16", group_size=g, scale_format="fp16", selection=sel
            )
            sums = np.zeros(6)  # weight err, weight ref, calib err, calib ref, held err, ref
            for name, x_c in calib.items():
                w = weights[name]
                cal = x_c if sel == "output_mse" else None
                q = quantize(w, cfg, calibration=cal).dequantized
                sums[:2] += (
                    np.sum((w - q).astype(np.float64) ** 2),
                    np.sum(w.astype(np.float64) ** 2),
                )
                for i, x in ((2, x_c), (4, held[name])):
                    x64 = x.astype(np.float64)
                    sums[i] += np.sum((x64 @ (w - q).T.astype(np.float64)) ** 2)
                    sums[i + 1] += np.sum((x64 @ w.T.astype(np.float64)) ** 2)
            print(
                f"| {g} | {sel.replace('_', '-')} | {cfg.bits_per_element:g} | "
                f"{sums[0] / sums[1]:.4e} | {sums[2] / sums[3]:.4e} | {sums[4] / sums[5]:.4e} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
