"""Display units for the report and the terminal: ms, mJ, mm² picked from the data's range.

Values are stored in base units (``latency_s`` in s, ``energy_pj`` in pJ, ``area_um2`` in µm²);
:func:`display_unit` picks the unit in which the data's median reads between 1 and 1000, so
axes and tables show "3.4 ms" and "12 mJ" instead of "0.0034" or "1.2e10" (or plotly's "800B").

Example:
    >>> u = display_unit("energy_pj", [2.0e9, 5.0e9])
    >>> u.label, u.scale_one(5.0e9)
    ('mJ', 5.0)
    >>> format_value("area_um2", 3.5e6)
    '3.5 mm²'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from dse.study.metrics import METRICS
from dse.study.pe_recipes import LiveMapping, pe_types

__all__ = [
    "PE_COLORS",
    "pe_color",
    "DisplayUnit",
    "display_unit",
    "format_value",
    "metric_label",
    "ratio_text",
]

# (label, size of one unit in the metric's base unit), smallest first.
_LADDERS: dict[str, tuple[tuple[str, float], ...]] = {
    "s": (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0)),
    "pJ": (("pJ", 1.0), ("nJ", 1e3), ("µJ", 1e6), ("mJ", 1e9), ("J", 1e12)),
    "um^2": (("µm²", 1.0), ("mm²", 1e6)),
    "cycle": (("cycles", 1.0), ("k cycles", 1e3), ("M cycles", 1e6), ("G cycles", 1e9)),
}

# Short names of metrics for axis titles and table headers.
_NAMES = {
    "latency_s": "latency",
    "energy_pj": "energy",
    "area_um2": "area",
    "cycles": "time",
    "throughput_tok_s": "throughput",
    "weight_bits_per_element": "weight bits / element",
    "kv_bits_per_element": "KV bits / element",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayUnit:
    """A unit to show a metric in: ``value_in_unit = value_in_base / size``."""

    label: str
    size: float

    def scale(self, values: Iterable[float] | np.ndarray) -> np.ndarray:
        """Values in base units converted to this unit."""
        return np.asarray(values, dtype=float) / self.size

    def scale_one(self, value: float) -> float:
        """One value in base units converted to this unit."""
        return float(value) / self.size


def display_unit(metric: str, values: Iterable[float] | np.ndarray | float) -> DisplayUnit:
    """The unit in which the median of ``values`` reads between 1 and 1000."""
    info = METRICS.get(metric)
    base = info.unit if info else "1"
    ladder = _LADDERS.get(base)
    if ladder is None:
        return DisplayUnit(label="" if base == "1" else base, size=1.0)
    v = np.atleast_1d(np.asarray(values, dtype=float))
    v = np.abs(v[np.isfinite(v) & (v != 0)])
    if v.size == 0:
        return DisplayUnit(label=ladder[0][0], size=ladder[0][1])
    median = float(np.median(v))
    label, size = ladder[0]
    for lab, sz in ladder:
        if median >= sz:
            label, size = lab, sz
    return DisplayUnit(label=label, size=size)


def metric_label(metric: str, unit: DisplayUnit | None = None) -> str:
    """``"latency [ms]"``: a short metric name with its display unit."""
    name = _NAMES.get(metric, metric)
    return f"{name} [{unit.label}]" if unit is not None and unit.label else name


def _number(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{v:.3g}"  # Python writes 1.2e-05: no SI letters
    return f"{v:.3g}" if a < 100 else f"{v:.0f}"


def format_value(
    metric: str, value: float, unit: DisplayUnit | None = None, *, suffix: bool = True
) -> str:
    """One value in a display unit (picked from the value itself unless given), 3 digits.

    ``suffix=False`` leaves the unit out (for a column whose header names it).
    """
    u = unit or display_unit(metric, [value])
    text = _number(u.scale_one(value))
    return f"{text} {u.label}" if suffix and u.label and text != "–" else text


_UNKNOWN_COLOR = "#7f7f7f"


def _pe_colors() -> dict[str, str]:
    """PE type -> display colour, from each PE file's ``color`` (MANT red as in the paper's
    figures); PEs whose file names no colour are left out (they plot grey)."""
    from hwmodel import load_pe

    out = {}
    for name in pe_types():
        color = load_pe(name).color
        if color is not None:
            out[name] = color
    return out


PE_COLORS: Mapping[str, str] = LiveMapping("PE_COLORS", _pe_colors)


def pe_color(pe: str) -> str:
    """The colour of a PE type (or PE file) in every plot and table (grey for one without)."""
    color = PE_COLORS.get(pe)
    if color is None and pe.endswith((".yaml", ".yml")):
        from hwmodel import load_pe
        from mant.errors import InputError

        try:
            color = load_pe(pe).color
        except InputError:
            color = None
    return color or _UNKNOWN_COLOR


def ratio_text(value: float) -> str:
    """A ratio to the reference as text: two decimals, or two significant digits below 0.1
    (``0.0015``, not ``0.00``)."""
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"
