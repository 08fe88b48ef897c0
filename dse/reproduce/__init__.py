"""Reproduce published comparisons the way their authors defined them (``mant-dse reproduce``):
the M-ANT paper's tables, and BitMoD's (``mant-dse reproduce bitmod``).

Modules: :mod:`~dse.reproduce.types` (the frozen values), :mod:`~dse.reproduce.config` (the
shipped ``physical.yaml`` and ``paper.yaml``, one per named assumption set,
``bitmod.yaml``, BitMoD's own comparison, and their parser),
:mod:`~dse.reproduce.compute` (designs at iso-area, per-case ratios, means),
:mod:`~dse.reproduce.alternatives` (named alternatives and the explanation of each published
figure), :mod:`~dse.reproduce.assumptions`, :mod:`~dse.reproduce.accuracy` (perplexity per
recipe) and :mod:`~dse.reproduce.report` (JSON, Markdown, HTML).
"""

from __future__ import annotations

__all__: list[str] = []
