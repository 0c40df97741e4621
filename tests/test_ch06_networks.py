"""What chapter 6's pages on choosing labels, a noisy oracle and forgetting teach, asserted on seeds 0, 1 and 2.

``book/06_open_world/02_choosing_what_to_label.ipynb``,
``03_a_noisy_oracle.ipynb`` and ``04_forgetting_and_replay.ipynb``:
``open_world_digits(seed)`` (270 labelled
digits of 0-4 at the start; a pool of 321 with only 10 of each of 5-9; the 359
test digits of all ten classes), 5 rounds of 10 labels, ``NetworkLearner``
(MLP 64-128-128-10, Adam, 20 epochs, class-weighted loss, logits of classes
not held masked). Selection: "uncertain" on the learner's score (lowest max
softmax, or largest Mahalanobis distance) or "random". Accuracy is the final
all-class accuracy on the test digits; forgetting is the accuracy on the
test digits of the first classes 0-4.

Each threshold is about half of the smallest margin measured over the three
seeds (pinned kernels); the measured values are written beside each
threshold. Not asserted, because it is not stable: the ranking of max softmax
against Mahalanobis (max softmax won on these three seeds, the course's
earlier notes had the opposite).
"""

from __future__ import annotations

import functools

import pytest

from owll_helpers.data import open_world_digits
from owll_helpers.open_world import NearestClassMean, NetworkLearner, select_queries, simulate_open_world

SEEDS = (0, 1, 2)
#: run name: (a fresh learner for a seed, strategy, oracle error)
RUNS = {
    "max softmax": (lambda seed: NetworkLearner(seed=seed), "uncertain", 0.0),
    "Mahalanobis": (lambda seed: NetworkLearner(seed=seed, score="mahalanobis"), "uncertain", 0.0),
    "random": (lambda seed: NetworkLearner(seed=seed), "random", 0.0),
    "max softmax, noisy": (lambda seed: NetworkLearner(seed=seed), "uncertain", 0.2),
    "fine-tune": (lambda seed: NetworkLearner(seed=seed, update="finetune"), "uncertain", 0.0),
    "fine-tune + replay 100": (lambda seed: NetworkLearner(seed=seed, update="finetune", replay=100), "uncertain", 0.0),
    "nearest class mean": (lambda seed: NearestClassMean(), "uncertain", 0.0),
    "nearest class mean, noisy": (lambda seed: NearestClassMean(), "uncertain", 0.2),
}

pytestmark = pytest.mark.slow


@functools.lru_cache(maxsize=None)
def run(name: str, seed: int) -> tuple[dict, ...]:
    make, strategy, error = RUNS[name]
    return tuple(simulate_open_world(make(seed), open_world_digits(seed), rounds=5, budget=10, strategy=strategy,
                                     oracle_error=error, seed=seed))


def final_accuracy(name: str, seed: int) -> float:
    return run(name, seed)[-1]["all_accuracy"]


def lowest_first_classes(name: str, seed: int) -> float:
    return min(log["first_classes_accuracy"] for log in run(name, seed)[1:])


@pytest.mark.parametrize("seed", SEEDS)
def test_max_softmax_finds_every_new_class(seed: int) -> None:
    # measured: 5 / 5 / 5 new classes found, 10 held, on seeds 0 / 1 / 2
    last = run("max softmax", seed)[-1]
    assert last["classes_found"] == 5 and last["classes_held"] == 10, last


@pytest.mark.parametrize("seed", SEEDS)
def test_the_first_max_softmax_picks_are_new_digits(seed: int) -> None:
    # the network trained on the start only; random picking expects 10 * 50 / 321 = 1.56 new digits in 10 picks
    world = open_world_digits(seed)
    learner = NetworkLearner(seed=seed).fit(world.start.x, world.start.y)
    first = select_queries(learner.score(world.pool.x), 10, "uncertain")
    n_new = int((world.pool.y[first] >= 5).sum())
    # measured: 10 / 10 / 10 new digits among the first ten picks (margin 8.44 over 1.56; half of it: 1.56 + 4.22)
    assert n_new >= 6, f"seed {seed}: {n_new} of the first 10 max-softmax picks are new digits (measured 10)"


