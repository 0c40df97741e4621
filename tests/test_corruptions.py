"""Unit tests of owll_helpers.corruptions: ImageNet-C's idea on the 8x8 digits.

Every corruption must keep the digits' format (shape, dtype, values in
[0, 1]), leave its input alone, be repeatable, change the digits more as
the severity grows, compute what its docstring says, and refuse bad
arguments with a message that says what was expected.
"""

from __future__ import annotations

import functools

import pytest
import torch

from owll_helpers.corruptions import (
    BRIGHTNESS_SHIFT,
    CONTRAST_FACTOR,
    CORRUPTIONS,
    NOISE_STD,
    SEVERITIES,
    brightness,
    contrast,
    corrupt,
    gaussian_blur,
    gaussian_noise,
    pixelate,
)
from owll_helpers.data import load_digits_splits

NAMES = tuple(CORRUPTIONS)
#: The corruptions that draw no random numbers.
DETERMINISTIC = ("gaussian_blur", "contrast", "brightness", "pixelate")


@functools.lru_cache(maxsize=None)
def digits() -> torch.Tensor:
    return load_digits_splits(0).test.x[:60].clone()


def test_the_corruptions_by_name():
    assert NAMES == ("gaussian_noise", "gaussian_blur", "contrast", "brightness", "pixelate")
    assert SEVERITIES == (1, 2, 3, 4, 5)
    for name in NAMES:
        assert torch.equal(corrupt(digits(), name, 3, seed=4), CORRUPTIONS[name](digits(), 3, seed=4))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("severity", SEVERITIES)
