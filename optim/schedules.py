"""Step-size schedules: callables ``step -> value``, evaluated at step t = 0, 1, 2, ..."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np

Schedule: TypeAlias = Callable[[int], float]


def constant(value: float) -> Schedule:
    """η_t = value."""
    return lambda step: value


def inverse_sqrt(value: float) -> Schedule:
    """η_t = value/√(t + 1)."""
    return lambda step: value / np.sqrt(step + 1.0)


def exponential_decay(value: float, rate: float) -> Schedule:
    """η_t = value·rateᵗ, 0 < rate ≤ 1."""
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"exponential_decay needs 0 < rate <= 1, got rate={rate!r}")
    return lambda step: value * rate**step


def as_schedule(value: float | Schedule) -> Schedule:
    """A schedule unchanged; a number as ``constant(value)``."""
    return value if callable(value) else constant(float(value))
