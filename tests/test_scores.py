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
