"""Small models in pure numpy: a loss, its analytic gradient and a cost per example.

A model is a frozen dataclass. Its parameters are a dict of float64 arrays with keys in a fixed
order (the order of :attr:`Model.shapes`), the ``Params`` of :mod:`optim`, so an optimizer
update is ``optim.apply_updates(params, updates)`` and plain gradient descent is
``{k: params[k] - lr * grads[k] for k in params}``.

Every model exposes

- ``name`` and ``task`` (``"regression"`` or ``"classification"``), ``n_features``, ``n_classes``
  (0 for regression);
- ``shapes``: the parameter shapes by key, in order; ``n_params``: their total size;
- ``init(rng) -> params``: deterministic for a seeded ``np.random.Generator``;
- ``loss_and_grad(params, X, y) -> (loss, grads)`` with ``grads`` keyed and shaped like ``params``;
- ``loss(params, X, y)`` and ``accuracy(params, X, y)`` (``None`` for regression);
- ``flops_per_example``: the compute of one forward and backward pass over one example, taken as
  6 × ``n_params`` — the usual dense-layer rule: the forward pass is one multiply-add (2 FLOPs)
  per weight, the backward pass twice that (gradients with respect to the weights and to the
  layer's input). Biases and the nonlinearities are counted as weights / ignored.

Losses are means over the batch, so gradients do not grow with the batch size:

- linear regression: ½·mean((Xw + b − y)²);
- softmax regression and the MLP: mean cross-entropy −mean(log softmax(z)[y]), evaluated with a
  stable log-sum-exp.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

Params = dict[str, np.ndarray]

REGRESSION = "regression"
CLASSIFICATION = "classification"


class Model(Protocol):
    """What every model in :data:`MODELS` provides (see the module docstring)."""

    name: str
    task: str
    n_features: int
    n_classes: int

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]: ...

    @property
    def n_params(self) -> int: ...

    @property
    def flops_per_example(self) -> int: ...

    def init(self, rng: np.random.Generator) -> Params: ...

    def loss_and_grad(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> tuple[float, Params]: ...

    def loss(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> float: ...

    def accuracy(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> float | None: ...


# --------------------------------------------------------------------------- helpers


def _positive_int(value: Any, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_params(model: Model, params: Mapping[str, np.ndarray]) -> Params:
    """The params as float64 arrays, after checking keys and shapes against the model."""
    shapes = model.shapes
    if not isinstance(params, Mapping) or list(params) != list(shapes):
        keys = list(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"{model.name} params must have keys {list(shapes)}, got {keys}")
    out = {}
    for key, shape in shapes.items():
        value = np.asarray(params[key], dtype=np.float64)
        if value.shape != shape:
            raise ValueError(f"{model.name} param {key!r} must have shape {shape}, got {value.shape}")
        out[key] = value
    return out


def _check_X(model: Model, X: Any) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != model.n_features or X.shape[0] == 0:
        raise ValueError(
            f"{model.name} needs X of shape (n >= 1, {model.n_features}), got {X.shape}"
        )
    return X


def _check_targets(model: Model, X: np.ndarray, y: Any) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"{model.name} needs y of shape ({X.shape[0]},), got {y.shape}")
    if model.task == REGRESSION:
        return y.astype(np.float64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{model.name} needs integer class labels, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= model.n_classes:
        raise ValueError(
            f"{model.name} labels must lie in 0..{model.n_classes - 1}, "
            f"got range {int(y.min())}..{int(y.max())}"
        )
    return y.astype(np.intp)


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer labels under softmax(logits), and d loss / d logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = np.arange(len(y))
    loss = -float(log_probs[rows, y].mean())
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1.0
    dlogits /= len(y)
    return loss, dlogits


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == y))


class _Base:
    """Shared plumbing; subclasses define ``shapes``, ``_logits`` and ``_loss_and_grad``."""

    name: ClassVar[str]
    task: ClassVar[str]
    n_features: int
    n_classes: int

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(int(np.prod(shape)) for shape in self.shapes.values())

    @property
    def flops_per_example(self) -> int:
        """Forward + backward FLOPs for one example: 6 × n_params (2 forward, 4 backward)."""
        return 6 * self.n_params

    def _loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        raise NotImplementedError

    def _logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def loss_and_grad(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> tuple[float, Params]:
        """(mean loss over the batch, gradient dict with the keys and shapes of ``params``)."""
        params = _check_params(self, params)
        X = _check_X(self, X)
        return self._loss_and_grad(params, X, _check_targets(self, X, y))

    def loss(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> float:
        """The mean loss over the batch (the first half of :meth:`loss_and_grad`)."""
        return self.loss_and_grad(params, X, y)[0]

    def accuracy(self, params: Mapping[str, np.ndarray], X: Any, y: Any) -> float | None:
        """Fraction of rows whose arg-max logit is the label; ``None`` for regression."""
        if self.task == REGRESSION:
            return None
        params = _check_params(self, params)
        X = _check_X(self, X)
        return _accuracy(self._logits(params, X), _check_targets(self, X, y))


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class LinearRegression(_Base):
    """ŷ = Xw + b, loss ½·mean((ŷ − y)²); params ``w`` (d,) and ``b`` (1,)."""

    n_features: int
    n_classes: ClassVar[int] = 0
    name: ClassVar[str] = "linear_regression"
    task: ClassVar[str] = REGRESSION

    def __post_init__(self) -> None:
        _positive_int(self.n_features, "n_features")

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"w": (self.n_features,), "b": (1,)}

    def init(self, rng: np.random.Generator) -> Params:
        """Zeros (the loss is convex; ``rng`` is accepted for a uniform interface)."""
        return {key: np.zeros(shape) for key, shape in self.shapes.items()}

    def predict(self, params: Mapping[str, np.ndarray], X: Any) -> np.ndarray:
        """ŷ = Xw + b, shape (n,)."""
        params = _check_params(self, params)
        return _check_X(self, X) @ params["w"] + params["b"][0]

    def _loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        residual = X @ params["w"] + params["b"][0] - y
        loss = 0.5 * float(np.mean(residual**2))
        n = len(y)
        return loss, {"w": X.T @ residual / n, "b": np.array([residual.sum() / n])}


@dataclass(frozen=True)
class LogisticRegression(_Base):
    """Softmax regression z = XW + b, mean cross-entropy; params ``W`` (d, C) and ``b`` (C,)."""

    n_features: int
    n_classes: int
    name: ClassVar[str] = "logistic_regression"
    task: ClassVar[str] = CLASSIFICATION

    def __post_init__(self) -> None:
        _positive_int(self.n_features, "n_features")
        _positive_int(self.n_classes, "n_classes", minimum=2)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_features, self.n_classes), "b": (self.n_classes,)}

    def init(self, rng: np.random.Generator) -> Params:
        """Zeros (the loss is convex; ``rng`` is accepted for a uniform interface)."""
        return {key: np.zeros(shape) for key, shape in self.shapes.items()}

    def _logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        return X @ params["W"] + params["b"]

    def _loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        loss, dlogits = _cross_entropy(self._logits(params, X), y)
        return loss, {"W": X.T @ dlogits, "b": dlogits.sum(axis=0)}


@dataclass(frozen=True)
class MLP(_Base):
    """z = tanh(XW1 + b1)W2 + b2, mean cross-entropy; params ``W1`` (d, h), ``b1`` (h,), ``W2`` (h, C), ``b2`` (C,)."""

    n_features: int
    n_classes: int
    hidden: int = 32
    name: ClassVar[str] = "mlp"
    task: ClassVar[str] = CLASSIFICATION

    def __post_init__(self) -> None:
        _positive_int(self.n_features, "n_features")
        _positive_int(self.n_classes, "n_classes", minimum=2)
        _positive_int(self.hidden, "hidden")

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        d, h, c = self.n_features, self.hidden, self.n_classes
        return {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}

    def init(self, rng: np.random.Generator) -> Params:
        """Weights N(0, 1/fan_in) (LeCun normal), biases zero; deterministic for a seeded ``rng``."""
        d, h, c = self.n_features, self.hidden, self.n_classes
        return {
            "W1": rng.standard_normal((d, h)) / np.sqrt(d),
            "b1": np.zeros(h),
            "W2": rng.standard_normal((h, c)) / np.sqrt(h),
            "b2": np.zeros(c),
        }

    def _logits(self, params: Params, X: np.ndarray) -> np.ndarray:
        hidden = np.tanh(X @ params["W1"] + params["b1"])
        return hidden @ params["W2"] + params["b2"]

    def _loss_and_grad(self, params: Params, X: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        hidden = np.tanh(X @ params["W1"] + params["b1"])
        loss, dlogits = _cross_entropy(hidden @ params["W2"] + params["b2"], y)
        dpre = (dlogits @ params["W2"].T) * (1.0 - hidden**2)
        grads = {
            "W1": X.T @ dpre,
            "b1": dpre.sum(axis=0),
            "W2": hidden.T @ dlogits,
            "b2": dlogits.sum(axis=0),
        }
        return loss, grads


# --------------------------------------------------------------------------- registry


def linear_regression(n_features: int) -> LinearRegression:
    """Least squares ½·mean((Xw + b − y)²) on ``n_features`` inputs."""
    return LinearRegression(n_features)


def logistic_regression(n_features: int, n_classes: int) -> LogisticRegression:
    """Softmax regression over ``n_classes`` ≥ 2 classes."""
    return LogisticRegression(n_features, n_classes)


def mlp(n_features: int, n_classes: int, hidden: int = 32) -> MLP:
    """One tanh hidden layer of ``hidden`` units and a softmax output over ``n_classes`` ≥ 2."""
    return MLP(n_features, n_classes, hidden)


MODELS: dict[str, Callable[..., Model]] = {
    "linear_regression": linear_regression,
    "logistic_regression": logistic_regression,
    "mlp": mlp,
}
"""Model constructors by name."""

_TASKS = {"linear_regression": REGRESSION, "logistic_regression": CLASSIFICATION, "mlp": CLASSIFICATION}
_OPTIONS = {"linear_regression": set(), "logistic_regression": set(), "mlp": {"hidden"}}


def build_model(name: str, n_features: int, n_classes: int, **options: Any) -> Model:
    """The model ``name`` for data with ``n_features`` columns and ``n_classes`` classes.

    ``n_classes`` is the dataset's: 0 for a regression dataset, ≥ 2 for classification (as in
    ``commsim.datasets.Dataset``). Raises ``ValueError`` for an unknown name or option, or a
    model that does not fit the dataset's task.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    unknown = sorted(set(options) - _OPTIONS[name])
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[name])) or "none"
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; allowed: {allowed}")
    n_classes = _positive_int(n_classes, "n_classes", minimum=0)
    if _TASKS[name] == REGRESSION:
        if n_classes != 0:
            raise ValueError(
                f"model {name!r} needs a regression dataset, got a classification dataset "
                f"with {n_classes} classes"
            )
        return MODELS[name](n_features, **options)
    if n_classes < 2:
        raise ValueError(
            f"model {name!r} needs a classification dataset (n_classes >= 2), "
            f"got {'a regression dataset' if n_classes == 0 else 'n_classes=1'}"
        )
    return MODELS[name](n_features, n_classes, **options)
