"""Named stateless optimizers: thin aliases of ``steepest_descent`` under one norm each."""

from __future__ import annotations

from .base import GradientTransformation
from .norms import L1, L2, LInf, Spectral
from .schedules import Schedule
from .steepest import steepest_descent


def gradient_descent(alpha: float | Schedule) -> GradientTransformation:
    """Steepest descent under L2: u = −(α/2)·g, i.e. gradient descent with learning rate α/2."""
    return steepest_descent(L2(), alpha)


def sign_descent(alpha: float | Schedule) -> GradientTransformation:
    """Steepest descent under L∞: u = −(α/2)·‖g‖₁·sign(g) (the step grows with ‖g‖₁)."""
    return steepest_descent(LInf(), alpha)


def coordinate_descent(alpha: float | Schedule) -> GradientTransformation:
    """Steepest descent under L1: u = −(α/2)·gᵢ·eᵢ, i = lowest argmax |gᵢ| (greedy coordinate)."""
    return steepest_descent(L1(), alpha)


def spectral_descent(alpha: float | Schedule) -> GradientTransformation:
    """Steepest descent under the spectral norm: u = −(α/2)·(Σσᵢ)·U·Vᵀ for a matrix G = UΣVᵀ."""
    return steepest_descent(Spectral(), alpha)
