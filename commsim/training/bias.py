"""Implicit bias: which solution of one underdetermined equation each optimizer converges to.

One training point, aᵀθ = 1 with a = [1, 0.1, 0.01], loss (1 − aᵀθ)², θ₀ = 0. Every optimizer
reaches zero loss, but at a different solution: the minimum-norm one for the norm it descends in.
The minimum-‖·‖ solution of aᵀθ = 1 is sharp(a)/‖a‖_* (it attains aᵀθ ≤ ‖a‖_*·‖θ‖ with equality).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import optim

A = np.array([1.0, 0.1, 0.01])
"""The single training point."""


def loss_grad(theta: np.ndarray, a: np.ndarray = A) -> np.ndarray:
    """∇θ (1 − aᵀθ)² = −2·(1 − aᵀθ)·a."""
    return -2.0 * (1.0 - a @ theta) * a


def train(optimizer: optim.GradientTransformation, steps: int, a: np.ndarray = A) -> np.ndarray:
    """Iterates θ₀ = 0, θ₁, ..., θ_steps of ``optimizer`` on (1 − aᵀθ)², shape (steps + 1, len(a))."""
    theta = np.zeros_like(a)
    state = optimizer.init(theta)
    trajectory = [theta]
    for _ in range(steps):
        updates, state = optimizer.update(loss_grad(theta, a), state, theta)
        theta = optim.apply_updates(theta, updates)
        trajectory.append(theta)
    return np.array(trajectory)


def min_norm_solution(norm: optim.Norm, a: np.ndarray = A) -> np.ndarray:
    """argmin ‖θ‖ subject to aᵀθ = 1, which is sharp(a)/‖a‖_*."""
    return norm.sharp(a) / norm.dual(a)


@dataclass(frozen=True)
class Run:
    """One experiment: its iterates and the minimum-norm solution it should converge to."""

    name: str
    trajectory: np.ndarray
    norm: str
    reference: np.ndarray

    @property
    def limit(self) -> np.ndarray:
        """The last iterate."""
        return self.trajectory[-1]

    @property
    def max_abs_error(self) -> float:
        """max |limit − reference|."""
        return float(np.max(np.abs(self.limit - self.reference)))


class Row(NamedTuple):
    """One line of the implicit-bias table."""

    name: str
    limit: np.ndarray
    reference: np.ndarray
    norm: str
    max_abs_error: float


def run_gradient_descent(alpha: float = 0.5, steps: int = 40) -> Run:
    """GD stays in span(a): limit a/‖a‖² (minimum L2 norm); the residual shrinks by 1 − α‖a‖² a step."""
    trajectory = train(optim.gradient_descent(alpha), steps)
    return Run("gradient_descent", trajectory, "L2", min_norm_solution(optim.L2()))


def run_adam(lr: float = 0.25, decay: float = 0.8, steps: int = 100) -> Run:
    """Adam with β₁ = β₂ = 0, ε = 0 steps −η_t·sign(g): every coordinate moves alike, limit
    (100/111)·[1, 1, 1] (minimum L∞ norm). With η_t = lr·decayᵗ, decay ≥ 1/2 and Σηₜ = lr/(1 − decay)
    beyond the target, the error after t steps is at most the tail lr·decayᵗ/(1 − decay)."""
    schedule = optim.exponential_decay(lr, decay)
    trajectory = train(optim.adam(schedule, b1=0.0, b2=0.0, eps=0.0), steps)
    return Run("adam", trajectory, "LInf", min_norm_solution(optim.LInf()))


def run_sign_descent(alpha: float = 0.5, steps: int = 30) -> Run:
    """Sign descent scaled by ‖g‖₁ (steepest descent under L∞): limit (100/111)·[1, 1, 1]; its step
    shrinks with the residual, so a constant α converges (residual × (1 − α‖a‖₁²) per step)."""
    trajectory = train(optim.sign_descent(alpha), steps)
    return Run("sign_descent", trajectory, "LInf", min_norm_solution(optim.LInf()))


def run_rescaled_gradient_descent(alpha: float = 0.25, steps: int = 30) -> Run:
    """Rescale features to unit second moment (θ' = a∘θ, a → [1, 1, 1]), run GD, map back θ = θ'/a:
    limit [1/3, 10/3, 100/3], the minimum of ‖θ‖_D with D = diag(a²)."""
    scale = np.abs(A)  # root second moment of each feature over the one training point
    trajectory = train(optim.gradient_descent(alpha), steps, A / scale) / scale
    reference = min_norm_solution(optim.Diagonal(A**2))
    return Run("rescaled_gradient_descent", trajectory, "D = diag(a²)", reference)


def run_all() -> list[Run]:
    """The four experiments with their default step sizes."""
    return [run_gradient_descent(), run_adam(), run_sign_descent(), run_rescaled_gradient_descent()]


def bias_table(runs: Sequence[Run] | None = None) -> list[Row]:
    """(name, limit, reference minimum-norm solution, its norm, max abs error) per run."""
    runs = run_all() if runs is None else runs
    return [Row(run.name, run.limit, run.reference, run.norm, run.max_abs_error) for run in runs]
