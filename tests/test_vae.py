"""Unit tests of owll_helpers.vae: shapes, the bounds' definitions, determinism, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from owll_helpers.data import load_digits_splits
from owll_helpers.vae import (
    ACTIVE_UNIT_THRESHOLD,
    BINOMIAL_TRIALS,
    VAE,
    ActiveUnits,
    active_units,
    elbo,
    gaussian_kl_to_standard_normal,
    independent_pixel_logits,
    iwae_bound,
    log_importance_weights,
    log_likelihood,
    reparameterize,
    train_vae,
    vae_objective,
)

LEVELS = torch.arange(BINOMIAL_TRIALS + 1, dtype=torch.float32) / BINOMIAL_TRIALS


def model(likelihood: str = "bernoulli", latent_dim: int = 3, in_features: int = 64, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(in_features, latent_dim, hidden=(16,), likelihood=likelihood)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_digits_splits(seed=0).test.x[:20]


# --- shapes ------------------------------------------------------------------


def test_shapes(digits):
    vae = model()
    mean, log_var = vae.encode(digits)
    assert mean.shape == log_var.shape == (20, 3)
    assert vae.decode(torch.zeros(5, 20, 3)).shape == (5, 20, 64)
    assert vae(digits).shape == (20, 64)
    assert elbo(vae, digits).shape == (20,)
    assert elbo(vae, digits, samples=4, analytic_kl=False).shape == (20,)
    assert iwae_bound(vae, digits, 7).shape == (20,)
    assert log_importance_weights(vae, digits, 7).shape == (7, 20)
    assert active_units(vae, digits).variances.shape == (3,)


def test_images_and_rows_give_the_same_bound(digits):
    vae = model()
    images = digits.reshape(-1, 1, 8, 8)
    assert torch.equal(iwae_bound(vae, images, 5, seed=3), iwae_bound(vae, digits, 5, seed=3))
    assert torch.equal(elbo(vae, images, seed=3), elbo(vae, digits, seed=3))


def test_decoder_mirrors_the_encoder():
    vae = VAE(64, 4, hidden=(32, 16))
    widths = [layer.out_features for layer in vae.encoder if isinstance(layer, torch.nn.Linear)]
    assert widths == [32, 16, 8]
    widths = [layer.out_features for layer in vae.decoder if isinstance(layer, torch.nn.Linear)]
    assert widths == [16, 32, 64]


# --- definitions ---------------------------------------------------------------


def test_reparameterize_samples_the_posterior_and_passes_gradients():
    mean = torch.tensor([1.0, -2.0], requires_grad=True)
    log_var = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    noise = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))
    z = reparameterize(mean, log_var, noise)
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.05)
    z.sum().backward()
    assert mean.grad is not None and log_var.grad is not None
    assert torch.allclose(mean.grad, torch.full((2,), 20000.0))


def test_closed_form_kl_matches_torch_distributions():
    mean, log_var = torch.randn(6, 3), torch.randn(6, 3)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl_to_standard_normal(mean, log_var), expected, atol=1e-5)


def test_log_weights_match_torch_distributions(digits):
    vae = model("binomial")
    x = digits[:4]
    weights = log_importance_weights(vae, x, 3, seed=5)
    mean, log_var = vae.encode(x)
    noise = torch.randn((3, 4, 3), generator=torch.Generator().manual_seed(5))
    z = mean + torch.exp(0.5 * log_var) * noise
    q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(z).sum(-1)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    pixels = torch.distributions.Binomial(BINOMIAL_TRIALS, logits=vae.decode(z)).log_prob(x * BINOMIAL_TRIALS).sum(-1)
    assert torch.allclose(weights, pixels + prior - q, atol=1e-3)


def test_elbo_with_a_sampled_kl_is_exactly_the_iwae_bound_with_k_1(digits):
    vae = model()
    assert torch.equal(elbo(vae, digits, analytic_kl=False, seed=4), iwae_bound(vae, digits, 1, seed=4))


def test_elbo_with_closed_form_kl_equals_the_k_1_bound_in_expectation(digits):
    vae = model()
    with torch.no_grad():
        samples = 4000
        closed_form = elbo(vae, digits, samples=samples, seed=1)
        weights = log_importance_weights(vae, digits, samples, seed=2)
        sampled = weights.mean(0)
        standard_error = weights.std(0) / math.sqrt(samples)
    assert (closed_form - sampled).abs().max() < 5 * standard_error.max() + 1e-3


def test_iwae_bound_is_the_log_mean_exp_of_the_weights(digits):
    vae = model()
    weights = log_importance_weights(vae, digits, 9, seed=6)
    expected = torch.log(torch.exp(weights.double()).mean(0)).float()
    assert torch.allclose(iwae_bound(vae, digits, 9, seed=6), expected, atol=1e-4)


def test_bounds_approach_the_log_likelihood_from_below():
    """With a 1-D latent code, log p(x) is an integral that a grid computes."""
    vae = model("bernoulli", latent_dim=1, in_features=4, seed=1)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    with torch.no_grad():
        z = torch.linspace(-10, 10, 20001).reshape(-1, 1, 1)
        log_joint = vae.log_likelihood(x, vae.decode(z)) + torch.distributions.Normal(0.0, 1.0).log_prob(z[..., 0])
        log_px = torch.logsumexp(log_joint.double(), dim=0) + math.log(20 / 20000)
        bounds = {k: iwae_bound(vae, x.repeat(400, 1), k, seed=0).reshape(400, 3).double().mean(0) for k in (1, 5, 50)}
    # means over 400 draws each: 0.01 nats allows for their sampling error
    assert (bounds[1] < bounds[5]).all() and (bounds[5] < bounds[50]).all()
    assert (bounds[1] < log_px - 0.01).all() and (bounds[50] <= log_px + 0.01).all()
    assert torch.allclose(bounds[50], log_px, atol=0.02)


# --- likelihoods ---------------------------------------------------------------


def test_the_binomial_likelihood_sums_to_one_over_the_17_levels():
    logits = torch.tensor([-1.3])
    total = torch.logsumexp(log_likelihood(LEVELS.reshape(-1, 1), logits, "binomial"), dim=0)
    assert total.item() == pytest.approx(0.0, abs=1e-5)


def test_the_bernoulli_likelihood_is_normalised_only_for_binary_pixels():
    logits = torch.tensor([0.7])
    binary = torch.logsumexp(log_likelihood(torch.tensor([[0.0], [1.0]]), logits, "bernoulli"), dim=0)
    assert binary.item() == pytest.approx(0.0, abs=1e-6)
    grey = torch.logsumexp(log_likelihood(LEVELS.reshape(-1, 1), logits, "bernoulli"), dim=0)
    assert grey.item() > 1.0  # the 17 levels together get far more than probability 1


def test_binomial_is_16_times_the_cross_entropy_plus_a_term_of_x_only(digits):
    logits_a, logits_b = torch.randn(64), torch.randn(64)
    bernoulli_gap = log_likelihood(digits, logits_a) - log_likelihood(digits, logits_b)
    binomial_gap = log_likelihood(digits, logits_a, "binomial") - log_likelihood(digits, logits_b, "binomial")
    assert torch.allclose(binomial_gap, BINOMIAL_TRIALS * bernoulli_gap, rtol=1e-4, atol=1e-2)


def test_independent_pixel_logits_are_smoothed_frequencies():
    x = torch.tensor([[0.0, 1.0, 0.5], [0.0, 1.0, 0.0]])
    p = torch.sigmoid(independent_pixel_logits(x))
    expected = torch.tensor([1 / 34, 33 / 34, 9 / 34])
    assert torch.allclose(p, expected, atol=1e-6)


# --- determinism ---------------------------------------------------------------


def test_an_int_seed_repeats_a_generator_advances_and_none_uses_the_global_rng(digits):
    vae = model()
    assert torch.equal(iwae_bound(vae, digits, 5, seed=1), iwae_bound(vae, digits, 5, seed=1))
    assert not torch.equal(iwae_bound(vae, digits, 5, seed=1), iwae_bound(vae, digits, 5, seed=2))
    generator = torch.Generator().manual_seed(1)
    first = iwae_bound(vae, digits, 5, seed=generator)
    assert torch.equal(first, iwae_bound(vae, digits, 5, seed=1))
    assert not torch.equal(first, iwae_bound(vae, digits, 5, seed=generator))
    torch.manual_seed(3)
    a = elbo(vae, digits, seed=None)
    torch.manual_seed(3)
    assert torch.equal(a, elbo(vae, digits, seed=None))


def test_training_is_deterministic_lowers_the_loss_and_records_no_accuracy(digits):
    x = load_digits_splits(seed=0).train.x[:256]
    runs = []
    for _ in range(2):
        vae = model()
        history = train_vae(vae, x, epochs=3, batch_size=64, seed=0, progress=False)
        runs.append(history.train_loss)
    assert runs[0] == runs[1]
    assert runs[0][-1] < runs[0][0]
    assert all(math.isnan(a) for a in history.train_accuracy)
    iwae_history = train_vae(model(), x, epochs=2, k=3, seed=0, progress=False)
    assert iwae_history.epochs == 2 and math.isfinite(iwae_history.train_loss[-1])


def test_the_objective_returns_a_loss_and_no_class_logits(digits):
    loss, logits = vae_objective(k=2)(model(), digits, torch.zeros(20, dtype=torch.int64))
    assert loss.ndim == 0 and loss.requires_grad
    assert logits is None


# --- active units ----------------------------------------------------------------


def test_active_units_counts_units_whose_posterior_mean_varies(digits):
    vae = model(latent_dim=4)
    with torch.no_grad():  # make unit 2's posterior mean constant: weights to it set to 0
        last = vae.encoder[-1]
        last.weight[2] = 0.0
    result = active_units(vae, digits)
    assert isinstance(result, ActiveUnits) and result.threshold == ACTIVE_UNIT_THRESHOLD
    mean, _ = vae.encode(digits)
    assert torch.allclose(result.variances, mean.detach().var(0, unbiased=False))
    assert result.variances[2] == 0 and not result.mask[2]
    assert result.count == int((result.variances > ACTIVE_UNIT_THRESHOLD).sum())
    assert active_units(vae, digits, threshold=1e9).count == 0


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, error, words",
    [
        ([[0.0] * 64], TypeError, "torch.Tensor"),
        (torch.zeros(3, 64, dtype=torch.int64), TypeError, "floating-point"),
        (torch.zeros(3, 64, dtype=torch.float64), TypeError, "float32"),
        (torch.full((3, 64), math.nan), ValueError, "NaN"),
        (torch.zeros(64), ValueError, "sample dimension"),
        (torch.zeros(3, 63), ValueError, "64 values per sample"),
        (torch.full((3, 64), 1.5), ValueError, r"\[0, 1\]"),
        (torch.zeros(0, 64), ValueError, "empty"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(x, error, words):
    with pytest.raises(error, match=words):
        iwae_bound(model(), x, 2)
    with pytest.raises(error, match=words):
        elbo(model(), x)


def test_bad_arguments_are_refused(digits):
    vae = model()
    with pytest.raises(ValueError, match="k must be at least 1"):
        iwae_bound(vae, digits, 0)
    with pytest.raises(TypeError, match="k must be an int"):
        iwae_bound(vae, digits, 2.0)
    with pytest.raises(TypeError, match="k must be an int"):
        iwae_bound(vae, digits, True)
    with pytest.raises(ValueError, match="samples"):
        elbo(vae, digits, samples=0)
    with pytest.raises(ValueError, match="seed"):
        iwae_bound(vae, digits, 2, seed=-1)
    with pytest.raises(TypeError, match="VAE"):
        iwae_bound(torch.nn.Linear(64, 64), digits, 2)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        active_units(vae, digits[:1])
    with pytest.raises(ValueError, match="threshold"):
        active_units(vae, digits, threshold=0.0)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(likelihood="gaussian")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(64, 0)
    with pytest.raises(ValueError, match="k must be at least 1"):
        vae_objective(k=0)


def test_the_binomial_likelihood_refuses_inputs_off_the_grid(digits):
    noise = torch.rand(4, 64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="whole numbers"):
        iwae_bound(model("binomial"), noise, 2)
    rounded = torch.round(noise * BINOMIAL_TRIALS) / BINOMIAL_TRIALS
    assert torch.isfinite(iwae_bound(model("binomial"), rounded, 2)).all()
    assert torch.isfinite(iwae_bound(model("bernoulli"), noise, 2)).all()


def test_log_likelihood_checks_its_arguments():
    with pytest.raises(ValueError, match="likelihood"):
        log_likelihood(torch.zeros(2, 3), torch.zeros(3), "gaussian")
    with pytest.raises(ValueError, match="one value per pixel"):
        log_likelihood(torch.zeros(2, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="broadcast"):
        log_likelihood(torch.zeros(2, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="whole numbers"):
        log_likelihood(torch.full((2, 3), 0.3), torch.zeros(3), "binomial")


# --- ClassifyingVAE (chapter 5's OpenVAE) ---------------------------------------------------------------------

from owll_helpers.data import Split  # noqa: E402
from owll_helpers.vae import ClassifyingVAE, classifying_vae_objective, train_classifying_vae  # noqa: E402


def classifying_model(n_classes: int = 4, latent_dim: int = 3, seed: int = 0) -> ClassifyingVAE:
    torch.manual_seed(seed)
    return ClassifyingVAE(64, latent_dim, n_classes, hidden=(16,), likelihood="binomial")


def test_classifying_vae_shapes(digits):
    vae = classifying_model()
    assert isinstance(vae, VAE)
    assert vae.latent_logits(digits).shape == (20, 4)
    assert vae.classify(torch.zeros(5, 20, 3)).shape == (5, 20, 4)
    assert vae(digits).shape == (20, 64)  # the VAE's reconstruction, unchanged
    assert elbo(vae, digits).shape == (20,)
    mean, _ = vae.encode(digits)
    assert torch.equal(vae.latent_logits(digits), vae.classifier(mean))


def test_with_weight_0_the_objective_is_the_negative_elbo(digits):
    vae = classifying_model()
    y = torch.arange(20) % 4
    loss, logits = classifying_vae_objective(0.0, seed=3)(vae, digits, y)
    assert logits.shape == (20, 4)
    torch.testing.assert_close(loss, -elbo(vae, digits, seed=3).mean())


def test_the_weight_multiplies_the_classifiers_cross_entropy_on_the_same_sample(digits):
    vae = classifying_model().double()  # float64: the difference of two losses of ~10^3 nats
    x, y = digits.double(), torch.arange(20) % 4
    without, _ = classifying_vae_objective(0.0, seed=5)(vae, x, y)
    weighted, logits = classifying_vae_objective(2.5, seed=5)(vae, x, y)
    cross_entropy = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(weighted - without, 2.5 * cross_entropy)


def test_training_is_deterministic_and_learns_the_classes():
    data = load_digits_splits(seed=0, classes=(0, 1, 2))
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        vae = ClassifyingVAE(64, 4, 3, hidden=(64,), likelihood="binomial")
        history = train_classifying_vae(vae, data.train, epochs=30, batch_size=64, seed=1, progress=False)
        runs.append((vae, history))
    (first, history), (second, _) = runs
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)
    assert not math.isnan(history.train_accuracy[-1])
    assert history.train_loss[-1] < history.train_loss[0]
    with torch.no_grad():
        accuracy = (first.latent_logits(data.test.x).argmax(dim=1) == data.test.y).float().mean()
    assert accuracy > 0.8  # three digit classes; measured 0.935


def test_classifying_vae_refuses_bad_arguments(digits):
    with pytest.raises(ValueError, match="n_classes"):
        ClassifyingVAE(64, 3, 1)
    vae = classifying_model()
    objective = classifying_vae_objective()
    with pytest.raises(ValueError, match=r"class indices 0\.\.3"):
        objective(vae, digits, torch.full((20,), 4))
    with pytest.raises(ValueError, match="non-negative class indices"):
        objective(vae, digits, torch.full((20,), -1))
    with pytest.raises(ValueError, match="one label per sample"):
        objective(vae, digits, torch.zeros(19, dtype=torch.int64))
    with pytest.raises(TypeError, match="ClassifyingVAE"):
        objective(model(), digits, torch.zeros(20, dtype=torch.int64))
    for weight in (-1.0, float("nan"), True):
        with pytest.raises(ValueError, match="classification_weight"):
            classifying_vae_objective(weight)
    with pytest.raises(TypeError, match="ClassifyingVAE"):
        train_classifying_vae(model(), Split(digits, torch.zeros(20, dtype=torch.int64)))
    with pytest.raises(TypeError, match="Split"):
        train_classifying_vae(vae, digits)
    with pytest.raises(ValueError, match="whole numbers"):
        train_classifying_vae(vae, Split(torch.full((20, 64), 0.3), torch.zeros(20, dtype=torch.int64)))
