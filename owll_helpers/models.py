"""Small MLP and CNN builders, and the weight initializations the course compares.

The builders return ``nn.Sequential`` models whose activation functions are
modules of their own, so forward hooks can read every layer's activations.
Initialization schemes follow LeCun et al. (1998), Glorot & Bengio (2010) and
He et al. (2015); :func:`init_weights` applies them to every linear and
convolutional layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._checks import check_choice, check_positive_int

#: Activation names accepted by the builders.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}

#: Normalization layers accepted by the builders (``None`` for none).
NORMS: tuple[str, ...] = ("batch", "layer", "group")

#: Initialization schemes accepted by :func:`init_weights`.
INIT_SCHEMES: tuple[str, ...] = (
    "default",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
    "normal",
    "constant",
)

#: Groups used by group normalization when the width allows it.
DEFAULT_GROUPS: int = 8


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name (see :data:`ACTIVATIONS`)."""
    check_choice(name, "activation", tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


def _norm_layer(kind: str, channels: int, *, spatial: bool) -> nn.Module:
    check_choice(kind, "norm", NORMS)
    if kind == "batch":
        return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)
    if kind == "group":
        groups = DEFAULT_GROUPS if channels % DEFAULT_GROUPS == 0 else 1
        return nn.GroupNorm(groups, channels)
    # Layer norm over all features of a sample; for images GroupNorm(1, C) is exactly that.
    return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)


