"""What chapter 5's pages on Mahalanobis, OpenMax and open-set evaluation teach, asserted on seeds 0, 1 and 2.

``book/05_evt_openmax/03_openmax.ipynb`` and ``04_open_set_evaluation.ipynb``:
the digits 0-5 are the known classes (``load_open_set_digits``), 6-9 are held
out. The model is ``mlp(64, 6, depth=2, width=256)``, ``torch.manual_seed(seed)``,
Adam with learning rate 1e-3, batches of 64, 30 epochs. Scores (larger = more
in-distribution), each fitted on the training digits: max softmax, max logit,
Mahalanobis on the penultimate features (raw and L2-normalised; class means,
one shared biased covariance, pseudo-inverse) and OpenMax (Euclidean
distances of the logits, tail size 20, alpha 3, translate 10^4; score
1 - P(unknown)). Unknowns: the 143 held-out test digits (near the data), the
same digits scaled by 10, and 300 each of uniform noise, rendered letters and
natural patches drawn with seed 100 + seed (far from the data). AUROC with the
known test digits as the positive class.

Each threshold is about half of the smallest margin measured over the three
seeds (pinned kernels); the measured values are written beside each
threshold. The seed picks the data split, the unknown sets, the initial
weights and the batch order.
"""

from __future__ import annotations

import functools

import pytest
import torch

from owll_helpers.detectors import Mahalanobis, MaxLogit, MaxSoftmax, OpenMax
from owll_helpers.metrics import auroc
from owll_helpers.models import mlp
from owll_helpers.ood_data import load_open_set_digits, natural_patches, rendered_letters, scaled, uniform_noise
from owll_helpers.train import fit

SEEDS = (0, 1, 2)
KNOWN = (0, 1, 2, 3, 4, 5)
C = len(KNOWN)
#: score name: (detector factory, fitted on and scoring "features" or "logits")
SCORES = {
    "max softmax": (MaxSoftmax, "logits"),
    "max logit": (MaxLogit, "logits"),
    "Mahalanobis": (Mahalanobis, "features"),
    "Mahalanobis, L2": (functools.partial(Mahalanobis, normalize=True), "features"),
    "OpenMax": (functools.partial(OpenMax, tailsize=20, alpha=3, translate=10000.0), "logits"),
}

pytestmark = pytest.mark.slow


@functools.lru_cache(maxsize=None)
def trained(seed: int):
    digits = load_open_set_digits(KNOWN, seed=seed)
    torch.manual_seed(seed)
    model = mlp(64, C, depth=2, width=256)
    fit(model, digits.known.train, epochs=30, lr=1e-3, batch_size=64, optimizer="adam", seed=seed, progress=False)
    return digits, model.eval()


def outputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        features = model[:-1](x)
        return {"features": features, "logits": model[-1](features)}


@functools.lru_cache(maxsize=None)
def measured(seed: int) -> dict:
    digits, model = trained(seed)
    unknowns = {
        "held-out": digits.unknown.test.x,
        "scaled": scaled(digits.unknown.test.x, 10.0),
        "uniform noise": uniform_noise(300, seed=100 + seed),
        "letters": rendered_letters(300, seed=100 + seed),
        "natural patches": natural_patches(300, seed=100 + seed),
    }
    train, known = outputs(model, digits.known.train.x), outputs(model, digits.known.test.x)
    result = {"accuracy": float((known["logits"].argmax(dim=1) == digits.known.test.y).float().mean())}
    for score, (make, kind) in SCORES.items():
        detector = make().fit(train[kind], digits.known.train.y)
        known_scores = detector.score(known[kind])
        for set_name, x in unknowns.items():
            result[set_name, score] = auroc(known_scores, detector.score(outputs(model, x)[kind]))
    openmax = OpenMax(tailsize=20, alpha=3, translate=10000.0).fit(train["logits"], digits.known.train.y)
    result["openmax probabilities"] = torch.cat(
        [openmax.probabilities(known["logits"]), *(openmax.probabilities(outputs(model, x)["logits"]) for x in unknowns.values())]
    )
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_the_closed_set_classifier_is_good(seed):
    # Measured accuracy on the 216 known test digits: 0.986-0.995.
    assert measured(seed)["accuracy"] > 0.97


