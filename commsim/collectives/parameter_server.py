"""Parameter server: workers push their buffers, the server averages and sends the mean back.

2n messages of P bytes. On a star the server's link carries all n pushes, then all n pulls:
T = 2(2α + nP/B).
"""

from __future__ import annotations

import numpy as np

from .base import register
from .cost import Cost, LinkCost
from .follow import scheduled
from .schedule import Schedule, bounds_of, empty, ints, pieces, received


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
