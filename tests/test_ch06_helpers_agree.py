"""The book and the grader agree: chapter 6's helpers pass assignment 6's visible and hidden tests.

The book runs the open-world loop with ``owll_helpers.open_world``; the
assignment grades the students' versions of the same pieces against
references written inside its hidden test cells. This test checks that they
follow the same rules: each helper, put in the place of a task's answer,
passes every grade cell of that task. The assignment's forbid lists are
emptied for the purpose (they exist to switch these very helpers off while a
student's answer runs).
"""

from __future__ import annotations

import pytest

from tests.grading import SOLUTIONS, read_json
from tests.helpers_agree import assert_helper_passes, without_forbidden_helpers

NOTEBOOK = SOLUTIONS / "ch06_open_world" / "ch06_open_world.ipynb"

HELPER_ANSWERS = {
    "NearestClassMean": "from owll_helpers.open_world import NearestClassMean\n",
    "select_queries": (
        "from owll_helpers.open_world import select_queries as course_select_queries\n"
        "def select_queries(scores, budget, strategy, seed=0):\n"
        "    return course_select_queries(scores, budget, strategy, seed)\n"
    ),
    # The helper calls its own select_queries, not the notebook's: it must choose what the tests' fixed answers say.
    "open_world_round": (
        "from owll_helpers.open_world import open_world_round as course_round\n"
        "def open_world_round(learner, pool_features, oracle, budget, strategy, seed=0):\n"
        "    return course_round(learner, pool_features, oracle, budget, strategy, seed)\n"
    ),
}


@pytest.fixture(scope="module")
def notebook() -> dict:
    return without_forbidden_helpers(read_json(NOTEBOOK), at_least=len(HELPER_ANSWERS))


@pytest.mark.parametrize("task", sorted(HELPER_ANSWERS))
def test_the_course_helper_passes_the_tasks_tests(notebook, task):
    assert_helper_passes(notebook, task, HELPER_ANSWERS[task])
