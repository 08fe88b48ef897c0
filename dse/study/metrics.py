"""The metrics a trial reports, their units and the direction that is better.

Objectives and constraints in a study spec name metrics from :data:`METRICS`.

Example:
    >>> METRICS["latency_s"].direction.value
    'minimize'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Direction", "MetricInfo", "METRICS"]


class Direction(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricInfo:
    """What a metric means, in which unit, and which way is better by default."""

    direction: Direction
    unit: str
    description: str


_MIN, _MAX = Direction.MINIMIZE, Direction.MAXIMIZE

METRICS: dict[str, MetricInfo] = {
    "weight_rel_mse": MetricInfo(
        direction=_MIN,
        unit="1",
        description="weight quantization error / weight power (suite mean)",
    ),
    "weight_sqnr_db": MetricInfo(
        direction=_MAX, unit="dB", description="weight signal-to-quantization-noise ratio"
    ),
    "output_rel_mse": MetricInfo(
        direction=_MIN,
        unit="1",
        description="linear-layer output error ||X(W-Ŵ)ᵀ||² / ||XWᵀ||² on real activations "
        "(suite mean; tensors and files sources)",
    ),
    "output_and_kv_rel_mse": MetricInfo(
        direction=_MIN,
        unit="1",
        description="mean of output_rel_mse and kv_rel_mse (rel_mse with the weights' output "
        "error in place of their weight error)",
    ),
    "kv_rel_mse": MetricInfo(
        direction=_MIN, unit="1", description="K/V quantization error / K/V power (0 at 16 bits)"
    ),
    "kv_sqnr_db": MetricInfo(direction=_MAX, unit="dB", description="K/V SQNR (capped at 200 dB)"),
    "rel_mse": MetricInfo(
        direction=_MIN, unit="1", description="mean of weight_rel_mse and kv_rel_mse"
    ),
    "ppl": MetricInfo(direction=_MIN, unit="1", description="perplexity (perplexity source only)"),
    "latency_s": MetricInfo(direction=_MIN, unit="s", description="one pass of the workload"),
    "throughput_tok_s": MetricInfo(
        direction=_MAX, unit="token/s", description="tokens per second of the workload"
    ),
    "ttft_s": MetricInfo(
        direction=_MIN, unit="s", description="time to first token (workload.phase: serve)"
    ),
    "tpot_s": MetricInfo(
        direction=_MIN, unit="s", description="mean time per output token (phase serve)"
    ),
    "tokens_per_s": MetricInfo(
        direction=_MAX, unit="token/s", description="output tokens per second (phase serve)"
    ),
    "cycles": MetricInfo(direction=_MIN, unit="cycle", description="one pass of the workload"),
    "energy_pj": MetricInfo(direction=_MIN, unit="pJ", description="one pass of the workload"),
    "area_um2": MetricInfo(direction=_MIN, unit="um^2", description="accelerator area"),
    "utilization": MetricInfo(direction=_MAX, unit="1", description="PE utilization"),
    "roofline_s": MetricInfo(
        direction=_MIN,
        unit="s",
        description="max(DRAM time, compute time at peak) of one pass: no mapping runs faster",
    ),
    "memory_bound": MetricInfo(
        direction=_MIN,
        unit="1",
        description="1 when the design sits on the memory side of its roofline, 0 on compute",
    ),
    "tile_overflow_bytes": MetricInfo(
        direction=_MIN,
        unit="byte",
        description="bytes the worst buffer lacks for one array tile (<= 0: fits; "
        "constraint tile_fit)",
    ),
    "weight_bits_per_element": MetricInfo(
        direction=_MIN, unit="bit", description="weight storage incl. scales and selectors"
    ),
    "kv_bits_per_element": MetricInfo(
        direction=_MIN, unit="bit", description="K/V storage incl. scales and selectors"
    ),
}
