"""Data for the training runs: datasets, per-worker shards and seeded mini-batches.

- :class:`Dataset`: features ``X`` (float64, each column standardised to mean 0 and standard
  deviation 1; a constant column becomes all zeros), targets ``y`` (int64 class labels for
  classification, float64 for regression), ``task`` and ``n_classes`` (0 for regression).
- :func:`synthetic`: a seeded linear teacher; :func:`breast_cancer` and :func:`digits`: small
  real datasets read from the files shipped inside scikit-learn (no network), imported lazily.
- :func:`load_dataset` picks one by name from :data:`DATASETS`.
- :func:`shard` splits a dataset over workers; :class:`Batches` samples one worker's batches,
  deterministic in ``(seed, rank, step)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from commsim.errors import CommsimError

TASKS = ("classification", "regression")


class MissingDependencyError(CommsimError, ImportError):
    """An optional package a dataset needs is not installed."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A feature matrix and its targets; the arrays are made read-only."""

    name: str
    X: np.ndarray
    y: np.ndarray
    task: str
    n_classes: int

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; known: {', '.join(TASKS)}")
        X = np.array(self.X, dtype=np.float64)
        y = np.array(self.y, dtype=np.int64 if self.task == "classification" else np.float64)
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"dataset {self.name!r}: X must be a non-empty 2-D array, got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"dataset {self.name!r}: y must have shape ({X.shape[0]},), got {y.shape}")
        if self.task == "regression" and self.n_classes != 0:
            raise ValueError(f"dataset {self.name!r}: a regression dataset has n_classes 0, got {self.n_classes}")
        if self.task == "classification":
            if self.n_classes < 2:
                raise ValueError(f"dataset {self.name!r}: classification needs n_classes >= 2, got {self.n_classes}")
            if y.min() < 0 or y.max() >= self.n_classes:
                raise ValueError(f"dataset {self.name!r}: labels must lie in 0..{self.n_classes - 1}")
        X.flags.writeable = False
        y.flags.writeable = False
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "n_classes", int(self.n_classes))

    @property
    def n_samples(self) -> int:
        """Number of examples (rows of X)."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features (columns of X)."""
        return int(self.X.shape[1])


def standardise(X: np.ndarray) -> np.ndarray:
    """Columns shifted to mean 0 and scaled to standard deviation 1 (ddof 0); constant columns → 0."""
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    std = centred.std(axis=0)
    return centred / np.where(std > 0, std, 1.0)


