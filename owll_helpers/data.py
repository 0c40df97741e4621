"""Data that ships offline, as torch tensors.

The in-distribution data of the course is scikit-learn's ``load_digits``: the
1,797 8x8 handwritten digits of the UCI "Optical Recognition of Handwritten
Digits" set (Alpaydin & Kaynak, 1998), installed with scikit-learn, so nothing
is downloaded.  The 2-D toy sets (two moons, blobs) are for pictures.

Out-of-distribution sets in the digits' format are in
:mod:`owll_helpers.ood_data`; the MNIST family, through torchvision, in
:mod:`owll_helpers.mnist_family`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import check_labels, check_positive_int, check_tensor

#: Height and width of a digits image.
DIGITS_IMAGE_SHAPE: tuple[int, int] = (8, 8)
#: The digits' pixels are counts from 0 to 16 (4x4 blocks of a 32x32 bitmap).
DIGITS_MAX_PIXEL: float = 16.0
#: The label of a *known unknown*: an input known not to belong to any class
#: (chapter 4 trains with such inputs; Dhamija et al. 2018).
UNKNOWN_LABEL: int = -1


@dataclass(frozen=True)
class Split:
    """Inputs and integer labels of one part of a data set.

    Attributes:
        x: float32 inputs, one sample per row (``(N, D)``) or per image
            (``(N, 1, H, W)``).
        y: int64 class labels of shape ``(N,)``: class indices from 0, or
            :data:`UNKNOWN_LABEL` (-1) for a known unknown.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        check_tensor(self.x, "x", dtype_kind="float", allow_empty=True)
        if self.x.ndim < 2:
            raise ValueError(f"x must have a sample dimension and features, got shape {tuple(self.x.shape)}")
        check_labels(self.y, "y", self.x.shape[0], allow_empty=True, minimum=UNKNOWN_LABEL)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_features(self) -> int:
        """Number of input values per sample."""
        return int(np.prod(self.x.shape[1:]))


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test parts of a data set, plus what describes it."""

    train: Split
    val: Split
    test: Split
    n_classes: int
    image_shape: tuple[int, int]

    @property
    def n_features(self) -> int:
        """Number of input values per sample."""
        return self.train.n_features


def _to_split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``load_digits``'s pixels and labels, read without importing scikit-learn.

    Importing ``sklearn.datasets`` costs about a second (it pulls in SciPy's
    statistics); the data is a small CSV file inside the installed package.
    """
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.exists():  # another layout: ask scikit-learn itself
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.data.astype(np.float32), bunch.target.astype(np.int64)
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def stratified_split_indices(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int
) -> list[np.ndarray]:
    """Split sample indices into parts of the given fractions, class by class.

    Every class is shuffled with a generator seeded by ``seed`` and cut at the
    same fractions, so each part keeps the class balance; each part is then
    shuffled. The result depends only on ``labels``, ``fractions`` and ``seed``.
    """
    generator = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        cuts = np.round(bounds * len(members)).astype(int)
        for part, (start, stop) in zip(parts, zip(np.concatenate([[0], cuts[:-1]]), cuts)):
            part.append(members[start:stop])
    return [generator.permutation(np.concatenate(part)) for part in parts]


def load_digits_splits(
    seed: int = 0,
    *,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    images: bool = False,
    classes: tuple[int, ...] | None = None,
) -> DataSplits:
    """Load scikit-learn's digits as a stratified train/val/test split.

    Pixels are scaled from counts 0..16 to [0, 1].  The split
    (:func:`stratified_split_indices`) depends only on ``seed`` and
    ``fractions``, so every notebook that asks for the same seed sees the same
    samples.

    Args:
        seed: seed of the (stratified) split.
        fractions: train, validation and test fractions; they must sum to 1.
        images: return inputs as ``(N, 1, 8, 8)`` images instead of ``(N, 64)``.
        classes: keep only these digit classes (labels keep their digit value).

    Returns:
        A :class:`DataSplits` with float32 inputs and int64 labels.
    """
    check_positive_int(seed, "seed", minimum=0)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers that sum to 1, got {fractions}")
    pixels, y = _digits_arrays()
    x = pixels / DIGITS_MAX_PIXEL
    if classes is not None:
        unknown = sorted(set(classes) - set(range(10)))
        if unknown or not classes:
            raise ValueError(f"classes must be a non-empty subset of the digits 0..9, got {classes}")
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
    if images:
        x = x.reshape(-1, 1, *DIGITS_IMAGE_SHAPE)
    train, val, test = (_to_split(x[i], y[i]) for i in stratified_split_indices(y, fractions, seed))
    return DataSplits(train=train, val=val, test=test, n_classes=10, image_shape=DIGITS_IMAGE_SHAPE)


