"""Benchmark: hypervolume ratio after 500 trials against the exact front, per shipped study.

For every shipped study whose space can be swept (the exact front; ``--with-ppl`` adds the
perplexity study, about a minute of SmolLM2 forwards), three ways of spending 500 sampler trials:

- ``shipped``: the study's own sampler as shipped (``sampler: auto`` chooses a grid over the
  quantization settings when they fit the budget, else NSGA-II; both solve the hardware);
- ``nsga2+solve``: NSGA-II over the quantization settings, hardware solved exactly per setting;
- ``nsga2``: NSGA-II over every parameter, one design per trial (the pre-solve baseline).

Goal (issue 12): >= 0.95 after 500 trials on every such study, iso-area included. The three
runs share one evaluator, so numerics computed once serve all (times are not compared).

Usage:
    python benchmarks/bench_search.py [--trials 500] [--with-ppl] [--studies quickstart ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import optuna

from dse.evaluate.failures import counts_as_done
from dse.evaluate.objective import Evaluator, make_objective
from dse.results.frame import frame_from_study
from dse.run.runner import open_study
from dse.run.samplers import n_settings
from dse.run.storage import create_storage
from dse.run.sweep import hypervolume_ratio_curve, sweep
from dse.study.spec import load_spec, parse_spec, spec_to_dict

ROOT = Path(__file__).resolve().parents[1]
SWEEPABLE = ("quickstart", "iso-area", "llama2-7b-decode")


def _variant(spec, sampler: dict | str | None):
    data = spec_to_dict(spec)
    if sampler is not None:
        data["sampler"] = sampler
    return parse_spec(data)


def _run(spec, ev: Evaluator, trials: int) -> tuple[object, list[int], float]:
    study = open_study(spec, create_storage(None, out_dir=None))
    ev_spec = Evaluator(spec, accuracy=ev.accuracy, hardware=ev.hardware)
    ev_spec.cache = ev.cache
    t0 = time.perf_counter()
    study.optimize(make_objective(ev_spec), n_trials=trials)
    elapsed = time.perf_counter() - t0
    numbers = sorted(t.number for t in study.get_trials(deepcopy=False) if counts_as_done(t))
    return frame_from_study(study, spec), numbers, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--with-ppl", action="store_true", help="include studies/smollm2-ppl.yaml")
    ap.add_argument("--studies", nargs="*", default=None, help="study names (default: all)")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    names = list(args.studies or SWEEPABLE) + (["smollm2-ppl"] if args.with_ppl else [])
    for name in names:
        spec = load_spec(ROOT / "studies" / f"{name}.yaml")
        ev = Evaluator(spec)
        t0 = time.perf_counter()
        truth = sweep(spec, evaluator=ev)
        t_sweep = time.perf_counter() - t0
        print(
            f"{name}: {len(truth):,} designs in {n_settings(spec):,} settings, "
            f"{int(truth['pareto'].sum())} on the exact front (sweep {t_sweep:.1f} s)"
        )
        pop = max(spec.sampler.population_size, 20)
        variants = {
            "shipped": _variant(spec, None),
            "nsga2+solve": _variant(
                spec, {"name": "nsga2", "population_size": pop, "solve_hardware": True}
            ),
            "nsga2": _variant(spec, {"name": "nsga2", "population_size": pop}),
        }
        for label, v in variants.items():
            df, numbers, elapsed = _run(v, ev, args.trials)
            n = min(args.trials, len(numbers))
            ratio = hypervolume_ratio_curve(df, truth, v, [n], numbers)[n]
            print(
                f"  {label:<12} hypervolume ratio after {n} trials: {ratio:.4f} "
                f"({len(df)} designs recorded, {elapsed:.1f} s)"
            )


if __name__ == "__main__":
    main()
