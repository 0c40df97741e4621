"""Time owll_helpers' Mahalanobis and OpenMax against the same computation elsewhere (a benchmark, not a test).

The inputs are those of chapter 5's open-set page: a multilayer perceptron
(two hidden layers of 256 ReLU units) trained on the digits 0-5 (seed 0, Adam,
30 epochs); the detectors are fitted on the 650 training digits' penultimate
features (Mahalanobis) or logits (OpenMax) and score the known test digits
and the unknown sets of that page together (1402 inputs), and the same
inputs repeated 10 times.

Compared, in one run, on the same inputs:

- Mahalanobis: ``owll_helpers.detectors.Mahalanobis`` (float64, pseudo-inverse);
  scikit-learn's ``EmpiricalCovariance`` on the class-centred features, the
  smallest of its squared distances to the class means; pytorch-ood's
  ``Mahalanobis`` (``fit_features``/``predict_features``) when installed.
- OpenMax (Euclidean, tail size 20, alpha 3, translate 10^4):
  ``owll_helpers.detectors.OpenMax``; a plain NumPy/SciPy Algorithm 1 and 2
  written below; pytorch-ood's ``OpenMax`` (``fit_logits``/``predict_logits``)
  when installed.

pytorch-ood is a benchmark-only dependency, not a course one: it is not in
``requirements.txt`` or ``pyproject.toml``. Install it into a separate folder
(``pip install --no-deps --target DIR pytorch-ood``) and run with
``PYTHONPATH=DIR``; without it the script says so and times the others.

Run pinned, like the tests::

    .venv/bin/python -m owll_helpers.numerics -- .venv/bin/python tools/bench_detectors.py

Prints a Markdown table: median wall time of ``repeats`` runs of fit and of
score, and how far each result is from owll_helpers' on the same inputs
(largest absolute difference of the scores; for pytorch-ood's Mahalanobis,
which uses an unnormalised covariance plus 1e-6 I and an ordinary inverse in
float32, the Spearman correlation with minus its outlier score instead).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr, weibull_min
from sklearn.covariance import EmpiricalCovariance

from owll_helpers.detectors import Mahalanobis, OpenMax
from owll_helpers.models import mlp
from owll_helpers.ood_data import load_open_set_digits, natural_patches, rendered_letters, scaled, uniform_noise
from owll_helpers.train import fit

TAILSIZE, ALPHA, TRANSLATE = 20, 3, 10000.0


def inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    """Training features, logits and labels, and the scored inputs, of chapter 5's open-set page."""
    digits = load_open_set_digits((0, 1, 2, 3, 4, 5), seed=seed)
    torch.manual_seed(seed)
    model = mlp(64, 6, depth=2, width=256)
    fit(model, digits.known.train, epochs=30, lr=1e-3, batch_size=64, optimizer="adam", seed=seed, progress=False)
    model.eval()
    unknown = digits.unknown.test.x
    scored = torch.cat(
        [
            digits.known.test.x,
            unknown,
            scaled(unknown, 10.0),
            uniform_noise(300, seed=100 + seed),
            rendered_letters(300, seed=100 + seed),
            natural_patches(300, seed=100 + seed),
        ]
    )
    with torch.no_grad():
        train_features = model[:-1](digits.known.train.x)
        features = model[:-1](scored)
        return {
            "train_features": train_features,
            "train_logits": model[-1](train_features),
            "train_labels": digits.known.train.y,
            "features": features,
            "logits": model[-1](features),
        }


# --- scikit-learn Mahalanobis --------------------------------------------------------------------


def sklearn_mahalanobis_fit(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, EmpiricalCovariance]:
    means = np.stack([features[labels == c].mean(axis=0) for c in range(labels.max() + 1)])
    return means, EmpiricalCovariance(assume_centered=True).fit(features - means[labels])


def sklearn_mahalanobis_score(fitted: tuple[np.ndarray, EmpiricalCovariance], features: np.ndarray) -> np.ndarray:
    means, covariance = fitted
    return -np.min([covariance.mahalanobis(features - m) for m in means], axis=0)


# --- plain NumPy/SciPy OpenMax (Algorithms 1 and 2, the authors' code's form) ----------------------


