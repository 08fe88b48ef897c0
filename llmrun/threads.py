"""BLAS threads for the numpy forward pass.

The forward pass is BLAS-bound. On a machine shared with other work, letting OpenBLAS start one
thread per core oversubscribes it (issue 13 measured 8.1 s per 512-token window by default
against 2.35 s with one thread on a busy 2-core machine). :func:`default_threads` therefore
takes every core only when the machine is otherwise idle, and :func:`blas_threads` applies a
count with ``threadpoolctl`` for the duration of a block.

Example:
    >>> with blas_threads(1) as n:
    ...     n
    1
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from mant.errors import InputError

__all__ = ["default_threads", "blas_threads"]


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """Threads for one window: every core on an idle machine, 1 when the machine is busy.

    Busy means the 1-minute load average (``os.getloadavg``, read before this process starts
    its own work) is at least half the cores: other processes then already hold a core and
    more BLAS threads only contend with them.

    Example:
        >>> default_threads(cores=8, load=0.3), default_threads(cores=8, load=5.0)
        (8, 1)
    """
    n = cores if cores is not None else (os.cpu_count() or 1)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # not available on this platform
            load = 0.0
    return 1 if load >= n / 2 else n


@contextmanager
def blas_threads(threads: int | None = None) -> Iterator[int]:
    """Limit the BLAS thread pools to ``threads`` (None: :func:`default_threads`) in a block.

    Yields the count used.

    Raises:
        InputError: ``threads`` is not an int >= 1.
    """
    if threads is None:
        threads = default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InputError.single("threads", "must be an int >= 1", threads)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        yield threads
