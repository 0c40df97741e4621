"""Out-of-distribution detectors with ``fit`` and ``score``, in the shape of pytorch-ood's.

Each detector is fitted on a trained classifier's outputs for the training
data (logits, or penultimate-layer features, with their labels) and then
scores new inputs' outputs, **larger for "more in-distribution"** (SYLLABUS,
Conventions; pytorch-ood returns outlier scores, the negatives):

- :class:`MaxSoftmax` -- ``max_k softmax(z)_k`` (Hendrycks & Gimpel 2017);
- :class:`MaxLogit` -- ``max_k z_k`` (Hendrycks et al. 2022);
- :class:`Energy` -- ``T logsumexp(z / T)``, minus the free energy (Liu et
  al. 2020, Eq. 4);
- :class:`Mahalanobis` -- minus the smallest squared Mahalanobis distance to
  a class mean, with one shared covariance (Lee et al. 2018, Eq. 1-2;
  :func:`mahalanobis_score`);
- :class:`OpenMax` -- ``1 - P(unknown)`` from Algorithm 2 of Bendale & Boult
  (2016) (:mod:`owll_helpers.evt`).

The first three need no fitting (``fit`` returns the detector unchanged), so
that every detector is used the same way: ``Detector(...).fit(train_outputs,
train_labels).score(test_outputs)``.
"""

from __future__ import annotations

import torch

from ._checks import check_labels, check_positive_int, check_tensor
from .evt import WeibullTail, fit_openmax_tails, openmax_probabilities


def _outputs(values: object, name: str) -> torch.Tensor:
    return check_tensor(values, name, ndim=2, dtype_kind="float", finite=True)


def class_means_and_shared_covariance(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class means ``(C, D)`` and one covariance ``(D, D)`` shared by the classes, biased (/N).

    Lee et al. (2018), Eq. 1: ``Sigma = 1/N sum_c sum_{i in c} (f_i - mu_c)(f_i - mu_c)^T``,
    as scikit-learn's ``EmpiricalCovariance`` computes it (float64). Classes
    are ``0..C-1``; each must have at least one input.
    """
    _outputs(features, "features")
    check_labels(labels, "labels", features.shape[0])
    values = features.double()
    n_classes = int(labels.max()) + 1
    counts = torch.bincount(labels, minlength=n_classes)
    if bool((counts == 0).any()):
        raise ValueError(f"classes {torch.nonzero(counts == 0).flatten().tolist()} have no input: labels must cover 0..{n_classes - 1}")
    means = torch.stack([values[labels == c].mean(dim=0) for c in range(n_classes)])
    centred = values - means[labels]
    return means, centred.T @ centred / values.shape[0]


def mahalanobis_score(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor) -> torch.Tensor:
    """Minus the smallest squared Mahalanobis distance of each test feature to a class mean.

    Lee et al. (2018), Eq. 2, with class means and the shared biased
    covariance of :func:`class_means_and_shared_covariance`, inverted with a
    pseudo-inverse (``torch.linalg.pinv(S, hermitian=True)``, as scikit-learn's
    ``EmpiricalCovariance`` does): penultimate features are often
    rank-deficient, and a small ridge instead changes the ranking. Larger is
    more in-distribution. (pytorch-ood returns an outlier score, half the
    distance computed with an unnormalised covariance plus 1e-6 I and an
    ordinary inverse: negate it before comparing, and expect another ranking
    on rank-deficient features.)
    """
    return Mahalanobis().fit(train_features, train_labels).score(test_features)


class MaxSoftmax:
    """``max_k softmax(z)_k`` of logits ``z`` (Hendrycks & Gimpel 2017); nothing to fit."""

    def fit(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> MaxSoftmax:
        return self

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(_outputs(logits, "logits"), dim=1).max(dim=1).values


class MaxLogit:
    """``max_k z_k`` of logits ``z`` (Hendrycks et al. 2022); nothing to fit."""

    def fit(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> MaxLogit:
        return self

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return _outputs(logits, "logits").max(dim=1).values


class Energy:
    """``T logsumexp(z / T)``: minus the free energy of logits ``z`` (Liu et al. 2020, Eq. 4); nothing to fit."""

    def __init__(self, temperature: float = 1.0) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.temperature = float(temperature)

    def fit(self, logits: torch.Tensor, labels: torch.Tensor | None = None) -> Energy:
        return self

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return self.temperature * torch.logsumexp(_outputs(logits, "logits") / self.temperature, dim=1)


class Mahalanobis:
    """Minus the smallest squared Mahalanobis distance to a class mean (:func:`mahalanobis_score`).

    Args:
        normalize: L2-normalise every feature vector first (fitting and
            scoring alike); it often helps on penultimate ReLU features.
    """

    def __init__(self, *, normalize: bool = False) -> None:
        self.normalize = normalize
        self.means: torch.Tensor | None = None
        self.precision: torch.Tensor | None = None

    def _prepare(self, features: torch.Tensor, name: str) -> torch.Tensor:
        values = _outputs(features, name).double()
        return torch.nn.functional.normalize(values, dim=1) if self.normalize else values

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> Mahalanobis:
        self.means, covariance = class_means_and_shared_covariance(self._prepare(features, "features"), labels)
        self.precision = torch.linalg.pinv(covariance, hermitian=True)
        return self

    def score(self, features: torch.Tensor) -> torch.Tensor:
        if self.means is None or self.precision is None:
            raise RuntimeError("call fit(train_features, train_labels) before score")
        values = self._prepare(features, "features")
        if values.shape[1] != self.means.shape[1]:
            raise ValueError(f"features must have {self.means.shape[1]} columns like the fitted ones, got {values.shape[1]}")
        differences = values[:, None, :] - self.means[None, :, :]
        return -torch.einsum("mcd,de,mce->mc", differences, self.precision, differences).min(dim=1).values


class OpenMax:
    """``1 - P(unknown)`` of OpenMax (Bendale & Boult 2016), fitted with Algorithm 1.

    Args:
        tailsize: distances per class that FitHigh fits (``eta``).
        alpha: top-ranked classes that are recalibrated.
        translate: FitHigh's shift. :func:`~owll_helpers.evt.fit_high` has
            no default (SYLLABUS, Conventions: pass it explicitly); this
            detector defaults to pytorch-ood's 10000, so that the two agree
            (libMR's Python binding has used 1 and 10000).
    """

    def __init__(self, *, tailsize: int = 20, alpha: int = 3, translate: float = 10000.0) -> None:
        self.tailsize = check_positive_int(tailsize, "tailsize", minimum=2)
        self.alpha = check_positive_int(alpha, "alpha")
        self.translate = translate
        self.mavs: torch.Tensor | None = None
        self.tails: list[WeibullTail] = []

    def fit(self, logits: torch.Tensor, labels: torch.Tensor) -> OpenMax:
        self.mavs, self.tails = fit_openmax_tails(logits, labels, tailsize=self.tailsize, translate=self.translate)
        return self

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(M, C + 1)`` OpenMax probabilities, the unknown class in the last column."""
        if self.mavs is None:
            raise RuntimeError("call fit(train_logits, train_labels) before probabilities or score")
        return openmax_probabilities(logits, self.mavs, self.tails, self.alpha)

    def score(self, logits: torch.Tensor) -> torch.Tensor:
        return 1 - self.probabilities(logits)[:, -1]
