"""GPTQ vs the authors' output-MSE selection on every linear weight of SmolLM2-135M.

Calibration: the first 16 x 512 tokens of Emma (``llmrun.calibration``), run block by block
through the unquantized numpy forward (timed separately and excluded). For each block, both
ways of quantizing its seven projections with mant-unicore16 at g = 64, fp16 scales, are timed in
the same process and run. Each side reduces each of the block's four distinct inputs once and
shares it between the weights it feeds (q, k and v; gate and up), the way each is meant to be
used:

* output-MSE selection, round to nearest: the per-group Gram blocks ``X_jᵀ X_j`` (g x g) and
  their factors (``GramCalibration``), then ``quantize(w, cfg_out, calibration=gram)`` (as
  ``bench_output_mse.py``);
* GPTQ: the full Hessian ``Xᵀ X`` (in x in) and its inverse factor (``mant.gptq.Hessian``), then
  the column sweep of each projection (``gptq(w, cfg, hessian)``), each group's type chosen
  inside the sweep by weight error;
* GPTQ with the output-error type choice (``selection="output_mse"``, the ``-gptq`` recipes'):
  the same Hessians (their time counted again), each candidate running the group's sweep.

Prints the median over ``--runs`` of the summed wall time of each (and its CPU time: on a shared
machine the wall time also counts the waits for a core), their ratio against the goal (GPTQ at
most 3x output-MSE selection), the Hessians' share, and the mean relative output error of each
over the block's calibration inputs. Threads are set before numpy loads (``--threads``, default
1; BLAS and numba get the same count).
Run: ``python benchmarks/bench_gptq.py [--runs 3] [--threads 1] [--layers 30]``.
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
    from llmrun.model import load_model
    from mant.gptq import Hessian, gptq
    from mant.output_select import GramCalibration
    from mant.quantize import QuantConfig, quantize

    model = load_model("smollm2-135m")
    tokens = calibration_tokens_default(model.name)
    cfg_w = QuantConfig(candidates="mant-unicore16", group_size=64, scale_format="fp16")
    cfg_o = QuantConfig(
        candidates="mant-unicore16", group_size=64, scale_format="fp16", selection="output_mse"
    )
    w0 = model.layers[0].wq  # warm-up: numba compile or cache load, outside the timings
    quantize(w0, cfg_o, calibration=np.ones((8, w0.shape[1]), np.float32))
    gptq(w0, cfg_w, np.ones((8, w0.shape[1]), np.float32))
    gptq(w0, cfg_o, np.ones((8, w0.shape[1]), np.float32))

    forward_s = 0.0
    output_s = [0.0] * args.runs
    gptq_s = [0.0] * args.runs
    hess_s = [0.0] * args.runs
    output_cpu = [0.0] * args.runs
    gptq_cpu = [0.0] * args.runs
    gptq_o_s = [0.0] * args.runs
    gptq_o_cpu = [0.0] * args.runs
    cpu = time.process_time
    err_o: list[float] = []
    err_g: list[float] = []
    err_go: list[float] = []
    for ws, inputs, seconds in calibrated_blocks(model, tokens, args.layers):
        forward_s += seconds
        for run in range(args.runs):
            t0, c0 = time.perf_counter(), cpu()
            grams = {
                n: GramCalibration.from_activations(x, group_size=64) for n, x in inputs.items()
            }
            out_o = {k: quantize(w, cfg_o, calibration=grams[INPUT_OF[k]]) for k, w in ws.items()}
            output_s[run] += time.perf_counter() - t0
            output_cpu[run] += cpu() - c0
            t0, c0 = time.perf_counter(), cpu()
            hess = {n: Hessian.from_activations(x) for n, x in inputs.items()}
            h_wall, h_cpu = time.perf_counter() - t0, cpu() - c0
            hess_s[run] += h_wall
            out_g = {k: gptq(w, cfg_w, hess[INPUT_OF[k]]) for k, w in ws.items()}
            gptq_s[run] += time.perf_counter() - t0
            gptq_cpu[run] += cpu() - c0
            t0, c0 = time.perf_counter(), cpu()
            out_go = {k: gptq(w, cfg_o, hess[INPUT_OF[k]]) for k, w in ws.items()}
            gptq_o_s[run] += time.perf_counter() - t0 + h_wall
            gptq_o_cpu[run] += cpu() - c0 + h_cpu
        for k, w in ws.items():
            x = inputs[INPUT_OF[k]].astype(np.float64)
            ref = float(np.sum((x @ w.T.astype(np.float64)) ** 2))
            for out, errs in ((out_o, err_o), (out_g, err_g), (out_go, err_go)):
                d = x @ (w - out[k].dequantized).T.astype(np.float64)
                errs.append(float(np.sum(d * d)) / ref)
    om, gm = statistics.median(output_s), statistics.median(gptq_s)
    print(
        f"SmolLM2-135M, {args.layers} blocks, mant-unicore16 g64 fp16, {tokens.size} calibration "
        f"tokens, threads={args.threads}, runs={args.runs}"
    )
    print(f"calibration forward (excluded): {forward_s:.1f} s")
    sides = (
        ("output-MSE selection", output_s, output_cpu),
        ("GPTQ", gptq_s, gptq_cpu),
        ("GPTQ, output-error choice", gptq_o_s, gptq_o_cpu),
    )
    for label, runs, cpus in sides:
        print(
            f"{label}: median {statistics.median(runs):.2f} s  "
            f"(runs: {', '.join(f'{t:.2f}' for t in runs)}; "
            f"CPU median {statistics.median(cpus):.2f} s)"
        )
    met = "met" if gm <= 3 * om else "NOT met"
    print(f"ratio GPTQ/output-MSE: {gm / om:.2f}x (goal <= 3x: {met})")
    gom = statistics.median(gptq_o_s)
    print(f"ratio GPTQ with the output-error choice / output-MSE: {gom / om:.2f}x")
    hm = statistics.median(hess_s)
    print(f"of which Hessians and their factors: median {hm:.2f} s ({100 * hm / gm:.0f}% of GPTQ)")
    wins = sum(g < o for g, o in zip(err_g, err_o, strict=True))
    print(
        f"mean output rel. error on the calibration inputs: output-MSE {np.mean(err_o):.4e}, "
        f"GPTQ {np.mean(err_g):.4e}; GPTQ lower on {wins} of {len(err_g)} weights"
    )
    wins_o = sum(g < o for g, o in zip(err_go, err_o, strict=True))
    print(
        f"GPTQ with the output-error choice: {np.mean(err_go):.4e}, lower than output-MSE "
        f"selection on {wins_o} of {len(err_go)} weights"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
