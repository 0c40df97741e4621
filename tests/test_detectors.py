"""owll_helpers.detectors: fit/score detectors, larger for more in-distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.covariance import EmpiricalCovariance

from owll_helpers.detectors import (
    Energy,
    Mahalanobis,
    MaxLogit,
    MaxSoftmax,
    OpenMax,
    class_means_and_shared_covariance,
    mahalanobis_score,
)


def features_and_labels(seed: int = 0, n: int = 90, d: int = 5):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    centres = 4 * torch.randn(3, d, generator=generator, dtype=torch.float64)
    return centres[labels] + torch.randn(n, d, generator=generator, dtype=torch.float64), labels


def test_shared_covariance_is_scikit_learns_on_the_centred_features():
    features, labels = features_and_labels()
    means, covariance = class_means_and_shared_covariance(features, labels)
    centred = (features - means[labels]).numpy()
    reference = EmpiricalCovariance(assume_centered=True).fit(centred)
    np.testing.assert_allclose(covariance.numpy(), reference.covariance_, rtol=1e-10)


def test_mahalanobis_score_is_minus_the_smallest_squared_distance():
    features, labels = features_and_labels()
    means, _ = class_means_and_shared_covariance(features, labels)
    centred = (features - means[labels]).numpy()
    reference = EmpiricalCovariance(assume_centered=True).fit(centred)
    test = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    want = -np.min([reference.mahalanobis(test.numpy() - m.numpy()) for m in means], axis=0)
    np.testing.assert_allclose(mahalanobis_score(features, labels, test).numpy(), want, rtol=1e-8)
    assert (mahalanobis_score(features, labels, means) > mahalanobis_score(features, labels, means + 10)).all()


def test_mahalanobis_handles_rank_deficient_features_with_the_pseudo_inverse():
    features, labels = features_and_labels(d=3)
    padded = torch.cat([features, torch.zeros(len(features), 2, dtype=torch.float64)], dim=1)  # two dead units
    scores = Mahalanobis().fit(padded, labels).score(padded[:5])
    assert torch.isfinite(scores).all()
    assert torch.allclose(scores, Mahalanobis().fit(features, labels).score(features[:5]))
    normalised = Mahalanobis(normalize=True).fit(features, labels).score(features[:5] * 100)
    assert torch.allclose(normalised, Mahalanobis(normalize=True).fit(features, labels).score(features[:5]))


def test_logit_scores_and_their_fit_return_the_detector():
    logits = torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert torch.allclose(MaxSoftmax().fit(logits).score(logits), torch.softmax(logits, dim=1).max(dim=1).values)
    assert torch.equal(MaxLogit().score(logits), torch.tensor([2.0, 1.0]))
    assert torch.allclose(Energy().score(logits), torch.logsumexp(logits, dim=1))
    assert torch.allclose(Energy(temperature=2.0).score(logits), 2 * torch.logsumexp(logits / 2, dim=1))
    with pytest.raises(ValueError, match="temperature"):
        Energy(temperature=0)


def test_openmax_detector_scores_one_minus_the_unknown_probability():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(90) % 3
    logits = torch.nn.functional.one_hot(labels, 3).double() * 6 + torch.randn(90, 3, generator=generator, dtype=torch.float64)
    detector = OpenMax(tailsize=10, alpha=2, translate=1.0).fit(logits, labels)
    probabilities = detector.probabilities(logits)
    assert probabilities.shape == (90, 4) and torch.allclose(probabilities.sum(dim=1), torch.ones(90, dtype=torch.float64))
    assert torch.allclose(detector.score(logits), 1 - probabilities[:, 3])
    far = logits * 10
    assert detector.score(far).mean() < detector.score(logits).mean()


def test_unfitted_and_bad_inputs_get_clear_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Mahalanobis().score(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="fit"):
        OpenMax().score(torch.zeros(2, 3))
    features, labels = features_and_labels()
    with pytest.raises(ValueError, match="columns"):
        Mahalanobis().fit(features, labels).score(torch.zeros(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        MaxSoftmax().score(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="no input"):
        class_means_and_shared_covariance(features[labels != 1], labels[labels != 1])
