"""One BLAS thread while numba's parallel kernels run.

OpenBLAS workers keep spinning for a while after each multi-threaded call. When small BLAS calls
alternate with numba's parallel kernels (output-MSE selection: Gram products, then a triangular
multiply per block), the spinning workers take the cores numba's threads need: on 2 cores with
2 + 2 threads, output-MSE selection ran 10x slower than with one BLAS thread, and weight-MSE
selection of a 1536 x 576 tensor 1.9x slower (0.037 s against 0.020 s). :func:`one_blas_thread`
limits every BLAS library of the process to one thread for a block of code (``mant.quantize``
runs under it; entering and leaving costs about 2 us); numba keeps its own thread count. The
limit is process-wide while it holds: a BLAS call of another Python thread runs single-threaded
meanwhile.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["one_blas_thread"]


@functools.cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspecting the loaded libraries costs milliseconds: once


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context in which every BLAS library runs single-threaded."""
    return _controller().limit(limits=1, user_api="blas")
