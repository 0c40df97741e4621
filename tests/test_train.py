import math

import pytest
import torch

from owll_helpers.data import Split, blobs, load_digits_splits
from owll_helpers.models import mlp
from owll_helpers.seed import seed_everything
from owll_helpers.train import History, accuracy, evaluate, fit, predict_logits


def test_fit_learns_separable_blobs_and_records_history():
    seed_everything(0)
    data = blobs(300, n_classes=3, cluster_std=0.5, seed=0)
    model = mlp(2, 3, depth=1, width=16, init="kaiming_normal")
    history = fit(model, data, epochs=15, lr=0.05, val=data, progress=False)
    assert isinstance(history, History)
    assert history.epochs == 15 and len(history.val_accuracy) == 15
    assert not history.diverged
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.final("val_accuracy") > 0.95


def test_fit_is_deterministic():
    data = load_digits_splits(seed=0)
    runs = []
    for _ in range(2):
        seed_everything(0)
        model = mlp(64, 10, depth=2, width=32, init="kaiming_normal")
        runs.append(fit(model, data.train, epochs=2, val=data.val, progress=False).val_loss)
    assert runs[0] == runs[1]


def test_divergence_is_recorded_not_raised():
    seed_everything(0)
    data = load_digits_splits(seed=0)
    model = mlp(64, 10, depth=6, width=64, init="normal", std=1.0)
    history = fit(model, data.train, epochs=5, lr=10.0, progress=False)
    assert history.diverged and history.diverged_epoch is not None
    assert history.epochs == history.diverged_epoch
    assert all(math.isfinite(v) for v in history.train_loss)


def test_nan_input_raises_a_clear_error():
    x = torch.zeros(4, 2)
    x[1, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(mlp(2, 2), Split(x, torch.zeros(4, dtype=torch.int64)), epochs=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"epochs": 0}, ValueError, "epochs"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer"),
    ],
)
def test_fit_refuses_bad_hyperparameters(kwargs, error, words):
    data = blobs(20, seed=0)
    with pytest.raises(error, match=words):
        fit(mlp(2, 3), data, progress=False, **kwargs)


def test_fit_refuses_empty_or_wrong_data():
    empty = Split(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ValueError, match="empty"):
        fit(mlp(2, 2), empty, progress=False)
    with pytest.raises(TypeError, match="Split"):
        fit(mlp(2, 2), (torch.zeros(2, 2), torch.zeros(2)), progress=False)


def test_accuracy_and_evaluate():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="rows"):
        accuracy(logits, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        accuracy(logits, torch.tensor([0.0, 1.0, 1.0]))
    model = mlp(2, 2, depth=0)
    loss, acc = evaluate(model, Split(torch.zeros(3, 2), torch.tensor([0, 1, 1])))
    assert math.isfinite(loss) and 0 <= acc <= 1


def test_predict_logits_keeps_the_training_mode():
    model = mlp(2, 2, depth=1, width=4, norm="batch")
    model.train()
    assert predict_logits(model, torch.zeros(7, 2), batch_size=3).shape == (7, 2)
    assert model.training


def test_adam_optimizer_runs():
    data = blobs(60, seed=1)
    history = fit(mlp(2, 3), data, epochs=2, optimizer="adam", lr=1e-2, progress=False)
    assert history.epochs == 2


def test_an_objective_that_is_cross_entropy_trains_exactly_like_the_default():
    data = load_digits_splits(seed=0)

    def cross_entropy_objective(model, x, y):
        logits = model(x)
        return torch.nn.functional.cross_entropy(logits, y), logits

    runs = []
    for objective in (None, cross_entropy_objective):
        seed_everything(0)
        model = mlp(64, 10, depth=1, width=16)
        history = fit(model, data.train, epochs=2, val=data.val, objective=objective, progress=False)
        runs.append((history.train_loss, history.train_accuracy, history.val_loss))
    assert runs[0] == runs[1]


def test_an_objective_sees_the_model_and_the_batch():
    data = load_digits_splits(seed=0)
    seen = []

    def objective(model, x, y):
        seen.append((x.shape[0], y.shape[0]))
        logits = model(x)
        extra = model(torch.zeros(3, 64)).logsumexp(dim=1).mean()  # a term on inputs of its own
        return torch.nn.functional.cross_entropy(logits, y) + 0.1 * extra, logits

    fit(mlp(64, 10, depth=1, width=8), data.train, epochs=1, batch_size=500, objective=objective, progress=False)
    assert seen == [(500, 500), (500, 500), (78, 78)]


def test_loss_fn_and_objective_are_exclusive():
    data = load_digits_splits(seed=0)
    with pytest.raises(ValueError, match="not both"):
        fit(mlp(64, 10), data.train, epochs=1, loss_fn=torch.nn.functional.cross_entropy,
            objective=lambda m, x, y: (m(x).sum(), m(x)), progress=False)


def test_known_unknowns_need_an_objective_and_count_for_no_accuracy():
    x = torch.rand(40, 4)
    y = torch.tensor([0, 1, -1, 1] * 10)
    with pytest.raises(ValueError, match="known unknowns"):
        fit(mlp(4, 2), Split(x, y), epochs=1, progress=False)

    def known_only(model, inputs, labels):
        logits = model(inputs)
        known = labels >= 0
        return torch.nn.functional.cross_entropy(logits[known], labels[known]), logits

    history = fit(mlp(4, 2), Split(x, y), epochs=1, objective=known_only, progress=False)
    assert 0.0 <= history.train_accuracy[0] <= 1.0
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 0, -1])) == 0.5
    assert math.isnan(accuracy(logits, torch.tensor([-1, -1, -1])))


def test_an_objective_without_class_logits_leaves_the_accuracy_nan():
    data = load_digits_splits(seed=0)

    def no_classes(model, x, y):
        return model(x).square().mean(), None

    history = fit(mlp(64, 4, depth=1, width=8), data.train, epochs=2, objective=no_classes, progress=False)
    assert len(history.train_loss) == 2 and all(math.isnan(a) for a in history.train_accuracy)
