"""The MNIST family, read by torchvision's real classes from tiny IDX files written here.

No file is downloaded: the tests write small sets in the on-disk format that
torchvision reads (``root/<ClassName>/raw/``, uncompressed IDX: a big-endian
magic number 0x00000803 for images or 0x00000801 for labels, the sizes, then
the bytes), and every socket connection raises.  Each image carries its raw
label at pixel (5, 5) (as 9 * label), a unique id at pixel (20, 20) and an
orientation mark at row 0, column 27 of the file, so the tests can check that
labels stay with their images and that EMNIST's images are transposed back.
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from owll_helpers.data import DataSplits
from owll_helpers.mnist_family import (
    MNIST_FAMILY,
    MNISTFamilyNotFoundError,
    downsample_to_digits_grid,
    expected_raw_files,
    load_mnist_family_splits,
)

# Per class: this many images in the training file and in the test file.
N_TRAIN, N_TEST = 8, 2
LABEL_PIXEL, ID_PIXEL, MARK = (5, 5), (20, 20), (0, 27)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 ``array`` as an IDX file: magic 0x0000080<ndim>, big-endian sizes, bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def make_set(name: str, root: Path) -> None:
    """Write a tiny copy of ``name``'s raw files where torchvision looks for them."""
    raw_labels = np.arange(1, 27) if name == "emnist_letters" else np.arange(10)
    files = expected_raw_files(name, root)
    next_id = 0
    for (images_file, labels_file), per_class in zip((files[:2], files[2:]), (N_TRAIN, N_TEST)):
        labels = np.repeat(raw_labels, per_class)
        images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
        images[:, LABEL_PIXEL[0], LABEL_PIXEL[1]] = 9 * labels
        images[:, ID_PIXEL[0], ID_PIXEL[1]] = np.arange(next_id, next_id + len(labels))
        images[:, MARK[0], MARK[1]] = 255
        next_id += len(labels)
        write_idx(images_file, images)
        write_idx(labels_file, labels.astype(np.uint8))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the tests of owll_helpers.mnist_family must not reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist_family")
    for name in MNIST_FAMILY:
        make_set(name, folder)
    return folder


def ids(split) -> list[int]:
    x = split.x.reshape(len(split), 28, 28)
    return torch.round(x[:, ID_PIXEL[0], ID_PIXEL[1]] * 255).long().tolist()


def raw_labels(split) -> torch.Tensor:
    x = split.x.reshape(len(split), 28, 28)
    return torch.round(x[:, LABEL_PIXEL[0], LABEL_PIXEL[1]] * 255 / 9).long()


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_ten_class_sets_pool_both_files_and_split_them(root, name):
    data = load_mnist_family_splits(name, root, seed=0)
    assert isinstance(data, DataSplits)
    assert data.n_classes == 10 and data.image_shape == (28, 28) and data.n_features == 784
    assert [len(data.train), len(data.val), len(data.test)] == [60, 20, 20]
    seen = []
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == (784,)
        assert 0.0 <= float(split.x.min()) and float(split.x.max()) == 1.0
        assert torch.equal(split.y, raw_labels(split))  # each label stays with its image
        assert torch.bincount(split.y, minlength=10).tolist() == [len(split) // 10] * 10
        x = split.x.reshape(len(split), 28, 28)
        assert bool((x[:, MARK[0], MARK[1]] == 1.0).all())  # not transposed
        seen += ids(split)
    assert sorted(seen) == list(range(100))  # both files, each sample once


def test_emnist_letters_labels_become_0_to_25_and_images_stand_upright(root):
    data = load_mnist_family_splits("emnist_letters", root, seed=0, images=True)
    assert data.n_classes == 26 and data.image_shape == (28, 28)
    assert sum(len(s) for s in (data.train, data.val, data.test)) == 26 * (N_TRAIN + N_TEST)
    for split in (data.train, data.val, data.test):
        assert split.x.shape[1:] == (1, 28, 28)
        assert torch.equal(split.y, raw_labels(split) - 1)  # torchvision's 1..26 -> 0..25
        assert set(split.y.tolist()) == set(range(26))
        # The file's row 0, column 27 is row 27, column 0 of the returned image.
        assert bool((split.x[:, 0, 27, 0] == 1.0).all()) and float(split.x[:, 0, 0, 27].max()) == 0.0


def test_split_is_deterministic_and_seed_dependent(root):
    a, b = load_mnist_family_splits("mnist", root, seed=1), load_mnist_family_splits("mnist", root, seed=1)
    c = load_mnist_family_splits("mnist", root, seed=2)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.train.y, b.train.y)
    assert ids(a.test) != ids(c.test)


def test_images_flag_classes_and_fractions(root):
    flat = load_mnist_family_splits("kmnist", root, seed=3, classes=(2, 7), fractions=(0.4, 0.3, 0.3))
    image = load_mnist_family_splits("kmnist", root, seed=3, classes=(2, 7), fractions=(0.4, 0.3, 0.3), images=True)
    assert [len(flat.train), len(flat.val), len(flat.test)] == [8, 6, 6]
    assert set(flat.train.y.tolist()) == {2, 7} and flat.n_classes == 10  # labels keep their value
    assert image.train.x.shape == (8, 1, 28, 28)
    assert torch.equal(image.train.x.reshape(8, 784), flat.train.x)
    letters = load_mnist_family_splits("emnist_letters", root, classes=(0, 25))
    assert set(letters.test.y.tolist()) == {0, 25}


