"""owll_helpers.losses: losses with known unknowns (label -1), checked against their equations."""

from __future__ import annotations

import math

import pytest
import torch

from owll_helpers.data import Split
from owll_helpers.losses import (
    entropic_open_set_loss,
    kl_to_uniform,
    objectosphere_loss,
    uniform_cross_entropy,
    with_background_class,
    with_known_unknowns,
)


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    features = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    targets = torch.tensor([0, -1, 3, -1, 2, 1])
    return logits, features, targets


def test_entropic_loss_is_cross_entropy_for_knowns_and_uniform_cross_entropy_for_unknowns():
    logits, _, targets = batch()
    per_sample = entropic_open_set_loss(logits, targets, reduction="none")
    probs = torch.softmax(logits, dim=1)
    for i, t in enumerate(targets.tolist()):
        want = -math.log(probs[i, t]) if t >= 0 else -sum(math.log(p) for p in probs[i]) / 4
        assert per_sample[i].item() == pytest.approx(want, rel=1e-12)
    assert entropic_open_set_loss(logits, targets).item() == pytest.approx(per_sample.mean().item())
    assert entropic_open_set_loss(logits, targets, reduction="sum").item() == pytest.approx(per_sample.sum().item())
    known = targets >= 0
    assert torch.allclose(per_sample[known], torch.nn.functional.cross_entropy(logits[known], targets[known], reduction="none"))


def test_uniform_terms_differ_by_log_k_and_are_minimal_at_the_uniform_softmax():
    logits, _, _ = batch()
    assert torch.allclose(uniform_cross_entropy(logits, "none") - kl_to_uniform(logits, "none"), torch.full((6,), math.log(4), dtype=torch.float64))
    flat = torch.zeros(2, 5)
    assert kl_to_uniform(flat).item() == pytest.approx(0.0, abs=1e-7)
    assert uniform_cross_entropy(flat).item() == pytest.approx(math.log(5))
    assert (kl_to_uniform(logits, "none") > 0).all()


def test_objectosphere_adds_the_feature_magnitude_penalty():
    logits, features, targets = batch()
    xi, alpha = 2.0, 0.5
    per_sample = objectosphere_loss(logits, features, targets, xi=xi, alpha=alpha, reduction="none")
    entropic = entropic_open_set_loss(logits, targets, reduction="none")
    for i, t in enumerate(targets.tolist()):
        norm = math.sqrt(sum(f * f for f in features[i].tolist()))
        penalty = norm**2 if t < 0 else max(xi - norm, 0.0) ** 2
        assert per_sample[i].item() == pytest.approx(entropic[i].item() + alpha * penalty, rel=1e-12)
    far = features * 100  # every known beyond xi: no penalty for knowns
    gap = objectosphere_loss(logits, far, targets, xi=xi, reduction="none") - entropic_open_set_loss(logits, targets, reduction="none")
    assert torch.all(gap[targets >= 0] == 0) and torch.all(gap[targets < 0] > 0)


def test_losses_have_gradients_and_refuse_bad_targets():
    logits, features, targets = batch()
    logits.requires_grad_(True)
    objectosphere_loss(logits, features, targets).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="targets"):
        entropic_open_set_loss(logits.detach(), torch.tensor([0, 1, 4, 0, 0, 0]))
    with pytest.raises(ValueError, match="targets"):
        entropic_open_set_loss(logits.detach(), torch.tensor([0, 1, -2, 0, 0, 0]))
    with pytest.raises(ValueError, match="one label per row"):
        entropic_open_set_loss(logits.detach(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        entropic_open_set_loss(torch.full((2, 3), float("nan")), torch.tensor([0, -1]))
    with pytest.raises(ValueError, match="reduction"):
        entropic_open_set_loss(logits.detach(), targets, reduction="max")
    with pytest.raises(ValueError, match="xi"):
        objectosphere_loss(logits.detach(), features, targets, xi=0.0)


def test_known_unknowns_and_the_background_class():
    known = Split(torch.rand(3, 4), torch.tensor([0, 2, 1]))
    mixed = with_known_unknowns(known, torch.rand(2, 4))
    assert mixed.y.tolist() == [0, 2, 1, -1, -1] and mixed.x.shape == (5, 4)
    assert with_background_class(mixed, 3).y.tolist() == [0, 2, 1, 3, 3]
    with pytest.raises(ValueError, match="shape"):
        with_known_unknowns(known, torch.rand(2, 5))
    with pytest.raises(ValueError, match="n_classes"):
        with_background_class(mixed, 2)
