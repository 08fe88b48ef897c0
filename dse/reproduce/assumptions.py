"""Every assumption behind the reproduced figures, as named, sourced values.

Most values live in the accelerator presets and PE files (``hwmodel/presets``,
``hwmodel/data/pes``); they are read back from the accelerators actually evaluated, so the table
cannot drift from the model. The rest are the reproduction's own choices (the area budget, how
averages are taken, the cycle-model semantics) and are stated here with their reasons.

Example:
    >>> from dse.reproduce.config import load_config
    >>> from dse.reproduce.compute import build_accelerators
    >>> cfg = load_config()
    >>> table = assumptions_table(cfg, build_accelerators(cfg))
    >>> any(a.name == "mant.array" for a in table)
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dse.reproduce.config import ReproduceConfig
from hwmodel import Accelerator

__all__ = ["Assumption", "assumptions_table", "GLOBAL_ASSUMPTIONS"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Assumption:
    """One named value the figures depend on.

    Attributes:
        name: Dotted name (``design.field`` or ``model.field``).
        value: The value, as shown.
        unit: Unit, or ``""``.
        source: Where it comes from, with its evidence tag ([C] confirmed, [T] third-party,
            [D] derived, [U] unverified; reference ``hardware.md``).
        drives: Which figure it mainly moves (``speedup``, ``energy``, ``both``, ``accuracy``).
    """

    name: str
    value: str
    unit: str
    source: str
    drives: str = "both"


GLOBAL_ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        name="model.cycle_semantics",
        value="SCALE-Sim v3 closed form; WS/IS fold = 2R + C + T - 2 cycles with serial "
        "preload (model.stationary_preload)",
        unit="",
        source="hardware.md §2.2 [D], checked against 21 SCALE-Sim golden runs (docs/hwmodel.md); "
        "UniCore's tile model omits the R-cycle stationary load (hardware.md §2.4 [T])",
        drives="speedup",
    ),
    Assumption(
        name="model.overlap",
        value="max(compute, DRAM)",
        unit="",
        source="double buffering hides the shorter side; UniCore uses the same rule "
        "(hardware.md §7 [T])",
        drives="speedup",
    ),
    Assumption(
        name="model.attention",
        value="dense QK^T and PV against the KV cache at the KV precision; softmax and norms "
        "not costed",
        unit="",
        source="hwmodel llm_workload (docs/hwmodel.md, Known limits)",
        drives="both",
    ),
    Assumption(
        name="model.clock",
        value="1",
        unit="GHz",
        source="28 nm, 1 GHz for every PE (UniCore configuration.py, hardware.md §5 [T]); "
        "M-ANT's clock is not known (mant_authors.md §3)",
        drives="speedup",
    ),
    Assumption(
        name="model.pe_constants_pnr",
        value="before place-and-route (UniCore's 1.5x factor not applied, same for all designs)",
        unit="",
        source="hardware.md §5 [T]",
        drives="energy",
    ),
    Assumption(
        name="mant.rqu_overhead",
        value="0.3% exposed (not added by default; alternative rqu.exposed adds it to M-ANT's "
        "cycles); its area and energy are not known and not costed",
        unit="",
        source="the paper's real-time quantization unit overhead on a representative GEMM "
        "(mant_authors.md §2 [sum])",
        drives="speedup",
    ),
    Assumption(
        name="baselines.kv_precision",
        value="Tender, OliVe and ANT keep an FP16 KV cache (their recipes quantize no K/V); "
        "alternative tender_kv.unicore_int4 gives Tender UniCore's 4-bit KV",
        unit="",
        source="the M-ANT paper's evaluation per the summary (mant_authors.md §3 [sum]); "
        "UniCore configuration.py kv_prec (hardware.md §5 [T])",
        drives="both",
    ),
    Assumption(
        name="baselines.activations",
        value="INT8 activations for every design (M-ANT's PE has no W4A4 mode); alternative "
        "activations.a4 runs all at 4 bits",
        unit="",
        source="M-ANT PE is MANT4 x INT8 (mant_authors.md §3 [sum]); UniCore compares at W4A8 "
        "(hardware.md §5 [T])",
        drives="both",
    ),
)
"""Assumptions of the model itself, shared by every design."""


def _design_rows(name: str, acc: Accelerator) -> list[Assumption]:
    p = acc.default_precision
    pe = acc.pe
    preset = f"hwmodel preset `{acc.name}`: {acc.source}"
    rows = [
        Assumption(
            name=f"{name}.array",
            value=f"{acc.array.rows} x {acc.array.cols} {acc.array.dataflow}",
            unit="PEs",
            source=preset,
            drives="speedup",
        ),
        Assumption(
            name=f"{name}.pe_area",
            value=f"{pe.area_um2:.1f}",
            unit="um^2/PE",
            source=f"PE `{pe.name}`: {pe.source}",
            drives="speedup",
        ),
        Assumption(
            name=f"{name}.precision",
            value=f"W{p.weight_bits} ({p.weight_bits_per_element:g} b/elem) A{p.act_bits} "
            f"KV{p.kv_bits} ({p.kv_bits_per_element:g} b/elem), g={p.group_size}",
            unit="bits",
            source=f"Precision.from_recipe of the design's recipe ({acc.description})",
            drives="both",
        ),
    ]
    for operand, bits in (("weights", p.weight_bits), ("kv", p.kv_bits)):
        mode = pe.mode_for(bits, p.act_bits)
        rows.append(
            Assumption(
                name=f"{name}.mode_{operand}",
                value=f"W{mode.weight_bits}A{mode.act_bits}: {mode.macs_per_cycle:g} "
                f"MAC/PE-cycle, {mode.energy_pj_per_mac:g} pJ/MAC",
                unit="",
                source=mode.source or pe.source,
                drives="both",
            )
        )
    if pe.epilogue is not None:
        e = pe.epilogue
        rows.append(
            Assumption(
                name=f"{name}.epilogue",
                value=f"{e.energy_pj_per_op:g} pJ/op, {e.ops_per_cycle:g} op/cycle/column, "
                f"{e.area_um2_per_column:g} um^2/column",
                unit="",
                source=e.source,
                drives="both",
            )
        )
    rows.append(
        Assumption(
            name=f"{name}.leakage",
            value=f"{pe.leakage_uw:g}",
            unit="uW/PE",
            source=pe.notes or pe.source,
            drives="energy",
        )
    )
    return rows


def _preload_row(accelerators: Mapping[str, Accelerator]) -> Assumption:
    """How the evaluated arrays load each fold's stationary operand (read back from them)."""
    modes = sorted({str(a.array.preload) for a in accelerators.values()})
    return Assumption(
        name="model.stationary_preload",
        value=", ".join(modes)
        + " (serial: R-cycle load then compute, 2R + C + T - 2 per fold; overlapped: "
        "double-buffered stationary registers, R + F (R + C + T - 2) per layer)",
        unit="",
        source="serial = SCALE-Sim v3 (hardware.md §2.2 [D], 21 golden runs); overlapped = "
        "TPU-style weight double buffering, derived and checked against a cycle-by-cycle "
        "simulation (docs/hwmodel.md [D]); which one M-ANT's simulator used is not known [U]; "
        "alternative preload.overlapped shows the other",
        drives="speedup",
    )


