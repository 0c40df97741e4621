"""owll_helpers.open_world and the open-world data and metrics of chapter 6."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestCentroid

from owll_helpers.data import UNKNOWN_LABEL, open_world_digits
from owll_helpers.metrics import all_class_accuracy, known_class_accuracy
from owll_helpers.open_world import (
    NearestClassMean,
    NetworkLearner,
    open_world_round,
    select_queries,
    simulate_open_world,
)


def clusters(seed: int = 0, n: int = 60, d: int = 4, labels=(0, 3, 7)):
    generator = torch.Generator().manual_seed(seed)
    y = torch.tensor(labels)[torch.arange(n) % len(labels)]
    centres = 6 * torch.randn(10, d, generator=generator)
    return centres[y] + torch.randn(n, d, generator=generator), y


def test_nearest_class_mean_predicts_like_scikit_learns_nearest_centroid():
    x, y = clusters()
    test_x, _ = clusters(seed=1, labels=(0, 1, 3, 7, 9))
    ncm = NearestClassMean().fit(x, y)
    reference = NearestCentroid().fit(x.numpy(), y.numpy())
    np.testing.assert_allclose(ncm.means.numpy(), reference.centroids_, rtol=1e-6)
    nearest = ncm.classes[ncm.distances(test_x).argmin(dim=1)]
    np.testing.assert_array_equal(nearest.numpy(), reference.predict(test_x.numpy()))
    accepted = -ncm.score(test_x) <= ncm.threshold
    np.testing.assert_array_equal(ncm.predict(test_x).numpy(), np.where(accepted.numpy(), nearest.numpy(), UNKNOWN_LABEL))
    assert ncm.classes.tolist() == [0, 3, 7]


def test_threshold_is_the_pooled_95_percent_quantile_of_own_class_distances():
    x, y = clusters()
    ncm = NearestClassMean().fit(x, y)
    own = np.linalg.norm(x.numpy().astype(np.float64) - ncm.means.numpy()[np.searchsorted([0, 3, 7], y.numpy())], axis=1)
    assert ncm.threshold == pytest.approx(np.quantile(own, 0.95), rel=1e-9)
    assert (ncm.predict(x) != UNKNOWN_LABEL).float().mean() == pytest.approx(0.95, abs=1 / len(x))


def test_add_classes_is_the_same_as_fitting_everything_at_once():
    x, y = clusters()
    more_x, more_y = clusters(seed=2, n=14, labels=(3, 5))
    grown = NearestClassMean().fit(x, y).add_classes(more_x, more_y)
    at_once = NearestClassMean().fit(torch.cat([x, more_x]), torch.cat([y, more_y]))
    assert grown.classes.tolist() == [0, 3, 5, 7]
    torch.testing.assert_close(grown.means, at_once.means)
    assert grown.counts.tolist() == [20, 27, 7, 20]
    assert grown.threshold == pytest.approx(at_once.threshold)


def test_nearest_class_mean_refuses_bad_input():
    x, y = clusters()
    with pytest.raises(RuntimeError, match="fit"):
        NearestClassMean().predict(x)
    with pytest.raises(ValueError, match="one label per sample"):
        NearestClassMean().fit(x, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        NearestClassMean().fit(x.index_fill(0, torch.tensor([0]), math.nan), y)
    with pytest.raises(ValueError, match="columns"):
        NearestClassMean().fit(x, y).predict(x[:, :2])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        NearestClassMean(quantile=1.5)


def test_select_queries_uncertain_takes_the_lowest_scores_ties_by_lower_index():
    scores = torch.tensor([0.5, 0.1, 0.9, 0.1, 0.3])
    assert select_queries(scores, 3, "uncertain").tolist() == [1, 3, 4]
    assert select_queries(scores, 0, "uncertain").tolist() == []


def test_select_queries_random_is_the_seeded_permutation():
    scores = torch.zeros(20)
    expected = torch.randperm(20, generator=torch.Generator().manual_seed(4))[:6]
    assert select_queries(scores, 6, "random", seed=4).tolist() == expected.tolist()
    assert select_queries(scores, 6, "random", seed=5).tolist() != expected.tolist()


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        ((torch.zeros(3), 4, "uncertain"), ValueError, "larger than the pool"),
        ((torch.zeros(3), 2, "greedy"), ValueError, "'uncertain', 'random'"),
        ((torch.zeros(3, 1), 2, "random"), ValueError, "1 dimensions"),
        ((torch.tensor([0.0, math.nan]), 1, "random"), ValueError, "NaN"),
        ((torch.zeros(3), -1, "random"), ValueError, "at least 0"),
    ],
)
def test_select_queries_refuses_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        select_queries(*args)


def test_open_world_round_detects_chooses_labels_and_updates():
    x, y = clusters()
    pool_x, pool_y = clusters(seed=3, n=30, labels=(0, 3, 7, 9, 9, 9))
    ncm = NearestClassMean().fit(x, y)
    before = ncm.predict(pool_x)
    expected_queries = select_queries(ncm.score(pool_x), 5, "uncertain")
    result = open_world_round(ncm, pool_x, lambda queried: pool_y[queried], 5, "uncertain")
    assert result["queried"].tolist() == expected_queries.tolist()
    assert result["labels"].tolist() == pool_y[expected_queries].tolist()
    assert result["flagged_unknown"] == int((before == UNKNOWN_LABEL).sum())
    assert result["new_classes"] == ([9] if 9 in result["labels"].tolist() else [])
    assert result["classes_held"] == len(ncm.classes) and result["labels_spent"] == 5
    assert result["remaining"].tolist() == sorted(set(range(30)) - set(expected_queries.tolist()))
    torch.testing.assert_close(result["pool_features"], pool_x[result["remaining"]])
    asked, labels = before[expected_queries], pool_y[expected_queries]
    assert result["all_accuracy"] == pytest.approx(all_class_accuracy(asked, labels))
    known = known_class_accuracy(asked, labels, torch.tensor([0, 3, 7]))
    assert result["known_accuracy"] == pytest.approx(known, nan_ok=True)


def test_open_world_round_checks_the_oracle():
    x, y = clusters()
    ncm = NearestClassMean().fit(x, y)
    with pytest.raises(ValueError, match="one label per sample"):
        open_world_round(ncm, x, lambda queried: y[:1], 3, "random")
    with pytest.raises(TypeError, match="callable"):
        open_world_round(ncm, x, y, 3, "random")


def test_known_and_all_class_accuracy():
    predictions = torch.tensor([0, 1, -1, 5, 2])
    labels = torch.tensor([0, 1, 1, 5, 3])
    assert known_class_accuracy(predictions, labels, torch.tensor([0, 1])) == pytest.approx(2 / 3)
    assert all_class_accuracy(predictions, labels) == pytest.approx(3 / 5)
    assert math.isnan(known_class_accuracy(predictions, labels, torch.tensor([8])))
    with pytest.raises(ValueError, match="one entry per sample"):
        all_class_accuracy(predictions, labels[:2])
    with pytest.raises(TypeError, match="integer"):
        all_class_accuracy(predictions.float(), labels)


def test_open_world_digits_start_pool_and_test():
    world = open_world_digits(0)
    assert set(world.start.y.tolist()) == {0, 1, 2, 3, 4}
    counts = torch.bincount(world.pool.y, minlength=10)
    assert counts[5:].tolist() == [10] * 5 and counts[:5].min() > 40
    assert len(world.test) == 359 and set(world.test.y.tolist()) == set(range(10))
    assert world.new_classes == (5, 6, 7, 8, 9)
    start_rows = {tuple(row) for row in world.start.x.tolist()}
    assert not any(tuple(row) in start_rows for row in world.pool.x.tolist() if row)  # start and pool are disjoint
    again = open_world_digits(0)
    torch.testing.assert_close(again.pool.x, world.pool.x)
    with pytest.raises(ValueError, match="initial_classes"):
        open_world_digits(0, initial_classes=tuple(range(10)))
    with pytest.raises(ValueError, match="per_new_class"):
        open_world_digits(0, per_new_class=500)


def test_simulation_logs_every_round_and_network_learner_masks_classes_not_held():
    world = open_world_digits(1)
    learner = NetworkLearner(epochs=2, finetune_epochs=2, update="finetune", replay=10, seed=1)
    log = simulate_open_world(learner, world, rounds=2, budget=5, oracle_error=0.2, seed=1)
    assert [entry["round"] for entry in log] == [0, 1, 2]
    assert [entry["labels_spent"] for entry in log] == [0, 5, 10]
    assert log[0]["classes_held"] == 5 and not math.isnan(log[0]["unknown_auroc"])
    logits = learner.logits(world.test.x)
    not_held = torch.ones(10, dtype=torch.bool)
    not_held[learner.classes] = False
    assert torch.isinf(logits[:, not_held]).all() and torch.isfinite(logits[:, ~not_held]).all()
    assert set(learner.predict(world.test.x).tolist()) <= set(learner.classes.tolist()) | {UNKNOWN_LABEL}


def test_network_learner_scores_again_when_the_input_changes_in_place():
    world = open_world_digits(0)
    learner = NetworkLearner(epochs=2, seed=0).fit(world.start.x, world.start.y)
    pool = world.pool.x.clone()
    first = learner.score(pool)
    torch.testing.assert_close(learner.score(pool), first)
    pool.mul_(0.5)
    torch.testing.assert_close(learner.score(pool), learner.score(pool.clone()))
    assert not torch.equal(learner.score(pool), first)


def test_a_round_with_a_budget_of_zero_changes_nothing():
    x, y = clusters()
    ncm = NearestClassMean().fit(x, y)
    means, threshold = ncm.means.clone(), ncm.threshold
    result = open_world_round(ncm, x, lambda queried: y[queried], 0, "uncertain")
    assert result["labels_spent"] == 0 and result["new_classes"] == [] and math.isnan(result["all_accuracy"])
    assert torch.equal(ncm.means, means) and ncm.threshold == threshold
    assert result["remaining"].tolist() == list(range(len(x)))


def test_network_learner_fitted_twice_is_the_same_network_and_checks_its_settings():
    world = open_world_digits(0)
    learner = NetworkLearner(epochs=2, seed=3)
    first = learner.fit(world.start.x, world.start.y).logits(world.test.x)
    learner.add_classes(world.pool.x[:5], world.pool.y[:5])
    torch.testing.assert_close(learner.fit(world.start.x, world.start.y).logits(world.test.x), first)
    with pytest.raises(ValueError, match="columns"):
        learner.add_classes(world.pool.x[:5, :10], world.pool.y[:5])
    with pytest.raises(ValueError, match="lr"):
        NetworkLearner(lr=0)
    with pytest.raises(ValueError, match="pool holds"):
        simulate_open_world(NearestClassMean(), world, rounds=40, budget=10)
