"""CI runs the README test command from a fresh venv: every import the code makes is declared."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mant", "hwmodel", "dse", "llmrun")


def _declared() -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # the runtime dependencies, and every extra (torch is the optional [torch] extra: imported
    # only by the torch backend, and installed by CI so its tests run)
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    reqs = [*project["dependencies"], *extras]
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def _third_party_imports() -> set[str]:
    mods: set[str] = set()
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in sys.stdlib_module_names and m not in PACKAGES}


def test_every_imported_distribution_is_declared():
    dists = packages_distributions()
    declared = _declared()
    missing = {}
    for mod in _third_party_imports():
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [mod])}
        if not names & declared:
            missing[mod] = sorted(names)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_ci_runs_the_readme_command_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"-m venv", ci) and "pip install" in ci and '-e ".[test,torch]"' in ci
    assert "exec bash tests/run.sh" in ci and 'PATH="$venv/bin:$PATH"' in ci
    assert "bash tests/run.sh" in (ROOT / "README.md").read_text()
    for path in (".venv-ci/bin/python", "designs/trial-00000/design.yaml", "runs/x/report.html"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} must be gitignored (a folder the README makes)"


def test_run_sh_says_what_the_apt_step_does():
    run = (ROOT / "tests" / "run.sh").read_text()
    apt = run[run.index("if ((${#missing[@]}))") :]
    apt = apt[: apt.index("\nfi\n")]
    assert re.search(r'echo "tests/run.sh: installing Debian packages', apt)
    assert apt.index("echo") < apt.index("apt-get update")
