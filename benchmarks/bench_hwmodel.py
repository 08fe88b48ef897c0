"""Speed of the hardware model, with ratios against SCALE-Sim and ZigZag on the same layers.

Run: ``python benchmarks/bench_hwmodel.py`` (about 10 s). Prints medians of several runs.
Goals (issue 4): <= 20 us per GEMM layer evaluation; a full LLaMA-2-7B prefill + decode
workload <= 5 ms; the vectorised path >= 100,000 array configurations per second.

Reference times are the measurements quoted in the project's ``hardware.md``: SCALE-Sim 3.0.0
wall time per run (§3.3, 2-core machine, two runs sharing it) and ZigZag 3.9.1 on its
``tpu_like`` preset (§4, 32x32 WS array).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from hwmodel import Gemm, evaluate, evaluate_many, llm_workload, load_accelerator

REPEATS = 7

# hardware.md §3.3: SCALE-Sim seconds per run, keyed by (M, N, K, array side, dataflow)
SCALESIM_S = {
    (64, 64, 64, 128, "os"): 0.34,
    (64, 64, 64, 128, "ws"): 0.37,
    (64, 64, 64, 128, "is"): 0.36,
    (64, 64, 64, 32, "os"): 0.30,
    (64, 64, 64, 32, "ws"): 0.34,
    (64, 64, 64, 32, "is"): 0.36,
    (2048, 2048, 128, 128, "os"): 25.3,
    (2048, 2048, 128, 128, "ws"): 12.0,
    (2048, 2048, 128, 128, "is"): 12.2,
    (2048, 2048, 128, 32, "os"): 646.8,
    (2048, 2048, 128, 32, "ws"): 85.1,
    (2048, 2048, 128, 32, "is"): 115.1,
    (1, 4096, 4096, 128, "os"): 63.1,
    (1, 4096, 4096, 128, "ws"): 67.8,
    (1, 4096, 4096, 128, "is"): 77.4,
    (1, 4096, 4096, 32, "os"): 90.0,
    (1, 4096, 4096, 32, "ws"): 105.8,
    (1, 4096, 4096, 32, "is"): 96.8,
    (512, 4096, 4096, 128, "os"): 448.0,
    (512, 4096, 4096, 128, "ws"): 480.0,
    (512, 4096, 4096, 128, "is"): 869.6,
    (512, 4096, 4096, 32, "ws"): None,  # not run: "perhaps 30-60 min" (hardware.md §3.3)
}
# hardware.md §4: ZigZag wall seconds per GEMM on tpu_like (32x32 WS)
ZIGZAG_S = {
    (64, 64, 64): 0.8,
    (1, 4096, 4096): 0.9,
    (512, 4096, 4096): 3.2,
    (2048, 2048, 128): 1.6,
}


def _median_time(fn, inner: int) -> float:
    """Median over REPEATS of the mean seconds per call of ``fn`` over ``inner`` calls."""
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def bench_gemms() -> float:
    base = load_accelerator("int8")
    print("per-GEMM evaluation (int8 PE, SCALE-Sim-equivalent arrays)")
    print(
        f"{'GEMM':>16} {'array':>8} {'df':>3} {'us/eval':>9} {'x SCALE-Sim':>13} {'x ZigZag':>10}"
    )
    worst = 0.0
    for (m, n, k, side, df), sim_s in SCALESIM_S.items():
        acc = base.with_array(rows=side, cols=side, dataflow=df)
        gemm = Gemm(m=m, n=n, k=k)
        t = _median_time(lambda acc=acc, gemm=gemm: evaluate(acc, gemm), 2000)
        worst = max(worst, t)
        zz = ZIGZAG_S.get((m, n, k)) if side == 32 and df == "ws" else None
        zz_txt = f"{zz / t:>10.3g}" if zz else f"{'-':>10}"
        sim_txt = f"{sim_s / t:>13.3g}" if sim_s else f"{'-':>13}"
        shape, arr = f"{m}x{n}x{k}", f"{side}x{side}"
        print(f"{shape:>16} {arr:>8} {df:>3} {t * 1e6:>9.2f} {sim_txt} {zz_txt}")
    return worst


def bench_llm(preload: str = "serial") -> float:
    acc = load_accelerator("mant").with_array(preload=preload)

    def both():
        for phase in ("prefill", "decode"):
            evaluate(acc, llm_workload("llama-2-7b", phase=phase, seq_len=2048, batch=1))

    return _median_time(both, 200)


def bench_vectorised(preload: str = "serial") -> float:
    acc = load_accelerator("mant")
    wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048, batch=1)
    r, c = np.meshgrid(np.arange(4, 260, 2), np.arange(4, 260, 2))
    rows, cols = r.ravel(), c.ravel()
    t = _median_time(lambda: evaluate_many(acc, wl, rows=rows, cols=cols, preload=preload), 3)
    return rows.size / t


def bench_long_context() -> tuple[float, float]:
    """Whole LLaMA-7B decode + prefill at 128K against 2K, same run (time must not grow)."""
    acc = load_accelerator("mant").with_array(gemv_path="vector")

    def at(ctx: int) -> float:
        def both():
            for phase in ("prefill", "decode"):
                evaluate(acc, llm_workload("llama-7b", phase=phase, seq_len=ctx))

        return _median_time(both, 200)

    return at(2048), at(131072)


def main() -> None:
    worst = bench_gemms()
    print(f"\nworst per-GEMM evaluation: {worst * 1e6:.2f} us (goal <= 20 us)")
    for preload in ("serial", "overlapped"):
        t = bench_llm(preload)
        print(
            f"LLaMA-2-7B prefill + decode (seq 2048, batch 1, mant, {preload} preload): "
            f"{t * 1e3:.3f} ms (goal <= 5 ms)"
        )
        rate = bench_vectorised(preload)
        print(
            f"vectorised LLaMA-2-7B decode, 16,384 arrays, {preload} preload: "
            f"{rate:,.0f} configurations/s (goal >= 100,000)"
        )
    short, long = bench_long_context()
    print(
        f"LLaMA-7B prefill + decode, vector GEMV path: 2K {short * 1e3:.3f} ms, "
        f"128K {long * 1e3:.3f} ms, ratio {long / short:.2f} (goal <= 2: no per-token work)"
    )


if __name__ == "__main__":
    main()
