"""Training losses that use *known unknowns*: inputs known to belong to no class.

A training batch holds known inputs (class labels ``0..K-1``) and known
unknowns, labelled :data:`owll_helpers.data.UNKNOWN_LABEL` (-1), such as
rendered letters next to digits. The losses differ in what they ask of the
unknowns:

- :func:`uniform_cross_entropy` -- cross entropy to the uniform distribution,
  ``-(1/K) sum_c log softmax_c``: the outlier-exposure term of Hendrycks et
  al. (2019, Section 3);
- :func:`kl_to_uniform` -- ``KL(U || softmax)``, the confidence loss of Lee et
  al. (2018, Eq. 1): the same term minus the constant ``log K``, so the same
  gradients but a minimum of 0 instead of ``log K``;
- :func:`entropic_open_set_loss` -- Dhamija et al. (2018), Eq. 1: cross
  entropy for knowns, the uniform cross entropy for unknowns, in one batch;
- :func:`objectosphere_loss` -- Dhamija et al. (2018), Eq. 3: the entropic
  loss plus ``alpha`` times a penalty on the deep features' norms: known
  features shorter than ``xi`` and any unknown feature are pushed towards
  ``||F|| >= xi`` and ``F = 0`` respectively.

The "background class" alternative needs no loss of its own: relabel the
unknowns with an extra class ``K`` (:func:`with_background_class`) and use
cross entropy with ``K + 1`` outputs.

``reduction`` is ``"mean"`` (over the batch), ``"sum"`` or ``"none"`` (one
value per sample), as in ``torch.nn.functional``.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_choice, check_tensor
from .data import UNKNOWN_LABEL, Split

REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    check_choice(reduction, "reduction", REDUCTIONS)
    if reduction == "mean":
        return values.mean()
    return values.sum() if reduction == "sum" else values


def _check_logits_and_targets(logits: object, targets: object) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)
    check_tensor(targets, "targets", ndim=1, dtype_kind="int")
    assert isinstance(logits, torch.Tensor) and isinstance(targets, torch.Tensor)
    if targets.shape[0] != logits.shape[0]:
        raise ValueError(f"targets must hold one label per row of logits ({logits.shape[0]}), got {targets.shape[0]}")
    n_classes = logits.shape[1]
    if bool(((targets < UNKNOWN_LABEL) | (targets >= n_classes)).any()):
        raise ValueError(
            f"targets must be class indices 0..{n_classes - 1} or {UNKNOWN_LABEL} for a known unknown, "
            f"got values in {int(targets.min())}..{int(targets.max())}"
        )
    return logits, targets


def uniform_cross_entropy(logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross entropy from the uniform distribution: ``-(1/K) sum_c log softmax(logits)_c`` per row.

    Hendrycks et al. (2019), Section 3 (outlier exposure). Its minimum,
    ``log K``, is reached by the uniform softmax.
    """
    check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)
    return _reduce(-torch.log_softmax(logits, dim=1).mean(dim=1), reduction)


def kl_to_uniform(logits: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``KL(U || softmax(logits))`` per row: :func:`uniform_cross_entropy` minus ``log K`` (Lee et al. 2018, Eq. 1)."""
    check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)
    per_row = -torch.log_softmax(logits, dim=1).mean(dim=1) - math.log(logits.shape[1])
    return _reduce(per_row, reduction)


def entropic_open_set_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Dhamija et al. (2018), Eq. 1: cross entropy for knowns, uniform cross entropy for unknowns.

    A row whose target is :data:`UNKNOWN_LABEL` (-1) scores
    ``-(1/K) sum_c log S_c``, minimal when the softmax is uniform; any other
    row scores ``-log S_target``.
    """
    logits, targets = _check_logits_and_targets(logits, targets)
    log_probs = torch.log_softmax(logits, dim=1)
    unknown = targets == UNKNOWN_LABEL
    known_term = -log_probs.gather(1, targets.clamp(min=0).unsqueeze(1)).squeeze(1)
    unknown_term = -log_probs.mean(dim=1)
    return _reduce(torch.where(unknown, unknown_term, known_term), reduction)


def objectosphere_loss(
    logits: torch.Tensor,
    features: torch.Tensor,
    targets: torch.Tensor,
    xi: float = 1.0,
    alpha: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Dhamija et al. (2018), Eq. 3: the entropic open-set loss plus ``alpha * J_R``.

    ``J_R = max(xi - ||F||, 0)^2`` for a known input and ``||F||^2`` for a
    known unknown, with ``F`` the deep feature vector (the input of the last
    linear layer) and ``||.||`` the Euclidean norm: knowns are pushed out to
    a feature magnitude of at least ``xi``, unknowns towards the origin.
    """
    logits, targets = _check_logits_and_targets(logits, targets)
    check_tensor(features, "features", ndim=2, dtype_kind="float", finite=True)
    if features.shape[0] != logits.shape[0]:
        raise ValueError(f"features must hold one row per row of logits ({logits.shape[0]}), got {features.shape[0]}")
    if isinstance(xi, bool) or not isinstance(xi, (int, float)) or not xi > 0:
        raise ValueError(f"xi must be a positive number, got {xi!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise ValueError(f"alpha must be a non-negative number, got {alpha!r}")
    norms = features.norm(dim=1)
    unknown = targets == UNKNOWN_LABEL
    feature_penalty = torch.where(unknown, norms**2, torch.clamp(xi - norms, min=0) ** 2)
    entropic = entropic_open_set_loss(logits, targets, reduction="none")
    return _reduce(entropic + alpha * feature_penalty, reduction)


def with_known_unknowns(known: Split, unknowns: torch.Tensor) -> Split:
    """``known`` with the inputs ``unknowns`` appended, labelled :data:`UNKNOWN_LABEL`."""
    check_tensor(unknowns, "unknowns", dtype_kind="float", finite=True)
    if unknowns.shape[1:] != known.x.shape[1:]:
        raise ValueError(f"unknowns must have the inputs' shape {tuple(known.x.shape[1:])} per sample, got {tuple(unknowns.shape[1:])}")
    labels = torch.full((unknowns.shape[0],), UNKNOWN_LABEL, dtype=torch.int64)
    return Split(torch.cat([known.x, unknowns.to(known.x.dtype)]), torch.cat([known.y, labels]))


def with_background_class(split: Split, n_classes: int) -> Split:
    """``split`` with every known unknown (label -1) relabelled as an extra class ``n_classes``.

    The "background class" of the lecture: a classifier with ``K + 1``
    outputs trained with plain cross entropy (Dhamija et al. 2018, Section 2).
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
    if bool((split.y >= n_classes).any()):
        raise ValueError(f"split has labels >= n_classes ({n_classes}); expected known classes 0..{n_classes - 1} and -1")
    return Split(split.x, torch.where(split.y == UNKNOWN_LABEL, torch.full_like(split.y, n_classes), split.y))
