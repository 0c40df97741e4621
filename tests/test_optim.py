"""owll_helpers.optim matches torch.optim step for step."""

import copy

import pytest
import torch

from owll_helpers.models import mlp
from owll_helpers.optim import SGD, Adam


def _run(model, optimizer, steps=25):
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=generator)
        y = torch.randint(0, 3, (16,), generator=generator)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    "ours, theirs, settings",
    [
        (SGD, torch.optim.SGD, dict(lr=0.05)),
        (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
        (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
        (Adam, torch.optim.Adam, dict(lr=1e-2)),
        (Adam, torch.optim.Adam, dict(lr=1e-2, weight_decay=1e-3)),
    ],
)
def test_same_parameters_as_torch_optim(ours, theirs, settings):
    torch.manual_seed(0)
    model = mlp(8, 3, depth=2, width=16, norm="batch")
    twin = copy.deepcopy(model)
    mine = _run(model, ours(model.parameters(), **settings))
    reference = _run(twin, theirs(twin.parameters(), **settings))
    for a, b in zip(mine, reference):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_parameters_without_gradient_are_left_alone():
    torch.manual_seed(0)
    used, unused = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = unused.weight.detach().clone()
    optimizer = SGD(list(used.parameters()) + list(unused.parameters()), lr=0.1, momentum=0.9)
    used(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    assert torch.equal(unused.weight, before)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: SGD(p, lr=0), "lr"),
        (lambda p: SGD(p, lr=0.1, momentum=1.0), "momentum"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "weight_decay"),
        (lambda p: Adam(p, betas=(0.9, 1.0)), "betas"),
        (lambda p: SGD([], lr=0.1), "no parameters"),
    ],
)
def test_bad_settings_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make(torch.nn.Linear(2, 2).parameters())
