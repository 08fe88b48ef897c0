"""GPTQ's type choice on every MiniLM linear weight: by weight error, by GPTQ's own loss (the
added output error of the group's own sweep, ``‖e U_FF⁻¹‖²``) or by the Gram block
``e X_Fᵀ X_F eᵀ``, against the M-ANT authors' round to nearest with output-MSE selection.

mant-unicore16, g = 64, fp16 scales; calibration on 8 x 256 tokens of Emma, output error
``‖X (W - Ŵ)ᵀ‖²`` scored on 4 x 256 tokens of Pride and Prejudice (neither saw them), as the
slow test in ``tests/mant_tests/test_gptq.py``. Prints, per way, the summed held-out output
error relative to the authors' rule, the layers where it beats that rule, and the median over
``--runs`` of the summed GPTQ time (numba and BLAS on ``--threads``, default 1).
The Gram way swaps the compiled choice of ``mant.gptq`` for a numpy one (a comparison only).
Run: ``python benchmarks/bench_gptq_selection.py [--runs 1] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np

    import mant.gptq as g
    from llmrun.assets import minilm_weights
    from llmrun.minilm import minilm_activations
    from mant.output_select import output_errors, pick_last_min
    from mant.quantize import QuantConfig, quantize

    calib = minilm_activations("austen-emma", windows=8, window_len=256)
    held = minilm_activations("austen-pride", windows=4, window_len=256)
    weights = minilm_weights()
    by_weight = QuantConfig(candidates="mant-unicore16", group_size=64)
    by_output = QuantConfig(candidates="mant-unicore16", group_size=64, selection="output_mse")

    def out_err(w: np.ndarray, x: np.ndarray, q: np.ndarray) -> float:
        return float(np.sum((x.astype(np.float64) @ (w - q).T.astype(np.float64)) ** 2))

    compiled_select = g._select_by_output
    gram: dict[str, np.ndarray] = {}

    def gram_select(w1, j0, j1, u, c0, sf, tables):  # noqa: ANN001, ANN202 - a stand-in
        values = np.ascontiguousarray(w1[:, j0:j1], dtype=np.float32)
        mids, mags, n_mids, _, max_abs = tables
        scales = g.round_scales(g._absmax(values)[:, None] / max_abs[None, :], sf)
        h = gram["h"][c0 + j0 : c0 + j1, c0 + j0 : c0 + j1][None]
        lengths = np.full(len(values), j1 - j0, dtype=np.int64)
        err, _ = output_errors(
            values, lengths, scales, (mids, mags, n_mids), h, tokens=1,
            cols=np.zeros(len(values), dtype=np.int64),
        )  # fmt: skip
        pick = pick_last_min(err)
        return scales[np.arange(len(values)), pick], pick

    ways = ("gptq weight_mse", "gptq output_mse (sweep)", "gptq output_mse (Gram)")
    totals = dict.fromkeys(ways, 0.0)
    wins = dict.fromkeys(ways, 0)
    times: dict[str, list[float]] = {w: [] for w in ways}
    ref_total = 0.0
    for name, x in calib.items():
        w = weights[name]
        ev = held[name]
        ref = out_err(w, ev, quantize(w, by_output, calibration=x).dequantized)
        ref_total += ref
        x64 = x.astype(np.float64)
        gram["h"] = x64.T @ x64
        for way in ways:
            cfg = by_weight if way == ways[0] else by_output
            g._select_by_output = gram_select if way == ways[2] else compiled_select
            runs = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                q = g.gptq(w, cfg, x).dequantized
                runs.append(time.perf_counter() - t0)
            times[way].append(statistics.median(runs))
            e = out_err(w, ev, q)
            totals[way] += e
            wins[way] += e < ref
    g._select_by_output = compiled_select
    n = len(calib)
    print(
        f"MiniLM, {n} linear weights, mant-unicore16 g64; held-out output error vs RTN output_mse"
    )
    for way in ways:
        print(
            f"  {way:24s} error x{totals[way] / ref_total:.3f}  beats RTN on {wins[way]}/{n}  "
            f"time {sum(times[way]):.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
