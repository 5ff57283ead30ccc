"""Ring all-reduce: reduce-scatter then all-gather, n−1 steps each, one chunk per step.

2n(n−1) messages of about P/n bytes (chunks of ⌊p/n⌋ or ⌈p/n⌉ elements). Each step is a
send-receive: a rank moves on when its send is delivered and its receive has arrived, so every
step lasts as long as its largest chunk: T = 2(n−1)·(route latency + ⌈p/n⌉·w/B).
"""

from __future__ import annotations

from ..payload import Buffer, split
from .base import Algorithm, Comm, Process, register


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
    owned = chunks[(me + 1) % n]
    owned /= n
    comm.phase = "all_gather"
    for step in range(n - 1):
        sent = comm.send(right, chunks[(me + 1 - step) % n])
        incoming = yield comm.recv(left)
        chunks[(me - step) % n][...] = incoming
        yield sent
    return out


register(Algorithm("ring_allreduce", ring_allreduce, summary="reduce-scatter then all-gather around a ring"))
