"""``mant-dse quantize FILE``: quantize one tensor and print its error and storage figures.

``--selection output-mse --calibration CALFILE`` picks each group's type by the least output error
over calibration activations (tokens, in_features) for a weight (out_features, in_features)
grouped along its last axis; ``--save OUT.npy`` writes the dequantized tensor.

``--algorithm gptq --calibration CALFILE`` runs GPTQ's error-compensating sweep with the same
format or candidate set (each group's type chosen inside the sweep, :mod:`mant.gptq`);
``--rotation hadamard`` rotates the input dimension by a block Hadamard matrix first (block =
the group size, or ``--rotation-block N|row``) and saves the values rotated back.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

__all__ = ["MAX_GROUP_SIZE", "register"]

# the largest group a command line quantizes (the study space allows up to 4096); beyond it the
# padding of one group alone would need gigabytes
MAX_GROUP_SIZE = 1 << 16


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("quantize", help="quantize a tensor from .npy/.npz/.safetensors")
    p.add_argument("file", metavar="FILE", help="tensor file (.npy, .npz, .safetensors)")
    p.add_argument("--tensor", help="tensor name inside an .npz/.safetensors file")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--format", help="one format name, e.g. fp4_e2m1, mant4_a17, nvfp4")
    which.add_argument(
        "--candidates",
        help="named set (mant-unicore16, mant-dense, ant, olive), comma-separated format "
        "names, or a JSON list/dict (default mant-unicore16)",
    )
    p.add_argument("--group-size", type=int, default=None, help="values per group (default 64)")
    p.add_argument("--axis", type=int, default=-1, help="axis the groups run along")
    p.add_argument(
        "--granularity", default="group", help="group, channel or tensor (default group)"
    )
    p.add_argument(
        "--scale-format",
        default=None,
        help="fp16, fp32, bf16, e8m0 or int8 (default fp16; block formats use their own)",
    )
    p.add_argument("--clip-search", action="store_true", help="search the clip ratio (slow)")
    p.add_argument(
        "--selection",
        default="weight-mse",
        help="weight-mse (least weight error) or output-mse (least output error over "
        "--calibration activations, as the M-ANT authors); default weight-mse",
    )
    p.add_argument(
        "--calibration",
        metavar="CALFILE",
        help="activations (tokens, in_features) for --selection output-mse or --algorithm "
        "gptq|awq",
    )
    p.add_argument("--calibration-tensor", help="tensor name inside CALFILE")
    p.add_argument(
        "--algorithm",
        default="rtn",
        help="rtn (round to nearest, default), gptq or awq (both need --calibration)",
    )
    p.add_argument("--rotation", default="none", help="none (default) or hadamard")
    p.add_argument(
        "--rotation-block",
        default=None,
        help="Hadamard block: a power of two dividing in_features, or row (default: group size)",
    )
    p.add_argument("--damp", type=float, default=0.01, help="GPTQ Hessian damping (0.01)")
    p.add_argument("--save", metavar="OUT.npy", help="write the dequantized tensor (.npy)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _candidates(args: argparse.Namespace) -> Any:
    if args.format:
        from mant.formats import parse_format

        return parse_format(args.format).name
    spec = args.candidates or "mant-unicore16"
    text = spec.strip()
    if text[:1] in "[{":
        from mant.errors import InputError

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError.single("--candidates", "must be valid JSON", str(exc)) from None
    return [s.strip() for s in text.split(",")] if "," in text else text


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mant.errors import InputError
    from mant.gptq import Algorithm, quantize_layer
    from mant.quantize import QuantConfig
    from mant.tensor_io import load_tensor

    g = args.group_size
    if g is not None and not 1 <= g <= MAX_GROUP_SIZE:  # a huge group pads the tensor to it
        raise InputError.single("--group-size", f"must be an int in 1..{MAX_GROUP_SIZE}", g)
    cfg = QuantConfig(
        candidates=_candidates(args),
        group_size=args.group_size,
        axis=args.axis,
        granularity=args.granularity,
        scale_format=args.scale_format,
        clip_search=args.clip_search,
        selection=args.selection,
    )
    output_mse = str(cfg.selection) == "output_mse"
    try:
        algorithm = Algorithm(args.algorithm)
    except ValueError:
        raise InputError.single(
            "--algorithm", "must be rtn, gptq or awq", args.algorithm
        ) from None
    if args.rotation not in ("none", "hadamard"):
        raise InputError.single("--rotation", "must be none or hadamard", args.rotation)
    needs_acts = output_mse or algorithm is not Algorithm.RTN
    if needs_acts and not args.calibration:
        raise InputError.single(
            "--calibration",
            "is required with --selection output-mse or --algorithm gptq|awq",
            "no file",
        )
    if args.calibration and not needs_acts:
        raise InputError.single(
            "--calibration",
            "is only used with --selection output-mse, gptq or awq",
            args.calibration,
        )
    if not 0 < args.damp < 1:
        raise InputError.single("--damp", "must be a number in (0, 1)", args.damp)
    if args.save is not None and not str(args.save).endswith(".npy"):
        raise InputError.single("--save", "must end in .npy", args.save)
    loaded = load_tensor(args.file, args.tensor)
    name, x = loaded.name, loaded.array
    if not np.any(x):
        raise InputError.single(f"{args.file}:{name}", "must have a non-zero value", "all zeros")
    acts = None
    if needs_acts:
        acts = load_tensor(args.calibration, args.calibration_tensor).array
    block = _rotation_block(args, x, res_group=cfg.group_size or 64)
    if (algorithm is Algorithm.GPTQ or block is not None) and x.ndim != 2:
        raise InputError.single(
            f"{args.file}:{name}", "must be a 2-d weight (out, in) for gptq or a rotation", x.shape
        )
    start = time.perf_counter()
    res = quantize_layer(
        x, cfg, algorithm=algorithm, rotation_block=block, calibration=acts, damp=args.damp
    )
    seconds = time.perf_counter() - start
    if args.save is not None:
        try:
            with open(args.save, "wb") as fh:
                np.save(fh, np.asarray(res.dequantized, dtype=np.float32))
        except OSError as exc:
            raise InputError.single("--save", "must be a writable path", str(exc)) from None
    out = {
        "file": str(args.file),
        "tensor": name,
        "shape": list(x.shape),
        "candidates": cfg.to_dict()["candidates"],
        "scale_format": str(cfg.scale_format),
        "rel_mse": res.rel_mse,
        "sqnr_db": res.sqnr_db,
        "mse": res.mse,
        "max_abs_error": res.max_abs_error,
        "bits_per_element": res.bits_per_element,
        "group_size": res.group_size,
        "n_groups": res.n_groups,
        "selection": str(cfg.selection),
        "algorithm": str(algorithm),
        "rotation": args.rotation if block is None else f"hadamard:{block}",
        "choice_histogram": res.choice_histogram(),
        "seconds": seconds,
    }
    if acts is not None:
        out["calibration_tokens"] = int(acts.shape[0])
        out["output_rel_mse"] = _output_rel_mse(x, res.dequantized, acts)
    if args.save is not None:
        out["saved"] = str(args.save)
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"{name} {tuple(x.shape)}: {len(res.candidates)} candidate(s), g={res.group_size}, "
        f"{res.n_groups} groups, {res.bits_per_element:g} bits/element"
    )
    sq = "inf" if math.isinf(res.sqnr_db) else f"{res.sqnr_db:.2f}"
    print(
        f"rel_mse {res.rel_mse:.4e}  sqnr {sq} dB  max_abs_error {res.max_abs_error:.4g}  "
        f"({seconds:.3f} s)"
    )
    if acts is not None:
        print(
            f"output rel_mse {out['output_rel_mse']:.4e} over {acts.shape[0]} calibration "
            f"tokens ({cfg.selection})"
        )
    hist = {k: v for k, v in res.choice_histogram().items() if v}
    total = max(sum(hist.values()), 1)
    for k, v in sorted(hist.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {k:<16}{v:>9}  {100 * v / total:5.1f}%")
    return 0


def _rotation_block(args: argparse.Namespace, x: Any, res_group: int) -> int | None:
    """The Hadamard block of ``--rotation``/``--rotation-block`` (None: no rotation)."""
    from mant.errors import InputError

    if args.rotation == "none":
        if args.rotation_block is not None:
            raise InputError.single(
                "--rotation-block", "is only used with --rotation hadamard", args.rotation_block
            )
        return None
    width = int(x.shape[-1])
    if args.rotation_block is None:
        block = res_group
    elif args.rotation_block == "row":
        block = width
    else:
        try:
            block = int(args.rotation_block)
        except ValueError:
            block = 0
    if block < 1 or block & (block - 1) or width % block:
        rule = f"must be a power of two dividing in_features={width}"
        if args.rotation_block is not None:
            raise InputError.single("--rotation-block", f"{rule} or row", args.rotation_block)
        raise InputError.single(
            "--group-size", f"{rule} to be the Hadamard block (or give --rotation-block)", block
        )
    return block


def _output_rel_mse(w: Any, q: Any, x: Any) -> float:
    """``||X Wᵀ - X Qᵀ||^2 / ||X Wᵀ||^2`` in float64 (0 when X Wᵀ is all zero)."""
    import numpy as np

    x64 = np.asarray(x, dtype=np.float64)
    w2 = np.asarray(w, dtype=np.float64).reshape(-1, x64.shape[1])
    ref = x64 @ w2.T
    err = ref - x64 @ np.asarray(q, dtype=np.float64).reshape(w2.shape).T
    den = float(np.sum(ref * ref))
    return float(np.sum(err * err)) / den if den > 0 else 0.0
