"""Signals through a plain stack of layers, before any training.

Chapter 1 asks what happens to a batch of inputs that passes through many
fully connected layers whose weights were just drawn at random: does the
signal keep its scale, explode, vanish, or pile up where the activation
function is flat?  :func:`propagate` runs such a stack,

.. math::

    z_l = W_l\\, y_{l-1} + b_l, \\qquad y_l = f(z_l), \\qquad l = 1, \\dots, L,

and returns every layer's output so a notebook can look at it
(:func:`propagate_signals` also returns the pre-activations :math:`z_l`,
:func:`backward_stds` measures the backpropagated gradient at every layer, and
:func:`layer_stds` summarizes each layer by one number).  There are no hooks
and no counters of dead or saturated units here: measuring a *model's*
activations is part of the chapter's assignment.

The weight schemes are those the chapter compares:

- ``"normal"``: :math:`W_{ij} \\sim \\mathcal N(0, s^2)` with an explicit ``weight_std`` s;
- ``"kaiming"``: :math:`\\mathrm{std} = g / \\sqrt{n_{in}}`, g = sqrt(2) by default,
  i.e. Var(W) = 2 / n_in (He et al. 2015, Eq. 10);
- ``"xavier"``: :math:`\\mathrm{std} = g \\sqrt{2 / (n_{in} + n_{out})}`, g = 1 by default
  as in ``torch.nn.init.xavier_normal_`` (Glorot & Bengio 2010, Eq. 12; their
  Eq. 16 is the uniform version with the same variance);
- ``"default"``: what ``torch.nn.Linear`` does when you do not initialize it,
  ``kaiming_uniform_(a=sqrt(5))``, i.e. :math:`U(-1/\\sqrt{n_{in}}, 1/\\sqrt{n_{in}})`
  (variance 1 / (3 n_in)) for the weights *and* the same range for the biases.

Only ``"default"`` has biases; the other schemes use none, as in the
derivation of the papers.

The module also has a two-weight demonstration of LeCun et al. (1998), Sec. 4.3:
:func:`linear_unit_sgd_path` records the weights visited by per-example SGD
on a linear unit, where all-positive inputs force every update to move both
weights in the same direction (the "zig-zag").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._checks import check_choice, check_positive_int, check_tensor

__all__ = [
    "DEFAULT_GAINS",
    "STACK_ACTIVATIONS",
    "STACK_INITS",
    "WEIGHT_SEED_OFFSET",
    "backward_stds",
    "layer_stds",
    "linear_unit_sgd_path",
    "propagate",
    "propagate_signals",
    "scheme_std",
    "stack_weights",
]

#: Activation functions :func:`propagate` accepts, by name.
STACK_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda z: z,
}

#: Weight schemes :func:`propagate` accepts.
STACK_INITS: tuple[str, ...] = ("normal", "kaiming", "xavier", "default")

#: Added to ``seed`` before the weights are drawn.  Without it, ``seed=0`` would
#: draw the very numbers that ``torch.manual_seed(0); torch.randn(...)`` gives,
#: and a notebook that draws its inputs that way would feed each weight row its
#: own copy of an input row (a strong, spurious correlation).
WEIGHT_SEED_OFFSET: int = 1_000_003

#: Gain used when none is given: sqrt(2) for Kaiming (the ReLU gain), 1 for Xavier.
DEFAULT_GAINS: dict[str, float] = {"kaiming": math.sqrt(2.0), "xavier": 1.0}


def _check_positive_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def scheme_std(init: str, fan_in: int, fan_out: int, *, weight_std: float | None = None, gain: float | None = None) -> float:
    """Standard deviation of the weights that ``init`` draws for one layer.

    Args:
        init: one of :data:`STACK_INITS`.
        fan_in: inputs of the layer, :math:`n_{in}`.
        fan_out: outputs of the layer, :math:`n_{out}`.
        weight_std: the std of scheme ``"normal"`` (required there, refused elsewhere).
        gain: the gain g of ``"kaiming"`` or ``"xavier"`` (see :data:`DEFAULT_GAINS`).

    Returns:
        - ``"normal"``: ``weight_std``;
        - ``"kaiming"``: :math:`g / \\sqrt{n_{in}}` (He et al. 2015, Eq. 10 for g = sqrt(2));
        - ``"xavier"``: :math:`g \\sqrt{2 / (n_{in} + n_{out})}` (Glorot & Bengio 2010, Eq. 12; Eq. 16 is the uniform form);
        - ``"default"``: :math:`1 / \\sqrt{3 n_{in}}`, the std of
          :math:`U(-1/\\sqrt{n_{in}}, 1/\\sqrt{n_{in}})`.
    """
    check_choice(init, "init", STACK_INITS)
    check_positive_int(fan_in, "fan_in")
    check_positive_int(fan_out, "fan_out")
    if init == "normal":
        if weight_std is None:
            raise ValueError("init='normal' needs weight_std, the standard deviation of the weights (e.g. 1.0 or 0.01)")
        std = _check_positive_number(weight_std, "weight_std")
        if gain is not None:
            raise ValueError("gain applies to init='kaiming' or 'xavier' only; with init='normal' set weight_std instead")
        return std
    if weight_std is not None:
        raise ValueError(f"weight_std applies to init='normal' only; init={init!r} computes its own std")
    if init == "default":
        if gain is not None:
            raise ValueError("gain applies to init='kaiming' or 'xavier' only; init='default' is PyTorch's fixed rule")
        return 1.0 / math.sqrt(3.0 * fan_in)
    g = DEFAULT_GAINS[init] if gain is None else _check_positive_number(gain, "gain")
    if init == "kaiming":
        return g / math.sqrt(fan_in)
    return g * math.sqrt(2.0 / (fan_in + fan_out))


def stack_weights(
    in_features: int,
    depth: int,
    width: int,
    *,
    init: str = "normal",
    weight_std: float | None = None,
    gain: float | None = None,
    seed: int = 0,
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Draw the weights (and biases) of a stack of ``depth`` fully connected layers.

    Layer 1 maps ``in_features`` inputs to ``width`` units; every later layer
    is a square ``width x width`` matrix.  Weights have the layout of
    ``nn.Linear.weight``, ``(out, in)``.

    Args:
        in_features: inputs of the first layer.
        depth: number of layers L.
        width: units per layer.
        init, weight_std, gain: the scheme (see :func:`scheme_std`).
        seed: seed of a private random generator (offset by
            :data:`WEIGHT_SEED_OFFSET`); the global generator is untouched.

    Returns:
        A list of ``(weight, bias)`` pairs, float32; ``bias`` is ``None``
        except for ``init="default"``, which draws weight and bias from the
        same uniform distribution as ``nn.Linear``.
    """
    check_positive_int(in_features, "in_features")
    check_positive_int(depth, "depth")
    check_positive_int(width, "width")
    check_positive_int(seed, "seed", minimum=0)
    check_choice(init, "init", STACK_INITS)
    generator = torch.Generator().manual_seed(seed + WEIGHT_SEED_OFFSET)
    layers: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    fan_in = in_features
    for _ in range(depth):
        std = scheme_std(init, fan_in, width, weight_std=weight_std, gain=gain)
        weight = torch.empty(width, fan_in)
        if init == "default":
            # nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) has bound
            # sqrt(3) * sqrt(2 / (1 + 5)) / sqrt(fan_in) = 1 / sqrt(fan_in); the bias uses the same bound.
            bound = 1.0 / math.sqrt(fan_in)
            weight.uniform_(-bound, bound, generator=generator)
            bias = torch.empty(width).uniform_(-bound, bound, generator=generator)
            layers.append((weight, bias))
        else:
            weight.normal_(0.0, std, generator=generator)
            layers.append((weight, None))
        fan_in = width
    return layers


