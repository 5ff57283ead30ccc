"""Ring all-reduce: reduce-scatter then all-gather, n−1 steps each, one chunk per step.

2n(n−1) messages of about P/n bytes (chunks of ⌊p/n⌋ or ⌈p/n⌉ elements). Each step is a
send-receive: a rank moves on when its send is delivered and its receive has arrived, so every
step lasts as long as its largest chunk: T = 2(n−1)·(route latency + ⌈p/n⌉·w/B).
"""

from __future__ import annotations

from ..payload import Buffer, chunk_bounds
from .base import Algorithm, Comm, Process, register


def ring_allreduce(comm: Comm, buffer: Buffer) -> Process:
    """Return the mean of every rank's ``buffer``; rank r ends the reduce-scatter owning chunk r+1."""
    me, n = comm.rank, comm.size
    out = buffer.copy()
    if n == 1:
        return out
    bounds = chunk_bounds(len(buffer), n)
    right, left = (me + 1) % n, (me - 1) % n

    def chunk(index: int) -> Buffer:
        index %= n
        return out[bounds[index] : bounds[index + 1]]

    comm.phase = "reduce_scatter"
    for step in range(n - 1):
        sent = comm.send(right, chunk(me - step))
        incoming = yield comm.recv(left)
        reduced = chunk(me - step - 1)
        reduced += incoming
        yield sent
    owned = chunk(me + 1)
    owned /= n
    comm.phase = "all_gather"
    for step in range(n - 1):
        sent = comm.send(right, chunk(me + 1 - step))
        incoming = yield comm.recv(left)
        chunk(me - step)[...] = incoming
        yield sent
    return out


register(Algorithm("ring_allreduce", ring_allreduce, summary="reduce-scatter then all-gather around a ring"))