def _memory_rows(acc: Accelerator, prefix: str = "memory") -> list[Assumption]:
    b, d = acc.buffers, acc.dram
    src = f"preset `{acc.name}`: {acc.source}"
    return [
        Assumption(
            name=f"{prefix}.buffers",
            value=f"{b.weight_bytes // 1024} + {b.act_bytes // 1024} + {b.out_bytes // 1024} "
            f"(weight + act + out), double-buffered={b.double_buffered}",
            unit="KiB",
            source=src,
            drives="both",
        ),
        Assumption(
            name=f"{prefix}.sram_energy",
            value=f"{b.read_pj_per_bit:g} read / {b.write_pj_per_bit:g} write",
            unit="pJ/bit",
            source=src,
            drives="energy",
        ),
        Assumption(
            name=f"{prefix}.dram_bandwidth",
            value=f"{d.bw_bytes_per_cycle:g}",
            unit="bytes/cycle",
            source=src,
            drives="speedup",
        ),
        Assumption(
            name=f"{prefix}.dram_energy",
            value=f"{d.read_pj_per_bit:g} read / {d.write_pj_per_bit:g} write",
            unit="pJ/bit",
            source=src,
            drives="energy",
        ),
    ]


def _scope_rows(cfg: ReproduceConfig) -> list[Assumption]:
    rows = []
    for sc in cfg.scopes:
        layers = "linear projections only" if sc.layers == "linear" else "every layer"
        rows.append(
            Assumption(
                name=f"scope.{sc.name}",
                value=f"{layers}; models {', '.join(sc.models)}; phases {', '.join(sc.phases)}; "
                f"sequence {', '.join(map(str, sc.seq_lens))}; batch "
                f"{', '.join(map(str, sc.batches))}; over {', '.join(sc.baselines)}",
                unit="",
                source=sc.title
                + (
                    " (the paper's scope, mant_authors.md §4 [sum])"
                    if sc.paper
                    else " (our own grid)"
                ),
                drives="both",
            )
        )
    return rows


