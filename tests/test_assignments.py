"""Tests that hold for every assignment in solutions/, discovered automatically.

1. exercises/ is exactly what nbgrader generates from solutions/ now;
2. no solution or hidden test reaches exercises/;
3. the solved source autogrades to full marks, the untouched student version to 0;
4. the authoring rules: stable ids, the setup cell, no magics, task statements,
   one answer cell per task followed by a visible and a hidden test cell.
(The site and the publication are scanned in test_site.py and test_publish.py;
wrong answers are in test_wrong_answers.py.)
"""

from __future__ import annotations

import ast
import csv
import re

import pytest

from tests.grading import (
    BEGIN_HIDDEN,
    EXERCISES,
    SOLUTIONS,
    course_env,
    find_leaks,
    grade,
    make_course,
    nbgrader_meta,
    read_json,
    real_assignments,
    secret_lines,
    solved_submission,
    source_notebooks,
    write_notebook,
)

ASSIGNMENTS = real_assignments()


def test_there_is_at_least_one_assignment():
    assert ASSIGNMENTS, "solutions/ holds no assignment"


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A temporary course with every real assignment, generated and graded once."""
    folder = tmp_path_factory.mktemp("generated")
    course = make_course(folder, {name: SOLUTIONS / name for name in ASSIGNMENTS})
    env = course_env(folder / "course_data")
    grade(course, env, "exercises")
    for assignment in ASSIGNMENTS:
        for source_path in source_notebooks(course / "solutions" / assignment):
            name = source_path.name
            data = folder / "course_data" / "submitted"
            write_notebook(solved_submission(read_json(source_path)), data / "solved" / assignment / name)
            write_notebook(read_json(course / "exercises" / assignment / name), data / "untouched" / assignment / name)
    grade(course, env, "autograde")
    with (folder / "course_data" / "autograde_summary.csv").open() as handle:
        summary = {(row["assignment"], row["student"]): row for row in csv.DictReader(handle)}
    return {"course": course, "summary": summary}


def _comparable(notebook: dict) -> list[tuple]:
    return [
        (c["cell_type"], c.get("id"), "".join(c["source"]), nbgrader_meta(c))
        for c in notebook["cells"]
    ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_are_exactly_what_nbgrader_generates(generated, assignment):
    fresh = generated["course"] / "exercises" / assignment
    committed = EXERCISES / assignment
    assert sorted(p.name for p in committed.glob("*.ipynb")) == sorted(p.name for p in fresh.glob("*.ipynb")), (
        f"exercises/{assignment} has other notebooks than solutions/{assignment}: run `make exercises`"
    )
    for path in fresh.glob("*.ipynb"):
        assert _comparable(read_json(committed / path.name)) == _comparable(read_json(path)), (
            f"exercises/{assignment}/{path.name} is out of date: run `make exercises` and commit"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_reaches_exercises(assignment):
    secrets = set().union(*(secret_lines(read_json(p)) for p in source_notebooks(SOLUTIONS / assignment)))
    assert secrets, "an assignment without solution lines cannot be checked"
    assert not find_leaks(EXERCISES / assignment, secrets)
    for path in (EXERCISES / assignment).rglob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and BEGIN_HIDDEN not in text and "Model answer" not in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_source_scores_full_marks(generated, assignment):
    row = generated["summary"][(assignment, "solved")]
    assert row["status"] == "graded", row
    assert float(row["autograded_score"]) == float(row["autograded_max_score"]) > 0, row


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_student_version_scores_zero(generated, assignment):
    row = generated["summary"][(assignment, "untouched")]
    assert row["status"] == "graded", row
    assert float(row["autograded_score"]) == 0.0, row


# ----------------------------------------------------------- authoring rules
SOURCES = [p for a in ASSIGNMENTS for p in source_notebooks(SOLUTIONS / a)]
IDS = [str(p.relative_to(SOLUTIONS)) for p in SOURCES]


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_every_cell_has_a_stable_unique_id(path):
    ids = [c.get("id") for c in read_json(path)["cells"]]
    assert all(ids) and len(set(ids)) == len(ids)
    prefix = path.stem.split("_")[0]
    assert all(i.startswith(f"{prefix}-") for i in ids), "ids are written by the author, not by nbgrader"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_no_magics_or_shell_lines(path):
    for cell in read_json(path)["cells"]:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            stripped = line.strip()
            if stripped.startswith(("%", "!")):
                assert stripped == "%matplotlib inline", f"cell {cell['id']}: {stripped!r} is not allowed"


def _tasks(notebook: dict) -> list[dict]:
    """Split a source notebook into tasks: statement, answer cell, grade cells."""
    tasks: list[dict] = []
    statement = None
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        if cell["cell_type"] == "markdown" and not meta.get("solution"):
            statement = cell
        elif cell["cell_type"] == "code" and meta.get("solution"):
            tasks.append({"statement": statement, "answer": cell, "tests": []})
        elif cell["cell_type"] == "code" and meta.get("grade") and tasks:
            tasks[-1]["tests"].append(cell)
    return tasks


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_each_task_has_a_statement_one_answer_a_visible_and_a_hidden_test(path):
    tasks = _tasks(read_json(path))
    assert tasks, "an assignment needs at least one autograded task"
    for task in tasks:
        answer_id = nbgrader_meta(task["answer"])["grade_id"]
        statement = "".join(task["statement"]["source"])
        match = re.search(r"Difficulty: (easy|medium|hard) · about (\d+) minutes · (\d+) points", statement)
        assert match, f"task {answer_id}: the statement must say 'Difficulty: ... · about N minutes · N points'"
        visible = [t for t in task["tests"] if BEGIN_HIDDEN not in "".join(t["source"])]
        hidden = [t for t in task["tests"] if BEGIN_HIDDEN in "".join(t["source"])]
        assert len(visible) == 1 and len(hidden) == 1, f"task {answer_id}: one visible and one hidden test cell"
        points = sum(nbgrader_meta(t)["points"] for t in task["tests"])
        assert points == int(match.group(3)), f"task {answer_id}: the statement says {match.group(3)} points, the tests give {points}"
        assert "".join(hidden[0]["source"]).startswith("#"), "a hidden-test cell starts with a comment saying what it is"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_visible_test_messages_say_what_was_expected(path):
    for task in _tasks(read_json(path)):
        for cell in task["tests"]:
            source = "".join(cell["source"])
            if BEGIN_HIDDEN in source:
                continue
            asserts = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assert)]
            assert asserts, f"{cell['id']}: a visible test cell asserts something"
            for node in asserts:
                assert node.msg is not None, f"{cell['id']} line {node.lineno}: an assert without a message"
            assert re.search(r"[Ee]xpected|must|should", source), f"{cell['id']}: messages say what was expected"
            assert "Hint" in source or "hint" in source, f"{cell['id']}: messages give a hint"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_written_answers_are_manually_graded_with_a_model_answer(path):
    written = [c for c in read_json(path)["cells"] if c["cell_type"] == "markdown" and nbgrader_meta(c).get("solution")]
    for cell in written:
        meta = nbgrader_meta(cell)
        assert meta.get("grade") and meta.get("points", 0) > 0, f"{cell['id']}: a written answer carries points"
        assert "Model answer" in "".join(cell["source"]), f"{cell['id']}: keep the model answer in the solution"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_solved_notebook_prints_only_what_it_means_to(generated, assignment):
    """No stray reprs (a torch.Generator as a cell's last value) and no warnings in what a student sees."""
    autograded = generated["course"].parent / "course_data" / "autograded" / "solved" / assignment
    notebooks = sorted(autograded.glob("*.ipynb"))
    assert notebooks, f"no autograded solved notebook in {autograded}"
    for path in notebooks:
        for cell in read_json(path)["cells"]:
            for output in cell.get("outputs", []):
                text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
                assert not re.search(r"<[\w.]+ (object )?at 0x[0-9a-f]+>", text), f"cell {cell.get('id')} prints a stray repr: {text[:200]!r}"
                assert "Warning" not in text, f"cell {cell.get('id')} prints a warning: {text[:300]!r}"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_the_site_shows_the_title_first(path):
    """The setup cell stays first in the notebook (nbgrader and students need it) but is removed from the site's page."""
    first = read_json(path)["cells"][0]
    assert nbgrader_meta(first).get("grade_id") == "setup", "the first cell is the setup cell"
    assert "remove-cell" in first["metadata"].get("tags", []), (
        "tag the setup cell 'remove-cell', so the assignment's page opens with its title and brief"
    )
