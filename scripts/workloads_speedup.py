"""M-ANT's serving speedup on a GQA, an MoE and an MLA model, 2K..128K prompts (issue 19).

For Llama-3.1-8B (GQA), Qwen3-30B-A3B (MoE) and DeepSeek-V2-Lite (MLA), batch 1, a prompt of
L tokens and 64 generated tokens, this prints ``hwmodel.serve``'s time per output token (TPOT)
and time to first token (TTFT) on the ``mant`` preset and their ratios against the ``tender``
preset with the M-ANT paper's baseline setting (FP16 KV cache) and against the ``int8`` preset.
Decode GEMVs take the ``memory_width`` path with ``gemv_max_m`` 128 (docs/hwmodel.md, "Decode
GEMVs": the path under which decode time follows the bytes moved); prefill keeps the SCALE-Sim
rule. The same figures come from
``mant-dse hw serve --accelerator mant --model MODEL --prompt-len L --gen-len 64 --batch 1
--gemv-path memory_width --gemv-max-m 128 [--mla-attention absorbed] --json`` (``tender`` runs
there at its preset KV4). DeepSeek-V2-Lite is shown in both MLA forms: ``absorbed`` attends the
latent cache itself; ``naive`` attends per-head K/V, whose traffic ``evaluate`` counts as if
cached (docs/hwmodel.md, Workload conventions).

Usage: ``python scripts/workloads_speedup.py``
"""

from __future__ import annotations

import math

from dse.cli.serve import with_mla_attention
from hwmodel import Precision, load_accelerator, load_model, serve

MODELS = (
    ("GQA", "llama-3.1-8b", None),
    ("MoE", "qwen3-30b-a3b", None),
    ("MLA, absorbed", "deepseek-v2-lite", "absorbed"),
    ("MLA, naive", "deepseek-v2-lite", "naive"),
)
CONTEXTS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def _acc(name: str):
    return load_accelerator(name).with_array(gemv_path="memory_width", gemv_max_m=128)


def main() -> None:
    mant, tender, int8 = _acc("mant"), _acc("tender"), _acc("int8")
    p = tender.default_precision
    tender_kv16 = Precision(**{**p.to_dict(), "kv_bits": 16, "kv_bits_per_element": 16.0})
    print(
        "| model | prompt | M-ANT TPOT ms | TPOT speedup over Tender (KV16) | over INT8 "
        "| M-ANT TTFT s | TTFT speedup over Tender (KV16) |"
    )
    print("|---|---|---|---|---|---|---|")
    summary = []
    for kind, name, mla in MODELS:
        cfg = with_mla_attention(load_model(name), mla)
        ratios = []
        for ctx in CONTEXTS:
            kw = {"prompt_len": ctx, "gen_len": 64, "batch": 1}
            m = serve(mant, cfg, **kw)
            t = serve(tender, cfg, precision=tender_kv16, **kw)
            i = serve(int8, cfg, **kw)
            ratios.append(t.tpot_s / m.tpot_s)
            print(
                f"| {name} ({kind}) | {ctx // 1024}K | {m.tpot_s * 1e3:,.2f} | "
                f"{t.tpot_s / m.tpot_s:.2f}x | {i.tpot_s / m.tpot_s:.2f}x | {m.ttft_s:,.2f} | "
                f"{t.ttft_s / m.ttft_s:.2f}x |"
            )
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
        summary.append((name, kind, min(ratios), max(ratios), geo))
    print()
    print("| model | TPOT speedup over Tender (KV16), 2K..128K: min / max / geomean |")
    print("|---|---|")
    for name, kind, lo, hi, geo in summary:
        print(f"| {name} ({kind}) | {lo:.2f}x / {hi:.2f}x / {geo:.2f}x |")


if __name__ == "__main__":
    main()
