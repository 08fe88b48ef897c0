"""The answer of a study: distinct designs, the knee, the best per objective and per PE type.

Pure "info" step (tests check it); :mod:`dse.report.sections` renders it as HTML and
:func:`dse.report.terminal.pick_table` as text.

* **Distinct designs.** Trials that build the same quantization configs and the same hardware
  are one design: a parameter the PE ignores (a baseline PE's ``weight_format``, see
  :data:`dse.study.design.PE_WEIGHT_FORMATS`; ``kv_format`` at 16-bit KV) does not make a new
  design.
* **Knee.** Each objective of the feasible Pareto front is scaled to [0, 1] (best on the front
  -> 0, worst -> 1); the knee is the design closest (Euclidean) to the ideal point (0, ..., 0).
* **Best per objective**: the best value, ties broken by the same distance.
* **Best per PE type**: the design of that PE type closest to the ideal point (same scaling).
* **Reference**: the best ``int8`` PE design (or ``reference_pe``; else the first PE type of the
  space with a feasible design). Each pick is compared with it as the paper does: speedup ×,
  energy ×, area × and accuracy × (reference / design for metrics to minimise; > 1 is better).

Example:
    >>> import numpy as np
    >>> knee_index(np.array([[0.0, 1.0], [0.4, 0.4], [1.0, 0.0]]))
    1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dse.evaluate.pareto import pareto_mask, to_minimization
from dse.study.design import Design, design_from_values, freeze

if TYPE_CHECKING:
    from dse.study.spec import StudySpec

__all__ = [
    "ACCURACY_METRICS",
    "COMPARED_METRICS",
    "PickRow",
    "PickInfo",
    "design_of_row",
    "design_identity",
    "ignored_params",
    "param_texts",
    "distinct_designs",
    "knee_index",
    "pick_info",
    "DrillDown",
    "drilldown",
]

# Accuracy metrics, in the order in which one is chosen for the "accuracy ×" comparison.
ACCURACY_METRICS = (
    "ppl",
    "output_and_kv_rel_mse",
    "output_rel_mse",
    "rel_mse",
    "weight_rel_mse",
    "kv_rel_mse",
    "weight_sqnr_db",
)
# Cost metrics every pick is compared on (always measured by a study).
COMPARED_METRICS = ("latency_s", "energy_pj", "area_um2")
_RATIO_LABEL = {"latency_s": "speedup", "energy_pj": "energy", "area_um2": "area"}
_MAXIMISED = ("weight_sqnr_db", "kv_sqnr_db", "throughput_tok_s", "tokens_per_s", "utilization")


def _plain(value: Any) -> Any:
    """numpy scalars -> Python; integral floats (ints read back from a CSV with NaN) -> int."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def design_of_row(spec: StudySpec, row: Mapping[str, Any]) -> Design:
    """The design of a results-frame row (its ``param.<p>`` columns, format labels resolved)."""
    values = {p.name: _plain(row[f"param.{p.name}"]) for p in spec.space.searched}
    return design_from_values(spec.space, values)


_IDENTITIES: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_IGNORED: dict[tuple[Any, ...], frozenset[str]] = {}


def design_identity(design: Design) -> tuple[Any, ...]:
    """What the numbers and the hardware of a design depend on (equal: the same design)."""
    key = design.key
    hit = _IDENTITIES.get(key)
    if hit is None:
        recipe = design.recipe.to_dict()
        recipe.pop("name", None)
        hit = (freeze(recipe), design.hardware_key)
        if len(_IDENTITIES) > 100_000:
            _IDENTITIES.clear()
        _IDENTITIES[key] = hit
    return hit


