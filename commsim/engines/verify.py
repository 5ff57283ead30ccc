"""``commsim verify``: every algorithm, simulated on a contention-free network, against its twin.

On ``fully_connected`` every pair of workers (and each server) has its own full-duplex link, so no
two messages of these algorithms share a link and the closed forms must hold exactly: counts and
message sizes equal, time to a relative 1e-9.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..collectives import REGISTRY, get
from ..collectives.imported import LOADED
from ..network import topology
from .analytic import closed_form
from .message import make_buffers, message_histogram, run_collective
from .results import TIME_RTOL

WORKERS = tuple(range(2, 18))
SIZES = (1, 1000, 1_000_003)  # fewer elements than workers, and counts n rarely divides
SHARDED_SERVERS = 2


@dataclass(frozen=True)
class Check:
    """One (algorithm, n, p) point: simulated against analytic."""

    algorithm: str
    workers: int
    params: int
    messages: int
    expected_messages: int
    makespan_s: float
    expected_s: float
    sizes_match: bool

    @property
    def relative_error(self) -> float:
        return abs(self.makespan_s - self.expected_s) / self.expected_s if self.expected_s else abs(self.makespan_s)

    @property
    def ok(self) -> bool:
        return self.sizes_match and self.messages == self.expected_messages and self.relative_error <= TIME_RTOL


def check(algorithm: str, n: int, p: int, gamma: float = 0.0, bandwidth: float = 12.5e9, latency: float = 5e-6) -> Check:
    """Simulate one collective in size-only fp32 mode on ``fully_connected`` and compare with its twin."""
    spec = get(algorithm)
    servers = 0 if spec.server is None else SHARDED_SERVERS if algorithm == "sharded_parameter_server" else 1
    graph = topology.build("fully_connected", n, bandwidth, latency, servers=servers)
    run = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
    twin = closed_form(algorithm, graph, n, p, 4, gamma)
    log = run.network.log
    return Check(algorithm, n, p, len(log), twin.messages, run.makespan_s, twin.makespan_s,
                 message_histogram(log) == twin.message_bytes)


def verify(
    algorithms: Iterable[str] | None = None, workers: Iterable[int] = WORKERS, sizes: Iterable[int] = SIZES,
    gamma: float = 0.0,
) -> list[Check]:
    """The whole grid: algorithms (default: every registered one but the schedules read from files, which
    have their own worker count and are checked as they load) × workers × sizes."""
    names = [name for name in REGISTRY if name not in LOADED] if algorithms is None else list(algorithms)
    return [check(name, n, p, gamma) for name in names for n in workers for p in sizes]
