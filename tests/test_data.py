import pytest
import torch

from owll_helpers.data import DataSplits, Split, blobs, load_digits_splits, two_moons


def test_digits_split_sizes_ranges_and_types():
    data = load_digits_splits(seed=0)
    assert isinstance(data, DataSplits)
    sizes = [len(data.train), len(data.val), len(data.test)]
    assert sum(sizes) == 1797
    assert sizes == pytest.approx([1078, 359, 360], abs=2)
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.shape[1] == 64
        assert 0.0 <= float(split.x.min()) and float(split.x.max()) <= 1.0
    assert float(data.train.x.max()) == 1.0
    assert data.n_classes == 10 and data.n_features == 64


def test_digits_splits_are_disjoint_and_stratified():
    data = load_digits_splits(seed=0)
    rows = [set(map(tuple, s.x.tolist())) for s in (data.train, data.val, data.test)]
    # load_digits holds a few duplicate images, so compare counts, not only sets.
    assert len(rows[0] & rows[2]) <= 5 and len(rows[1] & rows[2]) <= 5
    counts = torch.bincount(data.test.y, minlength=10)
    assert int(counts.min()) >= 34 and int(counts.max()) <= 38


def test_digits_split_is_deterministic_and_seed_dependent():
    a, b, c = load_digits_splits(seed=1), load_digits_splits(seed=1), load_digits_splits(seed=2)
    assert torch.equal(a.test.x, b.test.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)


def test_digits_as_images_and_subset_of_classes():
    data = load_digits_splits(seed=0, images=True, classes=(0, 1, 2))
    assert data.train.x.shape[1:] == (1, 8, 8)
    assert set(torch.unique(data.train.y).tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"fractions": (0.5, 0.5, 0.5)}, ValueError, "sum to 1"),
        ({"fractions": (1.0, 0.0, 0.0)}, ValueError, "positive"),
        ({"classes": (3, 11)}, ValueError, "subset of the digits"),
        ({"classes": ()}, ValueError, "non-empty"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_digits_bad_arguments_say_what_was_expected(kwargs, error, words):
    with pytest.raises(error, match=words):
        load_digits_splits(**kwargs)


def test_toy_sets_are_2d_and_deterministic():
    moons, again = two_moons(100, seed=4), two_moons(100, seed=4)
    assert moons.x.shape == (100, 2) and torch.equal(moons.x, again.x)
    assert set(moons.y.tolist()) == {0, 1}
    clusters = blobs(90, n_classes=3, seed=0)
    assert clusters.x.shape == (90, 2) and set(clusters.y.tolist()) == {0, 1, 2}


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: two_moons(1), ValueError, "n_samples"),
        (lambda: two_moons(10, noise=-0.1), ValueError, "noise"),
        (lambda: blobs(10, n_classes=1), ValueError, "n_classes"),
        (lambda: blobs(10, cluster_std=0), ValueError, "cluster_std"),
    ],
)
def test_toy_sets_refuse_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("n_samples, noise, seed", [(400, 0.1, 0), (101, 0.2, 3), (2, 0.0, 7), (1000, 0.05, 11)])
def test_two_moons_is_scikit_learns_make_moons_sample_for_sample(n_samples, noise, seed):
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    moons = two_moons(n_samples, noise=noise, seed=seed)
    assert torch.equal(moons.x, torch.as_tensor(x, dtype=torch.float32))
    assert torch.equal(moons.y, torch.as_tensor(y, dtype=torch.int64))


@pytest.mark.parametrize(
    "x, y, error, words",
    [
        (torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3, dtype=torch.int64), TypeError, "floating-point"),
        (torch.zeros(3), torch.zeros(3, dtype=torch.int64), ValueError, "sample dimension"),
        (torch.zeros(3, 2), torch.zeros(4, dtype=torch.int64), ValueError, "one label per sample"),
        (torch.zeros(3, 2), torch.zeros(3), TypeError, "integer"),
        (torch.zeros(2, 2), torch.tensor([0, -2]), ValueError, "at least -1"),
        ([[0.0]], torch.zeros(1, dtype=torch.int64), TypeError, "torch.Tensor"),
    ],
)
def test_split_checks_its_contents(x, y, error, words):
    with pytest.raises(error, match=words):
        Split(x, y)


def test_split_accepts_known_unknowns_labelled_minus_one():
    from owll_helpers.data import UNKNOWN_LABEL

    split = Split(torch.zeros(2, 2), torch.tensor([0, UNKNOWN_LABEL]))
    assert UNKNOWN_LABEL == -1 and split.y.tolist() == [0, -1]


def test_digits_read_without_sklearn_are_sklearns_digits():
    from sklearn.datasets import load_digits

    from owll_helpers.data import _digits_arrays

    pixels, labels = _digits_arrays()
    bunch = load_digits()
    assert pixels.shape == (1797, 64)
    assert (pixels == bunch.data).all() and (labels == bunch.target).all()


def test_stratified_split_keeps_every_class_balanced_and_covers_all_samples():
    import numpy as np

    from owll_helpers.data import stratified_split_indices

    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    parts = stratified_split_indices(labels, (0.5, 0.3, 0.2), seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    for part, fraction in zip(parts, (0.5, 0.3, 0.2)):
        assert np.bincount(labels[part], minlength=4).tolist() == [round(fraction * n) for n in (10, 20, 30, 40)]
    again = stratified_split_indices(labels, (0.5, 0.3, 0.2), seed=3)
    assert all((a == b).all() for a, b in zip(parts, again))


def test_flip_labels_changes_exactly_the_fraction_to_other_classes():
    from owll_helpers.data import Split, flip_labels

    clean = Split(torch.zeros(300, 2), torch.arange(300) % 10)
    noisy = flip_labels(clean, 0.2, 10, seed=3)
    changed = noisy.y != clean.y
    assert int(changed.sum()) == 60 and noisy.x is clean.x
    assert noisy.y.min() >= 0 and noisy.y.max() <= 9
    # Every other class is reachable: over many flips, all nine offsets occur.
    offsets = ((noisy.y - clean.y) % 10)[changed]
    assert set(offsets.tolist()) == set(range(1, 10))
    assert torch.equal(flip_labels(clean, 0.2, 10, seed=3).y, noisy.y)
    assert torch.equal(flip_labels(clean, 0.0, 10).y, clean.y)
    with pytest.raises(ValueError, match="fraction"):
        flip_labels(clean, 1.5, 10)
    with pytest.raises(ValueError, match="labels"):
        flip_labels(clean, 0.1, 5)
