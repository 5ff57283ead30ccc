"""Optimizers as (init, update) pairs: aliases, chain, dict params, stateful optimizers, schedules."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optim
from optim import L1, L2, LInf, Spectral

G = np.array([0.5, -3.0, 0.0, 2.0])
MATRIX_G = np.array([[3.0, 0.0], [4.0, 5.0], [0.0, -1.0]])


def one_step(optimizer, grads, params=None):
    """Updates of the first step from a fresh state."""
    params = grads if params is None else params
    return optimizer.update(grads, optimizer.init(params), params)[0]


def run_steps(optimizer, grads_list):
    """Updates of consecutive steps for the given gradients."""
    state = optimizer.init(grads_list[0])
    updates = []
    for grads in grads_list:
        update, state = optimizer.update(grads, state)
        updates.append(update)
    return updates


@pytest.mark.parametrize(
    ("alias", "norm", "g", "closed_form"),
    [
        (optim.gradient_descent, L2(), G, -(0.3 / 2) * G),
        (optim.sign_descent, LInf(), G, -(0.3 / 2) * 5.5 * np.sign(G)),
        (optim.coordinate_descent, L1(), G, -(0.3 / 2) * 3.0 * np.array([0.0, -1.0, 0.0, 0.0])),
        (
            optim.spectral_descent,
            Spectral(),
            MATRIX_G,
            -(0.3 / 2) * np.linalg.norm(MATRIX_G, "nuc") * np.linalg.svd(MATRIX_G, full_matrices=False)[0]
            @ np.linalg.svd(MATRIX_G, full_matrices=False)[2],
        ),
    ],
)
def test_alias_equals_its_derivation(alias, norm, g, closed_form):
    """Each named alias is steepest_descent under its norm, with the closed form of the table."""
    assert np.array_equal(one_step(alias(0.3), g), one_step(optim.steepest_descent(norm, 0.3), g))
    np.testing.assert_allclose(one_step(alias(0.3), g), closed_form, rtol=1e-12, atol=1e-15)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e3, 1e3)), st.floats(0.01, 10.0))
def test_gradient_descent_has_learning_rate_half_alpha(g, alpha):
    """gradient_descent(α) steps −(α/2)·g."""
    updates = one_step(optim.gradient_descent(alpha), g)
    np.testing.assert_allclose(updates, -(alpha / 2) * g, rtol=1e-12, atol=1e-300)


def test_chain_composes_left_to_right():
    """chain feeds each transformation's updates to the next and keeps one state per link."""
    optimizer = optim.chain(optim.trace(0.5), optim.scale_by_learning_rate(2.0))
    first, second = run_steps(optimizer, [np.array([1.0, -2.0]), np.array([3.0, 0.0])])
    np.testing.assert_allclose(first, [-2.0, 4.0])
    np.testing.assert_allclose(second, [-2.0 * (0.5 + 3.0), -2.0 * (-1.0 + 0.0)])
    assert len(optimizer.init(np.zeros(2))) == 2
    sign_then_step = optim.chain(optim.scale_by_sign(), optim.scale_by_learning_rate(0.1))
    assert np.array_equal(one_step(sign_then_step, G), -0.1 * np.sign(G))


def test_update_does_not_mutate_its_arguments():
    """update is pure: grads and the old state are unchanged."""
    optimizer = optim.adam(0.1)
    grads = np.array([1.0, -2.0])
    state = optimizer.init(grads)
    optimizer.update(grads, state)
    assert np.array_equal(grads, [1.0, -2.0])
    assert state[0].count == 0 and not state[0].mu.any() and not state[0].nu.any()


def test_dict_params_with_a_norm_per_entry():
    """A dict of norms acts per entry: Spectral on the matrix, L2 on the bias."""
    grads = {"w": MATRIX_G, "b": np.array([3.0, -4.0])}
    optimizer = optim.steepest_descent({"w": Spectral(), "b": L2()}, 0.5)
    updates = one_step(optimizer, grads)
    assert np.array_equal(updates["w"], one_step(optim.spectral_descent(0.5), MATRIX_G))
    np.testing.assert_allclose(updates["b"], [-0.75, 1.0])
    params = {"w": np.ones((3, 2)), "b": np.zeros(2)}
    new_params = optim.apply_updates(params, updates)
    np.testing.assert_allclose(new_params["b"], [-0.75, 1.0])
    assert np.array_equal(params["b"], [0.0, 0.0])


