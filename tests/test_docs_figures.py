"""Every figure the README and docs quote is what its command prints (scripts/check_docs.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
assert _spec is not None and _spec.loader is not None
check_docs = importlib.util.module_from_spec(_spec)
sys.modules["check_docs"] = check_docs
_spec.loader.exec_module(check_docs)


def test_every_quoted_figure_is_what_its_command_prints() -> None:
    figures = check_docs.load_figures()
    assert len(figures) >= 5
    assert check_docs.check(figures) == []


def test_a_drifted_figure_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("the M-ANT PE has 2.50 mm² of array\n", encoding="utf-8")
    monkeypatch.setattr(check_docs, "ROOT", tmp_path)
    monkeypatch.setattr(check_docs, "run_command", lambda command: {"area": {"mm2": 2.4}})
    fig = check_docs.Figure(
        doc="doc.md", quote="has {} mm² of array", command="x", key="area.mm2", format=".2f"
    )
    (problem,) = check_docs.check([fig])
    assert "'has 2.40 mm² of array'" in problem
    monkeypatch.setattr(check_docs, "run_command", lambda command: {"area": {"mm2": 2.5}})
    assert check_docs.check([fig]) == []


def test_an_expensive_figure_is_run_only_with_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "doc.md").write_text("took 144 s\n", encoding="utf-8")
    monkeypatch.setattr(check_docs, "ROOT", tmp_path)
    calls: list[str] = []

    def fake(command: str) -> dict[str, float]:
        calls.append(command)
        return {"s": 150.0}

    monkeypatch.setattr(check_docs, "run_command", fake)
    fig = check_docs.Figure(
        doc="doc.md", quote="took {} s", command="bench", key="s", format=".0f", cheap=False
    )
    assert check_docs.check([fig]) == [] and calls == []
    (problem,) = check_docs.check([fig], run_all=True)
    assert "'took 150 s'" in problem and calls == ["bench"]


def test_a_malformed_entry_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "doc.md").write_text("x\n", encoding="utf-8")
    monkeypatch.setattr(check_docs, "ROOT", tmp_path)
    bad = tmp_path / "figures.yaml"
    bad.write_text("- {doc: doc.md, quote: 'no placeholder', command: c, key: k}\n")
    with pytest.raises(ValueError, match=r"figures.yaml\[0\].quote: must hold exactly one"):
        check_docs.load_figures(bad)
    bad.write_text("- {doc: ../../etc/passwd, quote: '{}', command: c, key: k}\n")
    with pytest.raises(ValueError, match=r"\.doc: must be a file of the repository"):
        check_docs.load_figures(bad)
    bad.write_text("- {doc: doc.md, quote: '{}', command: c, key: k, colour: red}\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour'\]"):
        check_docs.load_figures(bad)


def test_a_count_is_the_length_of_what_the_command_prints() -> None:
    assert check_docs.lookup([1, 2, 3], "#") == 3
    assert check_docs.lookup({"rows": [{"a": 1}, {"a": 2}]}, "rows.#") == 2
    assert check_docs.lookup({"rows": [{"a": 1}, {"a": 2}]}, "rows.1.a") == 2
