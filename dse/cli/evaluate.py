"""``mant-dse evaluate FOLDER``: re-evaluate an exported design from its files.

Example:
    mant-dse evaluate designs/trial-00012 --json
    mant-dse evaluate designs/trial-00012 --model llama-2-13b --phase prefill --seq-len 512
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="re-evaluate an exported design (mant-dse export) on its workload or another",
    )
    p.add_argument("folder", type=Path, help="an exported design folder (holds design.yaml)")
    p.add_argument("--model", help="model preset or model YAML (default: the recorded one)")
    p.add_argument("--phase", choices=("prefill", "decode"), help="default: the recorded one")
    p.add_argument("--seq-len", type=int, help="prompt / context length (default: recorded)")
    p.add_argument("--batch", type=int, help="sequences (default: recorded)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from dse.export import evaluate_exported, recorded_metrics

    override = {"model": args.model, "phase": args.phase, "seq_len": args.seq_len}
    override["batch"] = args.batch
    override = {k: v for k, v in override.items() if v is not None}
    metrics = evaluate_exported(args.folder, workload=override or None)
    recorded = {} if override else recorded_metrics(args.folder)
    if args.json:
        print(json.dumps({"metrics": metrics, "recorded": recorded or None}))
        return 0
    print(f"design {args.folder}" + (" (workload overridden)" if override else ""))
    for name, value in metrics.items():
        line = f"  {name:<26}{value:.6g}"
        if name in recorded:
            same = value == recorded[name] or (math.isnan(value) and math.isnan(recorded[name]))
            line += "  (= recorded)" if same else f"  (recorded {recorded[name]:.6g})"
        print(line)
    return 0
