"""Unit tests of owll_helpers.ood_data: the offline out-of-distribution sets.

Every set must have the digits' format (float32 in [0, 1], ``(N, 64)`` or
``(N, 1, 8, 8)``), give the same inputs for the same seed and other inputs
for another, and refuse bad arguments with a message that says what was
expected.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from owll_helpers.data import _digits_arrays, load_digits_splits
from owll_helpers.ood_data import (
    LETTERS,
    OOD_SETS,
    gaussian_noise,
    load_open_set_digits,
    natural_patches,
    ood_sets,
    permuted_pixels,
    reduce_bitmap,
    rendered_letters,
    scaled,
    uniform_noise,
)

SIZE = 40
SET_NAMES = tuple(OOD_SETS)
GENERATORS = {
    "uniform_noise": uniform_noise,
    "gaussian_noise": gaussian_noise,
    "permuted_pixels": permuted_pixels,
    "rendered_letters": rendered_letters,
    "natural_patches": natural_patches,
}


@functools.lru_cache(maxsize=None)
def made(name: str, n_samples: int = SIZE, seed: int = 0, images: bool = False) -> torch.Tensor:
    return OOD_SETS[name](n_samples, seed, images=images)


# --- format ------------------------------------------------------------------


@pytest.mark.parametrize("name", SET_NAMES)
def test_shape_dtype_and_range(name):
    x = made(name)
    assert x.shape == (SIZE, 64)
    assert x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert bool(torch.isfinite(x).all())


@pytest.mark.parametrize("name", SET_NAMES)
def test_images_flag_gives_the_same_inputs_as_images(name):
    images = made(name, images=True)
    assert images.shape == (SIZE, 1, 8, 8) and images.dtype == torch.float32
    assert torch.equal(images.reshape(SIZE, 64), made(name))


@pytest.mark.parametrize("name", SET_NAMES)
def test_same_seed_same_inputs_other_seed_other_inputs(name):
    first = made(name)
    again = OOD_SETS[name](SIZE, 0)
    other = made(name, seed=1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", SET_NAMES)
def test_inputs_are_not_all_alike(name):
    # A set of identical (or blank) inputs would test nothing.
    x = made(name)
    assert len({tuple(row) for row in x.tolist()}) >= SIZE // 2
    assert float(x.sum(dim=1).min()) > 0


def test_ood_sets_gives_every_set_by_name():
    sets = ood_sets(7, seed=3)
    assert tuple(sets) == SET_NAMES
    for name, x in sets.items():
        assert torch.equal(x, OOD_SETS[name](7, 3)), name
    assert ood_sets(7, seed=3, images=True)["letters"].shape == (7, 1, 8, 8)


def test_sets_built_from_bitmaps_take_the_digits_sixteen_levels():
    # Counts of "on" pixels in 4x4 blocks: multiples of 1/16, as the digits.
    for name in ("letters", "bold letters", "natural patches", "permuted pixels"):
        counts = made(name) * 16
        assert torch.equal(counts, counts.round()), name


def test_uniform_noise_looks_uniform():
    x = uniform_noise(2000, seed=0)
    assert abs(float(x.mean()) - 0.5) < 0.01
    assert abs(float(x.var()) - 1 / 12) < 0.005


def test_gaussian_noise_has_the_digits_pixel_means():
    x = gaussian_noise(4000, seed=0).double()
    digits = torch.as_tensor(_digits_arrays()[0], dtype=torch.float64) / 16
    # Clipping to [0, 1] moves the means a little; per pixel they stay close.
    assert float((x.mean(dim=0) - digits.mean(dim=0)).abs().max()) < 0.12
    # The pixels that are always 0 in the digits (std 0) stay 0.
    always_zero = digits.max(dim=0).values == 0
    assert always_zero.any() and float(x[:, always_zero].abs().max()) == 0.0


def test_permuted_pixels_keep_a_digits_values_and_lose_its_shape():
    digits = _digits_arrays()[0] / 16
    sorted_digits = {tuple(row) for row in np.sort(digits, axis=1).tolist()}
    x = permuted_pixels(SIZE, seed=0).numpy().astype(np.float64)
    for row in np.sort(x, axis=1).tolist():
        assert tuple(row) in sorted_digits
    as_is = {tuple(row) for row in digits.tolist()}
    assert sum(tuple(row) in as_is for row in x.tolist()) == 0


def test_rendered_letters_draw_only_the_letters_asked_for():
    capital_a = rendered_letters(5, seed=0, letters="A", weights=("regular",))
    capital_v = rendered_letters(5, seed=0, letters="V", weights=("regular",))
    # An A and a V share the random layout (same seed) and differ in shape.
    assert not torch.equal(capital_a, capital_v)
    # A letter takes 24 to 32 of the 32 rows of the bitmap: at least 6 of the 8 rows are inked.
    assert int((capital_a.reshape(5, 8, 8).sum(dim=2) > 0).sum(dim=1).min()) >= 6


def test_bold_letters_carry_more_ink_than_regular_ones():
    regular = rendered_letters(200, seed=0, weights=("regular",))
    bold = rendered_letters(200, seed=0, weights=("bold",))
    assert float(bold.mean()) > float(regular.mean()) + 0.05


def test_the_default_letters_leave_out_those_drawn_like_digits():
    assert not set("IlOo") & set(LETTERS)
    assert len(LETTERS) == 48


def test_natural_patches_are_about_half_ink():
    # Pixels darker than the crop's mean are "on": about half of them.
    assert 0.35 < float(natural_patches(200, seed=0).mean()) < 0.65


# --- reduce_bitmap ---------------------------------------------------------------


def test_reduce_bitmap_counts_on_pixels_per_block():
    bitmaps = np.zeros((2, 32, 32), dtype=bool)
    bitmaps[0, :4, :4] = True  # the whole top-left block: 16 of 16
    bitmaps[0, 4, 4] = True  # one pixel of block (1, 1)
    bitmaps[1] = True
    reduced = reduce_bitmap(bitmaps)
    assert reduced.shape == (2, 64) and reduced.dtype == np.float32
    grid = reduced[0].reshape(8, 8)
    assert grid[0, 0] == 1.0 and grid[1, 1] == 1 / 16
    assert grid.sum() == 1.0 + 1 / 16
    assert np.all(reduced[1] == 1.0)
    assert np.array_equal(reduce_bitmap(bitmaps.astype(np.uint8)), reduced)


def test_reduce_bitmap_reproduces_a_digit_from_its_blocks():
    # Build a 32x32 bitmap that has exactly a digit's counts in each 4x4 block.
    digit = _digits_arrays()[0][0].astype(int).reshape(8, 8)
    bitmap = np.zeros((32, 32), dtype=bool)
    for i in range(8):
        for j in range(8):
            block = np.zeros(16, dtype=bool)
            block[: digit[i, j]] = True
            bitmap[4 * i : 4 * i + 4, 4 * j : 4 * j + 4] = block.reshape(4, 4)
    assert np.array_equal(reduce_bitmap(bitmap[None])[0], (digit / 16).reshape(64).astype(np.float32))


@pytest.mark.parametrize(
    "bitmaps, words",
    [
        (np.full((2, 32, 32), 0.5), "binary"),
        (np.full((1, 32, 32), 2), "binary"),
        (np.full((1, 32, 32), np.nan), "binary"),
        (np.zeros((32, 32), dtype=bool), r"shape \(N, 32, 32\)"),
        (np.zeros((2, 32, 31), dtype=bool), r"shape \(N, 32, 32\)"),
        (np.zeros((2, 1, 32, 32), dtype=bool), r"shape \(N, 32, 32\)"),
    ],
)
def test_reduce_bitmap_refuses_what_is_not_a_binary_bitmap(bitmaps, words):
    with pytest.raises(ValueError, match=words):
        reduce_bitmap(bitmaps)


# --- bad arguments -----------------------------------------------------------------


@pytest.mark.parametrize("make", GENERATORS.values(), ids=GENERATORS.keys())
@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"n_samples": 0}, ValueError, "n_samples must be at least 1"),
        ({"n_samples": -3}, ValueError, "n_samples must be at least 1"),
        ({"n_samples": 10.0}, TypeError, "n_samples must be an int"),
        ({"n_samples": True}, TypeError, "n_samples must be an int"),
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_bad_size_or_seed_says_what_was_expected(make, kwargs, error, words):
    with pytest.raises(error, match=words):
        make(**kwargs)


@pytest.mark.parametrize("weights", [(), ("italic",), ("regular", "heavy"), "bold", None])
def test_rendered_letters_refuse_unknown_weights(weights):
    with pytest.raises(ValueError, match="weights must be a non-empty tuple of"):
        rendered_letters(3, weights=weights)


@pytest.mark.parametrize("letters", ["", "A B", " ", "\n", ["A", "B"], None])
def test_rendered_letters_refuse_letters_that_are_not_visible_characters(letters):
    with pytest.raises(ValueError, match="letters must be a non-empty string of visible characters"):
        rendered_letters(3, letters=letters)


def test_rendered_letters_refuse_a_character_without_ink():
    # A zero-width space is not whitespace to Python but draws nothing.
    with pytest.raises(ValueError, match="draws no ink"):
        rendered_letters(3, letters="A\u200b")


# --- scaled ---------------------------------------------------------------------------


def test_scaled_multiplies_without_clipping():
    x = uniform_noise(5, seed=0)
    assert torch.equal(scaled(x, 10.0), x * 10)
    assert torch.equal(scaled(x, 3), x * 3)
    assert float(scaled(x, 1e5).max()) > 1.0
    assert torch.allclose(scaled(x, 0.5), x / 2)


@pytest.mark.parametrize("alpha", [0, 0.0, -1.0, math.nan, math.inf, True, "2", None])
def test_scaled_refuses_alpha_that_is_not_a_positive_finite_number(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        scaled(uniform_noise(3), alpha)


def test_scaled_refuses_inputs_that_are_not_finite_float_tensors():
    with pytest.raises(TypeError, match="floating-point"):
        scaled(torch.ones(3, 64, dtype=torch.int64), 2.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        scaled(torch.full((3, 64), math.nan), 2.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        scaled(np.ones((3, 64)), 2.0)


# --- held-out digit classes ---------------------------------------------------------


def test_open_set_digits_relabel_the_known_classes_in_the_order_given():
    known = (7, 2, 9)
    split = load_open_set_digits(known, seed=0)
    reference = load_digits_splits(seed=0, classes=known)
    assert split.known_classes == known and split.unknown_classes == (0, 1, 3, 4, 5, 6, 8)
    assert split.known.n_classes == 3
    for part in ("train", "val", "test"):
        ours, original = getattr(split.known, part), getattr(reference, part)
        assert torch.equal(ours.x, original.x)
        # digit 7 -> label 0, 2 -> 1, 9 -> 2
        expected = torch.tensor([known.index(int(d)) for d in original.y])
        assert torch.equal(ours.y, expected)
        assert set(ours.y.tolist()) == {0, 1, 2}


def test_no_unknown_class_reaches_the_known_splits():
    split = load_open_set_digits((0, 1, 2, 3, 4, 5), seed=1)
    digits, labels = _digits_arrays()
    digit_of = {}
    for row, label in zip((digits / 16).tolist(), labels.tolist()):
        digit_of.setdefault(tuple(row), set()).add(label)
    for part in ("train", "val", "test"):
        known, unknown = getattr(split.known, part), getattr(split.unknown, part)
        assert set(known.y.tolist()) <= set(range(6))
        assert set(unknown.y.tolist()) == {6, 7, 8, 9}
        # Look every known input up in the raw data: it is an image of a known digit.
        for row in known.x.tolist():
            assert digit_of[tuple(np.float32(v) for v in row)] <= {0, 1, 2, 3, 4, 5}
    n_known = sum(len(getattr(split.known, p)) for p in ("train", "val", "test"))
    n_unknown = sum(len(getattr(split.unknown, p)) for p in ("train", "val", "test"))
    assert n_known == int(np.isin(labels, range(6)).sum()) and n_known + n_unknown == 1797


def test_open_set_digits_images_and_determinism():
    a = load_open_set_digits((3, 4), seed=2, images=True)
    b = load_open_set_digits((3, 4), seed=2, images=True)
    assert a.known.train.x.shape[1:] == (1, 8, 8) and a.unknown.test.x.shape[1:] == (1, 8, 8)
    assert torch.equal(a.known.test.x, b.known.test.x) and torch.equal(a.unknown.test.y, b.unknown.test.y)
    assert not torch.equal(a.known.test.x, load_open_set_digits((3, 4), seed=3, images=True).known.test.x)


def test_open_set_digits_accept_numpy_integers():
    split = load_open_set_digits(tuple(np.arange(4)), seed=0)
    assert split.known_classes == (0, 1, 2, 3)


@pytest.mark.parametrize(
    "classes, error, words",
    [
        ((1,), ValueError, "2 to 9 distinct digits"),
        (tuple(range(10)), ValueError, "2 to 9 distinct digits"),
        ((1, 1, 2), ValueError, "2 to 9 distinct digits"),
        ((0, 10), ValueError, "2 to 9 distinct digits"),
        ((-1, 2), ValueError, "2 to 9 distinct digits"),
        ((), ValueError, "2 to 9 distinct digits"),
        ((0.5, 1, 2), TypeError, "must hold ints"),
        ((1.0, 2.0), TypeError, "must hold ints"),
        ((True, 2), TypeError, "must hold ints"),
        ("012", TypeError, "tuple of digits"),
        (5, TypeError, "tuple of digits"),
    ],
)
def test_open_set_digits_refuse_bad_classes(classes, error, words):
    with pytest.raises(error, match=words):
        load_open_set_digits(classes)


def test_open_set_digits_refuse_a_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        load_open_set_digits((0, 1), seed=-1)


def test_the_photographs_are_scikit_learns_sample_images():
    from sklearn.datasets import load_sample_images

    from owll_helpers.ood_data import _sample_photographs

    expected = [image.astype(np.float32).mean(axis=2) / 255.0 for image in load_sample_images().images]
    got = _sample_photographs()
    assert len(got) == len(expected) == 2
    for mine, theirs in zip(got, expected):
        assert np.array_equal(mine, theirs)
