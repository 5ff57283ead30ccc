"""Parameter server: workers push their buffers, the server averages and sends the mean back.

2n messages of P bytes. On a star the server's link carries all n pushes, then all n pulls:
T = 2(2α + nP/B).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from simpy.events import Event

from ..network.fluid import _AFTER_NORMAL
from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .follow import scheduled
from .payload import Buffer, SizeOnly
from .schedule import Schedule, bounds_of, empty, ints, pieces, received

_AFTER_THE_INSTANT = _AFTER_NORMAL + 1  # after the ordinary events of an instant and the network's rates


def sharded_server_schedule(n: int, p: int, w: int, servers: int = 1, **_: object) -> Schedule:
    """k = ``servers`` servers (participants n..n+k−1): every worker pushes chunk s of
    ``chunk_bounds(p, k)`` to server s, which adds the n chunks up in rank order (n−1 additions),
    divides by n and sends the mean chunk back to every worker. With k = 1 the parameter server."""
    k = max(servers, 1)
    if n == 1:
        return empty(1 + k, p)
    bounds = bounds_of(p, k)
    workers = np.repeat(ints(range(n)), k)
    shard = np.tile(ints(range(k)), n)
    lo, hi = bounds[shard], bounds[shard + 1]
    combine = received(n + shard, (hi - lo) * w, n + k)
    combine[n:] -= (bounds[1:] - bounds[:-1]) * w  # the first chunk to arrive is not added to anything
    server_ids = ints(range(n, n + k))
    push = pieces(workers, n + shard, lo, hi, w, "push", True, combine, (server_ids, bounds[:-1], bounds[1:]))
    pull = pieces(n + shard, workers, lo, hi, w, "pull")
    return Schedule(n + k, 2, lambda r: push if r == 0 else pull, p=p)


def parameter_server_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Every worker pushes its buffer to the (first) server, which sums them in rank order, divides by
    n, replies with the mean (or what ``respond`` makes of it: the parameters after an optimizer step,
    a sign vote) to every worker."""
    return sharded_server_schedule(n, p, w, 1)


def parameter_server_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Contention-free (the server has a link to every worker): push, combine n buffers, pull."""
    size = p * w
    return Cost({size: 2 * n}, 2 * link.message(size) + (n - 1) * size * link.gamma, "2(α + Pβ) + (n-1)Pγ")


register(scheduled("parameter_server", parameter_server_schedule, parameter_server_cost,
                   "workers push to one server, which averages and sends the mean back", server=True))


def first_arrivals(keep: int) -> Algorithm:
    """The parameter server in ``drop_stragglers``/``backup_workers`` mode: the server takes the first
    ``keep`` gradients to arrive, adds them in rank order, divides by ``keep`` and sends the result to
    every worker; the others are dropped (their messages still cross the network). Gradients that land
    in the same instant tie, and the lowest ranks win: the server decides once every arrival of the
    instant the keep-th landed is in. 2n messages of P bytes, as the parameter server. Calls are tagged,
    so a gradient that arrives after its call was answered never counts in a later one. Which ranks each
    call dropped: ``net.shared[DROPPED]``."""

    def _call(comm: Comm) -> int:
        counts = comm.net.shared.setdefault(("first_arrivals", comm.rank), [0])
        counts[0] += 1
        return counts[0] - 1

    def worker(comm: Comm, buffer: Buffer) -> Process:
        call = _call(comm)
        comm.phase = "push"
        yield comm.send(comm.server, buffer, tag=("push", call))
        comm.phase = "pull"
        return (yield comm.recv(comm.server, tag=("pull", call)))

    def server(comm: Comm, respond: Callable[[Buffer], Buffer] | None = None) -> Process:
        if comm.rank != comm.server:
            return
        call, env = _call(comm), comm.net.env
        arrived: list[tuple[float, int, Buffer]] = []
        enough = env.event()

        def arrive(event: Event, rank: int) -> None:
            arrived.append((env.now, rank, event.value))
            if len(arrived) == keep:  # decide after every other event of this instant (its ties)
                enough._ok, enough._value = True, None
                env.schedule(enough, _AFTER_THE_INSTANT)

        for rank in range(comm.size):
            pushed = comm.recv(rank, tag=("push", call))
            if pushed.callbacks is None:  # delivered before the server asked
                arrive(pushed, rank)
            else:
                pushed.callbacks.append(lambda event, rank=rank: arrive(event, rank))
        yield enough
        kept = sorted(sorted(arrived, key=lambda item: item[:2])[:keep], key=lambda item: item[1])
        comm.net.shared.setdefault(DROPPED, []).append(sorted(set(range(comm.size)) - {rank for _, rank, _ in kept}))
        first = kept[0][2]
        if busy := comm.combine(first, keep - 1):
            yield busy
        if isinstance(first, SizeOnly):
            mean: Buffer = first.copy()
        else:
            total = first.copy()
            for _, _, buffer in kept[1:]:
                total += buffer
            mean = total / np.asarray(keep, dtype=total.dtype)
        result = respond(mean) if respond is not None else mean
        comm.phase = "pull"
        yield env.all_of([comm.send(rank, result, tag=("pull", call)) for rank in range(comm.size)])

    return Algorithm(f"parameter_server (first {keep})", worker, server,
                     f"workers push to one server, which averages the first {keep} to arrive", "allreduce")


DROPPED = "dropped"
