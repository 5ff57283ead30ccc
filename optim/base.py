"""Optimizers as pure ``(init, update)`` pairs (optax style) over an array or a dict of arrays."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeAlias

import numpy as np

Params: TypeAlias = np.ndarray | Mapping[str, np.ndarray]
"""Parameters, gradients and updates: one array, or a dict of arrays handled per entry."""


class GradientTransformation(NamedTuple):
    """``init(params) -> state``; ``update(grads, state, params=None) -> (updates, state)``.

    Both are pure: they never mutate their arguments, the new state is returned.
    """

    init: Callable[[Params], Any]
    update: Callable[..., tuple[Params, Any]]


class CountState(NamedTuple):
    """The number of updates done so far; schedules are evaluated at it."""

    count: int


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """fn(leaf, *other_leaves) on one array, or per key when every tree is a dict with the same keys."""
    if not isinstance(tree, Mapping):
        if any(isinstance(other, Mapping) for other in rest):
            raise ValueError("cannot pair an array with a dict of arrays")
        return fn(tree, *rest)
    for other in rest:
        if not isinstance(other, Mapping) or other.keys() != tree.keys():
            keys = sorted(other) if isinstance(other, Mapping) else "an array"
            raise ValueError(f"structure mismatch: keys {sorted(tree)} vs {keys}")
    return {key: fn(tree[key], *(other[key] for other in rest)) for key in tree}


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Compose transformations left to right: each one's updates are the next one's grads."""

    def init(params: Params) -> tuple[Any, ...]:
        return tuple(transform.init(params) for transform in transforms)

    def update(
        grads: Params, state: tuple[Any, ...], params: Params | None = None
    ) -> tuple[Params, tuple[Any, ...]]:
        new_state = []
        for transform, inner in zip(transforms, state, strict=True):
            grads, inner = transform.update(grads, inner, params)
            new_state.append(inner)
        return grads, tuple(new_state)

    return GradientTransformation(init, update)


def apply_updates(params: Params, updates: Params) -> Params:
    """θ + u, per entry for dicts; returns new arrays."""
    return tree_map(lambda p, u: np.asarray(p, dtype=float) + u, params, updates)