def _checked_stack(
    x: torch.Tensor,
    depth: int,
    width: int | None,
    activation: str,
    **scheme: Any,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], list[tuple[torch.Tensor, torch.Tensor | None]]]:
    """Check the arguments shared by the stack functions; return the activation and the weights."""
    check_tensor(x, "x", ndim=2, dtype_kind="float", finite=True)
    check_positive_int(depth, "depth")
    width = int(x.shape[1]) if width is None else width
    check_positive_int(width, "width")
    check_choice(activation, "activation", tuple(STACK_ACTIVATIONS))
    return STACK_ACTIVATIONS[activation], stack_weights(int(x.shape[1]), depth, width, **scheme)


def _run_stack(
    y: torch.Tensor,
    layers: list[tuple[torch.Tensor, torch.Tensor | None]],
    f: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Pre-activations and outputs of every layer, z_l = y_{l-1} W_l^T + b_l, y_l = f(z_l)."""
    pre: list[torch.Tensor] = []
    post: list[torch.Tensor] = []
    for weight, bias in layers:
        z = y @ weight.to(y.dtype).T
        if bias is not None:
            z = z + bias.to(y.dtype)
        y = f(z)
        pre.append(z)
        post.append(y)
    return pre, post


def propagate_signals(
    x: torch.Tensor,
    depth: int,
    width: int | None = None,
    activation: str = "relu",
    *,
    init: str = "normal",
    weight_std: float | None = None,
    gain: float | None = None,
    seed: int = 0,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Run a plain stack and return its pre-activations and its outputs.

    Computes :math:`z_l = y_{l-1} W_l^\\top + b_l` and :math:`y_l = f(z_l)` for
    l = 1..``depth``, with :math:`y_0 = x` and the weights of
    :func:`stack_weights`.  Nothing is trained; no gradient is recorded.

    Args:
        x: inputs, one sample per row, shape ``(N, D)``, floating point.
        depth: number of layers L.
        width: units per layer (default: D, the input width).
        activation: a name from :data:`STACK_ACTIVATIONS`.
        init, weight_std, gain: the weight scheme (see :func:`scheme_std`).
        seed: seed of the weights.

    Returns:
        ``(pre, post)``: two lists of L tensors of shape ``(N, width)``,
        ``pre[l-1]`` = :math:`z_l` and ``post[l-1]`` = :math:`y_l`.
    """
    f, layers = _checked_stack(x, depth, width, activation, init=init, weight_std=weight_std, gain=gain, seed=seed)
    with torch.no_grad():
        return _run_stack(x.detach(), layers, f)


def propagate(
    x: torch.Tensor,
    depth: int,
    width: int | None = None,
    activation: str = "relu",
    *,
    init: str = "normal",
    weight_std: float | None = None,
    gain: float | None = None,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Outputs :math:`y_1, \\dots, y_L` of a plain stack of ``depth`` layers.

    The same as :func:`propagate_signals` without the pre-activations; see it
    for the arguments.  For example, 20 ReLU layers of 256 units with Kaiming
    weights (He et al. 2015, Eq. 10):

    >>> import torch
    >>> x = torch.randn(500, 256, generator=torch.Generator().manual_seed(0))
    >>> outputs = propagate(x, depth=20, width=256, activation="relu", init="kaiming")
    >>> len(outputs), tuple(outputs[-1].shape)
    (20, (500, 256))
    """
    return propagate_signals(
        x, depth, width, activation, init=init, weight_std=weight_std, gain=gain, seed=seed
    )[1]


def backward_stds(
    x: torch.Tensor,
    depth: int,
    width: int | None = None,
    activation: str = "relu",
    *,
    init: str = "normal",
    weight_std: float | None = None,
    gain: float | None = None,
    seed: int = 0,
) -> list[float]:
    r"""How large the backpropagated signal is at each layer of a plain stack.

    The stack of :func:`propagate` (same arguments, same weights) is followed
    by a random read-out: the loss :math:`\ell = \sum_i r_i \cdot y_L^{(i)}`
    with an independent :math:`r_i \sim \mathcal N(0, I)` for every input
    (drawn from ``seed``), so the gradient arriving at the last layer has
    std 1 whatever the weights.  Nothing is trained.  On its way down,
    backpropagation multiplies the signal by :math:`f'(z_l)` and by
    :math:`W_l^\top`; the variance argument of Glorot & Bengio (2010) and He
    et al. (2015) applied to this backward pass predicts a factor
    :math:`n_{out} \mathrm{Var}(w)\, \mathbb E[f'(z)^2]` per layer for the
    variance.  The gradient of layer l's weights is the product of this
    signal (at layer l) and the layer's input :math:`y_{l-1}`.

    Returns:
        The standard deviation of :math:`\partial \ell / \partial y_l` over
        all inputs and units, for l = 1..``depth`` (the last one is about 1).
    """
    f, layers = _checked_stack(x, depth, width, activation, init=init, weight_std=weight_std, gain=gain, seed=seed)
    width = layers[-1][0].shape[0]
    readout = torch.randn(x.shape[0], width, generator=torch.Generator().manual_seed(seed)).to(x.dtype)
    with torch.enable_grad():
        _, outputs = _run_stack(x.detach().requires_grad_(), layers, f)
        gradients = torch.autograd.grad((outputs[-1] * readout).sum(), outputs)
    return [float(g.double().std()) for g in gradients]


def layer_stds(activations: Sequence[torch.Tensor]) -> list[float]:
    """Standard deviation of all values of each tensor, computed in float64.

    float64, because an exploding stack reaches values whose squares overflow
    float32 (1e20 squared is above float32's maximum of about 3.4e38).
    """
    if isinstance(activations, torch.Tensor) or not isinstance(activations, Sequence):
        raise TypeError(
            f"activations must be a list of tensors (one per layer), got {type(activations).__name__}"
        )
    if len(activations) == 0:
        raise ValueError("activations is empty; expected one tensor per layer")
    stds = []
    for i, a in enumerate(activations):
        check_tensor(a, f"activations[{i}]", dtype_kind="float")
        if a.numel() < 2:
            raise ValueError(f"activations[{i}] has {a.numel()} value(s); a standard deviation needs at least 2")
        stds.append(float(a.detach().double().std()))
    return stds


def linear_unit_sgd_path(
    x: torch.Tensor,
    w_target: torch.Tensor,
    *,
    w_start: torch.Tensor,
    lr: float = 0.1,
    steps: int = 100,
    seed: int = 0,
) -> torch.Tensor:
    """Weights visited by per-example SGD on a linear unit without bias.

    The unit predicts :math:`\\hat t = w \\cdot x` and is trained on the squared
    error :math:`\\tfrac12 (w \\cdot x_i - t_i)^2` with targets
    :math:`t_i = w^* \\cdot x_i`, one randomly drawn example per step.  The
    gradient of one example is :math:`(w \\cdot x_i - t_i)\\, x_i`: when every
    component of :math:`x_i` is positive, all components of the update have
    the same sign, so the weights can only move "north-east" or "south-west"
    and reach a minimum in another direction by zig-zagging (LeCun et al.
    1998, Sec. 4.3).

    Args:
        x: inputs, shape ``(N, D)``, floating point.
        w_target: the weights :math:`w^*` that generate the targets, shape ``(D,)``
            (the minimum of the loss whatever the inputs).
        w_start: the starting weights, shape ``(D,)``.
        lr: the step size.
        steps: number of single-example updates.
        seed: seed of the order in which examples are drawn.

    Returns:
        A float64 tensor of shape ``(steps + 1, D)``: the start and each step's weights.
    """
    check_tensor(x, "x", ndim=2, dtype_kind="float", finite=True)
    d = int(x.shape[1])
    for name, w in (("w_target", w_target), ("w_start", w_start)):
        check_tensor(w, name, ndim=1, dtype_kind="float", finite=True)
        if w.shape[0] != d:
            raise ValueError(f"{name} must have one weight per input feature ({d}), got shape {tuple(w.shape)}")
    lr = _check_positive_number(lr, "lr")
    check_positive_int(steps, "steps")
    check_positive_int(seed, "seed", minimum=0)
    xs = x.detach().double()
    targets = xs @ w_target.detach().double()
    order = torch.randint(0, xs.shape[0], (steps,), generator=torch.Generator().manual_seed(seed))
    w = w_start.detach().double().clone()
    path = [w.clone()]
    for i in order.tolist():
        error = float(xs[i] @ w - targets[i])
        w = w - lr * error * xs[i]
        path.append(w.clone())
    return torch.stack(path)
