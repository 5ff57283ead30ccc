"""What an algorithm sees: its rank's view of the network, and the registry of algorithms.

An algorithm never computes a time: it only sends and receives (as in ASTRA-sim). The message engine
runs a per-rank SimPy generator ``worker(comm, buffer)`` returning the rank's result buffer, plus,
for algorithms with a server, a generator ``server(comm)``. The library's algorithms are written once,
as schedules (``commsim.collectives.schedule``), and these generators follow them
(``commsim.collectives.follow``); an algorithm a schedule cannot express may still be a generator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from simpy.events import Event

from ..network.fluid import Network
from .cost import Cost, LinkCost
from .payload import Buffer, chunk_bounds
from .schedule import SCHEDULES, ScheduleMaker

Process = Generator[Event, Any, Any]


def nbytes_of(buffer: Buffer) -> int:
    """Bytes a buffer takes on the wire in its own dtype."""
    return buffer.nbytes


@dataclass
class Comm:
    """One rank's handle on the network: ``send``/``recv`` tagged with the current phase."""

    net: Network
    rank: Hashable
    size: int
    servers: tuple[Hashable, ...] = ()
    phase: str = ""
    wire_bytes: Callable[[Buffer], int] = field(default=nbytes_of)
    gamma: float = 0.0  # seconds per byte this rank spends combining received data into its own

    @property
    def server(self) -> Hashable | None:
        """The (first) parameter server, if the topology has one."""
        return self.servers[0] if self.servers else None

    def combine(self, buffer: Buffer, count: int = 1) -> Event | None:
        """Charge γ·bytes for reducing ``count`` buffers like ``buffer`` into local data: an event to
        wait on, or None if γ = 0. Use as ``if busy := comm.combine(chunk): yield busy``."""
        return self.net.env.timeout(self.gamma * buffer.nbytes * count) if self.gamma else None

    def send(self, dst: Hashable, buffer: Buffer, tag: Any = None) -> Event:
        """Send ``buffer`` to ``dst``; the event fires when it is delivered."""
        wire = self.wire_bytes
        nbytes = buffer.nbytes if wire is nbytes_of else wire(buffer)  # the common case without a call
        return self.net.send(self.rank, dst, nbytes, buffer, tag, self.phase)

    def recv(self, src: Hashable, tag: Any = None) -> Event:
        """The next message from ``src``; the event's value is its payload."""
        return self.net._event_for((src, self.rank, tag), False)


KINDS = ("allreduce", "reduce_scatter", "all_gather", "broadcast", "reduce", "personalized_all_to_all")
"""What a collective leaves where (all relative to the workers' input buffers):
allreduce: every rank the mean; reduce_scatter: rank r chunk r of the mean (other chunks
unspecified); all_gather: every rank chunk i of rank i's buffer at chunk i; broadcast: every rank
rank 0's buffer; reduce: rank 0 the mean (other ranks unspecified); personalized_all_to_all: the
buffer is n blocks of b = ⌊p/n⌋ elements (the last p − n·b unspecified) and rank r ends with rank j's
block r as its block j — the textbook's "all-to-all personalized exchange" (MPI_Alltoall, NCCL's
ncclAlltoAll, nccl-tests' alltoall_perf), each rank a different block for each other rank. Not the
algorithm named ``all_to_all``, which is an all-reduce by exchanging whole buffers."""


def block_length(p: int, n: int) -> int:
    """Elements per block of a personalized all-to-all: b = ⌊p/n⌋ (as nccl-tests' alltoall, count/nranks)."""
    return p // n


@dataclass(frozen=True)
class Algorithm:
    """A registered collective: per-rank worker generator, optional server generator, closed form.

    ``cost(n, p, w, link)`` is the algorithm's closed form on a contention-free network where one
    message of m bytes costs ``link.alpha + m·link.beta`` and combining m bytes ``m·link.gamma``.
    """

    name: str
    worker: Callable[[Comm, Buffer], Process]
    server: Callable[..., Process] | None = None
    summary: str = ""
    kind: str = "allreduce"
    cost: Callable[[int, int, int, LinkCost], Cost] | None = None
    power_of_two: bool = False  # refuses worker counts that are not powers of two
    schedule: ScheduleMaker | None = None  # the schedule the worker and server follow, if written as one


REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm (and its schedule, if it has one) to the registry under its name."""
    REGISTRY[algorithm.name] = algorithm
    if algorithm.schedule is not None:
        SCHEDULES[algorithm.name] = algorithm.schedule
    return algorithm


def reference_results(kind: str, buffers: list[np.ndarray]) -> list[tuple[slice, np.ndarray] | None]:
    """Per rank, the part of its result a collective of ``kind`` specifies and its float64 value
    (None: nothing specified at that rank). Chunks are those of ``chunk_bounds(p, n)``."""
    if kind not in KINDS:
        raise ValueError(f"unknown collective kind {kind!r}; known: {', '.join(KINDS)}")
    n = len(buffers)
    everything = slice(None)
    bounds = chunk_bounds(len(buffers[0]), n)
    chunks = [slice(lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    if kind == "all_gather":
        gathered = np.concatenate([buffers[r][chunks[r]].astype(np.float64) for r in range(n)])
        return [(everything, gathered)] * n
    if kind == "broadcast":
        return [(everything, buffers[0].astype(np.float64))] * n
    if kind == "personalized_all_to_all":
        b = block_length(len(buffers[0]), n)
        return [(slice(0, n * b), np.concatenate([buffers[j][r * b:(r + 1) * b].astype(np.float64) for j in range(n)]))
                for r in range(n)]
    # The mean in float64, summed in rank order as numpy's mean over axis 0 of the stacked buffers
    # does, one buffer at a time: memory of two float64 buffers, not of n.
    mean = buffers[0].astype(np.float64)
    for buffer in buffers[1:]:
        np.add(mean, buffer, out=mean)
    mean /= n
    if kind == "allreduce":
        return [(everything, mean)] * n
    if kind == "reduce_scatter":
        return [(chunks[r], mean[chunks[r]]) for r in range(n)]
    return [(everything, mean)] + [None] * (n - 1)


def get(name: str) -> Algorithm:
    """Look an algorithm up by name, with a helpful error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(REGISTRY)}") from None
