"""Sharded parameter server: k servers, server s averages chunk s of ``chunk_bounds(p, k)``.

Every worker posts its k pushes at once (chunk s to server s); server s receives the n pushes,
averages them in rank order and sends the mean chunk back to every worker at once; each worker
assembles the k chunks. 2nk messages: for each chunk s of c_s elements, 2n of c_s·w bytes.

On a contention-free network (each server has its own link to every worker) server s's chunk
makes a round trip of 2(α + c_s·wβ) plus (n−1)c_s·wγ of combining, and a worker is done when
the largest chunk C = ⌈p/k⌉·w is back:

    T = 2(α + Cβ) + (n−1)Cγ.

With k = 1 this is the parameter server. With n = 1 nothing is sent.
"""

from __future__ import annotations

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from .parameter_server import sharded_server_schedule
from ..payload import chunk_bounds


def sharded_ps_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """2(α + Cβ) + (n−1)Cγ with C = ⌈p/k⌉w, k = ``link.servers``; each chunk of
    ``chunk_bounds(p, k)`` travels 2n times (n pushes, n pulls)."""
    k = max(link.servers, 1)
    if n == 1:
        return Cost({}, 0.0, "0")
    bounds = chunk_bounds(p, k)
    histogram: dict[int, int] = {}
    for lo, hi in zip(bounds, bounds[1:]):
        histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + 2 * n
    largest = -(-p // k) * w
    time = 2 * link.message(largest) + (n - 1) * largest * link.gamma
    return Cost(dict(sorted(histogram.items())), time, f"2(α + ⌈p/k⌉wβ) + (n-1)⌈p/k⌉wγ, k={k}")


# A server's ``respond`` (an optimizer step on the whole parameter vector, a sign vote with its scale in
# the last element) acts on whole buffers, which no single shard server holds: shard servers ignore it.
register(scheduled("sharded_parameter_server", sharded_server_schedule, sharded_ps_cost,
                   "k servers each average one shard of the buffer and send it back", server=True, responds=False))
