"""Compile the numba kernels ahead of use, into numba's on-disk cache.

Every kernel is ``@njit(cache=True)``: it is compiled on its first call in a fresh install and
loaded from the cache afterwards. :func:`warm_kernels` makes those first calls on tiny inputs
(``mant-dse assets fetch`` runs it), so that a user's first ``quantize`` is not dominated by
compilation (``benchmarks/bench_startup.py`` measures both).

Example:
    >>> warm_kernels() >= 0.0
    True
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["warm_kernels"]


def warm_kernels() -> float:
    """Run every compiled kernel once on a tiny input; returns the seconds it took."""
    from mant.groups import Granularity
    from mant.kv import KVQuantConfig, quantize_kv
    from mant.quantize import QuantConfig, quantize
    from mant.vocab import Selection

    start = time.perf_counter()
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    quantize(x, QuantConfig(candidates="mant-unicore16"))  # search + apply kernels
    quantize(
        x, QuantConfig(candidates="olive4_int", granularity=Granularity.CHANNEL)
    )  # OliVe kernels
    kv = x.reshape(1, 4, 64)
    lut = KVQuantConfig(candidates="mant-unicore16", selection=Selection.LUT)
    quantize_kv(kv, kv, lut)  # the LUT rule
    quantize_kv(kv, kv, KVQuantConfig())  # the authors' variance rule
    return time.perf_counter() - start