def two_moons(n_samples: int = 400, *, noise: float = 0.1, seed: int = 0) -> Split:
    """Two interleaving half circles in 2-D: scikit-learn's ``make_moons``, sample for sample.

    The same arithmetic and the same draws from ``np.random.RandomState(seed)``
    as ``make_moons(n_samples, noise=noise, random_state=seed)`` (a test
    compares them), without importing ``sklearn.datasets``, which costs 1-3 s
    per notebook.
    """
    check_positive_int(n_samples, "n_samples", minimum=2)
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    angles_outer, angles_inner = np.linspace(0, np.pi, n_outer), np.linspace(0, np.pi, n_inner)
    x = np.vstack(
        [
            np.append(np.cos(angles_outer), 1 - np.cos(angles_inner)),
            np.append(np.sin(angles_outer), 1 - np.sin(angles_inner) - 0.5),
        ]
    ).T
    y = np.hstack([np.zeros(n_outer, dtype=np.int64), np.ones(n_inner, dtype=np.int64)])
    generator = np.random.RandomState(seed)
    order = np.arange(n_samples)
    generator.shuffle(order)
    x, y = x[order], y[order]
    x += generator.normal(scale=noise, size=x.shape)
    return _to_split(x, y)


def blobs(
    n_samples: int = 400, *, n_classes: int = 3, cluster_std: float = 1.0, seed: int = 0
) -> Split:
    """Isotropic Gaussian clusters in 2-D (scikit-learn's ``make_blobs``)."""
    check_positive_int(n_samples, "n_samples", minimum=2)
    check_positive_int(n_classes, "n_classes", minimum=2)
    if cluster_std <= 0:
        raise ValueError(f"cluster_std must be positive, got {cluster_std}")
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=n_samples, centers=n_classes, cluster_std=cluster_std, random_state=seed)
    return _to_split(x, y)


def flip_labels(split: Split, fraction: float, n_classes: int, *, seed: int = 0) -> Split:
    """``split`` with a ``fraction`` of its labels changed to another class, chosen uniformly.

    Symmetric label noise: exactly ``round(fraction * N)`` samples, drawn
    without replacement, get a label drawn uniformly from the *other*
    ``n_classes - 1`` classes (so each flip is a real error). A network
    trained long enough on such labels memorises them and grows overconfident
    (Zhang et al. 2017; Guo et al. 2017 use it to show miscalibration).

    Args:
        split: the clean split (labels ``0..n_classes-1``).
        fraction: the share of labels to flip, in [0, 1].
        n_classes: the number of classes (at least 2).
        seed: seed of NumPy's generator for which samples flip and to what.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    check_positive_int(n_classes, "n_classes", minimum=2)
    check_positive_int(seed, "seed", minimum=0)
    labels = split.y.numpy().copy()
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"split's labels must be classes 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    generator = np.random.default_rng(seed)
    flipped = generator.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
    # An offset of 1..K-1 classes, modulo K, picks uniformly among the other classes.
    labels[flipped] = (labels[flipped] + generator.integers(1, n_classes, size=len(flipped))) % n_classes
    return Split(split.x, torch.as_tensor(labels, dtype=torch.int64))


@dataclass(frozen=True)
class OpenWorldDigits:
    """The digits split for an open-world simulation (chapter 6).

    Attributes:
        start: the labelled data at the start (initial classes only).
        pool: the unlabelled pool; its labels are what an oracle would answer.
        test: the test split, all ten classes.
        initial_classes: the classes of ``start``.
        new_classes: the classes that appear only in the pool.
    """

    start: Split
    pool: Split
    test: Split
    initial_classes: tuple[int, ...]
    new_classes: tuple[int, ...]


def open_world_digits(
    seed: int = 0,
    *,
    initial_classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    start_fraction: float = 0.5,
    per_new_class: int = 10,
) -> OpenWorldDigits:
    """Split the digits into a labelled start, an unlabelled pool with rare new classes, and a test set.

    From the training split of :func:`load_digits_splits` (seed ``seed``):
    ``start`` holds a ``start_fraction`` of each initial class; the pool holds
    the rest of the initial classes plus only ``per_new_class`` samples of
    each other digit. New classes must be rare in the pool, or random
    picking finds them all in the first round. The test split is
    :func:`load_digits_splits`'s, with every class. The choice is stratified
    and depends only on the arguments.
    """
    check_positive_int(seed, "seed", minimum=0)
    check_positive_int(per_new_class, "per_new_class", minimum=0)
    if not 0 < start_fraction < 1:
        raise ValueError(f"start_fraction must lie in (0, 1), got {start_fraction}")
    if not initial_classes or len(set(initial_classes)) != len(initial_classes) or not set(initial_classes) < set(range(10)):
        raise ValueError(f"initial_classes must be distinct digits 0..9, not all of them, got {initial_classes}")
    splits = load_digits_splits(seed)
    x, y = splits.train.x, splits.train.y.numpy()
    known = np.isin(y, initial_classes)
    start_part, pool_part = stratified_split_indices(y[known], (start_fraction, 1 - start_fraction), seed)
    known_ids = np.flatnonzero(known)
    generator = np.random.default_rng(seed)
    new_classes = tuple(c for c in range(10) if c not in initial_classes)
    rare = [generator.permutation(np.flatnonzero(y == c))[:per_new_class] for c in new_classes]
    if any(len(ids) < per_new_class for ids in rare):
        raise ValueError(f"per_new_class ({per_new_class}) is more than the training split holds of some class")
    pool_ids = generator.permutation(np.concatenate([known_ids[pool_part], *rare]))
    start_ids = known_ids[start_part]
    labels = splits.train.y
    return OpenWorldDigits(
        start=Split(x[start_ids], labels[start_ids]),
        pool=Split(x[pool_ids], labels[pool_ids]),
        test=splits.test,
        initial_classes=tuple(sorted(initial_classes)),
        new_classes=new_classes,
    )
