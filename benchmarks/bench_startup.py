"""Start-up figures of the ``mant-dse`` command line (issue 13).

Prints, each the median of several fresh processes with a reference measured in the same run:

1. ``python -c pass`` and ``python -c "import numpy"`` (the floors every command pays);
2. ``mant-dse --help`` and ``mant-dse formats`` (need no numba kernel: the goal is <= 0.5 s),
   wall and CPU seconds (on a loaded machine the CPU time is the stable figure);
3. a first ``mant-dse quantize`` with an empty numba cache (kernels compiled in that process),
   the same after ``mant.warmup.warm_kernels`` filled the cache (what ``mant-dse assets fetch``
   leaves behind), and the in-process quantization time both report, so compilation and
   loading can be told apart from the work itself.

Each command runs as ``python -m dse`` from the current ``PYTHONPATH`` with
``NUMBA_CACHE_DIR`` pointing at a fresh temporary folder for the cold/warm pair.

Usage: ``python benchmarks/bench_startup.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=True
    )
    return time.perf_counter() - start, done.stdout


def _median(args: list[str], repeats: int) -> tuple[float, float]:
    """Median wall and median CPU (user + sys) seconds of ``repeats`` fresh processes."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = _cpu()
        walls.append(_run(args)[0])
        cpus.append(_cpu() - before)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.repeats

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time suffers)")
    print(f"{'command':<26}{'wall s':>8}{'cpu s':>8}  (medians of {n} fresh processes)")
    rows = [
        ("python -c pass", ["-c", "pass"]),
        ("python -c 'import numpy'", ["-c", "import numpy"]),
        ("mant-dse --help", ["-m", "dse", "--help"]),
        ("mant-dse formats", ["-m", "dse", "formats"]),
    ]
    for label, cmd in rows:
        wall, cpu = _median(cmd, n)
        print(f"{label:<26}{wall:>8.3f}{cpu:>8.3f}")
    print("goal: --help and formats <= 0.5 s (formats needs numpy, no numba kernel)")

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        w = Path(tmp) / "w.npy"
        x = np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32)
        np.save(w, x)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba-cache"))
        quant = ["-m", "dse", "quantize", str(w), "--json"]
        cold_s, out = _run(quant, env)
        cold_work = json.loads(out)["seconds"]
        warm_runs = [_run(quant, env) for _ in range(n)]
        warm_s = statistics.median(t for t, _ in warm_runs)
        warm_work = statistics.median(json.loads(o)["seconds"] for _, o in warm_runs)
        env_w = dict(os.environ, NUMBA_CACHE_DIR=str(Path(tmp) / "numba-cache-2"))
        warmup_s, _ = _run(["-c", "from mant.warmup import warm_kernels; warm_kernels()"], env_w)
        after_warmup_s, out = _run(quant, env_w)
        after_warmup_work = json.loads(out)["seconds"]
    print(
        f"first quantize, empty numba cache   {cold_s:6.2f} s  "
        f"(quantize() itself {cold_work:.2f} s: compilation)"
    )
    print(
        f"quantize, warm numba cache          {warm_s:6.2f} s  "
        f"(quantize() itself {warm_work:.2f} s; median of {n}; "
        f"{cold_s / warm_s:.1f}x faster than cold)"
    )
    print(
        f"first quantize after warm_kernels   {after_warmup_s:6.2f} s  "
        f"(quantize() itself {after_warmup_work:.2f} s; the warm-up took {warmup_s:.2f} s)"
    )
    print("(256 x 1024 float32 tensor, mant-unicore16, g = 64, fp16 scales)")


if __name__ == "__main__":
    main()
