"""The whole grading round trip on a tiny torch-free fixture assignment.

Release -> a learning platform's zip of eight submissions -> collect ->
autograde -> grades -> feedback, through tools/grade.py, the same commands
the make targets run. Each submission exercises one way grading can go wrong.
"""

from __future__ import annotations

import copy
import csv
import html
import zipfile
from pathlib import Path

import pytest

from tests.grading import (
    MIN_DISTINCTIVE_LENGTH,
    ROOT,
    course_env,
    grade,
    hidden_test_lines,
    make_course,
    nbgrader_meta,
    read_json,
    solved_submission,
    write_notebook,
)

FIXTURE = ROOT / "tests" / "fixtures" / "pipeline" / "ch00_fixture"
ASSIGNMENT = "ch00_fixture"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CELL_TIMEOUT_S = 5
#: Autograded points of the fixture: three tasks, a visible and a hidden test of 1 point each.
FULL_MARKS = 6.0


def _cell(notebook: dict, grade_id: str) -> dict:
    return next(c for c in notebook["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)


def _with_answer(notebook: dict, grade_id: str, source: str) -> dict:
    changed = copy.deepcopy(notebook)
    _cell(changed, grade_id)["source"] = source
    return changed


def _submissions(source: dict, release: dict) -> dict[str, dict | str]:
    """One submission per student: a notebook, or raw text for a corrupt file."""
    solved = solved_submission(source)
    edited_test = _with_answer(solved, "add", "def add(a, b):\n    return a - b")
    _cell(edited_test, "test_add")["source"] = 'print("Visible test passed.")'
    deleted_test = _with_answer(solved, "count_vowels", "def count_vowels(text):\n    return 0")
    deleted_test["cells"] = [c for c in deleted_test["cells"] if nbgrader_meta(c).get("grade_id") != "test_count_vowels"]
    return {
        "alice_solved": solved,
        "bob_untouched": release,
        "carol_raises": _with_answer(solved, "mean", 'def mean(values):\n    raise RuntimeError("not done yet")'),
        "dave_loops": _with_answer(solved, "count_vowels", "while True:\n    pass"),
        "erin_edits_test": edited_test,
        "frank_deletes_test": deleted_test,
        "grace_corrupt": '{"cells": [ this is not json',
    }


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("roundtrip")
    course = make_course(folder, {ASSIGNMENT: FIXTURE})
    data = folder / "course_data"
    env = course_env(data, cell_timeout=CELL_TIMEOUT_S)
    outputs = {"release": grade(course, env, "exercises", "--zip")}

    source = read_json(course / "solutions" / ASSIGNMENT / NOTEBOOK)
    release = read_json(course / "exercises" / ASSIGNMENT / NOTEBOOK)
    download = folder / "platform_download"
    for student, content in _submissions(source, release).items():
        target = download / student / NOTEBOOK
        if isinstance(content, str):
            target.parent.mkdir(parents=True)
            target.write_text(content)
        else:
            write_notebook(content, target)
    write_notebook(solved_submission(source), download / "heidi_renamed" / f"{ASSIGNMENT} (1).ipynb")
    archive = folder / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(download.rglob("*.ipynb")):
            handle.write(path, path.relative_to(download.parent))

    outputs["collect"] = grade(course, env, "collect", str(archive), ASSIGNMENT)
    outputs["autograde"] = grade(course, env, "autograde")
    outputs["grades"] = grade(course, env, "grades")
    outputs["feedback"] = grade(course, env, "feedback")
    with (data / "autograde_summary.csv").open() as handle:
        summary = {row["student"]: row for row in csv.DictReader(handle)}
    with (data / "grades.csv").open() as handle:
        grades = {row["student_id"]: row for row in csv.DictReader(handle)}
    return {"course": course, "data": data, "summary": summary, "grades": grades, "outputs": outputs, "source": source}


def _score(roundtrip: dict, student: str) -> float:
    return float(roundtrip["summary"][student]["autograded_score"])


def test_release_writes_the_student_version_and_a_zip(roundtrip):
    course = roundtrip["course"]
    assert (course / "exercises" / ASSIGNMENT / NOTEBOOK).is_file()
    with zipfile.ZipFile(course / "dist" / "release" / f"{ASSIGNMENT}.zip") as handle:
        assert handle.namelist() == [f"{ASSIGNMENT}/{NOTEBOOK}"]


def test_collect_brings_every_student_in(roundtrip):
    submitted = roundtrip["data"] / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted(
        ["alice_solved", "bob_untouched", "carol_raises", "dave_loops", "erin_edits_test",
         "frank_deletes_test", "grace_corrupt", "heidi_renamed"]
    )


def test_solved_scores_full_marks(roundtrip):
    assert _score(roundtrip, "alice_solved") == FULL_MARKS
    assert float(roundtrip["summary"]["alice_solved"]["autograded_max_score"]) == FULL_MARKS


def test_untouched_scores_zero(roundtrip):
    assert _score(roundtrip, "bob_untouched") == 0.0
    assert roundtrip["summary"]["bob_untouched"]["status"] == "graded"


def test_an_answer_that_raises_loses_only_its_own_task(roundtrip):
    assert _score(roundtrip, "carol_raises") == FULL_MARKS - 2


def test_an_infinite_loop_times_out_and_the_rest_is_graded(roundtrip):
    row = roundtrip["summary"]["dave_loops"]
    assert _score(roundtrip, "dave_loops") == FULL_MARKS - 2
    assert "timed out" in row["problems"] and "count_vowels" in row["problems"]


def test_an_edited_visible_test_is_restored(roundtrip):
    # erin's add is wrong and her test only prints: the restored test fails it.
    assert _score(roundtrip, "erin_edits_test") == FULL_MARKS - 2


def test_a_deleted_test_cell_is_restored(roundtrip):
    # frank's count_vowels is wrong and he deleted its visible test: it comes back and fails.
    assert _score(roundtrip, "frank_deletes_test") == FULL_MARKS - 2


def test_corrupt_and_renamed_notebooks_are_named_while_others_are_graded(roundtrip):
    summary = roundtrip["summary"]
    assert summary["grace_corrupt"]["status"] == "corrupt"
    assert "corrupt notebook" in summary["grace_corrupt"]["problems"]
    assert summary["heidi_renamed"]["status"] == "missing"
    assert "renamed" in summary["heidi_renamed"]["problems"] and f"{ASSIGNMENT} (1).ipynb" in summary["heidi_renamed"]["problems"]
    graded = [s for s, row in summary.items() if row["status"] == "graded"]
    assert len(graded) == 6
    printed = roundtrip["outputs"]["autograde"].stdout
    assert "grace_corrupt" in printed and "heidi_renamed" in printed


def test_grades_csv_has_every_student(roundtrip):
    grades = roundtrip["grades"]
    assert set(grades) == set(roundtrip["summary"])
    assert float(grades["bob_untouched"]["score"]) == 0.0
    # The written answer (2 points) waits for a person; the autograded part is complete.
    assert float(grades["alice_solved"]["score"]) == FULL_MARKS
    assert float(grades["alice_solved"]["max_score"]) == FULL_MARKS + 2


def test_feedback_exists_and_hides_hidden_tests(roundtrip):
    feedback = roundtrip["data"] / "feedback"
    pages = {p.parent.parent.name: p for p in feedback.rglob("*.html")}
    assert {"alice_solved", "bob_untouched", "carol_raises", "dave_loops", "erin_edits_test", "frank_deletes_test"} <= set(pages)
    hidden = {line for line in hidden_test_lines(roundtrip["source"]) if len(line) >= MIN_DISTINCTIVE_LENGTH}
    assert "hidden_sentinel_for_pipeline_tests = add(-1.5, 0.25)" in hidden
    for student, page in pages.items():
        text = html.unescape(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"feedback of {student} shows hidden-test source: {leaked}"
        assert "BEGIN HIDDEN TESTS" not in text
    erin = html.unescape(pages["erin_edits_test"].read_text())
    # The failing hidden test's message reaches the student; its expected value does not.
    assert "add is wrong for negative or fractional numbers" in erin
    assert "1.25" not in erin
