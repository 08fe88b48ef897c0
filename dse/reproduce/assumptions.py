"""Every assumption behind the reproduced figures, as named, sourced values.

Most values live in the accelerator presets and PE files (``hwmodel/presets``,
``hwmodel/data/pes``); they are read back from the accelerators actually evaluated, so the table
cannot drift from the model. The rest are the reproduction's own choices (the area budget, how
averages are taken, the cycle-model semantics) and are stated here with their reasons.

Example:
    >>> from dse.reproduce.cases import load_config
    >>> from dse.reproduce.compute import build_accelerators
    >>> cfg = load_config()
    >>> table = assumptions_table(cfg, build_accelerators(cfg))
    >>> any(a.name == "mant.array" for a in table)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.reproduce.cases import ReproduceConfig
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
        value="dense QK^T and PV (no causal skipping); softmax, norms, RQU not costed",
        unit="",
        source="hwmodel limitation (docs/hwmodel.md, Known limits)",
        drives="both",
    ),
    Assumption(
        name="model.lm_head",
        value="last token of each sequence only",
        unit="",
        source="hwmodel llm_workload",
        drives="both",
    ),
    Assumption(
        name="model.clock",
        value="1",
        unit="GHz",
        source="28 nm, 1 GHz for every PE (UniCore configuration.py, hardware.md §5 [T])",
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
        name="baselines.olive_outliers",
        value="OliVe weights with outlier-victim pairs: `olive-ovp` per output channel (int4 or "
        "flint4 normals, abfloat outliers, victim zeroed, clip search over 0.75..2.49)",
        unit="",
        source="mant.olive, the rules of the OliVe artifact clevercool/ANT-Quantization "
        "quant_modules.py (mant.md §9.2 [C]; docs/numerics.md); OliVe's KV cache stays FP16",
        drives="accuracy",
    ),
    Assumption(
        name="baselines.tender_decomposition",
        value="Tender weights INT4 per output channel (max|w|/7); Tender K/V (the activations the "
        "accuracy side quantizes) by mant.quantize_tender: INT4, 256-token chunks, channel bias, "
        "8 power-of-two channel groups, per layer and head",
        unit="",
        source="Tender artifact snu-comparch/Tender (mant.md §9.3 [C]); 4-bit KV as in UniCore's "
        "comparison (mant.md §9.3 [T]); statistics from the tensor itself stand in for the "
        "artifact's calibration pass [U]; the hardware side keeps 4.0 KV bits/element",
        drives="accuracy",
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
            source=f"the design's paper setting, preset default_precision ({acc.description})",
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


def _preload_row(accelerators: dict[str, Accelerator]) -> Assumption:
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
        "the sensitivity axis `preload` shows both",
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


def assumptions_table(
    cfg: ReproduceConfig, accelerators: dict[str, Accelerator]
) -> tuple[Assumption, ...]:
    """Every assumption: the reproduction's own, the model's, each design's, the memory's.

    Args:
        cfg: The configuration.
        accelerators: The iso-area accelerators evaluated (name -> accelerator).
    """
    own = [
        Assumption(
            name="reproduce.area_budget",
            value=f"{cfg.area_budget_um2:,.0f}",
            unit="um^2 of PE array (epilogues included)",
            source="UniCore's M-ANT array 104 x 32 x 785929/2024 um^2 (hardware.md §5 [T]); every "
            "design is re-sized with hwmodel.iso_area",
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
            value=f"{cfg.mean} mean of per-case ratios over {', '.join(cfg.baselines)} x models x "
            "phases x sequence lengths x batches",
            unit="",
            source="[U] the paper's averaging is not known (hardware.md §1); its baselines are "
            "believed to be ANT, OliVe and Tender at comparable area",
            drives="both",
        ),
        Assumption(
            name="reproduce.references",
            value=", ".join(cfg.references) or "none",
            unit="",
            source="reported per design but not in the headline average",
            drives="both",
        ),
        Assumption(
            name="reproduce.cases",
            value=f"models {', '.join(cfg.models)}; phases {', '.join(cfg.phases)}; sequence "
            f"lengths {', '.join(map(str, cfg.seq_lens))}; batches "
            f"{', '.join(map(str, cfg.batches))}",
            unit="",
            source="[U] the paper's models and lengths are not known; LLaMA and OPT as in Amove "
            "Table 9 and PLENA Table V (accuracy.md §1-2 [T])",
            drives="both",
        ),
    ]
    rows = own + list(GLOBAL_ASSUMPTIONS) + [_preload_row(accelerators)]
    for name, acc in accelerators.items():
        rows.extend(_design_rows(name, acc))
    subject = accelerators[cfg.subject]
    rows.extend(_memory_rows(subject))  # shared by every design unless listed below
    for name, acc in accelerators.items():
        if (acc.buffers, acc.dram) != (subject.buffers, subject.dram):
            rows.extend(_memory_rows(acc, f"{name}.memory"))
    return tuple(rows)
