"""Wire topology, network and collective together: ``simulate(scenario) -> list[RunResult]``."""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import simpy

from . import topology as topologies
from .collectives import Comm, analytic, get
from .network import MessageLog, Network
from .payload import Buffer, SizeOnly
from .scenario import RunSpec, Scenario

TIME_RTOL = 1e-9


@dataclass
class CollectiveRun:
    """What one collective did on one network: results per rank and the network's records."""

    results: list[Buffer]
    finish_s: list[float]
    network: Network

    @property
    def makespan_s(self) -> float:
        return max(self.finish_s, default=0.0)


def run_collective(algorithm: str, graph: nx.Graph, buffers: list[Buffer]) -> CollectiveRun:
    """Run one collective, one SimPy process per worker (and one for the server, if any)."""
    spec = get(algorithm)
    n = len(buffers)
    server = topologies.SERVER if spec.server is not None else None
    if server is not None and server not in graph:
        raise topologies.TopologyError(f"algorithm {algorithm!r} needs a parameter server, and the topology has none")
    env = simpy.Environment()
    net = Network(env, graph)
    finish = [float("nan")] * n
    processes = []
    for rank in range(n):
        process = env.process(spec.worker(Comm(net, rank, n, server), buffers[rank]))
        process.callbacks.append(lambda _event, rank=rank: finish.__setitem__(rank, env.now))
        processes.append(process)
    if spec.server is not None:
        env.process(spec.server(Comm(net, server, n, server)))
    collecting = gc.isenabled()
    gc.disable()  # a run allocates millions of short-lived, acyclic objects; refcounting frees them
    try:
        env.run()
    finally:
        if collecting:
            gc.enable()
    unfinished = [rank for rank, process in enumerate(processes) if not process.processed]
    if unfinished:
        raise RuntimeError(f"{algorithm}: ranks {unfinished[:8]} never finished (deadlock)")
    return CollectiveRun([process.value for process in processes], finish, net)


def make_buffers(n: int, p: int, dtype: str, payload: str, seed: int) -> list[Buffer]:
    """Each worker's gradient: seeded normal values, or size-only stand-ins."""
    itemsize = np.dtype(dtype).itemsize
    if payload == "size-only":
        return [SizeOnly(p, itemsize) for _ in range(n)]
    rng = np.random.default_rng([seed, n, p])
    return [rng.standard_normal(p).astype(dtype) for _ in range(n)]


def mean_error(buffers: list[np.ndarray], results: list[np.ndarray]) -> tuple[float, float, bool]:
    """(max |result − mean|, the rounding tolerance n·eps·max|x|, replicas bitwise identical)."""
    if not buffers or buffers[0].size == 0:
        return 0.0, 0.0, True
    stack = np.stack(buffers).astype(np.float64)
    reference = stack.mean(axis=0)
    error = max(float(np.max(np.abs(result.astype(np.float64) - reference))) for result in results)
    tolerance = len(buffers) * float(np.finfo(buffers[0].dtype).eps) * float(np.max(np.abs(stack)))
    identical = all(np.array_equal(results[0], result) for result in results[1:])
    return error, tolerance, identical


def bytes_per_link(net: Network) -> dict[str, int]:
    """Bytes that crossed each directed link, keyed ``"u->v"``."""
    totals: Counter[str] = Counter()
    for route in net.routes:
        for link in route.links:
            totals[f"{link.u}->{link.v}"] += route.bytes
    return dict(sorted(totals.items()))


def message_histogram(log: MessageLog) -> dict[int, int]:
    """Message size (bytes) -> count."""
    sizes, counts = np.unique(np.frombuffer(log.nbytes, dtype=np.int64), return_counts=True)
    return {int(size): int(count) for size, count in zip(sizes, counts)}


@dataclass
class RunResult:
    """One (algorithm, workers, params) run: measured values beside the closed forms."""

    algorithm: str
    topology: str
    workers: int
    params: int
    dtype: str
    bytes_per_param: int
    payload: str
    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float
    finish_s: list[float]
    bytes_per_link: dict[str, int]
    expected: analytic.Expected
    mean: dict[str, Any] | None = None
    log: MessageLog | None = field(default=None, repr=False)

    @property
    def checks(self) -> dict[str, bool]:
        """Each measured value against its expectation (time: to 1e-9, or above its bound)."""
        exp = self.expected
        checks = {
            "messages": self.messages == exp.messages,
            "bytes": self.bytes == exp.bytes and self.message_bytes == exp.message_bytes,
        }
        if exp.makespan_s is not None:
            slack = TIME_RTOL * max(exp.makespan_s, 1e-300)
            if exp.time_is_bound:
                checks["time"] = self.makespan_s >= exp.makespan_s - slack
            else:
                checks["time"] = abs(self.makespan_s - exp.makespan_s) <= slack
        if self.mean is not None:
            checks["mean"] = self.mean["identical"] and self.mean["max_error"] <= self.mean["tolerance"]
        return checks

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


def simulate_run(scenario: Scenario, run: RunSpec) -> RunResult:
    """Simulate one (algorithm, workers, params) point of a scenario."""
    topo = scenario.topology
    needs_server = get(run.algorithm).server is not None
    graph = topologies.build(
        topo.kind, run.workers, topo.bandwidth, topo.latency, server=needs_server,
        overrides=[link.model_dump() for link in topo.links],
    )
    buffers = make_buffers(run.workers, run.params, scenario.dtype, scenario.payload, scenario.seed)
    collective = run_collective(run.algorithm, graph, buffers)
    log = collective.network.log
    itemsize = np.dtype(scenario.dtype).itemsize
    mean = None
    if scenario.payload == "data":
        error, tolerance, identical = mean_error(buffers, collective.results)
        mean = {"max_error": error, "tolerance": tolerance, "identical": identical}
    return RunResult(
        algorithm=run.algorithm,
        topology=topo.kind,
        workers=run.workers,
        params=run.params,
        dtype=scenario.dtype,
        bytes_per_param=itemsize,
        payload=scenario.payload,
        messages=len(log),
        bytes=int(sum(log.nbytes)),
        message_bytes=message_histogram(log),
        makespan_s=collective.makespan_s,
        finish_s=collective.finish_s,
        bytes_per_link=bytes_per_link(collective.network),
        expected=analytic.expected(
            run.algorithm, topo.kind, run.workers, run.params, itemsize, topo.latency, topo.bandwidth,
            uniform_links=topologies.is_uniform(graph),
        ),
        mean=mean,
        log=log,
    )


def simulate(scenario: Scenario) -> list[RunResult]:
    """Every run of a scenario, in the order the scenario lists them."""
    return [simulate_run(scenario, run) for run in scenario.runs()]
