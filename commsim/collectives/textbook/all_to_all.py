"""All-to-all exchange: every worker sends its whole buffer to every other and averages.

n(n−1) messages of P bytes. All sends are posted at once, so on a star each worker's link
carries n−1 transfers at a time: T = 2α + (n−1)P/B.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..schedule import Round, Schedule, empty, ints, pieces


def all_to_all_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """One round: every worker sends its whole buffer to every other, adds in the n−1 it receives
    (summed in rank order) and divides by n. The round is made when asked for, not kept (n(n−1) transfers:
    40 B each with its element ranges, which its sized round leaves out)."""
    if n == 1:
        return empty(1, p)
    return Schedule(n, 1, lambda k: _exchange(n, p, w, True), p=p, sized=lambda k: _exchange(n, p, w, False))


def _exchange(n: int, p: int, w: int, ranges: bool) -> Round:
    """The one round, with its element ranges (``ranges``) or sizes only."""
    src, dst = (grid.ravel() for grid in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    keep = src != dst
    count = n * (n - 1)
    combine = np.full(n, (n - 1) * p * w, dtype=np.int64)
    sizes = (ints([p * w]), ints([count]))  # every message is the whole buffer
    if not ranges:
        return Round(src[keep], dst[keep], np.full(count, p * w, dtype=np.int64), "exchange", combine, reduce=True,
                     sizes=sizes)
    ranks = ints(range(n))
    only = pieces(src[keep], dst[keep], np.zeros(count), np.full(count, p), w, "exchange", True, combine,
                  (ranks, np.zeros(n), np.full(n, p)))
    return dataclasses.replace(only, sizes=sizes)


def all_to_all_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Contention-free: all n−1 sends in parallel, α + Pβ, then n−1 buffers combined."""
    size = p * w
    return Cost({size: n * (n - 1)}, link.message(size) + (n - 1) * size * link.gamma, "α + Pβ + (n-1)Pγ")


register(scheduled("all_to_all", all_to_all_schedule, all_to_all_cost, "every worker sends its buffer to every other"))
