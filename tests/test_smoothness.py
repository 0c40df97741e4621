import math

import pytest
import torch
from torch import nn

from owll_helpers.data import Split, load_digits_splits
from owll_helpers.models import mlp
from owll_helpers.seed import seed_everything
from owll_helpers.smoothness import GradientProbe, probe_along_gradient, probe_during_training
from owll_helpers.train import fit


def squared_error(outputs, labels):
    """A loss that is quadratic in a linear model's parameters: its Hessian is constant."""
    targets = nn.functional.one_hot(labels, outputs.shape[1]).to(outputs.dtype)
    return ((outputs - targets) ** 2).mean()


def small_batch(n=16, features=5, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=generator), torch.randint(0, classes, (n,), generator=generator)


def flat_gradient(model, x, y, loss_fn):
    model.zero_grad()
    loss_fn(model(x), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_losses_are_the_loss_at_each_step_along_the_gradient():
    torch.manual_seed(0)
    x, y = small_batch()
    model = nn.Linear(5, 3)
    etas = [0.1, 0.5]
    probe = probe_along_gradient(model, x, y, etas)
    grads = torch.autograd.grad(nn.functional.cross_entropy(model(x), y), list(model.parameters()))
    for eta, measured in zip(etas, probe.losses):
        w, b = (p.detach() - eta * g for p, g in zip(model.parameters(), grads))
        expected = nn.functional.cross_entropy(x @ w.T + b, y)
        assert float(measured) == pytest.approx(float(expected), rel=1e-5)
    assert probe.loss == pytest.approx(nn.functional.cross_entropy(model(x), y).item(), rel=1e-6)
    assert probe.gradient_norm == pytest.approx(float(torch.cat([g.flatten() for g in grads]).norm()), rel=1e-5)
    assert probe.losses.shape == probe.gradient_changes.shape == (2,)


def test_gradient_change_of_a_quadratic_is_eta_times_hessian_times_gradient():
    # For L(w) = mean((X w - T)^2), grad L(w - eta g) - grad L(w) = -eta H g exactly,
    # so every ratio ||dg|| / (eta ||g||) equals ||H g|| / ||g|| (Santurkar et al. 2018, Fig. 4c).
    torch.manual_seed(1)
    x, y = small_batch(seed=1)
    model = nn.Linear(5, 3).double()
    x = x.double()
    params = list(model.parameters())
    g = flat_gradient(model, x, y, squared_error)
    loss = squared_error(model(x), y)
    first = torch.autograd.grad(loss, params, create_graph=True)
    flat = torch.cat([f.flatten() for f in first])
    hg = torch.cat([h.flatten() for h in torch.autograd.grad(flat @ g, params)])
    etas = [0.01, 0.1, 1.0]
    probe = probe_along_gradient(model, x, y, etas, loss_fn=squared_error)
    expected = float(hg.norm() / g.norm())
    for eta, change in zip(etas, probe.gradient_changes):
        assert float(change) == pytest.approx(eta * float(hg.norm()), rel=1e-6)
    assert probe.effective_beta == pytest.approx(expected, rel=1e-6)


def test_the_model_is_left_as_it_was():
    seed_everything(0)
    model = mlp(5, 3, depth=2, width=8, norm="batch", init="kaiming_normal")
    x, y = small_batch()
    model.train()
    model(x).sum().backward()  # leave gradients behind, as a training loop may
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    probe_along_gradient(model, x, y, [0.1, 1.0, 10.0])
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{key} changed"
    for p, g in zip(model.parameters(), grads):
        assert torch.equal(p.grad, g)


def test_a_step_that_overflows_gives_an_infinite_range():
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.bias.zero_()
    x, y = torch.tensor([[1e19, 0.0]]), torch.tensor([1])
    probe = probe_along_gradient(model, x, y, [1e30])
    assert probe.loss_range == math.inf
    finite = GradientProbe(
        step=0, loss=1.0, gradient_norm=2.0, step_sizes=torch.tensor([0.5, 1.0]),
        losses=torch.tensor([0.5, 3.0]), gradient_changes=torch.tensor([1.0, 1.0]),
    )
    assert finite.loss_range == pytest.approx(2.5)
    assert finite.max_gradient_change == pytest.approx(1.0)
    assert finite.effective_beta == pytest.approx(1.0)  # 1 / (0.5 * 2)


@pytest.mark.parametrize(
    "step_sizes, error, words",
    [
        ([], ValueError, "empty"),
        ([0.1, 0.0], ValueError, "positive"),
        ([-1.0], ValueError, "positive"),
        ([float("nan")], ValueError, "finite"),
        (["0.1"], TypeError, "numbers"),
        ("0.1", TypeError, "sequence"),
        (0.1, TypeError, "sequence"),
    ],
)
def test_bad_step_sizes_are_refused(step_sizes, error, words):
    x, y = small_batch()
    with pytest.raises(error, match=words):
        probe_along_gradient(nn.Linear(5, 3), x, y, step_sizes)


def test_bad_inputs_are_refused():
    x, y = small_batch()
    model = nn.Linear(5, 3)
    with pytest.raises(TypeError, match="nn.Module"):
        probe_along_gradient("model", x, y, [0.1])
    with pytest.raises(ValueError, match="require gradients"):
        probe_along_gradient(nn.ReLU(), x, y, [0.1])
    with pytest.raises(TypeError, match="floating-point"):
        probe_along_gradient(model, x.long(), y, [0.1])
    with pytest.raises(ValueError, match="NaN"):
        probe_along_gradient(model, torch.full_like(x, math.nan), y, [0.1])
    with pytest.raises(TypeError, match="integer"):
        probe_along_gradient(model, x, y.float(), [0.1])
    with pytest.raises(ValueError, match="labels"):
        probe_along_gradient(model, x, y[:-1], [0.1])
    with pytest.raises(TypeError, match="Split"):
        probe_during_training(model, (x, y), [0.1])
    with pytest.raises(ValueError, match="every"):
        probe_during_training(model, Split(x, y), [0.1], every=0)
    with pytest.raises(ValueError, match="lr"):
        probe_during_training(model, Split(x, y), [0.1], lr=0.0)


def test_probing_does_not_change_the_training_run():
    data = load_digits_splits(seed=0)
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(mlp(64, 10, depth=2, width=16, norm="batch", init="kaiming_normal"))
    fit(models[0], data.train, epochs=2, lr=0.05, batch_size=64, seed=3, progress=False)
    record = probe_during_training(models[1], data.train, [0.05, 0.5], epochs=2, lr=0.05, batch_size=64, every=5, seed=3)
    steps_per_epoch = math.ceil(len(data.train) / 64)
    assert len(record.history.train_loss) == 2
    assert [p.step for p in record.probes] == list(range(0, 2 * steps_per_epoch, 5))
    assert not record.history.diverged
    for (key, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), f"{key} differs from fit's run"


def test_divergence_stops_training():
    data = load_digits_splits(seed=0)
    torch.manual_seed(0)
    model = mlp(64, 10, depth=6, width=32, init="normal", std=1.0)
    record = probe_during_training(model, data.train, [0.1], epochs=3, lr=10.0, every=1)
    assert record.history.diverged
    assert len(record.history.train_loss) < 3
