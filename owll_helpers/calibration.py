"""Calibration: reliability bins, ECE and MCE, temperature scaling.

A classifier is *calibrated* when, among the inputs on which its confidence
(largest softmax probability) is about c, a fraction c is classified
correctly (Guo et al. 2017, Eq. 1).  The course measures it with the
conventions of SYLLABUS, Conventions, which libraries do not share at the
bin edges:

- :func:`reliability_bins` -- top-label confidence, ``M`` equal-width bins
  ``((m-1)/M, m/M]`` (confidence 0 in the first bin), computed in float64
  with edges ``np.linspace(0, 1, M + 1)``; the prediction is the first
  argmax. Per bin: the mean confidence, the accuracy and the count (the data
  of a reliability diagram, DeGroot & Fienberg 1983; Niculescu-Mizil &
  Caruana 2005);
- :func:`expected_calibration_error` -- ECE, the bin-size weighted mean of
  ``|accuracy - confidence|`` (Naeini et al. 2015; Guo et al. 2017, Eq. 3);
- :func:`max_calibration_error` -- MCE, the largest gap over non-empty bins
  (Naeini et al. 2015; Guo et al. 2017, Eq. 5);
- :func:`fit_temperature` -- temperature scaling: ``softmax(z / T)`` with
  ``T > 0`` minimising the validation NLL (Guo et al. 2017, Section 4.2);
- :func:`ece_of_calibrated_model` and :func:`bootstrap_ece` -- how large
  ECE's estimation noise is on a set of a given size.

Probabilities and logits may be torch tensors or NumPy arrays; NaN,
infinite values and shapes that do not match get a clear error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .metrics import ArrayLike, _as_float64

#: The number of bins the course uses for ECE (Guo et al. 2017 use 15).
N_BINS: int = 15
#: The interval of temperatures that :func:`fit_temperature` searches.
TEMPERATURE_BOUNDS: tuple[float, float] = (0.05, 20.0)


def _labels(labels: Any, n_samples: int, n_classes: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
        array = labels.detach().cpu().numpy()
    elif isinstance(labels, np.ndarray):
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
        array = labels
    else:
        raise TypeError(f"labels must be a torch.Tensor or a numpy.ndarray, got {type(labels).__name__}")
    if array.shape != (n_samples,):
        raise ValueError(f"labels must have shape ({n_samples},), one per input, got {array.shape}")
    if array.min() < 0 or array.max() >= n_classes:
        raise ValueError(f"labels must be class indices in 0..{n_classes - 1}, got {int(array.min())}..{int(array.max())}")
    return array.astype(np.int64)


def _check_n_bins(n_bins: object) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    return int(n_bins)


def _probabilities(probs: ArrayLike) -> np.ndarray:
    array = _as_float64(probs, "probs", ndim=2)
    if array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"probs must be probabilities in [0, 1], got values in [{array.min():.3g}, {array.max():.3g}]: "
            "pass softmax(logits), not the logits"
        )
    return array


def reliability_bins(
    probs: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin: the mean confidence, the accuracy and the number of inputs.

    The course's bins (SYLLABUS, Conventions): the confidence of an input is
    its top-label probability ``max_k p_k`` and its prediction the first
    argmax; bin ``m`` (from 1) holds the confidences in ``((m-1)/M, m/M]``,
    with the edges ``np.linspace(0, 1, M + 1)`` in float64, and a confidence
    of exactly 0 joins the first bin (Guo et al. 2017, Section 2).

    Args:
        probs: ``(N, K)`` class probabilities.
        labels: ``(N,)`` integer true classes.
        n_bins: the number of equal-width bins ``M``.

    Returns:
        ``(confidence, accuracy, count)``, each of length ``M``: an empty
        bin has count 0 and NaN confidence and accuracy.
    """
    array = _probabilities(probs)
    truth = _labels(labels, array.shape[0], array.shape[1])
    n_bins = _check_n_bins(n_bins)
    confidence = array.max(axis=1)
    correct = (array.argmax(axis=1) == truth).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") gives the m with edges[m-1] < c <= edges[m]; c = 0 gives 0, moved to the first bin.
    bin_index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bin_index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bin_index, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bin_index, weights=correct, minlength=n_bins) / count
    return mean_confidence, accuracy, count.astype(np.int64)


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS) -> float:
    """ECE: ``sum_m |B_m| / N * |acc(B_m) - conf(B_m)|`` (Guo et al. 2017, Eq. 3).

    The bins are those of :func:`reliability_bins`; empty bins add nothing.
    """
    confidence, accuracy, count = reliability_bins(probs, labels, n_bins)
    filled = count > 0
    return float(np.sum(count[filled] * np.abs(accuracy[filled] - confidence[filled])) / count.sum())


