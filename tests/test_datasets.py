"""Tests for commsim.datasets: synthetic and real datasets, shards, seeded batches."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.errors import CommsimError
from commsim.training.datasets import (
    DATASETS,
    Batches,
    Dataset,
    MissingDependencyError,
    breast_cancer,
    digits,
    load_dataset,
    shard,
    standardise,
    synthetic,
)


def ids_dataset(n_samples):
    """A regression dataset whose single feature and target are the row number."""
    rows = np.arange(n_samples, dtype=float)
    return Dataset("ids", rows[:, None], rows, "regression", 0)


def assert_standardised(X):
    """Every column has mean 0 and std 1 to 1e-9, or is all zeros."""
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-9)
    std = X.std(axis=0)
    constant = np.all(X == 0, axis=0)
    np.testing.assert_allclose(std[~constant], 1.0, atol=1e-9)
    return np.flatnonzero(constant)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_synthetic_is_deterministic_in_the_seed(task):
    """One seed gives identical arrays; another seed gives different ones."""
    first, second = synthetic(task, n_samples=200, seed=5), synthetic(task, n_samples=200, seed=5)
    other = synthetic(task, n_samples=200, seed=6)
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.y, second.y)
    assert not np.array_equal(first.X, other.X)


def test_synthetic_classification_fields():
    """Classification: standardised float64 X, int64 labels covering every class."""
    data = synthetic("classification", n_samples=600, n_features=7, n_classes=3, seed=1)
    assert (data.name, data.task, data.n_classes) == ("synthetic", "classification", 3)
    assert data.X.shape == (600, 7) and data.X.dtype == np.float64
    assert data.y.shape == (600,) and data.y.dtype == np.int64
    assert set(np.unique(data.y)) == {0, 1, 2}
    assert (data.n_samples, data.n_features) == (600, 7)
    assert assert_standardised(data.X).size == 0


def test_synthetic_regression_fields_and_noise_level():
    """Regression: float targets, n_classes 0, and a least-squares residual near the noise level."""
    data = synthetic("regression", n_samples=4000, n_features=5, seed=2, noise=0.3)
    assert (data.task, data.n_classes, data.y.dtype) == ("regression", 0, np.float64)
    design = np.column_stack([data.X, np.ones(data.n_samples)])
    coef, *_ = np.linalg.lstsq(design, data.y, rcond=None)
    assert np.std(design @ coef - data.y) == pytest.approx(0.3, rel=0.05)
    noiseless = synthetic("regression", n_samples=100, seed=2, noise=0.0)
    coef, *_ = np.linalg.lstsq(np.column_stack([noiseless.X, np.ones(100)]), noiseless.y, rcond=None)
    assert np.max(np.abs(np.column_stack([noiseless.X, np.ones(100)]) @ coef - noiseless.y)) < 1e-10


def test_synthetic_defaults():
    """The defaults are 4096 × 20, two classes."""
    data = synthetic("classification")
    assert data.X.shape == (4096, 20) and data.n_classes == 2


def test_synthetic_rejects_bad_arguments():
    """Unknown task, too few classes, negative noise or non-integer sizes raise ValueError."""
    with pytest.raises(ValueError, match="unknown task 'ranking'; known: classification, regression"):
        synthetic("ranking")
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        synthetic("classification", n_classes=1)
    with pytest.raises(ValueError, match="noise must be"):
        synthetic("regression", noise=-1.0)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        synthetic("regression", n_samples=2.5)


def test_dataset_arrays_are_read_only():
    """A Dataset's arrays cannot be written through, so shards never alias mutable state."""
    data = synthetic("regression", n_samples=10)
    with pytest.raises(ValueError, match="read-only"):
        data.X[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        data.y[0] = 1.0


def test_dataset_validates_its_fields():
    """Mismatched shapes, labels out of range or a wrong n_classes raise ValueError."""
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        Dataset("bad", np.zeros((3, 2)), np.zeros(2), "regression", 0)
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        Dataset("bad", np.zeros((3, 2)), [0, 1, 2], "classification", 2)
    with pytest.raises(ValueError, match="regression dataset has n_classes 0"):
        Dataset("bad", np.zeros((3, 2)), np.zeros(3), "regression", 2)


def test_standardise_zeroes_constant_columns():
    """A constant column becomes zeros; the others get mean 0 and std 1."""
    X = np.column_stack([np.full(5, 3.0), np.arange(5.0) * 10 + 7])
    out = standardise(X)
    np.testing.assert_array_equal(out[:, 0], 0.0)
    assert out[:, 1].mean() == pytest.approx(0.0, abs=1e-12)
    assert out[:, 1].std() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(
    ("loader", "shape", "n_classes", "constant_columns"),
    [(breast_cancer, (569, 30), 2, []), (digits, (1797, 64), 10, [0, 32, 39])],
)
def test_real_datasets(loader, shape, n_classes, constant_columns):
    """Bundled sklearn datasets: shapes, every class present, standardised columns."""
    data = loader()
    assert data.name == loader.__name__ and data.task == "classification"
    assert data.X.shape == shape and data.X.dtype == np.float64
    assert data.n_classes == n_classes and data.y.dtype == np.int64
    np.testing.assert_array_equal(np.unique(data.y), np.arange(n_classes))
    assert list(assert_standardised(data.X)) == constant_columns


def test_missing_scikit_learn_gives_a_one_line_hint(monkeypatch):
    """Without sklearn, a real dataset raises an ImportError (and CommsimError) saying how to install it."""
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingDependencyError) as info:
        load_dataset("digits")
    assert str(info.value) == "dataset 'digits' needs scikit-learn: pip install scikit-learn"
    assert isinstance(info.value, ImportError) and isinstance(info.value, CommsimError)


