"""Shared set-up of the SmolLM2 weight benchmarks (``bench_output_mse.py``, ``bench_gptq.py``).

:func:`parse_args` reads ``--runs``, ``--threads`` and ``--layers`` and sets the BLAS and numba
thread counts before numpy loads (so import this module, not numpy, first).
:func:`calibrated_blocks` runs the unquantized forward block by block over the first 16 x 512
tokens of Emma (``llmrun.calibration``) and yields each block's seven projection weights and the
inputs that feed them, with the forward's seconds (timed apart, excluded from the benchmarks).
"""

from __future__ import annotations

import argparse
import os
import time
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
) -> Iterator[tuple[dict[str, Any], dict[str, Any], float]]:
    """(weights by kind, block inputs by name, forward seconds) for the first ``layers`` blocks."""
    import numpy as np

    from llmrun.calibration import KIND_FIELDS, _run_block
    from llmrun.forward import _rope_tables

    tables = _rope_tables(model.config, tokens.shape[1], np.dtype(np.float32))
    xs = [model.tok_embd[tokens[i : i + 4]] for i in range(0, len(tokens), 4)]
    for layer in model.layers[:layers]:
        t0 = time.perf_counter()
        xs, inputs = _run_block(layer, xs, model.config, tables, True)
        seconds = time.perf_counter() - t0
        yield {k: getattr(layer, f) for k, f in KIND_FIELDS.items()}, inputs, seconds
