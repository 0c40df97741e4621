"""Natural corruptions of the digits at five severities, after ImageNet-C.

Hendrycks & Dietterich (2019) measure how a classifier copes with inputs of
its *known* classes that reach it through a worse camera: 15 corruptions
(noise, blur, weather, digital), each at five severities, applied to the
ImageNet validation images (ImageNet-C). Their mean corruption error (mCE)
averages a model's error over severities and corruptions, relative to
AlexNet's. In the course's terms such inputs are *unknown knowns*: they
belong to a class the model holds, but look unlike its training data.

This module adapts five of the fifteen to the digits' format: float values in
[0, 1] on an 8x8 grid, as ``(N, 64)`` rows or ``(N, 1, 8, 8)`` images. Each
function is ``f(x, severity, seed=0)`` with ``severity`` from 1 (mild) to 5
(severe), returns a new tensor of ``x``'s shape and dtype, clipped to
[0, 1], and never changes ``x``. Only the noise draws random numbers; it
gives the same output for the same seed on every machine, and the other
corruptions ignore the seed.

- :func:`gaussian_noise` -- add independent Gaussian noise to every pixel;
  standard deviations 0.08, 0.12, 0.18, 0.26, 0.38, ImageNet-C's own
  (both work on values in [0, 1]);
- :func:`gaussian_blur` -- convolve with a Gaussian of standard deviation
  0.5 to 1.5 *pixels* (ImageNet-C: 1 to 6 pixels of a 224x224 image; one
  8x8 pixel is already a 4x4 block of the digits' 32x32 bitmap, so the
  widths are chosen to blur visibly on the coarse grid), with zero padding
  (the digits' background is 0): ink that spreads beyond the border is lost;
- :func:`contrast` -- ``(x - m) * c + m`` with ``m`` each image's mean and
  ``c`` = 0.4, 0.3, 0.2, 0.1, 0.05, exactly ImageNet-C's contrast;
- :func:`brightness` -- add 0.1 to 0.5 to every pixel (ImageNet-C adds the
  same amounts to the value channel in HSV; a grey digit has only that
  channel);
- :func:`pixelate` -- resample to 6x6, 5x5, 4x4, 3x3 or 2x2 and back to 8x8
  with box filters (ImageNet-C shrinks a 224x224 image to 60 % down to 25 %
  of its side; on 8 pixels those fractions would repeat a size, so the sizes
  go down one pixel at a time).

:data:`CORRUPTIONS` maps their names to the functions and :func:`corrupt`
applies one by name. Weather (snow, frost, fog), motion, zoom and glass blur,
elastic transforms and JPEG need images larger than 8x8 to mean anything and
are left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ._checks import check_choice, check_positive_int, check_tensor
from .data import DIGITS_IMAGE_SHAPE

#: The severities every corruption accepts, mild to severe.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Standard deviation of :func:`gaussian_noise` per severity (ImageNet-C's values).
NOISE_STD: tuple[float, ...] = (0.08, 0.12, 0.18, 0.26, 0.38)
#: Standard deviation, in pixels of the 8x8 grid, of :func:`gaussian_blur` per severity.
BLUR_SIGMA: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
#: Factor ``c`` of :func:`contrast` per severity (ImageNet-C's values).
CONTRAST_FACTOR: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1, 0.05)
#: Amount :func:`brightness` adds per severity (ImageNet-C's values).
BRIGHTNESS_SHIFT: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
#: Side of the coarse grid of :func:`pixelate` per severity.
PIXELATE_SIZE: tuple[int, ...] = (6, 5, 4, 3, 2)

_SIDE = DIGITS_IMAGE_SHAPE[0]
_PIXELS = DIGITS_IMAGE_SHAPE[0] * DIGITS_IMAGE_SHAPE[1]


def _check_inputs(x: object, severity: object, seed: object) -> torch.Tensor:
    """Check ``x``, ``severity`` and ``seed``; return ``x`` as float64 images ``(N, 8, 8)``."""
    check_tensor(x, "x", ndim=(2, 4), dtype_kind="float", finite=True)
    assert isinstance(x, torch.Tensor)
    if tuple(x.shape[1:]) not in ((_PIXELS,), (1, *DIGITS_IMAGE_SHAPE)):
        raise ValueError(
            f"x must be digits as (N, {_PIXELS}) rows or (N, 1, {_SIDE}, {_SIDE}) images, got shape {tuple(x.shape)}"
        )
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        raise ValueError(
            f"x must lie in [0, 1] like the digits of load_digits_splits, got values from {low:.4g} to {high:.4g}"
        )
    check_positive_int(severity, "severity")
    assert isinstance(severity, int)
    if severity > len(SEVERITIES):
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    check_positive_int(seed, "seed", minimum=0)
    return x.detach().to(torch.float64).reshape(-1, *DIGITS_IMAGE_SHAPE)


def _output(images: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``images`` clipped to [0, 1], in the shape and dtype of ``like``."""
    return images.clamp(0.0, 1.0).reshape(like.shape).to(like.dtype)


