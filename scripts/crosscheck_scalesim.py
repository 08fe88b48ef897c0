"""Run SCALE-Sim 3.0.0 on small GEMMs and compare with hwmodel's closed form.

SCALE-Sim needs numpy < 2.4 (upstream issue #160), so it lives in its own virtual environment
and never in the main one::

    python -m venv SCALESIM_VENV
    SCALESIM_VENV/bin/pip install scalesim==3.0.0 "numpy<2.4"
    python scripts/crosscheck_scalesim.py --scalesim-python SCALESIM_VENV/bin/python

The main process computes hwmodel's figures; a child process in the SCALE-Sim environment
(this same file with ``--worker``) runs SCALE-Sim through its Python API with
``save_disk_space=True`` and prints a JSON line per run. Config keys and file formats follow
the project's ``hardware.md`` §3.1 (a layout file is always required; every topology row ends
with a comma; word size is 1 byte). Each run takes about 0.3 s for the default shapes.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SHAPES = [(64, 64, 64), (37, 50, 91), (100, 20, 300), (1, 256, 512), (128, 96, 33)]
ARRAYS = [(32, 32), (16, 8), (8, 24)]
DATAFLOWS = ["os", "ws", "is"]

_CONFIG = """[general]
run_name = run

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : 1024
FilterSramSzkB : 1024
OfmapSramSzkB : 1024
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : 10
Dataflow : {df}
MemoryBanks : 1
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : CALC
UseRamulatorTrace : False
"""


def _worker(jobs: list[tuple[int, int, int, int, int, str]]) -> None:
    """Run SCALE-Sim on each job (inside the SCALE-Sim environment) and print JSON lines."""
    import time

    from scalesim.scale_sim import scalesim

    for m, n, k, rows, cols, df in jobs:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "a.cfg").write_text(_CONFIG.format(rows=rows, cols=cols, df=df))
            (d / "t.csv").write_text(f"Layer name, M, N, K,\nG, {m}, {n}, {k},\n")
            (d / "l.csv").write_text("Layer name,\n")
            t0 = time.perf_counter()
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(d / "a.cfg"),
                topology=str(d / "t.csv"),
                layout=str(d / "l.csv"),
                input_type_gemm=True,
            )
            sim.run_scale(top_path=str(d / "out"))
            wall = time.perf_counter() - t0
            compute = _first_row(d / "out" / "run" / "COMPUTE_REPORT.csv")
            access = _first_row(d / "out" / "run" / "DETAILED_ACCESS_REPORT.csv")
        print(
            json.dumps(
                {
                    "job": [m, n, k, rows, cols, df],
                    "compute": compute,
                    "access": access,
                    "wall_s": wall,
                }
            ),
            flush=True,
        )


def _first_row(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        rows = [[c.strip() for c in r] for r in csv.reader(fh)]
    return dict(zip(rows[0], rows[1], strict=False))


def _pick(row: dict[str, str], *needles: str) -> float:
    for key, value in row.items():
        low = key.lower()
        if all(n in low for n in needles):
            return float(value)
    raise KeyError(f"no column with {needles} in {list(row)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", help="python of the SCALE-Sim virtual environment")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    jobs = [(m, n, k, r, c, df) for (m, n, k) in SHAPES for (r, c) in ARRAYS for df in DATAFLOWS]
    if args.worker:
        _worker(jobs)
        return 0
    if not args.scalesim_python:
        parser.error("--scalesim-python is required (see the module docstring)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hwmodel import systolic_gemm

    proc = subprocess.run(
        [args.scalesim_python, __file__, "--worker"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    mismatches, sim_wall = 0, 0.0
    print(
        f"{'GEMM':>12} {'array':>6} {'df':>3} {'SCALE-Sim':>10} {'hwmodel':>10} {'util':>13} "
        f"{'map eff':>13} {'sram rd/wr':>10}"
    )
    for res in results:
        m, n, k, rows, cols, df = res["job"]
        ours = systolic_gemm(m, n, k, rows, cols, df)
        comp, acc = res["compute"], res["access"]
        total = int(float(comp["Total Cycles"]))
        util = float(comp["Overall Util %"])
        mapeff = float(comp["Mapping Efficiency %"])
        sram = (
            int(_pick(acc, "sram", "ifmap", "reads")),
            int(_pick(acc, "sram", "filter", "reads")),
            int(_pick(acc, "sram", "ofmap", "writes")),
        )
        ours_sram = (ours.sram_ifmap_reads, ours.sram_filter_reads, ours.sram_ofmap_writes)
        ok = (
            total == ours.scalesim_total_cycles
            and abs(util - ours.scalesim_util_pct) < 0.006
            and abs(mapeff - 100 * ours.mapping_efficiency) < 0.006
            and sram == ours_sram
        )
        mismatches += not ok
        sim_wall += res["wall_s"]
        print(
            f"{f'{m}x{n}x{k}':>12} {f'{rows}x{cols}':>6} {df:>3} {total:>10} "
            f"{ours.scalesim_total_cycles:>10} {util:>6.2f}/{ours.scalesim_util_pct:<6.2f} "
            f"{mapeff:>6.2f}/{100 * ours.mapping_efficiency:<6.2f} "
            f"{'ok' if sram == ours_sram else 'DIFF':>10}{'' if ok else '  <-- mismatch'}"
        )
    print(f"{len(results)} runs, {mismatches} mismatches, SCALE-Sim wall {sim_wall:.1f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
