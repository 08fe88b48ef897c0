"""Adaptive per-group selection over mant-unicore16 at g=64 on a 4096x4096 float32 tensor.

Prints: first-call JIT time (compile or cache load), the median of several runs of
``mant.quantize`` (target <= 1.0 s on 2 cores), the peak extra resident memory as a multiple of
the tensor size (target <= 4x), and the ratio against a plain per-candidate numpy loop (the
obvious float64 way: scale, searchsorted on midpoints, squared error, keep the argmin) timed in
the same run. Run: ``python benchmarks/bench_adaptive_selection.py [--rows 4096] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _rss_peak_kib() -> int:
    """This process's peak resident set (VmHWM, KiB).

    ``getrusage``'s ru_maxrss is carried over fork/exec from the parent on Linux, so a child
    would report the parent's peak; /proc's VmHWM belongs to this process image only.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def plain_numpy_loop(x: np.ndarray, names: tuple[str, ...], g: int) -> np.ndarray:
    """Per-candidate float64 loop over the whole tensor; returns the per-group choice."""
    from mant.formats import parse_format

    groups = x.reshape(-1, g).astype(np.float64)
    amax = np.abs(groups).max(axis=1, keepdims=True)
    best = np.full(len(groups), np.inf)
    choice = np.zeros(len(groups), dtype=np.int64)
    for c, name in enumerate(names):
        mags = np.asarray(parse_format(name).magnitudes)
        mids = (mags[1:] + mags[:-1]) / 2
        scale = amax / mags[-1]
        safe = np.where(scale > 0, scale, 1.0)
        u = np.abs(groups) / safe
        q = mags[np.searchsorted(mids, u, side="right")] * scale
        err = ((np.abs(groups) - q) ** 2).mean(axis=1)
        better = err < best
        best[better], choice[better] = err[better], c
    return choice


def measure_memory(rows: int) -> None:
    """Child process: peak RSS growth of one quantize call, as a multiple of the tensor."""
    import mant

    # float32 straight from the generator: no float64 temporary inflates the baseline peak
    x = np.random.default_rng(0).standard_normal((rows, 4096), dtype=np.float32)
    mant.quantize(x[:64], mant.QuantConfig(candidates="mant-unicore16"))  # JIT out of the way
    before = _rss_peak_kib()
    mant.quantize(x, mant.QuantConfig(candidates="mant-unicore16"))
    print((_rss_peak_kib() - before) * 1024 / x.nbytes)


def measure_cold_compile() -> None:
    """Child process with an empty numba cache: time of the first call (true JIT compile)."""
    t0 = time.perf_counter()
    import mant

    x = np.random.default_rng(0).standard_normal((64, 64), dtype=np.float32)
    mant.quantize(x, mant.QuantConfig(candidates="mant-unicore16"))
    print(time.perf_counter() - t0)


def _child(flag: str, rows: int, env: dict[str, str] | None = None) -> float:
    out = subprocess.run(
        [sys.executable, __file__, flag, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        measure_memory(args.rows)
        return
    if args.cold_child:
        measure_cold_compile()
        return

    import numba

    t0 = time.perf_counter()
    import mant

    import_s = time.perf_counter() - t0
    x = np.random.default_rng(0).standard_normal((args.rows, 4096), dtype=np.float32)
    cfg = mant.QuantConfig(candidates="mant-unicore16", group_size=64)
    t0 = time.perf_counter()
    mant.quantize(x[:64], cfg)
    first_call_s = time.perf_counter() - t0

    times, res = [], None
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = mant.quantize(x, cfg)
        times.append(time.perf_counter() - t0)
    base_times, base_choice = [], None
    for _ in range(args.baseline_runs):
        t0 = time.perf_counter()
        base_choice = plain_numpy_loop(x, cfg.candidate_set.names, 64)
        base_times.append(time.perf_counter() - t0)
    agree = float(np.mean(base_choice == res.choice))
    mem = _child("--memory-child", args.rows)
    with tempfile.TemporaryDirectory() as cache:
        cold_s = _child("--cold-child", args.rows, {**os.environ, "NUMBA_CACHE_DIR": cache})

    med, base = statistics.median(times), statistics.median(base_times)
    print(
        f"tensor {x.shape} float32, mant-unicore16, g=64, numba threads {numba.get_num_threads()}"
    )
    print(
        f"import mant: {import_s:.3f} s; first call with a warm numba cache: {first_call_s:.3f} s"
    )
    print(f"first call with an empty numba cache (import + JIT compile): {cold_s:.2f} s")
    print(
        f"quantize: median {med:.3f} s over {args.runs} runs "
        f"(min {min(times):.3f}, max {max(times):.3f})"
    )
    print(f"plain per-candidate numpy loop: median {base:.3f} s over {args.baseline_runs} runs")
    print(f"speed-up vs plain loop: {base / med:.1f}x; choice agreement {100 * agree:.3f}%")
    print(f"peak extra memory: {mem:.2f}x the tensor ({x.nbytes / 2**20:.0f} MiB)")
    print(
        f"rel_mse {res.rel_mse:.4e} (float32 draws; mant.md §9.5's tensor A is float64 draws cast)"
    )


if __name__ == "__main__":
    main()
