"""A small variational autoencoder for the digits, its bounds and its active units.

The model (Kingma & Welling 2014) has an encoder that maps an input ``x`` to
the mean and log-variance of a diagonal Gaussian ``q(z|x)``, a standard
normal prior ``p(z) = N(0, I)``, and a decoder that maps a latent code ``z``
to one logit per pixel, the parameter of ``p(x|z)``.

- :class:`VAE` -- the model (``encode``, ``decode``, ``log_likelihood``);
- :func:`log_likelihood` -- ``log p(x)`` of independent Bernoulli or binomial
  pixels, and :func:`independent_pixel_logits`, the generative model that
  knows only each pixel's frequency of ink;
- :func:`reparameterize` -- ``z = mean + exp(log_var / 2) * eps``, the
  reparameterization trick (Kingma & Welling 2014, Sec. 2.4);
- :func:`elbo` -- the evidence lower bound per input (their Eq. 10: the KL
  divergence to the prior in closed form, the reconstruction term by sampling);
- :func:`log_importance_weights` and :func:`iwae_bound` -- the importance
  weighted bound with ``k`` samples per input (Burda et al. 2016, Eq. 8),
  which is the ELBO at ``k = 1`` and does not decrease in expectation as ``k``
  grows (their Theorem 1);
- :func:`active_units` -- Burda et al.'s (2016, Sec. 5.2) count of latent
  units whose posterior mean varies over the data:
  ``Cov_x(E_{q(z|x)}[z_u]) > 0.01``;
- :func:`vae_objective` and :func:`train_vae` -- training with
  :func:`owll_helpers.train.fit`;
- :class:`ClassifyingVAE`, :func:`classifying_vae_objective` and
  :func:`train_classifying_vae` -- a VAE with a classifier on its code,
  trained jointly (chapter 5).

**Two pixel likelihoods.** ``likelihood="bernoulli"`` scores an input with minus
the binary cross-entropy, ``sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)]``, of
its pixel values ``x_i`` against the decoder's probabilities ``p_i``. For binary
pixels that is the log-probability of the image under independent Bernoulli
pixels, the model of the binarised MNIST of Kingma & Welling and Burda et al.
The digits' pixels are not binary: each is a count of "on" pixels in a 4x4
block, divided by 16 (:mod:`owll_helpers.ood_data`). For such grey values the
cross-entropy is still a valid training objective (it is largest at
``p_i = x_i``), but it is not the logarithm of a distribution over the inputs:
``exp`` of it, summed over the 17 grey levels of a pixel or integrated over
[0, 1], does not give 1, and even the best decoder (``p_i = x_i``) scores a
grey pixel ``-H(x_i) < 0`` (the Bernoulli entropy) where it scores a binary
one 0, so its values are not comparable between images with different
amounts of grey.

``likelihood="binomial"`` is a normalised distribution for the digits' format:
each pixel is a count ``c_i = 16 x_i`` of 16 bitmap pixels, modelled as
Binomial(16, ``p_i``), i.e. 16 bitmap pixels that are "on" independently with
probability ``p_i``. Its log-probability is
``sum_i [log C(16, c_i) + c_i log p_i + (16 - c_i) log(1 - p_i)]``: 16 times
the cross-entropy above plus a term that depends on ``x`` only. It sums to 1
over the 17^64 possible images, so it is a likelihood in nats that can be
compared between inputs, but it accepts only inputs on the 17-level grid
(``16 x`` an integer). Up to that constant, training a Bernoulli VAE on
``x = c / 16`` maximises the binomial VAE's reconstruction term with the KL
divergence weighted 16 times (a beta-VAE with beta = 16).

**Chapter 5's OpenVAE** (Mundt et al. 2019, 2022): :class:`ClassifyingVAE`
subclasses :class:`VAE` with a linear classifier ``p(y|z)`` on the latent
code, trained jointly with the VAE on the ELBO of ``p(x, y)``
(:func:`classifying_vae_objective`, :func:`train_classifying_vae`); at test
time it classifies the posterior mean (``latent_logits``). Everything else
here uses only ``encode``, ``decode`` and ``log_likelihood``, so it works on
that model too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import check_choice, check_labels, check_positive_int, check_tensor
from .data import DIGITS_MAX_PIXEL, UNKNOWN_LABEL, Split
from .models import ACTIVATIONS, make_activation
from .train import History, Objective, fit

#: Pixel likelihoods of :class:`VAE` (see the module's docstring).
LIKELIHOODS: tuple[str, ...] = ("bernoulli", "binomial")
#: Trials of the binomial likelihood: each digits pixel counts 16 bitmap pixels.
BINOMIAL_TRIALS: int = int(DIGITS_MAX_PIXEL)
#: Burda et al.'s (2016, Sec. 5.2) threshold on the variance of a posterior mean.
ACTIVE_UNIT_THRESHOLD: float = 0.01
#: How far ``16 x`` may be from an integer for the binomial likelihood (float32 rounding).
_GRID_TOLERANCE: float = 1e-4
_LOG_2PI: float = math.log(2 * math.pi)

Seed = int | torch.Generator | None


class VAE(nn.Module):
    """A variational autoencoder with MLP encoder and decoder (Kingma & Welling 2014, Sec. 3 and App. C).

    Args:
        in_features: input values per sample (64 for the digits).
        latent_dim: dimension of the latent code ``z``.
        hidden: widths of the hidden layers of the encoder; the decoder uses
            them in reverse order.
        activation: a name from :data:`owll_helpers.models.ACTIVATIONS`.
        likelihood: ``"bernoulli"`` or ``"binomial"`` (see the module's docstring).

    Attributes:
        encoder: ``x -> [mean, log_var]``, ``2 * latent_dim`` outputs.
        decoder: ``z ->`` one logit per pixel.
    """

    def __init__(
        self,
        in_features: int = 64,
        latent_dim: int = 4,
        *,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        likelihood: str = "bernoulli",
    ) -> None:
        super().__init__()
        check_positive_int(in_features, "in_features")
        check_positive_int(latent_dim, "latent_dim")
        check_choice(activation, "activation", tuple(ACTIVATIONS))
        check_choice(likelihood, "likelihood", LIKELIHOODS)
        hidden = tuple(hidden)
        for width in hidden:
            check_positive_int(width, "hidden[i]")
        self.in_features = in_features
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.encoder = _mlp((in_features, *hidden, 2 * latent_dim), activation)
        self.decoder = _mlp((latent_dim, *reversed(hidden), in_features), activation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z|x)``, each ``(N, latent_dim)``."""
        mean, log_var = self.encoder(x.reshape(x.shape[0], -1)).chunk(2, dim=-1)
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of ``p(x|z)``, shape ``(..., in_features)`` for ``z`` of shape ``(..., latent_dim)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel logits of the reconstruction from the posterior mean (no sampling)."""
        return self.decode(self.encode(x)[0])

    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` under the model's pixel likelihood: :func:`log_likelihood` with ``self.likelihood``."""
        return _log_likelihood(x.reshape(x.shape[0], -1), logits, self.likelihood)


def _mlp(sizes: tuple[int, ...], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)


def _log_likelihood(x: torch.Tensor, logits: torch.Tensor, likelihood: str) -> torch.Tensor:
    logits, target = torch.broadcast_tensors(logits, x)
    cross_entropy = -nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
    if likelihood == "bernoulli":
        return cross_entropy
    counts = target * BINOMIAL_TRIALS
    log_binomial = (
        math.lgamma(BINOMIAL_TRIALS + 1) - torch.lgamma(counts + 1) - torch.lgamma(BINOMIAL_TRIALS - counts + 1)
    ).sum(-1)
    return BINOMIAL_TRIALS * cross_entropy + log_binomial


def log_likelihood(x: torch.Tensor, logits: torch.Tensor, likelihood: str = "bernoulli") -> torch.Tensor:
    """``log p(x)`` of independent pixels with probabilities ``sigmoid(logits)``, summed over pixels.

    - ``"bernoulli"``: ``sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)]``, minus
      the binary cross-entropy; a log-probability only for binary ``x``;
    - ``"binomial"``: ``sum_i log Binomial(16 x_i; 16, p_i)``, the
      log-probability of the counts ``16 x_i`` (the module's docstring says why).

    Args:
        x: ``(N, D)`` inputs in [0, 1] (on the 17-level grid for ``"binomial"``).
        logits: pixel logits that broadcast against ``x``: ``(D,)`` for one
            distribution for all inputs, ``(N, D)``, or ``(k, N, D)`` for
            ``k`` decoder outputs per input.

    Returns:
        The broadcast shape without its last dimension: ``(N,)`` or ``(k, N)``, in nats.
    """
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    check_tensor(x, "x", ndim=2, dtype_kind="float", finite=True)
    check_tensor(logits, "logits", dtype_kind="float")
    if logits.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"logits must have one value per pixel ({x.shape[-1]}) in their last dimension, "
            f"got shape {tuple(logits.shape)}"
        )
    _check_range(x, likelihood)
    try:
        torch.broadcast_shapes(logits.shape, x.shape)
    except RuntimeError:
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} do not broadcast against x of shape {tuple(x.shape)}"
        ) from None
    return _log_likelihood(x, logits, likelihood)


