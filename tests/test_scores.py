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
