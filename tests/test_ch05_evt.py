"""What chapter 5's pages on open space and extreme values teach, asserted on seeds 0, 1 and 2.

``book/05_evt_openmax/01_open_space.ipynb``:

- open space risk: chapter 3's two-moons network (400 points, ``mlp(2, 2,
  depth=2, width=16)``, Adam, learning rate 0.02, batches of 64, 40 epochs)
  claims with max softmax >= 0.99 a share of the box ``[-L, L]^2`` that grows
  with ``L``; the union of balls of radius 0.3 around the training points and
  a Mahalanobis acceptance region (raw 2-D inputs, 95 % of the training
  points accepted) have a fixed, bounded area, so their share shrinks like
  ``1 / L^2``; the open space risk ``R_O`` (share of the claimed area outside
  the balls) tends to 1 for the softmax and stays small for Mahalanobis;
- tent activations (Rozsa & Boult 2019), ``max(0, delta - |x|)`` with one
  learnable ``delta`` per layer: chapter 3's digits MLP 64-256-256-10 (Adam,
  learning rate 1e-3, batches of 64, 30 epochs) with tents instead of ReLUs
  loses no accuracy, and along ``alpha x`` its max softmax falls to a constant
  well below 1 while the ReLU network's rises to 1.

``book/05_evt_openmax/02_extreme_values.ipynb``:

- maxima of 1,000 blocks of 50 uniform samples: the GEV fit picks the
  reversed Weibull type (xi about -1), and the reversed Weibull
  (``weibull_max``, started from the GEV estimate) beats the Gumbel and the
  ordinary Weibull in log-likelihood;
- libMR's FitHigh (``owll_helpers.evt.fit_high``) is exactly scipy's
  ``weibull_min.fit(tail + translate - min(tail), floc=0)`` on the distances
  of chapter 5's digits network (digits 0-5, ``mlp(64, 6, depth=2,
  width=256)``, Adam 1e-3, batches of 64, 30 epochs) to its mean activation
  vectors, and its CDF is scipy's at the shifted distance;
- a full-sample Weibull fit recovers a known Weibull's parameters, FitHigh's
  shifted tail does not.

Each threshold is about half of the smallest margin measured over the three
seeds (pinned kernels), or, for an estimate that should match a known value,
about twice the largest error measured; the measured values are written
beside each threshold. The seed picks the data, the initial weights and the
batch order.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from owll_helpers.data import load_digits_splits, two_moons
from owll_helpers.detectors import Mahalanobis
from owll_helpers.evt import fit_high, mean_activation_vectors, weibull_cdf
from owll_helpers.metrics import auroc
from owll_helpers.models import mlp
from owll_helpers.ood_data import load_open_set_digits, scaled, uniform_noise
from owll_helpers.scores import max_softmax
from owll_helpers.train import evaluate, fit, predict_logits

SEEDS = (0, 1, 2)
TAU, RADIUS = 0.99, 0.3
SMALL_BOX, LARGE_BOX = 3, 100
TAIL = 20

pytestmark = pytest.mark.slow


# --- page 01: open space risk --------------------------------------------------------------------------------


def _grid(low_x: float, high_x: float, low_y: float, high_y: float, steps: int) -> tuple[torch.Tensor, float]:
    xs, ys = torch.linspace(low_x, high_x, steps), torch.linspace(low_y, high_y, steps)
    points = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    return points, (high_x - low_x) / (steps - 1) * (high_y - low_y) / (steps - 1)


@functools.lru_cache(maxsize=None)
def open_space(seed: int) -> dict:
    """The notebook's measurement on one seed: shares of the small and the large box, and the risks."""
    moons = two_moons(400, seed=seed)
    torch.manual_seed(seed)
    toy = mlp(2, 2, depth=2, width=16)
    fit(toy, moons, epochs=40, lr=0.02, optimizer="adam", batch_size=64, seed=seed, progress=False)
    maha = Mahalanobis().fit(moons.x, moons.y)
    threshold = torch.quantile(maha.score(moons.x), 0.05)

    def claimed(points: torch.Tensor) -> dict[str, torch.Tensor]:
        balls = torch.cat([torch.cdist(chunk, moons.x).min(dim=1).values <= RADIUS for chunk in points.split(20000)])
        return {
            "softmax": max_softmax(predict_logits(toy, points)) >= TAU,
            "balls": balls,
            "Mahalanobis": maha.score(points) >= threshold,
        }

    # The bounded regions' areas on a grid of step 0.02 around the data (the notebook uses 0.01).
    local, cell = _grid(-4.0, 5.0, -4.0, 4.5, 451)
    near = claimed(local)
    edge = (local[:, 0].abs() > 3.9) | (local[:, 1] < -3.9) | (local[:, 1] > 4.4)
    area = {name: float(member.sum()) * cell for name, member in near.items()}
    result: dict = {
        "bounded": not bool((near["balls"] | near["Mahalanobis"])[edge].any()),
        "risk Mahalanobis": float((near["Mahalanobis"] & ~near["balls"]).sum()) * cell / area["Mahalanobis"],
    }
    softmax_in_balls = float((near["softmax"] & near["balls"]).sum()) * cell
    for half in (SMALL_BOX, LARGE_BOX):
        box, _ = _grid(-half, half, -half, half, 501)
        box_area = (2 * half) ** 2
        softmax_share = float((max_softmax(predict_logits(toy, box)) >= TAU).float().mean())
        softmax_area = softmax_share * box_area
        result[half] = {
            "softmax": softmax_share,
            "balls": area["balls"] / box_area,
            "Mahalanobis": area["Mahalanobis"] / box_area,
            "risk softmax": 1 - softmax_in_balls / softmax_area,
        }
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_claims_a_growing_share_of_the_box_and_the_balls_a_shrinking_one(seed):
    m = open_space(seed)
    small, large = m[SMALL_BOX], m[LARGE_BOX]
    # The balls and the Mahalanobis region never reach the edge of the grid around the data (measured: True).
    assert m["bounded"]
    # Softmax's share grows: L = 3 -> 100, measured 0.899 -> 0.998, 0.939 -> 0.998, 0.923 -> 0.997
    # (growth 0.060 or more).
    assert large["softmax"] - small["softmax"] > 0.03, (small["softmax"], large["softmax"])
    assert large["softmax"] > 0.99, large["softmax"]  # measured 0.9975 or more
    # The balls' and Mahalanobis's shares shrink by (100 / 3)^2, their areas being fixed:
    # measured 0.151-0.175 at L = 3, 0.00014-0.00016 at L = 100.
    for name in ("balls", "Mahalanobis"):
        assert small[name] > 0.08 and large[name] < 0.001, (name, small[name], large[name])
        assert large[name] < small[name] / 1000, (name, small[name], large[name])


