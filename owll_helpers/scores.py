"""Confidence scores of a classifier, larger for "more in-distribution".

The simplest out-of-distribution detectors read a trained classifier's
outputs: the largest softmax probability (Hendrycks & Gimpel 2017) and the
largest logit (Hendrycks et al. 2022, "Scaling out-of-distribution
detection"). Both follow the course's convention (SYLLABUS, Conventions): a
larger score means "more in-distribution", so they go straight into
:mod:`owll_helpers.metrics`.
"""

from __future__ import annotations

import torch
from torch import nn

from ._checks import check_tensor
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
