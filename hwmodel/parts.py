"""The parts of an accelerator besides its PE: the array, the buffers, the DRAM interface.

Each part is a frozen dataclass that validates itself on construction and reports every bad
field at once as ``<part>.<field>: rule, got value`` (``array.rows: must be an int >= 1, got 0``);
choices are StrEnums and plain strings are converted. :mod:`hwmodel.accelerator` assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hwmodel._validate import require_int, require_number
from hwmodel.systolic import Dataflow, GemvPath, Preload
from mant.errors import IssueCollector

__all__ = ["Overlap", "ArrayConfig", "BufferConfig", "DramConfig"]


class Overlap(StrEnum):
    """How compute and DRAM transfers combine into layer time.

    ``max``: double buffering hides the shorter one (time = max(compute, memory)).
    ``sum``: no overlap (time = compute + memory).
    """

    MAX = "max"
    SUM = "sum"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayConfig:
    """The PE array. Validates itself: every bad field is one ``array.<field>`` issue.

    Attributes:
        rows: PE rows R (the reduction dimension under WS / IS).
        cols: PE columns C.
        dataflow: ``os``, ``ws`` or ``is``.
        preload: How WS / IS load each fold's stationary operand: ``serial`` (SCALE-Sim v3,
            the default) or ``overlapped`` (double-buffered stationary registers; only the
            first fold's load is exposed). Ignored under OS.
        gemv_path: How a GEMM with at most ``gemv_max_m`` rows of A (decode: one token per
            sequence) runs on a WS / IS array (:class:`~hwmodel.systolic.GemvPath`):
            ``scalesim`` (the fold rule above, default), ``double_buffered``, ``memory_width``
            or ``vector``. Every other GEMM keeps the SCALE-Sim rule.
        gemv_max_m: Largest M that takes ``gemv_path``.

    Example:
        >>> ArrayConfig(rows=64, cols=32, dataflow="ws").dataflow is Dataflow.WS
        True
    """

    rows: int
    cols: int
    dataflow: Dataflow = Dataflow.WS
    preload: Preload = Preload.SERIAL
    gemv_path: GemvPath = GemvPath.SCALESIM
    gemv_max_m: int = 1

    def __post_init__(self) -> None:
        c = IssueCollector()
        require_int(c, self.rows, "array.rows")
        require_int(c, self.cols, "array.cols")
        require_int(c, self.gemv_max_m, "array.gemv_max_m")
        for name, enum in (
            ("dataflow", Dataflow),
            ("preload", Preload),
            ("gemv_path", GemvPath),
        ):
            value = getattr(self, name)
            if c.check(
                value in tuple(enum),
                f"array.{name}",
                f"must be one of {', '.join(enum)}",
                value,
            ):
                object.__setattr__(self, name, enum(value))
        c.raise_if_any()

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping; ``ArrayConfig(**a.to_dict()) == a``."""
        return {
            "rows": self.rows,
            "cols": self.cols,
            "dataflow": str(self.dataflow),
            "preload": str(self.preload),
            "gemv_path": str(self.gemv_path),
            "gemv_max_m": self.gemv_max_m,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferConfig:
    """On-chip SRAM buffers (one per operand). Validates itself (``buffers.<field>`` issues).

    Attributes:
        weight_bytes: B-operand (weights / KV) buffer, bytes.
        act_bytes: A-operand (activations) buffer, bytes.
        out_bytes: Output / partial-sum buffer, bytes.
        double_buffered: Half of each buffer is filled while the other half is used.
        read_pj_per_bit: Read energy, pJ per bit.
        write_pj_per_bit: Write energy, pJ per bit.
        area_um2_per_kib: Area per KiB of capacity, um^2.
    """

    weight_bytes: int
    act_bytes: int
    out_bytes: int
    double_buffered: bool = True
    read_pj_per_bit: float = 0.0
    write_pj_per_bit: float = 0.0
    area_um2_per_kib: float = 0.0

    def __post_init__(self) -> None:
        c = IssueCollector()
        for key in ("weight_bytes", "act_bytes", "out_bytes"):
            require_int(c, getattr(self, key), f"buffers.{key}")
        dbl = self.double_buffered
        c.check(isinstance(dbl, bool), "buffers.double_buffered", "must be a bool", dbl)
        for key in ("read_pj_per_bit", "write_pj_per_bit", "area_um2_per_kib"):
            require_number(c, getattr(self, key), f"buffers.{key}", allow_zero=True)
        c.raise_if_any()

    def active_bytes(self, size_bytes: int) -> float:
        """Capacity usable by the current tile, bytes."""
        return size_bytes / 2 if self.double_buffered else float(size_bytes)

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.act_bytes + self.out_bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class DramConfig:
    """Off-chip memory interface. Validates itself (``dram.<field>`` issues).

    Attributes:
        bw_bytes_per_cycle: Sustained bandwidth, bytes per accelerator cycle.
        read_pj_per_bit: Read energy, pJ per bit.
        write_pj_per_bit: Write energy, pJ per bit.
    """

    bw_bytes_per_cycle: float
    read_pj_per_bit: float = 0.0
    write_pj_per_bit: float = 0.0

    def __post_init__(self) -> None:
        c = IssueCollector()
        require_number(c, self.bw_bytes_per_cycle, "dram.bw_bytes_per_cycle")
        for key in ("read_pj_per_bit", "write_pj_per_bit"):
            require_number(c, getattr(self, key), f"dram.{key}", allow_zero=True)
        c.raise_if_any()
