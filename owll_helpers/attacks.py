"""Small input perturbations that raise a classifier's confidence or flip its decision.

- :func:`fgsm` -- the fast gradient sign method (Goodfellow et al. 2015,
  Section 4): one step of size ``eps`` along the sign of the gradient of the
  loss, which *lowers* confidence in the true class;
- :func:`confidence_attack` -- projected gradient ascent (Madry et al. 2018,
  Section 2.1, here on another objective) on the log of the largest softmax
  probability within an l-infinity ball: the inner maximisation of ACET
  (Hein et al. 2019, Section 4), used to ask how confident a model can be made
  on inputs near out-of-distribution ones.

Both stay in the image range [0, 1] (``clip``) and return detached tensors:
what they return is an input, not part of a computation graph. They leave the
model in the mode (train/eval) and with the gradients it had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor

ClipRange = tuple[float, float] | None


def _check_budget(eps: float, step_size: float | None = None) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    if step_size is not None and (isinstance(step_size, bool) or not isinstance(step_size, (int, float)) or not step_size > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")


def _check_clip(clip: ClipRange) -> None:
    if clip is not None and (len(clip) != 2 or not clip[0] < clip[1]):
        raise ValueError(f"clip must be None or (low, high) with low < high, got {clip!r}")


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Evaluation mode and no parameter gradients while the attack runs; restored afterwards."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.train(was_training)


def _input_gradient(objective: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(objective(x), x)
    return gradient


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, clip: ClipRange = (0.0, 1.0)) -> torch.Tensor:
    """The fast gradient sign method: ``x + eps * sign(grad_x CE(model(x), y))``, clipped.

    Goodfellow et al. (2015), Section 4: a single step that raises the cross
    entropy of the true label ``y`` as much as a linear model of the loss
    allows within an l-infinity ball of radius ``eps``.

    Args:
        model: a classifier returning logits.
        x: inputs, float, finite.
        y: their labels (int64).
        eps: the step size (the l-infinity radius); 0 returns ``x``.
        clip: the range of valid inputs, or ``None`` for none.
    """
    check_tensor(x, "x", dtype_kind="float", finite=True)
    check_tensor(y, "y", ndim=1, dtype_kind="int")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have one label per input ({x.shape[0]}), got {y.shape[0]}")
    _check_budget(eps)
    _check_clip(clip)
    with _frozen(model):
        gradient = _input_gradient(lambda u: nn.functional.cross_entropy(model(u), y, reduction="sum"), x)
    adversarial = x + eps * gradient.sign()
    return (adversarial.clamp(*clip) if clip else adversarial).detach()


def confidence_attack(
    model: nn.Module,
    x: torch.Tensor,
    *,
    eps: float = 0.3,
    steps: int = 10,
    step_size: float = 0.1,
    clip: ClipRange = (0.0, 1.0),
) -> torch.Tensor:
    """Inputs within ``eps`` of ``x`` (l-infinity) on which ``model`` is as confident as gradient ascent can make it.

    Projected gradient ascent on ``max_k log softmax(model(u))_k`` from
    ``u = x`` (no random start): each step
    ``u <- clip(project(u + step_size * sign(grad_u)), clip)``, where
    ``project`` clips to ``[x - eps, x + eps]``. Every input is attacked on
    its own (the objective is summed over the batch, so each input's
    gradient is its own). This is the inner maximisation of ACET (Hein et al.
    2019, Section 4) with the projection of Madry et al. (2018); evaluating a
    model on its result asks for its worst case near out-of-distribution
    inputs.

    Args:
        model: a classifier returning logits.
        x: the starting inputs (for example uniform noise).
        eps: radius of the l-infinity ball around ``x``.
        steps: number of ascent steps.
        step_size: size of each signed step.
        clip: the range of valid inputs, or ``None`` for none.
    """
    check_tensor(x, "x", dtype_kind="float", finite=True)
    _check_budget(eps, step_size)
    check_positive_int(steps, "steps")
    _check_clip(clip)

    def log_confidence(u: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model(u), dim=1).max(dim=1).values.sum()

    x = x.detach()
    u = x.clone()
    with _frozen(model):
        for _ in range(steps):
            u = u + step_size * _input_gradient(log_confidence, u).sign()
            u = torch.min(torch.max(u, x - eps), x + eps)
            if clip:
                u = u.clamp(*clip)
    return u.detach()