def test_load_dataset_by_name():
    """load_dataset forwards task, seed and options to the loader named."""
    assert list(DATASETS) == ["synthetic", "breast_cancer", "digits"]
    data = load_dataset("synthetic", task="regression", seed=3, n_samples=50, n_features=4)
    expected = synthetic("regression", n_samples=50, n_features=4, seed=3)
    np.testing.assert_array_equal(data.X, expected.X)
    np.testing.assert_array_equal(data.y, expected.y)
    assert load_dataset("synthetic", n_samples=10).task == "classification"
    assert load_dataset("breast_cancer", task="classification", seed=9).X.shape == (569, 30)


def test_load_dataset_errors():
    """Unknown names list the known ones; bad tasks and options are refused."""
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known: synthetic, breast_cancer, digits"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="'digits' is a classification dataset"):
        load_dataset("digits", task="regression")
    with pytest.raises(ValueError, match="'digits' takes no options"):
        load_dataset("digits", n_samples=10)
    with pytest.raises(ValueError, match="unknown option.*bogus.*for dataset 'synthetic'"):
        load_dataset("synthetic", bogus=1)


@settings(max_examples=60, deadline=None)
@given(n_samples=st.integers(1, 200), data=st.data())
def test_shards_partition_the_data(n_samples, data):
    """Shards are disjoint, cover every example once and have sizes ⌊N/n⌋ or ⌈N/n⌉."""
    n_workers = data.draw(st.integers(1, n_samples))
    seed = data.draw(st.integers(0, 2**32 - 1))
    shards = shard(ids_dataset(n_samples), n_workers, seed)
    assert len(shards) == n_workers
    sizes = [len(y) for _, y in shards]
    assert set(sizes) <= {n_samples // n_workers, -(-n_samples // n_workers)}
    rows = np.concatenate([X[:, 0] for X, _ in shards])
    np.testing.assert_array_equal(np.sort(rows), np.arange(n_samples))
    for X, y in shards:
        np.testing.assert_array_equal(X[:, 0], y)


def test_shards_are_seeded():
    """The same seed gives the same split; another seed a different one."""
    data = ids_dataset(100)
    first, again, other = shard(data, 4, 1), shard(data, 4, 1), shard(data, 4, 2)
    for (a, _), (b, _) in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], other[0][0])


def test_shard_refuses_more_workers_than_examples():
    """n_workers > N or < 1 raises ValueError naming both numbers."""
    with pytest.raises(ValueError, match="cannot shard dataset 'ids' of 3 examples over 4 workers"):
        shard(ids_dataset(3), 4, 0)
    with pytest.raises(ValueError, match="n_workers must be an integer >= 1"):
        shard(ids_dataset(3), 0, 0)


def test_batches_are_deterministic_in_seed_rank_and_step():
    """batch(step) repeats for equal (seed, rank, step) and changes with any of them."""
    rows = np.arange(50, dtype=float)
    X, y = rows[:, None], rows

    def ids(seed, rank, step):
        return Batches((X, y), batch_size=8, seed=seed, rank=rank).batch(step)[1]

    np.testing.assert_array_equal(ids(0, 1, 5), ids(0, 1, 5))
    assert not np.array_equal(ids(0, 1, 5), ids(0, 1, 6))
    assert not np.array_equal(ids(0, 1, 5), ids(0, 2, 5))
    assert not np.array_equal(ids(0, 1, 5), ids(1, 1, 5))
    expected = np.random.default_rng([0, 1, 5]).choice(50, size=8, replace=False)
    np.testing.assert_array_equal(ids(0, 1, 5), expected)


@settings(max_examples=40, deadline=None)
@given(shard_size=st.integers(1, 40), batch_size=st.integers(1, 60), step=st.integers(0, 10**6))
def test_batches_sample_rows_of_the_shard(shard_size, batch_size, step):
    """A batch has batch_size matching rows; distinct rows when the shard is big enough."""
    rows = np.arange(shard_size, dtype=float)
    X, y = np.column_stack([rows, -rows]), rows
    bx, by = Batches((X, y), batch_size=batch_size, seed=3, rank=2).batch(step)
    assert bx.shape == (batch_size, 2) and by.shape == (batch_size,)
    np.testing.assert_array_equal(bx[:, 0], by)
    assert np.all((0 <= by) & (by < shard_size))
    if batch_size <= shard_size:
        assert len(np.unique(by)) == batch_size


def test_full_batch_and_bad_batch_arguments():
    """batch_size None returns the whole shard; bad sizes, seeds or steps raise ValueError."""
    X, y = np.zeros((5, 2)), np.zeros(5)
    bx, by = Batches((X, y), batch_size=None).batch(7)
    assert bx.shape == (5, 2) and by.shape == (5,)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        Batches((X, y), batch_size=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        Batches((X, y), batch_size=2, seed=-1)
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        Batches((X, y), batch_size=2).batch(-1)
    with pytest.raises(ValueError, match="non-empty shard"):
        Batches((np.zeros((0, 2)), np.zeros(0)), batch_size=2)
    with pytest.raises(ValueError, match=r"needs a shard \(X, y\)"):
        Batches(X, batch_size=2)


def test_batches_take_a_shard_positionally():
    """Batches(shards[rank], batch_size, seed, rank) draws only from that worker's shard."""
    shards = shard(ids_dataset(30), 3, seed=4)
    for rank, (X, y) in enumerate(shards):
        batches = Batches(shards[rank], 4, 4, rank)
        assert batches.shard_size == 10 and np.array_equal(batches.X, X)
        _, by = batches.batch(0)
        assert set(by) <= set(y)
