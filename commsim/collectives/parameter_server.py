"""Parameter server: workers push their buffers, the server averages and sends the mean back.

2n messages of P bytes. On a star the server's link carries all n pushes, then all n pulls:
T = 2(2α + nP/B).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .payload import Buffer, mean_in_rank_order


def parameter_server_worker(comm: Comm, buffer: Buffer) -> Process:
    """Push ``buffer`` to the server and return (a copy of) the mean it sends back."""
    if comm.size == 1:  # a lone worker's mean is its own buffer: nothing is sent
        return buffer.copy()
    comm.phase = "push"
    pushed = comm.send(comm.server, buffer)
    mean = yield comm.recv(comm.server)
    yield pushed
    return mean.copy()


def gather_mean(comm: Comm) -> Process:
    """A server's push phase: one buffer from every worker, n−1 of them combined (γ), their mean."""
    comm.phase = "push"
    parts = []
    for worker in range(comm.size):
        parts.append((yield comm.recv(worker)))
    if busy := comm.combine(parts[0], comm.size - 1):
        yield busy
    return mean_in_rank_order(parts)


def parameter_server(comm: Comm, respond: Callable[[Buffer], Buffer] | None = None) -> Process:
    """Receive one buffer from every worker, average in rank order, send the mean to all.

    ``respond(mean)``, if given, replaces what is sent back: e.g. the parameters after the
    server's optimizer step, or a majority vote of signs.
    """
    if comm.size == 1:
        return
    mean = yield from gather_mean(comm)
    reply = mean if respond is None else respond(mean)
    comm.phase = "pull"
    for pulled in [comm.send(worker, reply) for worker in range(comm.size)]:
        yield pulled


def parameter_server_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Contention-free (the server has a link to every worker): push, combine n buffers, pull."""
    size = p * w
    return Cost({size: 2 * n}, 2 * link.message(size) + (n - 1) * size * link.gamma, "2(α + Pβ) + (n-1)Pγ")


register(
    Algorithm(
        "parameter_server",
        parameter_server_worker,
        server=parameter_server,
        summary="workers push to one server, which averages and sends the mean back",
        cost=parameter_server_cost,
    )
)
