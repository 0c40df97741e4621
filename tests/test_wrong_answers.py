"""The tests can fail: typical wrong answers are rejected, the solutions are not.

For every autograded task of every assignment, each wrong answer kept in
tests/wrong_answers/<assignment>.py runs in a fresh in-process IPython shell
(no kernel): the whole notebook in order, with the solution's answers to the
other tasks (tasks build on each other), the wrong answer in place of this
task's answer, and every grade cell with its hidden tests. At least one grade
cell of this task must fail, and the visible one where the wrong answer says
so; no grade cell of another task may fail (a mistake costs only its own
task's points, whichever test finds it). The same run with the solution's
answer is the control: every grade cell passes, so a NameError can never
count as a rejection.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pytest
from IPython.core.interactiveshell import InteractiveShell

from tests.grading import BEGIN_HIDDEN, SOLUTIONS, nbgrader_meta, read_json, real_assignments, solved_submission, source_notebooks
from tests.wrong_answers import WrongAnswer

matplotlib.use("Agg")

#: Errors that mean the run was broken, not that a test rejected the answer.
BROKEN_RUN = ("NameError", "SyntaxError", "IndentationError", "ImportError", "ModuleNotFoundError")


@dataclass
class CellOutcome:
    grade_id: str
    task: str | None  # the grade_id of the answer cell above it
    visible: bool
    error: BaseException | None


def _fresh_shell() -> InteractiveShell:
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    shell.register_magic_function(lambda line: None, "line", "matplotlib")
    return shell


def run_notebook(notebook: dict, answer_id: str, answer_source: str) -> list[CellOutcome]:
    """Run the whole notebook with ``answer_source`` as task ``answer_id``'s answer; return every grade cell's outcome."""
    solved = solved_submission(notebook)
    shell = _fresh_shell()
    outcomes: list[CellOutcome] = []
    current_answer = None
    try:
        for original, cell in zip(notebook["cells"], solved["cells"]):
            if cell["cell_type"] != "code":
                continue
            meta = nbgrader_meta(cell)
            if meta.get("solution"):
                current_answer = meta["grade_id"]
                source = answer_source if current_answer == answer_id else cell["source"]
            elif meta.get("grade"):
                source = "".join(original["source"])  # with the hidden tests
            else:
                source = cell["source"]
            result = shell.run_cell(source, store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            if meta.get("grade"):
                outcomes.append(CellOutcome(meta["grade_id"], current_answer, BEGIN_HIDDEN not in source, error))
            elif error is not None:
                raise AssertionError(f"setup or another task's solution failed in cell {cell.get('id')}: {error!r}")
    finally:
        InteractiveShell.clear_instance()
    return outcomes


@functools.lru_cache(maxsize=None)
def _cached_run(path: str, answer_id: str, answer_source: str) -> tuple[CellOutcome, ...]:
    return tuple(run_notebook(read_json(Path(path)), answer_id, answer_source))


def run_task(path, answer_id: str, answer_source: str) -> list[CellOutcome]:
    """The outcomes of task ``answer_id``'s own grade cells in a run of the whole notebook."""
    return [o for o in _cached_run(str(path), answer_id, answer_source) if o.task == answer_id]


def other_tasks(path, answer_id: str, answer_source: str) -> list[CellOutcome]:
    """The outcomes of every other task's grade cells in the same run."""
    return [o for o in _cached_run(str(path), answer_id, answer_source) if o.task != answer_id]


def _cases():
    for assignment in real_assignments():
        module = importlib.import_module(f"tests.wrong_answers.{assignment}")
        for path in source_notebooks(SOLUTIONS / assignment):
            notebook = read_json(path)
            for cell in notebook["cells"]:
                meta = nbgrader_meta(cell)
                if cell["cell_type"] == "code" and meta.get("solution"):
                    yield assignment, path, meta["grade_id"], module.WRONG_ANSWERS.get(meta["grade_id"], [])


CASES = list(_cases())
IDS = [f"{assignment}:{task}" for assignment, _, task, _ in CASES]


@pytest.mark.parametrize("assignment, path, task, wrong_answers", CASES, ids=IDS)
def test_every_task_keeps_wrong_answers_that_its_visible_test_catches(assignment, path, task, wrong_answers):
    assert wrong_answers, f"tests/wrong_answers/{assignment}.py has no wrong answer for task {task!r}"
    assert any(w.caught_by_visible_test for w in wrong_answers), f"task {task}: keep a mistake the visible test catches"


@pytest.mark.parametrize("assignment, path, task, wrong_answers", CASES, ids=IDS)
def test_the_solution_passes_every_test_of_its_task(assignment, path, task, wrong_answers):
    notebook = read_json(path)
    answer = next(c for c in solved_submission(notebook)["cells"] if nbgrader_meta(c).get("grade_id") == task)
    outcomes = run_task(path, task, answer["source"])
    assert outcomes, f"task {task} has no grade cells"
    failed = {o.grade_id: repr(o.error) for o in outcomes if o.error is not None}
    assert not failed, f"the solution of {task} fails its own tests: {failed}"


WRONG_CASES = [
    (assignment, path, task, wrong)
    for assignment, path, task, wrong_answers in CASES
    for wrong in wrong_answers
]


@pytest.mark.parametrize(
    "assignment, path, task, wrong", WRONG_CASES, ids=[f"{a}:{t}:{w.mistake}" for a, _, t, w in WRONG_CASES]
)
def test_wrong_answer_is_rejected(assignment, path, task, wrong: WrongAnswer):
    outcomes = run_task(path, task, wrong.source)
    broken = [o for o in outcomes if o.error is not None and type(o.error).__name__ in BROKEN_RUN]
    assert not broken, f"the run was broken, not rejected: {broken[0].error!r}"
    failures = [o for o in outcomes if o.error is not None]
    assert failures, f"no test of {task} rejects the mistake: {wrong.mistake}"
    visible_failures = [o for o in failures if o.visible]
    if wrong.caught_by_visible_test:
        assert visible_failures, f"the visible test of {task} should catch: {wrong.mistake}"
        message = str(visible_failures[0].error)
        assert "xpected" in message or "must" in message or "should" in message, (
            f"the visible test's message should say what was expected, got: {message!r}"
        )


@pytest.mark.parametrize(
    "assignment, path, task, wrong", WRONG_CASES, ids=[f"{a}:{t}:{w.mistake}" for a, _, t, w in WRONG_CASES]
)
def test_a_wrong_answer_costs_only_its_own_tasks_points(assignment, path, task, wrong: WrongAnswer):
    """Tasks build on each other, but a test of a later task must not grade an earlier answer again."""
    failed = {o.grade_id: f"{type(o.error).__name__}: {o.error}"[:300] for o in other_tasks(path, task, wrong.source) if o.error is not None}
    assert not failed, (
        f"a mistake in {task} ({wrong.mistake}) also fails other tasks' test cells {failed}: give those tests fixed "
        "values in place of the earlier answer (owll_helpers.testing.stand_in), as the authoring rules say"
    )
