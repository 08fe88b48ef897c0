"""Issue 20 speed check: selection over registered level-list sets vs ``mant-unicore16``.

A 4096x4096 float32 Gaussian tensor at g=64 (fp16 scales). Baseline: ``mant-unicore16`` (16
candidates, the built-in numba kernel). Measured: ``levels`` family sets of 4 lists (BitMoD's FP4
ER/EA lists and RaZeR's E2M1 + special-value lists, as data at g=64; also with ``scale: mse``,
i.e. 8 scale columns) through the levels kernel; and the named fixed-block formats at their own
block sizes. After one warm-up call each (JIT), ``--runs`` rounds time every case once, in turn
(so a change of machine load hits all cases alike); prints each median and its ratio to the
baseline's median (target for the 4-list sets: < 2).

Threads are set deliberately: numba uses ``--threads`` (default: all cores numba sees), BLAS one
thread (``mant.quantize`` does that itself). Run::

    PYTHONPATH=$PWD python benchmarks/bench_formats.py [--rows 4096] [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

BITMOD4 = [
    [-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 10, 12],
    [-12, -10, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12],
    [-12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12, 16],
    [-16, -12, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 12],
]
_E2M1 = [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6]
RAZER = [sorted(_E2M1 + [v]) for v in (5, -5, 8, -8)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    args = ap.parse_args()

    import numba

    from mant.quantize import QuantConfig, quantize

    if args.threads:
        numba.set_num_threads(args.threads)
    x = np.random.default_rng(0).standard_normal((args.rows, 4096), dtype=np.float32)
    cases: list[tuple[str, QuantConfig]] = [
        ("mant-unicore16 (16 candidates, baseline)", QuantConfig(candidates="mant-unicore16")),
        (
            "levels: BitMoD FP4 lists x4",
            QuantConfig(candidates={"family": "levels", "sets": BITMOD4}, group_size=64),
        ),
        (
            "levels: RaZeR E2M1+special x4",
            QuantConfig(candidates={"family": "levels", "sets": RAZER}, group_size=64),
        ),
        (
            "levels: RaZeR x4, scale mse (8 columns)",
            QuantConfig(
                candidates={"family": "levels", "sets": RAZER, "scale": "mse"}, group_size=64
            ),
        ),
    ]
    for name in (
        "bitmod_fp4",
        "razer_mxfp4",
        "razer_nvfp4",
        "m2xfp4_w",
        "m2xfp4_a",
        "hif4",
        "mxplus_fp4",
        "blockdialect_fp4",
        "blockdialect_fp4_a",
    ):
        cases.append(
            (f"{name} (g={QuantConfig(candidates=name).group_size})", QuantConfig(candidates=name))
        )
    cases.append(("nvfp4_4over6 (g=16)", QuantConfig(candidates="nvfp4_4over6")))
    print(
        f"tensor {x.shape} float32, numba threads {numba.get_num_threads()}, "
        f"median of {args.runs} runs after one warm-up"
    )
    for _, cfg in cases:  # JIT compile or cache load, first touch of buffers
        quantize(x, cfg)
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(args.runs):  # rounds over every case, so load changes hit all of them
        for i, (_, cfg) in enumerate(cases):
            t0 = time.perf_counter()
            quantize(x, cfg)
            times[i].append(time.perf_counter() - t0)
    base = statistics.median(times[0])
    for (label, _), ts in zip(cases, times, strict=True):
        t = statistics.median(ts)
        print(f"{label:<44} {t:8.3f} s   ratio {t / base:5.2f}")


if __name__ == "__main__":
    main()
