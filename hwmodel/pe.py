"""Processing-element types: one YAML file per PE, with its datapath constants in named sets.

A PE type is data: one YAML file under ``hwmodel/data/pes/`` (or any path, or a folder on
``MANT_DSE_PE_PATH``) naming its datapath, its native recipe (``mant.recipes``), its display
colour and one or more named *constant sets* (``constants: {unicore: {...}, paper: {...}}``),
each with its own source. Each precision mode of a set says how many MACs one PE completes per
cycle and the energy of one MAC in that mode. A PE runs a (B-operand bits, activation bits) pair
in the fastest mode whose widths cover it, and refuses a pair no mode covers (:class:`InputError`).

Adding a PE is adding one file: :func:`list_pes` reads the folder, and the study side
(``dse.study.space.PE_TYPES``, ``dse.study.pe_recipes.PE_RECIPES``,
``dse.report.units.PE_COLORS``) reads
:func:`list_pes` and :func:`load_pe`.

Constant sets (:data:`CONSTANT_SETS`) are never mixed within one comparison: an accelerator names
the set it takes (``pe_constants``, default ``unicore``), and every design of one comparison takes
the same set. A set may be written as the name of another set of the same file
(``paper: unicore``) when the numbers are the same.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hwmodel._validate import check_keys, require_int, require_number
from mant.errors import InputError, IssueCollector
from mant.yaml_input import load_yaml_file, load_yaml_text

__all__ = [
    "CONSTANT_SETS",
    "DEFAULT_CONSTANTS",
    "PE_PATH_ENV",
    "PrecisionMode",
    "GroupEpilogue",
    "PEType",
    "load_pe",
    "list_pes",
    "pe_file",
]

CONSTANT_SETS = ("unicore", "paper", "bitmod")
"""The named constant sets: ``unicore`` (the UniCore artifact, 28 nm, 1 GHz, the default),
``paper`` (the M-ANT paper's assumptions: its 148 um^2/MAC PE, the baselines as it ran them) and
``bitmod`` (the BitMoD simulator's PEs with its 1.5x post-place-and-route factor; only the PEs of
BitMoD's comparison, ``bitmod``, ``ant`` and ``olive``, offer it)."""

DEFAULT_CONSTANTS = "unicore"

PE_PATH_ENV = "MANT_DSE_PE_PATH"
"""Environment variable: folders (``os.pathsep``-separated) whose ``*.yaml`` files are PE types
too, next to the shipped ones (a shipped name wins)."""

# a PE file without a ``constants`` section (its numbers at top level) has one set of this name
OWN_CONSTANTS = "own"


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
        area_um2_per_column: Area of one column's unit, um^2 (0 when the PE area includes it).
        source: Derivation of the numbers.
    """

    energy_pj_per_op: float
    latency_cycles: int
    ops_per_cycle: float
    area_um2_per_column: float
    source: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PEType:
    """A processing-element type (all constants per PE, from one named constant set).

    Attributes:
        name: Identifier used by accelerator files and ``space.pe_type``.
        description: One line on the datapath.
        source: Paper / artifact the constants of the chosen set come from.
        technology_nm: Technology node of the constants, nm.
        clock_hz: Clock the constants were characterised at, Hz.
        area_um2: Area of one PE, um^2.
        leakage_uw: Leakage power of one PE, uW.
        modes: Supported precision modes.
        epilogue: Per-column group epilogue, if the PE defers per-group work to one.
        notes: How derived values were obtained.
        native_recipe: Name of the recipe (``mant.recipes``) of the formats the PE runs
            natively; a preset on this PE takes its precision from it.
        color: Display colour (``#rrggbb``) in plots and tables.
        searched_weights: Whether a study searches this PE's weight formats (``space.
            weight_format``); otherwise its weights are those of its native recipe.
        constants: The constant set these numbers are from (:data:`CONSTANT_SETS`, or ``own``
            for a file without sets).
        constant_sets: Every set the file offers.
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
    native_recipe: str | None = None
    color: str | None = None
    searched_weights: bool = False
    constants: str = OWN_CONSTANTS
    constant_sets: tuple[str, ...] = ()

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


_SHARED_KEYS = (
    "name",
    "description",
    "technology_nm",
    "clock_hz",
    "native_recipe",
    "color",
    "searched_weights",
    "notes",
)
# the numbers of one constant set (at top level in a file without ``constants``)
_SET_KEYS = ("source", "area_um2", "leakage_uw", "modes", "epilogue", "notes")
MAX_MACS_PER_CYCLE = 1024.0  # MACs one PE completes per cycle
MAX_PJ_PER_MAC = 1.0e4
_MODE_KEYS = ("weight_bits", "act_bits", "macs_per_cycle", "energy_pj_per_mac", "source")
_EPI_KEYS = (
    "energy_pj_per_op",
    "latency_cycles",
    "ops_per_cycle",
    "area_um2_per_column",
    "source",
)


def _parse_set(c: IssueCollector, data: dict[str, Any], path: str) -> dict[str, Any]:
    """The validated numbers of one constant set (``source`` ... ``epilogue``)."""
    c.check(
        isinstance(data.get("source"), str),
        f"{path}.source",
        "must be a string",
        data.get("source"),
    )
    if "notes" in data:
        c.check(isinstance(data["notes"], str), f"{path}.notes", "must be a string", data["notes"])
    require_number(c, data.get("area_um2"), f"{path}.area_um2")
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
        # bounds no PE nears (a 1e300 rate would overflow every cost silently)
        ok &= require_number(
            c, m.get("macs_per_cycle"), f"{mp}.macs_per_cycle", maximum=MAX_MACS_PER_CYCLE
        )
        ok &= require_number(
            c, m.get("energy_pj_per_mac"), f"{mp}.energy_pj_per_mac", maximum=MAX_PJ_PER_MAC
        )
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
    return {
        "source": data.get("source", ""),
        "area_um2": data.get("area_um2"),
        "leakage_uw": data.get("leakage_uw"),
        "modes": tuple(modes),
        "epilogue": epilogue,
        "set_notes": data.get("notes", ""),
    }


def pe_from_dict(data: Any, path: str = "pe", *, constants: str = DEFAULT_CONSTANTS) -> PEType:
    """Validate a PE mapping (as read from YAML) into a :class:`PEType` of one constant set.

    Args:
        data: The mapping.
        path: Prefix of issue paths.
        constants: The constant set to take (a file without ``constants`` has one set, which
            answers every name and is recorded as ``own``).

    Raises:
        InputError: every unknown or missing key and bad value, or a set the file lacks.
    """
    c = IssueCollector()
    with_sets = isinstance(data, dict) and "constants" in data
    keys = (*_SHARED_KEYS, "constants") if with_sets else (*_SHARED_KEYS, *_SET_KEYS)
    required: tuple[str, ...] = ("name", "description", "technology_nm", "clock_hz")
    if not with_sets:
        required = (*required, "source", "area_um2", "leakage_uw", "modes")
    if not check_keys(data, path, required=required, optional=keys, collector=c):
        c.raise_if_any()
    for key in ("name", "description", "notes", "native_recipe", "color"):
        if key in data and data[key] is not None:
            c.check(isinstance(data[key], str), f"{path}.{key}", "must be a string", data[key])
    color = data.get("color")
    if isinstance(color, str):
        ok = len(color) == 7 and color[0] == "#"
        ok = ok and all(ch in "0123456789abcdefABCDEF" for ch in color[1:])
        c.check(ok, f"{path}.color", "must be a colour #rrggbb", color)
    searched = data.get("searched_weights", False)
    c.check(
        isinstance(searched, bool), f"{path}.searched_weights", "must be true or false", searched
    )
    for key in ("technology_nm", "clock_hz"):
        require_number(c, data.get(key), f"{path}.{key}")
    if with_sets:
        sets = data["constants"]
        sp = f"{path}.constants"
        chosen: dict[str, Any] = {}
        offered: tuple[str, ...] = ()
        if not isinstance(sets, dict) or not sets:
            c.add(sp, "must map constant-set names to their numbers", sets)
        else:
            offered = tuple(str(k) for k in sets)
            for name, entry in sets.items():
                ok = c.check(
                    name in CONSTANT_SETS,
                    f"{sp}.{name}",
                    f"unknown constant set; sets are {', '.join(CONSTANT_SETS)}",
                    name,
                )
                if ok and isinstance(entry, str):
                    c.check(
                        entry in sets and isinstance(sets[entry], dict),
                        f"{sp}.{name}",
                        "must be a mapping of numbers or the name of another set of this file",
                        entry,
                    )
                elif ok and check_keys(
                    entry, f"{sp}.{name}", required=_SET_KEYS[:4], optional=_SET_KEYS, collector=c
                ):
                    parsed = _parse_set(c, entry, f"{sp}.{name}")
                    if name == constants:
                        chosen = parsed
            if constants not in sets:
                c.add(
                    f"{sp}",
                    f"has no set {constants!r}; this PE offers {', '.join(offered)}",
                    constants,
                )
            elif isinstance(sets[constants], str) and sets[constants] in sets:
                target = sets[sets[constants]]
                if isinstance(target, dict):
                    chosen = _parse_set(IssueCollector(), target, f"{sp}.{sets[constants]}")
        set_name = constants
    else:
        chosen = _parse_set(c, data, path)
        offered = (OWN_CONSTANTS,)
        set_name = OWN_CONSTANTS
    c.raise_if_any()
    notes = " ".join(t for t in (data.get("notes", "") or "", chosen["set_notes"]) if t)
    return PEType(
        name=data["name"],
        description=data["description"],
        source=chosen["source"],
        technology_nm=float(data["technology_nm"]),
        clock_hz=float(data["clock_hz"]),
        area_um2=float(chosen["area_um2"]),
        leakage_uw=float(chosen["leakage_uw"]),
        modes=chosen["modes"],
        epilogue=chosen["epilogue"],
        notes=notes,
        native_recipe=data.get("native_recipe"),
        color=data.get("color"),
        searched_weights=searched is True,
        constants=set_name,
        constant_sets=offered,
    )


def _pe_folders() -> list[Path]:
    """Folders holding PE files: the shipped one, then those on :data:`PE_PATH_ENV`."""
    shipped = resources.files("hwmodel") / "data" / "pes"
    extra = [Path(p) for p in os.environ.get(PE_PATH_ENV, "").split(os.pathsep) if p]
    return [Path(str(shipped)), *extra]


def _pe_files() -> dict[str, Path]:
    return dict(_pe_files_cached(os.environ.get(PE_PATH_ENV, "")))


@functools.lru_cache(maxsize=16)
def _pe_files_cached(env: str) -> tuple[tuple[str, Path], ...]:
    """PE name -> file, per value of :data:`PE_PATH_ENV` (the folders are read once)."""
    out: dict[str, Path] = {}
    for folder in _pe_folders():
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.name.endswith(".yaml") and p.name[:-5] not in out:
                out[p.name[:-5]] = p
    return tuple(out.items())


def list_pes() -> list[str]:
    """Names of the PE types: the shipped files and those of :data:`PE_PATH_ENV` folders.

    Example:
        >>> "mant" in list_pes() and "bitfusion" in list_pes()
        True
    """
    return sorted(_pe_files())


def pe_file(name: str) -> Path:
    """The file of a PE type by name.

    Raises:
        InputError: an unknown name.
    """
    files = _pe_files()
    if name not in files:
        raise InputError.single(
            "pe", f"unknown PE; known PEs are {', '.join(sorted(files))}", name
        )
    return files[name]


def load_pe(name_or_path: str | Path, constants: str = DEFAULT_CONSTANTS) -> PEType:
    """Load a PE type by name (shipped or on :data:`PE_PATH_ENV`), or a PE YAML file by path.

    Args:
        name_or_path: A PE name or a YAML path.
        constants: The constant set to take (:data:`CONSTANT_SETS`).

    Raises:
        InputError: unknown name, unreadable file, invalid content or a set the PE lacks.

    Example:
        >>> load_pe("ant").mode_for(4, 4).macs_per_cycle
        1.0
        >>> load_pe("mant", "paper").area_um2
        148.0
    """
    return _load_pe_cached(str(name_or_path), constants)


@functools.lru_cache(maxsize=128)
def _load_pe_cached(name_or_path: str, constants: str) -> PEType:
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            raise InputError.single(
                "pe", "must be a shipped PE name or an existing YAML file", name_or_path
            )
        return pe_from_dict(load_yaml_file(path, what="PE file"), path="pe", constants=constants)
    file = pe_file(name_or_path)
    data = load_yaml_text(file.read_text("utf-8"), where=str(file))
    return pe_from_dict(data, path="pe", constants=constants)
