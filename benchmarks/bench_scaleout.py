"""Benchmark: trials per second of one study worked by 1, 2 and 4 ``mant-dse worker`` processes,
on PostgreSQL and on the embedded journal file, and what the time goes to.

The study is the quickstart space (1,920 designs, NSGA-II, 4 objectives) with the synthetic
accuracy suite; the shared on-disk quantization cache is warmed first, so a trial costs our
objective (cache hits + the hardware model) plus Optuna's sampler and storage round trips.
Rates are measured inside the storage (first trial start to last trial end), so process start-up
and imports are left out. Per run it prints:

- ``trials/s``: COMPLETE trials / that span;
- ``in trial``: the share of the workers' time spent between a trial's start and end as the
  storage records them (our objective plus the storage writes it makes: parameters, record,
  constraints); the rest is Optuna's sampler and the writes that open and close a trial;
- ``cpu/trial``: user + system CPU of all worker processes per trial (ms);
- ``db cpu/trial``: CPU of the PostgreSQL server processes per trial (ms; PostgreSQL only).

A first row runs the same study in this process on Optuna's in-memory storage: the rate without
any storage cost (our objective plus the sampler).

Without ``MANT_DSE_TEST_PG_URL`` a throwaway PostgreSQL server is started on loopback (the
logic of ``tests/pg_server.sh``, from ``tests/dse_tests/conftest.py``) and removed at the end.

Usage:
    python benchmarks/bench_scaleout.py [--trials 300] [--workers 1 2 4]
        [--storage postgres journal]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import yaml

from dse.evaluate.objective import Evaluator, make_objective
from dse.run.runner import CACHE_DIR, open_study
from dse.run.storage import create_storage
from dse.run.sweep import sweep
from dse.study.spec import load_spec, parse_spec, spec_to_dict

ROOT = Path(__file__).resolve().parents[1]


def _spec_data(trials: int) -> dict:
    data = spec_to_dict(load_spec(ROOT / "studies" / "quickstart.yaml"))
    data["n_trials"] = trials
    data["accuracy"] = {"source": "synthetic", "n_tensors": 3}
    return data


def _throwaway_postgres():
    path = ROOT / "tests" / "dse_tests" / "conftest.py"
    module_spec = importlib.util.spec_from_file_location("_dse_test_conftest", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.start_throwaway_postgres()


def _postgres_cpu_ticks() -> int:
    """CPU clock ticks of every process named postgres on this machine: own user + system time,
    plus that of their exited children (the backends of closed connections)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.find("(") + 1 : text.rfind(")")]
        if name.startswith("postgres"):
            fields = text.rsplit(")", 1)[-1].split()
            total += sum(int(x) for x in fields[11:15])
    return total


def _run(data: dict, url: str, out: Path, workers: int) -> dict[str, float]:
    data = {**data, "name": f"scaleout-{uuid.uuid4().hex[:8]}"}
    spec_path = out / f"{data['name']}.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    cmd = [sys.executable, "-m", "dse", "worker", str(spec_path), "--storage", url]
    cmd += ["--out", str(out)]
    db_before = _postgres_cpu_ticks()
    procs = [
        subprocess.Popen([*cmd, "--seed", str(i)], stdout=subprocess.DEVNULL, cwd=ROOT)
        for i in range(workers)
    ]
    cpu_s = 0.0
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise SystemExit(f"worker failed with status {p.returncode}")
        cpu_s += usage.ru_utime + usage.ru_stime
    db_s = (_postgres_cpu_ticks() - db_before) / os.sysconf("SC_CLK_TCK")
    study = optuna.load_study(study_name=data["name"], storage=create_storage(url, out_dir=None))
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    span_s = (last - first).total_seconds()
    inside_s = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    n = len(done)
    return {
        "trials": n,
        "rate": n / span_s,
        "inside": inside_s / (span_s * workers),
        "cpu_ms": 1e3 * cpu_s / n,
        "db_ms": 1e3 * db_s / n,
    }


def _in_memory(spec, out: Path, trials: int) -> float:
    """Trials/s of the study in this process on the in-memory storage (warm disk cache)."""
    study = open_study(spec, create_storage(None, out_dir=None))
    objective = make_objective(Evaluator(spec, cache_dir=out / CACHE_DIR))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return trials / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--storage", nargs="+", choices=("postgres", "journal"))
    args = ap.parse_args()
    storages = args.storage or ["postgres", "journal"]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    data = _spec_data(args.trials)
    print(f"cpus: {os.cpu_count()}; {args.trials} trials per run; quickstart space, synthetic")
    stop = None
    url = os.environ.get("MANT_DSE_TEST_PG_URL")
    if "postgres" in storages and not url:
        url, stop = _throwaway_postgres()
        print("postgres: throwaway server on loopback")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            t0 = time.perf_counter()
            spec = parse_spec(data)
            sweep(spec, evaluator=Evaluator(spec, cache_dir=out / CACHE_DIR))
            print(f"warm-up sweep (disk cache): {time.perf_counter() - t0:.1f} s")
            print(
                f"{'storage':<10}{'workers':>8}{'trials':>8}{'trials/s':>10}"
                f"{'in trial':>10}{'cpu/trial':>11}{'db cpu/trial':>14}"
            )
            r = _in_memory(spec, out, args.trials)
            print(f"{'memory':<10}{1:>8}{args.trials:>8}{r:>10.1f}{'-':>10}{'-':>11}{'-':>14}")
            for storage in storages:
                for w in args.workers:
                    if storage == "postgres":
                        target = url
                    else:
                        target = f"journal:///{out / f'bench-{w}.journal'}"
                    r = _run(data, target, out, w)
                    db = f"{r['db_ms']:.1f} ms" if storage == "postgres" else "-"
                    print(
                        f"{storage:<10}{w:>8}{r['trials']:>8}{r['rate']:>10.1f}"
                        f"{r['inside']:>10.0%}{r['cpu_ms']:>8.1f} ms{db:>14}",
                        flush=True,
                    )
    finally:
        if stop is not None:
            stop()


if __name__ == "__main__":
    main()
