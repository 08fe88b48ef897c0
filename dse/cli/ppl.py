"""``mant-dse ppl``: perplexity of the real SmolLM2-135M under a quantization recipe."""

from __future__ import annotations

import argparse
import json
from typing import Any

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
            "NAME[:gN][:scale=FMT][:RULE][:grouping=token|channel][:staging=B], weights also "
            "[:gptq|awq][:hadamard] ('fp' leaves it unquantized). Output-MSE, GPTQ and AWQ "
            "weights calibrate block by block on the first 16 x 512 tokens of Emma (another "
            "text than the scored one) and are cached; --acts covers every activation "
            "quantizer (linear inputs, Q, attention probabilities and outputs). The KV cache "
            "follows the authors' decode: V "
            "tokens wait in INT8 until their group of g completes (--prefill sets the prompt "
            "length that fixes the INT8 scale; default g). SmolLM2's linear weights are stored "
            "as Q4_1 (4-bit, g32): the unquantized run is labelled 'stored (Q4_1 weights)' and "
            "weight results re-quantize a 4-bit grid. A quantized run prints the unquantized "
            "baseline and the difference beside it."
        ),
    )
    parser.add_argument(
        "--model",
        default="smollm2-135m",
        help="smollm2-135m (default) or a Hugging Face checkpoint folder (Llama, Mistral, Qwen2: "
        "config.json, *.safetensors in fp32/fp16/bf16, tokenizer.json)",
    )
    parser.add_argument(
        "--text",
        default=None,
        metavar="FILE",
        help="UTF-8 text file to score instead of --corpus (e.g. WikiText-2 raw test), "
        "tokenized without special tokens",
    )
    parser.add_argument(
        "--context",
        type=int,
        default=None,
        metavar="N",
        help="tokens per window (stride = N, the first window included; default 2048 with "
        "--text or a checkpoint folder, else --window-len)",
    )
    parser.add_argument(
        "--max-windows",
        type=int,
        default=None,
        metavar="W",
        help="score at most the first W windows (default with --text or a checkpoint folder: "
        "every full window of the text)",
    )
    parser.add_argument(
        "--backend",
        choices=["numpy", "torch"],
        default="numpy",
        help="forward pass: numpy (default) or torch (pip install -e '.[torch]'); the same "
        "weights and mant quantizers on both",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="forward precision (default float32; float64 makes the two backends agree to "
        "about 1e-12 before any quantizer rounds)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help="torch device: cpu, cuda, cuda:1 (default: cuda when available, else cpu)",
    )
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
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        help="number of windows (default 4; an error if the text holds fewer)",
    )
    parser.add_argument(
        "--window-len", type=int, default=512, help="tokens per window (default 512)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="windows scored at once, each on one BLAS thread; the perplexity is bitwise the "
        "same for any N (default: every core on an idle machine, 1 when the load average "
        "shows it busy)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the unquantized baseline (computed once per model/corpus/windows, then cached)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_run)


_USER_CONTEXT = 2048  # the standard protocol for a user's model or text: context 2048, stride 2048


def _bar(total: int | None, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="window", desc=desc, disable=None, leave=False)


def _run(args: argparse.Namespace) -> int:
    from dse.study.recipe_io import load_recipe
    from llmrun import perplexity
    from llmrun.baseline import baseline_perplexity, store_baseline
    from llmrun.model import is_checkpoint_dir
    from mant.errors import InputError

    if args.threads is not None and args.threads < 1:
        raise InputError.single("--threads", "must be an int >= 1", args.threads)
    user = args.text is not None or is_checkpoint_dir(args.model)
    if args.context is not None:
        window_len = args.context
    else:
        window_len = _USER_CONTEXT if user else args.window_len
    windows, clip = args.windows, False
    if args.max_windows is not None:
        windows, clip = args.max_windows, True
    elif windows is None:
        windows = None if user else 4
    protocol = {
        "corpus": args.corpus,
        "windows": windows,
        "window_len": window_len,
        "model": args.model,
        "text": args.text,
        "max_windows": clip,
        "backend": args.backend,
        "device": args.device,
        "dtype": args.dtype,
    }
    recipe = load_recipe(args.recipe, "recipe")
    with _bar(windows, "ppl") as bar:
        result = perplexity(
            weights=args.weights,
            kv=args.kv,
            acts=args.acts,
            recipe=recipe,
            prefill_tokens=args.prefill,
            threads=args.threads,
            on_window=bar.update,
            **protocol,
        )
    quantized = (
        result.recipe != "fp16"
        or any(t != "fp32" for t in (result.kv, result.acts))
        or not result.weights.startswith("stored")
    )
    base, cached = None, False
    if not quantized:
        store_baseline(result)
    elif not args.no_baseline:
        protocol |= {"windows": result.windows, "max_windows": False}
        with _bar(result.windows, "baseline (once)") as bar:
            base, cached = baseline_perplexity(
                threads=args.threads, on_window=bar.update, **protocol
            )
    if args.json:
        out = result.to_dict()
        if base is not None:
            out |= {
                "baseline_ppl": base.ppl,
                "baseline_weights": base.weights,
                "baseline_cached": cached,
                "ppl_delta": result.ppl - base.ppl,
            }
        print(json.dumps(out, sort_keys=True))
        return 0
    _print(result, base, cached)
    return 0


def _bits(label: str, bits: float) -> str:
    """The bits per element of a tensor, or, for one this run leaves as it is (weights as the
    GGUF stores them, fp32 activations), what the hardware model counts instead: "stored (Q4_1
    weights) (16 bits/el)" read as if Q4_1 took 16 bits."""
    if label.startswith("stored") or label in ("fp32", "fp16"):
        return f"(not quantized by the recipe; hardware costs count {bits:.4g} bits/el)"
    return f"({bits:.4g} bits/el)"


def _print(result: Any, base: Any, cached: bool) -> None:
    text = result.corpus if result.text is None else result.text
    print(f"model       {result.model}   text {text}   recipe {result.recipe}")
    print(f"backend     {result.backend} ({result.device})")
    print(
        f"weights     {result.weights}   {_bits(result.weights, result.weight_bits_per_element)}"
    )
    print(f"acts        {result.acts}   {_bits(result.acts, result.act_bits_per_element)}")
    print(f"kv          {result.kv}   {_bits(result.kv, result.kv_bits_per_element)}")
    print(f"windows     {result.windows} x {result.window_len} tokens")
    print(f"perplexity  {result.ppl:.4f}")
    if base is not None:
        delta = result.ppl - base.ppl
        print(
            f"baseline    {base.ppl:.4f}  ({base.weights}, kv {base.kv}"
            f"{', cached' if cached else ''})"
        )
        print(f"difference  {delta:+.4f}  ({100 * delta / base.ppl:+.2f}%)")
    print(f"tokens      {result.tokens} scored")
    seconds = f"{result.seconds:.2f} s forward ({result.seconds_per_window:.2f} s/window"
    seconds += f", {result.threads} window{'s' if result.threads > 1 else ''} at once)"
    if result.weight_seconds:
        seconds += f", {result.weight_seconds:.1f} s weight quantization"
    print(f"seconds     {seconds}")
    if result.weight_rel_mse is not None:
        print(
            f"weight err  {result.weight_rel_mse:.4e} (relative MSE of the linear layers against "
            f"their {'stored Q4_1' if result.model == 'smollm2-135m' else 'stored'} values)"
        )
