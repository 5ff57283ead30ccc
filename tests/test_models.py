"""Tests for commsim.models: analytic gradients, losses at known points, training, registry."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optim
from commsim.training.datasets import synthetic
from commsim.training.models import (
    MODELS,
    build_model,
    linear_regression,
    logistic_regression,
    mlp,
)

KEYS = {
    "linear_regression": ["w", "b"],
    "logistic_regression": ["W", "b"],
    "mlp": ["W1", "b1", "W2", "b2"],
}
# name -> (task, learning rate, steps, loss below, accuracy above) for full-batch GD on synthetic data.
TRAINING = {
    "linear_regression": ("regression", 0.5, 200, 0.01, None),
    "logistic_regression": ("classification", 1.0, 300, 0.15, 0.95),
    "mlp": ("classification", 1.0, 300, 0.05, 0.98),
}


def make(name, n_features, n_classes, hidden=4):
    """A model of ``name`` for data of the given shape (regression when name is linear)."""
    if name == "linear_regression":
        return build_model(name, n_features, 0)
    options = {"hidden": hidden} if name == "mlp" else {}
    return build_model(name, n_features, n_classes, **options)


def random_problem(model, n_samples, seed):
    """Random params (not the init), features and valid targets for ``model``."""
    rng = np.random.default_rng(seed)
    params = {key: rng.standard_normal(shape) for key, shape in model.shapes.items()}
    X = rng.standard_normal((n_samples, model.n_features))
    if model.task == "regression":
        y = rng.standard_normal(n_samples)
    else:
        y = rng.integers(0, model.n_classes, size=n_samples)
    return params, X, y


def finite_difference(model, params, X, y, eps=1e-6):
    """Central differences of model.loss with respect to every parameter entry."""
    grads = {}
    for key, value in params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            grad[index] = (model.loss(plus, X, y) - model.loss(minus, X, y)) / (2 * eps)
        grads[key] = grad
    return grads


def gradient_descent(model, params, X, y, lr, steps):
    """``steps`` plain updates params - lr * grad; returns the final params."""
    for _ in range(steps):
        _, grads = model.loss_and_grad(params, X, y)
        params = {key: params[key] - lr * grads[key] for key in params}
    return params


@pytest.mark.parametrize("name", sorted(MODELS))
@settings(max_examples=15, deadline=None)
@given(
    n_features=st.integers(1, 5),
    n_classes=st.integers(2, 4),
    n_samples=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_gradient_matches_central_differences(name, n_features, n_classes, n_samples, seed):
    """The analytic gradient of every model equals central finite differences to rel 1e-6."""
    model = make(name, n_features, n_classes, hidden=3)
    params, X, y = random_problem(model, n_samples, seed)
    _, grads = model.loss_and_grad(params, X, y)
    numeric = finite_difference(model, params, X, y)
    assert list(grads) == list(params)
    for key in params:
        assert grads[key].shape == params[key].shape
        assert grads[key].dtype == np.float64
        scale = max(np.linalg.norm(numeric[key]), 1e-3)
        assert np.linalg.norm(grads[key] - numeric[key]) <= 1e-6 * scale, key


@pytest.mark.parametrize("name", sorted(MODELS))
def test_params_have_fixed_keys_shapes_and_float64(name):
    """init returns float64 arrays with the documented keys in order, shaped as ``shapes``."""
    model = make(name, 6, 3, hidden=5)
    params = model.init(np.random.default_rng(0))
    assert list(params) == KEYS[name] == list(model.shapes)
    for key, value in params.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.float64
        assert value.shape == model.shapes[key]
    assert model.n_params == sum(value.size for value in params.values())
    assert model.flops_per_example == 6 * model.n_params


def test_parameter_counts_by_hand():
    """n_params: d + 1, (d + 1)·C and (d + 1)·h + (h + 1)·C."""
    assert linear_regression(7).n_params == 8
    assert logistic_regression(7, 3).n_params == 24
    assert mlp(7, 3, hidden=5).n_params == 8 * 5 + 6 * 3
    assert mlp(7, 3).hidden == 32
    assert [linear_regression(2).name, logistic_regression(2, 2).name, mlp(2, 2).name] == list(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_init_is_deterministic_in_the_seed(name):
    """Two generators with one seed give equal params; the mlp differs across seeds."""
    model = make(name, 5, 3)
    first = model.init(np.random.default_rng(3))
    second = model.init(np.random.default_rng(3))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    if name == "mlp":
        other = model.init(np.random.default_rng(4))
        assert not np.array_equal(first["W1"], other["W1"])
        assert np.all(first["b1"] == 0) and np.all(first["b2"] == 0)


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_zero_logits_give_log_c(n_classes):
    """Softmax regression at zero params, and an mlp with a zero output layer, have loss log C."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 4))
    y = rng.integers(0, n_classes, size=20)
    logistic = logistic_regression(4, n_classes)
    assert logistic.loss(logistic.init(rng), X, y) == pytest.approx(math.log(n_classes), rel=1e-12)
    net = mlp(4, n_classes, hidden=6)
    params = net.init(rng)
    params["W2"] = np.zeros_like(params["W2"])
    assert net.loss(params, X, y) == pytest.approx(math.log(n_classes), rel=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    """Logits of ±1e4 give a finite loss: 0 when right, the logit gap when wrong."""
    model = logistic_regression(1, 2)
    params = {"W": np.array([[1e4, -1e4]]), "b": np.zeros(2)}
    X = np.array([[1.0], [1.0]])
    assert model.loss(params, X, np.array([0, 0])) == 0.0
    assert model.loss(params, X, np.array([1, 1])) == pytest.approx(2e4)
    _, grads = model.loss_and_grad(params, X, np.array([1, 1]))
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_linear_regression_loss_at_zero_is_half_mean_square():
    """At w = 0, b = 0 the loss is ½·mean(y²) and the bias gradient is −mean(y)."""
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    model = linear_regression(3)
    loss, grads = model.loss_and_grad(model.init(rng), X, y)
    assert loss == pytest.approx(0.5 * np.mean(y**2), rel=1e-12)
    np.testing.assert_allclose(grads["b"], [-np.mean(y)], rtol=1e-12)


def test_least_squares_solution_has_zero_gradient():
    """The closed-form least-squares fit is a stationary point with the residual's loss."""
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((50, 4)), rng.standard_normal(50)
    solution, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(50)]), y, rcond=None)
    params = {"w": solution[:4], "b": solution[4:]}
    model = linear_regression(4)
    loss, grads = model.loss_and_grad(params, X, y)
    residual = X @ solution[:4] + solution[4] - y
    assert loss == pytest.approx(0.5 * np.mean(residual**2), rel=1e-12)
    assert np.max(np.abs(grads["w"])) < 1e-12 and abs(grads["b"][0]) < 1e-12
    assert model.predict(params, X) == pytest.approx(X @ solution[:4] + solution[4])


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_gradient_descent_fits_the_synthetic_data(name):
    """A few hundred full-batch GD steps reach the stated loss and accuracy on easy synthetic data."""
    task, lr, steps, loss_below, accuracy_above = TRAINING[name]
    data = synthetic(task, n_samples=1024, seed=0)
    model = build_model(name, data.n_features, data.n_classes)
    start = model.init(np.random.default_rng(0))
    params = gradient_descent(model, start, data.X, data.y, lr, steps)
    assert model.loss(params, data.X, data.y) < loss_below < model.loss(start, data.X, data.y)
    if accuracy_above is None:
        assert model.accuracy(params, data.X, data.y) is None
    else:
        assert model.accuracy(params, data.X, data.y) > accuracy_above


