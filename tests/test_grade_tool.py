"""tools/grade.py's own decisions, without nbgrader: renamed notebooks and a locked gradebook.

Fast: nbgrader's command is replaced by a stand-in, so no kernel starts.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from tests.grading import ROOT


@pytest.fixture(scope="module")
def grade_tool():
    spec = importlib.util.spec_from_file_location("owll_grade_tool", ROOT / "tools" / "grade.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    # grade.py pins the kernels first, as a script must; here the root conftest
    # pinned them before NumPy loaded, so its warning about a late pin is moot.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"pin_numerics\(\) was called after", category=RuntimeWarning)
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def course(grade_tool, tmp_path):
    release = tmp_path / "exercises" / "ch00"
    release.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), release / "ch00.ipynb")
    data = tmp_path / "data"
    return grade_tool.Course(
        root=tmp_path, source=tmp_path / "solutions", release=tmp_path / "exercises", submitted=data / "submitted",
        autograded=data / "autograded", feedback=data / "feedback", db_url=f"sqlite:///{data / 'gradebook.db'}",
        data=data, cell_timeout=5,
    )


def _submit(course, student: str, *names: str) -> Path:
    folder = course.submitted / student / "ch00"
    folder.mkdir(parents=True)
    for name in names:
        nbformat.write(nbformat.v4.new_notebook(), folder / name)
    return folder


def _fake_nbgrader(monkeypatch, grade_tool, replies: list[tuple[int, str]]) -> list[tuple]:
    calls = []

    def fake(course, *args, timeout=None):
        calls.append(args)
        code, stderr = replies[min(len(calls), len(replies)) - 1]
        return subprocess.CompletedProcess(args, code, stdout="", stderr=stderr)

    monkeypatch.setattr(grade_tool, "nbgrader", fake)
    monkeypatch.setattr(grade_tool.time, "sleep", lambda seconds: None)
    return calls


def test_a_locked_gradebook_is_retried_and_not_reported(grade_tool, course, monkeypatch):
    _submit(course, "ann", "ch00.ipynb")
    calls = _fake_nbgrader(monkeypatch, grade_tool, [(1, "sqlite3.OperationalError: database is locked"), (0, "")])
    result = grade_tool.autograde_student(course, "ch00", "ann")
    assert len(calls) == 2 and result.problems == [] and result.status == "graded"


def test_a_gradebook_locked_every_time_is_reported(grade_tool, course, monkeypatch):
    _submit(course, "ann", "ch00.ipynb")
    calls = _fake_nbgrader(monkeypatch, grade_tool, [(1, "sqlite3.OperationalError: database is locked")])
    result = grade_tool.autograde_student(course, "ch00", "ann")
    assert len(calls) == grade_tool.LOCK_RETRIES
    assert any("database is locked" in problem for problem in result.problems)


def test_one_renamed_notebook_is_graded_under_the_assignment_name(grade_tool, course, monkeypatch):
    folder = _submit(course, "ann", "ch00 (1).ipynb")
    calls = _fake_nbgrader(monkeypatch, grade_tool, [(0, "")])
    result = grade_tool.autograde_student(course, "ch00", "ann")
    assert sorted(p.name for p in folder.glob("*.ipynb")) == ["ch00.ipynb"] and len(calls) == 1
    assert result.renamed_from == "ch00 (1).ipynb" and result.status == "graded"
    # A later run still says so.
    again = grade_tool.autograde_student(course, "ch00", "ann")
    assert again.renamed_from == "ch00 (1).ipynb"


def test_several_candidates_stay_an_error_that_names_them(grade_tool, course, monkeypatch):
    _submit(course, "ann", "ch00 (1).ipynb", "ch00 (2).ipynb")
    calls = _fake_nbgrader(monkeypatch, grade_tool, [(0, "")])
    result = grade_tool.autograde_student(course, "ch00", "ann")
    assert calls == [] and result.status == "missing" and not result.gradable
    assert "ch00 (1).ipynb" in result.problems[0] and "ch00 (2).ipynb" in result.problems[0]


def test_a_submission_past_its_whole_bound_is_reported_as_timed_out(grade_tool, course, monkeypatch):
    _submit(course, "ann", "ch00.ipynb")

    def hangs(course, *args, timeout=None):
        raise subprocess.TimeoutExpired(args, timeout)

    monkeypatch.setattr(grade_tool, "nbgrader", hangs)
    result = grade_tool.autograde_student(course, "ch00", "ann")
    assert result.timed_out and "grading stopped after" in result.problems[0]
