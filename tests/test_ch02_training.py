"""What chapter 2's training notebooks teach, asserted on seeds 0, 1 and 2.

``book/02_normalization/04_learning_rates.ipynb``: a 6-layer ReLU MLP (128
units, Kaiming init with and without batch norm), SGD with momentum 0.9,
batches of 64, 5 epochs, validation accuracy. A run whose loss became NaN
counts as accuracy 0. Then the loss landscape along the gradient (Santurkar et
al. 2018, Sec. 3.1), probed every 5 steps while both networks train at
learning rate 0.05; "comparable progress" means the probes at which the
mini-batch loss L(w) lay in [0.1, 1).

``book/02_normalization/05_batch_size.ipynb``: a 4-layer ReLU MLP (128 units,
Kaiming init) with no normalization, batch norm or group norm (8 groups),
2 epochs of SGD with momentum 0.9 and learning rate 0.05 * batch size / 64,
test accuracy; the CNN is ``cnn(1, 10, channels=(16, 32), norm="batch")`` on
the 8x8 images with the same training.

Each threshold is about half of the smallest margin measured over the three
seeds (with the pinned kernels); the measured value is written beside it.
The seed picks the data split, the initial weights and the batch order.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from owll_helpers.data import load_digits_splits
from owll_helpers.models import cnn, mlp
from owll_helpers.smoothness import probe_during_training
from owll_helpers.train import evaluate, fit

SEEDS = (0, 1, 2)

# --- learning rates (04_learning_rates) ----------------------------------------

HIGH_LEARNING_RATES = (0.2, 0.5, 1.0)
STEP_SIZES = (0.01, 0.05, 0.2, 0.5, 1.0)
COMPARABLE = (0.1, 1.0)  # mini-batch loss window of "comparable progress"


def six_layers(seed: int, norm: str | None) -> nn.Sequential:
    torch.manual_seed(seed)
    return mlp(64, 10, depth=6, width=128, activation="relu", norm=norm, init="kaiming_normal")


@functools.lru_cache(maxsize=None)
def val_accuracy(seed: int, norm: str | None, lr: float) -> float:
    """Validation accuracy after 5 epochs; 0 for a run that diverged."""
    data = load_digits_splits(seed=seed)
    history = fit(six_layers(seed, norm), data.train, epochs=5, lr=lr, momentum=0.9, batch_size=64,
                  val=data.val, seed=seed, progress=False)
    return 0.0 if history.diverged else history.val_accuracy[-1]


@functools.lru_cache(maxsize=None)
def landscape(seed: int, norm: str | None) -> dict[str, float | np.ndarray]:
    """Medians over the probes at comparable progress (the notebook's printed summary)."""
    data = load_digits_splits(seed=seed)
    record = probe_during_training(six_layers(seed, norm), data.train, STEP_SIZES, epochs=5, lr=0.05,
                                   batch_size=64, momentum=0.9, every=5, seed=seed)
    probes = [p for p in record.probes if COMPARABLE[0] <= p.loss < COMPARABLE[1]]
    assert len(probes) >= 3, f"only {len(probes)} probes with a loss in {COMPARABLE} (norm {norm}, seed {seed})"
    return {
        "n": len(probes),
        "loss_range": float(np.median([p.loss_range for p in probes])),
        "gradient_change": float(np.median([p.max_gradient_change for p in probes])),
        "local_beta": float(np.median([float(p.gradient_changes[0] / (STEP_SIZES[0] * p.gradient_norm)) for p in probes])),
        "loss_change": np.median([(p.losses - p.loss).numpy() for p in probes], axis=0),
    }


# --- batch size (05_batch_size) ------------------------------------------------


def train_small_batches(model: nn.Module, train, batch_size: int, seed: int):
    return fit(model, train, epochs=2, lr=0.05 * batch_size / 64, momentum=0.9, batch_size=batch_size,
               seed=seed, progress=False)


def reestimate_statistics(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> None:
    """The notebook's re-estimation: reset, cumulative average over x in train mode, no grad."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            model(x[start : start + batch_size])
    for m in norms:
        m.momentum = 0.1
    model.eval()


@functools.lru_cache(maxsize=None)
def mlp_run(seed: int, norm: str | None, batch_size: int) -> dict[str, float]:
    data = load_digits_splits(seed=seed)
    torch.manual_seed(seed)
    model = mlp(64, 10, depth=4, width=128, activation="relu", norm=norm, init="kaiming_normal")
    history = train_small_batches(model, data.train, batch_size, seed)
    result = {"test": evaluate(model, data.test)[1], "train_on_the_fly": history.train_accuracy[-1]}
    if norm == "batch":
        reestimate_statistics(model, data.train.x)
        result["test_reestimated"] = evaluate(model, data.test)[1]
    return result


@functools.lru_cache(maxsize=None)
def cnn_test_accuracy(seed: int, batch_size: int) -> float:
    images = load_digits_splits(seed=seed, images=True)
    torch.manual_seed(seed)
    model = cnn(1, 10, channels=(16, 32), norm="batch", init="kaiming_normal")
    train_small_batches(model, images.train, batch_size, seed)
    return evaluate(model, images.test)[1]


# --- tests: learning rates -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_plain_net_fails_at_high_learning_rates_where_batch_norm_trains(seed):
    for lr in HIGH_LEARNING_RATES:
        plain, bn = val_accuracy(seed, None, lr), val_accuracy(seed, "batch", lr)
        # BN at lr 0.2, 0.5, 1: measured minimum 0.906 (seed 2, lr 1); chance is 0.1.
        assert bn >= 0.5, f"lr {lr}: batch norm reached only {bn:.3g}"
        # Plain: NaN (counted 0) or chance (0.100). Smallest gap measured: 0.856 (seed 2, lr 0.2).
        assert bn - plain >= 0.43, f"lr {lr}: plain {plain:.3g} is not far below batch norm {bn:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_both_nets_train_at_a_small_learning_rate(seed):
    # lr 0.02: measured minimum 0.928 (plain, seed 2) and 0.956 (BN, seed 1).
    for norm in (None, "batch"):
        accuracy = val_accuracy(seed, norm, 0.02)
        assert accuracy >= 0.5, f"norm {norm}, lr 0.02: validation accuracy {accuracy:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_has_a_limit_too(seed):
    at_two, at_005 = val_accuracy(seed, "batch", 2.0), val_accuracy(seed, "batch", 0.05)
    # Measured drop from lr 0.05 to lr 2: 0.542 (seed 0), 0.852, 0.781.
    assert at_005 - at_two >= 0.27, f"batch norm: {at_005:.3g} at lr 0.05, {at_two:.3g} at lr 2"


# --- tests: the landscape along the gradient ---------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_loss_varies_far_less_along_the_gradient_with_batch_norm(seed):
    plain, bn = landscape(seed, None), landscape(seed, "batch")
    ratio = plain["loss_range"] / bn["loss_range"]
    # Median spread of L(w - eta g): measured ratio plain / BN 96.8, 102, 74.1 (minimum seed 2).
    assert ratio >= 35, f"spread of the loss along the gradient: plain {plain['loss_range']:.3g}, BN {bn['loss_range']:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_large_steps_raise_the_plain_loss_and_lower_the_batch_norm_loss(seed):
    plain, bn = landscape(seed, None), landscape(seed, "batch")
    big = [STEP_SIZES.index(0.5), STEP_SIZES.index(1.0)]
    # Median L(w - eta g) - L(w) at eta 0.5 and 1: plain at least +1.85 (seed 2, eta 0.5),
    # BN at most -0.133 (seed 2, eta 1).
    assert min(plain["loss_change"][big]) >= 0.9, f"plain: loss change {plain['loss_change'][big]} at eta 0.5, 1"
    assert max(bn["loss_change"][big]) <= -0.06, f"BN: loss change {bn['loss_change'][big]} at eta 0.5, 1"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_the_gradient_stays_more_predictive_with_batch_norm(seed):
    plain, bn = landscape(seed, None), landscape(seed, "batch")
    ratio = plain["gradient_change"] / bn["gradient_change"]
    # Median of max ||g(w) - g(w - eta g)||: measured ratio plain / BN 42.1, 41.8, 28.1 (minimum seed 2).
    assert ratio >= 14, f"gradient change: plain {plain['gradient_change']:.3g}, BN {bn['gradient_change']:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_locally_the_two_landscapes_are_alike(seed):
    plain, bn = landscape(seed, None), landscape(seed, "batch")
    ratio = plain["local_beta"] / bn["local_beta"]
    # ||g(w) - g(w - 0.01 g)|| / (0.01 ||g||): measured ratio plain / BN 1.64, 1.51, 1.12.
    assert 1 / 3 <= ratio <= 3, f"local curvature along g: plain {plain['local_beta']:.3g}, BN {bn['local_beta']:.3g}"


# --- tests: batch size -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_breaks_at_batch_size_two(seed):
    bn2, bn64, gn2 = mlp_run(seed, "batch", 2)["test"], mlp_run(seed, "batch", 64)["test"], mlp_run(seed, "group", 2)["test"]
    # Measured GN - BN at batch size 2: at least 0.527 (seed 1).
    assert gn2 - bn2 >= 0.26, f"batch size 2: group norm {gn2:.3g}, batch norm {bn2:.3g}"
    # Measured BN at 64 - BN at 2: at least 0.591 (seed 1).
    assert bn64 - bn2 >= 0.3, f"batch norm: {bn64:.3g} at batch size 64, {bn2:.3g} at 2"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_without_batch_statistics_batch_size_two_costs_little(seed):
    for norm in (None, "group"):
        small, large = mlp_run(seed, norm, 2)["test"], mlp_run(seed, norm, 64)["test"]
        # Measured accuracy at 2 minus at 64: at least -0.008 (no norm, seed 0), -0.006 (GN, seed 2).
        assert small >= large - 0.05, f"norm {norm}: {small:.3g} at batch size 2, {large:.3g} at 64"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_fails_on_its_own_training_batches(seed):
    bn, gn = mlp_run(seed, "batch", 2)["train_on_the_fly"], mlp_run(seed, "group", 2)["train_on_the_fly"]
    # Last-epoch training accuracy at batch size 2: measured GN - BN at least 0.715 (seed 1).
    assert gn - bn >= 0.35, f"training accuracy at batch size 2: group norm {gn:.3g}, batch norm {bn:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_reestimated_statistics_do_not_close_the_gap(seed):
    run = mlp_run(seed, "batch", 2)
    gn2 = mlp_run(seed, "group", 2)["test"]
    # Measured GN - re-estimated BN: at least 0.44 (seed 1).
    assert gn2 - run["test_reestimated"] >= 0.22, (
        f"re-estimated batch norm {run['test_reestimated']:.3g} (as trained {run['test']:.3g}), group norm {gn2:.3g}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_a_cnn_with_batch_norm_is_far_less_sensitive_to_batch_size(seed):
    cnn2, cnn64 = cnn_test_accuracy(seed, 2), cnn_test_accuracy(seed, 64)
    mlp_drop = mlp_run(seed, "batch", 64)["test"] - mlp_run(seed, "batch", 2)["test"]
    # Measured: CNN at batch size 2 at least 0.936 (seed 1); MLP drop minus CNN drop at least 0.563 (seed 1).
    assert cnn2 >= 0.5, f"CNN with batch norm at batch size 2: {cnn2:.3g}"
    assert mlp_drop - (cnn64 - cnn2) >= 0.28, (
        f"drop from batch size 64 to 2: MLP {mlp_drop:.3g}, CNN {cnn64 - cnn2:.3g}"
    )


def test_two_samples_normalize_to_plus_and_minus_one():
    # The reason of the notebook: with a batch of 2, every normalized value is
    # d / sqrt(d^2 + eps) with d half the difference of the two samples.
    layer = nn.BatchNorm1d(50)
    pair = torch.randn(2, 50, generator=torch.Generator().manual_seed(0))
    out = layer(pair)
    d = (pair[0] - pair[1]) / 2
    assert torch.allclose(out[0], d / torch.sqrt(d**2 + layer.eps), atol=1e-5)
    assert torch.allclose(out[1], -out[0], atol=1e-6)
    # Within 0.01 of +-1 wherever the two samples differ by more than 14 sqrt(eps), as the notebook says.
    apart = (pair[0] - pair[1]).abs() > 14 * math.sqrt(layer.eps)
    assert apart.sum() >= 40
    assert bool(((out[:, apart].abs() - 1).abs() < 0.01).all())
