"""Ring all-reduce: reduce-scatter then all-gather, n−1 steps each, one chunk per step.

2n(n−1) messages of about P/n bytes (chunks of ⌊p/n⌋ or ⌈p/n⌉ elements). Each step is a
send-receive: a rank moves on when its send is delivered and its receive has arrived, so every
step lasts as long as its largest chunk: T = 2(n−1)·(route latency + ⌈p/n⌉·w/B).
"""

from __future__ import annotations

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .payload import Buffer, chunk_bounds, split


def ring_allreduce(comm: Comm, buffer: Buffer) -> Process:
    """Return the mean of every rank's ``buffer``; rank r ends the reduce-scatter owning chunk r+1."""
    me, n = comm.rank, comm.size
    out = buffer.copy()
    if n == 1:
        return out
    chunks = split(out, n)  # views into out; chunk i is reduced along the ring and ends at rank i−1
    right, left = (me + 1) % n, (me - 1) % n
    comm.phase = "reduce_scatter"
    for step in range(n - 1):
        sent = comm.send(right, chunks[(me - step) % n])
        incoming = yield comm.recv(left)
        reduced = chunks[(me - step - 1) % n]
        reduced += incoming
        yield sent
        if busy := comm.combine(incoming):
            yield busy
    owned = chunks[(me + 1) % n]
    owned /= n
    comm.phase = "all_gather"
    for step in range(n - 1):
        sent = comm.send(right, chunks[(me + 1 - step) % n])
        incoming = yield comm.recv(left)
        chunks[(me - step) % n][...] = incoming
        yield sent
    return out


def ring_allreduce_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """2(n−1) neighbour steps of the largest chunk c = ⌈p/n⌉w; n−1 of them combine a chunk."""
    bounds = chunk_bounds(p, n)
    histogram: dict[int, int] = {}
    for lo, hi in zip(bounds, bounds[1:]):
        histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + 2 * (n - 1)
    largest = -(-p // n) * w
    time = 2 * (n - 1) * link.message(largest) + (n - 1) * largest * link.gamma
    return Cost(dict(sorted(histogram.items())), time, "2(n-1)(α + ⌈p/n⌉wβ) + (n-1)⌈p/n⌉wγ")


register(
    Algorithm(
        "ring_allreduce", ring_allreduce, summary="reduce-scatter then all-gather around a ring", cost=ring_allreduce_cost
    )
)
