"""owll_helpers.attacks: FGSM and the confidence attack do what their docstrings say."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from owll_helpers.attacks import confidence_attack, fgsm


def small_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def log_confidence(model, x):
    with torch.no_grad():
        return torch.log_softmax(model(x), dim=1).max(dim=1).values


def test_fgsm_is_one_signed_step_that_raises_the_loss():
    model, x, y = small_model(), torch.rand(32, 6), torch.randint(0, 3, (32,))
    adversarial = fgsm(model, x, y, eps=0.05, clip=None)
    assert torch.allclose((adversarial - x).abs(), torch.full_like(x, 0.05))
    loss = nn.functional.cross_entropy
    with torch.no_grad():
        assert loss(model(adversarial), y) > loss(model(x), y)
    assert torch.equal(fgsm(model, x, y, eps=0.0), x)


def test_fgsm_clips_to_the_image_range():
    model = small_model()
    adversarial = fgsm(model, torch.zeros(4, 6), torch.zeros(4, dtype=torch.int64), eps=0.5)
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_confidence_attack_stays_in_the_box_and_raises_confidence():
    model, x = small_model(1), torch.rand(64, 6)
    attacked = confidence_attack(model, x, eps=0.2, steps=8, step_size=0.1)
    assert (attacked - x).abs().max() <= 0.2 + 1e-6
    assert attacked.min() >= 0 and attacked.max() <= 1
    assert (log_confidence(model, attacked) >= log_confidence(model, x) - 1e-6).all()
    assert log_confidence(model, attacked).mean() > log_confidence(model, x).mean()
    assert not attacked.requires_grad


def test_confidence_attack_matches_the_stated_update():
    model = small_model(2).double()
    x = torch.rand(10, 6, dtype=torch.float64)
    u = x.clone()
    for _ in range(3):
        u.requires_grad_(True)
        (gradient,) = torch.autograd.grad(torch.log_softmax(model(u), dim=1).max(dim=1).values.sum(), u)
        u = torch.clamp(torch.min(torch.max(u.detach() + 0.07 * gradient.sign(), x - 0.1), x + 0.1), 0, 1)
    assert torch.equal(confidence_attack(model, x, eps=0.1, steps=3, step_size=0.07), u)


def test_attacks_leave_the_model_as_they_found_it():
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.ReLU(), nn.Linear(8, 3))
    model.train()
    x = torch.rand(5, 6)
    confidence_attack(model, x, steps=2)
    fgsm(model, x, torch.zeros(5, dtype=torch.int64), eps=0.1)
    assert model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"eps": -0.1}, "eps"),
        ({"step_size": 0.0}, "step_size"),
        ({"steps": 0}, "steps"),
        ({"clip": (1.0, 0.0)}, "clip"),
    ],
)
def test_confidence_attack_checks_its_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        confidence_attack(small_model(), torch.rand(2, 6), **kwargs)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="NaN"):
        confidence_attack(small_model(), torch.full((2, 6), float("nan")))
    with pytest.raises(ValueError, match="one label per input"):
        fgsm(small_model(), torch.rand(2, 6), torch.zeros(3, dtype=torch.int64), eps=0.1)
