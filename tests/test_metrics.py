"""owll_helpers.metrics: checked against scikit-learn and hand-computed cases, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from owll_helpers.metrics import aupr, auroc, fpr_at_95_tpr, fpr_at_tpr, mean_max_confidence, ood_metrics


def reference_fpr(scores_in, scores_out, tpr=0.95):
    """Brute force: the highest threshold among all scores with TPR >= tpr, then the FPR there."""
    scores_in, scores_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    for t in sorted(set(scores_in) | set(scores_out), reverse=True):
        if (scores_in >= t).mean() >= tpr - 1e-12:
            return float((scores_out >= t).mean())
    raise AssertionError("unreachable")


def test_mean_max_confidence_is_the_mean_of_the_row_maxima():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.4, 0.3, 0.3]])
    assert mean_max_confidence(probs) == pytest.approx((0.7 + 0.8 + 0.4) / 3)
    # Not the maximum of the mean probability vector, which would be 0.4.
    assert mean_max_confidence(np.full((4, 5), 0.2)) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "probs, words",
    [
        (torch.tensor([[2.0, -1.0]]), "negative"),
        (torch.tensor([[0.5, 0.6]]), "sum to 1"),
        (torch.tensor([0.5, 0.5]), "2 dimension"),
        (torch.tensor([[float("nan"), 1.0]]), "NaN"),
        (torch.empty(0, 3), "empty"),
    ],
)
def test_mean_max_confidence_refuses_what_are_not_probabilities(probs, words):
    with pytest.raises(ValueError, match=words):
        mean_max_confidence(probs)


def test_metrics_refuse_other_types():
    with pytest.raises(TypeError, match="torch.Tensor or a numpy.ndarray"):
        auroc([0.1, 0.2], [0.3])
    with pytest.raises(TypeError, match="numbers"):
        auroc(np.array([True, False]), np.array([0.1]))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_and_aupr_agree_with_scikit_learn(seed):
    generator = np.random.default_rng(seed)
    scores_in, scores_out = generator.normal(1, 1, 37), generator.normal(0, 1, 23)
    labels = np.r_[np.ones(37), np.zeros(23)]
    scores = np.r_[scores_in, scores_out]
    assert auroc(torch.tensor(scores_in), torch.tensor(scores_out)) == pytest.approx(roc_auc_score(labels, scores))
    assert aupr(scores_in, scores_out) == pytest.approx(average_precision_score(labels, scores))
    assert aupr(scores_in, scores_out, positive="out") == pytest.approx(average_precision_score(1 - labels, -scores))


def test_auroc_hand_computed_cases():
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0  # perfectly separated
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 0.0  # the wrong way round
    assert auroc(np.full(4, 0.5), np.full(3, 0.5)) == 0.5  # identical scores: ties count one half
    assert auroc(np.array([1.0, 0.0]), np.array([0.0])) == 0.75  # one tie of two pairs


def test_aupr_refuses_an_unknown_positive_class():
    with pytest.raises(ValueError, match="'in' or 'out'"):
        aupr(np.array([1.0]), np.array([0.0]), positive="ood")


@pytest.mark.parametrize("n_in", [1, 7, 20, 21, 60, 100, 101])
@pytest.mark.parametrize("seed", range(3))
def test_fpr95_agrees_with_a_brute_force_search(n_in, seed):
    generator = np.random.default_rng(seed)
    # Rounded scores make ties between and within the two sets common.
    scores_in = np.round(generator.normal(1, 1, n_in), 1)
    scores_out = np.round(generator.normal(0, 1, 31), 1)
    assert fpr_at_95_tpr(scores_in, scores_out) == reference_fpr(scores_in, scores_out)


def test_fpr95_hand_computed_cases():
    scores_in = np.arange(1, 21, dtype=float)  # 20 inputs: the threshold keeps 19, t = 2
    assert fpr_at_95_tpr(scores_in, np.array([0.0, 1.0, 1.5, 2.0, 30.0])) == pytest.approx(2 / 5)
    # 60 inputs: k = 57, the threshold is the 57th largest score, 3.
    sixty = np.arange(60, dtype=float)
    assert fpr_at_95_tpr(sixty, np.array([2.5, 3.0, 3.5])) == pytest.approx(2 / 3)
    # 0.07 * 100 is 7.000000000000001 in floating point: k must be 7, not 8.
    hundred = np.arange(100, dtype=float)
    assert fpr_at_tpr(hundred, np.array([92.5, 93.0]), tpr=0.07) == pytest.approx(1 / 2)
    assert fpr_at_95_tpr(np.array([5.0, 6.0]), np.array([1.0, 2.0])) == 0.0  # separated
    assert fpr_at_95_tpr(np.full(5, 1.0), np.full(3, 1.0)) == 1.0  # identical scores
    # The convention is in-distribution positive: swapping the sets changes the number.
    assert fpr_at_95_tpr(np.array([1.0, 2.0]), np.array([5.0, 6.0])) == 1.0


def test_fpr_at_tpr_takes_other_rates_and_refuses_impossible_ones():
    scores_in = np.arange(10, dtype=float)
    assert fpr_at_tpr(scores_in, np.array([4.5, 9.5]), tpr=0.5) == pytest.approx(1 / 2)
    assert fpr_at_tpr(scores_in, np.array([-1.0]), tpr=1.0) == 0.0
    for bad in (0, 1.5, -0.1, True, "0.95"):
        with pytest.raises(ValueError, match="tpr"):
            fpr_at_tpr(scores_in, scores_in, tpr=bad)


def test_ood_metrics_bundles_all_four():
    result = ood_metrics(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0.1, 0.75]))
    assert set(result) == {"auroc", "aupr_in", "aupr_out", "fpr95"}
    assert result["auroc"] == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    "scores_in, scores_out, error, words",
    [
        (np.array([[1.0, 2.0]]), np.array([1.0]), ValueError, "one score per input"),
        (np.array([1.0, np.nan]), np.array([1.0]), ValueError, "NaN"),
        (np.array([1.0]), np.array([np.inf]), ValueError, "scores_out"),
        (np.array([]), np.array([1.0]), ValueError, "empty"),
    ],
)
def test_scores_are_checked(scores_in, scores_out, error, words):
    for metric in (auroc, aupr, fpr_at_95_tpr):
        with pytest.raises(error, match=words):
            metric(scores_in, scores_out)


def test_open_set_report_pools_knowns_and_unknowns_at_the_threshold():
    from owll_helpers.metrics import open_set_report

    known_scores = torch.tensor([0.9, 0.8, 0.7, 0.3])
    unknown_scores = torch.tensor([0.75, 0.2, 0.1])
    predictions, labels = torch.tensor([1, 2, 0, 1]), torch.tensor([1, 0, 0, 1])
    report = open_set_report(known_scores, unknown_scores, predictions, labels, threshold=0.7)
    # Knowns right: 0.9 (accepted, correct), 0.7 (accepted at the threshold, correct); 0.8 is wrong, 0.3 rejected.
    # Unknowns right: 0.2 and 0.1 (rejected); 0.75 accepted.
    assert report["open_set_accuracy"] == pytest.approx(4 / 7)
    assert report["known_rejected"] == pytest.approx(0.25) and report["unknown_accepted"] == pytest.approx(1 / 3)
    assert report["auroc"] == pytest.approx(auroc(known_scores, unknown_scores))
    with pytest.raises(ValueError, match="one entry per known input"):
        open_set_report(known_scores, unknown_scores, predictions[:3], labels, 0.5)