@pytest.mark.parametrize("seed", SEEDS)
def test_open_space_risk_tends_to_one_for_softmax_and_stays_small_for_mahalanobis(seed):
    m = open_space(seed)
    # R_O of the softmax: measured 0.840-0.853 at L = 3, 0.9999 at L = 100 (rise 0.147 or more).
    assert m[LARGE_BOX]["risk softmax"] > 0.99, m[LARGE_BOX]["risk softmax"]
    assert m[LARGE_BOX]["risk softmax"] > m[SMALL_BOX]["risk softmax"] + 0.07, m
    # R_O of the Mahalanobis region, the same for every box that contains it: measured 0.076-0.101.
    assert m["risk Mahalanobis"] < 0.5, m["risk Mahalanobis"]


# --- page 01: tent activations -------------------------------------------------------------------------------


class Tent(nn.Module):
    """The notebook's tent activation: ``max(0, delta - |x|)``, one learnable ``delta`` per layer."""

    def __init__(self, delta: float = 1.0):
        super().__init__()
        self.delta = nn.Parameter(torch.tensor(delta))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.delta - x.abs(), min=0)


@functools.lru_cache(maxsize=None)
def far_away(seed: int) -> dict:
    """ReLU and tent networks on one seed: test accuracy and mean max softmax of scaled inputs."""
    data = load_digits_splits(seed=seed)
    inputs = {"digits": data.test.x, "noise": uniform_noise(500, seed=seed)}
    result: dict = {}
    for kind in ("relu", "tent"):
        torch.manual_seed(seed)
        net = mlp(64, 10, depth=2, width=256)
        if kind == "tent":
            net[1], net[3] = Tent(), Tent()
        fit(net, data.train, epochs=30, lr=1e-3, optimizer="adam", batch_size=64, seed=seed, progress=False)
        net.eval()
        result[kind] = {"accuracy": evaluate(net, data.test)[1]}
        for name, x in inputs.items():
            for alpha in (1.0, 1e3):
                result[kind][name, alpha] = float(max_softmax(predict_logits(net, scaled(x, alpha))).mean())
        if kind == "tent":
            with torch.no_grad():
                limit = net[4](net[3](net[2](torch.zeros(1, 256))))
                far_logits = net(scaled(inputs["noise"], 1e5))
            result["tent"]["constant share"] = float(((far_logits - limit).abs().max(dim=1).values < 1e-4).float().mean())
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_tents_cost_no_accuracy_on_the_digits(seed):
    m = far_away(seed)
    # Test accuracy, measured tent 0.983 / 0.975 / 0.983, ReLU 0.975 / 0.972 / 0.972.
    assert m["tent"]["accuracy"] > 0.95, m["tent"]["accuracy"]
    assert m["tent"]["accuracy"] > m["relu"]["accuracy"] - 0.02, (m["tent"]["accuracy"], m["relu"]["accuracy"])


