"""The book and the grader agree: chapter 5's helpers pass assignment 5's visible and hidden tests.

The book computes MAVs, FitHigh tails, Weibull CDFs, OpenMax probabilities,
Mahalanobis scores and open-set reports with ``owll_helpers``; the assignment
grades the students' versions against scipy, scikit-learn and references
written inside its hidden test cells. Both follow the SYLLABUS Conventions,
and this test checks that they agree: each helper, put in the place of a
task's answer, passes every grade cell of that task. The assignment's forbid
lists are emptied for the purpose (they exist to switch these very helpers
off while a student's answer runs). It also checks that the NumPy reference
of Algorithm 2 in ``tests/ch05_reference.py`` is the one in the hidden cell.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

from owll_helpers.evt import WeibullTail, fit_openmax_tails, openmax_probabilities
from tests.ch05_reference import reference_openmax
from tests.grading import SOLUTIONS, read_json
from tests.helpers_agree import assert_helper_passes, without_forbidden_helpers

NOTEBOOK = SOLUTIONS / "ch05_evt_openmax" / "ch05_evt_openmax.ipynb"

HELPER_ANSWERS = {
    "mean_activation_vectors": (
        "from owll_helpers.evt import mean_activation_vectors as course_mavs\n"
        "def mean_activation_vectors(logits, labels):\n    return course_mavs(logits, labels)\n"
    ),
    # The helper returns a WeibullTail, a named tuple of four floats: (shape, scale, tail_min, translate).
    "fit_high": (
        "from owll_helpers.evt import fit_high as course_fit_high\n"
        "def fit_high(distances, tailsize, translate):\n    return course_fit_high(distances, tailsize, translate)\n"
    ),
    "weibull_cdf": (
        "from owll_helpers.evt import weibull_cdf as course_cdf\n"
        "def weibull_cdf(distances, params):\n    return course_cdf(distances, params)\n"
    ),
    "openmax_probabilities": (
        "import owll_helpers.evt as course_evt\n"
        "def openmax_probabilities(logits, mavs, tails, alpha=3):\n    return course_evt.openmax_probabilities(logits, mavs, tails, alpha)\n"
    ),
    "mahalanobis_score": (
        "from owll_helpers.detectors import mahalanobis_score as course_mahalanobis\n"
        "def mahalanobis_score(train_features, train_labels, test_features):\n"
        "    return course_mahalanobis(train_features, train_labels, test_features)\n"
    ),
    "open_set_report": (
        "from owll_helpers.metrics import open_set_report as course_report\n"
        "def open_set_report(known_scores, unknown_scores, known_predictions, known_labels, threshold):\n"
        "    return course_report(known_scores, unknown_scores, known_predictions, known_labels, threshold)\n"
    ),
}


@pytest.fixture(scope="module")
def notebook() -> dict:
    return without_forbidden_helpers(read_json(NOTEBOOK), at_least=len(HELPER_ANSWERS))


@pytest.mark.parametrize("task", sorted(HELPER_ANSWERS))
def test_the_course_helper_passes_the_tasks_tests(notebook, task):
    assert_helper_passes(notebook, task, HELPER_ANSWERS[task])


def test_the_hidden_cell_keeps_the_reference_of_tests():
    hidden = "".join(next(c["source"] for c in read_json(NOTEBOOK)["cells"] if c.get("id") == "ch05-test_openmax_probabilities_hidden"))
    match = re.search(r"^def hidden_reference_openmax\(.*?\n    return np\.array\(answers\)\n", hidden, flags=re.S | re.M)
    assert match, "the hidden cell of Task 4 no longer defines hidden_reference_openmax"
    in_cell = match.group(0).replace("hidden_reference_openmax", "reference_openmax")
    assert in_cell == inspect.getsource(reference_openmax), "tests/ch05_reference.py and the hidden cell of Task 4 differ: keep them the same"


@pytest.mark.parametrize("alpha", [1, 2, 4])
def test_the_helper_matches_the_reference_on_fitted_tails_and_ties(alpha):
    generator = torch.Generator().manual_seed(alpha)
    labels = torch.arange(200) % 4
    train = 4 * torch.nn.functional.one_hot(labels, 4) + torch.randn(200, 4, generator=generator, dtype=torch.float64)
    mavs, tails = fit_openmax_tails(train, labels, tailsize=20, translate=10000.0)
    logits = torch.cat([3 * torch.randn(20, 4, generator=generator, dtype=torch.float64), torch.randint(0, 3, (20, 4), generator=generator).double()])
    want = reference_openmax(logits.numpy(), mavs.numpy(), tails, alpha)
    np.testing.assert_allclose(openmax_probabilities(logits, mavs, tails, alpha).numpy(), want, rtol=0, atol=1e-10)
    zero = [WeibullTail(2.0, 1.0, 1e6, 1.0)] * 4
    np.testing.assert_allclose(openmax_probabilities(logits, mavs, zero, alpha).numpy(), reference_openmax(logits.numpy(), mavs.numpy(), zero, alpha), atol=1e-12)
