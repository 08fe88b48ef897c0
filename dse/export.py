"""Export chosen designs as files the other packages load, and re-evaluate them from those files.

Per design, ``<to>/trial-<NNNNN>/`` (the trial number, five digits) holds:

- ``accelerator.yaml``: the design's accelerator *with its precision* as the default precision,
  so ``hwmodel.load_accelerator(path)`` and ``mant-dse hw llm --accelerator path`` evaluate the
  design itself;
- ``recipe.yaml``: the design's :class:`mant.recipe.Recipe` (``dse.study.recipe_io.load_recipe``,
  ``--recipe path`` on the CLI); the accelerator's precision is ``Precision.from_recipe`` of it;
- ``weights.yaml``: a ``mant.QuantConfig.from_dict`` mapping (the recipe's ``q`` weights; the
  other projections are in ``recipe.yaml`` when a study varies formats per kind);
- ``kv.yaml``: a ``mant.kv.KVQuantConfig.from_dict`` mapping (absent when the KV cache is fp16,
  or when K and V are quantized differently: ``recipe.yaml`` holds both);
- ``design.yaml``: the study name, trial number, design parameters, workload, accuracy
  settings and every metric the study recorded.

:func:`evaluate_exported` (``mant-dse evaluate FOLDER``) recomputes every metric from those files
alone, on the recorded workload or another one.

Example:
    >>> # export_trials(study, spec, "pareto", "designs/")
    >>> # evaluate_exported("designs/trial-00012")["latency_s"]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dse.evaluate.accuracy import make_accuracy_source
from dse.evaluate.cache import QuantCache
from dse.evaluate.hardware import HardwareModel
from dse.evaluate.objective import Evaluator, trial_record
from dse.study.design import Design
from dse.study.numerics import kv_side_configs
from dse.study.recipe_io import dump_recipe, load_recipe
from dse.study.spec import parse_spec, spec_to_dict
from mant.atomic_write import write_text_atomic
from mant.errors import InputError, Issue, IssueCollector

if TYPE_CHECKING:
    import optuna

    from dse.study.spec import StudySpec

__all__ = [
    "export_design",
    "export_trials",
    "evaluate_exported",
    "recorded_metrics",
    "select_trials",
]

ACCELERATOR_FILE = "accelerator.yaml"
RECIPE_FILE = "recipe.yaml"
WEIGHTS_FILE = "weights.yaml"
KV_FILE = "kv.yaml"
DESIGN_FILE = "design.yaml"


def _dump(path: Path, data: Any) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, width=99))


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
    wcfg, _, precision = ev.configs(design)
    acc = ev.hardware.accelerator(design).with_precision(precision)
    write_text_atomic(out / ACCELERATOR_FILE, acc.to_yaml())
    dump_recipe(design.recipe, out / RECIPE_FILE)
    if wcfg is not None:
        _dump(out / WEIGHTS_FILE, wcfg.to_dict())
    else:  # unquantized weights (the fp16 PE's native recipe): recipe.yaml says so
        (out / WEIGHTS_FILE).unlink(missing_ok=True)
    k_cfg, v_cfg = kv_side_configs(design.recipe)
    kvcfg = k_cfg if k_cfg == v_cfg else None  # K and V apart: recipe.yaml alone says how
    if kvcfg is not None:
        _dump(out / KV_FILE, kvcfg.to_dict())
    else:
        (out / KV_FILE).unlink(missing_ok=True)
    full = spec_to_dict(spec)
    model = full["workload"].get("model")
    if isinstance(model, str) and Path(model).is_absolute() and Path(model).is_file():
        # relative to the exported folder, so the folder can be moved along with the model file
        # (and no absolute path of this machine is written); evaluate_exported resolves it
        full["workload"]["model"] = os.path.relpath(model, out.resolve())
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
            "recorded": dict(recorded) if recorded else None,
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

    from dse.results.frame import frame_from_study
    from dse.run.runner import load_study_spec

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
    from mant.yaml_input import load_yaml_file

    return load_yaml_file(path, what="exported file")


_DESIGN_KEYS = ("study", "design", "workload", "accuracy", "objectives", "constraints")


def _in_file(exc: InputError, where: str) -> InputError:
    return InputError(Issue(f"{where}: {i.path}", i.rule, i.value) for i in exc.issues)


def _from_file(path: Path, build: Callable[[Any], Any]) -> Any:
    """``build(data)`` of a YAML file; a malformed mapping is bad input, not a crash."""
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise InputError.single(str(path), "must be a mapping", data)
    try:
        return build(data)
    except InputError as exc:
        raise _in_file(exc, str(path)) from None
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise InputError.single(str(path), f"is not a valid exported file ({exc})", data) from None


def evaluate_exported(
    folder: str | Path, *, workload: Mapping[str, Any] | None = None
) -> dict[str, float]:
    """Re-evaluates an exported design from its files alone; returns every metric.

    The accelerator and its precision come from ``accelerator.yaml``
    (``hwmodel.load_accelerator``; its default precision must be ``Precision.from_recipe`` of
    ``recipe.yaml``), the quantization from ``weights.yaml`` / ``kv.yaml`` (``from_dict``), the
    workload and accuracy source from ``design.yaml``.

    Args:
        folder: an exported design folder.
        workload: replaces keys of the recorded workload (``model``, ``phase``, ``seq_len``,
            ``batch``; a ``model`` drops recorded ``gemms``).

    Raises:
        InputError: a missing or invalid file, or files that disagree.
    """
    from hwmodel import Precision, load_accelerator
    from mant.quantize import QuantConfig

    folder = Path(folder)
    where = str(folder / DESIGN_FILE)
    meta = _load_yaml(folder / DESIGN_FILE)
    c = IssueCollector()
    c.check_keys(meta, where, allowed=("trial", "recorded"), required=_DESIGN_KEYS)
    c.raise_if_any()
    wl = dict(meta["workload"])
    model = wl.get("model")
    if isinstance(model, str) and not Path(model).is_absolute() and (folder / model).is_file():
        wl["model"] = str((folder / model).resolve())  # stored relative to the folder
    if workload:
        if "model" in workload:
            wl.pop("gemms", None)
        wl.update({k: v for k, v in workload.items() if v is not None})
    try:
        spec = parse_spec(
            {
                "version": 1,
                "name": meta["study"],
                "workload": wl,
                "accuracy": meta["accuracy"],
                "objectives": meta["objectives"],
                "constraints": meta["constraints"],
            }
        )
    except InputError as exc:
        raise _in_file(exc, where) from None
    Design.parse(meta["design"], f"{where}: design")  # validates every key and size
    wcfg = None
    if (folder / WEIGHTS_FILE).exists():
        wcfg = _from_file(folder / WEIGHTS_FILE, QuantConfig.from_dict)
    kvcfg = None
    if (folder / KV_FILE).exists():
        from mant.kv import KVQuantConfig

        kvcfg = _from_file(folder / KV_FILE, KVQuantConfig.from_dict)
    acc = load_accelerator(folder / ACCELERATOR_FILE)
    precision = acc.default_precision
    recipe = None
    if (folder / RECIPE_FILE).exists():
        recipe = load_recipe(str(folder / RECIPE_FILE))
        from_recipe = Precision.from_recipe(recipe)
        if from_recipe != precision:
            raise InputError.single(
                str(folder / ACCELERATOR_FILE),
                f"default_precision must be the precision of {RECIPE_FILE} "
                f"({from_recipe.to_dict()})",
                precision.to_dict(),
            )
    source = make_accuracy_source(spec.accuracy)
    if recipe is not None and hasattr(source, "recipe_metrics"):
        metrics = dict(source.recipe_metrics(recipe, QuantCache(None)))
    elif wcfg is None:
        raise InputError.single(
            "accuracy.source",
            "needs recipe_metrics to score a design whose weights stay unquantized",
            spec.accuracy.source,
        )
    else:
        metrics = dict(source.metrics(wcfg, kvcfg, QuantCache(None)))
    hardware = HardwareModel(spec.workload)
    metrics["weight_bits_per_element"] = hardware.weight_bits_per_element(precision)
    metrics["kv_bits_per_element"] = hardware.kv_bits_per_element(precision)
    metrics.update(hardware.cost_metrics(acc, precision))
    return metrics


def recorded_metrics(folder: str | Path) -> dict[str, float]:
    """The metrics the study recorded for an exported design (``design.yaml``)."""
    meta = _load_yaml(Path(folder) / DESIGN_FILE)
    return dict((meta or {}).get("recorded") or {})
