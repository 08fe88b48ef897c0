"""``mant-dse ppl``: perplexity of the real SmolLM2-135M under a quantization recipe."""

from __future__ import annotations

import argparse
import json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ppl",
        help="perplexity of a real LLM under a quantization recipe",
        description=(
            "Perplexity over consecutive non-overlapping windows of a corpus (each window scored "
            "independently, its first token unscored). Unquantized, 4 x 512 tokens of Pride and "
            "Prejudice give 20.83. --recipe names a recipe (mant-dse recipes) or a YAML file; "
            "--weights, --acts and --kv replace that part with a tensor recipe "
            "NAME[:gN][:scale=FMT][:RULE][:grouping=token|channel][:staging=B] ('fp' leaves it "
            "unquantized); --acts covers every activation quantizer (linear inputs, Q, "
            "attention probabilities and outputs). The KV cache follows the authors' decode: V "
            "tokens wait in INT8 until their group of g completes (--prefill sets the prompt "
            "length that fixes the INT8 scale; default g). SmolLM2's linear weights are stored "
            "as Q4_1 (4-bit, g32): weight results re-quantize a 4-bit grid."
        ),
    )
    parser.add_argument("--model", default="smollm2-135m", help="model (default smollm2-135m)")
    parser.add_argument(
        "--recipe", default="fp16", help="named recipe or YAML file (default fp16)"
    )
    parser.add_argument("--weights", default=None, help="weights of every projection")
    parser.add_argument("--acts", default=None, help="every activation quantizer, e.g. int8:g64")
    parser.add_argument("--kv", default=None, help="K and V, e.g. mant-kv3:g64 or int4:g64")
    parser.add_argument(
        "--prefill", type=int, default=None, help="prompt tokens fixing V's INT8 scale (default g)"
    )
    parser.add_argument("--corpus", default="austen-pride", help="text (default austen-pride)")
    parser.add_argument("--windows", type=int, default=4, help="number of windows (default 4)")
    parser.add_argument(
        "--window-len", type=int, default=512, help="tokens per window (default 512)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dse.recipe_io import load_recipe
    from llmrun import perplexity

    result = perplexity(
        weights=args.weights,
        kv=args.kv,
        acts=args.acts,
        recipe=load_recipe(args.recipe, "recipe"),
        prefill_tokens=args.prefill,
        corpus=args.corpus,
        windows=args.windows,
        window_len=args.window_len,
        model=args.model,
    )
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
        return 0
    print(f"model       {result.model}   corpus {result.corpus}   recipe {result.recipe}")
    print(f"weights     {result.weights}   ({result.weight_bits_per_element:.4g} bits/el)")
    print(f"acts        {result.acts}   ({result.act_bits_per_element:.4g} bits/el)")
    print(f"kv          {result.kv}   ({result.kv_bits_per_element:.4g} bits/el)")
    print(f"windows     {result.windows} x {result.window_len} tokens")
    print(f"perplexity  {result.ppl:.4f}")
    print(f"tokens      {result.tokens} scored")
    seconds = f"{result.seconds:.2f} s forward ({result.seconds_per_window:.2f} s/window)"
    if result.weight_seconds:
        seconds += f", {result.weight_seconds:.1f} s weight quantization"
    print(f"seconds     {seconds}")
    if result.weight_rel_mse is not None:
        print(
            f"weight err  {result.weight_rel_mse:.4e} (relative MSE, linear layers; stored Q4_1)"
        )
    return 0
