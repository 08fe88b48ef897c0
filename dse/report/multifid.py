"""The report's multi-fidelity part (pure info): how well the proxy ranked the promoted designs,
and the frame the pick is made on.

With ``accuracy.fidelity: multi`` (:mod:`dse.evaluate.multifid`) the results frame holds the proxy
(``obj.<proxy>``) for every trial and ``metric.ppl`` for the promoted ones. :func:`fidelity_info`
gives Spearman's rank correlation between the two over the promoted designs, counted once per
quantization setting (designs that differ only in their hardware share both values, so they
would add ties, not evidence), and :func:`perplexity_view` the frame the report's pick uses:
the promoted designs with perplexity in place of the proxy objective.

Example:
    >>> import pandas as pd
    >>> spearman(pd.Series([1.0, 2.0, 3.0]), pd.Series([10.0, 30.0, 20.0]))[0]
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dse.evaluate.pareto import pareto_mask
from dse.results.frame import objective_matrix
from dse.study.metrics import Direction
from dse.study.spec_fidelity import proxy_metric
from dse.study.spec_types import Objective

if TYPE_CHECKING:
    from dse.study.spec_types import StudySpec

__all__ = ["FidelityInfo", "fidelity_info", "fidelity_line", "perplexity_view", "spearman"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FidelityInfo:
    """What the multi-fidelity part of the report shows.

    Attributes:
        proxy: the proxy accuracy objective (e.g. ``output_and_kv_rel_mse``).
        margin: the promotion margin (relative).
        n_complete: COMPLETE designs (each scored by the proxy).
        n_promoted: promoted designs (each with a perplexity).
        n_settings: distinct (proxy, perplexity) pairs among them: the quantization settings
            whose perplexity was computed, and the points of the correlation.
        rho: Spearman's rank correlation of proxy and perplexity over those settings (NaN for
            fewer than 3, or a constant column).
        p_value: its two-sided p-value (``scipy.stats.spearmanr``).
        proxy_values, ppl_values, trial: the promoted designs' points (scatter plot).
        pareto: whether each point is on the proxy front.
    """

    proxy: str
    margin: float
    n_complete: int
    n_promoted: int
    n_settings: int
    rho: float
    p_value: float
    proxy_values: np.ndarray
    ppl_values: np.ndarray
    trial: np.ndarray
    pareto: np.ndarray


def spearman(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    """Spearman's rho and p-value of two columns (NaN when fewer than 3 points or constant)."""
    from scipy.stats import spearmanr

    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return float("nan"), float("nan")
    res = spearmanr(x.to_numpy(float), y.to_numpy(float))
    return float(res.statistic), float(res.pvalue)


def _promoted(df: pd.DataFrame) -> pd.DataFrame:
    if "promoted" not in df:
        return df.iloc[:0]
    return df[df["promoted"].astype(bool) & (df["state"] == "COMPLETE")]


def fidelity_info(df: pd.DataFrame, spec: StudySpec) -> FidelityInfo | None:
    """The multi-fidelity summary of a results frame; None for a single-fidelity study."""
    proxy = proxy_metric(spec)
    promote = spec.accuracy.promote
    if not spec.accuracy.multi_fidelity or proxy is None or promote is None:
        return None
    done = _promoted(df)
    pairs = done[[f"obj.{proxy}", "metric.ppl"]].dropna().drop_duplicates()
    rho, p = spearman(pairs[f"obj.{proxy}"], pairs["metric.ppl"])
    return FidelityInfo(
        proxy=proxy,
        margin=promote.margin,
        n_complete=int((df["state"] == "COMPLETE").sum()),
        n_promoted=len(done),
        n_settings=len(pairs),
        rho=rho,
        p_value=p,
        proxy_values=done[f"obj.{proxy}"].to_numpy(float),
        ppl_values=done["metric.ppl"].to_numpy(float),
        trial=done["trial"].to_numpy(int),
        pareto=done["pareto"].to_numpy(bool),
    )


def fidelity_line(info: FidelityInfo) -> str:
    """One line for the terminal and the report."""
    rho = "n/a (fewer than 3 settings)" if not np.isfinite(info.rho) else f"{info.rho:.3f}"
    if np.isfinite(info.p_value):
        rho += f" (p = {info.p_value:.2g})"
    return (
        f"multi-fidelity: {info.n_promoted} of {info.n_complete} designs promoted to perplexity "
        f"(within {info.margin:g} of the {info.proxy} front; {info.n_settings} quantization "
        f"settings evaluated); Spearman rho({info.proxy}, ppl) = {rho}"
    )


def perplexity_view(df: pd.DataFrame, spec: StudySpec) -> tuple[pd.DataFrame, StudySpec]:
    """The frame and spec the pick is made on: for a multi-fidelity study with a promoted
    feasible design, the promoted designs with ``obj.ppl`` (minimised) in place of the proxy
    objective and their own Pareto front; otherwise ``(df, spec)`` unchanged."""
    proxy = proxy_metric(spec)
    done = _promoted(df)
    if not spec.accuracy.multi_fidelity or proxy is None or not done["feasible"].any():
        return df, spec
    objectives = tuple(
        Objective(metric="ppl", direction=Direction.MINIMIZE) if o.metric == proxy else o
        for o in spec.objectives
    )
    view_spec = replace(spec, objectives=objectives)
    view = done.copy()
    view.insert(view.columns.get_loc(f"obj.{proxy}"), "obj.ppl", view["metric.ppl"].astype(float))
    view = view.drop(columns=[f"obj.{proxy}"])
    view["pareto"] = pareto_mask(objective_matrix(view, view_spec), view["feasible"].to_numpy())
    return view.reset_index(drop=True), view_spec