@pytest.mark.parametrize("seed", SEEDS)
def test_max_softmax_selection_beats_random(seed: int) -> None:
    # measured: 0.886 / 0.886 / 0.869 against 0.733 / 0.719 / 0.694, margins 0.153 / 0.167 / 0.175
    margin = final_accuracy("max softmax", seed) - final_accuracy("random", seed)
    assert margin > 0.08, margin


@pytest.mark.parametrize("seed", SEEDS)
def test_mahalanobis_selection_beats_random(seed: int) -> None:
    # measured: 0.797 / 0.819 / 0.802 against random, margins 0.0641 / 0.100 / 0.109
    margin = final_accuracy("Mahalanobis", seed) - final_accuracy("random", seed)
    assert margin > 0.03, margin


@pytest.mark.parametrize("seed", SEEDS)
def test_noisy_oracle_costs_accuracy(seed: int) -> None:
    # measured network: 0.886 / 0.886 / 0.869 clean, 0.783 / 0.788 / 0.844 with 20 % wrong labels,
    # costs 0.103 / 0.0975 / 0.0251; nearest class mean: costs 0.0557 / 0.039 / 0.0836
    for clean, noisy in (("max softmax", "max softmax, noisy"), ("nearest class mean", "nearest class mean, noisy")):
        cost = final_accuracy(clean, seed) - final_accuracy(noisy, seed)
        assert cost > 0.012, (clean, cost)
        assert run(noisy, seed)[-1]["wrong_labels"] > 0


def test_noisy_oracle_costs_accuracy_on_average() -> None:
    # measured mean cost over seeds 0-2: network 0.0752, nearest class mean 0.0594
    for clean, noisy in (("max softmax", "max softmax, noisy"), ("nearest class mean", "nearest class mean, noisy")):
        cost = sum(final_accuracy(clean, s) - final_accuracy(noisy, s) for s in SEEDS) / len(SEEDS)
        assert cost > 0.03, (clean, cost)


@pytest.mark.parametrize("seed", SEEDS)
def test_fine_tuning_forgets_the_first_classes(seed: int) -> None:
    # measured: first-classes accuracy 0.978 / 0.956 / 0.983 at round 0, lowest later 0.183 / 0.383 / 0.0556
    # (drops 0.794 / 0.572 / 0.928)
    log = run("fine-tune", seed)
    drop = log[0]["first_classes_accuracy"] - lowest_first_classes("fine-tune", seed)
    assert drop > 0.3, drop


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_keeps_the_first_classes(seed: int) -> None:
    # measured lowest first-classes accuracy: replay 100 0.956 / 0.922 / 0.933, no replay 0.183 / 0.383 / 0.0556
    # (gaps 0.773 / 0.539 / 0.877); replay 100 drops at most 0.0222 / 0.0333 / 0.05 below round 0
    assert lowest_first_classes("fine-tune + replay 100", seed) > 0.85
    gap = lowest_first_classes("fine-tune + replay 100", seed) - lowest_first_classes("fine-tune", seed)
    assert gap > 0.25, gap


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_ends_more_accurate_than_fine_tuning_alone(seed: int) -> None:
    # measured final all-class accuracy: replay 100 0.844 / 0.813 / 0.864, no replay 0.451 / 0.396 / 0.557
    # (margins 0.393 / 0.417 / 0.307)
    margin = final_accuracy("fine-tune + replay 100", seed) - final_accuracy("fine-tune", seed)
    assert margin > 0.15, margin


@pytest.mark.parametrize("seed", SEEDS)
def test_nearest_class_mean_barely_forgets(seed: int) -> None:
    # measured: largest drop of first-classes accuracy below round 0: -0.0111 / 0.0222 / 0.0333
    # (fine-tuning without replay: 0.794 / 0.572 / 0.928)
    log = run("nearest class mean", seed)
    drop = log[0]["first_classes_accuracy"] - lowest_first_classes("nearest class mean", seed)
    assert drop < 0.1, drop