def test_single_norm_applies_to_each_dict_entry_alone():
    """One norm with dict params is applied to every entry independently."""
    grads = {"a": np.array([1.0, -2.0]), "b": np.array([0.0, 5.0])}
    updates = one_step(optim.sign_descent(1.0), grads)
    np.testing.assert_allclose(updates["a"], [-1.5, 1.5])
    np.testing.assert_allclose(updates["b"], [0.0, -2.5])


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_optimizer_works_on_dict_params(name):
    """Every registered optimizer takes dict params and matches its per-entry array updates."""
    grads = {"w": MATRIX_G, "b": np.array([[0.5, -1.0]])}
    updates = one_step(optim.get(name, 0.1), grads)
    for key, g in grads.items():
        np.testing.assert_allclose(updates[key], one_step(optim.get(name, 0.1), g))


def test_structure_mismatch_raises():
    """Dicts with different keys, or a dict paired with an array, raise ValueError."""
    with pytest.raises(ValueError, match="keys"):
        optim.apply_updates({"a": np.zeros(1)}, {"b": np.zeros(1)})
    with pytest.raises(ValueError, match="dict"):
        one_step(optim.steepest_descent({"a": L2()}, 1.0), np.ones(2))


def test_adam_two_steps_by_hand():
    """Adam's first two updates equal the hand computation (b1 = 0.9, b2 = 0.999, ε = 1e-8)."""
    first, second = run_steps(optim.adam(0.1), [np.array([1.0, -2.0, 0.0]), np.array([3.0, 1.0, 0.0])])
    # t = 1: m̂ = g, v̂ = g², so u = −0.1·g/(|g| + ε).
    np.testing.assert_allclose(first, [-0.1 / (1 + 1e-8), 0.2 / (2 + 1e-8), 0.0], rtol=1e-14)
    # t = 2: m = 0.9·0.1·g₁ + 0.1·g₂ = [0.39, −0.08], v = 0.999·0.001·g₁² + 0.001·g₂² = [0.009999, 0.004996].
    m_hat = np.array([0.39, -0.08]) / (1 - 0.9**2)
    v_hat = np.array([0.009999, 0.004996]) / (1 - 0.999**2)
    np.testing.assert_allclose(second[:2], -0.1 * m_hat / (np.sqrt(v_hat) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(second[:2], [-0.0917781, 0.0266337], rtol=1e-5)
    assert second[2] == 0.0


def test_adam_with_eps_zero_gives_zero_for_zero_gradient():
    """ε = 0: a coordinate whose gradient was always 0 gets update 0, not NaN (and no warning)."""
    first, second = run_steps(optim.adam(0.1, eps=0.0), [np.array([2.0, 0.0]), np.array([-1.0, 0.0])])
    np.testing.assert_allclose(first, [-0.1, 0.0])
    assert second[1] == 0.0 and np.isfinite(second).all()


def test_adam_without_moments_is_sign_step():
    """b1 = b2 = 0, ε = 0: u = −η·sign(g)."""
    assert np.array_equal(one_step(optim.adam(0.1, b1=0.0, b2=0.0, eps=0.0), G), -0.1 * np.sign(G))


def test_adam_without_bias_correction():
    """Without bias correction the first step is −η·(1−b1)·g/√((1−b2)·g²)."""
    expected = -0.1 * 0.1 / np.sqrt(0.001) * np.sign(G)
    updates = one_step(optim.adam(0.1, eps=0.0, bias_correction=False), G)
    np.testing.assert_allclose(updates, expected, rtol=1e-12)


def test_sign_sgd_step_is_fixed():
    """sign_sgd steps −η·sign(g) whatever |g| is; sign(0) = 0."""
    np.testing.assert_allclose(one_step(optim.sign_sgd(0.1), G), [-0.1, 0.1, 0.0, -0.1])
    assert np.array_equal(one_step(optim.sign_sgd(0.1), 1000 * G), one_step(optim.sign_sgd(0.1), G))


def test_signum_takes_sign_of_momentum():
    """signum: v₂ = β·g₁ + g₂ = [−2.5, −1.5, 0] gives u₂ = −η·sign(v₂) = [η, η, 0]."""
    grads = [np.array([1.0, -1.0, 2.0]), np.array([-3.0, -1.0, -1.0])]
    first, second = run_steps(optim.signum(0.1, beta=0.5), grads)
    np.testing.assert_allclose(first, [-0.1, 0.1, -0.1])
    np.testing.assert_allclose(second, [0.1, 0.1, 0.0])


def test_momentum_accumulates():
    """momentum: v₁ = g₁, v₂ = β·g₁ + g₂, u = −η·v."""
    first, second = run_steps(optim.momentum(0.1, beta=0.9), [np.array([1.0, -2.0]), np.array([0.5, 0.5])])
    np.testing.assert_allclose(first, [-0.1, 0.2])
    np.testing.assert_allclose(second, [-0.1 * 1.4, -0.1 * (-1.3)])


def test_schedules_values():
    """constant, inverse_sqrt = value/√(t+1), exponential_decay = value·rateᵗ."""
    assert [optim.constant(0.3)(t) for t in (0, 5)] == [0.3, 0.3]
    assert [optim.inverse_sqrt(2.0)(t) for t in (0, 3, 15)] == [2.0, 1.0, 0.5]
    assert [optim.exponential_decay(2.0, 0.5)(t) for t in (0, 1, 3)] == [2.0, 1.0, 0.25]
    assert optim.as_schedule(0.7)(10) == 0.7
    with pytest.raises(ValueError, match="rate"):
        optim.exponential_decay(1.0, 1.5)


@pytest.mark.parametrize("factory", [optim.gradient_descent, optim.sign_sgd, optim.momentum, optim.adam])
def test_schedule_is_evaluated_at_the_step_count(factory):
    """A schedule step size is read at t = 0, 1, 2, ... from the optimizer's state."""
    g = np.array([1.0])
    with_schedule = run_steps(factory(optim.inverse_sqrt(0.4)), [g, g, g])
    for t, update in enumerate(with_schedule):
        reference = run_steps(factory(1.0), [g] * (t + 1))[-1]
        np.testing.assert_allclose(update, reference * 0.4 / np.sqrt(t + 1), rtol=1e-12)


def test_registry_get_and_unknown_name():
    """get builds every registered optimizer; an unknown name lists the known ones."""
    assert set(optim.OPTIMIZERS) == {
        "gradient_descent", "sign_descent", "coordinate_descent", "spectral_descent",
        "momentum", "adam", "sign_sgd", "signum",
    }
    assert isinstance(optim.get("momentum", learning_rate=0.1, beta=0.5), optim.GradientTransformation)
    with pytest.raises(ValueError, match=r"unknown optimizer 'sgd'; known: adam, coordinate_descent"):
        optim.get("sgd", 0.1)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_optimizer_descends(name):
    """Every optimizer's first step decreases ½‖θ‖² (whose gradient is θ)."""
    updates = one_step(optim.get(name, 0.1), MATRIX_G)
    assert np.sum((MATRIX_G + updates) ** 2) < np.sum(MATRIX_G**2)


@pytest.mark.parametrize("name", sorted(optim.SIGN_TYPE))
def test_sign_type_updates_are_a_scalar_times_signs(name):
    """Each step of a sign-type optimizer is one scalar times a vector of signs (the same |uᵢ| everywhere)."""
    assert optim.SIGN_TYPE == {"sign_descent", "sign_sgd", "signum"}
    grads = [np.array([0.5, -3.0, 2.0, 1e-3]), np.array([-4.0, 1.0, 0.1, 2.0]), np.array([1.0, 1.0, -7, 0.2])]
    for update in run_steps(optim.get(name, 0.1), grads):
        magnitudes = np.abs(update[update != 0])
        np.testing.assert_allclose(magnitudes, magnitudes[0], rtol=1e-15)


def test_bad_hyperparameters_raise():
    """Decay rates outside [0, 1) and a negative ε raise ValueError naming the parameter."""
    with pytest.raises(ValueError, match="beta"):
        optim.momentum(0.1, beta=1.0)
    with pytest.raises(ValueError, match="b2"):
        optim.adam(0.1, b2=-0.1)
    with pytest.raises(ValueError, match="eps"):
        optim.adam(0.1, eps=-1.0)
