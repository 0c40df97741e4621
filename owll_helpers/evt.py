"""Extreme value tails and OpenMax (Bendale & Boult 2016), as the authors' code runs them.

- :func:`fit_high` -- libMR's ``FitHigh``: a two-parameter Weibull fitted to
  the ``tailsize`` largest distances, shifted by ``translate - min(tail)``,
  with the location fixed at 0 (``scipy.stats.weibull_min.fit(...,
  floc=0)``); it returns a :class:`WeibullTail` holding the shift, so that
  scoring uses the same one (SYLLABUS, Conventions: FitHigh);
- :func:`weibull_cdf` -- that Weibull's CDF at ``distance + translate -
  min(tail)``, 0 where the shifted distance is not positive: the
  "probability of being an outlier" of a distance;
- :func:`mean_activation_vectors` -- Algorithm 1's per-class mean of the
  logits (activation vectors) of *correctly classified* training inputs;
- :func:`fit_openmax_tails` -- Algorithm 1: one tail per class, on the
  Euclidean distances of its correct inputs to its mean activation vector;
- :func:`openmax_probabilities` -- Algorithm 2 as the authors' code runs it:
  the ``alpha`` top-ranked classes are recalibrated with weights ``1 -
  ((alpha + 1 - i) / alpha) * CDF``, the removed activation goes to an
  unknown class, and the softmax runs over ``C + 1`` columns (the paper and
  the lecture print the survival function and ``(alpha - i) / alpha``; the
  book explains why the code's form is the intended one).

The extreme value theorem (Fisher & Tippett 1928; Gnedenko 1943) says that
normalised maxima, if they converge, tend to a Gumbel, Frechet or *reversed*
Weibull law, and those of a distribution with a finite upper end point and
power-like behaviour there (uniform, Beta) to the reversed Weibull; FitHigh fits an ordinary Weibull to shifted distances, a
modelling choice motivated by EVT (Scheirer et al. 2011), not the theorem's
limit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ._checks import check_labels, check_positive_int, check_tensor


class WeibullTail(NamedTuple):
    """What :func:`fit_high` returns: the fit and the shift it was made with."""

    shape: float
    scale: float
    tail_min: float
    translate: float


def _distances(values: object, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        array = values.detach().cpu().to(torch.float64).numpy()
    elif isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.number):
        array = values.astype(np.float64)
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numeric numpy.ndarray, got {type(values).__name__}")
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one distance per input), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values; expected finite distances")
    return array


def fit_high(distances: torch.Tensor | np.ndarray, tailsize: int, translate: float) -> WeibullTail:
    """libMR's FitHigh: a Weibull fitted to the ``tailsize`` largest distances, shifted.

    The tail is shifted by ``translate - min(tail)`` (so its smallest value
    becomes ``translate``) and fitted with ``scipy.stats.weibull_min.fit(tail,
    floc=0)``, the location fixed at 0 as libMR does; a free location gives
    another fit. ``translate`` has no default: libMR's Python binding has
    used 1 and 10000 in different versions, pytorch-ood hard-codes 10000.

    Raises:
        ValueError: ``tailsize`` larger than the number of distances, fewer
            than 2 distances in the tail, or all of them equal.
    """
    from scipy.stats import weibull_min

    values = _distances(distances, "distances")
    check_positive_int(tailsize, "tailsize", minimum=2)
    if tailsize > len(values):
        raise ValueError(f"tailsize {tailsize} is larger than the number of distances ({len(values)}): fewer samples than the tail")
    if isinstance(translate, bool) or not isinstance(translate, (int, float)) or not translate > 0:
        raise ValueError(f"translate must be a positive number, got {translate!r}")
    tail = np.sort(values)[-tailsize:]
    if tail[0] == tail[-1]:
        raise ValueError("the tail's distances are all equal: a Weibull cannot be fitted to them")
    tail_min = float(tail[0])
    shape, _, scale = weibull_min.fit(tail + translate - tail_min, floc=0)
    return WeibullTail(float(shape), float(scale), tail_min, float(translate))


def weibull_cdf(distances: torch.Tensor | np.ndarray, params: WeibullTail | tuple[float, float, float, float]) -> np.ndarray:
    """The fitted Weibull's CDF at ``distance + translate - tail_min`` (0 where that is <= 0).

    A distance equal to the tail's minimum scores ``CDF(translate)``, not 0.
    """
    values = _distances(distances, "distances")
    shape, scale, tail_min, translate = (float(p) for p in params)
    shifted = values + translate - tail_min
    with np.errstate(invalid="ignore", over="ignore"):  # far beyond the tail the power overflows to inf: CDF 1
        cdf = -np.expm1(-np.power(np.clip(shifted, 0.0, None) / scale, shape))
    return np.where(shifted > 0, cdf, 0.0)


def mean_activation_vectors(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Algorithm 1: per class, the mean logit vector of its *correctly classified* inputs, ``(C, C)``.

    Raises:
        ValueError: a class without any correctly classified input.
    """
    check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)
    check_labels(labels, "labels", logits.shape[0])
    n_classes = logits.shape[1]
    correct = logits.argmax(dim=1) == labels
    rows = []
    for c in range(n_classes):
        members = correct & (labels == c)
        if not bool(members.any()):
            raise ValueError(f"class {c} has no correctly classified input: its mean activation vector is undefined")
        rows.append(logits[members].mean(dim=0))
    return torch.stack(rows)


