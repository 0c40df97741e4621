import math

import pytest
import torch
from torch import nn

from owll_helpers.models import cnn, count_parameters, init_weights, mlp


def linear_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_mlp_structure_and_output_shape():
    model = mlp(64, 10, depth=3, width=32, activation="tanh", norm="batch")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh"] * 3 + ["Linear"]
    assert model(torch.zeros(5, 64)).shape == (5, 10)


def test_mlp_depth_zero_is_linear():
    model = mlp(4, 3, depth=0)
    assert [type(m).__name__ for m in model] == ["Linear"]


@pytest.mark.parametrize("norm, kind", [("layer", nn.LayerNorm), ("group", nn.GroupNorm)])
def test_mlp_norms(norm, kind):
    model = mlp(8, 2, depth=1, width=16, norm=norm)
    assert isinstance(model[1], kind)


def test_cnn_on_digit_images():
    model = cnn(1, 10, image_size=8, channels=(8, 16), norm="batch")
    assert model(torch.zeros(4, 1, 8, 8)).shape == (4, 10)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model) == 2


@pytest.mark.parametrize(
    "scheme, kwargs, expected_std",
    [
        ("kaiming_normal", {}, lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
        ("kaiming_uniform", {}, lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
        ("xavier_normal", {}, lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out))),
        ("xavier_uniform", {"gain": 5 / 3}, lambda fan_in, fan_out: 5 / 3 * math.sqrt(2 / (fan_in + fan_out))),
        ("normal", {"std": 0.01}, lambda fan_in, fan_out: 0.01),
    ],
)
def test_init_schemes_give_the_papers_variance(scheme, kwargs, expected_std):
    torch.manual_seed(0)
    model = mlp(400, 10, depth=1, width=300, init=scheme, **kwargs)
    layer = linear_layers(model)[0]
    expected = expected_std(400, 300)
    # 120,000 draws: the sample std is within ~0.5 % of the truth.
    assert float(layer.weight.detach().std()) == pytest.approx(expected, rel=0.02)
    assert torch.all(layer.bias == 0)


def test_constant_init_and_bias_value():
    model = mlp(3, 2, depth=2, width=4, init="constant", value=0.5, bias_value=-1.0)
    for layer in linear_layers(model):
        assert torch.all(layer.weight == 0.5) and torch.all(layer.bias == -1.0)


def test_default_init_is_pytorchs_uniform_bound():
    torch.manual_seed(0)
    layer = linear_layers(mlp(100, 2, depth=1, width=50))[0]
    assert float(layer.weight.detach().abs().max()) <= 1 / math.sqrt(100)


def test_count_parameters():
    assert count_parameters(mlp(4, 3, depth=1, width=5)) == 4 * 5 + 5 + 5 * 3 + 3


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: mlp(64, 10, activation="swish"), ValueError, "activation must be one of"),
        (lambda: mlp(64, 10, norm="instance"), ValueError, "norm must be one of"),
        (lambda: mlp(0, 10), ValueError, "in_features"),
        (lambda: mlp(64, 10, depth=-1), ValueError, "depth"),
        (lambda: mlp(64, 10, width=2.5), TypeError, "width"),
        (lambda: mlp(64, 10, init="he"), ValueError, "scheme must be one of"),
        (lambda: mlp(64, 10, init="normal"), ValueError, "positive std"),
        (lambda: mlp(64, 10, init="constant"), ValueError, "needs a value"),
        (lambda: cnn(1, 10, channels=()), ValueError, "at least one"),
    ],
)
def test_builders_refuse_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_init_weights_returns_model_for_chaining():
    model = mlp(4, 2)
    assert init_weights(model, "kaiming_normal") is model


def test_mlp_puts_dropout_after_each_hidden_activation_without_changing_the_weights():
    torch.manual_seed(0)
    with_dropout = mlp(8, 3, depth=2, width=16, dropout=0.25)
    torch.manual_seed(0)
    without = mlp(8, 3, depth=2, width=16)
    assert [type(m).__name__ for m in with_dropout] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert with_dropout[2].p == 0.25
    linear = [m for m in with_dropout if isinstance(m, torch.nn.Linear)]
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(linear, [m for m in without if isinstance(m, torch.nn.Linear)]))
    for bad in (1.0, -0.1, True):
        with pytest.raises(ValueError, match="dropout"):
            mlp(8, 3, dropout=bad)


def test_feature_mlp_has_a_linear_bottleneck_of_the_feature_dimension():
    from owll_helpers.models import feature_mlp, features_and_logits

    torch.manual_seed(0)
    model = feature_mlp(64, 6, feature_dim=2, depth=2, width=32)
    x = torch.rand(5, 64)
    features, logits = features_and_logits(model, x)
    assert features.shape == (5, 2) and logits.shape == (5, 6)
    assert torch.allclose(logits, model(x))
    assert (features < 0).any()  # no activation after the bottleneck
    with pytest.raises(TypeError, match="last module"):
        features_and_logits(torch.nn.Sequential(torch.nn.Linear(64, 2), torch.nn.ReLU()), x)
