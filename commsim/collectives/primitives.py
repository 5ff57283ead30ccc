"""The collective primitives: ring reduce-scatter and all-gather, binomial broadcast and reduce.

n ranks, p elements of w bytes (P = p·w); chunks are those of ``chunk_bounds(p, n)``, so the
largest is C = ⌈p/n⌉·w. On a contention-free network (one m-byte message costs α + mβ,
combining m bytes mγ):

=============== ========================= =================================================
primitive        messages                  time
=============== ========================= =================================================
reduce_scatter   n(n−1) chunks              (n−1)(α + Cβ + Cγ)
all_gather       n(n−1) chunks              (n−1)(α + Cβ)
broadcast        n−1 of P bytes             ⌈lg n⌉(α + Pβ)
reduce           n−1 of P bytes             R(n), with R(2^k) = k(α + Pβ + Pγ) (see below)
=============== ========================= =================================================

Each ring step is a send-receive: a rank moves on when its send is delivered and its receive
has arrived (and, in the reduce-scatter, the received chunk is added in). The ring steps are
staggered when chunks differ, but the largest chunk's chain of n−1 hops is the critical path,
so every step "costs" the largest chunk. The helpers ``ring_reduce_scatter`` and
``ring_all_gather`` run these rings among any group of ranks; the hierarchical ring uses them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .payload import Buffer, chunk_bounds, split


# -- rings among a group of ranks ------------------------------------------------------------
def ring_reduce_scatter(
    comm: Comm, chunks: Sequence[Buffer], group: Sequence[Hashable], position: int, tag: Any = None
) -> Process:
    """Ring reduce-scatter of ``chunks`` (one per member of ``group``, views of the rank's buffer)
    among ``group``, in which this rank stands at ``position``: afterwards ``chunks[position]``
    holds the group's sum of that chunk (other chunks hold partial sums).

    m = len(group) members, m−1 steps; at step s the member at position i sends chunk i−s−1 to
    its right neighbour and adds chunk i−s−2 from its left one into its own (indices mod m), so
    chunk j starts at member j+1 and ends, summed over the group, at member j.
    """
    m = len(group)
    right, left = group[(position + 1) % m], group[(position - 1) % m]
    for step in range(m - 1):
        sent = comm.send(right, chunks[(position - step - 1) % m], tag)
        incoming = yield comm.recv(left, tag)
        reduced = chunks[(position - step - 2) % m]
        reduced += incoming
        yield sent
        if busy := comm.combine(incoming):
            yield busy


def ring_all_gather(
    comm: Comm, chunks: Sequence[Buffer], group: Sequence[Hashable], position: int, tag: Any = None
) -> Process:
    """Ring all-gather among ``group``: the member at position i starts with ``chunks[i]`` and
    every member ends with every member's chunk in place.

    m−1 steps; at step s the member at position i sends chunk i−s and writes chunk i−s−1, which
    arrives from its left neighbour (indices mod m). It never writes the chunk it owns.
    """
    m = len(group)
    right, left = group[(position + 1) % m], group[(position - 1) % m]
    for step in range(m - 1):
        sent = comm.send(right, chunks[(position - step) % m], tag)
        incoming = yield comm.recv(left, tag)
        chunks[(position - step - 1) % m][...] = incoming
        yield sent


def _chunk_histogram(p: int, n: int, w: int, copies: int) -> dict[int, int]:
    """Message size (bytes) -> count when each chunk of ``chunk_bounds(p, n)`` is sent ``copies`` times."""
    bounds = chunk_bounds(p, n)
    histogram: dict[int, int] = {}
    for lo, hi in zip(bounds, bounds[1:]):
        histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + copies
    return dict(sorted(histogram.items()))


def _lg(n: int) -> int:
    """⌈lg n⌉ for n ≥ 1: the rounds of a binomial tree over n ranks."""
    return (n - 1).bit_length()


# -- reduce-scatter --------------------------------------------------------------------------
def reduce_scatter(comm: Comm, buffer: Buffer) -> Process:
    """Return a copy of ``buffer`` whose chunk r (r = this rank) is chunk r of the mean over ranks;
    the other chunks hold partial sums."""
    me, n = comm.rank, comm.size
    out = buffer.copy()
    if n == 1:
        return out
    chunks = split(out, n)
    comm.phase = "reduce_scatter"
    yield from ring_reduce_scatter(comm, chunks, range(n), me)
    owned = chunks[me]
    owned /= n
    return out


def reduce_scatter_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """n−1 steps of n chunk messages; each step costs the largest chunk C = ⌈p/n⌉w:
    T = (n−1)(α + Cβ + Cγ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    largest = -(-p // n) * w
    time = (n - 1) * (link.message(largest) + largest * link.gamma)
    return Cost(_chunk_histogram(p, n, w, n - 1), time, "(n-1)(α + ⌈p/n⌉wβ + ⌈p/n⌉wγ)")


# -- all-gather ------------------------------------------------------------------------------
def all_gather(comm: Comm, buffer: Buffer) -> Process:
    """Return a buffer whose chunk i is chunk i of rank i's ``buffer``, the same on every rank."""
    me, n = comm.rank, comm.size
    out = buffer.copy()
    if n == 1:
        return out
    comm.phase = "all_gather"
    yield from ring_all_gather(comm, split(out, n), range(n), me)
    return out


def all_gather_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """n−1 steps of n chunk messages, each step as long as the largest chunk C = ⌈p/n⌉w:
    T = (n−1)(α + Cβ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    largest = -(-p // n) * w
    return Cost(_chunk_histogram(p, n, w, n - 1), (n - 1) * link.message(largest), "(n-1)(α + ⌈p/n⌉wβ)")


# -- broadcast -------------------------------------------------------------------------------
def broadcast(comm: Comm, buffer: Buffer) -> Process:
    """Return a copy of rank 0's ``buffer``, passed down a binomial tree.

    Rank r > 0 receives in round ⌊lg r⌋ from r − 2^⌊lg r⌋; then, in each later round k < ⌈lg n⌉,
    every rank holding the buffer sends it to r + 2^k (if that rank exists), one send at a time.
    """
    me, n = comm.rank, comm.size
    if n == 1:
        return buffer.copy()
    comm.phase = "broadcast"
    if me == 0:
        out, first = buffer.copy(), 0
    else:
        high = me.bit_length() - 1  # the round this rank receives in
        out = (yield comm.recv(me - (1 << high))).copy()
        first = high + 1
    for k in range(first, _lg(n)):
        child = me + (1 << k)
        if child < n:
            yield comm.send(child, out)
    return out


def broadcast_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """⌈lg n⌉ rounds; the root sends one message of P bytes per round: T = ⌈lg n⌉(α + Pβ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    return Cost({p * w: n - 1}, _lg(n) * link.message(p * w), "⌈lg n⌉(α + Pβ)")


# -- reduce ----------------------------------------------------------------------------------
def reduce(comm: Comm, buffer: Buffer) -> Process:
    """Sum up a binomial tree to rank 0, which returns the mean; other ranks return partial sums.

    For k = 0, 1, ...: a rank whose bit k is set sends its partial sum to r − 2^k and stops;
    otherwise it receives rank r + 2^k's partial sum (if that rank exists) and adds it in.
    """
    me, n = comm.rank, comm.size
    out = buffer.copy()
    if n == 1:
        return out
    comm.phase = "reduce"
    for k in range(_lg(n)):
        bit = 1 << k
        if me & bit:
            yield comm.send(me - bit, out)
            return out
        if me + bit < n:
            incoming = yield comm.recv(me + bit)
            out += incoming
            if busy := comm.combine(incoming):
                yield busy
    out /= n
    return out


def reduce_time(n: int, size: int, link: LinkCost) -> float:
    """R(n): when the root of a binomial reduce over n ranks has added in its last child.

    A subtree of s > 1 ranks has full children subtrees of 2^0, ..., 2^(K−1) ranks (K = ⌈lg s⌉−1),
    which it has added in by K(α + Pβ + Pγ), and a last child of s − 2^K ranks, whose sum arrives
    at R(s − 2^K) + α + Pβ: R(s) = max(K(α + Pβ + Pγ), R(s − 2^K) + α + Pβ) + Pγ, R(1) = 0;
    for s = 2^k this is k(α + Pβ + Pγ).
    """
    if n <= 1:
        return 0.0
    top = _lg(n) - 1
    full = top * (link.message(size) + size * link.gamma)
    return max(full, reduce_time(n - (1 << top), size, link) + link.message(size)) + size * link.gamma


def reduce_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """n−1 messages of P bytes; T = R(n) of ``reduce_time`` (= lg n(α + Pβ + Pγ) when n = 2^k)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    return Cost(
        {p * w: n - 1},
        reduce_time(n, p * w, link),
        "R(n) = max(K(α+Pβ+Pγ), R(n-2^K) + α+Pβ) + Pγ, K = ⌈lg n⌉-1 (lg n(α+Pβ+Pγ) for n = 2^k)",
    )


register(Algorithm("reduce_scatter", reduce_scatter, summary="ring reduce-scatter: rank r ends with chunk r of the mean",
                   kind="reduce_scatter", cost=reduce_scatter_cost))
register(Algorithm("all_gather", all_gather, summary="ring all-gather: every rank ends with chunk i of rank i",
                   kind="all_gather", cost=all_gather_cost))
register(Algorithm("broadcast", broadcast, summary="binomial-tree broadcast of rank 0's buffer",
                   kind="broadcast", cost=broadcast_cost))
register(Algorithm("reduce", reduce, summary="binomial-tree reduce: rank 0 ends with the mean",
                   kind="reduce", cost=reduce_cost))