def ignored_params(spec: StudySpec, design: Design) -> frozenset[str]:
    """Searched parameters that this design's PE ignores (another choice: the same design)."""
    choices = tuple((p.name, tuple(map(str, p.values()))) for p in spec.space.searched)
    memo_key = (choices, design.key)
    hit = _IGNORED.get(memo_key)
    if hit is not None:
        return hit
    ident = design_identity(design)
    out = set()
    for p in spec.space.searched:
        if p.name in ("pe_type", "rows", "cols", "dataflow"):
            continue
        others = [
            design.with_param(p.name, p.resolve(v))
            for v in p.values()
            if p.resolve(v) != design.param(p.name)
        ]
        if others and all(design_identity(d) == ident for d in others):
            out.add(p.name)
    _IGNORED[memo_key] = frozenset(out)
    return _IGNORED[memo_key]


def param_texts(spec: StudySpec, row: Mapping[str, Any], design: Design) -> dict[str, str]:
    """Each searched parameter as text: ``–`` where the PE ignores it, ``<format> (PE)`` for a
    baseline PE's own weight format."""
    ignored = ignored_params(spec, design)
    out = {}
    for p in spec.space.searched:
        value = _plain(row[f"param.{p.name}"])
        if (
            p.name.split(".")[0] == "weight_format"
            and p.name in ignored
            and (not design.uses_weight_format)
        ):
            kind = p.name.split(".")[1] if "." in p.name else "q"
            out[p.name] = f"{design.weight_candidates_of(kind)} (PE)"  # the PE's own format
        elif p.name in ignored or _missing(value):  # not sampled: the design does not use it
            out[p.name] = "–"
        else:
            out[p.name] = _with_bits(p.name, value, design)
    return out


def _missing(value: Any) -> bool:
    """A parameter a trial did not sample (None or a NaN in the frame)."""
    return value is None or (isinstance(value, float) and value != value)


def _with_bits(name: str, value: Any, design: Design) -> str:
    """A format choice as the format it is: ``int{bits}`` with 4-bit weights reads ``int4``."""
    base, _, kind = name.partition(".")
    if not (isinstance(value, str) and "{bits}" in value and base in _BITS_OF):
        return str(value)
    default_kind = "q" if base == "weight_format" else "key"
    bits = design.value_for(_BITS_OF[base], kind or default_kind)
    return value.replace("{bits}", str(bits)) if isinstance(bits, int) else str(value)


_BITS_OF = {"weight_format": "weight_bits", "kv_format": "kv_bits"}