def max_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS) -> float:
    """MCE: the largest ``|acc(B_m) - conf(B_m)|`` over non-empty bins (Guo et al. 2017, Eq. 5)."""
    confidence, accuracy, count = reliability_bins(probs, labels, n_bins)
    filled = count > 0
    return float(np.max(np.abs(accuracy[filled] - confidence[filled])))


def _mean_nll(logits: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    scaled = logits / temperature
    shifted = scaled - scaled.max(axis=1, keepdims=True)
    log_normaliser = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_normaliser - shifted[np.arange(len(truth)), truth]))


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """Mean NLL of ``softmax(logits / temperature)`` at the true labels, in float64."""
    array = _as_float64(logits, "logits", ndim=2)
    truth = _labels(labels, array.shape[0], array.shape[1])
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return _mean_nll(array, truth, float(temperature))


def fit_temperature(
    logits: ArrayLike, labels: ArrayLike, *, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """Temperature scaling: the ``T`` that minimises the mean NLL of ``softmax(logits / T)``.

    Guo et al. (2017), Section 4.2: one scalar ``T > 0`` fitted on a
    validation split; dividing by ``T`` never changes the argmax, so accuracy
    stays the same. The search is over ``log T`` in ``[log T_min, log T_max]``
    (bounded Brent, scipy's ``minimize_scalar``): when every validation
    prediction is right, the NLL keeps falling as ``T -> 0`` and an unbounded
    search runs away; a result at a bound says so.

    (netcal's ``TemperatureScaling.temperature`` is ``1 / T``.)
    """
    from scipy.optimize import minimize_scalar

    array = _as_float64(logits, "logits", ndim=2)
    truth = _labels(labels, array.shape[0], array.shape[1])
    low, high = bounds
    if not 0 < low < high:
        raise ValueError(f"bounds must be 0 < T_min < T_max, got {bounds}")
    result = minimize_scalar(
        lambda log_t: _mean_nll(array, truth, math.exp(log_t)),
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(result.x))


def ece_of_calibrated_model(
    confidences: ArrayLike, n_bins: int = N_BINS, *, draws: int = 1000, seed: int = 0
) -> np.ndarray:
    """ECE of a *perfectly calibrated* model with these confidences, once per draw.

    Each draw makes every input correct with probability equal to its
    confidence, which is what calibration means, and measures ECE: its
    distribution is the noise floor of ECE on a set of this size (the
    estimate is biased upwards, since ``|.|`` of a noisy gap is positive on
    average; Kumar et al. 2019, Section 5).

    Args:
        confidences: ``(N,)`` top-label confidences in [0, 1].
        n_bins: bins as in :func:`reliability_bins`.
        draws: number of simulated label sets.
        seed: seed of NumPy's generator.

    Returns:
        ``(draws,)`` ECE values.
    """
    values = _as_float64(confidences, "confidences", ndim=1)
    if values.min() < 0 or values.max() > 1:
        raise ValueError("confidences must lie in [0, 1]")
    n_bins = _check_n_bins(n_bins)
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_index = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bin_index, minlength=n_bins)
    confidence_sum = np.bincount(bin_index, weights=values, minlength=n_bins)
    correct = np.random.default_rng(seed).random((draws, len(values))) < values
    # Per draw and bin: |number correct - sum of confidences| / N is that bin's share of ECE.
    correct_per_bin = np.stack([np.bincount(bin_index, weights=row, minlength=n_bins) for row in correct])
    return np.abs(correct_per_bin - confidence_sum).sum(axis=1) / count.sum()


def bootstrap_ece(
    probs: ArrayLike, labels: ArrayLike, n_bins: int = N_BINS, *, draws: int = 1000, seed: int = 0
) -> np.ndarray:
    """ECE on ``draws`` bootstrap resamples (with replacement) of the inputs: its sampling spread."""
    array = _probabilities(probs)
    truth = _labels(labels, array.shape[0], array.shape[1])
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    generator = np.random.default_rng(seed)
    samples = generator.integers(0, len(truth), size=(draws, len(truth)))
    return np.array([expected_calibration_error(array[rows], truth[rows], n_bins) for rows in samples])
