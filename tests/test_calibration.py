"""owll_helpers.calibration: the course's bins, ECE, MCE, temperature scaling and ECE's noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from owll_helpers.calibration import (
    bootstrap_ece,
    ece_of_calibrated_model,
    expected_calibration_error,
    fit_temperature,
    max_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)


def bins_by_definition(probs: np.ndarray, labels: np.ndarray, n_bins: int):
    """The Conventions read literally, one input at a time (slow, plain Python)."""
    probs = np.asarray(probs, dtype=np.float64)
    edges = np.linspace(0, 1, n_bins + 1)
    members: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for row, label in zip(probs, labels):
        confidence = row.max()
        prediction = int(np.flatnonzero(row == confidence)[0])
        m = 0 if confidence == 0 else next(i for i in range(n_bins) if edges[i] < confidence <= edges[i + 1])
        members[m].append((confidence, prediction == label))
    confidence = np.array([np.mean([c for c, _ in b]) if b else np.nan for b in members])
    accuracy = np.array([np.mean([ok for _, ok in b]) if b else np.nan for b in members])
    return confidence, accuracy, np.array([len(b) for b in members])


def random_probs(n: int, k: int, seed: int, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    logits = scale * generator.standard_normal((n, k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True), generator.integers(0, k, n)


@pytest.mark.parametrize("n_bins", [1, 10, 15])
@pytest.mark.parametrize("seed", [0, 1])
def test_bins_match_the_definition_on_random_inputs(n_bins, seed):
    probs, labels = random_probs(300, 5, seed)
    got = reliability_bins(probs, labels, n_bins)
    want = bins_by_definition(probs, labels, n_bins)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, equal_nan=True)
    ece = sum(n * abs(a - c) for c, a, n in zip(*want) if n) / 300
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(labels), n_bins) == pytest.approx(ece, abs=1e-12)


def test_edges_belong_to_the_bin_below_and_zero_to_the_first():
    edges = np.linspace(0, 1, 11)
    # Confidence exactly 0.3, 0.6, 0.7 (where ceil(c * 10) disagrees with the edges) and 1.0.
    probs = np.array([[0.3, 0.3, 0.3, 0.1], [0.6, 0.4, 0.0, 0.0], [0.7, 0.1, 0.1, 0.1], [1.0, 0.0, 0.0, 0.0]])
    probs[0, :3] = edges[3]
    probs[0, 3] = 1 - 3 * edges[3]
    probs[1, 0], probs[1, 1] = edges[6], 1 - edges[6]
    probs[2, 0], probs[2, 1:] = edges[7], (1 - edges[7]) / 3
    _, _, count = reliability_bins(probs, np.zeros(4, dtype=np.int64), 10)
    assert list(np.flatnonzero(count)) == [2, 5, 6, 9]
    zero = np.zeros((1, 3))
    assert reliability_bins(zero, np.array([1]), 10)[2][0] == 1  # confidence 0 joins the first bin


def test_ties_predict_the_first_class_and_empty_bins_are_nan():
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])
    confidence, accuracy, count = reliability_bins(probs, np.array([0, 1]), 4)
    # Confidence 0.5 lies in (0.25, 0.5]; both rows predict class 0, so one of the two is right.
    assert count.tolist() == [0, 2, 0, 0] and accuracy[1] == 0.5 and confidence[1] == 0.5
    assert np.isnan(confidence[0]) and np.isnan(accuracy[3])


def test_ece_and_mce_of_small_examples():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.65, 0.35], [0.55, 0.45]])
    labels = np.array([0, 1, 0, 0])
    # Bins of 0.1: {0.9, 0.9} accuracy 0.5 (gap 0.4), {0.65} accuracy 1 (gap 0.35), {0.55} accuracy 1 (gap 0.45).
    assert expected_calibration_error(probs, labels, 10) == pytest.approx((2 * 0.4 + 0.35 + 0.45) / 4)
    assert max_calibration_error(probs, labels, 10) == pytest.approx(0.45)
    assert expected_calibration_error(np.eye(3), np.arange(3)) == 0.0


def test_temperature_recovers_the_one_that_generated_the_labels():
    generator = np.random.default_rng(0)
    logits = 4 * generator.standard_normal((4000, 5))
    probs = np.exp(logits / 2.5)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.array([generator.choice(5, p=p) for p in probs])
    t = fit_temperature(torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))
    assert t == pytest.approx(2.5, rel=0.08)
    nll = negative_log_likelihood(logits, labels, t)
    assert nll <= negative_log_likelihood(logits, labels, t * 1.05) and nll <= negative_log_likelihood(logits, labels, t / 1.05)
    assert negative_log_likelihood(np.zeros((2, 4)), np.array([0, 3])) == pytest.approx(math.log(4))


def test_temperature_stops_at_the_bound_when_every_prediction_is_right():
    logits = np.array([[3.0, 0.0], [0.0, 2.0]])
    # The NLL falls towards T -> 0 (to about 1e-17 at T = 0.05, flat in float64): the search ends at the lower bound.
    assert 0.05 <= fit_temperature(logits, np.array([0, 1])) < 0.06


def test_noise_floor_of_a_calibrated_model_shrinks_with_the_set_size():
    small = ece_of_calibrated_model(np.full(100, 0.8), draws=400, seed=0)
    large = ece_of_calibrated_model(np.full(10_000, 0.8), draws=400, seed=0)
    # One bin of confidence 0.8: ECE = |binomial mean - 0.8|, of mean sqrt(2/pi) * sqrt(0.16 / n).
    assert small.mean() == pytest.approx(math.sqrt(2 / math.pi) * 0.04, rel=0.15)
    assert large.mean() < small.mean() / 5
    spread = bootstrap_ece(*random_probs(200, 3, 0), draws=50)
    assert spread.shape == (50,) and spread.std() > 0


@pytest.mark.parametrize(
    "probs, labels, error",
    [
        (np.array([[np.nan, 1.0]]), np.array([0]), ValueError),
        (np.array([[0.5, 0.5]]), np.array([0, 1]), ValueError),
        (np.array([[2.0, -1.0]]), np.array([0]), ValueError),
        (np.array([[0.5, 0.5]]), np.array([2]), ValueError),
        (np.array([0.5, 0.5]), np.array([0]), ValueError),
        (np.array([[0.5, 0.5]]), np.array([0.0]), TypeError),
        ([[0.5, 0.5]], np.array([0]), TypeError),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(probs, labels, error):
    with pytest.raises(error):
        reliability_bins(probs, labels)


def test_bad_settings_are_refused():
    probs, labels = random_probs(10, 3, 0)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(probs, labels, 0)
    with pytest.raises(ValueError, match="temperature"):
        negative_log_likelihood(probs, labels, 0.0)
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(probs, labels, bounds=(2.0, 1.0))
