"""dse: design-space exploration over number formats and accelerators.

Optuna, pandas and plotly live here and nowhere else. Names are re-exported lazily, so that
``import dse`` (and every ``mant-dse`` command) stays cheap until a name is used.

Example:
    >>> import dse
    >>> dse.parse_spec  # doctest: +ELLIPSIS
    <function parse_spec at ...>
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "StudySpec": "dse.spec",
    "parse_spec": "dse.spec",
    "load_spec": "dse.spec",
    "spec_to_dict": "dse.spec",
    "SearchSpace": "dse.space",
    "Design": "dse.design",
    "METRICS": "dse.metrics",
    "Evaluator": "dse.objective",
    "Evaluation": "dse.objective",
    "make_objective": "dse.objective",
    "register_accuracy_source": "dse.accuracy",
    "QuantCache": "dse.cache",
    "create_storage": "dse.storage",
    "make_sampler": "dse.samplers",
    "run_study": "dse.runner",
    "run_worker": "dse.runner",
    "open_study": "dse.runner",
    "RunSummary": "dse.runner",
    "build_frame": "dse.results",
    "frame_from_study": "dse.results",
    "load_frame": "dse.results",
    "save_frame": "dse.results",
    "front_hypervolume": "dse.results",
    "pareto_mask": "dse.pareto",
    "hypervolume": "dse.pareto",
    "sweep": "dse.sweep",
    "hypervolume_ratio": "dse.sweep",
    "hypervolume_ratio_curve": "dse.sweep",
    "report_info": "dse.report_info",
    "write_report": "dse.report",
    "export_trials": "dse.export",
    "evaluate_exported": "dse.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dse' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
