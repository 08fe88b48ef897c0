"""Multi-fidelity accuracy on 20 SmolLM2 recipes: how well the cheap proxy ranks real perplexity,
and how much perplexity ``accuracy.fidelity: multi`` pays for against perplexity on all 20.

The 20 designs are the MANT PE at a fixed 32 x 32 array with 20 quantization recipes drawn
(seeded) from weight format x group size x activation bits x KV format x KV bits. Each gets
the ``tensors`` proxy metrics (MiniLM weights and activations, SmolLM2 K/V; ``docs/dse.md``) and
SmolLM2-135M perplexity (``--windows`` windows of ``--context`` tokens of Pride and Prejudice),
each timed on its own (an empty cache per design: the cost of perplexity on all 20). The designs
are then replayed in a seeded order through the promotion rule of
:mod:`dse.evaluate.multifid` on the objectives (proxy, latency, energy); the figures:
Spearman's rho of each proxy against perplexity over the 20, the promoted designs and the
perplexity seconds they cost against all 20 (at margins 0, 0.05, ``--margin`` and 0.25), how
many designs of the true front (perplexity, latency, energy over all 20) were promoted, and
whether the best-perplexity design of the 20 is among the promoted.

    python benchmarks/bench_multifid.py [--threads 1] [--windows 1] [--context 256]
        [--margin 0.1] [--seed 0]

Threads are set (BLAS, numba) before numpy loads; ``--threads 1`` is one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
PROXIES = ("output_and_kv_rel_mse", "rel_mse", "output_rel_mse", "weight_rel_mse", "kv_rel_mse")
OBJECTIVES = ("output_and_kv_rel_mse", "latency_s", "energy_pj")
N_RECIPES = 20
CHOICES = {
    "weight_format": ["mant-unicore16", "int{bits}", "ant", "olive"],
    "group_size": [32, 64, 128],
    "act_bits": [4, 8],
    "kv_format": ["mant-unicore16", "int{bits}"],
    "kv_bits": [4, 8],
}


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--windows", type=int, default=1)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--margin", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    return args


def _spec(args: argparse.Namespace) -> object:
    from dse.study.spec import parse_spec

    return parse_spec(
        {
            "version": 1,
            "name": "bench-multifid",
            "workload": {"model": "llama-2-7b", "phase": "decode", "seq_len": 2048},
            "accuracy": {
                "source": "tensors",
                "n_tensors": 3,
                "fidelity": "multi",
                "promote": {
                    "windows": args.windows,
                    "context": args.context,
                    "margin": args.margin,
                },
            },
            "space": {
                **{k: list(v) for k, v in CHOICES.items()},
                "pe_type": ["mant"],
                "weight_bits": [4],
                "rows": [32],
                "cols": [32],
            },
            "objectives": list(OBJECTIVES),
        }
    )


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    import itertools

    import numpy as np
    import pandas as pd

    from dse.evaluate.cache import QuantCache
    from dse.evaluate.multifid import Promoter, within_margin
    from dse.evaluate.objective import Evaluator
    from dse.evaluate.pareto import pareto_mask, to_minimization
    from dse.report.multifid import spearman
    from dse.study.design import design_from_values
    from mant.errors import InputError

    spec = _spec(args)
    rng = np.random.default_rng(args.seed)
    grid = [dict(zip(CHOICES, v, strict=True)) for v in itertools.product(*CHOICES.values())]
    order = rng.permutation(len(grid))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        ev = Evaluator(spec, cache_dir=f"{tmp}/proxy")
        for i in order:
            if len(rows) == N_RECIPES:
                break
            values = grid[int(i)]
            try:
                e = ev.evaluate_design(design_from_values(spec.space, values))
            except InputError as exc:  # a recipe the MANT PE has no mode for
                print(f"skipped {values}: {exc}", file=sys.stderr)
                continue
            promoter = Promoter(spec, QuantCache(None))  # an empty cache: a real evaluation
            start = time.perf_counter()
            ppl = promoter.ppl(e)
            seconds = time.perf_counter() - start
            rows.append({**values, **{m: e.metrics[m] for m in (*PROXIES, *OBJECTIVES[1:])}})
            rows[-1].update(ppl=ppl, ppl_s=seconds, objectives=e.objectives)
            label = ", ".join(f"{k}={v}" for k, v in values.items())
            print(f"{len(rows):2d} {label}: ppl {ppl:.2f} ({seconds:.1f} s)", file=sys.stderr)
    df = pd.DataFrame(rows)
    # replay in the drawn order through the promotion rule (all designs are feasible here)
    values = to_minimization(np.array(list(df["objectives"])), spec.directions)

    def promoted_at(margin: float) -> np.ndarray:
        return np.array([within_margin(values[i], values[:i], margin) for i in range(len(df))])

    df["promoted"] = promoted_at(args.margin)
    # the true front: perplexity in place of the proxy, over all 20
    truth = values.copy()
    truth[:, 0] = df["ppl"].to_numpy(float)
    true_front = pareto_mask(truth)
    cost_all = float(df["ppl_s"].sum())
    pd.set_option("display.width", 200)
    cols = ["weight_format", "group_size", "act_bits", "kv_format", "kv_bits"]
    shown = df[[*cols, *PROXIES[:1], "weight_rel_mse", "kv_rel_mse", "ppl", "ppl_s", "promoted"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"\n{len(df)} recipes, SmolLM2-135M perplexity on {args.windows} x {args.context} "
        f"tokens, {args.threads} thread(s); proxy objectives {', '.join(OBJECTIVES)}"
    )
    for m in PROXIES:
        rho, p = spearman(df[m], df["ppl"])
        print(f"Spearman rho({m}, ppl) over all {len(df)}: {rho:.3f} (p = {p:.2g})")
    print(
        f"perplexity on all {len(df)}: {cost_all:.1f} s (the first evaluation, "
        f"{float(df['ppl_s'].iloc[0]):.1f} s, loads the model); the true front "
        f"(ppl, latency, energy over all {len(df)}) holds {int(true_front.sum())} designs"
    )
    for margin in sorted({0.0, 0.05, args.margin, 0.25}):
        sel = promoted_at(margin)
        rho, _ = spearman(df.loc[sel, PROXIES[0]], df.loc[sel, "ppl"])
        spent = float(df.loc[sel, "ppl_s"].sum())
        print(
            f"margin {margin:g}: {int(sel.sum())} of {len(df)} promoted, perplexity "
            f"{spent:.1f} s ({spent / cost_all:.0%} of all), rho over them {rho:.3f}, "
            f"true-front designs promoted {int((sel & true_front).sum())} of "
            f"{int(true_front.sum())}"
        )
    best = int(df["ppl"].idxmin())
    print(
        f"best perplexity of the 20 (ppl {df['ppl'].iloc[best]:.2f}, drawn {best + 1}.) "
        f"promoted at margin {args.margin:g}: {'yes' if df['promoted'].iloc[best] else 'no'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
