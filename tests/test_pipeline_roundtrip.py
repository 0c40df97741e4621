"""The whole grading round trip on a tiny torch-free fixture assignment.

Release -> a learning platform's zip of nine submissions -> collect ->
autograde -> grades -> feedback, through tools/grade.py, the same commands
the make targets run. Each submission exercises one way grading can go wrong.
The class is autograded two students at a time, and a copy of it one at a
time: grades and feedback must be identical.
"""

from __future__ import annotations

import copy
import csv
import html
import re
import shutil
import time
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
    for name in (f"{ASSIGNMENT} (1).ipynb", f"{ASSIGNMENT}-final.ipynb"):
        write_notebook(solved_submission(source), download / "ivan_two_candidates" / name)
    archive = folder / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(download.rglob("*.ipynb")):
            handle.write(path, path.relative_to(download.parent))

    outputs["collect"] = grade(course, env, "collect", str(archive), ASSIGNMENT)
    # The same class, collected, graded one student at a time in a copy.
    serial_course, serial_data = folder / "serial" / "course", folder / "serial" / "course_data"
    shutil.copytree(course, serial_course)
    shutil.copytree(data, serial_data)
    serial_env = course_env(serial_data, cell_timeout=CELL_TIMEOUT_S)

    times = {}
    start = time.perf_counter()
    outputs["autograde"] = grade(course, env, "autograde", "--jobs", "2")
    times["parallel"] = time.perf_counter() - start
    outputs["grades"] = grade(course, env, "grades")
    outputs["feedback"] = grade(course, env, "feedback")
    start = time.perf_counter()
    outputs["serial_autograde"] = grade(serial_course, serial_env, "autograde", "--jobs", "1")
    times["serial"] = time.perf_counter() - start
    grade(serial_course, serial_env, "grades")
    grade(serial_course, serial_env, "feedback")
    print(f"autograde of the fixture class: {times['serial']:.1f} s serially, {times['parallel']:.1f} s with --jobs 2")
    with (data / "autograde_summary.csv").open() as handle:
        summary = {row["student"]: row for row in csv.DictReader(handle)}
    with (data / "grades.csv").open() as handle:
        grades = {row["student_id"]: row for row in csv.DictReader(handle)}
    return {"course": course, "data": data, "serial_data": serial_data, "summary": summary, "grades": grades,
            "outputs": outputs, "source": source, "times": times}


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
         "frank_deletes_test", "grace_corrupt", "heidi_renamed", "ivan_two_candidates"]
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


def test_corrupt_and_ambiguous_notebooks_are_named_while_others_are_graded(roundtrip):
    summary = roundtrip["summary"]
    assert summary["grace_corrupt"]["status"] == "corrupt"
    assert "corrupt notebook" in summary["grace_corrupt"]["problems"]
    ivan = summary["ivan_two_candidates"]
    assert ivan["status"] == "missing" and ivan["autograded_score"] == ""
    assert f"{ASSIGNMENT} (1).ipynb" in ivan["problems"] and f"{ASSIGNMENT}-final.ipynb" in ivan["problems"]
    graded = [s for s, row in summary.items() if row["status"] == "graded"]
    assert len(graded) == 7
    printed = roundtrip["outputs"]["autograde"].stdout
    assert "grace_corrupt" in printed and "ivan_two_candidates" in printed


def test_a_single_renamed_notebook_is_graded_and_the_summary_says_so(roundtrip):
    heidi = roundtrip["summary"]["heidi_renamed"]
    assert _score(roundtrip, "heidi_renamed") == FULL_MARKS
    assert heidi["renamed_from"] == f"{ASSIGNMENT} (1).ipynb"
    assert "renamed" in heidi["problems"]


def test_grades_csv_has_every_student(roundtrip):
    grades = roundtrip["grades"]
    assert set(grades) == set(roundtrip["summary"])
    assert float(grades["bob_untouched"]["score"]) == 0.0
    # The written answer (2 points) waits for a person; the autograded part is complete.
    assert float(grades["alice_solved"]["score"]) == FULL_MARKS
    assert float(grades["alice_solved"]["max_score"]) == FULL_MARKS + 2


def test_grades_csv_says_what_happened_to_each_student(roundtrip):
    grades = roundtrip["grades"]
    status = {student: row["status"] for student, row in grades.items()}
    pending = "written answers not graded yet"
    # An honest zero: bob left everything untouched, his written answer too (nbgrader scores it 0).
    assert status["bob_untouched"] == "graded" and grades["bob_untouched"]["written_points_pending"] == "0"
    assert status["alice_solved"] == f"graded; {pending}" and grades["alice_solved"]["written_points_pending"] == "2"
    assert status["dave_loops"] == f"graded; timed out; {pending}"
    assert status["heidi_renamed"] == f"renamed; {pending}"
    assert status["grace_corrupt"] == "corrupt" and "corrupt notebook" in grades["grace_corrupt"]["problems"]
    assert status["ivan_two_candidates"] == "missing"
    # A broken submission's zero is told apart from an honest one by the CSV alone.
    assert float(grades["grace_corrupt"]["score"]) == float(grades["bob_untouched"]["score"]) == 0.0
    warned = roundtrip["outputs"]["grades"].stderr
    assert "WARNING" in warned and pending in warned and "alice_solved" in warned


