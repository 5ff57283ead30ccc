"""optim: optimizers as steepest descent under a norm, in pure numpy (optax / Modula style).

The primitive: u = argmin_u gᵀu + (1/α)‖u‖² = −(α/2)·‖g‖_*·sharp(g). Named optimizers are thin
aliases of it (gradient_descent = L2, sign_descent = L∞, ...) or small chains of stateful
transformations (momentum, adam, sign_sgd, signum).
"""

from .aliases import coordinate_descent, gradient_descent, sign_descent, spectral_descent
from .base import CountState, GradientTransformation, Params, apply_updates, chain, tree_map
from .norms import L1, L2, Diagonal, LInf, Lp, Norm, Spectral
from .registry import OPTIMIZERS, SIGN_TYPE, get
from .schedules import Schedule, as_schedule, constant, exponential_decay, inverse_sqrt
from .stateful import (
    AdamState,
    TraceState,
    adam,
    momentum,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_sign,
    sign_sgd,
    signum,
    trace,
)
from .steepest import steepest_descent, steepest_update

__all__ = [
    "OPTIMIZERS",
    "SIGN_TYPE",
    "AdamState",
    "CountState",
    "Diagonal",
    "GradientTransformation",
    "L1",
    "L2",
    "LInf",
    "Lp",
    "Norm",
    "Params",
    "Schedule",
    "Spectral",
    "TraceState",
    "adam",
    "apply_updates",
    "as_schedule",
    "chain",
    "constant",
    "coordinate_descent",
    "exponential_decay",
    "get",
    "gradient_descent",
    "inverse_sqrt",
    "momentum",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_sign",
    "sign_descent",
    "sign_sgd",
    "signum",
    "spectral_descent",
    "steepest_descent",
    "steepest_update",
    "trace",
    "tree_map",
]
