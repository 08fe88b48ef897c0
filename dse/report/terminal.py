"""The pick section as a short text table: what ``mant-dse run`` prints at the end.

Example:
    >>> from dse.report.pick import PickInfo
    >>> pick_table(PickInfo(picks=(), reference=None, accuracy_metric=None, knee_rule=""), [])
    'pick: no feasible design yet'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dse.report.pick import PickInfo, PickRow
from dse.report.units import display_unit, format_value, metric_label, ratio_text

__all__ = ["pick_table"]


def _rows(pick: PickInfo) -> list[PickRow]:
    """The knee and the best design per objective (per-PE picks stay in the HTML report)."""
    return [
        r
        for r in pick.picks
        if any(x == "knee" or x.startswith("best ") and not x.endswith(" PE") for x in r.roles)
    ]


def pick_table(pick: PickInfo, metrics: Sequence[str]) -> str:
    """The knee and the best per objective, values in display units, ratios to the reference."""
    rows = _rows(pick)
    if not rows:
        return "pick: no feasible design yet"
    units = {m: display_unit(m, [r.values.get(m, np.nan) for r in rows]) for m in metrics}
    ratios = list(dict.fromkeys(k for r in rows for k in r.vs_reference))
    roles = [", ".join(x for x in r.roles if x == "knee" or not x.endswith(" PE")) for r in rows]
    head = ["pick", "PE", "trial", *(metric_label(m, units[m]) for m in metrics)]
    head += [f"{k} ×" for k in ratios]
    body = [
        [
            role,
            r.pe_type,
            str(r.trial),
            *(format_value(m, r.values.get(m, np.nan), units[m], suffix=False) for m in metrics),
            *(ratio_text(r.vs_reference[k]) if k in r.vs_reference else "–" for k in ratios),
        ]
        for role, r in zip(roles, rows, strict=True)
    ]
    widths = [max(len(line[j]) for line in [head, *body]) for j in range(len(head))]

    def fmt(line: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if j < 3 else c.rjust(w)
            for j, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    ref = pick.reference
    title = "pick (knee: nearest the ideal point, each objective scaled to [0, 1] over the front)"
    if ref is not None:
        title += (
            f"\n× = the best {ref.pe_type} PE design (trial {ref.trial}) / pick: above 1 is better"
        )
    lines = [title, fmt(head), *(fmt(b) for b in body)]
    for role, r in zip(roles, rows, strict=True):
        params = ", ".join(f"{k}={v}" for k, v in r.params.items() if k != "pe_type" and v != "–")
        lines.append(f"  {role}: {r.pe_type} PE, {params}")
    return "\n".join(lines)
