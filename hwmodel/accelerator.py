"""Accelerators: a PE type, a systolic array, on-chip buffers, a DRAM interface and a clock.

An accelerator is a YAML file (presets under ``hwmodel/presets/``) that loads into a frozen
:class:`Accelerator`, validating every field and reporting all issues at once, and dumps back
unchanged (``load_accelerator(dump) == acc``; dumping a loaded dump reproduces the text).

Its precision is its PE's native recipe (``Precision.from_recipe`` of the recipe the PE file
names), so a preset and a study design on the same PE and recipe cost the same; a file states
``default_precision`` only to run something else. ``pe_constants`` names the PE's constant set
(``unicore``, the default, or ``paper``; ``hwmodel.pe.CONSTANT_SETS``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hwmodel._validate import check_keys, in_file, reprefix, require_number
from hwmodel.parts import (
    ArrayConfig,
    BufferConfig,
    DramConfig,
    DramType,
    Overlap,
    dram_fields,
)
from hwmodel.pe import CONSTANT_SETS, DEFAULT_CONSTANTS, OWN_CONSTANTS, PEType, load_pe
from hwmodel.precision import Precision
from mant.errors import InputError, Issue, IssueCollector
from mant.yaml_input import load_yaml_file, load_yaml_text

__all__ = [
    "Overlap",
    "Keep",
    "ArrayConfig",
    "BufferConfig",
    "DramConfig",
    "Accelerator",
    "load_accelerator",
    "dump_accelerator",
    "accelerator_from_dict",
    "list_presets",
    "iso_area",
    "native_precision",
    "PSUM_BITS",
]

PSUM_BITS = 32
"""Width of a partial sum held in the output buffer, bits."""


class Keep(StrEnum):
    """Which array side :func:`iso_area` keeps (the other is sized to the area budget)."""

    COLS = "cols"
    ROWS = "rows"


@dataclass(frozen=True, slots=True, kw_only=True)
class Accelerator:
    """A complete accelerator. Build with :func:`load_accelerator`; derive with ``with_*``.

    Attributes:
        name: Preset or file name.
        description: One line.
        source: Where the configuration comes from.
        pe_ref: The PE as written in the file (a shipped PE name or a YAML path).
        pe: The loaded PE type.
        clock_hz: Clock, Hz.
        array: PE array.
        buffers: On-chip buffers.
        dram: DRAM interface.
        overlap: Compute / memory overlap model.
        default_precision: The precision it runs: ``Precision.from_recipe`` of the PE's native
            recipe unless the file states one.
        pe_constants: The PE constant set (``hwmodel.pe.CONSTANT_SETS``).

    Example:
        >>> acc = load_accelerator("mant").with_array(rows=64, cols=32, dataflow="ws")
        >>> acc.array.rows, acc.pe.name
        (64, 'mant')
    """

    name: str
    description: str
    source: str
    pe_ref: str
    pe: PEType
    clock_hz: float
    array: ArrayConfig
    buffers: BufferConfig
    dram: DramConfig
    overlap: Overlap
    default_precision: Precision
    pe_constants: str = DEFAULT_CONSTANTS

    @property
    def pe_area_um2(self) -> float:
        """Area of the PE array plus per-column epilogues, um^2."""
        return pe_area_um2(self.pe, self.array.rows, self.array.cols)

    @property
    def sram_area_um2(self) -> float:
        """Area of the buffers, um^2."""
        return self.buffers.total_bytes / 1024 * self.buffers.area_um2_per_kib

    @property
    def area_um2(self) -> float:
        """PE array + epilogues + buffers + load path, um^2."""
        return self.pe_area_um2 + self.sram_area_um2 + self.array.load_area_um2

    def with_array(
        self,
        *,
        rows: int | None = None,
        cols: int | None = None,
        dataflow: str | None = None,
        preload: str | None = None,
        gemv_path: str | None = None,
        gemv_max_m: int | None = None,
        load_bytes_per_cycle: float | None = None,
    ) -> Accelerator:
        """A copy with another array shape, dataflow, preload, GEMV path or load-path width
        (validated)."""
        given = {
            "rows": rows,
            "cols": cols,
            "dataflow": dataflow,
            "preload": preload,
            "gemv_path": gemv_path,
            "gemv_max_m": gemv_max_m,
            "load_bytes_per_cycle": load_bytes_per_cycle,
        }
        array = {
            k: (v if given.get(k) is None else given[k]) for k, v in self.array.to_dict().items()
        }
        return accelerator_from_dict({**self.to_dict(), "array": array}, pe=self.pe)

    def with_buffers(self, **sizes: Any) -> Accelerator:
        """A copy with some buffer fields replaced (e.g. ``weight_bytes=262144``), validated."""
        return accelerator_from_dict(
            {**self.to_dict(), "buffers": {**self.to_dict()["buffers"], **sizes}}, pe=self.pe
        )

    def with_dram(self, **fields: Any) -> Accelerator:
        """A copy with some DRAM fields replaced (e.g. ``bw_bytes_per_cycle=25.6``), validated."""
        return accelerator_from_dict(
            {**self.to_dict(), "dram": {**self.to_dict()["dram"], **fields}}, pe=self.pe
        )

    def with_precision(self, precision: Precision) -> Accelerator:
        """A copy whose default precision is ``precision`` (validated against the buffers)."""
        return accelerator_from_dict(
            {**self.to_dict(), "default_precision": precision.to_dict()}, pe=self.pe
        )

    def with_pe_constants(self, constants: str) -> Accelerator:
        """A copy whose PE takes another constant set (``unicore`` or ``paper``)."""
        return accelerator_from_dict({**self.to_dict(), "pe_constants": constants})

    def to_dict(self) -> dict[str, Any]:
        """Plain-type mapping in file order; ``accelerator_from_dict(acc.to_dict()) == acc``.

        ``pe_constants`` is written when not the default set, ``default_precision`` when it is
        not the PE's native recipe's (so a preset's precision is never stated twice).
        """
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "pe": self.pe_ref,
        }
        if self.pe_constants != DEFAULT_CONSTANTS:
            out["pe_constants"] = self.pe_constants
        out.update(
            {
                "clock_hz": self.clock_hz,
                "array": self.array.to_dict(),
                "buffers": {f.name: getattr(self.buffers, f.name) for f in _fields(BufferConfig)},
                "dram": self.dram.to_dict(),
                "overlap": str(self.overlap),
            }
        )
        if self.default_precision != native_precision(self.pe):
            out["default_precision"] = self.default_precision.to_dict()
        return out

    def to_yaml(self) -> str:
        """The accelerator as YAML text (what :func:`dump_accelerator` writes)."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=99)


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def native_precision(pe: PEType) -> Precision | None:
    """``Precision.from_recipe`` of the PE's native recipe (None: the PE names none).

    Example:
        >>> native_precision(load_pe("ant")).act_bits  # ant-w4a4
        4
    """
    if pe.native_recipe is None:
        return None
    return _recipe_precision(pe.native_recipe)


@functools.lru_cache(maxsize=64)
def _recipe_precision(name: str) -> Precision:
    from mant.recipes import named_recipe

    return Precision.from_recipe(named_recipe(name, "pe.native_recipe"))


def pe_area_um2(pe: PEType, rows: Any, cols: Any) -> Any:
    """PE array area incl. per-column epilogues, um^2 (ints or arrays)."""
    epi = pe.epilogue.area_um2_per_column if pe.epilogue is not None else 0.0
    return rows * cols * pe.area_um2 + cols * epi


def min_tile_issues(
    c: IssueCollector, rows: int, cols: int, buffers: BufferConfig, precision: Precision, path: str
) -> None:
    """Record an issue for each buffer whose active part cannot hold one array tile.

    One tile is R x C elements of the B operand (at the widest bits per element of weights, KV
    and every per-kind override of ``precision``),
    R x C activations, and R x C partial sums of ``PSUM_BITS`` in the output buffer.
    """
    b_bits = precision.widest_b_bits_per_element
    needs = (
        ("weight_bytes", rows * cols * b_bits / 8),
        ("act_bytes", rows * cols * precision.act_bits_per_element / 8),
        ("out_bytes", rows * cols * PSUM_BITS / 8),
    )
    for key, need in needs:
        size = getattr(buffers, key)
        if buffers.active_bytes(size) < need:
            half = " (half of it when double-buffered)" if buffers.double_buffered else ""
            c.add(
                f"{path}.buffers.{key}",
                f"too small for one {rows}x{cols} tile: needs {need:.0f} bytes{half}",
                size,
            )


_TOP_KEYS = (
    "name",
    "description",
    "source",
    "pe",
    "clock_hz",
    "array",
    "buffers",
    "dram",
    "overlap",
    "default_precision",
    "pe_constants",
)
_ARRAY_KEYS = tuple(f.name for f in dataclasses.fields(ArrayConfig))
_BUFFER_KEYS = tuple(f.name for f in dataclasses.fields(BufferConfig))
# buffers: sizes and every energy / area field are required (a missing one is never 0)
_BUFFER_REQUIRED = tuple(k for k in _BUFFER_KEYS if k != "double_buffered")
_DRAM_KEYS = (
    "type",
    "stacks",
    "bw_bytes_per_cycle",
    "read_pj_per_bit",
    "write_pj_per_bit",
    "background_mw",
    "capacity_bytes",
)


def _section(
    c: IssueCollector,
    data: Any,
    key: str,
    cls: Any,
    keys: tuple[str, ...],
    required: tuple[str, ...],
    path: str,
    fill: Any = None,
) -> Any:
    """One validated sub-config (``array``, ``buffers``, ``dram``), or None with its issues.

    ``fill`` completes the raw mapping before the required keys are checked (a DRAM type's
    figures)."""
    if key not in data:
        return None
    raw = data[key]
    if fill is not None and isinstance(raw, dict):
        raw = fill(raw)
    before = len(c.issues)
    if not check_keys(raw, f"{path}.{key}", required=required, optional=keys, collector=c):
        return None
    if len(c.issues) > before:  # an unknown or missing key: never build a half-read part
        if key == "dram":  # the five figures can also come from a named type
            named = ", ".join(t for t in DramType if t != DramType.CUSTOM)
            hint = f"is required (or name a dram.type: {named})"
            c.issues[before:] = [
                Issue(i.path, hint, i.value) if i.rule == "is required" else i
                for i in c.issues[before:]
            ]
        return None
    try:
        return cls(**raw)
    except InputError as exc:
        c.extend(exc, prefix=path)
        return None


# an accelerator file may carry a KV width its PE has no mode for (an fp16 KV cache on a
# weights-only workload); evaluating a KV GEMM then fails with the PE's modes (``mode_for``)
_KV_OPERANDS = ("kv_bits", "per_kind.key", "per_kind.value")


def accelerator_from_dict(
    data: Any, path: str = "accelerator", *, pe: PEType | None = None
) -> Accelerator:
    """Validate a mapping into an :class:`Accelerator`, reporting every issue at once.

    Args:
        data: The mapping (as read from YAML).
        path: Prefix of issue paths.
        pe: An already loaded PE type for ``data["pe"]`` (skips loading it again).

    Raises:
        InputError: one issue per unknown key, missing key, bad size, unknown dataflow or PE,
            and buffer too small for one tile.
    """
    c = IssueCollector()
    if not check_keys(data, path, required=_TOP_KEYS[3:8], optional=_TOP_KEYS, collector=c):
        c.raise_if_any()
    constants = data.get("pe_constants", DEFAULT_CONSTANTS)
    if not c.check(
        constants in CONSTANT_SETS,
        f"{path}.pe_constants",
        f"must be one of {', '.join(CONSTANT_SETS)}",
        constants,
    ):
        constants = DEFAULT_CONSTANTS
    for key in ("name", "description", "source"):
        if key in data:
            c.check(isinstance(data[key], str), f"{path}.{key}", "must be a string", data[key])
    pe_type = pe if pe is None or pe.constants in (constants, OWN_CONSTANTS) else None
    pe_ref = data.get("pe")
    if pe_type is None and "pe" in data:
        if not isinstance(pe_ref, str):
            c.add(f"{path}.pe", "must be a PE name or a path to a PE YAML file", pe_ref)
        else:
            try:
                pe_type = load_pe(pe_ref, constants)
            except InputError as exc:
                c.extend(reprefix(exc, "pe", "pe"), prefix=path)
    require_number(c, data.get("clock_hz"), f"{path}.clock_hz")

    array = _section(c, data, "array", ArrayConfig, _ARRAY_KEYS, _ARRAY_KEYS[:3], path)
    buffers = _section(c, data, "buffers", BufferConfig, _BUFFER_KEYS, _BUFFER_REQUIRED, path)
    clock = data.get("clock_hz")
    clock_ok = isinstance(clock, int | float) and not isinstance(clock, bool) and clock > 0
    raw_dram = data.get("dram")
    kind = raw_dram.get("type", "custom") if isinstance(raw_dram, dict) else "custom"
    if kind not in tuple(DramType):  # one issue, not one per figure the type would give
        c.add(f"{path}.dram.type", f"must be one of {', '.join(DramType)}", kind)
    dram = (
        None
        if kind not in tuple(DramType)
        else _section(
            c,
            data,
            "dram",
            DramConfig,
            _DRAM_KEYS,
            _DRAM_KEYS[2:],
            path,
            fill=lambda raw: dram_fields(raw, float(clock) if clock_ok else 1e9),
        )
    )

    overlap = data.get("overlap", "max")
    c.check(overlap in tuple(Overlap), f"{path}.overlap", "must be one of max, sum", overlap)

    precision = None
    raw = data.get("default_precision")
    if raw is None and pe_type is not None:
        try:
            precision = native_precision(pe_type)
        except InputError as exc:
            c.extend(exc, prefix=path)
        if precision is None and not c.issues:
            c.add(
                f"{path}.default_precision",
                f"is required: PE {pe_type.name} names no native_recipe",
                None,
            )
    elif raw is not None:
        try:
            precision = Precision.from_dict(raw)
        except InputError as exc:
            c.extend(reprefix(exc, "precision", "default_precision"), prefix=path)
        except TypeError as exc:  # pragma: no cover - check_keys catches bad keys first
            c.add(f"{path}.default_precision", str(exc), raw)
    if pe_type is not None and precision is not None:
        for operand, bits, a_bits in precision.mode_widths:
            if operand in _KV_OPERANDS:
                continue  # KV widths are checked where a workload multiplies by the KV cache
            if not pe_type.supports(bits, a_bits):
                c.add(
                    f"{path}.default_precision.{operand}",
                    f"PE {pe_type.name} has no mode for W{bits}A{a_bits}",
                    bits,
                )
    if array is not None and buffers is not None and precision is not None:
        min_tile_issues(c, array.rows, array.cols, buffers, precision, path)
    c.raise_if_any()
    assert pe_type is not None and array is not None and buffers is not None  # for type checkers
    assert dram is not None and precision is not None
    return Accelerator(
        name=data.get("name", ""),
        description=data.get("description", ""),
        source=data.get("source", ""),
        pe_ref=pe_ref,
        pe=pe_type,
        clock_hz=data["clock_hz"],
        array=array,
        buffers=buffers,
        dram=dram,
        overlap=Overlap(overlap),
        default_precision=precision,
        pe_constants=constants,
    )


def list_presets() -> list[str]:
    """Names of the shipped accelerator presets.

    Example:
        >>> list_presets()  # doctest: +NORMALIZE_WHITESPACE
        ['ant', 'bitfusion', 'bitmod', 'fourover6', 'fp16', 'int8', 'm2xfp', 'mant', 'mxfp',
         'nvfp4', 'olive', 'razer', 'tender']
    """
    folder = resources.files("hwmodel") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_accelerator(name_or_path: str | Path) -> Accelerator:
    """Load a preset by name or an accelerator YAML file by path.

    Raises:
        InputError: unknown preset, missing file, invalid YAML or invalid content.

    Example:
        >>> load_accelerator("ant").default_precision.kv_bits
        16
    """
    ref = str(name_or_path)
    if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        path = Path(ref)
        if not path.is_file():
            raise InputError.single("accelerator", "file not found", ref)
        try:
            return accelerator_from_dict(load_yaml_file(path, what="accelerator file"))
        except InputError as exc:
            raise in_file(exc, str(path)) from None
    elif ref in list_presets():
        text = (resources.files("hwmodel") / "presets" / f"{ref}.yaml").read_text("utf-8")
    else:
        raise InputError.single(
            "accelerator",
            f"unknown preset; known presets are {', '.join(list_presets())} (or give a YAML path)",
            ref,
        )
    return accelerator_from_dict(load_yaml_text(text, where=f"hwmodel/presets/{ref}.yaml"))


def dump_accelerator(acc: Accelerator, path: str | Path) -> None:
    """Write ``acc`` as YAML to ``path`` (loads back equal)."""
    Path(path).write_text(acc.to_yaml())


def iso_area(acc: Accelerator, area_um2: float, *, keep: Keep | str = Keep.COLS) -> Accelerator:
    """The accelerator resized to spend a PE-area budget, one array side kept.

    The iso-area rule: with C kept, rows = floor((A - C * epilogue area) / (C * PE area));
    with R kept, cols = floor(A / (R * PE area + epilogue area)). The PE array (with its
    per-column epilogues) then spends at most ``area_um2`` and one more row (column) would
    exceed it.

    Args:
        acc: The accelerator to resize.
        area_um2: PE-area budget, um^2.
        keep: ``"cols"`` (size the rows) or ``"rows"`` (size the columns).

    Raises:
        InputError: if not even one row (column) fits, or ``keep`` is neither.

    Example:
        >>> budget = 104 * 32 * 785929 / 2024  # UniCore's M-ANT array (hardware.md §5)
        >>> iso_area(load_accelerator("ant"), budget).array.rows  # UniCore's ANT array: 78 x 64
        78
    """
    if keep not in tuple(Keep):
        raise InputError.single("iso_area.keep", "must be cols or rows", keep)
    epi = acc.pe.epilogue.area_um2_per_column if acc.pe.epilogue is not None else 0.0
    if keep == Keep.COLS:
        cols = acc.array.cols
        rows = int((area_um2 - cols * epi) // (cols * acc.pe.area_um2))
    else:
        rows = acc.array.rows
        cols = int(area_um2 // (rows * acc.pe.area_um2 + epi))
    if rows < 1 or cols < 1:
        raise InputError.single(
            "iso_area.area_um2", f"too small for one {keep[:-1]} of {acc.pe.name} PEs", area_um2
        )
    return acc.with_array(rows=rows, cols=cols)