def synthetic(
    task: str,
    n_samples: int = 4096,
    n_features: int = 20,
    n_classes: int = 2,
    seed: int = 0,
    noise: float = 0.1,
) -> Dataset:
    """Gaussian features (standardised) labelled by a seeded linear teacher; deterministic in ``seed``.

    The teacher's weights are N(0, 1/n_features), so its outputs have about unit scale and
    ``noise`` is relative to that. Classification: y = argmax(X W* + b* + noise·ε) over
    ``n_classes`` classes. Regression: y = X w* + b* + noise·ε (``n_classes`` is ignored).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    n_samples = _int_at_least(n_samples, "n_samples", 1)
    n_features = _int_at_least(n_features, "n_features", 1)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    rng = np.random.default_rng(_seed(seed))
    X = standardise(rng.standard_normal((n_samples, n_features)))
    scale = 1.0 / np.sqrt(n_features)
    if task == "regression":
        w, b = rng.standard_normal(n_features) * scale, rng.standard_normal()
        y = X @ w + b + noise * rng.standard_normal(n_samples)
        return Dataset("synthetic", X, y, "regression", 0)
    n_classes = _int_at_least(n_classes, "n_classes", 2)
    W, b = rng.standard_normal((n_features, n_classes)) * scale, 0.1 * rng.standard_normal(n_classes)
    logits = X @ W + b + noise * rng.standard_normal((n_samples, n_classes))
    return Dataset("synthetic", X, np.argmax(logits, axis=1), "classification", n_classes)


def _sklearn_datasets(name: str) -> Any:
    try:
        import sklearn.datasets
    except ImportError as exc:
        raise MissingDependencyError(f"dataset {name!r} needs scikit-learn: pip install scikit-learn") from exc
    return sklearn.datasets


def breast_cancer() -> Dataset:
    """Wisconsin breast cancer: 569 × 30, 2 classes (0 malignant, 1 benign); needs scikit-learn."""
    bunch = _sklearn_datasets("breast_cancer").load_breast_cancer()
    return Dataset("breast_cancer", standardise(bunch.data), bunch.target, "classification", 2)


def digits() -> Dataset:
    """8×8 handwritten digits: 1797 × 64, 10 classes; three always-blank pixels stay all-zero columns."""
    bunch = _sklearn_datasets("digits").load_digits()
    return Dataset("digits", standardise(bunch.data), bunch.target, "classification", 10)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "synthetic": synthetic,
    "breast_cancer": breast_cancer,
    "digits": digits,
}
"""Dataset loaders by name."""


def load_dataset(name: str, task: str | None = None, seed: int = 0, **options: Any) -> Dataset:
    """The dataset ``name``.

    ``synthetic``: ``task`` defaults to ``"classification"``; ``seed`` and ``options``
    (``n_samples``, ``n_features``, ``n_classes``, ``noise``) go to :func:`synthetic`.
    Real datasets are fixed: ``task`` may only be ``"classification"``, ``seed`` is unused and no
    options are accepted.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if name == "synthetic":
        allowed = {"n_samples", "n_features", "n_classes", "noise"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for dataset 'synthetic'; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return synthetic(task or "classification", seed=seed, **options)
    if options:
        raise ValueError(f"dataset {name!r} takes no options, got {', '.join(sorted(options))}")
    if task not in (None, "classification"):
        raise ValueError(f"dataset {name!r} is a classification dataset, task {task!r} was asked for")
    return DATASETS[name]()


def shard(dataset: Dataset, n_workers: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split ``dataset`` over ``n_workers``: a seeded permutation cut into contiguous pieces.

    Shard sizes are ⌊N/n⌋ or ⌈N/n⌉ (the first N mod n shards get the extra row); every example
    is in exactly one shard. Returns ``[(X_rank, y_rank) for rank in range(n_workers)]`` (copies).
    """
    n_workers = _int_at_least(n_workers, "n_workers", 1)
    n = dataset.n_samples
    if n_workers > n:
        raise ValueError(
            f"cannot shard dataset {dataset.name!r} of {n} examples over {n_workers} workers: "
            f"each worker needs at least one example"
        )
    order = np.random.default_rng(_seed(seed)).permutation(n)
    return [(dataset.X[idx], dataset.y[idx]) for idx in np.array_split(order, n_workers)]


@dataclass(frozen=True, eq=False)
class Batches:
    """Seeded mini-batches from one worker's shard ``(X, y)``, deterministic in ``(seed, rank, step)``.

    ``Batches(shards[rank], batch_size, seed, rank).batch(step)`` draws ``batch_size`` rows with
    ``np.random.default_rng([seed, rank, step])``, without replacement when ``batch_size`` ≤ the
    shard size and with replacement otherwise. ``batch_size=None`` returns the whole shard every
    step (full-batch gradient descent).
    """

    shard: tuple[np.ndarray, np.ndarray]
    batch_size: int | None
    seed: int = 0
    rank: int = 0

    def __post_init__(self) -> None:
        try:
            X, y = self.shard
        except (TypeError, ValueError):
            raise ValueError("Batches needs a shard (X, y), as returned by shard()") from None
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim != 2 or X.shape[0] == 0 or y.shape != (X.shape[0],):
            raise ValueError(f"Batches needs a non-empty shard X (n, d) and y (n,), got {X.shape} and {y.shape}")
        if self.batch_size is not None:
            _int_at_least(self.batch_size, "batch_size", 1)
        _seed(self.seed)
        _int_at_least(self.rank, "rank", 0)
        object.__setattr__(self, "shard", (X, y))

    @property
    def X(self) -> np.ndarray:
        """The shard's features."""
        return self.shard[0]

    @property
    def y(self) -> np.ndarray:
        """The shard's targets."""
        return self.shard[1]

    @property
    def shard_size(self) -> int:
        """Number of examples in the shard."""
        return int(self.X.shape[0])

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The mini-batch (X, y) of ``step`` (any integer ≥ 0)."""
        step = _int_at_least(step, "step", 0)
        if self.batch_size is None:
            return self.X, self.y
        rng = np.random.default_rng([self.seed, self.rank, step])
        replace = self.batch_size > self.shard_size
        idx = rng.choice(self.shard_size, size=self.batch_size, replace=replace)
        return self.X[idx], self.y[idx]


def _int_at_least(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _seed(seed: Any) -> int:
    return _int_at_least(seed, "seed", 0)