@pytest.mark.parametrize("seed", SEEDS)
def test_far_away_a_tent_network_is_far_less_confident_than_a_relu_network(seed):
    m = far_away(seed)
    for name in ("digits", "noise"):
        relu, tent = m["relu"][name, 1e3], m["tent"][name, 1e3]
        # Mean max softmax at alpha = 1000: ReLU measured 0.9992-1.0000; tent 0.227-0.380.
        assert relu > 0.99, (name, relu)
        assert relu - tent > 0.31, (name, relu, tent)  # measured margin 0.619 or more
        # Scaling lowers the tent network's confidence: alpha 1 -> 1000, measured drops of 0.360-0.739.
        assert m["tent"][name, 1.0] - tent > 0.18, (name, m["tent"][name, 1.0], tent)
    # ... to a constant output that does not depend on the input: measured 0.994 / 0.990 / 0.996 of the
    # noise images x 1e5 within 1e-4 of the logits computed from the biases alone.
    assert m["tent"]["constant share"] > 0.9, m["tent"]["constant share"]


# --- page 02: maxima of uniform samples ------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def uniform_maxima(seed: int) -> dict:
    maxima = np.random.default_rng(seed).uniform(size=(1000, 50)).max(axis=1)
    gev = stats.genextreme.fit(maxima)
    start = {"loc": gev[1] + gev[2] / gev[0], "scale": gev[2] / gev[0]}
    fits = {
        "reversed Weibull": (stats.weibull_max, stats.weibull_max.fit(maxima, 1 / gev[0], **start)),
        "Gumbel": (stats.gumbel_r, stats.gumbel_r.fit(maxima)),
        "Weibull, free location": (stats.weibull_min, stats.weibull_min.fit(maxima)),
        "Weibull, location 0": (stats.weibull_min, stats.weibull_min.fit(maxima, floc=0)),
    }
    result = {name: float(dist.logpdf(maxima, *params).sum()) for name, (dist, params) in fits.items()}
    result["xi"] = -gev[0]
    result["shape"], result["end"], result["scale"] = fits["reversed Weibull"][1]
    return result


@pytest.mark.parametrize("seed", SEEDS)
def test_the_reversed_weibull_fits_maxima_of_uniform_samples_better_than_the_alternatives(seed):
    m = uniform_maxima(seed)
    # The GEV picks the reversed Weibull type: xi measured -1.012 / -0.979 / -1.013 (theory: -1).
    assert abs(m["xi"] + 1) < 0.1, m["xi"]
    # The reversed Weibull's parameters: shape 0.988 / 1.021 / 0.987 (theory 1), end point 1.0000 (1),
    # scale 0.0194 / 0.0203 / 0.0194 (1/50 = 0.02).
    assert abs(m["shape"] - 1) < 0.1 and abs(m["end"] - 1) < 0.001 and abs(m["scale"] - 0.02) < 0.003, m
    # Log-likelihood margins, measured: over the Gumbel 806.5 / 635.7 / 828.5; over the Weibull with a free
    # location 185.4 / 169.0 / 503.2; over the Weibull with location 0 194.0 / 175.1 / 189.2.
    for rival, threshold in (("Gumbel", 300), ("Weibull, free location", 80), ("Weibull, location 0", 80)):
        assert m["reversed Weibull"] - m[rival] > threshold, (rival, m["reversed Weibull"], m[rival])


# --- page 02: FitHigh on a trained network's distances ----------------------------------------------------------