def _without_scripts(page: str) -> str:
    """The page without its inline scripts (MathJax's code holds any number)."""
    return re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.DOTALL)


def _pages(data) -> dict[str, str]:
    return {p.parent.parent.name: html.unescape(p.read_text()) for p in (data / "feedback").rglob("*.html")}


def test_feedback_exists_and_hides_hidden_tests(roundtrip):
    feedback = roundtrip["data"] / "feedback"
    pages = {p.parent.parent.name: p for p in feedback.rglob("*.html")}
    assert {"alice_solved", "bob_untouched", "carol_raises", "dave_loops", "erin_edits_test", "frank_deletes_test", "heidi_renamed"} <= set(pages)
    hidden = {line for line in hidden_test_lines(roundtrip["source"]) if len(line) >= MIN_DISTINCTIVE_LENGTH}
    assert "hidden_sentinel_for_pipeline_tests = add(-1.5, 0.25)" in hidden
    for student, page in pages.items():
        text = html.unescape(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"feedback of {student} shows hidden-test source: {leaked}"
        assert "BEGIN HIDDEN TESTS" not in text
    erin = _without_scripts(html.unescape(pages["erin_edits_test"].read_text()))
    # The failing hidden test's message reaches the student; its expected value does not.
    assert "add is wrong for negative or fractional numbers" in erin
    assert "1.25" not in erin


def test_feedback_says_a_cell_was_stopped_by_the_time_limit(roundtrip):
    dave = _pages(roundtrip["data"])["dave_loops"]
    assert f"stopped by the time limit: it ran longer than {CELL_TIMEOUT_S} seconds" in dave
    assert "No reply from kernel" not in dave and "KeyboardInterrupt" not in dave


def test_feedback_says_not_graded_yet_instead_of_zero(roundtrip):
    pages = _pages(roundtrip["data"])
    alice = pages["alice_solved"]
    assert "Written response</a> (Score: not graded yet / 2.0)" in alice
    assert "Score: not graded yet / 2.0" in alice and "Score: 0.0 / 2.0" not in alice
    assert "Written answers worth 2.0 points are not graded yet" in alice
    # bob's untouched answer is an honest 0, not a pending one.
    assert "not graded yet" not in pages["bob_untouched"] and "Score: 0.0 / 2.0" in pages["bob_untouched"]
    warned = roundtrip["outputs"]["feedback"].stderr
    assert "WARNING" in warned and "not graded yet" in warned and "alice_solved" in warned


def test_feedback_renders_maths_offline(roundtrip):
    for student, page in _pages(roundtrip["data"]).items():
        sources = re.findall(r"""<(?:script|link|img)[^>]*(?:src|href)=["']([^"']+)""", page)
        remote = [url for url in sources if "://" in url or url.startswith("//")]
        assert not remote, f"feedback of {student} loads {remote}"
        # The fixture's task statement has maths: MathJax 3 is inlined, configured for $...$.
        assert "MathJax" in page and "window.MathJax" in page and "cdnjs" not in page, student
        assert r"\bar{x} = \frac{1}{n}" in page


def _normalised(text: str, data) -> str:
    # nbgrader gives a restored (deleted) test cell a random id, in any run.
    return re.sub(r"cell-id=[0-9a-f]{8}\b", "cell-id=<random>", text.replace(str(data), "<DATA>"))


def test_parallel_and_serial_grading_give_identical_grades_and_feedback(roundtrip):
    parallel, serial = roundtrip["data"], roundtrip["serial_data"]
    assert "2 at a time" in roundtrip["outputs"]["autograde"].stdout
    assert "1 at a time" in roundtrip["outputs"]["serial_autograde"].stdout
    for name in ("grades.csv", "autograde_summary.csv"):
        assert _normalised((parallel / name).read_text(), parallel) == _normalised((serial / name).read_text(), serial), name
    pages = sorted(p.relative_to(parallel) for p in (parallel / "feedback").rglob("*.html"))
    assert pages == sorted(p.relative_to(serial) for p in (serial / "feedback").rglob("*.html"))
    for page in pages:
        assert _normalised((parallel / page).read_text(), parallel) == _normalised((serial / page).read_text(), serial), page


def test_feedback_maths_render_in_a_browser_offline(roundtrip):
    """The feedback page, opened from disk in headless Chromium with the network off, renders its maths."""
    import os

    from tests import test_browser as browser

    missing = browser._browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser checks, but {missing}")
        pytest.skip(missing)
    page = roundtrip["data"] / "feedback" / "alice_solved" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    driver = browser._start_browser()
    try:
        driver.get(page.as_uri())
        end = time.monotonic() + 20
        while not driver.execute_script("return document.querySelectorAll('mjx-container').length"):
            assert time.monotonic() < end, "MathJax rendered nothing within 20 s"
            time.sleep(0.2)
        text = driver.find_element("tag name", "body").text
        assert r"\frac" not in text and "$" not in text, "raw TeX left on the page"
        assert browser._errors(driver) == []
        assert browser._requests_out(browser._network_events(driver)) == []
    finally:
        driver.quit()
