"""Helpers for the course *Learning in the Presence of the Unknown*.

The notebooks import this package for everything that is not the point of the
lesson: data, seeding, model builders, training loops and plots.  It is
organized by concern, one small module each:

- :mod:`owll_helpers.seed` -- one call that makes a run repeatable;
- :mod:`owll_helpers.data` -- scikit-learn's digits as tensors, 2-D toy sets;
- :mod:`owll_helpers.ood_data` -- out-of-distribution inputs in the digits' format, made offline;
- :mod:`owll_helpers.corruptions` -- natural corruptions of the digits at five severities, after ImageNet-C (Hendrycks & Dietterich 2019);
- :mod:`owll_helpers.mnist_family` -- MNIST, Fashion-MNIST, KMNIST, EMNIST letters via torchvision, split like the digits;
- :mod:`owll_helpers.models` -- MLP and CNN builders, weight initialization;
- :mod:`owll_helpers.train` -- a training loop with a progress bar, evaluation;
- :mod:`owll_helpers.optim` -- SGD and Adam updates identical to ``torch.optim``'s;
- :mod:`owll_helpers.propagation` -- signals through plain deep layer stacks;
- :mod:`owll_helpers.smoothness` -- the loss landscape along the gradient (Santurkar et al. 2018);
- :mod:`owll_helpers.metrics` -- MMC, AUROC, AUPR and FPR at 95 % TPR, in-distribution positive;
- :mod:`owll_helpers.scores` -- confidence scores of a classifier (max softmax, max logit, ODIN);
- :mod:`owll_helpers.calibration` -- reliability bins, ECE and MCE, temperature scaling, ECE's noise;
- :mod:`owll_helpers.losses` -- losses with known unknowns (outlier exposure, entropic, objectosphere);
- :mod:`owll_helpers.evt` -- FitHigh Weibull tails and OpenMax (Bendale & Boult 2016);
- :mod:`owll_helpers.detectors` -- detectors with ``fit`` and ``score``: max softmax, max logit, energy, Mahalanobis, OpenMax;
- :mod:`owll_helpers.attacks` -- FGSM and the confidence attack of ACET (Hein et al. 2019);
- :mod:`owll_helpers.vae` -- a small variational autoencoder, its ELBO and IWAE bounds;
- :mod:`owll_helpers.open_world` -- the open-world loop: nearest class mean with rejection, query selection, a round, replay;
- :mod:`owll_helpers.numerics` -- pinned numerical kernels, the same stored numbers on every machine;
- :mod:`owll_helpers.plotting` -- the course's figure style and shared plots;
- :mod:`owll_helpers.testing` -- what the assignments' tests use;
- :mod:`owll_helpers.check` -- ``owll-check``, the students' check of a notebook before submitting.

Functions that an assignment asks students to write are *not* here until a
book notebook needs them (the notebooks import, they do not paste); the
assignment's tests then make them raise while the student's code runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
