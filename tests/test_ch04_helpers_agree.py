"""The book and the grader agree: chapter 4's helpers pass assignment 4's visible and hidden tests.

The book computes ECE, temperatures, ODIN scores and the open-set losses with
``owll_helpers``; the assignment grades the students' versions against
references written inside its hidden test cells. Both follow the SYLLABUS
Conventions, and this test checks that they agree: each helper, put in the
place of a task's answer, passes every grade cell of that task. The
assignment's forbid lists are emptied for the purpose (they exist to switch
these very helpers off while a student's answer runs).
"""

from __future__ import annotations

import pytest

from tests.grading import SOLUTIONS, read_json
from tests.helpers_agree import assert_helper_passes, without_forbidden_helpers

NOTEBOOK = SOLUTIONS / "ch04_calibration" / "ch04_calibration.ipynb"

HELPER_ANSWERS = {
    "reliability_bins": (
        "from owll_helpers.calibration import reliability_bins as course_bins\n"
        "def reliability_bins(probs, labels, n_bins=15):\n    return course_bins(probs, labels, n_bins)\n"
    ),
    "expected_calibration_error": (
        "from owll_helpers.calibration import expected_calibration_error as course_ece\n"
        "def expected_calibration_error(probs, labels, n_bins=15):\n    return course_ece(probs, labels, n_bins)\n"
    ),
    "fit_temperature": (
        "from owll_helpers.calibration import fit_temperature as course_temperature\n"
        "def fit_temperature(logits, labels):\n    return course_temperature(logits, labels)\n"
    ),
    "odin_score": (
        "from owll_helpers.scores import odin_score as course_odin\n"
        "def odin_score(model, x, temperature=1000.0, epsilon=0.0014):\n    return course_odin(model, x, temperature, epsilon)\n"
    ),
    "entropic_open_set_loss": (
        "from owll_helpers.losses import entropic_open_set_loss as course_entropic\n"
        "def entropic_open_set_loss(logits, targets, reduction='mean'):\n    return course_entropic(logits, targets, reduction)\n"
    ),
    "objectosphere_loss": (
        "import owll_helpers.losses as course_losses\n"
        "def objectosphere_loss(logits, features, targets, xi=1.0, alpha=1.0, reduction='mean'):\n"
        "    return course_losses.objectosphere_loss(logits, features, targets, xi, alpha, reduction)\n"
    ),
}


@pytest.fixture(scope="module")
def notebook() -> dict:
    return without_forbidden_helpers(read_json(NOTEBOOK), at_least=len(HELPER_ANSWERS))


@pytest.mark.parametrize("task", sorted(HELPER_ANSWERS))
def test_the_course_helper_passes_the_tasks_tests(notebook, task):
    assert_helper_passes(notebook, task, HELPER_ANSWERS[task])