def independent_pixel_logits(x: torch.Tensor) -> torch.Tensor:
    """Logits of the simplest generative model of ``x``: every pixel on independently with its own frequency.

    The probability of pixel ``i`` is ``(sum_n 16 x_ni + 1) / (16 N + 2)``:
    the fraction of "on" bitmap pixels it saw in ``x`` (each digits pixel
    counts 16), with one "on" and one "off" added (Laplace's rule of
    succession) so that a pixel never seen on does not get probability 0.
    With :func:`log_likelihood` it scores inputs by their per-pixel ink
    frequencies alone, a baseline for what a VAE's latent code adds.

    Args:
        x: ``(N, D)`` training inputs in [0, 1].

    Returns:
        ``(D,)`` logits.
    """
    check_tensor(x, "x", ndim=2, dtype_kind="float", finite=True)
    _check_range(x, "bernoulli")
    on = (x * BINOMIAL_TRIALS).sum(dim=0) + 1
    total = BINOMIAL_TRIALS * x.shape[0] + 2
    return torch.log(on) - torch.log(total - on)


def _check_range(x: torch.Tensor, likelihood: str) -> None:
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"x must lie in [0, 1] (pixel intensities), got values from {float(x.min()):.4g} to {float(x.max()):.4g}"
        )
    if likelihood == "binomial":
        counts = x * BINOMIAL_TRIALS
        off_grid = (counts - counts.round()).abs() > _GRID_TOLERANCE
        if off_grid.any():
            raise ValueError(
                f"the binomial likelihood scores counts: {BINOMIAL_TRIALS} * x must be whole numbers, "
                f"but {int(off_grid.sum())} values are not (round them to the grid with "
                f"torch.round(x * {BINOMIAL_TRIALS}) / {BINOMIAL_TRIALS}, or use likelihood='bernoulli')"
            )