def test_format_is_kept_and_input_untouched(name, severity):
    x = digits()
    before = x.clone()
    out = corrupt(x, name, severity)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before), "the input must not be changed in place"
    images = corrupt(x.reshape(-1, 1, 8, 8), name, severity)
    assert images.shape == (len(x), 1, 8, 8)
    assert torch.equal(images.reshape(len(x), 64), out), "rows and images must be corrupted alike"
    as_double = corrupt(x.double(), name, severity)
    assert as_double.dtype == torch.float64
    assert torch.allclose(as_double.float(), out, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_repeatable_and_the_seed_matters_only_for_noise(name):
    x = digits()
    assert torch.equal(corrupt(x, name, 4, seed=1), corrupt(x, name, 4, seed=1))
    if name in DETERMINISTIC:
        assert torch.equal(corrupt(x, name, 4, seed=1), corrupt(x, name, 4, seed=2))
    else:
        assert not torch.equal(corrupt(x, name, 4, seed=1), corrupt(x, name, 4, seed=2))


@pytest.mark.parametrize("name", NAMES)
def test_more_severe_changes_more(name):
    x = digits()
    changes = [float((corrupt(x, name, s) - x).abs().mean()) for s in SEVERITIES]
    assert changes[0] > 0
    assert all(a < b for a, b in zip(changes, changes[1:])), f"{name}: mean change by severity {changes}"


def test_gaussian_noise_has_the_stated_spread():
    grey = torch.full((2000, 64), 0.5)
    for severity in (1, 2):  # far from the clipping at 0 and 1
        noise = gaussian_noise(grey, severity, seed=0) - grey
        assert abs(float(noise.mean())) < 0.01
        assert float(noise.std()) == pytest.approx(NOISE_STD[severity - 1], rel=0.03)


def test_gaussian_blur_spreads_ink_and_keeps_it_away_from_the_border():
    dot = torch.zeros(1, 64)
    dot[0, 3 * 8 + 3] = 1.0
    for severity in SEVERITIES:
        blurred = gaussian_blur(dot, severity).reshape(8, 8)
        assert torch.equal(blurred, blurred.T), "a Gaussian of a centred dot is symmetric"
        assert float(blurred[3, 3]) == float(blurred.max()) and float(blurred[3, 3]) < 1
    # sigma 0.5 reaches 2 pixels: nothing leaves the 8x8 grid, the ink is kept
    assert float(gaussian_blur(dot, 1).sum()) == pytest.approx(1.0, abs=1e-6)
    # a wider Gaussian loses ink beyond the border (zero padding)
    assert float(gaussian_blur(dot, 5).sum()) < 0.99
    flat = torch.full((1, 64), 0.5)
    assert float(gaussian_blur(flat, 3).reshape(8, 8)[3:5, 3:5].min()) == pytest.approx(0.5, abs=0.01)


def test_contrast_is_imagenet_c_formula():
    x = digits().double()
    for severity in SEVERITIES:
        means = x.mean(dim=1, keepdim=True)
        expected = (x - means) * CONTRAST_FACTOR[severity - 1] + means
        assert torch.allclose(contrast(x, severity), expected, atol=1e-12)
        assert torch.allclose(contrast(x, severity).mean(dim=1), means[:, 0], atol=1e-12)


def test_brightness_adds_and_clips():
    x = torch.tensor([[0.0] * 32 + [1.0] * 16 + [0.75] * 16])
    for severity in SEVERITIES:
        out = brightness(x, severity)[0]
        assert torch.allclose(out[:32], torch.full((32,), BRIGHTNESS_SHIFT[severity - 1]))
        assert torch.equal(out[32:48], torch.ones(16))
        assert torch.allclose(out[48:], torch.full((16,), min(0.75 + BRIGHTNESS_SHIFT[severity - 1], 1.0)))


def test_pixelate_averages_boxes():
    x = digits().double()
    # severity 3: a 4x4 grid, each coarse pixel the mean of a 2x2 block, repeated back
    blocks = x.reshape(-1, 4, 2, 4, 2).mean(dim=(2, 4))
    expected = blocks.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2).reshape(-1, 64)
    assert torch.allclose(pixelate(x, 3), expected, atol=1e-12)
    # severity 5: a 2x2 grid of 4x4 blocks
    quarters = x.reshape(-1, 2, 4, 2, 4).mean(dim=(2, 4))
    expected = quarters.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2).reshape(-1, 64)
    assert torch.allclose(pixelate(x, 5), expected, atol=1e-12)
    flat = torch.full((3, 64), 0.3, dtype=torch.float64)
    for severity in SEVERITIES:  # box filters keep a constant image and the mean ink
        assert torch.allclose(pixelate(flat, severity), flat, atol=1e-12)
        assert torch.allclose(pixelate(x, severity).mean(dim=1), x.mean(dim=1), atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_are_refused_with_a_clear_message(name):
    x = digits()
    with pytest.raises(TypeError, match="torch.Tensor"):
        corrupt(x.numpy(), name, 1)
    with pytest.raises(TypeError, match="floating-point"):
        corrupt((x * 16).long(), name, 1)
    with pytest.raises(ValueError, match=r"\(N, 64\) rows or \(N, 1, 8, 8\) images"):
        corrupt(x[:, :63], name, 1)
    with pytest.raises(ValueError, match=r"\(N, 64\) rows or \(N, 1, 8, 8\) images"):
        corrupt(x.reshape(-1, 1, 4, 16), name, 1)
    with pytest.raises(ValueError, match="dimensions"):
        corrupt(x.reshape(-1, 8, 8), name, 1)
    with pytest.raises(ValueError, match="empty"):
        corrupt(x[:0], name, 1)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        corrupt(bad, name, 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(x * 16, name, 1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(x - 0.5, name, 1)
    for severity in (0, -1, 6):
        with pytest.raises(ValueError, match="severity"):
            corrupt(x, name, severity)
    for severity in (2.0, True, "3"):
        with pytest.raises(TypeError, match="severity"):
            corrupt(x, name, severity)
    with pytest.raises(ValueError, match="seed"):
        corrupt(x, name, 1, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        corrupt(x, name, 1, seed=0.5)


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="gaussian_noise"):
        corrupt(digits(), "snow", 1)
