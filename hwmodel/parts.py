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

__all__ = [
    "Overlap",
    "ArrayConfig",
    "BufferConfig",
    "DramConfig",
    "DramType",
    "DramTypeSpec",
    "DRAM_TYPES",
    "dram_fields",
    "LOAD_PJ_PER_BIT",
    "LOAD_AREA_UM2_PER_BYTE",
]

LOAD_PJ_PER_BIT = 0.1
"""Default energy of the load path, pJ per bit moved from the weight buffer into the PEs' shadow
registers [U]: about 1 mm of 28 nm on-chip wire (an array of ~1 mm^2) at ~0.1 pJ/bit/mm."""

LOAD_AREA_UM2_PER_BYTE = 50.0
"""Default area of the load path per byte/cycle of width, um^2 [U]: eight wires' drivers and one
pipeline register per byte (~5 um^2 per 28 nm flip-flop) on the buffer-to-array bus. The shadow
(double-buffer) registers in the PEs are taken as part of the PE area."""


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
        gemv_path: How GEMMs run (:class:`~hwmodel.systolic.GemvPath`): ``load_path`` (the
            default: every GEMM through the double-buffered load path below, folds
            pipelined, any dataflow), ``scalesim`` (SCALE-Sim's fold rule with ``preload``, for
            every GEMM), or a legacy GEMV path (``double_buffered``, ``memory_width``,
            ``vector``) for WS / IS GEMMs with at most ``gemv_max_m`` rows of A.
        gemv_max_m: Largest M that takes a legacy GEMV path.
        load_bytes_per_cycle: Width of the stationary-operand load path, bytes per cycle
            (``load_path`` only): fed from DRAM through the buffers, double-buffered.
        load_pj_per_bit: Energy of the load path, pJ per bit loaded (default
            :data:`LOAD_PJ_PER_BIT`).
        load_area_um2_per_byte: Area of the load path per byte/cycle of width, um^2 (default
            :data:`LOAD_AREA_UM2_PER_BYTE`).

    Example:
        >>> ArrayConfig(rows=64, cols=32, dataflow="ws").dataflow is Dataflow.WS
        True
    """

    rows: int
    cols: int
    dataflow: Dataflow = Dataflow.WS
    preload: Preload = Preload.SERIAL
    gemv_path: GemvPath = GemvPath.LOAD_PATH
    gemv_max_m: int = 1
    load_bytes_per_cycle: float = 256.0
    load_pj_per_bit: float = LOAD_PJ_PER_BIT
    load_area_um2_per_byte: float = LOAD_AREA_UM2_PER_BYTE

    def __post_init__(self) -> None:
        c = IssueCollector()
        require_int(c, self.rows, "array.rows")
        require_int(c, self.cols, "array.cols")
        require_int(c, self.gemv_max_m, "array.gemv_max_m")
        require_number(c, self.load_bytes_per_cycle, "array.load_bytes_per_cycle")
        require_number(c, self.load_pj_per_bit, "array.load_pj_per_bit")
        require_number(c, self.load_area_um2_per_byte, "array.load_area_um2_per_byte")
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
            "load_bytes_per_cycle": self.load_bytes_per_cycle,
            "load_pj_per_bit": self.load_pj_per_bit,
            "load_area_um2_per_byte": self.load_area_um2_per_byte,
        }

    @property
    def load_area_um2(self) -> float:
        """Area of the load path, um^2."""
        return self.load_bytes_per_cycle * self.load_area_um2_per_byte


@dataclass(frozen=True, slots=True, kw_only=True)
class BufferConfig:
    """On-chip SRAM buffers (one per operand). Validates itself (``buffers.<field>`` issues).

    Attributes:
        weight_bytes: B-operand (weights / KV) buffer, bytes.
        act_bytes: A-operand (activations) buffer, bytes.
        out_bytes: Output / partial-sum buffer, bytes.
        double_buffered: Half of each buffer is filled while the other half is used.
        read_pj_per_bit: Read energy, pJ per bit (default: ZigZag ``tpu_like`` ``sram_2MB``,
            416.16 pJ per 2048-bit read).
        write_pj_per_bit: Write energy, pJ per bit (default: the same SRAM, 378.4 pJ per write).
        area_um2_per_kib: Area per KiB of capacity, um^2 (default [U]: 28 nm 6T bit cell
            0.127 um^2 at 60 % array efficiency). An accelerator file must give all three.
    """

    weight_bytes: int
    act_bytes: int
    out_bytes: int
    double_buffered: bool = True
    read_pj_per_bit: float = 0.2032
    write_pj_per_bit: float = 0.1848
    area_um2_per_kib: float = 1734.0

    def __post_init__(self) -> None:
        c = IssueCollector()
        for key in ("weight_bytes", "act_bytes", "out_bytes"):
            require_int(c, getattr(self, key), f"buffers.{key}")
        dbl = self.double_buffered
        c.check(isinstance(dbl, bool), "buffers.double_buffered", "must be a bool", dbl)
        for key in ("read_pj_per_bit", "write_pj_per_bit", "area_um2_per_kib"):
            require_number(c, getattr(self, key), f"buffers.{key}")
        c.raise_if_any()

    def active_bytes(self, size_bytes: int) -> float:
        """Capacity usable by the current tile, bytes."""
        return size_bytes / 2 if self.double_buffered else float(size_bytes)

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.act_bytes + self.out_bytes


class DramType(StrEnum):
    """Named DRAM interfaces (:data:`DRAM_TYPES`); ``custom`` gives every figure by hand."""

    HBM2 = "hbm2"
    HBM3 = "hbm3"
    DDR4 = "ddr4"
    DDR5 = "ddr5"
    LPDDR5 = "lpddr5"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True, kw_only=True)
class DramTypeSpec:
    """Figures of one DRAM stack (HBM) or channel / package (DDR, LPDDR).

    Attributes:
        bw_bytes_per_s: Peak bandwidth, bytes per second.
        capacity_bytes: Capacity, bytes.
        read_pj_per_bit: Read energy at the interface, pJ per bit.
        write_pj_per_bit: Write energy, pJ per bit.
        background_mw: Background (refresh, standby, PHY) power, mW.
        source: Where each figure comes from, tagged [T] third-party, [D] derived, [U] unverified.
    """

    bw_bytes_per_s: float
    capacity_bytes: int
    read_pj_per_bit: float
    write_pj_per_bit: float
    background_mw: float
    source: str


_GIB = 1 << 30
_ANT_BG = (
    "background 485 mW [U]: the ANT artifact's DRAM static power (484.615 nJ per 500 cycles "
    "at 500 MHz, clevercool/ANT-Quantization stats.py), its DRAM type not stated"
)

DRAM_TYPES: dict[DramType, DramTypeSpec] = {
    DramType.HBM2: DramTypeSpec(
        bw_bytes_per_s=256e9,
        capacity_bytes=8 * _GIB,
        read_pj_per_bit=3.9,
        write_pj_per_bit=3.9,
        background_mw=485.0,
        source="per stack: 1024 pins x 2.0 Gb/s = 256 GB/s (JEDEC JESD235A) [D]; 8-Hi of 8 Gb "
        "dies = 8 GiB [D]; 3.9 pJ/bit (O'Connor et al., 'Fine-Grained DRAM', MICRO'17) [T]; "
        + _ANT_BG,
    ),
    DramType.HBM3: DramTypeSpec(
        bw_bytes_per_s=819.2e9,
        capacity_bytes=16 * _GIB,
        read_pj_per_bit=3.9,
        write_pj_per_bit=3.9,
        background_mw=485.0,
        source="per stack: 1024 pins x 6.4 Gb/s = 819.2 GB/s (JEDEC JESD238) [D]; 8-Hi of 16 Gb "
        "dies = 16 GiB [D]; 3.9 pJ/bit [U]: HBM2's figure, no HBM3 figure verified; " + _ANT_BG,
    ),
    DramType.DDR4: DramTypeSpec(
        bw_bytes_per_s=25.6e9,
        capacity_bytes=16 * _GIB,
        read_pj_per_bit=10.94,
        write_pj_per_bit=11.72,
        background_mw=485.0,
        source="per 64-bit channel: DDR4-3200 = 25.6 GB/s (UniCore's prefill DRAM, hardware.md "
        "section 7) [D]; 16 GiB (one 16 GB DIMM) [U]; 10.94 / 11.72 pJ/bit: ZigZag tpu_like.yaml "
        "DDR-class dram, 700 / 750 pJ per 64-bit access [T]; " + _ANT_BG,
    ),
    DramType.DDR5: DramTypeSpec(
        bw_bytes_per_s=38.4e9,
        capacity_bytes=32 * _GIB,
        read_pj_per_bit=10.94,
        write_pj_per_bit=11.72,
        background_mw=485.0,
        source="per DIMM (two 32-bit sub-channels): DDR5-4800 = 38.4 GB/s [D]; 32 GiB [U]; "
        "pJ/bit [U]: DDR4's ZigZag figure; " + _ANT_BG,
    ),
    DramType.LPDDR5: DramTypeSpec(
        bw_bytes_per_s=51.2e9,
        capacity_bytes=16 * _GIB,
        read_pj_per_bit=4.0,
        write_pj_per_bit=4.0,
        background_mw=100.0,
        source="per x64 package: 6400 Mb/s x 64 pins = 51.2 GB/s [D]; 16 GiB [U]; 4.0 pJ/bit "
        "[U]: assumed near HBM2 (short, low-swing interface); background 100 mW [U]",
    ),
}
"""Figures per stack or channel; an accelerator file scales them by ``stacks``."""

_DRAM_NUMBERS = (
    "bw_bytes_per_cycle",
    "read_pj_per_bit",
    "write_pj_per_bit",
    "background_mw",
    "capacity_bytes",
)


def dram_fields(data: dict[str, Any], clock_hz: float) -> dict[str, Any]:
    """The ``dram`` section with its type's figures filled in (explicit fields override).

    ``type: hbm2, stacks: 2`` gives 2 x 256 GB/s / clock bytes per cycle, 2 x 8 GiB, 3.9 pJ/bit
    and 2 x 485 mW; a field written in the file (``read_pj_per_bit: 10.94``) wins. A
    ``custom`` DRAM (or one without ``type``) takes every field from the file.

    Example:
        >>> dram_fields({"type": "hbm2"}, 1e9)["bw_bytes_per_cycle"]
        256.0
    """
    out = dict(data)
    kind = out.get("type", DramType.CUSTOM)
    stacks = out.get("stacks", 1)
    if kind not in tuple(DramType) or kind == DramType.CUSTOM:
        return out
    if not isinstance(stacks, int) or isinstance(stacks, bool) or stacks < 1:
        return out  # DramConfig reports it
    spec = DRAM_TYPES[DramType(kind)]
    typed = {
        "bw_bytes_per_cycle": stacks * spec.bw_bytes_per_s / clock_hz,
        "read_pj_per_bit": spec.read_pj_per_bit,
        "write_pj_per_bit": spec.write_pj_per_bit,
        "background_mw": stacks * spec.background_mw,
        "capacity_bytes": stacks * spec.capacity_bytes,
    }
    return {**typed, **out}


@dataclass(frozen=True, slots=True, kw_only=True)
class DramConfig:
    """Off-chip memory interface. Validates itself (``dram.<field>`` issues).

    Attributes:
        bw_bytes_per_cycle: Sustained bandwidth, bytes per accelerator cycle.
        read_pj_per_bit: Read energy, pJ per bit.
        write_pj_per_bit: Write energy, pJ per bit.
        background_mw: Background power (refresh, standby, PHY), mW, charged for the whole
            run time.
        capacity_bytes: Capacity; weights + KV cache must fit (``footprint_bytes``).
        type: The named interface the figures came from (:data:`DRAM_TYPES`), or ``custom``.
        stacks: HBM stacks or DDR / LPDDR channels of that type.
    """

    bw_bytes_per_cycle: float
    read_pj_per_bit: float
    write_pj_per_bit: float
    background_mw: float
    capacity_bytes: int
    type: DramType = DramType.CUSTOM
    stacks: int = 1

    def __post_init__(self) -> None:
        c = IssueCollector()
        require_number(c, self.bw_bytes_per_cycle, "dram.bw_bytes_per_cycle")
        for key in ("read_pj_per_bit", "write_pj_per_bit"):
            require_number(c, getattr(self, key), f"dram.{key}")
        require_number(c, self.background_mw, "dram.background_mw", allow_zero=True)
        cap: Any = self.capacity_bytes  # YAML may write 8.0e9 for an int
        if isinstance(cap, float) and cap.is_integer():
            object.__setattr__(self, "capacity_bytes", int(cap))
        require_int(c, self.capacity_bytes, "dram.capacity_bytes")
        require_int(c, self.stacks, "dram.stacks")
        if c.check(
            self.type in tuple(DramType),
            "dram.type",
            f"must be one of {', '.join(DramType)}",
            self.type,
        ):
            object.__setattr__(self, "type", DramType(self.type))
        c.raise_if_any()

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping (type first, then every resolved figure)."""
        return {
            "type": str(self.type),
            "stacks": self.stacks,
            **{k: getattr(self, k) for k in _DRAM_NUMBERS},
        }

    @property
    def background_pj_per_s(self) -> float:
        """Background energy per second of run time, pJ/s (1 mW = 1e9 pJ/s)."""
        return self.background_mw * 1e9
