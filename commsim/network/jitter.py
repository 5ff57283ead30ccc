"""Seeded delays keyed by what they delay, not by when they are drawn.

A transfer's jitter is u·J with u in [0, 1) a hash of (seed, call, round, transfer): the message engine,
which meets transfers in event order, and the schedule engine, which meets them a round at a time, draw
the same u for the same transfer. The hash is SplitMix64's finaliser (Steele, Lea and Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014) over the key's words, its top 53 bits as u.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on uint64 (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def jitter_fraction(seed: int, call: int, round_: int, index: np.ndarray | int) -> np.ndarray:
    """u in [0, 1) for transfer ``index`` of round ``round_`` of call ``call`` (arrays of indices give arrays)."""
    with np.errstate(over="ignore"):
        state = np.zeros(1, dtype=np.uint64)
        for word in (seed % 2**64, call, round_):
            state = _mix(state + _GOLDEN + np.asarray([word], dtype=np.uint64))
        keys = np.atleast_1d(np.asarray(index, dtype=np.int64)).astype(np.uint64)
        u = (_mix(state + _GOLDEN + keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return u if np.ndim(index) else u[:1]