def distinct_designs(df: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """One row per distinct design among the rows of ``df`` (first trial kept).

    Adds ``trials`` (the trial numbers of the design, comma-separated), ``n_trials`` and
    ``p.<name>`` (each searched parameter as text, ``–`` where the PE ignores it). Rows keep
    their ``obj.``/``metric.`` columns; the order is the first objective's.
    """
    if df.empty:
        return df.assign(trials=pd.Series(dtype=str), n_trials=pd.Series(dtype=int))
    groups: dict[tuple[Any, ...], list[int]] = {}
    first: dict[tuple[Any, ...], int] = {}
    texts: dict[tuple[Any, ...], dict[str, str]] = {}
    for i, (_, row) in enumerate(df.sort_values("trial", kind="stable").iterrows()):
        design = design_of_row(spec, row)
        key = design_identity(design)
        if key not in groups:
            groups[key], first[key] = [], i
            texts[key] = param_texts(spec, row, design)
        groups[key].append(int(row["trial"]))
    ordered = df.sort_values("trial", kind="stable").reset_index(drop=True)
    out = ordered.iloc[[first[k] for k in groups]].copy()
    out["trials"] = [", ".join(map(str, groups[k])) for k in groups]
    out["n_trials"] = [len(groups[k]) for k in groups]
    for p in spec.space.searched:
        out[f"p.{p.name}"] = [texts[k][p.name] for k in groups]
    first_obj = f"obj.{spec.metric_names[0]}"
    ascending = spec.objectives[0].direction != "maximize"
    return out.sort_values(first_obj, ascending=ascending, kind="stable").reset_index(drop=True)


def knee_index(
    values: np.ndarray, ideal: np.ndarray | None = None, nadir: np.ndarray | None = None
) -> int:
    """Row closest to the ideal point after scaling each column to [0, 1] (minimisation).

    Without bounds, ``ideal``/``nadir`` are the column minima/maxima of ``values``; a constant
    column scales to 0. Ties go to the first row.
    """
    v = np.asarray(values, dtype=float)
    lo = v.min(axis=0) if ideal is None else np.asarray(ideal, dtype=float)
    hi = v.max(axis=0) if nadir is None else np.asarray(nadir, dtype=float)
    span = np.where(hi > lo, hi - lo, 1.0)
    dist = np.sqrt((((v - lo) / span) ** 2).sum(axis=1))
    return int(np.argmin(dist))


@dataclass(frozen=True, slots=True, kw_only=True)
class PickRow:
    """One chosen design.

    Attributes:
        roles: why it is chosen (``knee``, ``best latency_s``, ``best on mant PE``, ``reference``).
        trial: its first trial.
        pe_type: its PE type.
        design: the design (for a drill-down re-evaluation).
        params: searched parameters as text (``–`` where the PE ignores them).
        values: objective and compared metrics in base units (s, pJ, µm², ...).
        vs_reference: ratio label -> reference / design for minimised metrics (design /
            reference for maximised ones): > 1 is better than the reference.
    """

    roles: tuple[str, ...]
    trial: int
    pe_type: str
    design: Design
    params: dict[str, str]
    values: dict[str, float]
    vs_reference: dict[str, float]

    @property
    def label(self) -> str:
        return " / ".join(self.roles)


@dataclass(frozen=True, slots=True, kw_only=True)
class PickInfo:
    """The pick section: the chosen designs (knee first), the reference, the knee rule."""

    picks: tuple[PickRow, ...]
    reference: PickRow | None
    accuracy_metric: str | None
    knee_rule: str


KNEE_RULE = (
    "each objective of the feasible Pareto front is scaled to [0, 1] (best on the front = 0, "
    "worst = 1); the knee is the design closest to the ideal point where every scaled objective "
    "is 0. Best per PE type uses the same distance among that PE type's feasible designs."
)


def _ratios(values: dict[str, float], ref: dict[str, float], acc: str | None) -> dict[str, float]:
    out = {}
    for m in (*COMPARED_METRICS, *((acc,) if acc else ())):
        a, b = values.get(m, np.nan), ref.get(m, np.nan)
        if not (np.isfinite(a) and np.isfinite(b)) or a == 0 or b == 0:
            continue
        label = _RATIO_LABEL.get(m, f"accuracy ({m})")
        out[label] = float(a / b) if m in _MAXIMISED else float(b / a)
    return out


def _accuracy_metric(df: pd.DataFrame, spec: StudySpec) -> str | None:
    """The accuracy objective of the study, else the first accuracy metric the frame holds."""
    for m in spec.metric_names:
        if m in ACCURACY_METRICS:
            return m
    ok = df[df["feasible"]]
    return next(
        (m for m in ACCURACY_METRICS if f"metric.{m}" in ok and ok[f"metric.{m}"].notna().any()),
        None,
    )


def _values(row: Mapping[str, Any], spec: StudySpec, acc: str | None) -> dict[str, float]:
    names = dict.fromkeys([*spec.metric_names, *COMPARED_METRICS, *((acc,) if acc else ())])
    out = {}
    for m in names:
        col = f"obj.{m}" if f"obj.{m}" in row else f"metric.{m}"
        if col in row:
            out[m] = float(row[col])
    return out


def pick_info(df: pd.DataFrame, spec: StudySpec, *, reference_pe: str = "int8") -> PickInfo:
    """The knee, the best design per objective and per PE type, and the reference design."""
    feas = df[(df["state"] == "COMPLETE") & df["feasible"]]
    feas = distinct_designs(feas, spec) if len(feas) else feas
    acc = _accuracy_metric(df, spec)
    if feas.empty:
        return PickInfo(picks=(), reference=None, accuracy_metric=acc, knee_rule=KNEE_RULE)
    vals = to_minimization(
        feas[[f"obj.{m}" for m in spec.metric_names]].to_numpy(float), spec.directions
    )
    front = pareto_mask(vals)
    ideal, nadir = vals[front].min(axis=0), vals[front].max(axis=0)
    chosen: dict[int, list[str]] = {}

    def choose(i: int, role: str) -> None:
        chosen.setdefault(i, []).append(role)

    front_idx = np.flatnonzero(front)
    choose(int(front_idx[knee_index(vals[front], ideal, nadir)]), "knee")
    for j, name in enumerate(spec.metric_names):
        best = np.flatnonzero(vals[:, j] == vals[:, j].min())
        choose(int(best[knee_index(vals[best], ideal, nadir)]), f"best {name}")
    fixed_pe = str(spec.space.fixed_values().get("pe_type", ""))
    pe_col = "param.pe_type" if "param.pe_type" in feas else None
    pe_types = feas[pe_col].astype(str).to_numpy() if pe_col else np.full(len(feas), fixed_pe)
    per_pe: dict[str, int] = {}
    order = [str(c) for c in spec.space.get("pe_type").values()]
    for pe in order:
        idx = np.flatnonzero(pe_types == pe)
        if idx.size:
            per_pe[pe] = int(idx[knee_index(vals[idx], ideal, nadir)])
            if len(order) > 1:
                choose(per_pe[pe], f"best on {pe} PE")
    ref_pe = reference_pe if reference_pe in per_pe else next(iter(per_pe), None)
    ref_i = per_pe.get(ref_pe) if ref_pe is not None else None

    rows = feas.to_dict("records")
    ref_values = _values(rows[ref_i], spec, acc) if ref_i is not None else {}

    def make(i: int, roles: list[str]) -> PickRow:
        r = rows[i]
        values = _values(r, spec, acc)
        return PickRow(
            roles=tuple(roles),
            trial=int(r["trial"]),
            pe_type=str(pe_types[i]),
            design=design_of_row(spec, r),
            params={p.name: r[f"p.{p.name}"] for p in spec.space.searched},
            values=values,
            vs_reference=_ratios(values, ref_values, acc) if ref_values else {},
        )

    if ref_i is not None:
        choose(ref_i, "reference")
    reference = make(ref_i, [f"reference ({ref_pe} PE)"]) if ref_i is not None else None
    picks = tuple(make(i, roles) for i, roles in chosen.items())
    return PickInfo(picks=picks, reference=reference, accuracy_metric=acc, knee_rule=KNEE_RULE)


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillDown:
    """Where a design's energy and time go (re-evaluated with :func:`hwmodel.evaluate`).

    Attributes:
        label: the pick's label.
        energy_by_component_pj: energy per component (PE, epilogue, SRAM, DRAM, static), pJ.
        time_by_layer_s: time per layer name (repeats summed), s.
        latency_s: total time, s (equals the recorded ``latency_s``).
    """

    label: str
    energy_by_component_pj: dict[str, float]
    time_by_layer_s: dict[str, float]
    latency_s: float


def drilldown(spec: StudySpec, pick: PickRow) -> DrillDown:
    """Re-evaluates a chosen design from its recorded parameters (no accuracy source needed)."""
    from dse.evaluate.hardware import HardwareModel, precision_of
    from hwmodel import evaluate

    design = pick.design
    hw = HardwareModel(spec.workload, spec.accelerator)
    cost = evaluate(hw.accelerator(design), hw.workload, precision_of(design))
    layers: dict[str, float] = {}
    for layer in cost.layers or (cost,):
        layers[layer.name] = layers.get(layer.name, 0.0) + layer.latency_s
    return DrillDown(
        label=pick.label,
        energy_by_component_pj={k: float(v) for k, v in cost.energy_breakdown_pj.items()},
        time_by_layer_s=layers,
        latency_s=float(cost.latency_s),
    )
