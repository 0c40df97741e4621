"""Out-of-distribution inputs on the digits' 8x8 grid, made offline.

Every set here has the digits' format: float32 values in [0, 1] on an 8x8
grid, as ``(N, 64)`` rows or ``(N, 1, 8, 8)`` images (``images=True``), so a
digits classifier can be asked about them unchanged. Each is a function of a
size and a seed, and gives the same inputs for the same arguments on every
machine. Nothing is downloaded: the material ships with the installed packages.

How the digits were made (Alpaydin & Kaynak 1998, the UCI "Optical
Recognition of Handwritten Digits" set behind scikit-learn's ``load_digits``):
a size-normalised 32x32 *bitmap* of each character is cut into 4x4 blocks and
the "on" pixels of each block are counted, giving 8x8 counts from 0 to 16.
:func:`reduce_bitmap` does exactly that, and the letters and the patches of
photographs go through it, so they differ from the digits in content, not in
format.

- :func:`uniform_noise` -- every pixel uniform on [0, 1];
- :func:`gaussian_noise` -- every pixel Gaussian with the digits' per-pixel
  mean and standard deviation, clipped to [0, 1];
- :func:`permuted_pixels` -- digits whose 64 pixels are shuffled, each image
  by its own permutation (the digits' pixel values, none of their shape);
- :func:`rendered_letters` -- letters rendered with matplotlib's bundled
  DejaVu Sans (regular and bold) and reduced like the digits;
- :func:`natural_patches` -- crops of scikit-learn's two sample photographs
  (``load_sample_images``), binarised and reduced like the digits;
- :func:`scaled` -- ``alpha * x``: the inputs of Hein et al.'s theorem (2019,
  Theorem 3.1), outside [0, 1] for ``alpha > 1``;
- :func:`load_open_set_digits` -- held-out digit classes: train on some
  classes, keep the others as unknowns *near* the data.

:func:`ood_sets` gives the first five (the offline sets of chapter 3's table)
by name.
"""

from __future__ import annotations

import functools
import importlib.util
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import check_positive_int, check_tensor
from .data import DIGITS_IMAGE_SHAPE, DIGITS_MAX_PIXEL, DataSplits, Split, _digits_arrays, load_digits_splits