def test_optim_gradient_descent_drives_softmax_regression_on_four_classes():
    """The optim package's gradient_descent alias works on model params (a dict of arrays)."""
    data = synthetic("classification", n_samples=1024, n_classes=4, seed=1)
    model = build_model("logistic_regression", data.n_features, data.n_classes)
    params = model.init(np.random.default_rng(0))
    optimizer = optim.gradient_descent(1.0)
    state = optimizer.init(params)
    for _ in range(300):
        _, grads = model.loss_and_grad(params, data.X, data.y)
        updates, state = optimizer.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    assert model.loss(params, data.X, data.y) < 0.25
    assert model.accuracy(params, data.X, data.y) > 0.93


def test_accuracy_counts_argmax_matches():
    """Accuracy is the fraction of rows whose largest logit is the label."""
    model = logistic_regression(2, 3)
    params = {"W": np.eye(2, 3), "b": np.zeros(3)}
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert model.accuracy(params, X, np.array([0, 1, 2, 2])) == 0.5
    assert linear_regression(2).accuracy({"w": np.zeros(2), "b": np.zeros(1)}, X, np.zeros(4)) is None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loss_and_grad_leave_params_untouched(name):
    """loss_and_grad neither mutates params nor returns arrays aliasing them."""
    model = make(name, 3, 2)
    params, X, y = random_problem(model, 8, 0)
    before = {k: v.copy() for k, v in params.items()}
    loss, grads = model.loss_and_grad(params, X, y)
    assert isinstance(loss, float) and loss == model.loss(params, X, y)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
        assert not np.shares_memory(grads[key], params[key])


