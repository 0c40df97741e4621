"""owll_helpers.evt: FitHigh and its CDF as libMR runs them, and OpenMax as the authors' code does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import weibull_min

from owll_helpers.evt import (
    WeibullTail,
    fit_high,
    fit_openmax_tails,
    mean_activation_vectors,
    openmax_probabilities,
    weibull_cdf,
)


def test_fit_high_fits_the_shifted_largest_distances_with_the_location_at_zero():
    distances = np.random.default_rng(0).gamma(3.0, 2.0, 300)
    tail = np.sort(distances)[-25:]
    for translate in (1.0, 10000.0):
        got = fit_high(torch.tensor(distances), 25, translate)
        shape, location, scale = weibull_min.fit(tail + translate - tail[0], floc=0)
        assert location == 0 and got == WeibullTail(pytest.approx(shape), pytest.approx(scale), tail[0], translate)


def test_weibull_cdf_is_shifted_like_the_fit_and_zero_below_the_shift():
    params = WeibullTail(shape=2.0, scale=3.0, tail_min=5.0, translate=1.0)
    values = weibull_cdf(np.array([5.0, 7.0, 4.0, 3.5]), params)
    # d = 5 (the tail's minimum) is shifted to translate = 1; d = 4 to 0, d = 3.5 below it.
    assert values[0] == pytest.approx(1 - math.exp(-((1 / 3) ** 2)))
    assert values[1] == pytest.approx(1 - math.exp(-1.0))
    assert values[2] == 0.0 and values[3] == 0.0
    assert np.all(np.diff(weibull_cdf(np.linspace(4, 20, 50), params)) >= 0)


def test_fit_high_refuses_a_tail_larger_than_the_data_and_bad_shifts():
    with pytest.raises(ValueError, match="larger than the number"):
        fit_high(np.arange(5.0), 6, 1.0)
    with pytest.raises(ValueError, match="translate"):
        fit_high(np.arange(5.0), 3, 0.0)
    with pytest.raises(ValueError, match="NaN"):
        fit_high(np.array([1.0, np.nan, 2.0]), 2, 1.0)


def test_mean_activation_vectors_use_correct_inputs_only():
    logits = torch.tensor([[2.0, 0.0], [4.0, 0.0], [0.0, 1.0], [3.0, 1.0], [1.0, 5.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])  # rows 2 (class 0) and 3 (class 1) are misclassified
    assert torch.equal(mean_activation_vectors(logits, labels), torch.tensor([[3.0, 0.0], [1.0, 5.0]]))
    with pytest.raises(ValueError, match="class 1 has no correctly classified input"):
        mean_activation_vectors(logits[:4], labels[:4])


def openmax_by_hand(v: np.ndarray, mav: np.ndarray, tails, alpha: int) -> np.ndarray:
    """Algorithm 2 for one input, written out (the authors' code's weights)."""
    weights = np.ones(len(v))
    order = sorted(range(len(v)), key=lambda c: (-v[c], c))
    for i, c in enumerate(order[:alpha], start=1):
        cdf = weibull_cdf(np.array([np.linalg.norm(v - mav[c])]), tails[c])[0]
        weights[c] = 1 - (alpha + 1 - i) / alpha * cdf
    scores = np.append(v * weights, np.sum(v * (1 - weights)))
    return np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()


@pytest.mark.parametrize("alpha", [1, 2, 4])
def test_openmax_matches_algorithm_2_written_out(alpha):
    generator = torch.Generator().manual_seed(alpha)
    logits = 3 * torch.randn(7, 4, generator=generator, dtype=torch.float64)
    logits[0] = torch.tensor([2.0, 2.0, 1.0, 2.0], dtype=torch.float64)  # a three-way tie at the top
    mavs = 3 * torch.randn(4, 4, generator=generator, dtype=torch.float64)
    tails = [WeibullTail(1.5 + c, 2.0 + c, 0.5, 1.0) for c in range(4)]
    got = openmax_probabilities(logits, mavs, tails, alpha)
    want = np.stack([openmax_by_hand(v, mavs.numpy(), tails, alpha) for v in logits.numpy()])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)
    assert torch.allclose(got.sum(dim=1), torch.ones(7, dtype=torch.float64)) and (got >= 0).all()


def test_openmax_with_every_cdf_zero_is_the_softmax_over_v_and_zero():
    logits = torch.tensor([[1.0, 3.0, -2.0]], dtype=torch.float64)
    far_shift = [WeibullTail(2.0, 1.0, 1e6, 1.0)] * 3  # every distance lies below the tail: CDF 0
    got = openmax_probabilities(logits, torch.zeros(3, 3, dtype=torch.float64), far_shift, alpha=3)
    assert torch.allclose(got, torch.softmax(torch.tensor([[1.0, 3.0, -2.0, 0.0]], dtype=torch.float64), dim=1))


def test_openmax_refuses_alpha_above_the_classes_and_wrong_shapes():
    logits, tails = torch.zeros(2, 3), [WeibullTail(1.0, 1.0, 0.0, 1.0)] * 3
    with pytest.raises(ValueError, match="alpha"):
        openmax_probabilities(logits, torch.zeros(3, 3), tails, alpha=4)
    with pytest.raises(ValueError, match="mavs"):
        openmax_probabilities(logits, torch.zeros(2, 3), tails)
    with pytest.raises(ValueError, match="one fit per class"):
        openmax_probabilities(logits, torch.zeros(3, 3), tails[:2])


def test_fit_openmax_tails_needs_enough_correct_inputs_per_class():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    logits = torch.nn.functional.one_hot(labels, 3).double() * 5 + torch.randn(60, 3, generator=generator, dtype=torch.float64)
    mavs, tails = fit_openmax_tails(logits, labels, tailsize=10, translate=1.0)
    assert mavs.shape == (3, 3) and len(tails) == 3 and all(t.translate == 1.0 for t in tails)
    with pytest.raises(ValueError, match="fewer than tailsize"):
        fit_openmax_tails(logits, labels, tailsize=25)
