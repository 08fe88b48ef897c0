"""Multi-fidelity accuracy: promote the designs near the proxy front to real perplexity.

With ``accuracy.fidelity: multi`` every trial is scored by the study's accuracy source (the
proxy: ``tensors``, ``synthetic``, ``files``, ...). Right after that, while the trial is still
running, :class:`Promoter` compares its objective values with those of the study's COMPLETE,
feasible trials so far. The trial is **promoted** when none of them beats it by more than the
margin ``m`` in every objective (relative epsilon-dominance on minimised values ``v``, maximised
objectives negated): it is not promoted when some ``p`` has ``p_i + m |p_i| <= x_i`` for every
objective ``i`` and ``<`` for one (:func:`within_margin`). ``m = 0`` is plain Pareto dominance.

A promoted trial gets ``ppl`` from a :class:`dse.evaluate.accuracy.PerplexitySource` with the
``promote`` settings, through the study's quantization cache (key: the text protocol, the recipe
and the KV config, never the hardware: a design promoted twice, or a twin on another array, costs
a lookup). It is stored as the trial user attribute :data:`PROMOTED_ATTR` (``{"ppl": value}``),
so journal, SQLite and PostgreSQL storages and resumed studies keep it; trials without it were
not promoted (NaN perplexity in the results frame).

The front only improves as trials come in, and the rule is monotone (``v -> v + m |v|`` is
increasing for ``m < 1``): a trial outside the margin of the front so far is also outside the
margin of the final front. So promoting at trial time is a superset of a final pass over the
finished study; no design that ends within the margin of the final front is missed (unless
``max_promoted`` stops promotion first). Infeasible trials (a constraint > 0) are never promoted.

Example:
    >>> import numpy as np
    >>> front = np.array([[1.0, 10.0], [2.0, 5.0]])
    >>> within_margin(np.array([1.05, 10.5]), front, 0.1)  # 5 % worse than (1, 10)
    True
    >>> within_margin(np.array([1.5, 12.0]), front, 0.1)  # (1, 10) beats it by > 10 % in both
    False
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.evaluate.pareto import to_minimization

if TYPE_CHECKING:
    import optuna

    from dse.evaluate.cache import QuantCache
    from dse.evaluate.evaluation import Evaluation
    from dse.study.spec_types import StudySpec

__all__ = ["PROMOTED_ATTR", "PPL_ERROR_ATTR", "Promoter", "within_margin", "promoted_ppl"]

PROMOTED_ATTR = "mant_dse_ppl"
"""Trial user attribute of a promoted trial: ``{"ppl": perplexity}``."""
PPL_ERROR_ATTR = "mant_dse_ppl_error"
"""Trial user attribute of a trial due for promotion whose perplexity cannot be measured (e.g.
K and V quantized apart: ``llmrun`` runs one KV config): the reason. The trial keeps its proxy
metrics and is not promoted."""


def within_margin(x: np.ndarray, front: np.ndarray, margin: float) -> bool:
    """Whether minimised objective values ``x`` are within ``margin`` of the points ``front``.

    ``x`` is out when some row ``p`` of ``front``, each value made worse by ``margin`` of its
    magnitude (``p + margin * |p|``), is <= ``x`` everywhere and < somewhere.
    """
    pts = np.asarray(front, dtype=float).reshape(-1, len(x))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if pts.size == 0:
        return True
    worse = pts + margin * np.abs(pts)
    dominated = np.all(worse <= x, axis=1) & np.any(worse < x, axis=1)
    return not bool(dominated.any())


def promoted_ppl(trial: optuna.trial.FrozenTrial) -> float | None:
    """The perplexity of a promoted trial, None when it was not promoted."""
    rec = trial.user_attrs.get(PROMOTED_ATTR)
    if not isinstance(rec, dict) or "ppl" not in rec:
        return None
    return float(rec["ppl"])


class Promoter:
    """Decides promotion and measures the perplexity of promoted designs of one study.

    Args:
        spec: a study with ``accuracy.fidelity: multi``.
        cache: the study's quantization cache (perplexities are cached with the other results).
    """

    def __init__(self, spec: StudySpec, cache: QuantCache) -> None:
        promote = spec.accuracy.promote
        if promote is None:
            raise ValueError("Promoter needs a study with accuracy.fidelity: multi")
        self.spec = spec
        self.promote = promote
        self.cache = cache
        self._source: Any = None

    @property
    def source(self) -> Any:
        """The perplexity source of the ``promote`` settings (built on first use)."""
        if self._source is None:
            from dataclasses import replace

            from dse.evaluate.accuracy import PerplexitySource

            p = self.promote
            acc = replace(
                self.spec.accuracy,
                source="perplexity",
                ppl_windows=p.windows,
                model=p.model,
                backend=p.backend,
                text=p.text,
            )
            self._source = PerplexitySource(acc, window_len=p.context)
        return self._source

    def ppl(self, ev: Evaluation) -> float:
        """The perplexity of an evaluated design (cached by its quantization)."""
        return float(self.source.recipe_metrics(ev.design.recipe, self.cache)["ppl"])

    def front_of(self, trials: Sequence[optuna.trial.FrozenTrial]) -> tuple[np.ndarray, int]:
        """(minimised objective values of the feasible COMPLETE trials, promoted trials)."""
        rows, n_promoted = [], 0
        for t in trials:
            if t.state.name != "COMPLETE" or t.values is None:
                continue
            n_promoted += PROMOTED_ATTR in t.user_attrs
            if all(v <= 0 for v in (t.constraints or {}).values()):
                rows.append(t.values)
        n_obj = len(self.spec.objectives)
        values = np.asarray(rows, dtype=float).reshape(-1, n_obj)
        return to_minimization(values, self.spec.directions), n_promoted

    def decide(
        self, ev: Evaluation, front: np.ndarray, n_promoted: int, *, extra: int = 0
    ) -> bool:
        """Whether ``ev`` is promoted given the front so far and the promotions so far
        (``extra``: promotions of this process not in the storage yet)."""
        if not ev.feasible:
            return False
        cap = self.promote.max_promoted
        if cap is not None and n_promoted + extra >= cap:
            return False
        x = to_minimization(np.asarray([ev.objectives], dtype=float), self.spec.directions)[0]
        return within_margin(x, front, self.promote.margin)

    def attrs(self, ev: Evaluation) -> dict[str, Any]:
        """The user attributes that record a promotion of ``ev`` (or why its perplexity cannot
        be measured: :data:`PPL_ERROR_ATTR`)."""
        from mant.errors import InputError

        try:
            return {PROMOTED_ATTR: {"ppl": self.ppl(ev)}}
        except InputError as exc:  # a per-design reason: the proxy result stands
            return {PPL_ERROR_ATTR: "; ".join(str(i) for i in exc.issues) or str(exc)}

    def for_trial(self, trial: optuna.Trial, ev: Evaluation) -> dict[str, Any]:
        """Promotion of a running trial against the study's trials so far: the attributes to
        record (empty when not promoted)."""
        from optuna.trial import TrialState

        front, n_promoted = self.front_of(
            trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        )
        return self.attrs(ev) if self.decide(ev, front, n_promoted) else {}
