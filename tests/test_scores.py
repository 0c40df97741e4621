"""owll_helpers.scores: confidence scores, larger for more in-distribution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from owll_helpers.scores import max_logit, max_softmax, predict_probs


def test_scores_of_known_logits():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [-1.0, 3.0]])
    assert torch.allclose(max_softmax(logits), torch.tensor([1 / (1 + torch.e**-2), 0.5, 1 / (1 + torch.e**-4)]))
    assert torch.equal(max_logit(logits), torch.tensor([2.0, 0.0, 3.0]))


def test_predict_probs_sums_to_one_in_eval_mode_without_gradients():
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.9), nn.Linear(8, 3))
    x = torch.rand(6, 4)
    probs = predict_probs(model, x)
    assert torch.allclose(probs.sum(dim=1), torch.ones(6))
    assert torch.equal(probs, predict_probs(model, x))  # dropout off: the same twice
    assert not probs.requires_grad and model.training


@pytest.mark.parametrize("bad", [torch.ones(3), torch.tensor([[float("nan"), 1.0]]), torch.ones(2, 2, dtype=torch.int64)])
def test_bad_logits_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        max_softmax(bad)


def test_mc_dropout_averages_stochastic_passes_and_leaves_the_random_state_alone():
    from owll_helpers.models import mlp
    from owll_helpers.scores import mc_dropout_probs

    torch.manual_seed(0)
    model = mlp(4, 3, depth=1, width=32, dropout=0.5)
    x = torch.rand(5, 4)
    state = torch.get_rng_state()
    probs = mc_dropout_probs(model, x, passes=30, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.allclose(probs.sum(dim=1), torch.ones(5)) and not model.training
    assert torch.equal(probs, mc_dropout_probs(model, x, passes=30, seed=1))
    assert not torch.allclose(probs, predict_probs(model, x))  # dropout was on


def test_mc_dropout_refuses_batch_norm_and_bad_settings():
    from owll_helpers.models import mlp
    from owll_helpers.scores import mc_dropout_probs

    with pytest.raises(ValueError, match="batch norm"):
        mc_dropout_probs(mlp(4, 3, norm="batch", dropout=0.5), torch.rand(2, 4))
    with pytest.raises(ValueError, match="passes"):
        mc_dropout_probs(mlp(4, 3, dropout=0.5), torch.rand(2, 4), passes=0)


def test_odin_steps_up_the_scaled_max_softmax_and_restores_the_model():
    from owll_helpers.scores import odin_score

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 4)).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    for temperature in (1.0, 10.0):
        plain = odin_score(model, x, temperature=temperature, epsilon=0.0)
        model.eval()
        assert torch.allclose(plain, torch.softmax(model(x) / temperature, dim=1).max(dim=1).values)
        model.train()
        # By hand: the gradient of log max softmax(f(x) / T) through autograd, then one signed step up.
        inputs = x.clone().requires_grad_(True)
        model.eval()
        top = torch.log_softmax(model(inputs) / temperature, dim=1).max(dim=1).values.sum()
        (gradient,) = torch.autograd.grad(top, inputs)
        want = torch.softmax(model(x + 0.05 * gradient.sign()) / temperature, dim=1).max(dim=1).values.detach()
        model.train()
        stepped = odin_score(model, x, temperature=temperature, epsilon=0.05)
        assert torch.allclose(stepped, want, atol=1e-12)
        assert (stepped >= plain - 1e-12).all()  # the step raises the score
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="temperature"):
        odin_score(model, x, temperature=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        odin_score(model, x, epsilon=-0.1)