def test_max_samples_takes_a_stratified_subset_chosen_by_seed(root):
    a = load_mnist_family_splits("fashion_mnist", root, seed=0, max_samples=50)
    again = load_mnist_family_splits("fashion_mnist", root, seed=0, max_samples=50)
    other = load_mnist_family_splits("fashion_mnist", root, seed=5, max_samples=50)
    parts = (a.train, a.val, a.test)
    assert [len(s) for s in parts] == [30, 10, 10]
    labels = torch.cat([s.y for s in parts])
    assert torch.bincount(labels, minlength=10).tolist() == [5] * 10
    assert ids(a.train) == ids(again.train)
    chosen = sorted(sum(map(ids, parts), []))
    assert chosen != sorted(sum(map(ids, (other.train, other.val, other.test)), []))
    odd = load_mnist_family_splits("mnist", root, max_samples=37)
    assert sum(len(s) for s in (odd.train, odd.val, odd.test)) == 37  # exactly max_samples
    everything = load_mnist_family_splits("mnist", root, max_samples=10_000)
    assert len(everything.train) + len(everything.val) + len(everything.test) == 100


def test_download_true_with_files_present_reads_them_offline(root):
    data = load_mnist_family_splits("mnist", root, download=True)
    assert len(data.train) == 60


def test_missing_files_name_the_files_and_download_true(tmp_path):
    with pytest.raises(MNISTFamilyNotFoundError, match=r"download=True") as caught:
        load_mnist_family_splits("fashion_mnist", tmp_path)
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    assert str(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "t10k-labels-idx1-ubyte" in message
    # Only the test files of EMNIST letters missing: the message names those.
    make_set("emnist_letters", tmp_path)
    for path in expected_raw_files("emnist_letters", tmp_path)[2:]:
        path.unlink()
    with pytest.raises(MNISTFamilyNotFoundError, match="emnist-letters-test-images-idx3-ubyte") as caught:
        load_mnist_family_splits("emnist_letters", tmp_path)
    assert "emnist-letters-train" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"name": "cifar10"}, ValueError, "'mnist', 'fashion_mnist'"),
        ({"root": 3}, TypeError, "root"),
        ({"fractions": (0.5, 0.5, 0.5)}, ValueError, "sum to 1"),
        ({"fractions": (0.8, 0.2)}, ValueError, "three positive"),
        ({"classes": (3, 10)}, ValueError, r"subset of 0\.\.9"),
        ({"name": "emnist_letters", "classes": (26,)}, ValueError, r"subset of 0\.\.25"),
        ({"classes": ()}, ValueError, "non-empty"),
        ({"seed": -1}, ValueError, "seed"),
        ({"max_samples": 0}, ValueError, "max_samples"),
        ({"max_samples": 2.5}, TypeError, "max_samples"),
        ({"max_samples": 3}, ValueError, "empty part"),
        ({"download": "yes"}, TypeError, "download"),
    ],
)
def test_bad_arguments_say_what_was_expected(root, kwargs, error, words):
    arguments = {"name": "mnist", "root": root, **kwargs}
    with pytest.raises(error, match=words):
        load_mnist_family_splits(arguments.pop("name"), arguments.pop("root"), **arguments)


def test_downsampling_to_the_digits_grid_pads_and_averages_4x4_blocks():
    white = torch.ones(2, 1, 28, 28)
    small = downsample_to_digits_grid(white)
    assert small.shape == (2, 1, 8, 8) and small.dtype == torch.float32
    # Padded to 32x32 with 2 zero rows/columns a side: border blocks half, corners a quarter.
    assert float(small[0, 0, 3, 3]) == 1.0 and float(small[0, 0, 0, 3]) == 0.5
    assert float(small[0, 0, 0, 0]) == 0.25
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    flat = downsample_to_digits_grid(x)
    assert flat.shape == (5, 64) and 0.0 <= float(flat.min()) and float(flat.max()) <= 1.0
    assert torch.equal(flat, downsample_to_digits_grid(x.reshape(5, 1, 28, 28)).reshape(5, 64))
    # Interior block (1, 1) covers rows and columns 2..5 of the 28x28 image.
    assert torch.allclose(flat.reshape(5, 8, 8)[:, 1, 1], x.reshape(5, 28, 28)[:, 2:6, 2:6].mean(dim=(1, 2)))


def test_downsampling_works_on_loaded_data(root):
    data = load_mnist_family_splits("mnist", root, images=True)
    small = downsample_to_digits_grid(data.test.x)
    assert small.shape == (20, 1, 8, 8) and float(small.min()) >= 0.0 and float(small.max()) <= 1.0


@pytest.mark.parametrize(
    "x, error, words",
    [
        ([0.0] * 784, TypeError, "torch.Tensor"),
        (torch.zeros(3, 1, 8, 8), ValueError, r"\(N, 784\) or \(N, 1, 28, 28\)"),
        (torch.zeros(3, 28, 28), ValueError, "2 or 4 dimensions"),
        (torch.zeros(3, 784, dtype=torch.uint8), TypeError, "floating-point"),
        (torch.full((3, 784), 2.0), ValueError, r"in \[0, 1\]"),
        (torch.full((3, 784), float("nan")), ValueError, "NaN"),
    ],
)
def test_downsampling_refuses_bad_input(x, error, words):
    with pytest.raises(error, match=words):
        downsample_to_digits_grid(x)
