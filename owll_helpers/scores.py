"""Confidence scores of a classifier, larger for "more in-distribution".

The simplest out-of-distribution detectors read a trained classifier's
outputs: the largest softmax probability (Hendrycks & Gimpel 2017), the
largest logit (Hendrycks et al. 2022, "Scaling out-of-distribution
detection"), the softmax averaged over dropout masks (Gal & Ghahramani
2016), and ODIN's temperature-scaled max softmax after a small input step
(Liang et al. 2018). Their maxima follow the course's convention (SYLLABUS, Conventions): a
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


def odin_score(model: nn.Module, x: torch.Tensor, temperature: float = 1000.0, epsilon: float = 0.0014) -> torch.Tensor:
    """ODIN (Liang et al. 2018): the temperature-scaled max softmax after a small input step.

    ``x~ = x + epsilon * sign(grad_x log max_i S_i(x; T))`` with
    ``S(x; T) = softmax(f(x) / T)``: the step that *raises* the scaled max
    softmax (Liang et al., Eq. 2, written with the sign that increases the
    score); the score is ``max_i S_i(x~; T)``, larger for "more
    in-distribution" (pytorch-ood's ``ODIN`` returns its negative). The
    gradient is taken with the model in evaluation mode, which is restored
    afterwards, and nothing is left in the parameters' ``.grad``.

    Args:
        model: a classifier returning logits.
        x: a batch of inputs (no gradient needed).
        temperature: ``T > 0`` (the paper uses 1000).
        epsilon: the step size, ``>= 0`` (0 gives temperature scaling alone).
    """
    check_tensor(x, "x", dtype_kind="float", finite=True)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon >= 0:
        raise ValueError(f"epsilon must be a non-negative number, got {epsilon!r}")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            inputs = x.detach().clone().requires_grad_(True)
            log_top = torch.log_softmax(model(inputs) / temperature, dim=1).max(dim=1).values
            (gradient,) = torch.autograd.grad(log_top.sum(), inputs)
        with torch.no_grad():
            stepped = x.detach() + epsilon * gradient.sign()
            return torch.softmax(model(stepped) / temperature, dim=1).max(dim=1).values
    finally:
        model.train(was_training)
