"""Out-of-distribution metrics, with the course's conventions.

**Convention** (SYLLABUS, Conventions): in-distribution (known) inputs are the
*positive* class, and a score is larger for "more in-distribution" (a max
softmax probability, minus a distance).  Every function here takes the scores
of in-distribution inputs and of out-of-distribution inputs separately, as
1-D tensors or arrays, so the direction cannot be confused with a label
encoding.

- :func:`mean_max_confidence` -- MMC, the mean over inputs of the largest
  predicted probability (Hein et al. 2019, Table 1);
- :func:`auroc` -- area under the ROC curve (scikit-learn's ``roc_auc_score``);
- :func:`aupr` -- area under the precision-recall curve, with either class as
  the positive one (scikit-learn's ``average_precision_score``);
- :func:`fpr_at_tpr` / :func:`fpr_at_95_tpr` -- the fraction of
  out-of-distribution inputs accepted at the highest threshold that still
  accepts at least 95 % of in-distribution inputs (Liang et al. 2018; Hein et
  al. 2019). pytorch-ood uses the opposite convention (out-of-distribution
  positive, 95 % of it caught): its numbers differ from these;
- :func:`ood_metrics` -- all of them at once, for tables;
- :func:`open_set_report` -- those and the open-set accuracy at a threshold (chapter 5);
- :func:`known_class_accuracy` / :func:`all_class_accuracy` -- accuracy on the
  classes a learner holds and on every class (chapter 6: the label set grows).

NaN, infinite values, wrong shapes and empty inputs are rejected with a
message that says what was expected.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def _as_float64(values: Any, name: str, *, ndim: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        array = values.detach().cpu().to(torch.float64).numpy()
    elif isinstance(values, np.ndarray):
        if values.dtype == bool or not np.issubdtype(values.dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {values.dtype}")
        array = values.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(values).__name__}")
    if array.ndim != ndim:
        what = "one score per input" if ndim == 1 else "one row of class probabilities per input"
        raise ValueError(f"{name} must have {ndim} dimension(s) ({what}), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); expected at least one input")
    if not np.isfinite(array).all():
        n_bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite values; expected finite numbers")
    return array


def _scores(scores_in: Any, scores_out: Any) -> tuple[np.ndarray, np.ndarray]:
    return _as_float64(scores_in, "scores_in", ndim=1), _as_float64(scores_out, "scores_out", ndim=1)


def mean_max_confidence(probs: ArrayLike) -> float:
    """Mean max confidence (MMC): the mean over inputs of ``max_k p_k(x)``.

    Hein et al. (2019) report it for in- and out-of-distribution data (their
    Table 1): a classifier that knows it does not know should have MMC near
    ``1 / K`` on inputs far from its data.

    Args:
        probs: ``(N, K)`` predicted probabilities, one row per input; each row
            must be non-negative and sum to 1 (up to 1e-4, float32 softmax).

    Returns:
        The mean of the per-input maxima, a Python float.
    """
    array = _as_float64(probs, "probs", ndim=2)
    if (array < 0).any():
        raise ValueError("probs contains negative values; expected probabilities (did you pass logits? apply softmax first)")
    sums = array.sum(axis=1)
    worst = int(np.abs(sums - 1).argmax())
    if abs(sums[worst] - 1) > 1e-4:
        raise ValueError(
            f"each row of probs must sum to 1, row {worst} sums to {sums[worst]:.6g} "
            "(did you pass logits? apply softmax over the classes, dim=1)"
        )
    return float(array.max(axis=1).mean())


def auroc(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """Area under the ROC curve, in-distribution positive.

    The probability that a random in-distribution input scores higher than a
    random out-of-distribution one (ties count one half): 1 separates them
    perfectly, 0.5 is chance, and below 0.5 the score ranks the two the wrong
    way round. Computed with scikit-learn's ``roc_auc_score``.
    """
    scores_in, scores_out = _scores(scores_in, scores_out)
    from sklearn.metrics import roc_auc_score

    labels = np.concatenate([np.ones(len(scores_in)), np.zeros(len(scores_out))])
    return float(roc_auc_score(labels, np.concatenate([scores_in, scores_out])))


def aupr(scores_in: ArrayLike, scores_out: ArrayLike, *, positive: str = "in") -> float:
    """Area under the precision-recall curve (scikit-learn's ``average_precision_score``).

    Args:
        scores_in, scores_out: scores, larger for "more in-distribution".
        positive: ``"in"`` (AUPR-In: in-distribution is the positive class,
            the course's convention) or ``"out"`` (AUPR-Out: out-of-distribution
            positive, scored by the negated score), as Hendrycks & Gimpel (2017)
            report both. Unlike AUROC, it depends on the share of each class.
    """
    scores_in, scores_out = _scores(scores_in, scores_out)
    if positive not in ("in", "out"):
        raise ValueError(f"positive must be 'in' or 'out', got {positive!r}")
    from sklearn.metrics import average_precision_score

    scores = np.concatenate([scores_in, scores_out])
    is_in = np.concatenate([np.ones(len(scores_in)), np.zeros(len(scores_out))])
    if positive == "in":
        return float(average_precision_score(is_in, scores))
    return float(average_precision_score(1 - is_in, -scores))


def fpr_at_tpr(scores_in: ArrayLike, scores_out: ArrayLike, tpr: float = 0.95) -> float:
    """False positive rate at a true positive rate of at least ``tpr``.

    An input is accepted as in-distribution when its score is ``>= t``. The
    threshold ``t`` is the highest one that accepts at least a fraction
    ``tpr`` of the in-distribution inputs: the ``k``-th largest
    in-distribution score, with ``k = ceil(tpr * N_in)``. The result is the
    fraction of out-of-distribution inputs accepted at ``t``. No
    interpolation between thresholds: reading the ROC curve at exactly
    ``tpr`` with ``np.interp`` gives another number, and scikit-learn's
    ``roc_curve`` drops thresholds unless ``drop_intermediate=False``.
    """
    scores_in, scores_out = _scores(scores_in, scores_out)
    if isinstance(tpr, bool) or not isinstance(tpr, (int, float)) or not 0 < tpr <= 1:
        raise ValueError(f"tpr must be a number in (0, 1], got {tpr!r}")
    # Rounded first: for some rates the product lands a hair above an integer
    # (0.07 * 100 is 7.000000000000001), and ceil would then take one too many.
    k = max(1, math.ceil(round(tpr * len(scores_in), 9)))
    threshold = np.sort(scores_in)[::-1][k - 1]
    return float((scores_out >= threshold).mean())


def fpr_at_95_tpr(scores_in: ArrayLike, scores_out: ArrayLike) -> float:
    """FPR at 95 % TPR (see :func:`fpr_at_tpr`), the course's FPR95."""
    return fpr_at_tpr(scores_in, scores_out, 0.95)


def ood_metrics(scores_in: ArrayLike, scores_out: ArrayLike) -> dict[str, float]:
    """AUROC, AUPR-In, AUPR-Out and FPR95 of one detector on one pair of sets."""
    return {
        "auroc": auroc(scores_in, scores_out),
        "aupr_in": aupr(scores_in, scores_out, positive="in"),
        "aupr_out": aupr(scores_in, scores_out, positive="out"),
        "fpr95": fpr_at_95_tpr(scores_in, scores_out),
    }


def open_set_report(
    known_scores: ArrayLike,
    unknown_scores: ArrayLike,
    known_predictions: ArrayLike,
    known_labels: ArrayLike,
    threshold: float,
) -> dict[str, float]:
    """AUROC, FPR95 and open-set accuracy at ``threshold``, pooled over knowns and unknowns.

    An input is *accepted* when its score is ``>= threshold``. A known input
    counts as right when it is accepted and correctly classified, an unknown
    input when it is rejected; the open-set accuracy is the share of right
    answers over all known and unknown inputs together. Also returned: the
    share of knowns rejected and of unknowns accepted at the threshold.
    """
    inside, outside = _scores(known_scores, unknown_scores)
    predictions = _as_float64(known_predictions, "known_predictions", ndim=1)
    labels = _as_float64(known_labels, "known_labels", ndim=1)
    if not len(predictions) == len(labels) == len(inside):
        raise ValueError(
            f"known_scores, known_predictions and known_labels must have one entry per known input, "
            f"got {len(inside)}, {len(predictions)} and {len(labels)}"
        )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    # Compared in the scores' own dtype, as `scores >= threshold` does in torch and NumPy (a float32
    # score printed as 0.7 equals the threshold 0.7 there, though not in float64).
    known_accepted = _accepted(known_scores, threshold)
    unknown_accepted = _accepted(unknown_scores, threshold)
    known_right = known_accepted & (predictions == labels)
    right = int(known_right.sum()) + int((~unknown_accepted).sum())
    return {
        "auroc": auroc(inside, outside),
        "fpr95": fpr_at_95_tpr(inside, outside),
        "open_set_accuracy": right / (len(inside) + len(outside)),
        "known_rejected": float(np.mean(~known_accepted)),
        "unknown_accepted": float(np.mean(unknown_accepted)),
    }


def _accepted(scores: ArrayLike, threshold: float) -> np.ndarray:
    accepted = scores.detach().cpu() >= threshold if isinstance(scores, torch.Tensor) else np.asarray(scores >= threshold)
    return np.asarray(accepted, dtype=bool)


def _predictions_and_labels(predictions: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    for value, name in ((predictions, "predictions"), (labels, "labels")):
        if not isinstance(value, torch.Tensor) or value.ndim != 1 or value.is_floating_point() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be a 1-D integer tensor of class labels (-1 for unknown)")
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions ({predictions.shape[0]}) and labels ({labels.shape[0]}) must have one entry per sample")
    return predictions, labels


def known_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, known_classes: torch.Tensor) -> float:
    """Accuracy on the samples whose true label is one of ``known_classes``.

    The accuracy "on the classes known so far" of an open-world learner: the
    denominator changes when the learner adds a class, so two rounds' values
    are not measured on the same task (Mundt et al. 2020, Sec. 5). NaN when
    no sample belongs to a known class.
    """
    predictions, labels = _predictions_and_labels(predictions, labels)
    known = torch.isin(labels, torch.as_tensor(known_classes, dtype=labels.dtype))
    return float((predictions[known] == labels[known]).double().mean()) if known.any() else math.nan


def all_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy on every sample: a sample of a class the learner does not hold is wrong. NaN when empty."""
    predictions, labels = _predictions_and_labels(predictions, labels)
    return float((predictions == labels).double().mean()) if labels.numel() else math.nan
