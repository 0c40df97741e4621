"""A training loop with a progress bar, and evaluation.

:func:`fit` trains a classifier with mini-batch SGD or Adam and returns a
:class:`History`.  Divergence is a lesson of chapters 1 and 2, not a crash: a
loss that becomes NaN or infinite stops training and is recorded as
``diverged``.

The loss is cross entropy by default, any ``loss_fn(logits, labels)``, or an
*objective* ``objective(model, x, y) -> (loss, logits)`` for losses that need
more than the logits of the batch: an out-distribution batch and the model
itself (CEDA and ACET, Hein et al. 2019; chapter 3), or the features
(objectosphere, Dhamija et al. 2018; chapter 4).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.std import tqdm

from ._checks import check_choice, check_positive_int, check_tensor
from .data import UNKNOWN_LABEL, Split
from .optim import SGD, Adam

#: Optimizers accepted by :func:`fit`.
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``objective(model, x, y) -> (loss, logits)``: the training loss of one batch
#: and the logits of its inputs (for the training accuracy), or ``None`` for a
#: model without classes (a VAE).
Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class History:
    """What happened during :func:`fit`, one entry per completed epoch.

    Attributes:
        train_loss: mean training loss of each epoch.
        train_accuracy: training accuracy of each epoch (on the fly, in train mode).
        val_loss, val_accuracy: loss and accuracy on the validation split
            after each epoch (empty when no validation split was given).
        diverged: whether the loss became NaN or infinite.
        diverged_epoch: the (0-based) epoch in which it did, else ``None``.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged: bool = False
    diverged_epoch: int | None = None

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def final(self, metric: str = "val_accuracy") -> float:
        """The last value of ``metric`` (NaN when no epoch completed, e.g. a run that diverged in epoch 1)."""
        values = getattr(self, metric)
        return float(values[-1]) if values else math.nan


def _check_split(split: object, name: str) -> Split:
    if not isinstance(split, Split):
        raise TypeError(f"{name} must be an owll_helpers.data.Split (inputs x and labels y), got {type(split).__name__}")
    if len(split) == 0:
        raise ValueError(f"{name} is empty; expected at least one sample")
    check_tensor(split.x, f"{name}.x", finite=True)
    return split


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows of ``logits`` whose arg-max equals the label.

    Rows labelled :data:`~owll_helpers.data.UNKNOWN_LABEL` (known unknowns)
    have no right class and are left out; NaN when no row is left.
    """
    check_tensor(logits, "logits", ndim=2, dtype_kind="float")
    check_tensor(labels, "labels", ndim=1, dtype_kind="int")
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits has {logits.shape[0]} rows but labels has {labels.shape[0]} entries")
    known = labels != UNKNOWN_LABEL
    if not known.any():
        return math.nan
    return float((logits[known].argmax(dim=1) == labels[known]).float().mean())


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in evaluation mode, computed in batches."""
    check_tensor(x, "x", dtype_kind="float", finite=True)
    check_positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)


def evaluate(model: nn.Module, split: Split, *, loss_fn: LossFunction | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``split`` (evaluation mode)."""
    _check_split(split, "split")
    logits = predict_logits(model, split.x)
    loss = (loss_fn or nn.functional.cross_entropy)(logits, split.y)
    return float(loss), accuracy(logits, split.y)


def fit(
    model: nn.Module,
    train: Split,
    *,
    epochs: int = 10,
    lr: float = 0.01,
    batch_size: int = 64,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    val: Split | None = None,
    loss_fn: LossFunction | None = None,
    objective: Objective | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    before_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
) -> History:
    """Train ``model`` on ``train`` with mini-batches and return its :class:`History`.

    Args:
        model: a classifier mapping a batch of inputs to logits.
        train: the training split (shuffled each epoch with a generator seeded by ``seed``).
        epochs: passes over the training split.
        lr: learning rate.
        batch_size: samples per step.
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        momentum: SGD momentum.
        weight_decay: L2 penalty passed to the optimizer.
        val: a validation split evaluated after every epoch, or ``None``.
        loss_fn: loss of (logits, labels); cross entropy by default. It also
            scores the validation split.
        objective: instead of ``loss_fn``, ``objective(model, x, y)`` returns
            ``(loss, logits)`` of a batch (logits of every row of ``x``; rows
            labelled -1 are left out of the training accuracy), for losses that need the model
            (an attack on an out-distribution batch) or more than the logits;
            logits ``None`` (a model without classes) leave the training
            accuracy NaN;
            the validation split is still scored by ``loss_fn`` (cross
            entropy by default). Needed when ``train`` holds known unknowns
            (label -1), which cross entropy cannot score.
        seed: seed of the shuffling.
        progress: show a tqdm progress bar over epochs (on stderr).
        desc: the progress bar's label.
        before_step: called as ``before_step(step, x, y)`` with each step's
            number (from 0) and batch, before the batch's forward pass; for
            measurements during training (:mod:`owll_helpers.smoothness`).
            It must leave the model as it found it.

    Raises:
        ValueError: if the inputs contain NaN or infinite values, or a
            hyperparameter is out of range.
    """
    _check_split(train, "train")
    if val is not None:
        _check_split(val, "val")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if objective is not None and loss_fn is not None:
        raise ValueError("pass either loss_fn (of logits and labels) or objective (of model, inputs and labels), not both")
    if objective is None and loss_fn is None and bool((train.y == UNKNOWN_LABEL).any()):
        raise ValueError(
            "train holds known unknowns (label -1), which cross entropy cannot score: "
            "pass an objective that handles them (e.g. an entropic open-set loss) or relabel them"
        )
    loss_fn = loss_fn or nn.functional.cross_entropy
    # The same updates as torch.optim's, without its 2-second first import (see optim.py).
    opt: SGD | Adam
    if optimizer == "sgd":
        opt = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        opt = Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, file=sys.stderr, leave=False)
    step = 0
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train), generator=generator)
        total_loss, total_correct, has_classes = 0.0, 0, True
        for start in range(0, len(train), batch_size):
            index = order[start : start + batch_size]
            x, y = train.x[index], train.y[index]
            if before_step is not None:
                before_step(step, x, y)
            step += 1
            if objective is not None:
                loss, logits = objective(model, x, y)
            else:
                logits = model(x)
                loss = loss_fn(logits, y)
            if not torch.isfinite(loss):
                history.diverged, history.diverged_epoch = True, epoch
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(index)
            if logits is None:
                has_classes = False
            else:
                known = y != UNKNOWN_LABEL
                total_correct += int((logits.detach()[known].argmax(dim=1) == y[known]).sum())
        if history.diverged:
            break
        history.train_loss.append(total_loss / len(train))
        n_known = int((train.y != UNKNOWN_LABEL).sum())
        history.train_accuracy.append(total_correct / n_known if n_known and has_classes else math.nan)
        if val is not None:
            val_loss, val_accuracy = evaluate(model, val, loss_fn=loss_fn)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val_acc=f"{val_accuracy:.3f}")
        else:
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    bar.close()
    return history
