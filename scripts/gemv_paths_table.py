"""LLaMA-7B whole-model decode and prefill, 2K..128K, under each GEMV path (docs/hwmodel.md).

For every ``array.gemv_path`` this prints, per context length, the latency of one decode step
(one token against a KV cache of that length, batch 1) on the ``mant`` preset and on the
``tender`` preset with the M-ANT paper's baseline setting (FP16 KV cache, i.e. 16-bit KV in its
16-bit mode), their ratio, the share of the attention GEMMs in M-ANT's time, M-ANT's energy
and the energy ratio. Then prefill (the whole prompt) under the SCALE-Sim rule, which every path
leaves unchanged for M > ``gemv_max_m``, and the arithmetic / geometric means and maxima of the
ratios over the seven contexts.

Usage: ``python scripts/gemv_paths_table.py``
"""

from __future__ import annotations

import math

from hwmodel import GemvPath, Precision, evaluate, llm_workload, load_accelerator

CONTEXTS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def _tender_fp16_kv() -> tuple[object, Precision]:
    acc = load_accelerator("tender")
    p = acc.default_precision
    return acc, Precision(**{**p.to_dict(), "kv_bits": 16, "kv_bits_per_element": 16.0})


def _means(ratios: list[float]) -> str:
    arith = sum(ratios) / len(ratios)
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return f"{arith:.2f} / {geo:.2f}, {max(ratios):.2f}"


def main() -> None:
    means: dict[str, tuple[list[float], list[float]]] = {}
    mant = load_accelerator("mant")
    tender, tender_prec = _tender_fp16_kv()
    print(
        "| gemv_path | context | M-ANT ms | Tender (KV16) ms | speedup | M-ANT attention share "
        "| M-ANT mJ | energy reduction |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in GemvPath:
        m_acc = mant.with_array(gemv_path=str(path))
        t_acc = tender.with_array(gemv_path=str(path))  # type: ignore[attr-defined]
        speed, energy = means.setdefault(f"decode, `{path}`", ([], []))
        for ctx in CONTEXTS:
            wl = llm_workload("llama-7b", phase="decode", seq_len=ctx)
            cm = evaluate(m_acc, wl)
            ct = evaluate(t_acc, wl, tender_prec)
            speed.append(ct.cycles / cm.cycles)
            energy.append(ct.energy_pj / cm.energy_pj)
            share = evaluate(m_acc, wl.attention()).cycles / cm.cycles
            print(
                f"| {path} | {ctx // 1024}K | {cm.latency_s * 1e3:,.1f} | "
                f"{ct.latency_s * 1e3:,.1f} | {ct.cycles / cm.cycles:.2f}x | {share:.0%} | "
                f"{cm.energy_pj / 1e9:,.1f} | {ct.energy_pj / cm.energy_pj:.2f}x |"
            )
    print()
    print("| prefill (load_path) | M-ANT s | Tender (KV16) s | speedup | energy reduction |")
    print("|---|---|---|---|---|")
    speed, energy = means.setdefault("prefill", ([], []))
    for ctx in CONTEXTS:
        wl = llm_workload("llama-7b", phase="prefill", seq_len=ctx)
        cm = evaluate(mant, wl)
        ct = evaluate(tender, wl, tender_prec)  # type: ignore[arg-type]
        speed.append(ct.cycles / cm.cycles)
        energy.append(ct.energy_pj / cm.energy_pj)
        print(
            f"| {ctx // 1024}K | {cm.latency_s:,.2f} | {ct.latency_s:,.2f} | "
            f"{ct.cycles / cm.cycles:.2f}x | {ct.energy_pj / cm.energy_pj:.2f}x |"
        )

    print()
    print("| | speedup avg (arith / geo), max | energy reduction avg (arith / geo), max |")
    print("|---|---|---|")
    for name, (speed, energy) in means.items():
        print(f"| {name} | {_means(speed)} | {_means(energy)} |")


if __name__ == "__main__":
    main()
