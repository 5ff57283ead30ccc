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
so every step "costs" the largest chunk.
"""

from __future__ import annotations

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..payload import chunk_bounds
from ..schedule import Schedule, empty, listed, ring_rounds
from .trees import binomial_broadcast_rounds, binomial_reduce_rounds


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
def reduce_scatter_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """n−1 ring steps: rank r sends chunk r−s−1 at step s, its neighbour adds it in; rank r ends with
    chunk r summed over all and divides it by n."""
    return ring_rounds(n, p, w, n - 1, 0, -1, 0)


def reduce_scatter_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """n−1 steps of n chunk messages; each step costs the largest chunk C = ⌈p/n⌉w:
    T = (n−1)(α + Cβ + Cγ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    largest = -(-p // n) * w
    time = (n - 1) * (link.message(largest) + largest * link.gamma)
    return Cost(_chunk_histogram(p, n, w, n - 1), time, "(n-1)(α + ⌈p/n⌉wβ + ⌈p/n⌉wγ)")


# -- all-gather ------------------------------------------------------------------------------
def all_gather_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """n−1 ring steps: rank r sends chunk r−s at step s, its neighbour copies it; it never writes the
    chunk it owns."""
    return ring_rounds(n, p, w, 0, n - 1, 0, 0)


def all_gather_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """n−1 steps of n chunk messages, each step as long as the largest chunk C = ⌈p/n⌉w:
    T = (n−1)(α + Cβ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    largest = -(-p // n) * w
    return Cost(_chunk_histogram(p, n, w, n - 1), (n - 1) * link.message(largest), "(n-1)(α + ⌈p/n⌉wβ)")


# -- broadcast -------------------------------------------------------------------------------
def broadcast_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Rank 0's buffer down a binomial tree: rank r > 0 receives in round ⌊lg r⌋ from r − 2^⌊lg r⌋; then,
    in each later round k < ⌈lg n⌉, every rank holding it sends it to r + 2^k (if that rank exists)."""
    return empty(1, p) if n == 1 else listed(n, binomial_broadcast_rounds(n, p, w), p)


def broadcast_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """⌈lg n⌉ rounds; the root sends one message of P bytes per round: T = ⌈lg n⌉(α + Pβ)."""
    if n == 1:
        return Cost({}, 0.0, "0")
    return Cost({p * w: n - 1}, _lg(n) * link.message(p * w), "⌈lg n⌉(α + Pβ)")


# -- reduce ----------------------------------------------------------------------------------
def reduce_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Sum up a binomial tree to rank 0, which divides by n; the other ranks end with partial sums.
    For k = 0, 1, …: a rank whose bit k is set sends its partial sum to r − 2^k and stops; otherwise
    it adds in rank r + 2^k's (if that rank exists)."""
    return empty(1, p) if n == 1 else listed(n, binomial_reduce_rounds(n, p, w), p)


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


register(scheduled("reduce_scatter", reduce_scatter_schedule, reduce_scatter_cost,
                   "ring reduce-scatter: rank r ends with chunk r of the mean", kind="reduce_scatter"))
register(scheduled("all_gather", all_gather_schedule, all_gather_cost,
                   "ring all-gather: every rank ends with chunk i of rank i", kind="all_gather"))
register(scheduled("broadcast", broadcast_schedule, broadcast_cost, "binomial-tree broadcast of rank 0's buffer",
                   kind="broadcast"))
register(scheduled("reduce", reduce_schedule, reduce_cost, "binomial-tree reduce: rank 0 ends with the mean",
                   kind="reduce"))