#: Side of the bitmap that :func:`reduce_bitmap` reduces (the digits' 32x32).
BITMAP_SIZE: int = 32
#: Side of the square blocks whose "on" pixels become one 8x8 pixel.
BLOCK_SIZE: int = 4
#: The letters :func:`rendered_letters` draws: A-Z and a-z without I, l, O and
#: o, which are drawn like the digits 1 and 0 and would not be out-of-distribution.
LETTERS: str = "".join(c for c in string.ascii_letters if c not in "IlOo")
#: Font weights of :func:`rendered_letters`.
FONT_WEIGHTS: tuple[str, ...] = ("regular", "bold")
_FONT_FILES = {"regular": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf"}


def _check_size_and_seed(n_samples: object, seed: object) -> None:
    check_positive_int(n_samples, "n_samples")
    check_positive_int(seed, "seed", minimum=0)


def _output(pixels: np.ndarray, images: bool) -> torch.Tensor:
    x = torch.as_tensor(np.ascontiguousarray(pixels, dtype=np.float32)).reshape(-1, 64)
    return x.reshape(-1, 1, *DIGITS_IMAGE_SHAPE) if images else x


def reduce_bitmap(bitmaps: np.ndarray) -> np.ndarray:
    """Reduce binary 32x32 bitmaps to the digits' 8x8 grid, in [0, 1].

    Each non-overlapping 4x4 block becomes the number of its "on" pixels
    (0..16), divided by 16 as :func:`~owll_helpers.data.load_digits_splits`
    scales the digits.

    Args:
        bitmaps: ``(N, 32, 32)`` array of booleans (or 0/1 values).

    Returns:
        ``(N, 64)`` float32 array in [0, 1].
    """
    bitmaps = np.asarray(bitmaps)
    if bitmaps.ndim != 3 or bitmaps.shape[1:] != (BITMAP_SIZE, BITMAP_SIZE):
        raise ValueError(f"bitmaps must have shape (N, {BITMAP_SIZE}, {BITMAP_SIZE}), got {bitmaps.shape}")
    if not np.isin(bitmaps, (0, 1)).all():
        raise ValueError("bitmaps must be binary (booleans or 0/1 values): the digits count 'on' pixels")
    n = bitmaps.shape[0]
    blocks = bitmaps.astype(np.float32).reshape(n, 8, BLOCK_SIZE, 8, BLOCK_SIZE)
    return (blocks.sum(axis=(2, 4)) / DIGITS_MAX_PIXEL).reshape(n, 64).astype(np.float32)


def uniform_noise(n_samples: int = 500, seed: int = 0, *, images: bool = False) -> torch.Tensor:
    """Inputs whose 64 pixels are independent and uniform on [0, 1]."""
    _check_size_and_seed(n_samples, seed)
    return _output(np.random.default_rng(seed).random((n_samples, 64)), images)


def gaussian_noise(n_samples: int = 500, seed: int = 0, *, images: bool = False) -> torch.Tensor:
    """Independent Gaussian pixels with the digits' per-pixel mean and std, clipped to [0, 1].

    The mean and standard deviation of each of the 64 pixels are those of all
    1,797 digits, so the noise has the digits' first two moments pixel by
    pixel and none of their shapes.
    """
    _check_size_and_seed(n_samples, seed)
    pixels = _digits_arrays()[0].astype(np.float64) / DIGITS_MAX_PIXEL
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    noise = np.random.default_rng(seed).standard_normal((n_samples, 64))
    return _output(np.clip(mean + std * noise, 0.0, 1.0), images)


def permuted_pixels(n_samples: int = 500, seed: int = 0, *, images: bool = False) -> torch.Tensor:
    """Digits (drawn at random) whose 64 pixels are shuffled, each by its own permutation."""
    _check_size_and_seed(n_samples, seed)
    generator = np.random.default_rng(seed)
    pixels = _digits_arrays()[0] / DIGITS_MAX_PIXEL
    chosen = pixels[generator.integers(0, len(pixels), n_samples)]
    shuffled = np.take_along_axis(chosen, generator.random(chosen.shape).argsort(axis=1), axis=1)
    return _output(shuffled, images)


@functools.lru_cache(maxsize=None)
def _font(weight: str, size: int):  # type: ignore[no-untyped-def]
    import matplotlib
    from PIL import ImageFont

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / _FONT_FILES[weight]
    return ImageFont.truetype(str(path), size)


@functools.lru_cache(maxsize=None)
def _glyph(character: str, weight: str) -> np.ndarray:
    """The character drawn large in white on black, cropped to its ink (float in [0, 1])."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(canvas).text((30, 10), character, fill=255, font=_font(weight, 96))
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.5), np.flatnonzero(ink.max(axis=0) > 0.5)
    if rows.size == 0:
        raise ValueError(f"the character {character!r} draws no ink in DejaVu Sans ({weight}); choose visible letters")
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit_into_bitmap(glyph: np.ndarray, height: int, width: int, row: int, col: int) -> np.ndarray:
    from PIL import Image

    resized = Image.fromarray((glyph * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BILINEAR)
    bitmap = np.zeros((BITMAP_SIZE, BITMAP_SIZE), dtype=bool)
    bitmap[row : row + height, col : col + width] = np.asarray(resized) >= 128
    return bitmap


def rendered_letters(
    n_samples: int = 500,
    seed: int = 0,
    *,
    weights: tuple[str, ...] = FONT_WEIGHTS,
    letters: str = LETTERS,
    images: bool = False,
) -> torch.Tensor:
    """Letters rendered with matplotlib's DejaVu Sans and reduced the way the digits were made.

    Each sample draws a letter of ``letters`` and a weight of ``weights`` at
    random, scales the letter's ink to a height of 24 to 32 pixels (its width
    keeps the glyph's proportions, at most 32), places it at a random position
    in a 32x32 bitmap, thresholds it and reduces it with :func:`reduce_bitmap`.
    Like the digits, they are size-normalised characters of one or two
    strokes; only what they depict differs.

    Args:
        n_samples: number of letters.
        seed: seed of the random choices.
        weights: font weights to draw from, among :data:`FONT_WEIGHTS`.
        letters: characters to draw from (default :data:`LETTERS`).
        images: return ``(N, 1, 8, 8)`` instead of ``(N, 64)``.
    """
    _check_size_and_seed(n_samples, seed)
    if not weights or any(w not in FONT_WEIGHTS for w in weights):
        raise ValueError(f"weights must be a non-empty tuple of {FONT_WEIGHTS}, got {weights!r}")
    if not isinstance(letters, str) or not letters or any(c.isspace() for c in letters):
        raise ValueError(f"letters must be a non-empty string of visible characters, got {letters!r}")
    generator = np.random.default_rng(seed)
    bitmaps = np.empty((n_samples, BITMAP_SIZE, BITMAP_SIZE), dtype=bool)
    for i in range(n_samples):
        glyph = _glyph(letters[generator.integers(len(letters))], weights[generator.integers(len(weights))])
        height = int(generator.integers(24, BITMAP_SIZE + 1))
        width = int(np.clip(round(height * glyph.shape[1] / glyph.shape[0]), 4, BITMAP_SIZE))
        row = int(generator.integers(0, BITMAP_SIZE - height + 1))
        col = int(generator.integers(0, BITMAP_SIZE - width + 1))
        bitmaps[i] = _fit_into_bitmap(glyph, height, width, row, col)
    return _output(reduce_bitmap(bitmaps), images)


@functools.lru_cache(maxsize=1)
def _sample_photographs() -> tuple[np.ndarray, ...]:
    """scikit-learn's two sample photographs (china.jpg, flower.jpg) in grey levels in [0, 1].

    Read with Pillow from the files that ``load_sample_images`` reads (sorted
    by name, as it does), without importing ``sklearn.datasets``: that import
    costs about a second per notebook.
    """
    from PIL import Image

    spec = importlib.util.find_spec("sklearn")
    folder = Path(spec.origin).parent / "datasets" / "images" if spec and spec.origin else None
    paths = sorted(folder.glob("*.jpg")) if folder is not None and folder.is_dir() else []
    if paths:
        pixels = []
        for path in paths:
            with Image.open(path) as image:
                pixels.append(np.asarray(image))
    else:  # another layout: ask scikit-learn itself
        from sklearn.datasets import load_sample_images

        pixels = list(load_sample_images().images)
    return tuple(image.astype(np.float32).mean(axis=2) / 255.0 for image in pixels)


def natural_patches(n_samples: int = 500, seed: int = 0, *, images: bool = False) -> torch.Tensor:
    """Square crops of scikit-learn's sample photographs, reduced the way the digits were made.

    Each sample picks one of the two photographs (a temple in China and a
    flower, shipped with scikit-learn), a square crop of 32 to 128 pixels at a
    random position, shrinks it to 32x32, marks as "on" the pixels darker
    than the crop's mean (the digits are dark ink on white paper) and reduces
    the bitmap with :func:`reduce_bitmap`: edges and textures of natural
    images in the digits' format.
    """
    _check_size_and_seed(n_samples, seed)
    from PIL import Image

    photographs = _sample_photographs()
    generator = np.random.default_rng(seed)
    bitmaps = np.empty((n_samples, BITMAP_SIZE, BITMAP_SIZE), dtype=bool)
    for i in range(n_samples):
        photo = photographs[generator.integers(len(photographs))]
        side = int(generator.integers(BITMAP_SIZE, 4 * BITMAP_SIZE + 1))
        top = int(generator.integers(0, photo.shape[0] - side + 1))
        left = int(generator.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize(
            (BITMAP_SIZE, BITMAP_SIZE), Image.Resampling.BOX
        )
        grey = np.asarray(crop, dtype=np.float32)
        bitmaps[i] = grey < grey.mean()
    return _output(reduce_bitmap(bitmaps), images)


def scaled(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """``alpha * x``: the ray of Hein et al. (2019, Theorem 3.1).

    For ``alpha > 1`` the inputs leave the data's range [0, 1]: nothing clips
    them, since that is the point of the theorem (a ReLU network's confidence
    tends to 1 along almost every such ray).
    """
    check_tensor(x, "x", dtype_kind="float", finite=True)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")
    return x * alpha


#: The offline out-of-distribution sets of chapter 3's table, by name.
OOD_SETS: dict[str, Callable[..., torch.Tensor]] = {
    "uniform noise": uniform_noise,
    "Gaussian noise": gaussian_noise,
    "permuted pixels": permuted_pixels,
    "letters": functools.partial(rendered_letters, weights=("regular",)),
    "bold letters": functools.partial(rendered_letters, weights=("bold",)),
    "natural patches": natural_patches,
}


def ood_sets(n_samples: int = 500, seed: int = 0, *, images: bool = False) -> dict[str, torch.Tensor]:
    """Every set of :data:`OOD_SETS`, ``n_samples`` inputs each, drawn with ``seed``."""
    return {name: make(n_samples, seed, images=images) for name, make in OOD_SETS.items()}


@dataclass(frozen=True)
class OpenSetDigits:
    """The digits split by class into knowns (to train on) and unknowns (held out).

    Attributes:
        known: train/val/test splits of the known classes, labels renumbered
            ``0..K-1`` in the order of ``known_classes``.
        unknown: the held-out classes, split the same way (labels are the
            original digits); a model never trains on them.
        known_classes: the digits that are known, in label order.
        unknown_classes: the held-out digits.
    """

    known: DataSplits
    unknown: DataSplits
    known_classes: tuple[int, ...]
    unknown_classes: tuple[int, ...]


def load_open_set_digits(
    known_classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5), seed: int = 0, *, images: bool = False
) -> OpenSetDigits:
    """Digits with some classes held out: unknowns *near* the data.

    The known classes get labels ``0..K-1`` (in the order given); the other
    digits form the unknowns, split into train/val/test like the knowns (use
    ``unknown.test`` for evaluation; the other parts exist so that a method
    that is allowed a few unknowns, as chapter 6's loop is, can draw them).

    Raises:
        TypeError: ``known_classes`` is not a tuple (or other iterable) of
            ints; floats and booleans are refused, not truncated.
        ValueError: not 2 to 9 distinct digits from 0..9, or a negative seed.
    """
    if isinstance(known_classes, (str, bytes)) or not isinstance(known_classes, Iterable):
        raise TypeError(f"known_classes must be a tuple of digits (ints), got {type(known_classes).__name__}")
    known_classes = tuple(known_classes)
    if any(isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) for c in known_classes):
        raise TypeError(f"known_classes must hold ints (digits 0..9), got {known_classes!r}")
    classes = tuple(int(c) for c in known_classes)
    if len(set(classes)) != len(classes) or not 2 <= len(classes) <= 9 or not set(classes) <= set(range(10)):
        raise ValueError(f"known_classes must be 2 to 9 distinct digits from 0..9, got {known_classes!r}")
    unknown_classes = tuple(c for c in range(10) if c not in classes)
    known = load_digits_splits(seed, images=images, classes=classes)
    unknown = load_digits_splits(seed, images=images, classes=unknown_classes)
    renumber = torch.full((10,), -1, dtype=torch.int64)
    renumber[list(classes)] = torch.arange(len(classes))

    def relabelled(split: Split) -> Split:
        return Split(split.x, renumber[split.y])

    known = DataSplits(
        train=relabelled(known.train),
        val=relabelled(known.val),
        test=relabelled(known.test),
        n_classes=len(classes),
        image_shape=known.image_shape,
    )
    return OpenSetDigits(known=known, unknown=unknown, known_classes=classes, unknown_classes=unknown_classes)
