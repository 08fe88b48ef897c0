"""``mant-dse hw serve``: serving figures of a model on an accelerator (:func:`hwmodel.serve`).

Examples::

    mant-dse hw serve --accelerator mant --model qwen3-30b-a3b --prompt-len 32768 --gen-len 256 \\
        --batch 1,8,32 --json
    mant-dse hw serve --accelerator mant --model llama-3.1-70b --prompt-len 4096 --gen-len 512 \\
        --batch 4 --speculative llama-3.1-8b --draft-tokens 4 --acceptance 0.7 --memory-gb 80

The memory that bounds ``max_batch`` is ``--memory-gb`` when given (e.g. a server with more
stacks than the preset), else the accelerator's DRAM capacity (``dram.capacity_bytes``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any

__all__ = ["add_serve_parser", "memory_bytes", "run_serve", "with_mla_attention"]

_ROW_KEYS = (
    "batch",
    "ttft_s",
    "tpot_s",
    "tokens_per_s",
    "energy_per_token_pj",
    "kv_footprint_bytes",
    "max_batch",
)


def add_serve_parser(
    sub: Any,
    common: Callable[[argparse.ArgumentParser], None],
    accelerator: Callable[[argparse.Namespace], Any],
    check_flags: Callable[[Any, argparse.Namespace], None],
) -> None:
    """Register ``serve`` under ``mant-dse hw``.

    ``common`` adds the accelerator flags, ``accelerator`` builds the accelerator from them and
    ``check_flags`` validates them (the ``hw`` command's own helpers, passed in so that this
    module does not import ``dse.cli.hw``).
    """
    s = sub.add_parser("serve", help="TTFT, time per token, tokens/s and KV memory of serving")
    common(s)
    s.add_argument("--model", required=True, help="model preset or model file")
    s.add_argument("--prompt-len", type=int, required=True, help="prompt tokens per sequence")
    s.add_argument("--gen-len", type=int, required=True, help="generated tokens per sequence")
    s.add_argument("--batch", default="1", help="batch sizes, comma-separated (e.g. 1,8,32)")
    s.add_argument("--chunked-prefill", type=int, help="prefill chunk size, tokens")
    s.add_argument(
        "--memory-gb",
        type=float,
        help="memory for weights + KV cache, GB (1e9 bytes); default: the accelerator's DRAM "
        "capacity",
    )
    s.add_argument(
        "--mla-attention",
        choices=("naive", "absorbed"),
        help="override an MLA model's attention form (docs/hwmodel.md, Workload conventions)",
    )
    s.add_argument(
        "--routing-skew",
        type=float,
        help="MoE expert popularity ~ i^-S (Zipf exponent S; default: the model's, 0 = uniform)",
    )
    s.add_argument("--speculative", metavar="DRAFT_MODEL", help="draft model preset or file")
    s.add_argument("--draft-tokens", type=int, default=4, help="draft tokens per verify step")
    s.add_argument("--acceptance", type=float, default=0.7, help="per-token acceptance rate")
    s.set_defaults(func=functools.partial(run_serve, accelerator=accelerator, check=check_flags))


def memory_bytes(acc: Any, memory_gb: float | None) -> float | None:
    """The memory bound of ``max_batch``: ``--memory-gb`` when given, else the accelerator's
    DRAM capacity."""
    if memory_gb is not None:
        return memory_gb * 1e9
    capacity = getattr(acc.dram, "capacity_bytes", None)
    return float(capacity) if capacity else None


def with_mla_attention(model: Any, attention: str | None) -> Any:
    """The model with its MLA attention form replaced (unchanged without MLA or a choice)."""
    if attention is None or model.mla is None:
        return model
    return dataclasses.replace(model, mla=dataclasses.replace(model.mla, attention=attention))


def _batches(text: str) -> tuple[list[int], bool]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        return [], False
    return values, bool(values) and all(v >= 1 for v in values)


def run_serve(
    args: argparse.Namespace,
    *,
    accelerator: Callable[[argparse.Namespace], Any],
    check: Callable[[Any, argparse.Namespace], None],
) -> int:
    from dse.study.model_source import load_model_config, warn_unmodelled
    from hwmodel import Speculative, serve
    from mant.errors import IssueCollector

    c = IssueCollector()
    batches, ok = _batches(args.batch)
    c.check(ok, "--batch", "must be ints >= 1, comma-separated", args.batch)
    c.check(args.prompt_len >= 1, "--prompt-len", "must be an int >= 1", args.prompt_len)
    c.check(args.gen_len >= 1, "--gen-len", "must be an int >= 1", args.gen_len)
    if args.chunked_prefill is not None:
        c.check(args.chunked_prefill >= 1, "--chunked-prefill", "must be an int >= 1")
    if args.memory_gb is not None:
        c.check(args.memory_gb > 0, "--memory-gb", "must be a number > 0", args.memory_gb)
    if args.routing_skew is not None:
        ok_s = 0 <= args.routing_skew < 100
        c.check(ok_s, "--routing-skew", "must be a number in [0, 100)", args.routing_skew)
    if args.speculative:
        c.check(args.draft_tokens >= 1, "--draft-tokens", "must be an int >= 1", args.draft_tokens)
        ok_a = 0.0 <= args.acceptance < 1.0
        c.check(ok_a, "--acceptance", "must be a number in [0, 1)", args.acceptance)
    check(c, args)
    c.raise_if_any()
    model = with_mla_attention(load_model_config(args.model, "--model"), args.mla_attention)
    if args.routing_skew is not None and model.moe is not None:
        moe = dataclasses.replace(model.moe, routing_skew=args.routing_skew)
        model = dataclasses.replace(model, moe=moe)
    warn_unmodelled(model)
    spec = None
    if args.speculative:
        draft = with_mla_attention(
            load_model_config(args.speculative, "--speculative"), args.mla_attention
        )
        warn_unmodelled(draft)
        spec = Speculative(draft=draft, draft_tokens=args.draft_tokens, acceptance=args.acceptance)
    acc = accelerator(args)
    memory = memory_bytes(acc, args.memory_gb)
    rows = [
        serve(
            acc,
            model,
            prompt_len=args.prompt_len,
            gen_len=args.gen_len,
            batch=b,
            chunked_prefill=args.chunked_prefill,
            memory_bytes=memory,
            speculative=spec,
        ).to_dict()
        for b in batches
    ]
    head = {
        "accelerator": acc.name,
        "model": args.model,
        "prompt_len": args.prompt_len,
        "gen_len": args.gen_len,
        "chunked_prefill": args.chunked_prefill,
        "memory_bytes": memory,
        "speculative": None
        if spec is None
        else {
            "draft": args.speculative,
            "draft_tokens": spec.draft_tokens,
            "acceptance": spec.acceptance,
            "tokens_per_step": spec.tokens_per_step,
        },
        "mla_attention": None if model.mla is None else str(model.mla.attention),
        "unmodelled": list(model.unmodelled),
    }
    if args.json:
        out: dict[str, Any] = {**head, "rows": rows}
        if len(rows) == 1:  # one batch: its figures also at the top level
            out.update({k: rows[0][k] for k in _ROW_KEYS})
        print(json.dumps(out))
        return 0
    print(
        f"{model.name} on {acc.name}: prompt {args.prompt_len}, generate {args.gen_len}"
        + (f", chunked prefill {args.chunked_prefill}" if args.chunked_prefill else "")
        + (f", speculative {args.speculative} k={spec.draft_tokens}" if spec else "")
    )
    print(
        f"  {'batch':>6}{'TTFT s':>12}{'TPOT ms':>12}{'tokens/s':>12}{'uJ/token':>12}"
        f"{'KV GB':>10}{'max batch':>11}"
    )
    for r in rows:
        mb = "-" if r["max_batch"] is None else str(r["max_batch"])
        print(
            f"  {r['batch']:>6}{r['ttft_s']:>12.4g}{r['tpot_s'] * 1e3:>12.4g}"
            f"{r['tokens_per_s']:>12.4g}{r['energy_per_token_pj'] / 1e6:>12.4g}"
            f"{r['kv_footprint_bytes'] / 1e9:>10.4g}{mb:>11}"
        )
    return 0
