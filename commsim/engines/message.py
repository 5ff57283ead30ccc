"""The message engine: one SimPy process per rank, real messages through the fluid network."""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import simpy

from ..collectives import Algorithm, Comm, get, reference_results
from ..collectives.payload import Buffer, SizeOnly
from ..network import topology as topologies
from ..network.fluid import MessageLog, Network
from . import analytic


@dataclass
class CollectiveRun:
    """What one collective did on one network: results per rank and the network's records."""

    results: list[Buffer]
    finish_s: list[float]
    network: Network

    @property
    def makespan_s(self) -> float:
        return max(self.finish_s, default=0.0)


def run_with_progress(env: simpy.Environment, horizon: float | None, progress: Any = None) -> None:
    """``env.run()`` with the garbage collector off (a run allocates millions of short-lived, acyclic
    objects; refcounting frees them); with ``progress``, in 100 slices of ``horizon`` (the expected end),
    calling ``progress(fraction of simulated time done)`` after each (capped below 1 until the run ends)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        if progress is None or not horizon or horizon <= 0:
            env.run()
        else:
            step, report_at = env.step, horizon / 100
            try:
                while True:
                    step()
                    if env.now >= report_at:
                        progress(min(env.now / horizon, 0.99))
                        report_at = env.now + horizon / 100
            except simpy.core.EmptySchedule:
                pass
    finally:
        if collecting:
            gc.enable()
    if progress is not None:
        progress(1.0)


def run_collective(
    algorithm: str | Algorithm, graph: nx.Graph, buffers: list[Buffer], gamma: float = 0.0, progress: Any = None,
    horizon: float | None = None, keep_log: bool = True,
) -> CollectiveRun:
    """Run one collective, one SimPy process per worker (and one for the server, if any); ``progress``
    hears the simulated-time fraction done against ``horizon`` (see :func:`run_with_progress`). Without
    ``keep_log`` messages are only counted (``network.sizes``, per route), not each recorded."""
    spec = algorithm if isinstance(algorithm, Algorithm) else get(algorithm)
    n = len(buffers)
    servers = topologies.servers(graph)
    if spec.server is not None and not servers:
        raise topologies.TopologyError(f"algorithm {spec.name!r} needs a parameter server, and the topology has none")
    env = simpy.Environment()
    net = Network(env, graph, keep_log=keep_log)
    finish = [float("nan")] * n
    processes = []
    for rank in range(n):
        process = env.process(spec.worker(Comm(net, rank, n, servers, gamma=gamma), buffers[rank]))
        process.callbacks.append(lambda _event, rank=rank: finish.__setitem__(rank, env.now))
        processes.append(process)
    for server in servers if spec.server is not None else ():
        env.process(spec.server(Comm(net, server, n, servers, gamma=gamma)))
    run_with_progress(env, horizon, progress)
    unfinished = [rank for rank, process in enumerate(processes) if not process.processed]
    if unfinished:
        raise RuntimeError(f"{spec.name}: ranks {unfinished[:8]} never finished (deadlock)")
    return CollectiveRun([process.value for process in processes], finish, net)


def make_buffers(n: int, p: int, dtype: str, payload: str, seed: int) -> list[Buffer]:
    """Each worker's gradient: seeded normal values, or size-only stand-ins. float32 and float64 are
    drawn in their own precision (no float64 draw to cast: half the memory traffic of a float32 run);
    float16 is drawn as float32 and rounded."""
    itemsize = np.dtype(dtype).itemsize
    if payload == "size-only":
        return [SizeOnly(p, itemsize) for _ in range(n)]
    rng = np.random.default_rng([seed, n, p])
    drawn = "float64" if dtype == "float64" else "float32"
    return [rng.standard_normal(p, dtype=drawn).astype(dtype, copy=False) for _ in range(n)]


def mean_error(buffers: list[np.ndarray], results: list[np.ndarray], kind: str = "allreduce") -> tuple[float, float, bool]:
    """(max |result − reference| over what the collective specifies, the rounding tolerance
    n·eps·max|x|, the specified parts bitwise identical across ranks where they should be)."""
    if not buffers or buffers[0].size == 0:
        return 0.0, 0.0, True
    expected = reference_results(kind, buffers)
    error = 0.0
    for result, reference in zip(results, expected):
        if reference is not None:
            part, value = reference
            error = max(error, float(np.max(np.abs(np.asarray(result[part], dtype=np.float64) - value), initial=0.0)))
    largest = max(float(np.max(np.abs(buffer), initial=0.0)) for buffer in buffers)  # buffer by buffer: no n-fold copy
    tolerance = len(buffers) * float(np.finfo(buffers[0].dtype).eps) * largest
    replicated = kind in ("allreduce", "all_gather", "broadcast")
    identical = not replicated or all(np.array_equal(results[0], result) for result in results[1:])
    return error, tolerance, identical


def bytes_per_link(net: Network) -> dict[str, int]:
    """Bytes that crossed each directed link, keyed ``"u->v"``."""
    totals: Counter[str] = Counter()
    for route in net.routes:
        for link in route.links:
            totals[f"{link.u}->{link.v}"] += route.bytes
    return dict(sorted(totals.items()))


def busiest_link_bound(net: Network) -> float:
    """A lower bound on the run's makespan from its traffic: max over links of bytes/bandwidth plus the
    shortest latency of a route through the link. Everything starts at 0, a link passes at most its
    bandwidth, and the message carrying its last byte still travels its route's latency after it."""
    load: dict[Any, int] = {}
    latency: dict[Any, float] = {}
    for route in net.routes:
        for link in route.links:
            load[link] = load.get(link, 0) + route.bytes
            latency[link] = min(latency.get(link, route.latency), route.latency)
    return max((nbytes / link.bandwidth + latency[link] for link, nbytes in load.items()), default=0.0)


def with_busiest_link_bound(expected: analytic.Expected, net: Network | float) -> analytic.Expected:
    """A lower bound ("≥") raised to the busiest link's (of ``net``, or given), where that is higher: a
    bound that says something."""
    if expected.time_relation != "≥" or expected.makespan_s is None:
        return expected
    bound = net if isinstance(net, float) else busiest_link_bound(net)
    if bound <= expected.makespan_s:
        return expected
    formula = f"busiest link: bytes/B + route latency (above {expected.time_formula})"
    return dataclasses.replace(expected, makespan_s=bound, time_formula=formula)


def link_bandwidths(net: Network) -> dict[str, float]:
    """Bandwidth of each directed link used, keyed ``"u->v"`` like ``bytes_per_link``."""
    return {f"{link.u}->{link.v}": link.bandwidth for route in net.routes for link in route.links}


def message_histogram(log: MessageLog) -> dict[int, int]:
    """Message size (bytes) -> count."""
    sizes, counts = np.unique(np.frombuffer(log.nbytes, dtype=np.int64), return_counts=True)
    return {int(size): int(count) for size, count in zip(sizes, counts)}
