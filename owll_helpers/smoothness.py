"""The loss landscape along the gradient, measured as Santurkar et al. (2018) do.

Santurkar et al., *How Does Batch Normalization Help Optimization?* (NeurIPS
2018), Section 3.1 and Figure 4, argue that batch normalization helps because
it makes the loss landscape smoother, not because it reduces "internal
covariate shift". At a point :math:`w` of training, with the gradient
:math:`g = \\nabla L(w)` of the current mini-batch's loss, they step along the
gradient for a range of step sizes :math:`\\eta` and record

- the **loss** :math:`L(w - \\eta g)`: the spread of these values over
  :math:`\\eta` is how much the loss varies along the direction SGD takes
  (their Figure 4a);
- the **gradient predictiveness** :math:`\\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2`:
  how far the gradient at the new point is from the one that chose the step
  (Figure 4b);
- the **effective** :math:`\\beta`**-smoothness**
  :math:`\\max_\\eta \\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2 / \\lVert \\eta g \\rVert_2`,
  the largest change of the gradient per unit of distance moved: a local,
  measured version of the constant :math:`\\beta` of
  :math:`\\lVert \\nabla L(w_1) - \\nabla L(w_2) \\rVert \\le \\beta \\lVert w_1 - w_2 \\rVert`
  (Figure 4c).

:func:`probe_along_gradient` takes these measurements at one point without
changing the model; :func:`probe_during_training` trains a model with
:func:`owll_helpers.train.fit` and probes it every few
steps on the batch it is about to learn from.

The loss is computed in the model's current mode. In training mode, batch
normalization uses the batch's own statistics, which is the loss SGD
minimizes; the running statistics the probes would update are restored
afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ._checks import check_positive_int, check_tensor
from .data import Split
from .train import History, fit

__all__ = ["GradientProbe", "ProbedTraining", "probe_along_gradient", "probe_during_training"]

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GradientProbe:
    """The landscape along the gradient at one point of training.

    Attributes:
        step: the training step at which the probe was taken (0 before any update).
        loss: the mini-batch loss :math:`L(w)` at the point itself.
        gradient_norm: :math:`\\lVert \\nabla L(w) \\rVert_2` over all trainable parameters.
        step_sizes: the step sizes :math:`\\eta`, shape ``(K,)``.
        losses: :math:`L(w - \\eta g)` for each step size, shape ``(K,)``
            (NaN or infinite where the step leaves the range of floats).
        gradient_changes: :math:`\\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2`
            for each step size, shape ``(K,)``.
    """

    step: int
    loss: float
    gradient_norm: float
    step_sizes: torch.Tensor
    losses: torch.Tensor
    gradient_changes: torch.Tensor

    @property
    def loss_range(self) -> float:
        """Max minus min of :math:`L(w - \\eta g)` over the step sizes and :math:`\\eta = 0`
        (Santurkar et al. 2018, Fig. 4a); infinite when a step gave a non-finite loss."""
        values = torch.cat([self.losses, torch.tensor([self.loss])])
        if not torch.isfinite(values).all():
            return math.inf
        return float(values.max() - values.min())

    @property
    def max_gradient_change(self) -> float:
        """The largest :math:`\\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2` (Fig. 4b)."""
        if not torch.isfinite(self.gradient_changes).all():
            return math.inf
        return float(self.gradient_changes.max())

    @property
    def effective_beta(self) -> float:
        """:math:`\\max_\\eta \\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2 / (\\eta \\lVert g \\rVert_2)`
        (Fig. 4c); NaN when the gradient is zero."""
        if self.gradient_norm == 0:
            return math.nan
        ratios = self.gradient_changes / (self.step_sizes * self.gradient_norm)
        if not torch.isfinite(ratios).all():
            return math.inf
        return float(ratios.max())


@dataclass
class ProbedTraining:
    """What :func:`probe_during_training` recorded.

    Attributes:
        probes: one :class:`GradientProbe` every ``every`` steps.
        history: the training run's :class:`~owll_helpers.train.History`
            (per-epoch losses; ``diverged`` when the loss became NaN or infinite).
    """

    probes: list[GradientProbe] = field(default_factory=list)
    history: History = field(default_factory=History)


def _check_step_sizes(step_sizes: object) -> torch.Tensor:
    if isinstance(step_sizes, torch.Tensor):
        values = step_sizes.detach().to(torch.float64).flatten()
    elif isinstance(step_sizes, Sequence) and not isinstance(step_sizes, str):
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in step_sizes):
            raise TypeError(f"step_sizes must be numbers, got {list(step_sizes)!r}")
        values = torch.tensor([float(s) for s in step_sizes], dtype=torch.float64)
    else:
        raise TypeError(f"step_sizes must be a sequence of numbers or a tensor, got {type(step_sizes).__name__}")
    if values.numel() == 0:
        raise ValueError("step_sizes is empty; expected at least one positive step size")
    if not (torch.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"step_sizes must be positive and finite, got {values.tolist()}")
    return values


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameters that require gradients")
    return params


def _norm(tensors: Sequence[torch.Tensor]) -> float:
    return float(torch.sqrt(sum(((t.double() ** 2).sum() for t in tensors), torch.tensor(0.0, dtype=torch.float64))))


def probe_along_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    step_sizes: Sequence[float] | torch.Tensor,
    *,
    loss_fn: LossFunction | None = None,
    step: int = 0,
) -> GradientProbe:
    """Loss and gradient at :math:`w - \\eta g` for each step size :math:`\\eta`.

    This is the measurement of Santurkar et al. (2018), Section 3.1, Figure 4:
    with :math:`g = \\nabla L(w)` the gradient of the loss of the batch
    ``(x, y)`` at the model's current parameters :math:`w`, it evaluates
    :math:`L(w - \\eta g)` and :math:`\\lVert \\nabla L(w) - \\nabla L(w - \\eta g) \\rVert_2`.
    The model is left exactly as it was: parameters, buffers (such as batch
    norm's running statistics), gradients and mode.

    Args:
        model: a classifier mapping ``x`` to logits, in the mode to measure
            (training mode: batch norm uses the batch's statistics).
        x: a batch of inputs.
        y: their integer labels, shape ``(N,)``.
        step_sizes: positive step sizes :math:`\\eta`.
        loss_fn: loss of (logits, labels); cross entropy by default.
        step: the training step to record in the result.

    Returns:
        A :class:`GradientProbe`.

    Raises:
        TypeError, ValueError: for a model without trainable parameters, inputs
            that are not finite floating-point tensors, labels of the wrong
            shape, or step sizes that are not positive.
    """
    params = _trainable(model)
    check_tensor(x, "x", dtype_kind="float", finite=True)
    check_tensor(y, "y", ndim=1, dtype_kind="int")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]} labels")
    check_positive_int(step, "step", minimum=0)
    etas = _check_step_sizes(step_sizes)
    loss_fn = loss_fn or nn.functional.cross_entropy

    originals = [p.detach().clone() for p in params]
    buffers = [b.detach().clone() for b in model.buffers()]
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]

    def loss_and_gradient() -> tuple[float, list[torch.Tensor]]:
        loss = loss_fn(model(x), y)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        return float(loss.detach()), [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]

    losses, changes = [], []
    try:
        loss, gradient = loss_and_gradient()
        for eta in etas.tolist():
            with torch.no_grad():
                for p, w, g in zip(params, originals, gradient):
                    p.copy_(w - eta * g)
            loss_eta, gradient_eta = loss_and_gradient()
            losses.append(loss_eta)
            changes.append(_norm([a - b for a, b in zip(gradient, gradient_eta)]))
    finally:
        with torch.no_grad():
            for p, w in zip(params, originals):
                p.copy_(w)
            for b, saved in zip(model.buffers(), buffers):
                b.copy_(saved)
        for p, g in zip(params, saved_grads):
            p.grad = g
    return GradientProbe(
        step=step,
        loss=loss,
        gradient_norm=_norm(gradient),
        step_sizes=etas,
        losses=torch.tensor(losses, dtype=torch.float64),
        gradient_changes=torch.tensor(changes, dtype=torch.float64),
    )


def probe_during_training(
    model: nn.Module,
    train: Split,
    step_sizes: Sequence[float] | torch.Tensor,
    *,
    epochs: int = 1,
    lr: float = 0.01,
    batch_size: int = 64,
    momentum: float = 0.9,
    every: int = 10,
    seed: int = 0,
    loss_fn: LossFunction | None = None,
) -> ProbedTraining:
    """Train ``model`` with :func:`owll_helpers.train.fit` (SGD) and probe the landscape every ``every`` steps.

    Before the update of every ``every``-th step (steps 0, ``every``, ...),
    :func:`probe_along_gradient` measures the loss of that step's batch along
    its gradient (Santurkar et al. 2018, Section 3.1). The probes leave the
    model as they found it, so the run is exactly ``fit``'s.

    Args:
        model: the classifier to train (changed in place).
        train: the training split.
        step_sizes: the step sizes :math:`\\eta` of each probe.
        epochs, lr, batch_size, momentum, seed, loss_fn: as for :func:`~owll_helpers.train.fit`.
        every: steps between two probes.

    Returns:
        A :class:`ProbedTraining` with the probes and the run's history.
    """
    etas = _check_step_sizes(step_sizes)
    check_positive_int(every, "every")
    record = ProbedTraining()

    def probe(step: int, x: torch.Tensor, y: torch.Tensor) -> None:
        if step % every == 0:
            record.probes.append(probe_along_gradient(model, x, y, etas, loss_fn=loss_fn, step=step))

    record.history = fit(
        model, train, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum, seed=seed,
        loss_fn=loss_fn, progress=False, before_step=probe,
    )
    return record
