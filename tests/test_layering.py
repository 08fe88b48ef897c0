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


def _import_graph(type_checking=True):
    """Module -> first-party modules it imports (function-level imports included, and the
    ``if TYPE_CHECKING:`` blocks too unless ``type_checking`` is False: a type-only import is
    still a dependency, and a cycle through one is a cycle of the design)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    packages = ("mant", "hwmodel", "dse", "llmrun")
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path

    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = set()
        for node in ast.walk(tree):
            if (
                not type_checking
                and isinstance(node, ast.If)
                and "TYPE_CHECKING" in ast.unparse(node.test)
            ):
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                dep = owner(target) if target.split(".")[0] in packages else None
                if dep and dep != module and dep not in packages:  # a package __init__ is lazy
                    edges[module].add(dep)
    return edges


def _cycles(edges):
    state = {}
    cycles = []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return cycles


@pytest.mark.parametrize("type_checking", [False, True], ids=["runtime", "with-type-checking"])
def test_no_import_cycles_even_through_lazy_or_type_only_imports(type_checking):
    cycles = _cycles(_import_graph(type_checking))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_graph_counts_type_checking_imports():
    """``dse.solve`` imports ``dse.hardware`` only for its annotations."""
    assert "dse.hardware" in _import_graph(True)["dse.solve"]
    assert "dse.hardware" not in _import_graph(False)["dse.solve"]


def test_packages_depend_one_way():
    edges = _import_graph()
    allowed = {
        "mant": set(),
        "hwmodel": {"mant"},
        "llmrun": {"mant"},
        "dse": {"mant", "hwmodel", "llmrun"},
    }
    found = {p: set() for p in allowed}
    for module, deps in edges.items():
        top = module.split(".")[0]
        found[top] |= {d.split(".")[0] for d in deps} - {top}
    for package, deps in found.items():
        assert deps <= allowed[package], f"{package} imports {sorted(deps - allowed[package])}"