def test_unknown_model_lists_the_known_ones():
    """An unknown name raises ValueError naming it and every registered model."""
    with pytest.raises(ValueError, match=r"unknown model 'cnn'; known: linear_regression, logistic_regression, mlp"):
        build_model("cnn", 3, 2)


def test_unknown_option_is_refused():
    """Options a model does not take raise ValueError naming them."""
    with pytest.raises(ValueError, match="unknown option.*depth.*allowed: hidden"):
        build_model("mlp", 3, 2, depth=2)
    with pytest.raises(ValueError, match="unknown option.*hidden.*allowed: none"):
        build_model("logistic_regression", 3, 2, hidden=8)
    assert build_model("mlp", 3, 2, hidden=8).hidden == 8


@pytest.mark.parametrize(
    ("name", "n_classes", "message"),
    [
        ("linear_regression", 2, "needs a regression dataset"),
        ("logistic_regression", 0, "needs a classification dataset.*regression dataset"),
        ("mlp", 0, "needs a classification dataset"),
        ("mlp", 1, "needs a classification dataset.*n_classes=1"),
    ],
)
def test_model_and_dataset_task_must_match(name, n_classes, message):
    """A regression model on classes, or a classifier on a regression dataset, raises ValueError."""
    with pytest.raises(ValueError, match=message):
        build_model(name, 3, n_classes)


def test_bad_inputs_raise_clear_errors():
    """Wrong keys, shapes, label types or label ranges raise ValueError naming the problem."""
    model = logistic_regression(3, 2)
    params = model.init(np.random.default_rng(0))
    X, y = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"keys \['W', 'b'\]"):
        model.loss({"W": params["W"]}, X, y)
    with pytest.raises(ValueError, match="param 'W' must have shape"):
        model.loss({"W": np.zeros((2, 2)), "b": params["b"]}, X, y)
    with pytest.raises(ValueError, match=r"X of shape \(n >= 1, 3\)"):
        model.loss(params, np.zeros((4, 2)), y)
    with pytest.raises(ValueError, match="y of shape"):
        model.loss(params, X, y[:3])
    with pytest.raises(ValueError, match="integer class labels"):
        model.loss(params, X, y.astype(float))
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        model.loss(params, X, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="n_features must be an integer >= 1"):
        mlp(0, 2)
    with pytest.raises(ValueError, match="hidden must be an integer >= 1"):
        mlp(3, 2, hidden=0)
