"""What a design must hold and how fast it can go: DRAM footprint, capacity, peak MAC rate.

The footprint of a workload is every B operand once (weights and KV cache); more than the DRAM's
``capacity_bytes`` makes a design infeasible. The peak MAC rate is the array's in the mode of the
headline weight width (the compute side of :attr:`hwmodel.Cost.roofline_s`).
"""

from __future__ import annotations

from collections.abc import Iterable

from hwmodel.accelerator import Accelerator
from hwmodel.precision import Precision
from hwmodel.workload import Gemm, Workload

__all__ = ["footprint_bytes", "capacity_issue", "peak_macs_per_cycle"]


def footprint_bytes(workload: Gemm | Workload | Iterable[Gemm], precision: Precision) -> float:
    """DRAM bytes a workload needs resident: every B operand (weights, KV cache) once.

    Each GEMM's B (k x n at its kind's bits per element) times its ``count``: the weights of
    every layer and the LM head, and the K and V caches of every layer, KV head and sequence
    (``llm_workload``'s QK^T and PV read the whole cache). Activations, the embedding table and
    code are not counted.

    Example:
        >>> from hwmodel import Precision, llm_workload
        >>> p = Precision(weight_bits=16, weight_bits_per_element=16, act_bits=16, kv_bits=16,
        ...               kv_bits_per_element=16, group_size=64)
        >>> wl = llm_workload("llama-2-7b", phase="decode", seq_len=2048)
        >>> round(footprint_bytes(wl, p) / 1e9, 2)  # 13.21 GB of FP16 weights + 1.07 GB of KV
        14.29
    """
    gemms = (workload,) if isinstance(workload, Gemm) else tuple(workload)
    return float(sum(g.n * g.k * g.count * precision.operand(g)[1] / 8 for g in gemms))


def capacity_issue(
    acc: Accelerator, workload: Gemm | Workload | Iterable[Gemm], precision: Precision
) -> str:
    """Why weights + KV cache do not fit the DRAM, or "" when they fit.

    Example:
        >>> from hwmodel import load_accelerator, llm_workload
        >>> acc = load_accelerator("fp16")
        >>> why = capacity_issue(acc, llm_workload("llama-2-7b", phase="decode", seq_len=32768),
        ...                      acc.default_precision)
        >>> why[:63]
        'weights + KV cache need 30.39 GB (footprint_bytes 30394023936),'
    """
    need = footprint_bytes(workload, precision)
    have = acc.dram.capacity_bytes
    if need <= have:
        return ""
    return (
        f"weights + KV cache need {need / 1e9:.2f} GB (footprint_bytes {need:.0f}), more than "
        f"the DRAM holds: {have / 1e9:.2f} GB (dram.capacity_bytes {have}, {acc.dram.stacks} "
        f"{acc.dram.type})"
    )


def peak_macs_per_cycle(acc: Accelerator, precision: Precision | None = None) -> float:
    """MACs per cycle of the whole array in the mode of the headline weight width.

    Example:
        >>> from hwmodel import load_accelerator
        >>> peak_macs_per_cycle(load_accelerator("mant"))  # 64 x 52, W4A8 at 1 MAC/PE-cycle
        3328.0
    """
    prec = acc.default_precision if precision is None else precision
    mode = acc.pe.mode_for(prec.weight_bits, prec.act_bits)
    return float(acc.array.rows * acc.array.cols * mode.macs_per_cycle)