def numpy_openmax_fit(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    correct = logits.argmax(axis=1) == labels
    mavs, tails = [], []
    for c in range(logits.shape[1]):
        members = logits[correct & (labels == c)]
        mav = members.mean(axis=0)
        tail = np.sort(np.linalg.norm(members - mav, axis=1))[-TAILSIZE:]
        shape, _, scale = weibull_min.fit(tail + TRANSLATE - tail[0], floc=0)
        mavs.append(mav)
        tails.append((shape, scale, tail[0]))
    return np.stack(mavs), tails


def numpy_openmax_unknown(fitted: tuple[np.ndarray, list[tuple[float, float, float]]], logits: np.ndarray) -> np.ndarray:
    mavs, tails = fitted
    distances = np.linalg.norm(logits[:, None, :] - mavs[None, :, :], axis=2)
    shifted = distances + TRANSLATE - np.array([t[2] for t in tails])
    shapes, scales = np.array([t[0] for t in tails]), np.array([t[1] for t in tails])
    cdf = np.where(shifted > 0, -np.expm1(-np.power(np.clip(shifted, 0, None) / scales, shapes)), 0.0)
    ranking = np.argsort(-logits, axis=1, kind="stable")[:, :ALPHA]
    rank_weight = np.zeros_like(logits)
    np.put_along_axis(rank_weight, ranking, (ALPHA + 1 - np.arange(1, ALPHA + 1)) / ALPHA, axis=1)
    weights = 1 - rank_weight * cdf
    activations = np.concatenate([logits * weights, (logits * (1 - weights)).sum(axis=1, keepdims=True)], axis=1)
    activations -= activations.max(axis=1, keepdims=True)
    probabilities = np.exp(activations)
    return (probabilities / probabilities.sum(axis=1, keepdims=True))[:, -1]


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    try:
        import pytorch_ood.detector as pood
    except ImportError:
        pood = None
        print("pytorch-ood is not installed: timing owll_helpers, scikit-learn and plain NumPy only.\n")

    data = inputs()
    train_f, train_z, train_y = data["train_features"], data["train_logits"], data["train_labels"]
    rows = []
    for tiling in (1, 10):
        feats, logits = data["features"].repeat(tiling, 1), data["logits"].repeat(tiling, 1)
        n = len(feats)

        # Mahalanobis
        fit_s, ours = median_seconds(lambda: Mahalanobis().fit(train_f, train_y), args.repeats)
        score_s, reference = median_seconds(lambda: ours.score(feats), args.repeats)
        reference = reference.numpy()
        rows.append(("Mahalanobis", "owll_helpers", n, fit_s, score_s, "reference"))
        f64, y = train_f.double().numpy(), train_y.numpy()
        fit_s, fitted = median_seconds(lambda: sklearn_mahalanobis_fit(f64, y), args.repeats)
        score_s, theirs = median_seconds(lambda: sklearn_mahalanobis_score(fitted, feats.double().numpy()), args.repeats)
        rows.append(("Mahalanobis", "scikit-learn EmpiricalCovariance", n, fit_s, score_s,
                     f"max abs diff {np.abs(theirs - reference).max():.1e}"))
        if pood is not None:
            fit_s, detector = median_seconds(lambda: pood.Mahalanobis(None).fit_features(train_f, train_y), args.repeats)
            score_s, theirs = median_seconds(lambda: detector.predict_features(feats), args.repeats)
            rho = spearmanr(-theirs.numpy(), reference).statistic
            rows.append(("Mahalanobis", "pytorch-ood (sum, +1e-6 I, inv, float32)", n, fit_s, score_s,
                         f"Spearman {rho:.4f}"))

        # OpenMax
        fit_s, ours = median_seconds(lambda: OpenMax(tailsize=TAILSIZE, alpha=ALPHA, translate=TRANSLATE).fit(train_z, train_y),
                                     args.repeats)
        score_s, reference = median_seconds(lambda: ours.probabilities(logits.double())[:, -1], args.repeats)
        reference = reference.numpy()
        rows.append(("OpenMax", "owll_helpers", n, fit_s, score_s, "reference"))
        z64 = train_z.double().numpy()
        fit_s, fitted = median_seconds(lambda: numpy_openmax_fit(z64, y), args.repeats)
        score_s, theirs = median_seconds(lambda: numpy_openmax_unknown(fitted, logits.double().numpy()), args.repeats)
        rows.append(("OpenMax", "plain NumPy/SciPy", n, fit_s, score_s,
                     f"max abs diff {np.abs(theirs - reference).max():.1e}"))
        if pood is not None:
            fit_s, detector = median_seconds(
                lambda: pood.OpenMax(None, tailsize=TAILSIZE, alpha=ALPHA, euclid_weight=1.0).fit_logits(train_z, train_y),
                args.repeats,
            )
            score_s, theirs = median_seconds(lambda: detector.predict_logits(logits.double()), args.repeats)
            rows.append(("OpenMax", "pytorch-ood (exponweib, per-input loop)", n, fit_s, score_s,
                         f"max abs diff {np.abs(theirs.numpy() - reference).max():.1e}"))

    print(f"Fitted on {len(train_f)} training digits ({train_f.shape[1]} features, {train_z.shape[1]} logits); "
          f"median of {args.repeats} runs; torch {torch.__version__}, {torch.get_num_threads()} thread(s).\n")
    print("| detector | implementation | inputs scored | fit (ms) | score (ms) | agreement with owll_helpers |")
    print("|---|---|---:|---:|---:|---|")
    for detector, implementation, n, fit_s, score_s, agreement in rows:
        print(f"| {detector} | {implementation} | {n} | {fit_s * 1e3:.3g} | {score_s * 1e3:.3g} | {agreement} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