@pytest.mark.parametrize("seed", SEEDS)
def test_far_from_the_data_distances_win_and_max_softmax_is_below_chance(seed):
    # Held-out digits scaled by 10. AUROC measured: max softmax 0.205-0.266 (below chance: the
    # network is more confident on them than on the known test digits); Mahalanobis minus max
    # softmax 0.734-0.795; L2-normalised Mahalanobis minus max softmax 0.730-0.788; OpenMax minus
    # max softmax 0.690-0.792 (OpenMax itself 0.929-0.998).
    result = measured(seed)
    softmax = result["scaled", "max softmax"]
    assert softmax < 0.38, softmax
    for score, threshold in (("Mahalanobis", 0.37), ("Mahalanobis, L2", 0.36), ("OpenMax", 0.35)):
        assert result["scaled", score] - softmax > threshold, (score, result["scaled", score], softmax)


@pytest.mark.parametrize("seed", SEEDS)
def test_on_uniform_noise_mahalanobis_beats_max_softmax(seed):
    # AUROC measured: Mahalanobis 1.000 (raw and L2), max softmax 0.754-0.857: a margin of
    # 0.143-0.246. OpenMax (0.845-0.901) is above max softmax by only 0.027-0.091 (the lead's
    # earlier measurement had it below on one seed): too thin and unstable to assert.
    result = measured(seed)
    for score in ("Mahalanobis", "Mahalanobis, L2"):
        assert result["uniform noise", score] - result["uniform noise", "max softmax"] > 0.07, score


@pytest.mark.parametrize("seed", SEEDS)
def test_near_the_data_max_softmax_beats_openmax_and_mahalanobis(seed):
    # Held-out digits 6-9, AUROC measured: max softmax 0.956-0.966, max logit 0.969-0.988,
    # OpenMax 0.900-0.927, Mahalanobis 0.856-0.896, L2-normalised 0.932-0.944. Margins of max
    # softmax over OpenMax 0.029-0.066, over Mahalanobis 0.067-0.110, over the L2-normalised
    # one 0.017-0.031; max logit over max softmax 0.011-0.022.
    result = measured(seed)
    softmax = result["held-out", "max softmax"]
    for score, threshold in (("OpenMax", 0.014), ("Mahalanobis", 0.033), ("Mahalanobis, L2", 0.008)):
        assert softmax - result["held-out", score] > threshold, (score, softmax, result["held-out", score])
    assert result["held-out", "max logit"] - softmax > 0.005


@pytest.mark.parametrize("seed", SEEDS)
def test_on_letters_and_patches_mahalanobis_beats_max_softmax(seed):
    # AUROC measured. Letters: Mahalanobis 0.989-0.994, L2 0.998-0.999, max softmax 0.835-0.885
    # (margins 0.105-0.164); OpenMax 0.862-0.877, within -0.008 to +0.027 of max softmax, not
    # asserted. Natural patches: Mahalanobis 1.000 (raw and L2), max softmax 0.676-0.708
    # (margins 0.292-0.324); OpenMax 0.820-0.897, above max softmax by 0.112-0.221.
    result = measured(seed)
    for score in ("Mahalanobis", "Mahalanobis, L2"):
        assert result["letters", score] - result["letters", "max softmax"] > 0.05, score
        assert result["natural patches", score] - result["natural patches", "max softmax"] > 0.15, score
    assert result["natural patches", "OpenMax"] - result["natural patches", "max softmax"] > 0.056


@pytest.mark.parametrize("seed", SEEDS)
def test_openmax_probabilities_are_a_distribution_over_c_plus_one_classes(seed):
    # Known test digits and all five unknown sets. Measured: the smallest probability is exactly 0
    # (54-130 entries per seed, underflow in float32 for inputs far away), none negative; the largest
    # deviation of a row sum from 1 is 1.2e-7 (float32).
    probabilities = measured(seed)["openmax probabilities"]
    assert probabilities.shape[1] == C + 1
    assert bool((probabilities >= 0).all())
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(len(probabilities)), rtol=0, atol=1e-5)
