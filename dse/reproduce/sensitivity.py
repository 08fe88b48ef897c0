"""One-at-a-time sensitivity of the headline figures to the assumptions that drive them.

Each knob is varied over its values with every other assumption at its base value (the presets,
the config's area budget, and the sensitivity base point's sequence length and batch). At each
value every design is rebuilt at iso-area and the headline (mean over the baselines, models and
phases) is recomputed. A knob whose range contains the paper's figure is one that can explain
the difference; the report names it instead of tuning it.

Example:
    >>> from dse.reproduce.cases import parse_config, reduce_config, DEFAULT_CONFIG
    >>> cfg = parse_config(reduce_config(DEFAULT_CONFIG, models=["llama-2-7b"]))
    >>> sens = run_sensitivity(cfg)
    >>> [p.value for p in sens.curves["batch"]]
    [1.0, 4.0, 16.0, 64.0, 128.0]
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.reproduce.cases import Case, ReproduceConfig
from dse.reproduce.compute import (
    Summary,
    build_accelerators,
    case_ratios,
    evaluate_cases,
    summarize,
)

__all__ = ["SensitivityPoint", "SensitivityResult", "run_sensitivity", "KNOB_INFO"]

KNOB_INFO: dict[str, tuple[str, str]] = {
    "dram_bw_bytes_per_cycle": (
        "DRAM bandwidth, bytes/cycle (GB/s at 1 GHz)",
        "preset value 256 (HBM2, UniCore decode setting [T]); the value each design uses",
    ),
    "area_scale": (
        "PE-area budget x (array size)",
        "1 = UniCore's M-ANT array budget; every design re-sized at iso-area",
    ),
    "buffer_kib": (
        "each on-chip buffer (weight, activation, output), KiB",
        "preset value 512 (UniCore weight/activation buffers [T], output [U])",
    ),
    "seq_len": ("sequence length, tokens", "prompt (prefill) or context (decode) length"),
    "batch": ("batch, sequences", "sequences processed together"),
    "act_bits": (
        "activation bits of every design",
        "presets use A8 (W4A8, UniCore mant_w4a8 [T]); A4 puts every 4-bit PE in its fastest mode",
    ),
    "dataflow": (
        "array dataflow of every design",
        "presets use WS (hardware.md §8 [D]); WS decode pays SCALE-Sim's 2R + C stationary load "
        "per fold",
    ),
    "preload": (
        "stationary-operand preload of every design (WS / IS)",
        "presets use serial, SCALE-Sim v3's load-then-compute fold (hardware.md §2.2 [D]); "
        "overlapped = double-buffered stationary registers, only the first fold's R-cycle load "
        "exposed (docs/hwmodel.md [D]); UniCore's tile model omits the load "
        "(hardware.md §2.4 [T])",
    ),
    "dram_energy_scale": (
        "DRAM energy per bit x",
        "1 = ZigZag tpu_like 10.94/11.72 pJ/bit (presets); 0.0575 = the ANT artifact's "
        "0.629/0.766 pJ/bit (hardware.md §6 [C])",
    ),
}
"""Knob -> (what it is, where its base value comes from)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityPoint:
    """The headline at one value of one knob.

    Attributes:
        knob: Knob name.
        value: Knob value.
        is_base: True if this is the value every other run uses.
        headline: Summary over the headline baselines.
        per_design: Baseline or reference name -> summary against it.
    """

    knob: str
    value: float | str
    is_base: bool
    headline: Summary
    per_design: dict[str, Summary]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensitivityResult:
    """All sensitivity curves.

    Attributes:
        seq_len: Base sequence length, tokens.
        batch: Base batch.
        curves: Knob -> points in the order of the config's values.
    """

    seq_len: int
    batch: int
    curves: dict[str, tuple[SensitivityPoint, ...]]

    def span(self, knob: str, metric: str = "speedup_avg") -> tuple[float, float]:
        """Smallest and largest value of ``metric`` along a knob."""
        values = [getattr(p.headline, metric) for p in self.curves[knob]]
        return min(values), max(values)


def _base_value(cfg: ReproduceConfig, knob: str, accs: dict) -> float | str:
    subject = accs[cfg.subject]
    return {
        "dram_bw_bytes_per_cycle": subject.dram.bw_bytes_per_cycle,
        "area_scale": 1.0,
        "buffer_kib": subject.buffers.weight_bytes / 1024,
        "seq_len": float(cfg.sensitivity.seq_len),
        "batch": float(cfg.sensitivity.batch),
        "act_bits": float(subject.default_precision.act_bits),
        "dataflow": str(subject.array.dataflow),
        "preload": str(subject.array.preload),
        "dram_energy_scale": 1.0,
    }[knob]


def run_sensitivity(cfg: ReproduceConfig) -> SensitivityResult:
    """Every knob of ``cfg.sensitivity`` over its values; models x phases at the base point."""
    s = cfg.sensitivity
    base_accs = build_accelerators(cfg)
    others = cfg.baselines + cfg.references
    curves: dict[str, tuple[SensitivityPoint, ...]] = {}
    for knob, values in s.knobs:
        base = _base_value(cfg, knob, base_accs)
        points = []
        for value in values:
            seq_len, batch = s.seq_len, s.batch
            kwargs: dict[str, float | str] = {}
            if knob == "seq_len":
                seq_len = int(value)
            elif knob == "batch":
                batch = int(value)
            else:
                kwargs[knob] = value
            accs = build_accelerators(cfg, **kwargs) if kwargs else base_accs  # type: ignore[arg-type]
            cases = [
                Case(model=m, phase=p, seq_len=seq_len, batch=batch)  # type: ignore[arg-type]
                for m in cfg.models
                for p in cfg.phases
            ]
            ratios = case_ratios(evaluate_cases(accs, cases), cfg.subject, others)
            points.append(
                SensitivityPoint(
                    knob=knob,
                    value=value if isinstance(value, str) else float(value),
                    is_base=value == base,
                    headline=summarize(
                        [r for r in ratios if r.baseline in cfg.baselines], cfg.mean
                    ),
                    per_design={
                        b: summarize([r for r in ratios if r.baseline == b], cfg.mean)
                        for b in others
                    },
                )
            )
        curves[knob] = tuple(points)
    return SensitivityResult(seq_len=s.seq_len, batch=s.batch, curves=curves)
