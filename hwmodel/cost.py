"""The cost of running a layer or a workload: time, energy by component, traffic, area.

Costs add (``a + b``, :meth:`Cost.total`): cycles, energy, bytes and MACs sum; the area is the
accelerator's (the same on both sides); ratios (utilisation, mapping efficiency) are recomputed
from the summed numerators and denominators, so they stay exact averages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cost", "ENERGY_COMPONENTS"]

ENERGY_COMPONENTS = ("pe", "epilogue", "sram", "dram", "static")
"""Keys of :attr:`Cost.energy_breakdown_pj`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """Cost of one layer (with its repeat count) or of a sum of layers.

    Attributes:
        name: Layer name, or ``"total"`` for a sum.
        cycles: Layer time under the overlap model, cycles.
        compute_cycles: Array time (incl. epilogue stalls), cycles.
        memory_cycles: DRAM transfer time, cycles.
        macs: Useful multiply-accumulates.
        peak_mac_slots: MACs the array could have done in ``cycles`` in the modes used.
        mapped_pe_cycles: Sum over layers of mapping efficiency x compute cycles.
        epilogue_ops: Group-epilogue operations (MANT: x a, x scale, accumulate).
        energy_breakdown_pj: Energy per component (``ENERGY_COMPONENTS``), pJ.
        dram_read_bytes: Bytes read from DRAM.
        dram_write_bytes: Bytes written to DRAM.
        sram_bytes: Bytes read from and written to the on-chip buffers.
        area_um2: Accelerator area (PE array, epilogues, buffers), um^2.
        clock_hz: Clock, Hz.
        peak_compute_cycles: MACs over the array's peak rate in each GEMM's mode (R C p),
            cycles: the compute side of the roofline.
        dram_bw_bytes_per_cycle: DRAM bandwidth, bytes per cycle (the memory side).
        layers: Per-layer costs of a sum (empty for a single layer).
    """

    name: str = "total"
    cycles: int
    compute_cycles: int
    memory_cycles: int
    macs: int
    peak_mac_slots: float
    mapped_pe_cycles: float
    epilogue_ops: int = 0
    energy_breakdown_pj: dict[str, float] = field(default_factory=dict)
    dram_read_bytes: float = 0.0
    dram_write_bytes: float = 0.0
    sram_bytes: float = 0.0
    area_um2: float = 0.0
    clock_hz: float = 1e9
    peak_compute_cycles: float = 0.0
    dram_bw_bytes_per_cycle: float = 0.0
    layers: tuple[Cost, ...] = ()

    @property
    def energy_pj(self) -> float:
        """Total energy, pJ."""
        return sum(self.energy_breakdown_pj.values())

    @property
    def dram_bytes(self) -> float:
        """DRAM traffic (reads + writes), bytes."""
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def utilization(self) -> float:
        """Useful MACs / MACs the array could have done in ``cycles`` (0..1)."""
        return self.macs / self.peak_mac_slots if self.peak_mac_slots else 0.0

    @property
    def mapping_efficiency(self) -> float:
        """Compute-cycle-weighted mean fraction of PEs a fold maps work to (0..1)."""
        return self.mapped_pe_cycles / self.compute_cycles if self.compute_cycles else 0.0

    @property
    def latency_s(self) -> float:
        """Wall time, s."""
        return self.cycles / self.clock_hz

    @property
    def dram_time_s(self) -> float:
        """DRAM traffic at the full bandwidth, s (the memory side of the roofline)."""
        if not self.dram_bw_bytes_per_cycle:
            return 0.0
        return self.dram_bytes / self.dram_bw_bytes_per_cycle / self.clock_hz

    @property
    def peak_compute_s(self) -> float:
        """MACs at the array's peak rate in each GEMM's mode, s (the compute side)."""
        return self.peak_compute_cycles / self.clock_hz

    @property
    def roofline_s(self) -> float:
        """max(DRAM time, compute time at peak), s: no mapping of this design runs faster."""
        return max(self.dram_time_s, self.peak_compute_s)

    @property
    def bound(self) -> str:
        """``"memory"`` or ``"compute"``: the side of the roofline the design sits on (DRAM
        time >= compute time at peak: memory). ``latency_s / roofline_s`` says how close the
        mapping gets to it."""
        return "memory" if self.dram_time_s >= self.peak_compute_s else "compute"

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost.total((self, other))

    @staticmethod
    def total(costs: Iterable[Cost]) -> Cost:
        """Sum of costs; ``layers`` lists the leaf layer costs in order."""
        items = list(costs)
        if not items:
            raise ValueError("Cost.total needs at least one cost")
        leaves: list[Cost] = []
        for c in items:
            leaves.extend(c.layers or (c,))
        if any(c.clock_hz != items[0].clock_hz for c in items):
            raise ValueError("cannot add costs of accelerators with different clocks")
        energy = {k: 0.0 for k in ENERGY_COMPONENTS}
        for c in items:
            for k, v in c.energy_breakdown_pj.items():
                energy[k] = energy.get(k, 0.0) + v
        return Cost(
            name="total",
            cycles=sum(c.cycles for c in items),
            compute_cycles=sum(c.compute_cycles for c in items),
            memory_cycles=sum(c.memory_cycles for c in items),
            macs=sum(c.macs for c in items),
            peak_mac_slots=sum(c.peak_mac_slots for c in items),
            mapped_pe_cycles=sum(c.mapped_pe_cycles for c in items),
            epilogue_ops=sum(c.epilogue_ops for c in items),
            energy_breakdown_pj=energy,
            dram_read_bytes=sum(c.dram_read_bytes for c in items),
            dram_write_bytes=sum(c.dram_write_bytes for c in items),
            sram_bytes=sum(c.sram_bytes for c in items),
            area_um2=max(c.area_um2 for c in items),
            clock_hz=items[0].clock_hz,
            peak_compute_cycles=sum(c.peak_compute_cycles for c in items),
            dram_bw_bytes_per_cycle=items[0].dram_bw_bytes_per_cycle,
            layers=tuple(leaves),
        )

    def summary(self) -> dict[str, Any]:
        """The headline figures as plain types (what ``mant-dse hw --json`` prints)."""
        return {
            "cycles": int(self.cycles),
            "compute_cycles": int(self.compute_cycles),
            "memory_cycles": int(self.memory_cycles),
            "utilization": float(self.utilization),
            "mapping_efficiency": float(self.mapping_efficiency),
            "energy_pj": float(self.energy_pj),
            "energy_breakdown_pj": {k: float(v) for k, v in self.energy_breakdown_pj.items()},
            "area_um2": float(self.area_um2),
            "dram_bytes": float(self.dram_bytes),
            "macs": int(self.macs),
            "latency_s": float(self.latency_s),
            "roofline_s": float(self.roofline_s),
            "bound": self.bound,
        }
