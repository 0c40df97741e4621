"""Shared by tests/test_chNN_helpers_agree.py: the course's helpers in the place of a task's answer.

The book computes with ``owll_helpers``; an assignment grades the students'
versions of the same functions against references in its hidden cells. These
helpers run a task's visible and hidden tests with the course's helper as
the answer, with the notebook's forbid lists emptied (they exist to switch
those very helpers off while a student's answer runs).
"""

from __future__ import annotations

import copy
import re

from tests.test_wrong_answers import run_notebook


def without_forbidden_helpers(notebook: dict, *, at_least: int) -> dict:
    """The notebook with its FORBIDDEN list and every hidden HIDDEN_FORBIDDEN tuple emptied (at least ``at_least`` of them)."""
    notebook = copy.deepcopy(notebook)
    emptied = 0
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        source, n_hidden = re.subn(r"HIDDEN_FORBIDDEN = \(.*?\n\)", "HIDDEN_FORBIDDEN = ()", source, flags=re.S)
        source, n_visible = re.subn(r"^FORBIDDEN = \[.*?\n\]", "FORBIDDEN = []", source, flags=re.S | re.M)
        emptied += n_hidden + n_visible
        cell["source"] = source
    assert emptied >= at_least, "the forbid lists were not found: update tests/helpers_agree.py"
    return notebook


def assert_helper_passes(notebook: dict, task: str, answer_source: str) -> None:
    """Every grade cell of ``task`` passes with ``answer_source`` (the course's helper) as its answer."""
    outcomes = [o for o in run_notebook(notebook, task, answer_source) if o.task == task]
    assert outcomes, f"no grade cell of {task} ran"
    failures = {o.grade_id: repr(o.error)[:400] for o in outcomes if o.error is not None}
    assert not failures, f"owll_helpers' {task} fails the assignment's tests: {failures}"
