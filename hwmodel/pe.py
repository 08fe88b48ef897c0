"""Processing-element types: area, leakage, and the precision modes each one supports.

A PE type is data: one YAML file under ``hwmodel/data/pes/`` (or any path) naming its sources,
technology node and clock. Each precision mode says how many MACs one PE completes per cycle and
the energy of one MAC in that mode. A PE runs a (B-operand bits, activation bits) pair in the
fastest mode whose widths cover it, and refuses a pair no mode covers (:class:`InputError`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hwmodel._validate import check_keys, require_int, require_number
from mant.errors import InputError, IssueCollector
from mant.yaml_input import load_yaml_file, load_yaml_text

__all__ = ["PrecisionMode", "GroupEpilogue", "PEType", "load_pe", "list_pes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PrecisionMode:
    """One operating mode of a PE.

    Attributes:
        weight_bits: Widest B-operand (weight or KV) element in bits this mode accepts.
        act_bits: Widest activation element in bits this mode accepts.
        macs_per_cycle: MACs one PE completes per cycle (e.g. 4 for a BitFusion 4-bit op,
            0.5 when two PEs are fused for one MAC).
        energy_pj_per_mac: Dynamic energy of one MAC in this mode, pJ.
        source: Where the two numbers come from (or how they were derived).
    """

    weight_bits: int
    act_bits: int
    macs_per_cycle: float
    energy_pj_per_mac: float
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupEpilogue:
    """A per-column unit applied once per quantization-group segment (MANT: x a, x scale, +).

    Attributes:
        energy_pj_per_op: Energy of one epilogue operation, pJ.
        latency_cycles: Pipeline depth, cycles (paid once per layer).
        ops_per_cycle: Operations one column's unit completes per cycle.
        area_um2_per_column: Area of one column's unit, um^2.
        source: Derivation of the numbers.
    """

    energy_pj_per_op: float
    latency_cycles: int
    ops_per_cycle: float
    area_um2_per_column: float
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PEType:
    """A processing-element type (all constants per PE).

    Attributes:
        name: Identifier used by accelerator files.
        description: One line on the datapath.
        source: Paper / artifact the constants come from.
        technology_nm: Technology node of the constants, nm.
        clock_hz: Clock the constants were characterised at, Hz.
        area_um2: Area of one PE, um^2.
        leakage_uw: Leakage power of one PE, uW.
        modes: Supported precision modes.
        epilogue: Per-column group epilogue, if the PE defers per-group work to one.
        notes: How derived values were obtained.
    """

    name: str
    description: str
    source: str
    technology_nm: float
    clock_hz: float
    area_um2: float
    leakage_uw: float
    modes: tuple[PrecisionMode, ...]
    epilogue: GroupEpilogue | None = None
    notes: str = ""

    def mode_for(self, weight_bits: int, act_bits: int) -> PrecisionMode:
        """The fastest mode that covers the given widths (ties: the cheaper one).

        Raises:
            InputError: if no mode of this PE covers ``weight_bits`` x ``act_bits``.
        """
        return _select_mode(self, weight_bits, act_bits)

    def area_per_mac_um2(self, weight_bits: int, act_bits: int) -> float:
        """PE area per MAC per cycle in the mode that runs ``weight_bits`` x ``act_bits``, um^2.

        Example:
            >>> round(load_pe("ant").area_per_mac_um2(4, 8), 1)  # two W4A4 units per W4A8 MAC
            515.2
        """
        return self.area_um2 / self.mode_for(weight_bits, act_bits).macs_per_cycle

    def supports(self, weight_bits: int, act_bits: int) -> bool:
        """Whether some mode covers ``weight_bits`` x ``act_bits``."""
        return any(m.weight_bits >= weight_bits and m.act_bits >= act_bits for m in self.modes)


@functools.lru_cache(maxsize=4096)
def _select_mode(pe: PEType, weight_bits: int, act_bits: int) -> PrecisionMode:
    covering = [m for m in pe.modes if m.weight_bits >= weight_bits and m.act_bits >= act_bits]
    if not covering:
        offered = ", ".join(f"W{m.weight_bits}A{m.act_bits}" for m in pe.modes)
        raise InputError.single(
            f"pe.{pe.name}.modes",
            f"no mode runs W{weight_bits}A{act_bits}; supported modes are {offered}",
            f"W{weight_bits}A{act_bits}",
        )
    return max(covering, key=lambda m: (m.macs_per_cycle, -m.energy_pj_per_mac))


_PE_KEYS = (
    "name",
    "description",
    "source",
    "technology_nm",
    "clock_hz",
    "area_um2",
    "leakage_uw",
    "modes",
    "epilogue",
    "notes",
)
_MODE_KEYS = ("weight_bits", "act_bits", "macs_per_cycle", "energy_pj_per_mac", "source")
_EPI_KEYS = (
    "energy_pj_per_op",
    "latency_cycles",
    "ops_per_cycle",
    "area_um2_per_column",
    "source",
)


def pe_from_dict(data: Any, path: str = "pe") -> PEType:
    """Validate a PE mapping (as read from YAML) into a :class:`PEType`."""
    c = IssueCollector()
    if not check_keys(data, path, required=_PE_KEYS[:8], optional=_PE_KEYS, collector=c):
        c.raise_if_any()
    for key in ("name", "description", "source", "notes"):
        if key in data:
            c.check(isinstance(data[key], str), f"{path}.{key}", "must be a string", data[key])
    for key in ("technology_nm", "clock_hz", "area_um2"):
        require_number(c, data.get(key), f"{path}.{key}")
    require_number(c, data.get("leakage_uw"), f"{path}.leakage_uw", allow_zero=True)
    modes = []
    raw_modes = data.get("modes")
    if not isinstance(raw_modes, list) or not raw_modes:
        c.add(f"{path}.modes", "must be a non-empty list of modes", raw_modes)
        raw_modes = []
    for i, m in enumerate(raw_modes):
        mp = f"{path}.modes[{i}]"
        if not check_keys(m, mp, required=_MODE_KEYS[:4], optional=_MODE_KEYS, collector=c):
            continue
        ok = require_int(c, m.get("weight_bits"), f"{mp}.weight_bits")
        ok &= require_int(c, m.get("act_bits"), f"{mp}.act_bits")
        ok &= require_number(c, m.get("macs_per_cycle"), f"{mp}.macs_per_cycle")
        ok &= require_number(c, m.get("energy_pj_per_mac"), f"{mp}.energy_pj_per_mac")
        if ok:
            modes.append(PrecisionMode(**{k: m[k] for k in _MODE_KEYS if k in m}))
    epilogue = None
    raw_epi = data.get("epilogue")
    if raw_epi is not None:
        ep = f"{path}.epilogue"
        if check_keys(raw_epi, ep, required=_EPI_KEYS[:4], optional=_EPI_KEYS, collector=c):
            ok = require_number(c, raw_epi.get("energy_pj_per_op"), f"{ep}.energy_pj_per_op")
            ok &= require_int(c, raw_epi.get("latency_cycles"), f"{ep}.latency_cycles", 0)
            ok &= require_number(c, raw_epi.get("ops_per_cycle"), f"{ep}.ops_per_cycle")
            ok &= require_number(
                c, raw_epi.get("area_um2_per_column"), f"{ep}.area_um2_per_column", allow_zero=True
            )
            if ok:
                epilogue = GroupEpilogue(**{k: raw_epi[k] for k in _EPI_KEYS if k in raw_epi})
    c.raise_if_any()
    return PEType(
        name=data["name"],
        description=data["description"],
        source=data["source"],
        technology_nm=float(data["technology_nm"]),
        clock_hz=float(data["clock_hz"]),
        area_um2=float(data["area_um2"]),
        leakage_uw=float(data["leakage_uw"]),
        modes=tuple(modes),
        epilogue=epilogue,
        notes=data.get("notes", ""),
    )


def list_pes() -> list[str]:
    """Names of the PE types shipped with the package.

    Example:
        >>> "mant" in list_pes()
        True
    """
    folder = resources.files("hwmodel") / "data" / "pes"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_pe(name_or_path: str | Path) -> PEType:
    """Load a shipped PE type by name, or a PE YAML file by path.

    Raises:
        InputError: unknown name, unreadable file or invalid content.

    Example:
        >>> load_pe("ant").mode_for(4, 4).macs_per_cycle
        1.0
    """
    return _load_pe_cached(str(name_or_path))


@functools.lru_cache(maxsize=64)
def _load_pe_cached(name_or_path: str) -> PEType:
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError.single(
                "pe", "must be a shipped PE name or an existing YAML file", name_or_path
            )
        return pe_from_dict(load_yaml_file(path, what="PE file"), path="pe")
    else:
        if name_or_path not in list_pes():
            raise InputError.single(
                "pe", f"unknown PE; known PEs are {', '.join(list_pes())}", name_or_path
            )
        packaged = resources.files("hwmodel") / "data" / "pes" / f"{name_or_path}.yaml"
        text = packaged.read_text("utf-8")
    data = load_yaml_text(text, where=f"hwmodel/data/pes/{name_or_path}.yaml")
    return pe_from_dict(data, path="pe")
