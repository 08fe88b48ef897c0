"""Shared set-up of the SmolLM2 weight benchmarks (``bench_output_mse.py``, ``bench_gptq.py``).

:func:`parse_args` reads ``--runs``, ``--threads`` and ``--layers`` and sets the BLAS and numba
thread counts before numpy loads (so import this module, not numpy, first).
:func:`calibrated_blocks` runs the unquantized forward block by block over the first 16 x 512
tokens of Emma (``llmrun.calibration.calibration_blocks``, the forward ``mant-dse ppl`` calibrates
GPTQ, AWQ and output-MSE weights with) and yields each block's seven projection weights and the
inputs that feed them, with the forward's seconds (timed apart, excluded from the benchmarks).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """``--runs``, ``--threads`` (BLAS and numba get the same count), ``--layers``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers", type=int, default=30, help="blocks to time (<= 30)")
    args = parser.parse_args(argv)
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    return args


def calibrated_blocks(
    model: Any, tokens: Any, layers: int
) -> Iterator[tuple[dict[Any, Any], dict[str, Any], float]]:
    """(weights by kind, block inputs by name, forward seconds) for the first ``layers`` blocks
    (``llmrun.calibration.calibration_blocks``)."""
    from llmrun.calibration import calibration_blocks

    yield from calibration_blocks(model, tokens, layers)
