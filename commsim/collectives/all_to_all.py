"""All-to-all exchange: every worker sends its whole buffer to every other and averages.

n(n−1) messages of P bytes. All sends are posted at once, so on a star each worker's link
carries n−1 transfers at a time: T = 2α + (n−1)P/B.
"""

from __future__ import annotations

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .payload import Buffer, mean_in_rank_order


def all_to_all(comm: Comm, buffer: Buffer) -> Process:
    """Send ``buffer`` to every peer, receive theirs, return the mean (summed in rank order)."""
    me, n = comm.rank, comm.size
    comm.phase = "exchange"
    sends = [comm.send(peer, buffer) for peer in range(n) if peer != me]
    parts = []
    for peer in range(n):
        parts.append(buffer if peer == me else (yield comm.recv(peer)))
    for sent in sends:
        yield sent
    if busy := comm.combine(buffer, n - 1):  # n−1 buffers added in
        yield busy
    return mean_in_rank_order(parts)


def all_to_all_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Contention-free: all n−1 sends in parallel, α + Pβ, then n−1 buffers combined."""
    size = p * w
    return Cost({size: n * (n - 1)}, link.message(size) + (n - 1) * size * link.gamma, "α + Pβ + (n-1)Pγ")


register(
    Algorithm("all_to_all", all_to_all, summary="every worker sends its buffer to every other", cost=all_to_all_cost)
)
