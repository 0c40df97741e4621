"""The open-world loop: detect the unknown, choose what to label, label, update.

"An effective open world recognition system must efficiently perform four
tasks: detect unknown, choose which points to label for addition to the
model, label the points, and update the model" (Boult et al. 2019, Sec. 4;
Bendale & Boult 2015, Sec. 3). This module holds the pieces of chapter 6:

- :class:`NearestClassMean` -- a nearest-class-mean classifier on fixed
  features that rejects an input whose distance to the nearest mean exceeds a
  threshold, and grows by new classes without retraining. It is the nearest
  non-outlier (NNO) idea of Bendale & Boult (2015, Sec. 4) with the identity
  as the metric: NNO and Mensink et al. (2013) *learn* a linear map of the
  features first, we do not (a simplification);
- :func:`select_queries` -- which pool samples to send to the oracle:
  the least in-distribution ones first (uncertainty sampling, Settles 2009,
  Sec. 3.1) or a seeded random choice;
- :func:`open_world_round` -- one round of the loop on an unlabelled pool;
- :class:`NetworkLearner` -- the same interface around a small MLP that is
  retrained from scratch, or fine-tuned on the new labels with or without
  *replay* of stored old examples (Rebuffi et al. 2017, iCaRL's exemplars);
- :func:`simulate_open_world` -- rounds of the loop on
  :func:`~owll_helpers.data.open_world_digits`, with the per-round test
  metrics the chapter plots.

A *learner* is any object with ``classes`` (the labels it holds),
``fit(x, y)``, ``add_classes(x, y)``, ``predict(x)`` (a label, or
:data:`~owll_helpers.data.UNKNOWN_LABEL` for a rejected input) and
``score(x)`` (larger for "more in-distribution", the course's convention).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from ._checks import check_choice, check_fraction, check_labels, check_positive_int, check_tensor
from .data import UNKNOWN_LABEL, OpenWorldDigits, Split, flip_labels
from .detectors import Mahalanobis
from .metrics import all_class_accuracy, auroc, known_class_accuracy
from .models import mlp
from .train import fit as fit_network
from .train import predict_logits

#: Strategies of :func:`select_queries`.
STRATEGIES: tuple[str, ...] = ("uncertain", "random")
#: Updates of :class:`NetworkLearner`.
UPDATES: tuple[str, ...] = ("retrain", "finetune")
#: Scores of :class:`NetworkLearner`.
NETWORK_SCORES: tuple[str, ...] = ("max_softmax", "mahalanobis")


class Learner(Protocol):
    """What :func:`open_world_round` needs of a learner."""

    @property
    def classes(self) -> torch.Tensor: ...

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> Any: ...

    def add_classes(self, features: torch.Tensor, labels: torch.Tensor) -> Any: ...

    def predict(self, features: torch.Tensor) -> torch.Tensor: ...

    def score(self, features: torch.Tensor) -> torch.Tensor: ...


def _check_features_and_labels(features: object, labels: object) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor(features, "features", ndim=2, dtype_kind="float", finite=True)
    assert isinstance(features, torch.Tensor)
    check_labels(labels, "labels", features.shape[0])
    assert isinstance(labels, torch.Tensor)
    return features, labels


class NearestClassMean:
    """Nearest class mean with a distance threshold (NNO with the identity metric).

    ``predict`` gives the label of the nearest class mean (Euclidean
    distance; the lower label on a tie), or -1 when that distance exceeds
    ``threshold``. The threshold is the ``quantile`` (0.95) quantile, with
    linear interpolation (``torch.quantile``), of the distances of all
    training samples seen so far to their own class's mean, pooled over
    classes; it is recomputed after every ``fit`` and ``add_classes``, so
    about 95 % of the training data is accepted. Bendale & Boult (2015, Eq. 3)
    threshold the distance after a learned linear map ``W``; Mensink et al.
    (2013) learn that metric. Here ``W`` is the identity.

    ``add_classes`` updates the mean of a class it already holds as the
    running mean over all of that class's samples so far and adds a class for
    each new label; nothing is retrained. Distances are computed in float64.

    Attributes:
        classes: the labels held, sorted (int64).
        means: one mean per held class, in the order of ``classes`` (float64).
        counts: the number of samples behind each mean.
        threshold: the current rejection distance.
    """

    def __init__(self, quantile: float = 0.95) -> None:
        self.quantile = check_fraction(quantile, "quantile")
        self.classes = torch.empty(0, dtype=torch.int64)
        self.means = torch.empty(0, 0, dtype=torch.float64)
        self.counts = torch.empty(0, dtype=torch.int64)
        self.threshold = math.nan
        self._features = torch.empty(0, 0, dtype=torch.float64)
        self._labels = torch.empty(0, dtype=torch.int64)

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> NearestClassMean:
        """Forget everything and hold the classes of ``labels``, one mean each."""
        features, labels = _check_features_and_labels(features, labels)
        self.classes = torch.empty(0, dtype=torch.int64)
        self.means = features.new_zeros(0, features.shape[1], dtype=torch.float64)
        self.counts = torch.empty(0, dtype=torch.int64)
        self._features = torch.empty(0, features.shape[1], dtype=torch.float64)
        self._labels = torch.empty(0, dtype=torch.int64)
        return self.add_classes(features=features, labels=labels)

    def add_classes(self, features: torch.Tensor, labels: torch.Tensor) -> NearestClassMean:
        """Update the means of held classes with running means; add a class per new label."""
        features, labels = _check_features_and_labels(features, labels)
        if self._features.shape[1] != features.shape[1]:
            if len(self.classes):
                raise ValueError(f"features must have {self._features.shape[1]} columns like the ones fitted, got {features.shape[1]}")
            self._features = torch.empty(0, features.shape[1], dtype=torch.float64)
            self.means = features.new_zeros(0, features.shape[1], dtype=torch.float64)
        values = features.double()
        classes, means, counts = list(self.classes.tolist()), list(self.means), list(self.counts.tolist())
        for label in labels.unique().tolist():
            members = values[labels == label]
            if label in classes:
                k = classes.index(label)
                total = counts[k] + members.shape[0]
                means[k] = (counts[k] * means[k] + members.sum(dim=0)) / total
                counts[k] = total
            else:
                classes.append(label)
                means.append(members.mean(dim=0))
                counts.append(members.shape[0])
        order = sorted(range(len(classes)), key=lambda k: classes[k])
        self.classes = torch.tensor([classes[k] for k in order], dtype=torch.int64)
        self.means = torch.stack([means[k] for k in order])
        self.counts = torch.tensor([counts[k] for k in order], dtype=torch.int64)
        self._features = torch.cat([self._features, values])
        self._labels = torch.cat([self._labels, labels])
        own = torch.searchsorted(self.classes, self._labels)
        own_distances = (self._features - self.means[own]).norm(dim=1)
        self.threshold = float(torch.quantile(own_distances, self.quantile))
        return self

    def _check_fitted(self, features: object) -> torch.Tensor:
        if not len(self.classes):
            raise RuntimeError("call fit(features, labels) before predict or score")
        check_tensor(features, "features", ndim=2, dtype_kind="float", finite=True, allow_empty=True)
        assert isinstance(features, torch.Tensor)
        if features.shape[1] != self.means.shape[1]:
            raise ValueError(f"features must have {self.means.shape[1]} columns like the ones fitted, got {features.shape[1]}")
        return features

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """Euclidean distances ``(N, C)`` of every row to every class mean (float64)."""
        values = self._check_fitted(features).double()
        return (values[:, None, :] - self.means[None, :, :]).norm(dim=2)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Minus the distance to the nearest class mean: larger for "more in-distribution"."""
        return -self.distances(features).min(dim=1).values

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The nearest mean's label, or -1 where its distance exceeds ``threshold``."""
        nearest = self.distances(features).min(dim=1)
        predictions = self.classes[nearest.indices]
        return torch.where(nearest.values > self.threshold, torch.full_like(predictions, UNKNOWN_LABEL), predictions)


