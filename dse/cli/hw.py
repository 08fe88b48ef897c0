"""``mant-dse hw``: cost of a GEMM or an LLM step on an accelerator (``hwmodel``).

Examples::

    mant-dse hw gemm --accelerator mant --m 512 --n 4096 --k 4096 --json
    mant-dse hw llm --accelerator int8 --model llama-2-7b --phase decode --seq-len 2048 --batch 1
    mant-dse hw llm --accelerator mant --model llama-2-7b --phase decode --preload overlapped
    mant-dse hw llm --accelerator mant --model llama-7b --phase decode --gemv-path scalesim
    mant-dse hw llm --accelerator mant --model llama-2-7b --phase decode --load-bytes-per-cycle 64
    mant-dse hw llm --accelerator mant --recipe my-recipe.yaml --model llama-2-7b --phase decode
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]

_JSON_KEYS = (
    "cycles",
    "compute_cycles",
    "memory_cycles",
    "utilization",
    "mapping_efficiency",
    "energy_pj",
    "area_um2",
    "dram_bytes",
)


def register(subparsers: Any) -> None:
    hw = subparsers.add_parser("hw", help="hardware cost of a GEMM or an LLM step")
    sub = hw.add_subparsers(dest="hw_command", metavar="{gemm,llm,serve,presets}")
    sub.required = True

    g = sub.add_parser("gemm", help="one GEMM: A (m x k) times B (k x n)")
    _common(g)
    g.add_argument("--m", type=int, required=True, help="rows of A (tokens)")
    g.add_argument("--n", type=int, required=True, help="columns of B")
    g.add_argument("--k", type=int, required=True, help="reduction length")
    g.add_argument("--operand", choices=("weight", "kv"), default="weight", help="what B is")
    g.set_defaults(func=run_gemm)

    m = sub.add_parser("llm", help="one prefill pass or decode step of an LLM")
    _common(m)
    m.add_argument(
        "--model",
        help="model preset (e.g. llama-2-7b) or model file: .yaml, config.json or .gguf "
        "(default: the workload of the exported design whose accelerator.yaml --accelerator "
        "names)",
    )
    m.add_argument(
        "--phase", choices=("prefill", "decode"), help="default: the design's, else prefill"
    )
    m.add_argument(
        "--seq-len",
        type=int,
        help="prompt / context length, tokens (default: the design's, else 2048)",
    )
    m.add_argument("--batch", type=int, help="sequences (default: the design's, else 1)")
    m.add_argument("--layers", action="store_true", help="also print per-layer costs")
    m.set_defaults(func=run_llm)

    from dse.cli.serve import add_serve_parser

    add_serve_parser(sub, _common, _accelerator, _check_array_flags)

    p = sub.add_parser("presets", help="list accelerator presets, PE types and models")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_presets)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--accelerator", required=True, help="preset name or accelerator YAML path")
    p.add_argument("--rows", type=int, help="override the array rows")
    p.add_argument("--cols", type=int, help="override the array columns")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), help="override the dataflow")
    p.add_argument(
        "--preload",
        choices=("serial", "overlapped"),
        help="override how WS/IS load each fold's stationary operand: serial (SCALE-Sim) or "
        "overlapped (double-buffered, only the first load exposed)",
    )
    p.add_argument(
        "--gemv-path",
        choices=("load_path", "scalesim", "double_buffered", "memory_width", "vector"),
        help="override how GEMMs run: load_path (default: double-buffered load path, any "
        "dataflow), scalesim (SCALE-Sim's fold rule), or a legacy GEMV path for WS/IS GEMMs "
        "with M <= --gemv-max-m (docs/hwmodel.md, 'The load path')",
    )
    p.add_argument("--gemv-max-m", type=int, help="largest M that takes a legacy GEMV path")
    p.add_argument(
        "--load-bytes-per-cycle",
        type=float,
        help="override the width of the stationary-operand load path, bytes per cycle",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME|FILE",
        help="run this recipe (mant-dse recipes) instead of the PE's native one",
    )
    p.add_argument(
        "--pe-constants",
        choices=("unicore", "paper", "bitmod"),
        help="the PE's constant set (docs/hwmodel.md, 'PE files'; default: the accelerator's)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _check_array_flags(c: Any, args: argparse.Namespace) -> None:
    for flag in ("rows", "cols", "gemv_max_m"):
        value = getattr(args, flag)
        if value is not None:
            name = "--" + flag.replace("_", "-")
            c.check(value >= 1, name, "must be an int >= 1", value)
    width = getattr(args, "load_bytes_per_cycle", None)
    if width is not None:
        c.check(width > 0, "--load-bytes-per-cycle", "must be a number > 0", width)


def _accelerator(args: argparse.Namespace) -> Any:
    from hwmodel import load_accelerator

    acc = load_accelerator(args.accelerator)
    keys = (
        "rows",
        "cols",
        "dataflow",
        "preload",
        "gemv_path",
        "gemv_max_m",
        "load_bytes_per_cycle",
    )
    overrides = {k: getattr(args, k) for k in keys}
    if any(v is not None for v in overrides.values()):
        acc = acc.with_array(**overrides)
    if args.pe_constants is not None:
        acc = acc.with_pe_constants(args.pe_constants)
    if args.recipe is not None:
        from dse.study.recipe_io import load_recipe
        from hwmodel import Precision

        acc = acc.with_precision(Precision.from_recipe(load_recipe(args.recipe, "--recipe")))
    return acc


def _print(
    cost: Any, acc: Any, as_json: bool, extra: dict[str, Any], layers: bool = False
) -> None:
    summary = cost.summary()
    if as_json:
        out = {k: summary[k] for k in _JSON_KEYS}
        out.update(
            {
                "energy_breakdown_pj": summary["energy_breakdown_pj"],
                "macs": summary["macs"],
                "latency_s": summary["latency_s"],
                "roofline_s": summary["roofline_s"],
                "bound": summary["bound"],
                "dram_bw_bytes_per_s": acc.dram.bw_bytes_per_cycle * acc.clock_hz,
                "dram_type": str(acc.dram.type),
                "dram_capacity_bytes": acc.dram.capacity_bytes,
                "load_bytes_per_cycle": acc.array.load_bytes_per_cycle,
                "accelerator": acc.name,
                "rows": acc.array.rows,
                "cols": acc.array.cols,
                "dataflow": str(acc.array.dataflow),
                "preload": str(acc.array.preload),
                "gemv_path": str(acc.array.gemv_path),
                "gemv_max_m": acc.array.gemv_max_m,
                **extra,
            }
        )
        if layers:
            out["layers"] = [
                {"name": lc.name, **{k: lc.summary()[k] for k in _JSON_KEYS}} for lc in cost.layers
            ]
        print(json.dumps(out))
        return
    arr = (
        f"{acc.array.rows}x{acc.array.cols} {acc.array.dataflow}, {acc.array.preload} preload, "
        f"{acc.array.gemv_path} GEMV path"
    )
    print(f"accelerator {acc.name} ({acc.pe.name} PE, {arr}, {acc.clock_hz / 1e9:g} GHz)")
    for key, value in extra.items():
        print(f"  {key:<20}{value}")
    print(f"  {'cycles':<20}{summary['cycles']:,}")
    print(f"  {'compute_cycles':<20}{summary['compute_cycles']:,}")
    print(f"  {'memory_cycles':<20}{summary['memory_cycles']:,}")
    print(f"  {'latency':<20}{summary['latency_s'] * 1e3:.4g} ms")
    roof = summary["roofline_s"]
    ratio = f" ({summary['latency_s'] / roof:.3f}x)" if roof else ""
    print(f"  {'roofline':<20}{roof * 1e3:.4g} ms{ratio}, {summary['bound']}-bound")
    print(f"  {'utilization':<20}{summary['utilization']:.4f}")
    print(f"  {'mapping_efficiency':<20}{summary['mapping_efficiency']:.4f}")
    print(f"  {'energy':<20}{summary['energy_pj'] / 1e6:.6g} uJ")
    for k, v in summary["energy_breakdown_pj"].items():
        print(f"    {k:<18}{v / 1e6:.6g} uJ")
    print(f"  {'dram_bytes':<20}{summary['dram_bytes']:,.0f}")
    dram = acc.dram
    bw = dram.bw_bytes_per_cycle * acc.clock_hz / 1e9
    print(
        f"  {'dram':<20}{dram.stacks} x {dram.type}, {bw:.4g} GB/s, "
        f"{dram.capacity_bytes / 1e9:.4g} GB; load path {acc.array.load_bytes_per_cycle:g} B/cycle"
    )
    print(f"  {'area':<20}{summary['area_um2'] / 1e6:.4f} mm^2")
    if layers:
        print(f"  {'layer':<12}{'count':>8}{'cycles':>16}{'energy_uJ':>14}{'util':>8}")
        for lc in cost.layers:
            print(
                f"  {lc.name:<12}{'':>8}{lc.cycles:>16,}{lc.energy_pj / 1e6:>14.4g}"
                f"{lc.utilization:>8.3f}"
            )


def run_gemm(args: argparse.Namespace) -> int:
    from hwmodel import Gemm, evaluate
    from mant.errors import IssueCollector

    c = IssueCollector()
    for flag in ("m", "n", "k"):
        value = getattr(args, flag)
        c.check(value >= 1, f"--{flag}", "must be an int >= 1", value)
    _check_array_flags(c, args)
    c.raise_if_any()
    acc = _accelerator(args)
    from dse.study.spec_checks import MAX_GEMM_DIM
    from mant.errors import InputError

    for flag, value in (("--m", args.m), ("--n", args.n), ("--k", args.k)):
        if not 1 <= value <= MAX_GEMM_DIM:
            raise InputError.single(flag, f"must be an int in 1..{MAX_GEMM_DIM}", value)
    gemm = Gemm(m=args.m, n=args.n, k=args.k, operand=args.operand)
    cost = evaluate(acc, gemm)
    extra = {"m": args.m, "n": args.n, "k": args.k, **_capacity(acc, gemm)}
    _print(cost, acc, args.json, extra)
    return 0


def run_llm(args: argparse.Namespace) -> int:
    from dse.study.model_source import load_model_config, warn_unmodelled
    from hwmodel import evaluate, llm_workload, step_bytes
    from mant.errors import IssueCollector

    _workload_defaults(args)
    c = IssueCollector()
    c.check(args.seq_len >= 1, "--seq-len", "must be an int >= 1", args.seq_len)
    c.check(args.batch >= 1, "--batch", "must be an int >= 1", args.batch)
    _check_array_flags(c, args)
    c.raise_if_any()
    model = load_model_config(args.model, "--model")
    warn_unmodelled(model)
    acc = _accelerator(args)
    wl = llm_workload(model, phase=args.phase, seq_len=args.seq_len, batch=args.batch)
    cost = evaluate(acc, wl)
    weight_bytes, kv_bytes = step_bytes(wl, acc.default_precision)
    extra = {
        "model": args.model,
        "phase": args.phase,
        "seq_len": args.seq_len,
        "batch": args.batch,
        **_capacity(acc, wl),
        "macs_linear": wl.macs_linear,
        "macs_attention": wl.macs_attention,
        "weight_bytes": weight_bytes,
        "kv_bytes": kv_bytes,
        "params_total": model.params_total,
        "params_active": model.params_active,
    }
    if model.unmodelled:
        extra["unmodelled"] = list(model.unmodelled)
    _print(cost, acc, args.json, extra, layers=args.layers)
    return 0


def _capacity(acc: Any, workload: Any, precision: Any = None) -> dict[str, Any]:
    """Peak MAC rate, footprint and whether weights + KV cache fit the DRAM (printed keys), at
    ``precision`` (default: the accelerator's; pass the one ``evaluate`` ran with)."""
    from hwmodel import capacity_issue, footprint_bytes, peak_macs_per_cycle

    prec = acc.default_precision if precision is None else precision
    reason = capacity_issue(acc, workload, prec)
    out: dict[str, Any] = {
        "peak_macs_per_s": peak_macs_per_cycle(acc, prec) * acc.clock_hz,
        "footprint_bytes": footprint_bytes(workload, prec),
        "fits": not reason,
    }
    if reason:
        out["infeasible"] = reason
    return out


def _workload_defaults(args: argparse.Namespace) -> None:
    """Fills --model/--phase/--seq-len/--batch left out: from the exported design next to the
    --accelerator file (its design.yaml workload), else prefill, 2048 tokens, batch 1."""
    from pathlib import Path

    from mant.errors import InputError

    design: dict[str, Any] = {}
    folder = Path(str(args.accelerator)).parent
    if (folder / "design.yaml").is_file() and str(args.accelerator).endswith((".yaml", ".yml")):
        from mant.yaml_input import load_yaml_file

        meta = load_yaml_file(folder / "design.yaml", what="design file")
        wl = meta.get("workload") if isinstance(meta, dict) else None
        design = wl if isinstance(wl, dict) else {}
    if args.model is None:
        model = design.get("model")
        if not isinstance(model, str):
            raise InputError.single(
                "--model",
                "is required (or --accelerator the accelerator.yaml of an exported design "
                "whose workload is a model)",
                None,
            )
        if not Path(model).is_absolute() and (folder / model).is_file():
            model = str((folder / model).resolve())  # stored relative to the design folder
        args.model = model
    defaults = {"phase": "prefill", "seq_len": 2048, "batch": 1}
    for key, default in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, design.get(key, default) if design else default)


def run_presets(args: argparse.Namespace) -> int:
    from hwmodel import list_models, list_pes, list_presets

    info = {"accelerators": list_presets(), "pes": list_pes(), "models": list_models()}
    if args.json:
        print(json.dumps(info))
    else:
        for key, names in info.items():
            print(f"{key}: {', '.join(names)}")
    return 0
