"""The M-ANT paper's published hardware constants and the model's checks against them.

Two facts of the M-ANT paper (HPCA'25) bear on the hardware model (reference
``mant_authors.md`` §3):

* the M-ANT PE takes **148 um^2 per MAC at 28 nm** in W4A8 (HBQ Table IX, note d, citing the
  paper's 28 nm synthesis). :func:`mant_pe_area_check` reports the model's M-ANT PE against it;
  the model's constant comes from UniCore's third-party model and is *not* tuned toward 148.
* the real-time quantization unit (RQU) of the KV cache is pipelined with the array's output
  stream and leaves **0.3 % exposed overhead** on a representative GEMM.
  :func:`with_exposed_overhead` adds such an overhead to a cost, as a named option.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from hwmodel.cost import Cost
from hwmodel.pe import PEType, load_pe
from mant.errors import InputError

__all__ = [
    "MANT_PE_AREA_UM2_PER_MAC",
    "MANT_PE_AREA_SOURCE",
    "RQU_EXPOSED_OVERHEAD",
    "RQU_SOURCE",
    "PeAreaCheck",
    "mant_pe_area_check",
    "with_exposed_overhead",
]

MANT_PE_AREA_UM2_PER_MAC = 148.0
"""M-ANT PE area per MAC at 28 nm, W4A8, um^2 (the one published PE constant)."""

MANT_PE_AREA_SOURCE = (
    "M-ANT (HPCA'25) 28 nm synthesis, quoted by HBQ Table IX note d: 148 um^2 per MAC, W4A8 "
    "(reference mant_authors.md section 3)"
)

RQU_EXPOSED_OVERHEAD = 0.003
"""Fraction of layer time the RQU adds when pipelined with the output stream (0.3 %)."""

RQU_SOURCE = (
    "M-ANT (HPCA'25) summary: the max/variance unit is pipelined with the array's output stream; "
    "exposed quantizer overhead 0.3 % on a representative GEMM (mant_authors.md section 3)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeAreaCheck:
    """The model's PE area per MAC against the published figure.

    Attributes:
        pe: PE type name.
        mode: The mode compared, e.g. ``"W4A8"``.
        model_um2_per_mac: PE area / MACs per cycle in that mode, um^2.
        model_with_epilogue_um2_per_mac: The same plus the per-column epilogue spread over
            ``rows`` PEs, um^2.
        published_um2_per_mac: The paper's figure, um^2.
        rows: Column height used to spread the epilogue.
    """

    pe: str
    mode: str
    model_um2_per_mac: float
    model_with_epilogue_um2_per_mac: float
    published_um2_per_mac: float
    rows: int

    @property
    def ratio(self) -> float:
        """Model / published area per MAC (PE only)."""
        return self.model_um2_per_mac / self.published_um2_per_mac

    @property
    def ratio_with_epilogue(self) -> float:
        """Model / published area per MAC, epilogue included."""
        return self.model_with_epilogue_um2_per_mac / self.published_um2_per_mac


def mant_pe_area_check(pe: PEType | None = None, *, rows: int = 64) -> PeAreaCheck:
    """Compare an M-ANT PE's W4A8 area per MAC with the published 148 um^2.

    Args:
        pe: The PE type (default: the shipped ``mant`` PE).
        rows: PEs per column sharing one epilogue (the ``mant`` preset has 64).

    Example:
        >>> check = mant_pe_area_check()
        >>> round(check.model_um2_per_mac, 1), round(check.ratio, 2)
        (388.3, 2.62)
    """
    pe = load_pe("mant") if pe is None else pe
    per_mac = pe.area_per_mac_um2(4, 8)
    epi = pe.epilogue.area_um2_per_column if pe.epilogue is not None else 0.0
    macs = pe.mode_for(4, 8).macs_per_cycle
    return PeAreaCheck(
        pe=pe.name,
        mode="W4A8",
        model_um2_per_mac=per_mac,
        model_with_epilogue_um2_per_mac=per_mac + epi / (rows * macs),
        published_um2_per_mac=MANT_PE_AREA_UM2_PER_MAC,
        rows=rows,
    )


def with_exposed_overhead(cost: Cost, fraction: float = RQU_EXPOSED_OVERHEAD) -> Cost:
    """``cost`` with ``fraction`` of its time added as exposed overhead (e.g. the RQU's 0.3 %).

    Cycles and compute cycles grow by ceil(fraction x cycles); static (leakage) energy grows
    with time; dynamic energy, traffic and per-layer costs are unchanged (the RQU's own energy
    and area are not published).

    Raises:
        InputError: ``fraction`` is not a number in [0, 1).

    Example:
        >>> from hwmodel import Gemm, evaluate, load_accelerator
        >>> cost = evaluate(load_accelerator("mant"), Gemm(m=2048, n=4096, k=4096))
        >>> with_exposed_overhead(cost).cycles - cost.cycles == math.ceil(0.003 * cost.cycles)
        True
    """
    ok = isinstance(fraction, int | float) and not isinstance(fraction, bool)
    if not (ok and 0.0 <= fraction < 1.0):
        raise InputError.single("overhead", "must be a number in [0, 1)", fraction)
    extra = math.ceil(fraction * cost.cycles)
    scale = (cost.cycles + extra) / cost.cycles if cost.cycles else 1.0
    energy = dict(cost.energy_breakdown_pj)
    if "static" in energy:
        energy["static"] = energy["static"] * scale
    return dataclasses.replace(
        cost,
        cycles=cost.cycles + extra,
        compute_cycles=cost.compute_cycles + extra,
        peak_mac_slots=cost.peak_mac_slots * scale,
        energy_breakdown_pj=energy,
    )