def _pe_area_row(cfg: ReproduceConfig, acc: Accelerator) -> Assumption:
    mode = acc.pe.mode_for(acc.default_precision.weight_bits, acc.default_precision.act_bits)
    per_mac = acc.pe.area_um2 / mode.macs_per_cycle
    return Assumption(
        name=f"{cfg.subject}.pe_area_vs_paper",
        value=f"{per_mac:.1f} um^2/MAC (W{mode.weight_bits}A{mode.act_bits}) against the "
        f"paper's 148 um^2/MAC: {per_mac / 148.0 - 1:+.0%} (constant set "
        f"{acc.pe.constants}; `--assumptions paper` takes the paper's set)",
        unit="",
        source=f"PE constant set {acc.pe.constants} (hwmodel/data/pes/{acc.pe.name}.yaml) vs "
        "HBQ Table IX note d quoting M-ANT's 28 nm synthesis (mant_authors.md §3 [cite])",
        drives="speedup",
    )


def _set_rows(cfg: ReproduceConfig) -> list[Assumption]:
    """The named assumption set and the one PE constant set every design takes."""
    return [
        Assumption(
            name="reproduce.assumption_set",
            value=cfg.assumptions,
            unit="",
            source="mant-dse reproduce --assumptions (docs/reproduce.md): physical = the default "
            "hardware model; paper = all the M-ANT paper's assumptions together",
            drives="both",
        ),
        Assumption(
            name="reproduce.pe_constants",
            value=cfg.pe_constants,
            unit="",
            source="every design's PE takes this constant set of its PE file "
            "(hwmodel/data/pes/*.yaml `constants`); one comparison never mixes sets",
            drives="both",
        ),
    ]


def assumptions_table(
    cfg: ReproduceConfig, accelerators: Mapping[str, Accelerator]
) -> tuple[Assumption, ...]:
    """Every assumption: the reproduction's own, the model's, each design's, the memory's, and
    every named alternative.

    Args:
        cfg: The configuration.
        accelerators: The iso-area accelerators evaluated (name -> accelerator).
    """
    own = [
        Assumption(
            name="reproduce.area_budget",
            value=f"{cfg.area_budget_um2:,.0f}",
            unit="um^2 of PE array (epilogues included)",
            source=(
                "UniCore's M-ANT array 104 x 32 x 785929/2024 um^2 (hardware.md §5 [T]); every "
                "design is re-sized with hwmodel.iso_area (the paper sets PE counts at equal "
                "area, mant_authors.md §3 [sum])"
                if cfg.subject == "mant"
                else f"the {cfg.subject} design's own array (dse/reproduce/{cfg.subject}.yaml); "
                "a design with a fixed array keeps it and the iso-area table shows its share"
            ),
            drives="speedup",
        ),
        Assumption(
            name="reproduce.iso_area_tolerance",
            value=f"{cfg.iso_area_tolerance:g}",
            unit="fraction of the budget",
            source="one array row or column of the largest PE is ~2.2% of the budget, so a "
            "design may fall that far below it",
            drives="speedup",
        ),
        Assumption(
            name="reproduce.average",
            value=f"{cfg.mean} mean of per-case ratios per baseline (both means reported)",
            unit="",
            source="the paper's averaging is not stated (mant_authors.md §4)",
            drives="both",
        ),
        Assumption(
            name="reproduce.same_memory",
            value="every design has the same clock, buffers and DRAM (its preset's common setup)",
            unit="",
            source="the paper's setup (mant_authors.md §3 [sum])",
            drives="both",
        ),
    ]
    # the M-ANT comparison's own rows; another comparison (bitmod.yaml) states its designs'
    # precisions through their recipes and its PE constants through its constant set
    mant_only = ("model.pe_constants_pnr", "mant.rqu_overhead", "baselines.kv_precision")
    shared = [
        a
        for a in GLOBAL_ASSUMPTIONS
        if not (cfg.assumptions == "paper" and a.name == "baselines.activations")
        and (cfg.subject == "mant" or (a.name not in mant_only and a.name[:10] != "baselines."))
    ]
    rows = own + _set_rows(cfg) + _scope_rows(cfg) + shared + [_preload_row(accelerators)]
    if cfg.subject == "mant":  # the M-ANT paper's one published PE constant
        rows.append(_pe_area_row(cfg, accelerators[cfg.subject]))
    for d in cfg.designs:
        acc = accelerators[d.name]
        rows.append(
            Assumption(
                name=f"{d.name}.recipe",
                value=f"{d.recipe_name} ({d.recipe.summary()})",
                unit="",
                source=d.recipe.source or d.recipe.description,
                drives="both",
            )
        )
        rows.extend(_design_rows(d.name, acc))
    subject = accelerators[cfg.subject]
    rows.extend(_memory_rows(subject))  # shared by every design unless listed below
    for name, acc in accelerators.items():
        if (acc.buffers, acc.dram) != (subject.buffers, subject.dram):
            rows.extend(_memory_rows(acc, f"{name}.memory"))
    for alt in cfg.alternatives:
        rows.append(
            Assumption(
                name=f"alternative.{alt.name}",
                value=alt.description,
                unit="",
                source=alt.source,
                drives="both",
            )
        )
    return tuple(rows)
