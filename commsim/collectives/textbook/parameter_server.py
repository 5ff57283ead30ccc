"""Parameter server: workers push their buffers, the server averages and sends the mean back.

2n messages of P bytes. On a star the server's link carries all n pushes, then all n pulls:
T = 2(2α + nP/B).
"""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np

from ..base import Algorithm, register
from ..cost import Cost, LinkCost
from ..follow import DROPPED, scheduled  # noqa: F401  (DROPPED: where the dropped ranks are noted)
from ..schedule import Schedule, bounds_of, empty, ints, pieces, received

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


def dropping_server_schedule(n: int, p: int, w: int, keep: int) -> Schedule:
    """The parameter server in ``drop_stragglers``/``backup_workers`` mode: every worker pushes its buffer,
    the server waits for the first ``keep`` to arrive (ties at one instant go to the lower ranks; the
    others are delivered, and dropped), adds them in rank order (keep − 1 additions), divides by ``keep``
    and sends the result to every worker. 2n messages of P bytes, as the parameter server."""
    if n == 1:
        return empty(2, p)
    workers, server = ints(range(n)), np.full(n, n)
    combine = np.zeros(n + 1, dtype=np.int64)
    combine[n] = (keep - 1) * p * w
    quorum = np.zeros(n + 1, dtype=np.int64)
    quorum[n] = keep
    push = pieces(workers, server, np.zeros(n), np.full(n, p), w, "push", True, combine,
                  (ints([n]), ints([0]), ints([p])))
    push = dataclasses.replace(push, quorum=quorum, divisor=keep)
    pull = pieces(server, workers, np.zeros(n), np.full(n, p), w, "pull")
    return Schedule(n + 1, 2, lambda r: push if r == 0 else pull, p=p)


def first_arrivals(keep: int) -> Algorithm:
    """The parameter server taking the first ``keep`` gradients (:func:`dropping_server_schedule`). Which
    ranks each call dropped: ``net.shared[DROPPED][call]``."""
    return scheduled(f"parameter_server (first {keep})", partial(_dropping, keep=keep), None,
                     f"workers push to one server, which averages the first {keep} to arrive", server=True)


def _dropping(n: int, p: int, w: int, keep: int, **_: object) -> Schedule:
    return dropping_server_schedule(n, p, w, min(keep, n))


