"""Hierarchical ring all-reduce: rings inside each node, then rings across nodes, then back.

The n ranks form N = n/g nodes of g consecutive ranks (node h holds ranks h·g .. h·g+g−1; local
rank j = rank mod g). g is the graph's ``gpus_per_node``; without one, the largest divisor of n
that is ≤ √n (a prime n gives g = 1: one flat ring across n nodes).

1. intra-node ring reduce-scatter over the g chunks of ``chunk_bounds(p, g)`` (g−1 steps): local
   rank j ends with chunk j summed over its node;
2. inter-node ring all-reduce of chunk j among the N ranks with local index j (one ring per j),
   over the N sub-chunks of chunk j: reduce-scatter (N−1 steps), divide by n, all-gather
   (N−1 steps); each element's sum is formed once, at one rank, so replicas are bit-identical;
3. intra-node ring all-gather of the g chunks (g−1 steps).

Messages: 2n(g−1) chunks of about p/g elements and 2n(N−1) sub-chunks of about p/n elements,
2n(g + N − 2) in all. On a contention-free network, with C = ⌈p/g⌉·w the largest chunk and
S = ⌈⌈p/g⌉/N⌉·w = ⌈p/n⌉·w the largest sub-chunk:

    T = 2(g−1)(α + Cβ) + (g−1)Cγ + 2(N−1)(α + Sβ) + (N−1)Sγ.

Why exact: nodes are alike, so the N ranks of ring j all start phase 2 at once; the local rank j
that owns a largest chunk finishes phase 1 at (g−1)(α + Cβ + Cγ) (that chunk's chain of g−1
hops, each a message and a combine, is the critical path), its ring then takes the ring
all-reduce time of its largest sub-chunk S, and no rank starts phase 3 later than that. Phase 3
ends g−1 hops of the largest chunk later.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..payload import chunk_bounds
from ..schedule import Round, Schedule, bounds_of, empty, ints


def default_gpus_per_node(n: int) -> int:
    """The largest divisor of n that is at most √n (1 for a prime n)."""
    return max(d for d in range(1, math.isqrt(max(n, 1)) + 1) if n % d == 0)


def gpus_per_node(n: int, given: int | None) -> int:
    """Ranks per node: ``given`` if it divides n, the default if None; ValueError otherwise."""
    if given is None:
        return default_gpus_per_node(n)
    try:
        given = operator.index(given)
    except TypeError:
        raise ValueError(f"hierarchical_ring: gpus_per_node must be a positive integer, got {given!r}") from None
    if given < 1:
        raise ValueError(f"hierarchical_ring: gpus_per_node must be a positive integer, got {given!r}")
    if n % given:
        raise ValueError(
            f"hierarchical_ring: gpus_per_node={given} does not divide the {n} workers; "
            f"nodes must be equal (divisors of {n}: {', '.join(str(d) for d in range(1, n + 1) if n % d == 0)})"
        )
    return given


def hierarchical_ring_schedule(n: int, p: int, w: int, **shape: int | None) -> Schedule:
    """Phases 1–3 as rings (at step s the member at position i of a ring of m sends piece i−s−1 in a
    reduce-scatter, which its neighbour adds in, and piece i−s in an all-gather, which it copies;
    indices mod m): intra-node over the g chunks (position: local rank), inter-node over chunk j's N
    sub-chunks among the ranks of local index j (position: node). Rank (h, j) divides sub-chunk h of
    chunk j by n after the last reduce-scatter step."""
    if n == 1:
        return empty(1, p)
    g = gpus_per_node(n, shape.get("gpus_per_node"))
    nodes = n // g
    ranks = ints(range(n))
    node, local = ranks // g, ranks % g
    chunk = bounds_of(p, g)
    length = chunk[1:] - chunk[:-1]
    sub = chunk[:-1, None] + (np.arange(nodes + 1)[None, :] * length[:, None]) // nodes  # [j][h]: sub-chunk bounds
    intra_right = node * g + (local + 1) % g
    inter_right = ((node + 1) % nodes) * g + local
    owned = (ranks, sub[local, node], sub[local, node + 1])
    steps = []  # (phase, right, lo, hi, reduce) per step
    for step in range(g - 1):
        piece = (local - step - 1) % g
        steps.append(("intra_reduce_scatter", intra_right, chunk[piece], chunk[piece + 1], True))
    for step in range(nodes - 1):
        piece = (node - step - 1) % nodes
        steps.append(("inter_reduce_scatter", inter_right, sub[local, piece], sub[local, piece + 1], True))
    last_reduce = len(steps) - 1
    for step in range(nodes - 1):
        piece = (node - step) % nodes
        steps.append(("inter_all_gather", inter_right, sub[local, piece], sub[local, piece + 1], False))
    for step in range(g - 1):
        piece = (local - step) % g
        steps.append(("intra_all_gather", intra_right, chunk[piece], chunk[piece + 1], False))
    rounds = []
    for k, (phase, right, lo, hi, add) in enumerate(steps):
        nbytes = (hi - lo) * w
        combine = np.zeros(n, dtype=np.int64)
        if add:
            combine[right] = nbytes
        rounds.append(Round(ranks, right, nbytes, phase, combine if add else None, lo, hi, add,
                            owned if k == last_reduce else None))
    return Schedule(n, len(rounds), rounds.__getitem__, p=p)


def hierarchical_ring_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """2(g−1)(α + Cβ) + (g−1)Cγ + 2(N−1)(α + Sβ) + (N−1)Sγ, C = ⌈p/g⌉w, S = ⌈p/n⌉w.

    Histogram: each chunk of ``chunk_bounds(p, g)`` crosses 2(g−1) intra-node hops in each of the
    N nodes; each sub-chunk (``chunk_bounds`` of that chunk into N) 2(N−1) inter-node hops.
    """
    g = gpus_per_node(n, link.gpus_per_node)
    if n == 1:
        return Cost({}, 0.0, "0")
    nodes = n // g
    histogram: dict[int, int] = {}
    bounds = chunk_bounds(p, g)
    for lo, hi in zip(bounds, bounds[1:]):
        if g > 1:
            histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + 2 * (g - 1) * nodes
        if nodes > 1:
            sub = chunk_bounds(hi - lo, nodes)
            for a, b in zip(sub, sub[1:]):
                histogram[(b - a) * w] = histogram.get((b - a) * w, 0) + 2 * (nodes - 1)
    chunk = -(-p // g) * w
    piece = -(-p // n) * w  # = ⌈⌈p/g⌉/N⌉·w
    time = (
        2 * (g - 1) * link.message(chunk)
        + (g - 1) * chunk * link.gamma
        + 2 * (nodes - 1) * link.message(piece)
        + (nodes - 1) * piece * link.gamma
    )
    return Cost(
        dict(sorted(histogram.items())),
        time,
        f"2(g-1)(α + ⌈p/g⌉wβ) + (g-1)⌈p/g⌉wγ + 2(N-1)(α + ⌈p/n⌉wβ) + (N-1)⌈p/n⌉wγ, g={g}, N={nodes}",
    )


register(scheduled("hierarchical_ring", hierarchical_ring_schedule, hierarchical_ring_cost,
                   "ring inside each node, rings across nodes per local rank, ring inside each node again"))
