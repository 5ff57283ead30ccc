"""Steepest descent under a norm: the primitive every named stateless optimizer is built from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import CountState, GradientTransformation, Params, tree_map
from .norms import Norm
from .schedules import Schedule, as_schedule


def steepest_update(norm: Norm, g: np.ndarray, alpha: float) -> np.ndarray:
    """u = argmin_u gᵀu + (1/α)‖u‖² = −(α/2)·‖g‖_*·sharp(g); optimal value −(α/4)·‖g‖_*²."""
    return -(alpha / 2.0) * norm.dual(g) * norm.sharp(g)


def steepest_descent(norm: Norm | Mapping[str, Norm], alpha: float | Schedule) -> GradientTransformation:
    """Steepest descent with step-size parameter α (a number or a schedule of the step count).

    ``norm`` is one Norm, or a dict of Norms keyed like dict params; one Norm given with dict
    params is applied to each entry on its own. Entries never mix: u_k depends on g_k only.
    """
    schedule = as_schedule(alpha)

    def init(params: Params) -> CountState:
        return CountState(0)

    def update(grads: Params, state: CountState, params: Params | None = None) -> tuple[Params, CountState]:
        step_alpha = schedule(state.count)
        single_norm_for_dict = isinstance(grads, Mapping) and not isinstance(norm, Mapping)
        norms = {key: norm for key in grads} if single_norm_for_dict else norm
        updates = tree_map(lambda g, n: steepest_update(n, g, step_alpha), grads, norms)
        return updates, CountState(state.count + 1)

    return GradientTransformation(init, update)
