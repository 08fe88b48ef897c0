"""Benchmark: a 2,000-trial NSGA-II study on the quickstart space.

Prints trials per second, the share of wall time spent in our code (design building, cache
lookups, hardware-model memo, constraint bookkeeping) versus Optuna's (sampling, storage), and
our per-trial overhead on cache hits (median over repeated evaluations of seen designs).

Usage:
    python benchmarks/bench_study.py [--trials 2000] [--storage memory|journal] [--synthetic]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from dse.evaluate.objective import Evaluator, make_objective
from dse.run.runner import open_study
from dse.run.storage import create_storage
from dse.run.sweep import sweep
from dse.study.spec import load_spec, parse_spec, spec_to_dict

ROOT = Path(__file__).resolve().parents[1]


def _spec(synthetic: bool, trials: int):
    data = spec_to_dict(load_spec(ROOT / "studies" / "quickstart.yaml"))
    data["n_trials"] = trials
    data["sampler"] = {"name": "nsga2", "population_size": 50}
    if synthetic:
        data["accuracy"] = {"source": "synthetic", "n_tensors": 3}
    return parse_spec(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--storage", choices=("memory", "journal"), default="memory")
    ap.add_argument("--synthetic", action="store_true", help="synthetic accuracy suite")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = _spec(args.synthetic, args.trials)
    ev = Evaluator(spec)

    t0 = time.perf_counter()
    truth = sweep(spec, evaluator=ev)  # warms every quantization and hardware cost
    print(
        f"space: {spec.space.size} designs; warm-up sweep {time.perf_counter() - t0:.1f} s, "
        f"{int(truth['pareto'].sum())} on the true front"
    )

    with tempfile.TemporaryDirectory() as tmp:
        storage = create_storage(None, out_dir=tmp if args.storage == "journal" else None)
        study = open_study(spec, storage)
        ours: list[float] = []
        space = spec.space
        evaluate = ev.evaluate

        def timed(values):  # our code: design, cache/memo lookups, constraints, objectives
            a = time.perf_counter()
            out = evaluate(values)
            ours.append(time.perf_counter() - a)
            return out

        ev.evaluate = timed  # the production objective, with our part timed
        objective = make_objective(ev)

        t0 = time.perf_counter()
        study.optimize(objective, n_trials=args.trials)
        wall = time.perf_counter() - t0

    ours_s = sum(ours)
    print(
        f"storage: {args.storage}; {args.trials} trials in {wall:.2f} s "
        f"= {args.trials / wall:.1f} trials/s"
    )
    print(
        f"time in our code: {ours_s:.3f} s ({100 * ours_s / wall:.1f} %); "
        f"Optuna (sampler + storage + loop): {wall - ours_s:.2f} s "
        f"({100 * (wall - ours_s) / wall:.1f} %)"
    )
    print(
        f"our per-trial time in the study: median {1e3 * statistics.median(ours):.3f} ms, "
        f"p95 {1e3 * sorted(ours)[int(0.95 * len(ours))]:.3f} ms"
    )

    seen = [
        dict(zip([p.name for p in space.searched], row, strict=True))
        for row in truth[[f"param.{p.name}" for p in space.searched]]
        .head(200)
        .itertuples(index=False)
    ]
    seen = [
        {
            k: (int(v) if hasattr(v, "item") and isinstance(v.item(), int) else v)
            for k, v in d.items()
        }
        for d in seen
    ]
    samples = []
    for _ in range(5):
        for values in seen:
            a = time.perf_counter()
            evaluate(values)
            samples.append(time.perf_counter() - a)
    print(
        f"our overhead per trial on cache hits: median {1e6 * statistics.median(samples):.1f} us "
        f"(goal <= 1000 us), p95 {1e6 * sorted(samples)[int(0.95 * len(samples))]:.1f} us"
    )
    print(f"cache: {ev.cache.stats}")


if __name__ == "__main__":
    main()
