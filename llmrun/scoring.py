"""Scoring a text's windows with a bitwise result for any thread count.

:func:`score_windows` runs every window's forward under one BLAS thread, so each matrix product
is one single-threaded call whose shape does not depend on the thread count, and runs
``threads`` windows at once in a thread pool (numpy and torch release the GIL in their
products). The window NLLs are added in window order. The recipe's quantizers run one at a time
under a lock: numba's default thread layer must not be entered from two Python threads.

Example:
    >>> nll, n = score_windows(lambda row, kv, acts: (1.0, 511), 4, None, None, 2, None)
    >>> nll, n
    (4.0, 2044)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llmrun.forward import ActHooks, KVHook
from llmrun.threads import blas_threads

__all__ = ["score_windows"]


def _locked(fn: Any, lock: threading.Lock) -> Any:
    if fn is None:
        return None

    def call(*args: Any) -> Any:
        with lock:
            return fn(*args)

    return call


def score_windows(
    score: Callable[[int, KVHook | None, ActHooks | None], tuple[float, int]],
    n_windows: int,
    kv: KVHook | None,
    acts: ActHooks | None,
    threads: int,
    on_window: Callable[[], None] | None,
) -> tuple[float, int]:
    """Summed NLL and scored tokens of windows ``0 .. n_windows - 1``, bitwise the same for any
    ``threads``.

    Every window's forward runs under one BLAS thread, so each matrix product is one
    single-threaded call whose shape does not depend on ``threads``; ``threads`` windows run at
    once in a thread pool (numpy and torch release the GIL in their products), and the window
    NLLs are added in window order. The recipe's quantizers (numba kernels among them, whose
    default thread layer must not be entered from two threads) run one at a time under a lock.
    """
    total, n = 0.0, 0
    with blas_threads(1):
        if threads <= 1 or n_windows <= 1:
            parts = []
            for row in range(n_windows):  # one window per forward call: bounded memory
                parts.append(score(row, kv, acts))
                if on_window is not None:
                    on_window()
        else:
            lock = threading.Lock()
            kv_l = _locked(kv, lock)
            acts_l = None
            if acts is not None:
                acts_l = ActHooks(
                    **{f: _locked(getattr(acts, f), lock) for f in ActHooks.__slots__}
                )
            with ThreadPoolExecutor(max_workers=threads) as pool:
                futures = [pool.submit(score, row, kv_l, acts_l) for row in range(n_windows)]
                parts = []
                for future in futures:
                    parts.append(future.result())
                    if on_window is not None:
                        on_window()
    for part_nll, part_n in parts:  # window order, whatever finished first
        total, n = total + part_nll, n + part_n
    return total, n