def gaussian_noise(x: torch.Tensor, severity: int, seed: int = 0) -> torch.Tensor:
    """``x`` plus independent Gaussian noise of standard deviation :data:`NOISE_STD`, clipped to [0, 1].

    The noise is drawn in float64 by a ``torch.Generator`` seeded with
    ``seed``, so it is the same on every machine; a row's noise depends on the
    seed and the row's position in ``x``.
    """
    images = _check_inputs(x, severity, seed)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator, dtype=torch.float64)
    return _output(images + NOISE_STD[severity - 1] * noise, x)


def _blur_matrix(sigma: float) -> torch.Tensor:
    """The 8x8 matrix of a 1-D Gaussian convolution with zero padding (kernel summing to 1 before truncation at the border)."""
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    positions = torch.arange(_SIDE)
    difference = positions[:, None] - positions[None, :]
    matrix = torch.zeros(_SIDE, _SIDE, dtype=torch.float64)
    inside = difference.abs() <= radius
    matrix[inside] = kernel[(difference[inside] + radius)]
    return matrix


def gaussian_blur(x: torch.Tensor, severity: int, seed: int = 0) -> torch.Tensor:
    """``x`` convolved with a Gaussian of :data:`BLUR_SIGMA` pixels, zero-padded; ``seed`` is unused.

    The 2-D Gaussian is separable: each image ``X`` becomes ``B X B^T`` with
    ``B`` the 1-D convolution (kernel truncated at 3 standard deviations and
    normalised to sum 1). Ink near the border partly leaves the image.
    """
    images = _check_inputs(x, severity, seed)
    matrix = _blur_matrix(BLUR_SIGMA[severity - 1])
    return _output(matrix @ images @ matrix.T, x)


def contrast(x: torch.Tensor, severity: int, seed: int = 0) -> torch.Tensor:
    """``(x - m) * c + m`` with ``m`` each image's mean and ``c`` from :data:`CONTRAST_FACTOR`; ``seed`` is unused."""
    images = _check_inputs(x, severity, seed)
    means = images.mean(dim=(1, 2), keepdim=True)
    return _output((images - means) * CONTRAST_FACTOR[severity - 1] + means, x)


def brightness(x: torch.Tensor, severity: int, seed: int = 0) -> torch.Tensor:
    """``x`` plus :data:`BRIGHTNESS_SHIFT`, clipped to [0, 1]; ``seed`` is unused."""
    images = _check_inputs(x, severity, seed)
    return _output(images + BRIGHTNESS_SHIFT[severity - 1], x)


def _box_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """``(n_out, n_in)`` area weights of a box filter that resamples ``n_in`` pixels to ``n_out`` (rows sum to 1).

    Output pixel ``i`` covers ``[i, i + 1) * n_in / n_out`` of the input
    line, and takes each input pixel with the share of that interval it
    covers (exact fractions, so the same on every machine).
    """
    scale = n_in / n_out
    starts = torch.arange(n_out, dtype=torch.float64)[:, None] * scale
    left = torch.arange(n_in, dtype=torch.float64)[None, :]
    overlap = (torch.minimum(starts + scale, left + 1) - torch.maximum(starts, left)).clamp(min=0)
    return overlap / scale


def pixelate(x: torch.Tensor, severity: int, seed: int = 0) -> torch.Tensor:
    """Box-filtered down to a :data:`PIXELATE_SIZE` grid and back up to 8x8; ``seed`` is unused.

    As ImageNet-C (PIL's ``BOX`` resampling both ways): every pixel of the
    coarse grid is the area-weighted mean of the 8x8 pixels it covers, and
    every pixel of the result the area-weighted mean of the coarse pixels
    it covers, each image ``X`` becoming ``U D X D^T U^T``.
    """
    images = _check_inputs(x, severity, seed)
    size = PIXELATE_SIZE[severity - 1]
    resample = _box_matrix(_SIDE, size) @ _box_matrix(size, _SIDE)
    return _output(resample @ images @ resample.T, x)


#: The corruptions by name, each ``f(x, severity, seed=0) -> Tensor``.
CORRUPTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "contrast": contrast,
    "brightness": brightness,
    "pixelate": pixelate,
}


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Apply the corruption called ``name`` (a key of :data:`CORRUPTIONS`) at ``severity`` (1 to 5).

    Args:
        x: digits in [0, 1], ``(N, 64)`` or ``(N, 1, 8, 8)``, floating point.
        name: one of ``gaussian_noise``, ``gaussian_blur``, ``contrast``,
            ``brightness``, ``pixelate``.
        severity: 1 (mild) to 5 (severe).
        seed: seed of the random draws (only the noise draws any).

    Returns:
        The corrupted digits: a new tensor of ``x``'s shape and dtype, in [0, 1].

    Raises:
        TypeError: if ``x`` is not a floating-point tensor, or ``severity``
            or ``seed`` is not an int.
        ValueError: for an unknown ``name``, a shape other than the digits',
            NaN or infinite values, values outside [0, 1], a severity
            outside 1 to 5, or a negative seed.
    """
    check_choice(name, "name", tuple(CORRUPTIONS))
    return CORRUPTIONS[name](x, severity, seed)