def mlp(
    in_features: int,
    n_classes: int,
    *,
    depth: int = 2,
    width: int = 128,
    activation: str = "relu",
    norm: str | None = None,
    init: str = "default",
    bias: bool = True,
    dropout: float = 0.0,
    **init_kwargs: float,
) -> nn.Sequential:
    """A multilayer perceptron: ``depth`` hidden layers of ``width`` units.

    Each hidden layer is ``Linear -> [norm] -> activation -> [dropout]``; the
    last layer is a ``Linear`` that outputs ``n_classes`` logits.

    Args:
        in_features: number of inputs per sample (64 for flattened digits).
        n_classes: number of outputs.
        depth: number of hidden layers (0 gives a linear model).
        width: units per hidden layer.
        activation: a name from :data:`ACTIVATIONS`.
        norm: ``None`` or one of :data:`NORMS`, placed before the activation
            as in Ioffe & Szegedy (2015).
        init: a scheme from :data:`INIT_SCHEMES`, applied by :func:`init_weights`.
        bias: whether the linear layers have a bias.
        dropout: probability of an ``nn.Dropout`` after each hidden
            activation (0 adds none; Srivastava et al. 2014, and Gal &
            Ghahramani 2016 for keeping it on at test time).
        **init_kwargs: passed on to :func:`init_weights` (``std``, ``value``,
            ``gain``, ``bias_value``).

    Returns:
        The model as an ``nn.Sequential``.
    """
    check_positive_int(in_features, "in_features")
    check_positive_int(n_classes, "n_classes")
    check_positive_int(depth, "depth", minimum=0)
    check_positive_int(width, "width")
    check_choice(activation, "activation", tuple(ACTIVATIONS))
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers.append(nn.Linear(fan_in, width, bias=bias))
        if norm is not None:
            layers.append(_norm_layer(norm, width, spatial=False))
        layers.append(make_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        fan_in = width
    layers.append(nn.Linear(fan_in, n_classes, bias=bias))
    model = nn.Sequential(*layers)
    init_weights(model, init, nonlinearity=activation, **init_kwargs)
    return model


def feature_mlp(
    in_features: int,
    n_classes: int,
    *,
    feature_dim: int = 2,
    depth: int = 2,
    width: int = 128,
    activation: str = "relu",
) -> nn.Sequential:
    """An MLP whose last hidden layer is a linear bottleneck of ``feature_dim`` units.

    ``depth`` hidden layers of ``width`` units, then ``Linear(width,
    feature_dim)`` (the *deep features* ``F``, without an activation) and the
    output layer ``Linear(feature_dim, n_classes)``. With ``feature_dim=2``
    the features can be drawn in a plane, as LeNet++ does (Wen et al. 2016;
    Dhamija et al. 2018, Figure 1). :func:`features_and_logits` returns both.
    """
    check_positive_int(feature_dim, "feature_dim")
    body = mlp(in_features, feature_dim, depth=depth, width=width, activation=activation)
    return nn.Sequential(*body, nn.Linear(feature_dim, n_classes))


def features_and_logits(model: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of ``model``'s last ``nn.Linear`` (the deep features) and its output (the logits)."""
    if not isinstance(model, nn.Sequential) or not isinstance(model[-1], nn.Linear):
        raise TypeError("model must be an nn.Sequential whose last module is the nn.Linear output layer (see feature_mlp)")
    features = model[:-1](x)
    return features, model[-1](features)


def cnn(
    in_channels: int,
    n_classes: int,
    *,
    image_size: int = 8,
    channels: Sequence[int] = (16, 32),
    activation: str = "relu",
    norm: str | None = None,
    init: str = "default",
    **init_kwargs: float,
) -> nn.Sequential:
    """A small convolutional network for square images.

    Each block is ``Conv3x3 -> [norm] -> activation -> MaxPool2x2`` (pooling
    only while the image is at least 2 pixels wide); a linear layer maps the
    flattened features to ``n_classes`` logits.

    Args:
        in_channels: channels of the input images (1 for digits).
        n_classes: number of outputs.
        image_size: height (= width) of the input images.
        channels: output channels of each convolutional block.
        activation, norm, init, init_kwargs: as for :func:`mlp`.
    """
    check_positive_int(in_channels, "in_channels")
    check_positive_int(n_classes, "n_classes")
    check_positive_int(image_size, "image_size")
    if not channels:
        raise ValueError("channels must name at least one convolutional block")
    layers: list[nn.Module] = []
    size, previous = image_size, in_channels
    for out in channels:
        check_positive_int(out, "channels[i]")
        layers.append(nn.Conv2d(previous, out, kernel_size=3, padding=1))
        if norm is not None:
            layers.append(_norm_layer(norm, out, spatial=True))
        layers.append(make_activation(activation))
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        previous = out
    layers += [nn.Flatten(), nn.Linear(previous * size * size, n_classes)]
    model = nn.Sequential(*layers)
    init_weights(model, init, nonlinearity=activation, **init_kwargs)
    return model


def _gain_nonlinearity(nonlinearity: str) -> str:
    # torch.nn.init names "identity" "linear"; sigmoid's gain is 1.
    return {"identity": "linear"}.get(nonlinearity, nonlinearity)


@torch.no_grad()
def init_weights(
    model: nn.Module,
    scheme: str = "default",
    *,
    nonlinearity: str = "relu",
    std: float | None = None,
    value: float | None = None,
    gain: float | None = None,
    bias_value: float = 0.0,
) -> nn.Module:
    """Initialize every ``nn.Linear`` and ``nn.Conv*d`` weight of ``model`` in place.

    Schemes:

    - ``"default"``: leave PyTorch's own init (``kaiming_uniform_(a=sqrt(5))``,
      i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and a bias drawn likewise).
    - ``"kaiming_normal"`` / ``"kaiming_uniform"``: Var(w) = gain^2 / fan_in
      (He et al. 2015, Eq. 10), with the gain of ``nonlinearity``.
    - ``"xavier_normal"`` / ``"xavier_uniform"``: Var(w) = gain^2 * 2 / (fan_in + fan_out)
      (Glorot & Bengio 2010, Eq. 12; Eq. 16 is the uniform form); ``gain``
      defaults to 1 as in PyTorch.
    - ``"normal"``: N(0, std^2), for the "too small" and "too large" experiments.
    - ``"constant"``: every weight equal to ``value`` (the symmetry experiment).

    Every scheme but ``"default"`` sets the biases to ``bias_value``.

    Returns:
        ``model``, for chaining.
    """
    check_choice(scheme, "scheme", INIT_SCHEMES)
    if scheme == "normal" and (std is None or std <= 0):
        raise ValueError(f"scheme 'normal' needs a positive std, got {std}")
    if scheme == "constant" and value is None:
        raise ValueError("scheme 'constant' needs a value")
    if scheme == "default":
        return model
    check_choice(nonlinearity, "nonlinearity", tuple(ACTIVATIONS))
    torch_nonlinearity = _gain_nonlinearity(nonlinearity)
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            continue
        weight = module.weight
        if scheme == "kaiming_normal":
            nn.init.kaiming_normal_(weight, nonlinearity=torch_nonlinearity)
        elif scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(weight, nonlinearity=torch_nonlinearity)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight, gain=1.0 if gain is None else gain)
        elif scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight, gain=1.0 if gain is None else gain)
        elif scheme == "normal":
            nn.init.normal_(weight, 0.0, std)
        else:
            nn.init.constant_(weight, value)
        if module.bias is not None:
            nn.init.constant_(module.bias, bias_value)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
