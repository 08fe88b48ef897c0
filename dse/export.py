"""Export chosen designs as files the other packages load, and re-evaluate them from those files.

Per design, ``<to>/trial-<N>/`` holds:

- ``accelerator.yaml``: loads with ``hwmodel.load_accelerator(path)``;
- ``weights.yaml``: a ``mant.QuantConfig.from_dict`` mapping;
- ``kv.yaml``: a ``mant.kv.KVQuantConfig.from_dict`` mapping (absent when the KV cache is fp16);
- ``design.yaml``: the study name, trial number, design parameters, workload, accuracy
  settings and the objective values the study recorded.

:func:`evaluate_exported` recomputes the objectives from those files alone.

Example:
    >>> # export_trials(study, spec, "pareto", "designs/")
    >>> # evaluate_exported("designs/trial-12")["latency_s"]
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dse.accuracy import make_accuracy_source
from dse.cache import QuantCache
from dse.design import Design
from dse.hardware import HardwareModel, precision_of
from dse.objective import Evaluator, trial_record
from dse.spec import parse_spec, spec_to_dict
from mant.errors import InputError

if TYPE_CHECKING:
    import optuna

    from dse.spec import StudySpec

__all__ = ["export_design", "export_trials", "evaluate_exported", "select_trials"]

ACCELERATOR_FILE = "accelerator.yaml"
WEIGHTS_FILE = "weights.yaml"
KV_FILE = "kv.yaml"
DESIGN_FILE = "design.yaml"


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=99), encoding="utf-8")


def export_design(
    spec: StudySpec,
    design: Design,
    folder: str | Path,
    *,
    trial: int | None = None,
    recorded: dict[str, float] | None = None,
    evaluator: Evaluator | None = None,
) -> Path:
    """Writes one design's files into ``folder``; returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    ev = evaluator or Evaluator(spec)
    wcfg, kvcfg, _ = ev.configs(design)
    acc = ev.hardware.accelerator(design)
    (out / ACCELERATOR_FILE).write_text(acc.to_yaml(), encoding="utf-8")
    _dump(out / WEIGHTS_FILE, wcfg.to_dict())
    if kvcfg is not None:
        _dump(out / KV_FILE, kvcfg.to_dict())
    else:
        (out / KV_FILE).unlink(missing_ok=True)
    full = spec_to_dict(spec)
    _dump(
        out / DESIGN_FILE,
        {
            "study": spec.name,
            "trial": trial,
            "design": design.to_dict(),
            "workload": full["workload"],
            "accuracy": full["accuracy"],
            "objectives": full["objectives"],
            "constraints": full["constraints"],
            "recorded": {m: recorded[m] for m in spec.metric_names} if recorded else None,
        },
    )
    return out


def select_trials(
    study: optuna.Study, which: str | Iterable[int]
) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE trials to export: ``"pareto"`` (feasible front) or trial numbers.

    Raises:
        InputError: a trial number that does not exist or did not complete.
    """
    from optuna.trial import TrialState

    from dse.results import frame_from_study
    from dse.runner import load_study_spec

    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if which == "pareto":
        df = frame_from_study(study, load_study_spec(study))
        return [trials[int(n)] for n in df.loc[df["pareto"], "trial"]]
    out = []
    for n in which:
        t = None if isinstance(n, str) else trials.get(n)  # str keys never match
        if t is None or t.state != TrialState.COMPLETE:
            state = "missing" if t is None else t.state.name
            raise InputError.single("--trial", f"must be a COMPLETE trial (it is {state})", n)
        out.append(t)
    return out


def export_trials(
    study: optuna.Study, spec: StudySpec, which: str | Iterable[int], to_dir: str | Path
) -> list[Path]:
    """Exports trials (``"pareto"`` or numbers) of a study into ``to_dir/trial-<N>/``."""
    ev = Evaluator(spec)
    paths = []
    for t in select_trials(study, which):
        record = trial_record(t)
        design = Design.from_dict(record["design"])
        paths.append(
            export_design(
                spec,
                design,
                Path(to_dir) / f"trial-{t.number:05d}",
                trial=t.number,
                recorded=record.get("metrics"),
                evaluator=ev,
            )
        )
    return paths


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError.single(str(path), f"cannot read ({exc.strerror})", str(path)) from None


def evaluate_exported(folder: str | Path) -> dict[str, float]:
    """Re-evaluates an exported design from its files alone; returns every metric.

    The accelerator comes from ``accelerator.yaml`` (``hwmodel.load_accelerator``), the
    quantization from ``weights.yaml`` / ``kv.yaml`` (``from_dict``), the workload, accuracy
    source and activation bits from ``design.yaml``.
    """
    from hwmodel import load_accelerator
    from mant.quantize import QuantConfig

    folder = Path(folder)
    meta = _load_yaml(folder / DESIGN_FILE)
    spec = parse_spec(
        {
            "version": 1,
            "name": meta["study"],
            "workload": meta["workload"],
            "accuracy": meta["accuracy"],
            "objectives": meta["objectives"],
            "constraints": meta["constraints"],
        }
    )
    design = Design.from_dict(meta["design"])
    wcfg = QuantConfig.from_dict(_load_yaml(folder / WEIGHTS_FILE))
    kvcfg = None
    if (folder / KV_FILE).exists():
        from mant.kv import KVQuantConfig

        kvcfg = KVQuantConfig.from_dict(_load_yaml(folder / KV_FILE))
    acc = load_accelerator(folder / ACCELERATOR_FILE)
    precision = precision_of(design)
    metrics = dict(make_accuracy_source(spec.accuracy).metrics(wcfg, kvcfg, QuantCache(None)))
    metrics["weight_bits_per_element"] = float(precision.weight_bits_per_element)
    metrics["kv_bits_per_element"] = float(precision.kv_bits_per_element)
    metrics.update(HardwareModel(spec.workload).cost_metrics(acc, precision))
    return metrics