def _generator(seed: Seed) -> torch.Generator | None:
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    check_positive_int(seed, "seed", minimum=0)
    return torch.Generator().manual_seed(seed)


def _check_inputs(model: object, x: object) -> torch.Tensor:
    """Check the model and ``x``; return ``x`` as ``(N, in_features)``."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be an owll_helpers.vae.VAE, got {type(model).__name__}")
    check_tensor(x, "x", dtype_kind="float", finite=True)
    assert isinstance(x, torch.Tensor)
    if x.ndim < 2:
        raise ValueError(
            f"x must have a sample dimension and features, e.g. (N, {model.in_features}); got shape {tuple(x.shape)}"
        )
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != model.in_features:
        raise ValueError(
            f"x must have {model.in_features} values per sample (the model's in_features), got {x.shape[1]}"
        )
    dtype = next(model.parameters()).dtype
    if x.dtype != dtype:
        raise TypeError(f"x has dtype {x.dtype} but the model's parameters are {dtype}; convert x with x.to({dtype})")
    _check_range(x, model.likelihood)
    return x


def reparameterize(mean: torch.Tensor, log_var: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The reparameterization trick: ``z = mean + exp(log_var / 2) * noise`` (Kingma & Welling 2014, Sec. 2.4).

    With ``noise ~ N(0, I)`` drawn independently of the parameters, ``z`` is a
    sample of ``N(mean, diag(exp(log_var)))`` that is a differentiable
    function of ``mean`` and ``log_var``, so a Monte Carlo estimate of an
    expectation over ``q(z|x)`` has a gradient with respect to the encoder.
    ``noise`` may have extra leading dimensions (several samples per input).
    """
    return mean + torch.exp(0.5 * log_var) * noise