def select_queries(scores: torch.Tensor, budget: int, strategy: str, seed: int = 0) -> torch.Tensor:
    """Indices of the ``budget`` pool samples to send to the oracle.

    ``"uncertain"`` takes the lowest in-distribution scores first (the
    samples the learner knows least; uncertainty sampling, Settles 2009,
    Sec. 3.1), ties broken by the lower index; ``"random"`` takes
    ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:budget]``.

    Raises:
        ValueError: for scores that are not a finite 1-D float tensor, a
            budget larger than the pool, or an unknown strategy.
    """
    check_tensor(scores, "scores", ndim=1, dtype_kind="float", finite=True)
    check_positive_int(budget, "budget", minimum=0)
    check_choice(strategy, "strategy", STRATEGIES)
    check_positive_int(seed, "seed", minimum=0)
    pool_size = len(scores)
    if budget > pool_size:
        raise ValueError(f"budget ({budget}) is larger than the pool ({pool_size} samples)")
    if strategy != "uncertain":  # "random"
        order = torch.randperm(pool_size, generator=torch.Generator().manual_seed(seed))
        return order.narrow(0, 0, budget)
    return torch.sort(scores, stable=True).indices[:budget]


def open_world_round(
    learner: Learner,
    pool_features: torch.Tensor,
    oracle: Callable[[torch.Tensor], torch.Tensor],
    budget: int,
    strategy: str,
    seed: int = 0,
) -> dict[str, Any]:
    """One round of detect, choose, label and update on an unlabelled pool.

    1. *Detect*: the learner predicts every pool sample; -1 counts as flagged unknown.
    2. *Choose*: :func:`select_queries` on the learner's scores.
    3. *Label*: ``oracle(queried)`` returns the labels of those pool indices.
    4. *Update*: ``learner.add_classes`` with the queried samples and their labels.

    The accuracies are measured on the queried samples with the learner's
    predictions *before* the update (test, then train; a rejection, -1, is
    wrong): over those whose label is a class the learner held
    (``known_accuracy``, NaN when there is none) and over all of them
    (``all_accuracy``; a sample of a class not yet held is always wrong).
    :func:`simulate_open_world`'s keys of the same names are closed-set
    accuracies on a test set, not these.

    Returns:
        A dict with ``queried`` (int64 indices into ``pool_features``, in
        the order chosen), ``labels`` (the oracle's answers), ``new_classes``
        (sorted list of the labels the learner did not hold),
        ``classes_held`` (after the update), ``labels_spent`` (the number
        of queries), ``flagged_unknown`` (pool samples predicted -1 before
        the update), ``known_accuracy``, ``all_accuracy``, ``remaining``
        (sorted indices of the pool samples not queried) and
        ``pool_features`` (the pool without the queried samples).
    """
    check_tensor(pool_features, "pool_features", ndim=2, dtype_kind="float", finite=True)
    if not callable(oracle):
        raise TypeError(f"oracle must be a callable from pool indices to labels, got {type(oracle).__name__}")
    predictions = learner.predict(pool_features)
    queried = select_queries(learner.score(pool_features), budget, strategy, seed)
    answers = oracle(queried)
    check_labels(answers, "the oracle's labels", queried.shape[0], allow_empty=True)
    held_before = learner.classes.clone()
    asked = predictions[queried]
    known = torch.isin(answers, held_before)
    if len(queried):  # a budget of 0 asks nothing and changes nothing
        learner.add_classes(pool_features[queried], answers)
    keep = torch.ones(pool_features.shape[0], dtype=torch.bool)
    keep[queried] = False
    rest = keep.nonzero().flatten()
    return {
        "queried": queried.clone(),
        "labels": answers,
        "new_classes": sorted(set(answers.tolist()) - set(held_before.tolist())),
        "classes_held": int(learner.classes.numel()),
        "labels_spent": int(queried.shape[0]),
        "flagged_unknown": int((predictions == UNKNOWN_LABEL).sum()),
        "known_accuracy": float((asked[known] == answers[known]).double().mean()) if known.any() else math.nan,
        "all_accuracy": float((asked == answers).double().mean()) if len(answers) else math.nan,
        "remaining": rest,
        "pool_features": pool_features[rest],
    }


