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

from collections.abc import Callable

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .parameter_server import gather_mean
from .payload import Buffer, chunk_bounds, split


def sharded_ps_worker(comm: Comm, buffer: Buffer) -> Process:
    """Push chunk s of ``buffer`` to server s (all at once); return the assembled mean."""
    out = buffer.copy()
    if comm.size == 1:  # a lone worker's mean is its own buffer: nothing is sent
        return out
    servers = comm.servers
    comm.phase = "push"
    pushes = [comm.send(server, chunk) for server, chunk in zip(servers, split(buffer, len(servers)))]
    for server, chunk in zip(servers, split(out, len(servers))):
        chunk[...] = yield comm.recv(server)
    for pushed in pushes:
        yield pushed
    return out


def sharded_ps_server(comm: Comm, respond: Callable[[Buffer], Buffer] | None = None) -> Process:
    """Average shard ``comm.servers.index(comm.rank)`` over the workers (in rank order), send it back.

    ``respond`` is ignored: the callbacks the training loop passes (an optimizer step on the whole
    parameter vector, a sign vote with its scale in the last element) act on whole buffers, which
    no single shard server holds.
    """
    if comm.size == 1:
        return
    mean = yield from gather_mean(comm)
    comm.phase = "pull"
    for pulled in [comm.send(worker, mean) for worker in range(comm.size)]:
        yield pulled


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


register(
    Algorithm(
        "sharded_parameter_server",
        sharded_ps_worker,
        server=sharded_ps_server,
        summary="k servers each average one shard of the buffer and send it back",
        cost=sharded_ps_cost,
    )
)