def _latent_samples(
    model: VAE, x: torch.Tensor, k: int, seed: Seed
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean and log-variance of ``q(z|x)``, and ``k`` samples ``z`` per input with their noise, ``(k, N, d)``."""
    mean, log_var = model.encode(x)
    noise = torch.randn((k, *mean.shape), generator=_generator(seed), dtype=mean.dtype)
    return mean, log_var, reparameterize(mean, log_var, noise), noise


def log_importance_weights(model: VAE, x: torch.Tensor, k: int, *, seed: Seed = 0) -> torch.Tensor:
    """``log w_j = log p(x, z_j) - log q(z_j|x)`` for ``k`` samples ``z_j ~ q(z|x)`` per input.

    The importance weights of Burda et al. (2016, Eq. 8).

    Args:
        model: a :class:`VAE`.
        x: ``(N, in_features)`` (or ``(N, 1, 8, 8)``) inputs in [0, 1].
        k: samples per input, at least 1.
        seed: an ``int`` (a fresh generator with that seed: the same result
            on every call), a ``torch.Generator`` (drawn from, and advanced),
            or ``None`` (PyTorch's global generator).

    Returns:
        ``(k, N)`` log-weights in nats, differentiable with respect to the model.
    """
    x = _check_inputs(model, x)
    check_positive_int(k, "k")
    _, log_var, z, noise = _latent_samples(model, x, k, seed)
    log_p_x_given_z = model.log_likelihood(x, model.decode(z))
    log_prior = -0.5 * (z.square() + _LOG_2PI).sum(-1)
    # (z - mean) / sigma is the noise itself: log N(z; mean, sigma^2) without dividing by sigma.
    log_posterior = -0.5 * (noise.square() + log_var + _LOG_2PI).sum(-1)
    return log_p_x_given_z + log_prior - log_posterior


def iwae_bound(model: VAE, x: torch.Tensor, k: int, *, seed: Seed = 0) -> torch.Tensor:
    """The importance weighted bound ``L_k = log (1/k) sum_j w_j`` per input (Burda et al. 2016, Eq. 8).

    Each input's estimate uses one draw of ``k`` samples from ``q(z|x)``.
    ``L_1`` is the ELBO estimated with one sample and the KL divergence
    estimated by sampling too; ``E[L_k] <= E[L_{k+1}] <= log p(x)`` (their
    Theorem 1), so the bound tightens as ``k`` grows *in expectation*: for one
    input and one draw, a larger ``k`` can give a smaller value.

    Args:
        model, x, k, seed: as for :func:`log_importance_weights`.

    Returns:
        ``(N,)`` bounds in nats per input (``log p(x)`` of the likelihood the
        model was built with; see the module's docstring for what that means).
    """
    log_weights = log_importance_weights(model, x, k, seed=seed)
    return torch.logsumexp(log_weights, dim=0) - math.log(k)


def gaussian_kl_to_standard_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per row, in closed form (Kingma & Welling 2014, App. B)."""
    return 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(-1)


def elbo(
    model: VAE, x: torch.Tensor, *, samples: int = 1, analytic_kl: bool = True, seed: Seed = 0
) -> torch.Tensor:
    """The evidence lower bound per input, ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` (Kingma & Welling 2014, Eq. 3).

    With ``analytic_kl=True`` (the default) it is their estimator of Eq. 10:
    the KL divergence in closed form and the reconstruction term averaged over
    ``samples`` reparameterized samples. With ``analytic_kl=False`` both terms
    are estimated from the samples (their Eq. 6), the mean of the log
    importance weights: with ``samples=1`` and the same ``seed`` it equals
    ``iwae_bound(model, x, 1, seed=seed)`` exactly; with the closed-form KL
    the two agree in expectation only.

    Args:
        model: a :class:`VAE`.
        x: ``(N, in_features)`` (or ``(N, 1, 8, 8)``) inputs in [0, 1].
        samples: samples of ``z`` per input, at least 1.
        analytic_kl: compute the KL divergence in closed form.
        seed: as for :func:`log_importance_weights`.

    Returns:
        ``(N,)`` bounds in nats, differentiable with respect to the model.
    """
    if not analytic_kl:
        check_positive_int(samples, "samples")
        return log_importance_weights(model, x, samples, seed=seed).mean(dim=0)
    x = _check_inputs(model, x)
    check_positive_int(samples, "samples")
    mean, log_var, z, _ = _latent_samples(model, x, samples, seed)
    reconstruction = model.log_likelihood(x, model.decode(z)).mean(dim=0)
    return reconstruction - gaussian_kl_to_standard_normal(mean, log_var)


@dataclass(frozen=True)
class ActiveUnits:
    """Burda et al.'s (2016, Sec. 5.2) activity statistic of each latent unit.

    Attributes:
        variances: ``(latent_dim,)`` variance over the inputs of each unit's
            posterior mean, ``Cov_x(E_{q(z|x)}[z_u])`` (divided by N).
        threshold: the variance above which a unit counts as active.
    """

    variances: torch.Tensor
    threshold: float

    @property
    def mask(self) -> torch.Tensor:
        """Boolean ``(latent_dim,)``: which units are active."""
        return self.variances > self.threshold

    @property
    def count(self) -> int:
        """Number of active units."""
        return int(self.mask.sum())


@torch.no_grad()
def active_units(model: VAE, x: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> ActiveUnits:
    """Which latent units the model uses: ``Cov_x(E_{q(z|x)}[z_u]) > threshold`` (Burda et al. 2016, Sec. 5.2).

    A unit whose posterior mean barely moves from input to input carries no
    information about the input: its posterior stays near the prior, and the
    decoder ignores it. The threshold is a convention (0.01 in the paper); it
    is meaningful where the statistics of used and unused units lie far apart,
    which ``variances`` lets one check.

    Args:
        model: a :class:`VAE`.
        x: ``(N, in_features)`` inputs in [0, 1], at least 2.
        threshold: a positive number (0.01 in the paper).
    """
    x = _check_inputs(model, x)
    if x.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 inputs to measure a variance, got {x.shape[0]}")
    is_number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not is_number or not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    mean, _ = model.encode(x)
    return ActiveUnits(variances=mean.var(dim=0, unbiased=False), threshold=float(threshold))


def vae_objective(k: int = 1, *, seed: Seed = 0) -> Objective:
    """An ``objective(model, x, y) -> (loss, logits)`` for :func:`owll_helpers.train.fit`.

    The loss is the negative ELBO (``k = 1``, closed-form KL; Kingma & Welling
    2014, Eq. 10) or the negative IWAE bound with ``k`` samples (``k > 1``;
    Burda et al. 2016, Eq. 8), averaged over the batch, in nats per input.
    The labels are not used. A VAE has no class logits: the objective returns
    ``None`` in their place, and ``fit`` records no training accuracy (NaN).

    Args:
        k: samples per input, at least 1.
        seed: the samples' generator, drawn from across steps (an ``int``
            seeds a fresh one once, here).
    """
    check_positive_int(k, "k")
    generator = _generator(seed)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, None]:
        assert isinstance(model, VAE)
        bound = elbo(model, x, seed=generator) if k == 1 else iwae_bound(model, x, k, seed=generator)
        return -bound.mean(), None

    return objective


def train_vae(
    model: VAE,
    x: torch.Tensor,
    *,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 128,
    k: int = 1,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training VAE",
) -> History:
    """Train ``model`` on the inputs ``x`` with Adam, through :func:`owll_helpers.train.fit`.

    Maximises the ELBO (``k = 1``) or the IWAE bound with ``k`` samples (the
    IWAE of Burda et al. 2016) with mini-batches, shuffled and sampled with
    generators seeded by ``seed`` (the initial weights come from PyTorch's
    global generator when the model is built: seed it first).

    Returns:
        ``fit``'s :class:`~owll_helpers.train.History`: ``train_loss`` is the
        mean negative bound per input of each epoch (nats); ``train_accuracy``
        is NaN (a VAE has no classes).
    """
    x = _check_inputs(model, x)
    check_positive_int(k, "k")
    check_positive_int(seed, "seed", minimum=0)
    # Split needs labels; -1 ("no class") is never read, the objective ignores them.
    unlabelled = Split(x, torch.full((x.shape[0],), UNKNOWN_LABEL, dtype=torch.int64))
    with torch.enable_grad():  # also when called inside torch.no_grad()
        return fit(
            model,
            unlabelled,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer="adam",
            objective=vae_objective(k, seed=seed),
            seed=seed,
            progress=progress,
            desc=desc,
        )


# --- a VAE with a classifier on its latent code (chapter 5's OpenVAE) ----------------------------------------


class ClassifyingVAE(VAE):
    """A :class:`VAE` with a linear classifier ``p(y|z)`` on its latent code (Mundt et al. 2019, 2022).

    The generative model is ``p(x, y, z) = p(x|z) p(y|z) p(z)``: the code
    ``z`` explains both the image and its class. Its evidence lower bound is
    the VAE's plus the classifier's log-likelihood,
    ``E_q[log p(x|z) + log p(y|z)] - KL(q(z|x) || p(z))``, so encoder,
    decoder and classifier train together (:func:`classifying_vae_objective`)
    and the classes shape the latent space. Chapter 5 fits Weibull tails to
    the distances of the latent codes to their class's mean (the OpenVAE
    variant of OpenMax's Algorithm 1).

    Args:
        in_features, latent_dim, hidden, activation, likelihood: as for :class:`VAE`.
        n_classes: number of classes, at least 2.

    Attributes:
        classifier: ``nn.Linear(latent_dim, n_classes)``, the logits of ``p(y|z)``.
    """

    def __init__(
        self,
        in_features: int = 64,
        latent_dim: int = 4,
        n_classes: int = 2,
        *,
        hidden: Sequence[int] = (128,),
        activation: str = "relu",
        likelihood: str = "bernoulli",
    ) -> None:
        check_positive_int(n_classes, "n_classes", minimum=2)
        super().__init__(in_features, latent_dim, hidden=hidden, activation=activation, likelihood=likelihood)
        self.n_classes = n_classes
        self.classifier = nn.Linear(latent_dim, n_classes)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """Class logits of ``p(y|z)`` for latent codes ``z`` of shape ``(..., latent_dim)``."""
        return self.classifier(z)

    def latent_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, n_classes)`` of the posterior mean: the deterministic prediction for ``x``."""
        return self.classify(self.encode(x)[0])


def _check_labels_for(model: ClassifyingVAE, y: object, n_samples: int) -> torch.Tensor:
    labels = check_labels(y, "y", n_samples)
    if labels.numel() and int(labels.max()) >= model.n_classes:
        raise ValueError(
            f"y must hold class indices 0..{model.n_classes - 1} (the model's n_classes), got {int(labels.max())}"
        )
    return labels


def classifying_vae_objective(classification_weight: float = 1.0, *, seed: Seed = 0) -> Objective:
    """An ``objective(model, x, y) -> (loss, logits)`` for :func:`owll_helpers.train.fit` and a :class:`ClassifyingVAE`.

    The loss is minus ``log p(x|z) + w log p(y|z) - KL(q(z|x) || p(z))``,
    averaged over the batch, in nats per input, with one reparameterized
    sample ``z`` per input shared by the reconstruction and the classifier
    and the KL divergence in closed form. With ``w = 1`` it is the negative
    ELBO of ``p(x, y)``; another ``w`` weights the classifier's term. The
    returned logits are those of the sample, so ``fit`` records a training
    accuracy. Labels must be class indices (no ``-1``).

    Args:
        classification_weight: ``w``, a non-negative number.
        seed: the samples' generator, drawn from across steps (an ``int``
            seeds a fresh one once, here).
    """
    is_number = isinstance(classification_weight, (int, float)) and not isinstance(classification_weight, bool)
    if not is_number or not math.isfinite(classification_weight) or classification_weight < 0:
        raise ValueError(f"classification_weight must be a non-negative finite number, got {classification_weight!r}")
    weight = float(classification_weight)
    generator = _generator(seed)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(model, ClassifyingVAE):
            raise TypeError(f"model must be an owll_helpers.vae.ClassifyingVAE, got {type(model).__name__}")
        x = _check_inputs(model, x)
        y = _check_labels_for(model, y, x.shape[0])
        mean, log_var, z, _ = _latent_samples(model, x, 1, generator)
        z = z[0]
        reconstruction = model.log_likelihood(x, model.decode(z))
        logits = model.classify(z)
        log_p_y = -nn.functional.cross_entropy(logits, y, reduction="none")
        bound = reconstruction + weight * log_p_y - gaussian_kl_to_standard_normal(mean, log_var)
        return -bound.mean(), logits

    return objective


def train_classifying_vae(
    model: ClassifyingVAE,
    train: Split,
    *,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 128,
    classification_weight: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training VAE and classifier",
) -> History:
    """Train ``model`` on the labelled split ``train`` with Adam, through :func:`owll_helpers.train.fit`.

    Maximises :func:`classifying_vae_objective`'s bound with mini-batches,
    shuffled and sampled with generators seeded by ``seed`` (the initial
    weights come from PyTorch's global generator when the model is built:
    seed it first).

    Returns:
        ``fit``'s :class:`~owll_helpers.train.History`: ``train_loss`` is the
        mean negative bound per input of each epoch (nats), ``train_accuracy``
        the accuracy of the classifier on the sampled codes.
    """
    if not isinstance(model, ClassifyingVAE):
        raise TypeError(f"model must be an owll_helpers.vae.ClassifyingVAE, got {type(model).__name__}")
    if not isinstance(train, Split):
        raise TypeError(f"train must be an owll_helpers.data.Split (inputs and labels), got {type(train).__name__}")
    x = _check_inputs(model, train.x)
    _check_labels_for(model, train.y, x.shape[0])
    check_positive_int(seed, "seed", minimum=0)
    objective = classifying_vae_objective(classification_weight, seed=seed)
    with torch.enable_grad():
        return fit(
            model,
            Split(x, train.y),
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            optimizer="adam",
            objective=objective,
            seed=seed,
            progress=progress,
            desc=desc,
        )
