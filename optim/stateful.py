"""Stateful optimizers, each a ``chain`` of small transformations (optax style)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .base import CountState, GradientTransformation, Params, chain, tree_map
from .schedules import Schedule, as_schedule


def _check_decay(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} needs 0 <= {name} < 1, got {name}={value!r}")


def _zeros_like(params: Params) -> Params:
    return tree_map(lambda p: np.zeros(np.shape(p)), params)


class TraceState(NamedTuple):
    """The momentum buffer v."""

    velocity: Params


def trace(beta: float) -> GradientTransformation:
    """v ← β·v + g (heavy-ball momentum buffer, v₀ = 0); outputs v."""
    _check_decay("beta", beta)

    def init(params: Params) -> TraceState:
        return TraceState(_zeros_like(params))

    def update(grads: Params, state: TraceState, params: Params | None = None) -> tuple[Params, TraceState]:
        velocity = tree_map(lambda v, g: beta * v + g, state.velocity, grads)
        return velocity, TraceState(velocity)

    return GradientTransformation(init, update)


class AdamState(NamedTuple):
    """Step count t and the moment estimates m (first) and v (second)."""

    count: int
    mu: Params
    nu: Params


def scale_by_adam(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, bias_correction: bool = True
) -> GradientTransformation:
    """m ← b1·m + (1−b1)·g, v ← b2·v + (1−b2)·g², output m̂/(√v̂ + ε) with m̂ = m/(1−b1ᵗ),
    v̂ = v/(1−b2ᵗ) at t = 1, 2, ... (m̂ = m, v̂ = v without bias correction). 0/0 gives 0."""
    _check_decay("b1", b1)
    _check_decay("b2", b2)
    if not eps >= 0.0:
        raise ValueError(f"eps needs eps >= 0, got eps={eps!r}")

    def init(params: Params) -> AdamState:
        return AdamState(0, _zeros_like(params), _zeros_like(params))

    def direction(m: np.ndarray, v: np.ndarray, t: int) -> np.ndarray:
        if bias_correction:
            m, v = m / (1.0 - b1**t), v / (1.0 - b2**t)
        denominator = np.sqrt(v) + eps
        return np.divide(m, denominator, out=np.zeros_like(m), where=denominator > 0)

    def update(grads: Params, state: AdamState, params: Params | None = None) -> tuple[Params, AdamState]:
        t = state.count + 1
        mu = tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = tree_map(lambda v, g: b2 * v + (1.0 - b2) * np.square(g), state.nu, grads)
        return tree_map(lambda m, v: direction(m, v, t), mu, nu), AdamState(t, mu, nu)

    return GradientTransformation(init, update)


def scale_by_sign() -> GradientTransformation:
    """g ↦ sign(g), sign(0) = 0; stateless."""

    def init(params: Params) -> tuple[()]:
        return ()

    def update(grads: Params, state: tuple[()], params: Params | None = None) -> tuple[Params, tuple[()]]:
        return tree_map(lambda g: np.sign(np.asarray(g, dtype=float)), grads), state

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: float | Schedule) -> GradientTransformation:
    """g ↦ −η_t·g with η a number or a schedule of the step count t = 0, 1, ..."""
    schedule = as_schedule(learning_rate)

    def init(params: Params) -> CountState:
        return CountState(0)

    def update(grads: Params, state: CountState, params: Params | None = None) -> tuple[Params, CountState]:
        step_size = schedule(state.count)
        return tree_map(lambda g: -step_size * np.asarray(g, dtype=float), grads), CountState(state.count + 1)

    return GradientTransformation(init, update)


def momentum(learning_rate: float | Schedule, beta: float = 0.9) -> GradientTransformation:
    """Heavy ball: v ← β·v + g, u = −η_t·v."""
    return chain(trace(beta), scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: float | Schedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    bias_correction: bool = True,
) -> GradientTransformation:
    """Adam: u = −η_t·m̂/(√v̂ + ε); with b1 = b2 = 0, ε = 0 it is u = −η_t·sign(g)."""
    return chain(scale_by_adam(b1, b2, eps, bias_correction), scale_by_learning_rate(learning_rate))


def sign_sgd(learning_rate: float | Schedule) -> GradientTransformation:
    """signSGD: u = −η_t·sign(g), a step that ignores |g|."""
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate: float | Schedule, beta: float = 0.9) -> GradientTransformation:
    """Signum: u = −η_t·sign(v), v ← β·v + g (the sign is the same for the (1−β)-weighted average)."""
    return chain(trace(beta), scale_by_sign(), scale_by_learning_rate(learning_rate))
