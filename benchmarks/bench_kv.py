"""Figures for real-time KV quantization (mant.kv) and the fused datapath (mant.fused).

Prints, each timing the median of several runs with its reference measured in the same run:

1. real-time selection (one statistic + searchsorted) vs the oracle search, on a KV cache the
   size of SmolLM2-135M at 2,048 tokens (30 layers x 3 KV heads x 2,048 x 64, K and V);
2. MSE / oracle MSE of the real-time rule on the mant.md §7.1 mixture (calibrated on seed 0,
   measured on seed 1) and, when the SmolLM2 assets are cached, on real K/V (window 2, all 30
   layers): the M-ANT authors' variance rule (a0 / a25 / INT4 by var(x/absmax)) and the shipped
   LUT, each against the oracle search over the same candidates, in the authors' layout (K per
   token, V per channel) and in KIVI's (K per channel, V per token);
3. the fused-datapath emulation vs decode-then-matmul, and accumulator widths against the
   bound table of mant.md §8.2.

Usage: ``python benchmarks/bench_kv.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from mant.candidates import candidate_set
from mant.fused import (
    accumulator_bounds,
    accumulator_widths,
    decode_then_matmul,
    format_width_table,
    fused_group_dot,
)
from mant.kv import (
    KVQuantConfig,
    calibrate_thresholds,
    candidate_errors,
    kv_groups,
    quantize_kv,
    select_realtime,
    synthetic_groups,
)
from mant.quantize import quantize_groups


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_selection(repeats: int) -> None:
    rng = np.random.default_rng(0)
    shape = (90, 2048, 64)  # 30 layers x 3 KV heads, 2,048 tokens, head_dim 64
    k = rng.standard_t(5, shape).astype(np.float32)
    v = rng.standard_normal(shape).astype(np.float32)
    cfg = KVQuantConfig(  # KIVI layout, LUT over mant-unicore16
        candidates="mant-unicore16", selection="lut", k_grouping="channel", v_grouping="token"
    )
    lut = cfg.resolved_thresholds()
    cs = candidate_set(cfg.candidates)
    groups = np.concatenate([kv_groups(k, "channel", 64)[0], kv_groups(v, "token", 64)[0]])
    n = groups.shape[0]
    t_select = _median_s(lambda: select_realtime(groups, lut), repeats)
    t_oracle = _median_s(lambda: quantize_groups(groups, cs, scale_format="fp16"), repeats)
    choice = select_realtime(groups, lut)
    t_apply = _median_s(
        lambda: quantize_groups(groups, cs, choice=choice, scale_format="fp16"), repeats
    )
    t_rt = _median_s(lambda: quantize_kv(k, v, cfg), repeats)
    t_or = _median_s(lambda: quantize_kv(k, v, replace(cfg, selection="oracle")), repeats)
    authors = KVQuantConfig()
    t_var = _median_s(lambda: quantize_kv(k, v, authors), repeats)
    t_var_or = _median_s(lambda: quantize_kv(k, v, replace(authors, selection="oracle")), repeats)
    print(
        f"== selection on {n:,} groups of 64 ({2 * k.size / 1e6:.1f} M values), "
        f"median of {repeats}"
    )
    print(f"  real-time select (statistic + searchsorted): {t_select * 1e3:8.1f} ms")
    print(f"  oracle search (16 candidates, argmin MSE):   {t_oracle * 1e3:8.1f} ms")
    print(f"  quantize with the given choice:              {t_apply * 1e3:8.1f} ms")
    print(f"  select / oracle search:                      {t_select / t_oracle:8.3f}")
    print(f"  quantize_kv LUT {t_rt:.2f} s, oracle {t_or:.2f} s, ratio {t_rt / t_or:.2f}")
    print(
        f"  quantize_kv authors' (variance, mant-kv3) {t_var:.2f} s, oracle over mant-kv3 "
        f"{t_var_or:.2f} s, ratio {t_var / t_var_or:.2f}"
    )


def _ratio(errors: np.ndarray, pick: np.ndarray) -> float:
    return float(errors[np.arange(errors.shape[0]), pick].sum() / errors.min(axis=1).sum())


def bench_accuracy() -> None:
    train = synthetic_groups(3000, 64, seed=0)
    held = synthetic_groups(3000, 64, seed=1)
    errors = candidate_errors(held, "mant-unicore16", scale_format="fp32")
    print("== MSE / oracle MSE, mant.md 7.1 mixture (calibrate seed 0, measure seed 1)")
    for rule in ("midpoint", "min_mse"):
        for stat in ("rms_absmax", "meanabs_absmax", "std_absmax", "kurtosis"):
            th = calibrate_thresholds(
                train, "mant-unicore16", stat, rule=rule, scale_format="fp32"
            )
            print(
                f"  {rule:<9} {stat:<15} calibration {th.mse_ratio:.3f}  "
                f"held-out {_ratio(errors, select_realtime(held, th)):.3f}"
            )
    fixed = errors.sum(axis=0) / errors.min(axis=1).sum()
    print(f"  best single type {fixed.min():.3f}, always INT4 {fixed[-1]:.3f}")
    try:
        from llmrun import kv_dump
        from llmrun.assets import AssetState, status

        if any(s.state is not AssetState.OK for s in status(["smollm2-135m", "janeaustenr"])):
            raise LookupError("assets not cached")
    except (ImportError, LookupError) as exc:
        print(f"  (real K/V skipped: {exc})")
        return
    d = kv_dump(window=2)
    layouts = {
        "authors (K token, V channel)": ("token", "channel"),
        "KIVI (K channel, V token)": ("channel", "token"),
    }
    rules = (("mant-kv3", "variance"), ("mant-unicore16", "lut"))
    print("  SmolLM2 window 2, 30 layers, g = 64, fp16 scales (V channel: last tokens mod 64 fp):")
    print("  layout                       set             rule      K rel MSE  V rel MSE  /oracle")
    for layout, (kg, vg) in layouts.items():
        for cands, rule in rules:
            cfg = KVQuantConfig(candidates=cands, selection=rule, k_grouping=kg, v_grouping=vg)
            err = oracle = 0.0
            k_err = k_sig = v_err = v_sig = 0.0
            for layer in range(30):
                res = quantize_kv(d["k"][layer], d["v"][layer], cfg, compare_oracle=True)
                for t in (res.k, res.v):
                    err += t.squared_error
                    oracle += float(np.sum(t.oracle_group_error))
                k_err, k_sig = k_err + res.k.squared_error, k_sig + res.k.signal_energy
                v_err, v_sig = v_err + res.v.squared_error, v_sig + res.v.signal_energy
            print(
                f"  {layout:<28} {cands:<15} {rule:<9} {k_err / k_sig:9.3e}  "
                f"{v_err / v_sig:9.3e}  {err / oracle:7.3f}"
            )


def bench_fused(repeats: int) -> None:
    rng = np.random.default_rng(1)
    n_out, k_len, m, g = 256, 4096, 8, 64
    sign = rng.integers(0, 2, (n_out, k_len))
    index = rng.integers(0, 8, (n_out, k_len))
    a = rng.integers(0, 128, (n_out, k_len // g))
    x = rng.integers(-128, 128, (m, k_len))
    t_f = _median_s(lambda: fused_group_dot(sign, index, a, x, g), repeats)
    t_d = _median_s(lambda: decode_then_matmul(sign, index, a, x, g), repeats)
    same = np.array_equal(
        fused_group_dot(sign, index, a, x, g), decode_then_matmul(sign, index, a, x, g)
    )
    print(
        f"== fused emulation, {n_out}x{k_len} MANT4 x {m}x{k_len} INT8, g={g}, median of {repeats}"
    )
    print(
        f"  fused {t_f * 1e3:.1f} ms, decode-then-matmul {t_d * 1e3:.1f} ms, ratio {t_f / t_d:.1f}"
    )
    print(f"  bit-exact: {same}")
    measured = accumulator_widths(sign, index, a, x, g)
    bound = accumulator_bounds(bits=4, group_size=g, a_max=127, n_groups=k_len // g)
    print("  accumulator widths, random operands vs worst case (mant.md 8.2):")
    print("  " + format_width_table(measured, bound).replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bench_selection(args.repeats)
    bench_accuracy()
    bench_fused(args.repeats)


if __name__ == "__main__":
    main()