def fit_openmax_tails(
    logits: torch.Tensor, labels: torch.Tensor, *, tailsize: int = 20, translate: float = 10000.0
) -> tuple[torch.Tensor, list[WeibullTail]]:
    """Algorithm 1: mean activation vectors and, per class, FitHigh on its correct inputs' distances to it.

    ``translate`` defaults to pytorch-ood's 10000 here, for the detector
    (:class:`owll_helpers.detectors.OpenMax`); :func:`fit_high` itself has
    no default. Euclidean distances of the logits (in float64, as
    :func:`openmax_probabilities` measures them), as in pytorch-ood's
    default; the distances are those of correctly classified inputs only.
    """
    mavs = mean_activation_vectors(logits, labels)
    correct = logits.argmax(dim=1) == labels
    tails = []
    for c in range(mavs.shape[0]):
        members = correct & (labels == c)
        distances = (logits[members].double() - mavs[c].double()).norm(dim=1)  # float64, as openmax_probabilities
        if int(members.sum()) < tailsize:
            raise ValueError(f"class {c} has {int(members.sum())} correctly classified inputs, fewer than tailsize {tailsize}")
        tails.append(fit_high(distances, tailsize, translate))
    return mavs, tails


def openmax_probabilities(
    logits: torch.Tensor, mavs: torch.Tensor, tails: list[WeibullTail] | list[tuple[float, float, float, float]], alpha: int = 3
) -> torch.Tensor:
    """Algorithm 2 (the authors' code): OpenMax probabilities, ``(M, C + 1)``, the unknown class last.

    For each input, classes are ranked by activation (a stable descending
    sort: among ties the lower index first); the class of rank ``i <=
    alpha`` gets the weight ``w = 1 - ((alpha + 1 - i) / alpha) * CDF_c(d_c)``
    with ``d_c`` the Euclidean distance of the logits to the class's mean
    activation vector, other classes keep ``w = 1``; ``v_hat = v * w``, the
    unknown activation is ``sum(v * (1 - w))``, and the result is the
    softmax over ``[v_hat, v_hat_0]``. When every CDF is 0 it is the softmax
    over ``[v, 0]``.
    """
    check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)
    check_tensor(mavs, "mavs", ndim=2, dtype_kind="float", finite=True)
    n_classes = logits.shape[1]
    if mavs.shape != (n_classes, n_classes):
        raise ValueError(f"mavs must have shape ({n_classes}, {n_classes}), one mean activation vector per class, got {tuple(mavs.shape)}")
    if len(tails) != n_classes:
        raise ValueError(f"tails must hold one fit per class ({n_classes}), got {len(tails)}")
    check_positive_int(alpha, "alpha")
    if alpha > n_classes:
        raise ValueError(f"alpha ({alpha}) cannot exceed the number of classes ({n_classes})")
    distances = torch.cdist(logits.double(), mavs.double())  # (M, C)
    cdf = torch.stack(
        [torch.as_tensor(weibull_cdf(distances[:, c], tails[c]), dtype=torch.float64) for c in range(n_classes)], dim=1
    )
    ranking = torch.sort(logits, dim=1, descending=True, stable=True).indices
    rank_weight = torch.zeros_like(cdf)
    top = torch.arange(1, alpha + 1, dtype=torch.float64)
    rank_weight.scatter_(1, ranking[:, :alpha], ((alpha + 1 - top) / alpha).expand(logits.shape[0], alpha).contiguous())
    weights = 1 - rank_weight * cdf
    activations = logits.double()
    recalibrated = activations * weights
    unknown = (activations * (1 - weights)).sum(dim=1, keepdim=True)
    return torch.softmax(torch.cat([recalibrated, unknown], dim=1), dim=1).to(logits.dtype)
