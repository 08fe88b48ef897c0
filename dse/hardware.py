"""The seam to ``hwmodel``: accelerator, precision and cost metrics of a design.

Costs are memoised by what they depend on (PE type, array, dataflow, buffers, precision), so a
study that revisits a hardware point pays a dictionary lookup.

Example:
    >>> from dse.spec import WorkloadSpec
    >>> hw = HardwareModel(WorkloadSpec(model="llama-2-7b", phase="decode", seq_len=128))
    >>> hw.tokens_per_pass
    1
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dse.design import Design
    from dse.spec import WorkloadSpec

__all__ = ["HardwareModel", "HARDWARE_METRICS", "precision_of"]

HARDWARE_METRICS = (
    "cycles",
    "latency_s",
    "throughput_tok_s",
    "energy_pj",
    "area_um2",
    "utilization",
)


def precision_of(design: Design) -> Any:
    """The :class:`hwmodel.Precision` of a design: ``Precision.from_recipe(design.recipe)``."""
    from hwmodel import Precision

    return Precision.from_recipe(design.recipe)


def _precision_key(precision: Any) -> tuple[Any, ...]:
    return tuple(getattr(precision, f.name) for f in fields(precision))


class HardwareModel:
    """Evaluates designs on one workload with :func:`hwmodel.evaluate` (memoised).

    Args:
        workload: the study's workload section.
    """

    def __init__(self, workload: WorkloadSpec) -> None:
        self.spec = workload
        self._workload: Any = None
        self._accelerators: dict[tuple[Any, ...], Any] = {}
        self._costs: dict[tuple[Any, ...], dict[str, float]] = {}

    @property
    def tokens_per_pass(self) -> int:
        return self.spec.tokens_per_pass

    @property
    def workload(self) -> Any:
        if self._workload is None:
            from hwmodel import Gemm, Workload, llm_workload

            if self.spec.gemms:
                self._workload = Workload(
                    gemms=tuple(
                        Gemm(m=g.m, n=g.n, k=g.k, name=g.name, count=g.count)
                        for g in self.spec.gemms
                    )
                )
            else:
                self._workload = llm_workload(
                    # None only for a YAML `model: null`; load_model rejects it (InputError)
                    self.spec.model,  # type: ignore[arg-type]
                    phase=self.spec.phase,
                    seq_len=self.spec.seq_len,
                    batch=self.spec.batch,
                )
        return self._workload

    def base_accelerator(self, design: Design) -> Any:
        """The PE-type preset with the design's dataflow and buffer size (array not applied)."""
        key = (design.pe_type, design.dataflow, design.weight_buffer_kib, design.act_buffer_kib)
        acc = self._accelerators.get(key)
        if acc is None:
            from hwmodel import load_accelerator

            acc = load_accelerator(design.pe_type).with_array(dataflow=design.dataflow)
            sizes = {}
            if design.weight_buffer_kib is not None:
                sizes["weight_bytes"] = design.weight_buffer_kib * 1024
            if design.act_buffer_kib is not None:
                sizes["act_bytes"] = design.act_buffer_kib * 1024
            if sizes:
                acc = acc.with_buffers(**sizes)
            self._accelerators[key] = acc
        return acc

    def accelerator(self, design: Design) -> Any:
        """The design's accelerator (preset + array + dataflow + buffers)."""
        return self.base_accelerator(design).with_array(rows=design.rows, cols=design.cols)

    def _metrics_from(self, cycles, latency_s, energy_pj, area_um2, utilization) -> dict:
        return {
            "cycles": cycles,
            "latency_s": latency_s,
            "throughput_tok_s": self.tokens_per_pass / latency_s,
            "energy_pj": energy_pj,
            "area_um2": area_um2,
            "utilization": utilization,
        }

    def metrics(self, design: Design, precision: Any) -> dict[str, float]:
        """Cost metrics (see :data:`HARDWARE_METRICS`) of one design."""
        key = (design.hardware_key, _precision_key(precision))
        hit = self._costs.get(key)
        if hit is not None:
            return hit
        out = self.cost_metrics(self.accelerator(design), precision)
        self._costs[key] = out
        return out

    def cost_metrics(self, accelerator: Any, precision: Any) -> dict[str, float]:
        """Cost metrics of an accelerator at a precision on this workload (not memoised)."""
        from hwmodel import evaluate

        cost = evaluate(accelerator, self.workload, precision)
        return {
            k: float(v)
            for k, v in self._metrics_from(
                cost.cycles, cost.latency_s, cost.energy_pj, cost.area_um2, cost.utilization
            ).items()
        }

    def metrics_many(
        self, design: Design, precision: Any, rows: np.ndarray, cols: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Cost metrics for many array shapes at once (:func:`hwmodel.evaluate_many`)."""
        from hwmodel import evaluate_many

        r = evaluate_many(
            self.base_accelerator(design), self.workload, precision, rows=rows, cols=cols
        )
        return {
            k: np.asarray(v, dtype=float)
            for k, v in self._metrics_from(
                r["cycles"], r["latency_s"], r["energy_pj"], r["area_um2"], r["utilization"]
            ).items()
        }
