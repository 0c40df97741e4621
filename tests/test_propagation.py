"""Unit tests of owll_helpers.propagation (and the std-by-depth plot it feeds)."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from owll_helpers.plotting import plot_std_by_depth  # noqa: E402
from owll_helpers.propagation import (  # noqa: E402
    STACK_ACTIVATIONS,
    backward_stds,
    layer_stds,
    linear_unit_sgd_path,
    propagate,
    propagate_signals,
    scheme_std,
    stack_weights,
)


def gaussian(n=200, d=32, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


# --- the stack --------------------------------------------------------------


def test_propagate_shapes_and_input_layer():
    x = gaussian(50, 20)
    outputs = propagate(x, depth=4, width=16, activation="tanh", init="kaiming")
    assert len(outputs) == 4
    assert all(tuple(a.shape) == (50, 16) for a in outputs)
    # The width defaults to the input's width.
    assert tuple(propagate(x, 3, activation="relu", init="kaiming")[-1].shape) == (50, 20)


def test_stack_is_the_plain_recursion():
    # y_l = f(y_{l-1} W_l^T), computed by hand from the same weights.
    x = gaussian(30, 12)
    layers = stack_weights(12, 3, 8, init="xavier", seed=5)
    pre, post = propagate_signals(x, 3, 8, "tanh", init="xavier", seed=5)
    y = x
    for (weight, bias), z_l, y_l in zip(layers, pre, post):
        assert bias is None
        z = y @ weight.T
        y = torch.tanh(z)
        torch.testing.assert_close(z_l, z)
        torch.testing.assert_close(y_l, y)


@pytest.mark.parametrize("activation", sorted(STACK_ACTIVATIONS))
def test_post_is_activation_of_pre(activation):
    pre, post = propagate_signals(gaussian(), 3, 32, activation, init="kaiming")
    for z, y in zip(pre, post):
        torch.testing.assert_close(y, STACK_ACTIVATIONS[activation](z))


def test_same_seed_same_weights_other_seed_other_weights():
    x = gaussian()
    a = propagate(x, 3, 32, "relu", weight_std=0.1, seed=3)
    b = propagate(x, 3, 32, "relu", weight_std=0.1, seed=3)
    c = propagate(x, 3, 32, "relu", weight_std=0.1, seed=4)
    assert torch.equal(a[-1], b[-1])
    assert not torch.equal(a[-1], c[-1])


def test_weights_do_not_repeat_the_global_stream():
    # seed_everything(0); torch.randn(...) must not hand the stack its own inputs as weights.
    torch.manual_seed(0)
    x = torch.randn(64, 64)
    weight, _ = stack_weights(64, 1, 64, weight_std=1.0, seed=0)[0]
    assert not torch.allclose(weight, x)


def test_global_generator_untouched():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    propagate(gaussian(), 2, 16, "relu", init="kaiming")
    assert torch.equal(torch.rand(3), expected)


def test_keeps_float64_inputs():
    outputs = propagate(gaussian().double(), 2, 16, "relu", init="kaiming")
    assert outputs[-1].dtype == torch.float64


# --- the schemes ------------------------------------------------------------


@pytest.mark.parametrize(
    "init, kwargs, expected",
    [
        ("normal", {"weight_std": 0.05}, 0.05),
        ("kaiming", {}, math.sqrt(2 / 300)),
        ("kaiming", {"gain": 5 / 3}, 5 / 3 / math.sqrt(300)),
        ("xavier", {}, math.sqrt(2 / (300 + 400))),
        ("xavier", {"gain": 5 / 3}, 5 / 3 * math.sqrt(2 / (300 + 400))),
        ("default", {}, 1 / math.sqrt(3 * 300)),
    ],
)
def test_scheme_std_formulas_and_drawn_weights(init, kwargs, expected):
    assert scheme_std(init, 300, 400, **kwargs) == pytest.approx(expected, rel=1e-12)
    weight, _ = stack_weights(300, 1, 400, init=init, **kwargs)[0]
    assert tuple(weight.shape) == (400, 300)
    # 120,000 draws: the sample std is within about 0.5 % of the truth.
    assert float(weight.std()) == pytest.approx(expected, rel=0.02)
    assert abs(float(weight.mean())) < 0.02 * expected


def test_schemes_match_torch_nn_init():
    # Same variance as PyTorch's own initializers, with their default gains.
    reference = torch.empty(400, 300)
    torch.manual_seed(0)
    nn.init.kaiming_normal_(reference, nonlinearity="relu")
    assert scheme_std("kaiming", 300, 400) == pytest.approx(float(reference.std()), rel=0.02)
    nn.init.xavier_normal_(reference)
    assert scheme_std("xavier", 300, 400) == pytest.approx(float(reference.std()), rel=0.02)
    nn.init.xavier_normal_(reference, gain=nn.init.calculate_gain("tanh"))
    assert scheme_std("xavier", 300, 400, gain=5 / 3) == pytest.approx(float(reference.std()), rel=0.02)


def test_default_is_pytorch_linear_default():
    torch.manual_seed(0)
    layer = nn.Linear(300, 400)
    weight, bias = stack_weights(300, 1, 400, init="default")[0]
    bound = 1 / math.sqrt(300)
    for ours, theirs in ((weight, layer.weight.detach()), (bias, layer.bias.detach())):
        assert ours is not None
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert float(ours.abs().max()) <= bound
        assert float(ours.abs().max()) == pytest.approx(float(theirs.abs().max()), rel=0.02)
    assert float(weight.var()) == pytest.approx(float(layer.weight.detach().var()), rel=0.03)
    assert float(weight.var()) == pytest.approx(1 / (3 * 300), rel=0.03)
    # Later layers are square: fan-in is the width.
    second, _ = stack_weights(300, 2, 400, init="default")[1]
    assert float(second.abs().max()) <= 1 / math.sqrt(400)


def test_default_adds_its_bias():
    x = gaussian(20, 16)
    (weight, bias), = stack_weights(16, 1, 8, init="default", seed=2)
    pre, _ = propagate_signals(x, 1, 8, "relu", init="default", seed=2)
    assert bias is not None
    torch.testing.assert_close(pre[0], x @ weight.T + bias)


# --- statistics -------------------------------------------------------------


def test_layer_stds_float64_and_overflow_safe():
    big = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 1e25
    stds = layer_stds([torch.ones(10), big])
    assert stds[0] == 0.0
    assert math.isfinite(stds[1]) and stds[1] == pytest.approx(1e25, rel=0.1)


def test_kaiming_relu_keeps_the_second_moment():
    # After a ReLU, E[y^2] = E[z^2] / 2 when z is symmetric about 0 (exact for
    # layer 1, whose input is Gaussian), and Var(z_l) = n Var(w) E[y_{l-1}^2]
    # = 2 E[y_{l-1}^2] under Kaiming (He et al. 2015, Eq. 10), up to the
    # fluctuation of one weight draw in later layers.
    x = torch.randn(4000, 256, generator=torch.Generator().manual_seed(0))
    pre, post = propagate_signals(x, 6, 256, "relu", init="kaiming")
    assert float(post[0].pow(2).mean()) == pytest.approx(float(pre[0].pow(2).mean()) / 2, rel=0.02)
    assert float(pre[0].pow(2).mean()) == pytest.approx(2.0, rel=0.05)
    ratios = [float(pre[l].pow(2).mean() / (2 * post[l - 1].pow(2).mean())) for l in range(1, 6)]
    assert sum(ratios) / len(ratios) == pytest.approx(1.0, abs=0.1)


# --- the backward pass ------------------------------------------------------


def test_backward_stds_is_the_gradient_of_a_random_readout():
    x = gaussian(40, 12)
    layers = stack_weights(12, 3, 8, init="xavier", seed=1)
    outputs, y = [], x.clone().requires_grad_()
    for weight, _ in layers:
        y = torch.tanh(y @ weight.T)
        outputs.append(y)
    readout = torch.randn(40, 8, generator=torch.Generator().manual_seed(1))
    expected = [float(g.double().std()) for g in torch.autograd.grad((y * readout).sum(), outputs)]
    assert backward_stds(x, 3, 8, "tanh", init="xavier", seed=1) == pytest.approx(expected, rel=1e-5)


def test_backward_stds_follow_the_variance_argument():
    x = gaussian(500, 64)
    # Linear stack: the gradient's std is multiplied by sqrt(n) * s per layer going down.
    g = backward_stds(x, 6, 64, "identity", weight_std=0.1)
    assert len(g) == 6
    assert g[-1] == pytest.approx(1.0, rel=0.05)
    assert g[0] / g[-1] == pytest.approx(0.8**5, rel=0.25)
    # ReLU + Kaiming: n * (2 / n) * E[ReLU'(z)^2] = 1, so no trend.
    g = backward_stds(x, 6, 64, "relu", init="kaiming")
    assert 0.5 < g[0] / g[-1] < 2.0


def test_backward_stds_refuses_bad_input():
    with pytest.raises(ValueError, match="activation must be one of"):
        backward_stds(gaussian(), 2, 8, "gelu", init="kaiming")
    with pytest.raises(ValueError, match="needs weight_std"):
        backward_stds(gaussian(), 2, 8, "relu")
    with pytest.raises(TypeError, match="torch.Tensor"):
        backward_stds([[0.0]], 2, 8, "relu", init="kaiming")


# --- bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"x": [[1.0, 2.0]]}, TypeError, "torch.Tensor"),
        ({"x": torch.ones(3)}, ValueError, "2 dimensions"),
        ({"x": torch.ones(3, 4, dtype=torch.int64)}, TypeError, "floating-point"),
        ({"x": torch.full((2, 3), float("nan"))}, ValueError, "NaN"),
        ({"depth": 0}, ValueError, "depth must be at least 1"),
        ({"depth": 2.5}, TypeError, "depth must be an int"),
        ({"width": 0}, ValueError, "width must be at least 1"),
        ({"activation": "softplus"}, ValueError, "activation must be one of"),
        ({"init": "he"}, ValueError, "init must be one of"),
        ({"init": "normal", "weight_std": None}, ValueError, "needs weight_std"),
        ({"init": "normal", "weight_std": -1.0}, ValueError, "positive"),
        ({"init": "normal", "weight_std": "1"}, TypeError, "number"),
        ({"init": "kaiming", "weight_std": 1.0}, ValueError, "weight_std applies to init='normal' only"),
        ({"init": "default", "weight_std": None, "gain": 2.0}, ValueError, "gain applies"),
        ({"init": "normal", "gain": 2.0}, ValueError, "gain applies"),
        ({"init": "xavier", "weight_std": None, "gain": 0.0}, ValueError, "gain must be a positive"),
        ({"init": "kaiming", "weight_std": None, "seed": -1}, ValueError, "seed must be at least 0"),
    ],
)
def test_propagate_refuses_bad_input(kwargs, error, match):
    arguments = {"x": gaussian(8, 4), "depth": 2, "width": 4, "activation": "relu", "init": "normal", "weight_std": 1.0}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        propagate(**arguments)


def test_layer_stds_refuses_bad_input():
    with pytest.raises(ValueError, match="empty"):
        layer_stds([])
    with pytest.raises(TypeError, match="list of tensors"):
        layer_stds(torch.ones(3, 3))
    with pytest.raises(TypeError, match="floating-point"):
        layer_stds([torch.ones(3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="at least 2"):
        layer_stds([torch.ones(1)])


# --- the zig-zag demo -------------------------------------------------------


def test_positive_inputs_give_same_sign_updates():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(100, 2, generator=g) + 0.5
    kwargs = {"w_start": torch.tensor([-1.0, 1.0]), "lr": 0.2, "steps": 50}
    path = linear_unit_sgd_path(x, torch.tensor([1.0, -1.0]), **kwargs)
    assert tuple(path.shape) == (51, 2) and path.dtype == torch.float64
    steps = path.diff(dim=0)
    assert bool((steps[:, 0] * steps[:, 1] >= 0).all())
    centred = linear_unit_sgd_path(x - x.mean(0), torch.tensor([1.0, -1.0]), **kwargs)
    centred_steps = centred.diff(dim=0)
    assert bool((centred_steps[:, 0] * centred_steps[:, 1] < 0).any())


def test_sgd_path_is_one_example_gradient_step():
    x = torch.tensor([[1.0, 2.0]])
    path = linear_unit_sgd_path(x, torch.tensor([1.0, 1.0]), w_start=torch.zeros(2), lr=0.1, steps=1)
    # error = 0 - 3, update = -lr * error * x = 0.3 * x
    torch.testing.assert_close(path[1], torch.tensor([0.3, 0.6], dtype=torch.float64))


def test_sgd_path_refuses_bad_input():
    x = torch.rand(10, 2)
    with pytest.raises(ValueError, match="one weight per input feature"):
        linear_unit_sgd_path(x, torch.ones(3), w_start=torch.zeros(2))
    with pytest.raises(ValueError, match="lr must be a positive"):
        linear_unit_sgd_path(x, torch.ones(2), w_start=torch.zeros(2), lr=0)
    with pytest.raises(TypeError, match="w_start must be a torch.Tensor"):
        linear_unit_sgd_path(x, torch.ones(2), w_start=[0.0, 0.0])


# --- the plot ---------------------------------------------------------------


def test_plot_std_by_depth():
    ax = plot_std_by_depth({"kaiming": [0.8, 0.7, 0.75], "xavier": [0.6, 0.4, 0.3]}, title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["kaiming", "xavier"]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert ax.get_yscale() == "log"
    plt.close("all")
    with pytest.raises(ValueError, match="empty"):
        plot_std_by_depth({})
    with pytest.raises(TypeError, match="map a label"):
        plot_std_by_depth([[1.0, 2.0]])
    with pytest.raises(ValueError, match="log=False"):
        plot_std_by_depth({"a": [1.0, 0.0]})
    assert plot_std_by_depth({"a": [1.0, 0.0]}, log=False).get_yscale() == "linear"
    plt.close("all")
