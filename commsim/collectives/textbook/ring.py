"""Ring all-reduce: reduce-scatter then all-gather, n−1 steps each, one chunk per step.

2n(n−1) messages of about P/n bytes (chunks of ⌊p/n⌋ or ⌈p/n⌉ elements). Each step is a
send-receive: a rank moves on when its send is delivered and its receive has arrived, so every
step lasts as long as its largest chunk: T = 2(n−1)·(route latency + ⌈p/n⌉·w/B).
"""

from __future__ import annotations

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..payload import chunk_bounds
from ..schedule import Schedule, ring_rounds


def ring_allreduce_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """n−1 reduce-scatter steps (rank r sends chunk r−s at step s and ends owning chunk r+1, summed,
    which it divides by n), then n−1 all-gather steps (rank r sends chunk r+1−s), around the ring."""
    return ring_rounds(n, p, w, n - 1, n - 1, 0, 1)


def ring_allreduce_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """2(n−1) neighbour steps of the largest chunk c = ⌈p/n⌉w; n−1 of them combine a chunk."""
    bounds = chunk_bounds(p, n)
    histogram: dict[int, int] = {}
    for lo, hi in zip(bounds, bounds[1:]):
        histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + 2 * (n - 1)
    largest = -(-p // n) * w
    time = 2 * (n - 1) * link.message(largest) + (n - 1) * largest * link.gamma
    return Cost(dict(sorted(histogram.items())), time, "2(n-1)(α + ⌈p/n⌉wβ) + (n-1)⌈p/n⌉wγ")


register(scheduled("ring_allreduce", ring_allreduce_schedule, ring_allreduce_cost,
                   "reduce-scatter then all-gather around a ring"))