class NetworkLearner:
    """A small MLP as an open-world learner, with :class:`NearestClassMean`'s interface.

    The network has ``n_outputs`` logits from the start; the logits of classes
    it does not hold are masked out of the loss and the predictions, and the
    loss weighs each held class by the inverse of its number of labels (a
    class found with 2 labels counts as much as one with 100).

    Args:
        n_outputs: the most classes it may ever hold (10 digits).
        update: ``"retrain"`` trains a fresh network on every label so far
            after each ``add_classes``; ``"finetune"`` goes on training the
            current network on the new labels only, plus ``replay`` stored
            old examples (Rebuffi et al. 2017 keep exemplars per class).
        replay: old labelled examples drawn at random (seeded) and mixed into
            every fine-tuning update; 0 for none.
        score: ``"max_softmax"`` over the held classes, or ``"mahalanobis"``
            (minus the smallest squared Mahalanobis distance of the
            penultimate features to the held classes' means; Lee et al. 2018).
        epochs, finetune_epochs, lr, width, depth: training settings (Adam).
        seed: seed of the initialization, shuffling and replay choice.

    ``predict`` rejects (-1) inputs whose score is below the ``1 - quantile``
    quantile of the labelled training samples' scores (95 % of them accepted).

    The class weights count every label held so far, also in a fine-tuning
    update: there the few labels of a newly found class carry a large share
    of the loss (about 68 % at round 1 of chapter 6's runs, against 100 replayed
    examples), so replay is weaker than its sample count suggests. Building a
    network calls ``torch.manual_seed(seed + number of updates)``, which also
    sets the global generator. ``score`` keeps its last result for the same
    input tensor (unchanged in place) until the next update; after editing
    ``model`` by hand, call ``fit`` again.
    """

    def __init__(
        self,
        n_outputs: int = 10,
        *,
        update: str = "retrain",
        replay: int = 0,
        score: str = "max_softmax",
        epochs: int = 20,
        finetune_epochs: int = 20,
        lr: float = 1e-3,
        width: int = 128,
        depth: int = 2,
        quantile: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.n_outputs = check_positive_int(n_outputs, "n_outputs", minimum=2)
        self.update = check_choice(update, "update", UPDATES)
        self.replay = check_positive_int(replay, "replay", minimum=0)
        self.score_name = check_choice(score, "score", NETWORK_SCORES)
        self.epochs = check_positive_int(epochs, "epochs")
        self.finetune_epochs = check_positive_int(finetune_epochs, "finetune_epochs")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.width = check_positive_int(width, "width")
        self.depth = check_positive_int(depth, "depth", minimum=0)
        self.quantile = check_fraction(quantile, "quantile")
        self.seed = check_positive_int(seed, "seed", minimum=0)
        self.classes = torch.empty(0, dtype=torch.int64)
        self.model: nn.Sequential | None = None
        self.threshold = math.nan
        self._x = torch.empty(0)
        self._y = torch.empty(0, dtype=torch.int64)
        self._updates = 0
        self._mahalanobis: Mahalanobis | None = None
        self._last_scores: tuple[torch.Tensor, tuple[int, int], torch.Tensor] | None = None

    def _mask(self) -> torch.Tensor:
        mask = torch.full((self.n_outputs,), -math.inf)
        mask[self.classes] = 0.0
        return mask

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(self._y, minlength=self.n_outputs).double()
        weight = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts)).float()
        return nn.functional.cross_entropy(logits + self._mask(), labels, weight=weight)

    def _train(self, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
        assert self.model is not None
        fit_network(
            self.model, Split(x, y), epochs=epochs, lr=self.lr, optimizer="adam", loss_fn=self._loss,
            seed=self.seed + self._updates, progress=False,
        )
        self._updates += 1
        self.model.eval()
        if self.score_name == "mahalanobis":
            # Mahalanobis numbers classes 0..C-1: the position of each label among the held classes.
            self._mahalanobis = Mahalanobis().fit(self._features(self._x), torch.searchsorted(self.classes, self._y))
        self.threshold = float(torch.quantile(self.score(self._x), 1 - self.quantile))

    def _fresh_model(self, n_inputs: int) -> nn.Sequential:
        torch.manual_seed(self.seed + self._updates)
        return mlp(n_inputs, self.n_outputs, depth=self.depth, width=self.width)

    def fit(self, features: torch.Tensor, labels: torch.Tensor) -> NetworkLearner:
        """Train a fresh network on these labels only."""
        features, labels = _check_features_and_labels(features, labels)
        if int(labels.max()) >= self.n_outputs:
            raise ValueError(f"labels must be below n_outputs ({self.n_outputs}), got {int(labels.max())}")
        self._x, self._y = features, labels
        self._updates, self._last_scores = 0, None  # a second fit starts like the first
        self.classes = labels.unique()
        self.model = self._fresh_model(features.shape[1])
        self._train(features, labels, self.epochs)
        return self

    def add_classes(self, features: torch.Tensor, labels: torch.Tensor) -> NetworkLearner:
        """Add these labels (new classes or not) and update the network as ``update`` says."""
        if self.model is None:
            return self.fit(features, labels)
        features, labels = _check_features_and_labels(features, labels)
        if int(labels.max()) >= self.n_outputs:
            raise ValueError(f"labels must be below n_outputs ({self.n_outputs}), got {int(labels.max())}")
        if features.shape[1] != self._x.shape[1]:
            raise ValueError(f"features must have {self._x.shape[1]} columns like the ones fitted, got {features.shape[1]}")
        old_x, old_y = self._x, self._y
        self._x, self._y = torch.cat([old_x, features]), torch.cat([old_y, labels])
        self.classes = self._y.unique()
        if self.update == "retrain":
            self.model = self._fresh_model(features.shape[1])
            self._train(self._x, self._y, self.epochs)
            return self
        x, y = features, labels
        if self.replay:
            generator = torch.Generator().manual_seed(self.seed + self._updates)
            chosen = torch.randperm(old_x.shape[0], generator=generator)[: self.replay]
            x, y = torch.cat([x, old_x[chosen]]), torch.cat([y, old_y[chosen]])
        self._train(x, y, self.finetune_epochs)
        return self

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        assert self.model is not None
        with torch.no_grad():
            return self.model[:-1](x)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Logits with the classes not held masked to minus infinity."""
        if self.model is None:
            raise RuntimeError("call fit(features, labels) before predict or score")
        check_tensor(features, "features", ndim=2, dtype_kind="float", finite=True)
        return predict_logits(self.model, features) + self._mask()

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """The in-distribution score named by ``score`` (larger = more in-distribution)."""
        # A round scores the same pool twice (predict, then choose): keep the last result while
        # neither the network nor the tensor (its in-place version counter) has changed.
        # The cache holds the tensor itself, so its id cannot be reused by another one.
        key = (getattr(features, "_version", -1), self._updates)
        if self._last_scores is not None and self._last_scores[0] is features and self._last_scores[1] == key:
            return self._last_scores[2].clone()
        if self.score_name == "max_softmax" or self._mahalanobis is None:
            scores = self.logits(features).softmax(dim=1).max(dim=1).values
        else:
            scores = self._mahalanobis.score(self._features(features)).float()
        self._last_scores = (features, key, scores)
        return scores.clone()

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The most likely held class, or -1 where the score is below ``threshold``."""
        predictions = self.logits(features).argmax(dim=1)
        return torch.where(self.score(features) < self.threshold, torch.full_like(predictions, UNKNOWN_LABEL), predictions)


def _test_metrics(learner: Learner, world: OpenWorldDigits, test_x: torch.Tensor) -> dict[str, float]:
    labels = world.test.y
    predictions = learner.predict(test_x)
    closed = predictions.clone()
    if isinstance(learner, NearestClassMean):
        closed = learner.classes[learner.distances(test_x).argmin(dim=1)]
    elif isinstance(learner, NetworkLearner):
        closed = learner.logits(test_x).argmax(dim=1)
    held = torch.isin(labels, learner.classes)
    first = torch.isin(labels, torch.tensor(world.initial_classes))
    scores = learner.score(test_x)
    return {
        "known_accuracy": known_class_accuracy(closed, labels, learner.classes),
        "all_accuracy": all_class_accuracy(closed, labels),
        "first_classes_accuracy": known_class_accuracy(closed, labels, torch.tensor(world.initial_classes)) if first.any() else math.nan,
        "open_set_accuracy": all_class_accuracy(predictions, torch.where(held, labels, UNKNOWN_LABEL)),
        "unknown_auroc": auroc(scores[held], scores[~held]) if (~held).any() else math.nan,
    }


def simulate_open_world(
    learner: Learner,
    world: OpenWorldDigits,
    *,
    rounds: int = 5,
    budget: int = 10,
    strategy: str = "uncertain",
    oracle_error: float = 0.0,
    seed: int = 0,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> list[dict[str, Any]]:
    """Fit ``learner`` on ``world.start``, then run ``rounds`` rounds of :func:`open_world_round`.

    The oracle answers from the pool's true labels, of which a fraction
    ``oracle_error`` is changed to another class once, before the first
    round (:func:`~owll_helpers.data.flip_labels`: a noisy annotator that
    gives the same wrong answer if asked twice). Round ``r`` selects with
    seed ``seed + r``.

    Test metrics (on ``world.test``, all ten classes) after each round, with
    round 0 the start: ``known_accuracy`` (closed-set predictions among the
    held classes, on the test samples of held classes), ``all_accuracy`` (on
    every test sample; a class not held is always wrong),
    ``first_classes_accuracy`` (on the initial classes: forgetting),
    ``open_set_accuracy`` (with rejection; the right answer for a class not
    held is -1), ``unknown_auroc`` (held classes against the others, NaN
    once every class is held); plus ``classes_held`` and ``held_classes``
    (how many and which labels the learner holds), ``classes_found`` (new
    classes among the true labels of the queried samples so far),
    ``labels_spent``, ``wrong_labels`` (oracle errors so far) and the round's
    ``flagged_unknown``.

    Args:
        learner: a fresh learner (:class:`NearestClassMean`, :class:`NetworkLearner`).
        world: the start, pool and test data (:func:`~owll_helpers.data.open_world_digits`).
        transform: maps inputs to the features the learner sees (a frozen
            feature extractor), or ``None`` for the pixels.
    """
    check_positive_int(rounds, "rounds", minimum=0)
    check_fraction(oracle_error, "oracle_error", open_interval=False)
    check_positive_int(budget, "budget")
    check_positive_int(seed, "seed", minimum=0)
    if rounds * budget > len(world.pool):
        raise ValueError(f"{rounds} rounds of {budget} labels need {rounds * budget} pool samples; the pool holds {len(world.pool)}")
    features = transform or (lambda x: x)
    learner.fit(features(world.start.x), world.start.y)
    pool_x = features(world.pool.x)
    true_labels = world.pool.y
    n_classes = len(world.initial_classes) + len(world.new_classes)
    answers = flip_labels(world.pool, oracle_error, n_classes, seed=seed).y if oracle_error else true_labels
    test_x = features(world.test.x)
    pool_ids = torch.arange(len(world.pool))
    found: set[int] = set()
    spent, wrong = 0, 0
    log = [{"round": 0, **_test_metrics(learner, world, test_x), "classes_held": int(learner.classes.numel()),
            "held_classes": learner.classes.tolist(), "classes_found": 0, "labels_spent": 0, "wrong_labels": 0, "flagged_unknown": math.nan}]
    for r in range(1, rounds + 1):
        ids = pool_ids
        result = open_world_round(learner, pool_x, lambda queried: answers[ids[queried]], budget, strategy, seed + r)
        asked = pool_ids[result["queried"]]
        found |= set(true_labels[asked].tolist()) - set(world.initial_classes)
        spent += result["labels_spent"]
        wrong += int((answers[asked] != true_labels[asked]).sum())
        pool_ids, pool_x = pool_ids[result["remaining"]], result["pool_features"]
        log.append({"round": r, **_test_metrics(learner, world, test_x), "classes_held": result["classes_held"],
                    "held_classes": learner.classes.tolist(), "classes_found": len(found), "labels_spent": spent, "wrong_labels": wrong,
                    "flagged_unknown": result["flagged_unknown"]})
    return log
