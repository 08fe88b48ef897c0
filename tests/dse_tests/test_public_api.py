"""The packages list their public names, import cheaply, and helpers take what they say."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["mant", "hwmodel", "llmrun", "dse"])
def test_dir_lists_every_public_name_and_each_resolves(package):
    mod = importlib.import_module(package)
    public = [n for n in dir(mod) if not n.startswith("_")]
    assert set(mod.__all__) <= set(public) and len(mod.__all__) >= 15
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        mod.nope  # noqa: B018


@pytest.mark.parametrize("package", ["mant", "hwmodel", "llmrun", "dse", "dse.cli"])
def test_importing_a_package_does_not_load_numba_or_the_study_stack(package):
    code = (
        f"import sys, {package}; "
        "print([m for m in ('numba', 'optuna', 'pandas', 'plotly', 'scipy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_make_objective_takes_a_spec_or_an_evaluator(small_spec):
    import optuna

    from dse import Evaluator, make_objective

    study = optuna.create_study(directions=["minimize"] * 3)
    study.optimize(make_objective(small_spec), n_trials=2)
    study.optimize(make_objective(Evaluator(small_spec)), n_trials=1)
    # every trial is evaluated, or pruned as a duplicate of an evaluated design
    states = [t.state.name for t in study.trials]
    assert len(states) == 3 and set(states) <= {"COMPLETE", "PRUNED"}
    assert states[0] == "COMPLETE"
    with pytest.raises(TypeError, match="takes a dse.Evaluator or a dse.StudySpec .*got dict"):
        make_objective({"name": "x"})


def test_an_export_wins_over_its_same_named_submodule():
    # importing the submodule binds it on the package; the exported function must stay
    code = (
        "from mant import QuantConfig, quantize; import llmrun.perplexity, dse.run.sweep; "
        "import mant, llmrun, dse; "
        "print(callable(quantize), callable(mant.quantize), callable(llmrun.perplexity), "
        "callable(dse.sweep))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"] * 4
