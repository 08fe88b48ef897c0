"""dse: design-space exploration over number formats and accelerators.

Optuna, pandas and plotly live here and nowhere else. Names are re-exported lazily, so that
``import dse`` (and every ``mant-dse`` command) stays cheap until a name is used.

Example:
    >>> import dse
    >>> dse.parse_spec  # doctest: +ELLIPSIS
    <function parse_spec at ...>
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mant._lazy import lazy_exports

if TYPE_CHECKING:
    from dse.accuracy import register_accuracy_source
    from dse.cache import QuantCache
    from dse.design import Design
    from dse.export import evaluate_exported, export_trials
    from dse.metrics import METRICS
    from dse.objective import Evaluation, Evaluator, make_objective
    from dse.pareto import hypervolume, pareto_mask
    from dse.report import write_report
    from dse.report_info import report_info
    from dse.results import (
        build_frame,
        frame_from_study,
        front_hypervolume,
        load_frame,
        save_frame,
    )
    from dse.runner import RunSummary, open_study, run_study, run_worker
    from dse.samplers import make_sampler
    from dse.space import SearchSpace
    from dse.spec import StudySpec, load_spec, parse_spec, spec_to_dict
    from dse.storage import create_storage
    from dse.sweep import hypervolume_ratio, hypervolume_ratio_curve, sweep

_EXPORTS = {
    "Design": "dse.design",
    "Evaluation": "dse.objective",
    "Evaluator": "dse.objective",
    "METRICS": "dse.metrics",
    "QuantCache": "dse.cache",
    "RunSummary": "dse.runner",
    "SearchSpace": "dse.space",
    "StudySpec": "dse.spec",
    "build_frame": "dse.results",
    "create_storage": "dse.storage",
    "evaluate_exported": "dse.export",
    "export_trials": "dse.export",
    "frame_from_study": "dse.results",
    "front_hypervolume": "dse.results",
    "hypervolume": "dse.pareto",
    "hypervolume_ratio": "dse.sweep",
    "hypervolume_ratio_curve": "dse.sweep",
    "load_frame": "dse.results",
    "load_spec": "dse.spec",
    "make_objective": "dse.objective",
    "make_sampler": "dse.samplers",
    "open_study": "dse.runner",
    "pareto_mask": "dse.pareto",
    "parse_spec": "dse.spec",
    "register_accuracy_source": "dse.accuracy",
    "report_info": "dse.report_info",
    "run_study": "dse.runner",
    "run_worker": "dse.runner",
    "save_frame": "dse.results",
    "spec_to_dict": "dse.spec",
    "sweep": "dse.sweep",
    "write_report": "dse.report",
}

__all__ = [
    "Design",
    "Evaluation",
    "Evaluator",
    "METRICS",
    "QuantCache",
    "RunSummary",
    "SearchSpace",
    "StudySpec",
    "build_frame",
    "create_storage",
    "evaluate_exported",
    "export_trials",
    "frame_from_study",
    "front_hypervolume",
    "hypervolume",
    "hypervolume_ratio",
    "hypervolume_ratio_curve",
    "load_frame",
    "load_spec",
    "make_objective",
    "make_sampler",
    "open_study",
    "pareto_mask",
    "parse_spec",
    "register_accuracy_source",
    "report_info",
    "run_study",
    "run_worker",
    "save_frame",
    "spec_to_dict",
    "sweep",
    "write_report",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
