"""The claims of chapter 2's batch-norm notebooks, asserted on seeds 0, 1 and 2.

Each test computes what the book says independently of the notebooks (which
are not imported) and checks it against PyTorch: the 2-D batch norm in
training and inference mode with its running statistics, PyTorch's momentum
and unbiased running-variance conventions, the shapes of ``nn.BatchNorm2d``,
layer and instance norm and the two ends of group norm, and the backward pass
of one channel with the properties that the "statistics as constants"
shortcut lacks. Comparisons with PyTorch run in float64, so that a tolerance
of 1e-10 separates a correct formula from a wrong one by many orders of
magnitude.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

SEEDS = (0, 1, 2)
EPS = 1e-5


def generator(seed):
    return torch.Generator().manual_seed(seed)


def standardize(x, dims, eps=EPS):
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


# --- notebook 1: batch norm of (N, C) inputs ---------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_2d_batch_norm_matches_batchnorm1d_in_both_modes_with_momentum_other_than_default(seed):
    g = generator(seed)
    n_features, momentum = 5, 0.3
    gamma = 1 + torch.rand(n_features, generator=g, dtype=torch.float64)
    beta = torch.randn(n_features, generator=g, dtype=torch.float64)
    bn = nn.BatchNorm1d(n_features, momentum=momentum).double()
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
    running_mean, running_var = torch.zeros(n_features, dtype=torch.float64), torch.ones(n_features, dtype=torch.float64)
    with torch.no_grad():
        for n in (8, 16, 5, 32, 3, 12):
            x = 3 + 2 * torch.randn(n, n_features, generator=g, dtype=torch.float64)
            mean = x.mean(dim=0)
            var = ((x - mean) ** 2).mean(dim=0)
            y = gamma * (x - mean) / torch.sqrt(var + EPS) + beta
            torch.testing.assert_close(y, bn(x), atol=1e-10, rtol=0, msg="training-mode output")
            running_mean = (1 - momentum) * running_mean + momentum * mean
            running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
        torch.testing.assert_close(running_mean, bn.running_mean, atol=1e-12, rtol=0, msg="running_mean")
        torch.testing.assert_close(running_var, bn.running_var, atol=1e-12, rtol=0, msg="running_var")
        bn.eval()
        x = torch.randn(7, n_features, generator=g, dtype=torch.float64)
        y = gamma * (x - running_mean) / torch.sqrt(running_var + EPS) + beta
        torch.testing.assert_close(y, bn(x), atol=1e-10, rtol=0, msg="inference-mode output")
        # Inference mode does not update the running statistics.
        torch.testing.assert_close(running_mean, bn.running_mean, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_momentum_is_the_weight_of_the_new_batch_statistic(seed):
    x = 2 + torch.randn(32, 3, generator=generator(seed), dtype=torch.float64)
    bn = nn.BatchNorm1d(3, momentum=0.1).double()
    bn(x)
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dim=0), atol=1e-12, rtol=0)
    assert (bn.running_mean - 0.9 * x.mean(dim=0)).abs().max() > 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_running_var_uses_the_unbiased_batch_variance_and_the_output_the_biased_one(seed):
    x = 3 * torch.randn(4, 6, generator=generator(seed), dtype=torch.float64)
    bn = nn.BatchNorm1d(6, momentum=0.1).double()
    y = bn(x)
    biased = x.var(dim=0, correction=0)
    unbiased = x.var(dim=0, correction=1)
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * unbiased, atol=1e-12, rtol=0)
    assert (bn.running_var - (0.9 + 0.1 * biased)).abs().max() > 1e-2
    torch.testing.assert_close(y, (x - x.mean(dim=0)) / torch.sqrt(biased + EPS), atol=1e-10, rtol=0)
    assert (y - (x - x.mean(dim=0)) / torch.sqrt(unbiased + EPS)).abs().max() > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_the_unbiased_normalization_mistake_shrinks_with_the_batch_size(seed):
    x = torch.randn(1024, 3, generator=generator(seed), dtype=torch.float64)
    errors = []
    for n in (8, 1024):
        b = x[:n]
        right = (b - b.mean(dim=0)) / torch.sqrt(b.var(dim=0, correction=0) + EPS)
        wrong = (b - b.mean(dim=0)) / torch.sqrt(b.var(dim=0, correction=1) + EPS)
        errors.append(float((right - wrong).abs().max()))
    assert errors[0] > 0.05 and errors[1] < errors[0] / 10, errors


@pytest.mark.parametrize("seed", SEEDS)
def test_training_mode_output_depends_on_the_batch_and_inference_mode_does_not(seed):
    g = generator(seed)
    bn = nn.BatchNorm1d(3).double()
    example = torch.randn(1, 3, generator=g, dtype=torch.float64)
    batches = [torch.cat([example, torch.randn(15, 3, generator=g, dtype=torch.float64)]) for _ in range(2)]
    with torch.no_grad():
        train = [bn(b)[0] for b in batches]
        bn.eval()
        inference = [bn(b)[0] for b in batches]
    assert (train[0] - train[1]).abs().max() > 1e-3
    assert torch.equal(inference[0], inference[1])
    bn.train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(example)


def test_batchnorm2d_for_the_lectures_shape():
    x = torch.randn(20, 100, 35, 45, generator=generator(0))
    bn = nn.BatchNorm2d(100)
    with torch.no_grad():
        y = bn(x)
    assert y.shape == (20, 100, 35, 45)
    for name in ("running_mean", "running_var", "weight", "bias"):
        assert getattr(bn, name).shape == (100,), name


@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm2d_statistics_are_per_channel_over_batch_and_positions(seed):
    g = generator(seed)
    x = (torch.randn(20, 100, 7, 9, generator=g, dtype=torch.float64) * (0.5 + torch.rand(100, 1, 1, generator=g))
         + torch.randn(100, 1, 1, generator=g))
    bn = nn.BatchNorm2d(100).double()
    with torch.no_grad():
        y = bn(x)
    m = 20 * 7 * 9
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dim=(0, 2, 3)), atol=1e-12, rtol=0)
    torch.testing.assert_close(bn.running_var, 0.9 + 0.1 * x.var(dim=(0, 2, 3), correction=0) * m / (m - 1),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(y, standardize(x, (0, 2, 3)), atol=1e-10, rtol=0)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(100, dtype=torch.float64), atol=1e-10, rtol=0)


# --- notebook 2: which axes --------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_and_instance_norm_are_standardizations_over_their_axes(seed):
    x = 3 * torch.randn(8, 6, 5, 5, generator=generator(seed), dtype=torch.float64) + 1
    torch.testing.assert_close(standardize(x, (1, 2, 3)), F.layer_norm(x, x.shape[1:], eps=EPS), atol=1e-10, rtol=0)
    torch.testing.assert_close(standardize(x, (2, 3)), F.instance_norm(x, eps=EPS), atol=1e-10, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_group_norm_with_one_group_is_layer_norm_and_with_one_channel_per_group_instance_norm(seed):
    x = 3 * torch.randn(8, 6, 5, 5, generator=generator(seed), dtype=torch.float64) + torch.arange(6.0).reshape(1, 6, 1, 1)
    torch.testing.assert_close(F.group_norm(x, 1, eps=EPS), standardize(x, (1, 2, 3)), atol=1e-10, rtol=0)
    torch.testing.assert_close(F.group_norm(x, 6, eps=EPS), standardize(x, (2, 3)), atol=1e-10, rtol=0)
    two = F.group_norm(x, 2, eps=EPS)
    assert (two - standardize(x, (1, 2, 3))).abs().max() > 0.1
    assert (two - standardize(x, (2, 3))).abs().max() > 0.1


@pytest.mark.parametrize("seed", SEEDS)
def test_only_batch_norm_makes_an_example_depend_on_its_batch(seed):
    g = generator(seed)
    example = torch.randn(1, 6, 5, 5, generator=g, dtype=torch.float64)
    batches = [torch.cat([example, torch.randn(3, 6, 5, 5, generator=g, dtype=torch.float64)]) for _ in range(2)]
    methods = {
        "layer": lambda b: F.layer_norm(b, b.shape[1:], eps=EPS),
        "instance": lambda b: F.instance_norm(b, eps=EPS),
        "group": lambda b: F.group_norm(b, 2, eps=EPS),
    }
    for name, method in methods.items():
        torch.testing.assert_close(method(batches[0])[0], method(batches[1])[0], atol=1e-12, rtol=0, msg=name)
    first, second = (standardize(b, (0, 2, 3))[0] for b in batches)
    assert (first - second).abs().max() > 1e-2


@pytest.mark.parametrize("seed", SEEDS)
def test_instance_norm_removes_brightness_and_contrast_and_batch_norm_does_not(seed):
    g = generator(seed)
    images = torch.rand(6, 1, 8, 8, generator=g, dtype=torch.float64)
    contrast = (0.3 + 3 * torch.rand(6, 1, 1, 1, generator=g, dtype=torch.float64))
    brightness = torch.randn(6, 1, 1, 1, generator=g, dtype=torch.float64)
    changed = contrast * images + brightness
    torch.testing.assert_close(F.instance_norm(changed, eps=EPS), F.instance_norm(images, eps=EPS), atol=1e-3, rtol=0)
    per_image_std = standardize(changed, (0, 2, 3)).flatten(1).std(dim=1)
    assert per_image_std.max() / per_image_std.min() > 1.5


# --- notebook 3: the backward pass of one channel ----------------------------


def one_channel(seed, n=16):
    g = generator(seed)
    x = 2 + 3 * torch.randn(n, generator=g, dtype=torch.float64)
    dy = torch.randn(n, generator=g, dtype=torch.float64) + 0.5  # an upstream gradient whose sum is not 0
    gamma = torch.tensor(0.5 + torch.rand(1, generator=g).item(), dtype=torch.float64)
    return x, dy, gamma


def autograd_reference(x, dy, gamma, beta=0.3):
    x, gamma = x.clone().requires_grad_(True), gamma.clone().requires_grad_(True)
    beta = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    y = F.batch_norm(x.reshape(-1, 1), None, None, gamma.reshape(1), beta.reshape(1), training=True, eps=EPS)
    (y.reshape(-1) * dy).sum().backward()  # a loss whose gradient with respect to y is dy
    return x.grad, gamma.grad, beta.grad


def x_hat_and_inverse_std(x, eps=EPS):
    var = x.var(correction=0)
    return (x - x.mean()) / torch.sqrt(var + eps), 1 / torch.sqrt(var + eps), var


@pytest.mark.parametrize("seed", SEEDS)
def test_one_channel_backward_formula_equals_autograd(seed):
    x, dy, gamma = one_channel(seed)
    n = len(x)
    x_hat, s, _ = x_hat_and_inverse_std(x)
    dx = gamma * s / n * (n * dy - dy.sum() - x_hat * (dy * x_hat).sum())
    dx_auto, dgamma_auto, dbeta_auto = autograd_reference(x, dy, gamma)
    torch.testing.assert_close(dx, dx_auto, atol=1e-12, rtol=0)
    torch.testing.assert_close((dy * x_hat).sum(), dgamma_auto, atol=1e-12, rtol=0)
    torch.testing.assert_close(dy.sum(), dbeta_auto, atol=1e-12, rtol=0)
    # The same from the Jacobian of the forward pass, row by row.
    jacobian = torch.autograd.functional.jacobian(lambda v: gamma * x_hat_and_inverse_std(v)[0], x)
    torch.testing.assert_close(jacobian.T @ dy, dx_auto, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_statistics_as_constants_is_wrong_and_its_error_is_a_line_in_x_hat(seed):
    x, dy, gamma = one_channel(seed)
    n = len(x)
    x_hat, s, _ = x_hat_and_inverse_std(x)
    dx_auto = autograd_reference(x, dy, gamma)[0]
    constants = gamma * dy * s
    error = constants - dx_auto
    assert error.abs().max() > 0.1 * dx_auto.abs().max(), "the shortcut should be far from autograd"
    line = gamma * s / n * (dy.sum() + x_hat * (dy * x_hat).sum())
    torch.testing.assert_close(error, line, atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_true_gradient_sums_to_zero_and_is_orthogonal_to_x_hat_up_to_epsilon(seed):
    x, dy, gamma = one_channel(seed)
    x_hat, s, var = x_hat_and_inverse_std(x)
    dx_auto = autograd_reference(x, dy, gamma)[0]
    scale = float(dx_auto.abs().sum())
    assert abs(float(dx_auto.sum())) < 1e-12 * max(scale, 1.0)
    predicted = gamma * s * (dy * x_hat).sum() * EPS / (var + EPS)
    torch.testing.assert_close((dx_auto * x_hat).sum(), predicted, atol=1e-12, rtol=0)
    assert abs(float((dx_auto * x_hat).sum())) < 1e-4 * scale
    constants = gamma * dy * s
    assert abs(float(constants.sum())) > 1e-2 * float(constants.abs().sum())
    # Along the all-ones direction the loss is exactly flat.
    y = lambda v: gamma * x_hat_and_inverse_std(v)[0]  # noqa: E731
    torch.testing.assert_close(y(x + 1.7), y(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_bias_before_batch_norm_drifts_under_the_shortcut_while_the_loss_stays(seed):
    g = generator(seed)
    u = 2 + 3 * torch.randn(16, generator=g, dtype=torch.float64)
    t = torch.randn(16, generator=g, dtype=torch.float64)
    gamma, beta = 1.5, 0.5

    def loss_and_dy(b):
        x_hat, s, _ = x_hat_and_inverse_std(u + b)
        y = gamma * x_hat + beta
        return float(0.5 * ((y - t) ** 2).sum()), y - t, s, x_hat

    for shortcut in (False, True):
        b, steps, losses = torch.tensor(0.0, dtype=torch.float64), [], []
        for _ in range(50):
            loss, dy, s, x_hat = loss_and_dy(b)
            losses.append(loss)
            n = len(u)
            dx = gamma * dy * s if shortcut else gamma * s / n * (n * dy - dy.sum() - x_hat * (dy * x_hat).sum())
            step = -0.1 * dx.sum()
            steps.append(float(step))
            b = b + step
        assert max(losses) - min(losses) < 1e-9, "the loss does not depend on b"
        if shortcut:
            assert abs(float(b)) > 1.0 and max(steps) - min(steps) < 1e-9 * abs(steps[0]), "a constant drift"
        else:
            assert abs(float(b)) < 1e-10
