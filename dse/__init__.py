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
    from dse.evaluate.accuracy import register_accuracy_source
    from dse.evaluate.cache import QuantCache
    from dse.evaluate.objective import Evaluation, Evaluator, make_objective
    from dse.evaluate.pareto import hypervolume, pareto_mask
    from dse.export import evaluate_exported, export_trials
    from dse.report.html import write_report
    from dse.report.info import report_info
    from dse.results.frame import (
        build_frame,
        frame_from_study,
        front_hypervolume,
        load_frame,
        save_frame,
    )
    from dse.run.runner import RunSummary, open_study, run_study, run_worker
    from dse.run.samplers import make_sampler
    from dse.run.storage import create_storage
    from dse.run.sweep import hypervolume_ratio, hypervolume_ratio_curve, sweep
    from dse.study.design import Design
    from dse.study.metrics import METRICS
    from dse.study.space import SearchSpace
    from dse.study.spec import StudySpec, load_spec, parse_spec, spec_to_dict

_EXPORTS = {
    "Design": "dse.study.design",
    "Evaluation": "dse.evaluate.objective",
    "Evaluator": "dse.evaluate.objective",
    "METRICS": "dse.study.metrics",
    "QuantCache": "dse.evaluate.cache",
    "RunSummary": "dse.run.runner",
    "SearchSpace": "dse.study.space",
    "StudySpec": "dse.study.spec",
    "build_frame": "dse.results.frame",
    "create_storage": "dse.run.storage",
    "evaluate_exported": "dse.export",
    "export_trials": "dse.export",
    "frame_from_study": "dse.results.frame",
    "front_hypervolume": "dse.results.frame",
    "hypervolume": "dse.evaluate.pareto",
    "hypervolume_ratio": "dse.run.sweep",
    "hypervolume_ratio_curve": "dse.run.sweep",
    "load_frame": "dse.results.frame",
    "load_spec": "dse.study.spec",
    "make_objective": "dse.evaluate.objective",
    "make_sampler": "dse.run.samplers",
    "open_study": "dse.run.runner",
    "pareto_mask": "dse.evaluate.pareto",
    "parse_spec": "dse.study.spec",
    "register_accuracy_source": "dse.evaluate.accuracy",
    "report_info": "dse.report.info",
    "run_study": "dse.run.runner",
    "run_worker": "dse.run.runner",
    "save_frame": "dse.results.frame",
    "spec_to_dict": "dse.study.spec",
    "sweep": "dse.run.sweep",
    "write_report": "dse.report.html",
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
