"""The MNIST family through torchvision, split like the digits.

Four 28x28 grey-level sets that share one file format (IDX) and one loader in
torchvision (``torchvision.datasets.MNIST`` and its subclasses):

- ``"mnist"``: handwritten digits 0..9 (LeCun, Bottou, Bengio & Haffner, 1998);
- ``"fashion_mnist"``: Zalando's photographs of clothes, 10 classes
  (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747);
- ``"kmnist"``: Kuzushiji-MNIST, 10 cursive Japanese characters
  (Clanuwat et al., 2018, arXiv:1812.01718);
- ``"emnist_letters"``: the "letters" split of EMNIST, 26 handwritten letters
  with upper and lower case merged (Cohen, Afshar, Tapson & van Schaik, 2017,
  arXiv:1702.05373).

:func:`load_mnist_family_splits` returns them as the same :class:`DataSplits`
as :func:`owll_helpers.data.load_digits_splits`, and
:func:`downsample_to_digits_grid` brings them to the digits' 8x8 grid, so a
model trained on the offline digits can be shown MNIST-family inputs.

Nothing here downloads unless asked to (``download=True``, which needs a
network); the course's notebooks run offline on the digits, and these sets are
for those who have the files.  torchvision is imported inside the functions
that need it: importing it costs about two seconds, and it is not one of the
package's required dependencies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._checks import check_choice, check_positive_int, check_tensor
from .data import DIGITS_IMAGE_SHAPE, DataSplits, Split, stratified_split_indices

#: The names :func:`load_mnist_family_splits` accepts.
MNIST_FAMILY: tuple[str, ...] = ("mnist", "fashion_mnist", "kmnist", "emnist_letters")
#: Height and width of an MNIST-family image.
MNIST_IMAGE_SHAPE: tuple[int, int] = (28, 28)
#: Pixels are stored as bytes 0..255.
MNIST_MAX_PIXEL: float = 255.0

# name -> (torchvision class, folder under root, number of classes)
_SETS: dict[str, tuple[str, str, int]] = {
    "mnist": ("MNIST", "MNIST", 10),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST", 10),
    "kmnist": ("KMNIST", "KMNIST", 10),
    "emnist_letters": ("EMNIST", "EMNIST", 26),
}


class MNISTFamilyNotFoundError(FileNotFoundError):
    """The raw files of an MNIST-family set are not where torchvision looks."""


def expected_raw_files(name: str, root: str | Path) -> list[Path]:
    """The files torchvision reads for ``name`` under ``root``, train files first.

    torchvision (0.29, ``torchvision/datasets/mnist.py``) reads uncompressed
    IDX files from ``root/<ClassName>/raw/``: ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` for MNIST, FashionMNIST and KMNIST, and
    ``emnist-letters-{train,test}-{images-idx3,labels-idx1}-ubyte`` for EMNIST.
    """
    check_choice(name, "name", MNIST_FAMILY)
    raw = Path(root) / _SETS[name][1] / "raw"
    if name == "emnist_letters":
        prefixes = ("emnist-letters-train", "emnist-letters-test")
    else:
        prefixes = ("train", "t10k")
    return [raw / f"{prefix}-{kind}-ubyte" for prefix in prefixes for kind in ("images-idx3", "labels-idx1")]


def _not_found(name: str, root: str | Path) -> MNISTFamilyNotFoundError:
    files = expected_raw_files(name, root)
    missing = [f for f in files if not f.is_file()] or files
    listing = "\n".join(f"  {f}" for f in missing)
    return MNISTFamilyNotFoundError(
        f"the {name!r} files are not under {str(root)!r}; torchvision expects "
        f"(uncompressed):\n{listing}\n"
        f"Call load_mnist_family_splits({name!r}, {str(root)!r}, download=True) once, on a "
        "machine with a network, to download them there (or copy them there from one)."
    )


def _read_torchvision(name: str, root: str | Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """Uint8 images ``(N, 28, 28)`` and int64 labels of the training and test files, pooled."""
    try:
        import torchvision.datasets as tv_datasets
    except ImportError as error:  # not a required dependency of owll_helpers
        raise ImportError(
            "the MNIST family is read with torchvision, which is not installed; "
            "install it with the same index as torch, e.g. `pip install torchvision`"
        ) from error
    class_name = _SETS[name][0]
    dataset_class = getattr(tv_datasets, class_name)
    extra = {"split": "letters"} if name == "emnist_letters" else {}
    parts = []
    for train in (True, False):
        try:
            parts.append(dataset_class(root, train=train, download=download, **extra))
        except RuntimeError as error:  # torchvision: "Dataset not found. You can use download=True ..."
            if download or all(f.is_file() for f in expected_raw_files(name, root)):
                raise  # a failed download, or another problem than missing files
            raise _not_found(name, root) from error
    images = np.concatenate([part.data.numpy() for part in parts])
    labels = np.concatenate([part.targets.numpy() for part in parts]).astype(np.int64)
    if name == "emnist_letters":
        # EMNIST's IDX files store each image transposed (the readme of Cohen et
        # al. 2017; torchvision issue pytorch/vision#8783): transpose them back
        # so letters stand upright like MNIST's digits.  Labels are 1..26 for
        # a..z in torchvision (its class 0 is "N/A" and never occurs): shift to 0..25.
        images = images.transpose(0, 2, 1)
        labels = labels - 1
    return images, labels


def _stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of exactly ``n`` samples, class proportions kept, chosen by ``seed``.

    Each class gets its share of ``n`` rounded down, and the samples left over
    go to the classes with the largest remainders (Hamilton's method), so the
    total is exactly ``n``.  A generator of its own (seeded by ``(seed, 1)``)
    picks the samples, independent of the one that later splits them.
    """
    generator = np.random.default_rng([seed, 1])
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * n / len(labels)
    take = np.floor(shares).astype(int)
    order = np.argsort(-(shares - take), kind="stable")
    take[order[: n - int(take.sum())]] += 1
    chosen = [generator.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def load_mnist_family_splits(
    name: str,
    root: str | Path,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    images: bool = False,
    classes: tuple[int, ...] | None = None,
    download: bool = False,
    max_samples: int | None = None,
) -> DataSplits:
    """Load an MNIST-family set as a stratified train/val/test split.

    The files are read by torchvision's own classes
    (``torchvision.datasets.MNIST(root, train=..., download=download)``,
    ``FashionMNIST``, ``KMNIST``, ``EMNIST(..., split="letters")``).  Their
    training and test files are **pooled and split like the digits**
    (:func:`owll_helpers.data.stratified_split_indices`), so ``seed``,
    ``fractions`` and ``classes`` mean exactly what they mean for
    :func:`owll_helpers.data.load_digits_splits` and every part keeps the class
    balance.  The price: the official test sets were written by other people
    than the training sets (LeCun et al. 1998 for MNIST; NIST's partitions for
    EMNIST), and a pooled split mixes the writers, so a test accuracy here is
    not the number papers report on the official test set (the digits'
    splits mix writers too; comparisons inside the course stay fair).

    Pixels are scaled from bytes 0..255 to [0, 1].  EMNIST letters: the images
    are transposed back to upright (EMNIST's files store them transposed) and
    torchvision's labels 1..26 (a..z; its class 0, "N/A", never occurs) become
    0..25.

    Args:
        name: one of :data:`MNIST_FAMILY`.
        root: the folder that holds (or will hold) ``<ClassName>/raw/``; see
            :func:`expected_raw_files`.
        seed: seed of the split and of the ``max_samples`` subset.
        fractions: train, validation and test fractions; they must sum to 1.
        images: return inputs as ``(N, 1, 28, 28)`` images instead of ``(N, 784)``.
        classes: keep only these classes (labels keep their value: 0..9, or
            0..25 for EMNIST letters).
        download: let torchvision download missing files (needs a network).
        max_samples: keep only this many samples in all (after ``classes``),
            a stratified subset chosen by ``seed``, before splitting: for
            laptops.  ``None`` keeps all (70,000; 145,600 for EMNIST letters).

    Returns:
        A :class:`DataSplits` with float32 inputs, int64 labels,
        ``n_classes`` 10 (26 for EMNIST letters) and ``image_shape`` (28, 28).

    Raises:
        MNISTFamilyNotFoundError: the files are missing and ``download`` is
            ``False``; the message lists the files expected and where.
    """
    check_choice(name, "name", MNIST_FAMILY)
    if not isinstance(root, (str, Path)):
        raise TypeError(f"root must be a str or pathlib.Path, got {type(root).__name__}")
    check_positive_int(seed, "seed", minimum=0)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers that sum to 1, got {fractions}")
    n_classes = _SETS[name][2]
    if classes is not None:
        unknown = sorted(set(classes) - set(range(n_classes)))
        if unknown or not classes:
            raise ValueError(
                f"classes must be a non-empty subset of 0..{n_classes - 1} for {name!r}, got {classes}"
            )
    if max_samples is not None:
        check_positive_int(max_samples, "max_samples", minimum=3)
    if not isinstance(download, bool):
        raise TypeError(f"download must be a bool, got {type(download).__name__}")

    pixels, y = _read_torchvision(name, root, download)
    if classes is not None:
        keep = np.flatnonzero(np.isin(y, classes))
        pixels, y = pixels[keep], y[keep]
    if max_samples is not None and max_samples < len(y):
        keep = _stratified_subset(y, max_samples, seed)
        pixels, y = pixels[keep], y[keep]
    parts = stratified_split_indices(y, fractions, seed)
    if any(len(part) == 0 for part in parts):
        sizes = [len(part) for part in parts]
        raise ValueError(
            f"the split of {len(y)} samples at fractions {fractions} leaves an empty part "
            f"(sizes {sizes}); ask for more samples (max_samples) or other fractions"
        )
    shape = (1, *MNIST_IMAGE_SHAPE) if images else (int(np.prod(MNIST_IMAGE_SHAPE)),)

    def to_split(index: np.ndarray) -> Split:
        # Converted part by part, so only the kept samples become float32.
        x = torch.from_numpy(pixels[index].astype(np.float32) / MNIST_MAX_PIXEL)
        return Split(x.reshape(len(index), *shape), torch.from_numpy(y[index]))

    train, val, test = (to_split(part) for part in parts)
    return DataSplits(train=train, val=val, test=test, n_classes=n_classes, image_shape=MNIST_IMAGE_SHAPE)


def downsample_to_digits_grid(x: torch.Tensor) -> torch.Tensor:
    """Reduce 28x28 images in [0, 1] to the digits' 8x8 grid, in [0, 1].

    What it does, exactly: each 28x28 image is padded with two rows and
    columns of zeros on every side to 32x32, then every non-overlapping 4x4
    block is replaced by its mean (``adaptive_avg_pool2d`` to 8x8, which here
    is a 4x4 average pooling), and the result is clipped to [0, 1].  This
    mirrors how the digits were made: 32x32 binary bitmaps whose 4x4 blocks
    were counted, 0..16 (Alpaydin & Kaynak 1998), which
    :func:`~owll_helpers.data.load_digits_splits` divides by 16.  It does not
    make the inputs alike: MNIST's strokes are grey, not binary, and its
    characters fill a 20x20 box inside the 28x28 frame (LeCun et al. 1998),
    so they cover about 5x5 of the 8x8 grid, where the digits' normalized
    bitmaps fill most of it.  The remaining difference is itself a shift of
    the input distribution.

    Args:
        x: float images of shape ``(N, 1, 28, 28)`` or flattened ``(N, 784)``,
            values in [0, 1] (as :func:`load_mnist_family_splits` returns).

    Returns:
        ``(N, 1, 8, 8)`` for image input, ``(N, 64)`` for flat input, same dtype.
    """
    check_tensor(x, "x", ndim=(2, 4), dtype_kind="float", finite=True)
    flat = x.ndim == 2
    expected = (int(np.prod(MNIST_IMAGE_SHAPE)),) if flat else (1, *MNIST_IMAGE_SHAPE)
    if tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"x must have shape (N, 784) or (N, 1, 28, 28), got {tuple(x.shape)}"
        )
    if float(x.min()) < 0.0 or float(x.max()) > 1.0:
        raise ValueError(
            f"x must hold pixels in [0, 1], got values from {float(x.min()):.3g} to {float(x.max()):.3g}; "
            "downsample before standardizing"
        )
    images = x.reshape(-1, 1, *MNIST_IMAGE_SHAPE)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    small = torch.nn.functional.adaptive_avg_pool2d(padded, DIGITS_IMAGE_SHAPE).clamp(0.0, 1.0)
    return small.reshape(len(x), -1) if flat else small
