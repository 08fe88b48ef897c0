"""Packages depend one way (dse -> hwmodel -> mant); the core stays free of the study stack."""

import subprocess
import sys

import pytest

HEAVY = ("optuna", "pandas", "plotly")


@pytest.mark.parametrize("package", ["mant", "hwmodel"])
def test_core_packages_do_not_import_the_study_stack(package):
    code = f"import sys, {package}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{package} imported {out.stdout.strip()}"


def test_mant_does_not_import_hwmodel_dse_or_llmrun():
    code = "import sys, mant; print([m for m in ('hwmodel', 'dse', 'llmrun') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