@functools.lru_cache(maxsize=None)
def digits_distances(seed: int) -> dict:
    digits = load_open_set_digits((0, 1, 2, 3, 4, 5), seed=seed)
    train = digits.known.train
    torch.manual_seed(seed)
    model = mlp(64, 6, depth=2, width=256)
    fit(model, train, epochs=30, lr=1e-3, batch_size=64, optimizer="adam", seed=seed, progress=False)
    model.eval()
    z_train = predict_logits(model, train.x)
    correct = z_train.argmax(dim=1) == train.y
    mavs = mean_activation_vectors(z_train, train.y)
    distances = [(z_train[correct & (train.y == c)] - mavs[c]).norm(dim=1).double().numpy() for c in range(6)]
    return {"distances": distances, "mavs": mavs, "test": predict_logits(model, digits.known.test.x),
            "held out": predict_logits(model, digits.unknown.test.x)}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("translate", (1.0, 10000.0))
def test_fit_high_is_scipy_on_the_same_shifted_tail(seed, translate):
    for distances in digits_distances(seed)["distances"]:
        tail = np.sort(distances)[-TAIL:]
        shifted = tail + translate - tail.min()
        shape, loc, scale = stats.weibull_min.fit(shifted, floc=0)
        ours = fit_high(distances, TAIL, translate)
        # The same numbers (measured: identical).
        assert loc == 0
        assert np.isclose(ours.shape, shape, rtol=1e-12, atol=0) and np.isclose(ours.scale, scale, rtol=1e-12, atol=0)
        assert ours.tail_min == tail.min() and ours.translate == translate
        # The score is scipy's CDF at the shifted distance, 0 where that is not positive.
        probe = np.concatenate([distances, [tail.min(), tail.min() - translate, tail.min() - translate - 0.5]])
        moved = probe + translate - tail.min()
        expected = np.where(moved > 0, stats.weibull_min.cdf(moved, shape, scale=scale), 0.0)
        np.testing.assert_allclose(weibull_cdf(probe, ours), expected, rtol=1e-9, atol=1e-300)
        # A distance equal to the tail's minimum scores CDF(translate), not 0 (measured 0.063-0.333).
        assert weibull_cdf(tail[:1], ours)[0] == pytest.approx(stats.weibull_min.cdf(translate, shape, scale=scale))
        assert weibull_cdf(tail[:1], ours)[0] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_translate_changes_the_fitted_shape_by_orders_of_magnitude(seed):
    for distances in digits_distances(seed)["distances"]:
        small, large = fit_high(distances, TAIL, 1.0), fit_high(distances, TAIL, 10000.0)
        # Shapes measured 1.67-3.26 with translate 1 and 3977-14,673 with 10^4.
        assert small.shape < 10 and large.shape > 1000, (small.shape, large.shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_held_out_digits_get_higher_weibull_cdfs_than_known_test_digits(seed):
    m = digits_distances(seed)
    tails = [fit_high(d, TAIL, 10000.0) for d in m["distances"]]

    def cdf(logits: torch.Tensor) -> np.ndarray:
        predicted = logits.argmax(dim=1)
        d = (logits - m["mavs"][predicted]).norm(dim=1).double().numpy()
        return np.array([weibull_cdf(d[i : i + 1], tails[int(predicted[i])])[0] for i in range(len(d))])

    known, held = cdf(m["test"]), cdf(m["held out"])
    # Median CDF, measured known 0.0821 / 0.0909 / 0.0612, held out 0.904 / 0.712 / 0.845 (gap 0.621 or more).
    assert np.median(held) - np.median(known) > 0.31, (np.median(known), np.median(held))
    # AUROC of minus the CDF, known positive: measured 0.918 / 0.914 / 0.870 (0.370 or more above chance).
    assert auroc(-known, -held) > 0.685, auroc(-known, -held)


# --- page 02: parameter recovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_full_sample_fit_recovers_the_parameters_and_fit_high_does_not(seed):
    sample = stats.weibull_min.rvs(2.0, scale=3.0, size=2000, random_state=seed)
    shape, loc, scale = stats.weibull_min.fit(sample, floc=0)
    # Errors measured: shape 0.046 / 0.016 / 0.032, scale 0.036 / 0.045 / 0.052.
    assert abs(shape - 2) < 0.15 and abs(scale - 3) < 0.15, (shape, scale)
    # FitHigh on the same sample: translate 1 gives shape 2.90 / 3.50 / 3.41 (0.90 or more off),
    # scale 1.91 / 1.58 / 1.63 (1.09 or more off); translate 10^4 a shape of 1.43e4-2.21e4.
    # Neither is the parent's (2, 3).
    small = fit_high(sample, TAIL, 1.0)
    assert abs(small.shape - 2) > 0.45 and abs(small.scale - 3) > 0.5, small
    assert fit_high(sample, TAIL, 10000.0).shape > 1000
