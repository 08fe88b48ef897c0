"""Output-MSE vs weight-MSE selection of every linear weight of SmolLM2-135M (210 tensors).

Calibration: the first 16 x 512 tokens of Emma (``llmrun.calibration``), run block by block
through the unquantized numpy forward (timed separately and excluded). For each block, both
selections are timed on its seven projections with mant-unicore16 at g = 64, fp16 scales, in
the same process and run:

* weight-MSE: ``quantize(w, cfg)``;
* output-MSE: the Gram matrices (and their triangular factors) of the block's four distinct
  inputs (``GramCalibration.from_activations``) plus ``quantize(w, cfg_out, calibration=gram)``:
  a float32 filter with a proven rounding bound (``mant.output_filter``), float64 for the groups
  it cannot settle (about 0.2%), so the choice is exactly the float64 Gram-form rule's.

Prints the median over ``--runs`` of the summed time of each, and their ratio (goal: at most
2x), and the part of output-MSE spent on the Gram matrices. For scale it also times the direct
way, the authors': X_j·Ŵ_jᵀ over all tokens per group and candidate, in float32. That is timed
on block 0's q projection and extrapolated by weight count. Threads are set before numpy loads
(``--threads``, default 1 on the shared 2-core machine; BLAS and numba get the same count).
Run:
``python benchmarks/bench_output_mse.py [--runs 3] [--threads 1] [--layers 30]``.
"""

from __future__ import annotations

import statistics
import sys
import time

from _smollm2_blocks import calibrated_blocks, parse_args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)

    import numpy as np

    from llmrun.calibration import INPUT_OF, calibration_tokens_default
    from llmrun.forward import _rope_tables
    from llmrun.model import load_model
    from mant.output_select import GramCalibration
    from mant.quantize import QuantConfig, quantize

    model = load_model("smollm2-135m")
    tokens = calibration_tokens_default(model.name)
    cfg_w = QuantConfig(candidates="mant-unicore16", group_size=64, scale_format="fp16")
    cfg_o = QuantConfig(
        candidates="mant-unicore16", group_size=64, scale_format="fp16", selection="output_mse"
    )
    # warm-up: numba compile or cache load, outside the timings
    w0 = model.layers[0].wq
    quantize(w0, cfg_w)
    quantize(w0, cfg_o, calibration=np.ones((8, w0.shape[1]), np.float32))

    tables = _rope_tables(model.config, tokens.shape[1], np.dtype(np.float32))
    forward_s = 0.0
    weight_s = [0.0] * args.runs
    output_s = [0.0] * args.runs
    gram_s = [0.0] * args.runs
    n_values = 0
    for ws, inputs, seconds in calibrated_blocks(model, tokens, args.layers):
        forward_s += seconds
        n_values += sum(w.size for w in ws.values())
        for run in range(args.runs):
            t0 = time.perf_counter()
            for w in ws.values():
                quantize(w, cfg_w)
            weight_s[run] += time.perf_counter() - t0
            t0 = time.perf_counter()
            grams = {
                name: GramCalibration.from_activations(x, group_size=64)
                for name, x in inputs.items()
            }
            gram_s[run] += time.perf_counter() - t0
            for kind, w in ws.items():
                quantize(w, cfg_o, calibration=grams[INPUT_OF[kind]])
            output_s[run] += time.perf_counter() - t0
    wm, om = statistics.median(weight_s), statistics.median(output_s)
    direct_s, direct_values = _direct_one(model, tokens, tables, cfg_w)
    print(
        f"SmolLM2-135M, {args.layers} blocks, {n_values:,} weights, mant-unicore16 g64 fp16, "
        f"{tokens.size} calibration tokens, threads={args.threads}, runs={args.runs}"
    )
    print(f"calibration forward (excluded): {forward_s:.1f} s")
    for label, med, runs in (("weight", wm, weight_s), ("output", om, output_s)):
        each = ", ".join(f"{t:.2f}" for t in runs)
        print(f"{label}-MSE selection: median {med:.2f} s  (runs: {each})")
    print(f"ratio output/weight: {om / wm:.2f}x (goal <= 2x)")
    gm = statistics.median(gram_s)
    print(
        f"of which Gram matrices and factors: median {gm:.2f} s; output-MSE without them "
        f"{(om - gm) / wm:.2f}x weight-MSE"
    )
    est = direct_s * n_values / direct_values
    print(
        f"direct X·Ŵᵀ search (the authors' way), float32: {direct_s:.2f} s for one "
        f"{direct_values:,}-weight tensor, about {est:.0f} s for these {n_values:,} weights "
        f"({est / om:.0f}x the Gram-form search)"
    )
    return 0


def _direct_one(model, tokens, tables, cfg_w) -> tuple[float, int]:
    """Seconds of the direct search on block 0's q weight, and its weight count."""
    import numpy as np

    from llmrun.calibration import _run_block
    from mant.quantize import quantize_with_choice

    x0 = [model.tok_embd[tokens[i : i + 4]] for i in range(0, len(tokens), 4)]
    _, inputs = _run_block(model.layers[0], x0, model.config, tables, True)
    x, w = inputs["attn_in"], model.layers[0].wq
    g, n_cand = 64, len(cfg_w.candidate_set.formats)
    rows, width = w.shape
    start = time.perf_counter()
    best = np.full((width // g, rows), np.inf, dtype=np.float32)
    for c in range(n_cand):
        w_hat = quantize_with_choice(w, cfg_w, np.full(rows * width // g, c)).dequantized
        for j in range(width // g):
            xj = x[:, j * g : (j + 1) * g]
            diff = xj @ w[:, j * g : (j + 1) * g].T - xj @ w_hat[:, j * g : (j + 1) * g].T
            best[j] = np.minimum(best[j], np.mean(diff * diff, axis=0))
    return time.perf_counter() - start, int(w.size)


if __name__ == "__main__":
    sys.exit(main())
