"""Collectives as data: a schedule is a sequence of rounds of transfers (src, dst, bytes).

The round semantics are the library's send-receive steps. Participants are numbered 0..n−1 for the
workers and n, n+1, … for the servers. A participant starts its sends of round k when it has
finished round k−1: every transfer of round k−1 it sends or receives has been delivered, and it
has then combined ``combine[k−1][r]`` bytes (γ seconds per byte). A participant with no transfer
in a round passes through it. Its finish time is the end of its last round.

Rounds are produced on demand (``round(k)``), so a schedule of 134 M transfers never exists whole,
and each is a few numpy arrays, so an engine can take a whole round at a time. The message engine
runs the generator algorithms; ``tests/test_schedule_engine.py`` checks, over the registry, that
each schedule reproduces them: the same messages, bytes per link and times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .payload import chunk_bounds


@dataclass(frozen=True)
class Round:
    """One round: transfer i goes from ``src[i]`` to ``dst[i]`` with ``nbytes[i]`` bytes; afterwards
    participant r combines ``combine[r]`` bytes (None: nobody combines)."""

    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray
    phase: str = ""
    combine: np.ndarray | None = None


@dataclass(frozen=True)
class Schedule:
    """``rounds`` rounds among ``participants`` (n workers, then the servers), made by ``round(k)``."""

    participants: int
    rounds: int
    round: Callable[[int], Round]


def _int(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def chunk_sizes(p: int, n: int, w: int) -> np.ndarray:
    """Bytes of chunk i of ``chunk_bounds(p, n)``, i = 0..n−1."""
    return np.diff(_int(chunk_bounds(p, n))) * w


def empty(participants: int) -> Schedule:
    """Nothing to send (one participant, or nothing to do)."""
    return Schedule(participants, 0, lambda k: Round(_int([]), _int([]), _int([])))


def ring_rounds(n: int, p: int, w: int, reduce_steps: int, gather_steps: int, gather_offset: int) -> Schedule:
    """``reduce_steps`` reduce-scatter steps, then ``gather_steps`` all-gather steps, around the ring
    0 → 1 → … → n−1 → 0. At reduce-scatter step s rank r sends chunk r−s−1 and combines the chunk it
    receives; at all-gather step s it sends chunk r + ``gather_offset`` − s (indices mod n)."""
    if n == 1:
        return empty(1)
    sizes = chunk_sizes(p, n, w)
    ranks = np.arange(n, dtype=np.int64)
    right = (ranks + 1) % n

    def round_(k: int) -> Round:
        if k < reduce_steps:
            sent = sizes[(ranks - k - 1) % n]
            return Round(ranks, right, sent, "reduce_scatter", combine=np.roll(sent, 1))
        step = k - reduce_steps
        return Round(ranks, right, sizes[(ranks + gather_offset - step) % n], "all_gather")

    return Schedule(n, reduce_steps + gather_steps, round_)


def ring_allreduce_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Ring all-reduce: n−1 reduce-scatter steps (rank r sends chunk r−s at step s, as
    ``ring_allreduce`` numbers them), then n−1 all-gather steps (chunk r+1−s)."""
    if n == 1:
        return empty(1)
    sizes = chunk_sizes(p, n, w)
    ranks = np.arange(n, dtype=np.int64)
    right = (ranks + 1) % n

    def round_(k: int) -> Round:
        if k < n - 1:
            sent = sizes[(ranks - k) % n]
            return Round(ranks, right, sent, "reduce_scatter", combine=np.roll(sent, 1))
        return Round(ranks, right, sizes[(ranks + 1 - (k - n + 1)) % n], "all_gather")

    return Schedule(n, 2 * (n - 1), round_)


def reduce_scatter_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """The ring reduce-scatter primitive: n−1 steps, rank r sends chunk r−s−1 at step s."""
    return ring_rounds(n, p, w, n - 1, 0, 0)


def all_gather_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """The ring all-gather primitive: n−1 steps, rank r sends chunk r−s at step s."""
    return ring_rounds(n, p, w, 0, n - 1, 0)


def all_to_all_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """One round: every worker sends its P bytes to every other, then combines the n−1 it received."""
    if n == 1:
        return empty(1)
    src, dst = (grid.ravel() for grid in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    keep = src != dst
    size = p * w
    combine = np.full(n, (n - 1) * size, dtype=np.int64)
    only = Round(src[keep].astype(np.int64), dst[keep].astype(np.int64), np.full(n * (n - 1), size, dtype=np.int64),
                 "exchange", combine)
    return Schedule(n, 1, lambda k: only)


def sharded_server_schedule(n: int, p: int, w: int, servers: int = 1) -> Schedule:
    """k = ``servers`` servers (participants n..n+k−1): every worker pushes chunk s of
    ``chunk_bounds(p, k)`` to server s; each server combines n−1 of its chunks and sends the mean
    chunk back to every worker. With k = 1 this is the parameter server."""
    k = max(servers, 1)
    if n == 1:
        return empty(1 + k)
    sizes = chunk_sizes(p, k, w)
    workers = np.repeat(np.arange(n, dtype=np.int64), k)
    shard = np.tile(np.arange(k, dtype=np.int64), n)
    combine = np.zeros(n + k, dtype=np.int64)
    combine[n:] = (n - 1) * sizes
    push = Round(workers, n + shard, sizes[shard], "push", combine)
    pull = Round(n + shard, workers, sizes[shard], "pull")
    return Schedule(n + k, 2, lambda r: push if r == 0 else pull)


def parameter_server_schedule(n: int, p: int, w: int, servers: int = 1) -> Schedule:
    """Every worker pushes P to the (first) server, which combines n−1 buffers and sends the mean back."""
    return sharded_server_schedule(n, p, w, 1)


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "ring_allreduce": ring_allreduce_schedule,
    "reduce_scatter": reduce_scatter_schedule,
    "all_gather": all_gather_schedule,
    "all_to_all": all_to_all_schedule,
    "parameter_server": parameter_server_schedule,
    "sharded_parameter_server": sharded_server_schedule,
}
"""The algorithms written as schedules, by registry name (the others run on the message engine only)."""


def schedule_for(algorithm: str, n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """``algorithm``'s schedule for n workers, p elements of w bytes and ``servers`` servers."""
    try:
        make = SCHEDULES[algorithm]
    except KeyError:
        raise ValueError(f"algorithm {algorithm!r} has no schedule yet; with schedules: {', '.join(SCHEDULES)}") from None
    return make(n, p, w, servers)
