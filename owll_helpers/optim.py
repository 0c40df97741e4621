"""Plain SGD (with momentum) and Adam updates, identical to ``torch.optim``'s.

Why not ``torch.optim``? Constructing its first optimizer imports
``torch._dynamo``, which costs about 2 s per process on a laptop CPU; every
notebook that trains would pay it. These classes perform the same arithmetic
(tests compare them with ``torch.optim.SGD`` and ``torch.optim.Adam`` step by
step) without that import. Use ``torch.optim`` in your own code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class _Optimizer:
    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("the optimizer got no parameters that require gradients")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        self.lr, self.weight_decay = float(lr), float(weight_decay)

    def zero_grad(self) -> None:
        """Forget the gradients (set them to ``None``, as ``torch.optim`` does)."""
        for p in self.params:
            p.grad = None

    def _gradient(self, p: torch.Tensor) -> torch.Tensor:
        # L2 weight decay enters the gradient, as in torch.optim (not AdamW's decoupled form).
        assert p.grad is not None
        return p.grad.add(p, alpha=self.weight_decay) if self.weight_decay else p.grad


class SGD(_Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, as ``torch.optim.SGD``:
    ``b = momentum * b + g`` (``b = g`` on the first step), ``p = p - lr * b``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.buffers: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for p in self.params:
            if p.grad is None:
                continue
            update = self._gradient(p)
            if self.momentum:
                buffer = self.buffers.get(id(p))
                if buffer is None:
                    buffer = self.buffers[id(p)] = update.clone()
                else:
                    buffer.mul_(self.momentum).add_(update)
                update = buffer
            p.add_(update, alpha=-self.lr)


class Adam(_Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, as ``torch.optim.Adam``."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if not all(0 <= b < 1 for b in betas) or eps <= 0:
            raise ValueError(f"betas must lie in [0, 1) and eps be positive, got {betas}, {eps}")
        self.betas, self.eps = betas, float(eps)
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.steps = 0

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient."""
        self.steps += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.steps
        correction2_sqrt = math.sqrt(1 - beta2**self.steps)
        for p in self.params:
            if p.grad is None:
                continue
            gradient = self._gradient(p)
            first, second = self.state.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
            first.lerp_(gradient, 1 - beta1)
            second.mul_(beta2).addcmul_(gradient, gradient.conj(), value=1 - beta2)
            denominator = (second.sqrt() / correction2_sqrt).add_(self.eps)
            p.addcdiv_(first, denominator, value=-self.lr / correction1)
