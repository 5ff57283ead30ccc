"""Optimizers by name, and which of them are sign-type (update = one scalar × a sign vector)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .aliases import coordinate_descent, gradient_descent, sign_descent, spectral_descent
from .base import GradientTransformation
from .stateful import adam, momentum, sign_sgd, signum

OPTIMIZERS: Mapping[str, Callable[..., GradientTransformation]] = MappingProxyType(
    {
        "gradient_descent": gradient_descent,
        "sign_descent": sign_descent,
        "coordinate_descent": coordinate_descent,
        "spectral_descent": spectral_descent,
        "momentum": momentum,
        "adam": adam,
        "sign_sgd": sign_sgd,
        "signum": signum,
    }
)
"""Factories: steepest-descent aliases take ``alpha``, stateful ones ``learning_rate``."""

SIGN_TYPE: frozenset[str] = frozenset({"sign_descent", "sign_sgd", "signum"})
"""Optimizers whose update is fully described by a sign vector (1 bit/element) plus one scalar."""


def get(name: str, /, *args: Any, **kwargs: Any) -> GradientTransformation:
    """``OPTIMIZERS[name](*args, **kwargs)``; ValueError naming the known ones if unknown."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name](*args, **kwargs)
