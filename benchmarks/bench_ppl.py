"""Speed of the real-model perplexity path: load, forward per 512-token window, quantization hooks.

Prints medians of several runs (seconds). Run from the repository root after ``mant-dse assets
fetch``:

    python benchmarks/bench_ppl.py [--repeats 3]

Figures: GGUF read + dequantize (cold, no weight cache), load from the float32 weight cache, one
512-token window and a batch of 4, weight quantization of all 210 linear tensors, and the KV hooks.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from llmrun import forward, model, perplexity
from llmrun.model import _dequantize_gguf, load_model
from llmrun.perplexity import prepared_model
from llmrun.text import corpus_tokens


def _median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.repeats
    from llmrun.assets import asset_path

    gguf = asset_path("smollm2-135m")
    print(
        f"GGUF read + dequantize (cold)      {_median(lambda: _dequantize_gguf(gguf), 1):7.2f} s"
    )

    def cached_load() -> None:
        model._MODELS.clear()
        load_model()

    print(f"load from float32 weight cache     {_median(cached_load, n):7.2f} s")
    net, _, _ = prepared_model()
    ids = corpus_tokens("austen-pride")
    one = ids[:512].reshape(1, 512)
    four = ids[: 4 * 512].reshape(4, 512)
    t1 = _median(lambda: forward.window_nll(net, one), n)
    print(f"forward + NLL, 1 x 512 tokens      {t1:7.2f} s")
    t4 = _median(lambda: forward.window_nll(net, four), n)
    print(f"forward + NLL, 4 x 512 tokens      {t4:7.2f} s  ({t4 / 4:.2f} s per window)")
    for spec in ("int4:g64", "mant-unicore16:g64"):
        r = perplexity(weights=spec, windows=1, window_len=512)
        print(
            f"weight quantization {spec:<18} {r.weight_seconds:7.2f} s (210 tensors, once per set)"
        )
    for spec in ("int4_asym:g64:ref", "int4:g64", "mant-unicore16:g64:realtime",
                 "mant-unicore16:g64:oracle"):  # fmt: skip
        secs = _median(lambda s=spec: perplexity(kv=s, windows=4, window_len=512), n)
        print(f"4 x 512 with KV {spec:<28} {secs:7.2f} s  ({secs / 4:.2f} s per window)")


if __name__ == "__main__":
    main()
