"""Confidence scores of a classifier, larger for "more in-distribution".

The simplest out-of-distribution detectors read a trained classifier's
outputs: the largest softmax probability (Hendrycks & Gimpel 2017), the
largest logit (Hendrycks et al. 2022, "Scaling out-of-distribution
detection"), and the softmax averaged over dropout masks (Gal & Ghahramani
2016). Their maxima follow the course's convention (SYLLABUS, Conventions): a
larger score means "more in-distribution", so they go straight into
:mod:`owll_helpers.metrics`.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor
from .train import predict_logits


def _check_logits(logits: object) -> torch.Tensor:
    return check_tensor(logits, "logits", ndim=2, dtype_kind="float", finite=True)


def max_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``max_k softmax(logits)_k`` per row: the model's confidence in its prediction."""
    return torch.softmax(_check_logits(logits), dim=1).max(dim=1).values


def max_logit(logits: torch.Tensor) -> torch.Tensor:
    """``max_k logits_k`` per row: unlike the softmax, not bounded by 1."""
    return _check_logits(logits).max(dim=1).values


def predict_probs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities of ``model`` on ``x`` in evaluation mode, without gradients."""
    return torch.softmax(predict_logits(model, x), dim=1)


@torch.no_grad()
def mc_dropout_probs(model: nn.Module, x: torch.Tensor, *, passes: int = 20, seed: int = 0) -> torch.Tensor:
    """MC dropout's predictive mean: the softmax averaged over ``passes`` passes with dropout on.

    Gal & Ghahramani (2016): the predictive distribution approximated by
    Monte Carlo over dropout masks. The model runs in training mode, so it
    must not hold batch norm (whose statistics would change); it is left in
    evaluation mode. The masks come from PyTorch's global generator, seeded
    with ``seed`` inside ``torch.random.fork_rng``, so the caller's random
    state is unchanged.
    """
    check_tensor(x, "x", dtype_kind="float", finite=True)
    check_positive_int(passes, "passes")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("mc_dropout_probs runs the model in training mode: a model with batch norm would change its statistics")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        try:
            return torch.stack([torch.softmax(model(x), dim=1) for _ in range(passes)]).mean(dim=0)
        finally:
            model.eval()
