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
    """``dse.evaluate.solve`` imports ``dse.evaluate.hardware`` only for its annotations."""
    assert "dse.evaluate.hardware" in _import_graph(True)["dse.evaluate.solve"]
    assert "dse.evaluate.hardware" not in _import_graph(False)["dse.evaluate.solve"]


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


# dse's folders, bottom to top: a module may import its own folder and the folders below it only.
DSE_LAYERS = (
    ("study",),  # frozen values: spec, space, design, recipe of a design, the user's inputs
    ("evaluate",),  # one design's accuracy and hardware cost, the objective
    ("results",),  # the results frame
    ("report",),  # the HTML report and the terminal pick
    ("run", "reproduce"),  # the Optuna runner, storage, workers; the paper's tables
    ("export",),  # exported designs (re-evaluated through the runner's study)
    ("cli",),  # the commands
)


def _dse_layer(module):
    parts = module.split(".")
    if parts[0] != "dse" or len(parts) < 2:
        return None  # dse/__init__ (lazy re-exports) and other packages
    for level, folders in enumerate(DSE_LAYERS):
        if parts[1] in folders:
            return level
    return None


def test_dse_folders_show_the_flow_and_import_downward_only():
    """``cli -> export -> run/reproduce -> report -> results -> evaluate -> study``, type-only
    imports counted; every dse module lives in one of these folders."""
    edges = _import_graph(True)
    loose = [m for m in edges if m.startswith("dse.") and _dse_layer(m) is None]
    assert loose == ["dse.__main__"], f"modules outside the dse folders: {loose}"
    upward = sorted(
        f"{m} -> {d}"
        for m, deps in edges.items()
        for d in deps
        if _dse_layer(m) is not None
        and _dse_layer(d) is not None
        and _dse_layer(d) > _dse_layer(m)
    )
    assert not upward, "imports that point up the dse layers: " + "; ".join(upward)
    # siblings of one layer do not import each other either
    sideways = sorted(
        f"{m} -> {d}"
        for m, deps in edges.items()
        for d in deps
        if _dse_layer(m) is not None
        and _dse_layer(m) == _dse_layer(d)
        and m.split(".")[1] != d.split(".")[1]
    )
    assert not sideways, "imports between sibling folders: " + "; ".join(sideways)
