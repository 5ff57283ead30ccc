"""The message engine under stragglers and faults: a collective after per-worker compute, with jittered
message starts, links that fail, workers that crash, and a parameter server that may drop stragglers.

A crash stops its worker's node in the network (``DisturbedNetwork.crash``): the rank sends and receives
nothing more, whatever processes it runs (one per tree for the double binary tree), and of its messages
under way, the bytes not yet sent never arrive. The run ends when every worker has finished or crashed:
failures and crashes due later never happen.

A run either finishes (every live rank has its result) or stops, and then says why: the network
split (``network partitioned at t = …``), a crash left ranks waiting, and on whom, or every worker
crashed. It never hangs (the event queue empties) and never returns a mean that lacks a gradient
without saying so.

What a disturbed run cost is read off its message log: each worker's idle time (the gaps in [0, its
finish] when it neither computes nor sends nor receives) and the critical path (walking back from the
last finisher through the message or compute that released each step).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import simpy
from simpy.core import StopSimulation

from ..collectives import Algorithm, Comm, get
from ..collectives.parameter_server import DROPPED, first_arrivals
from ..collectives.payload import Buffer
from ..network import topology as topologies
from ..network.disturbances import DisturbedNetwork, Partitioned, schedule_failures
from ..network.fluid import MessageLog
from .message import run_with_progress
from ..units import format_time
from .results import idle_gaps


@dataclass(frozen=True)
class Disturbance:
    """What goes wrong in one run. ``compute_s[rank]``: how long the rank computes before the collective
    (its straggler factor and jitter included); ``jitter_s``: the largest delay before a message starts;
    ``link_failures``: (u, v, time); ``crashes``: (rank, time); ``keep``: a parameter server proceeds with
    the first ``keep`` gradients (``drop_stragglers``)."""

    compute_s: tuple[float, ...]
    jitter_s: float = 0.0
    link_failures: tuple[tuple[Hashable, Hashable, float], ...] = ()
    crashes: tuple[tuple[int, float], ...] = ()
    keep: int | None = None
    seed: int = 0
    compute_jitter: float = 0.0  # training: each step's compute × (1 + compute_jitter·U[0, 1)), seeded per rank

    def step_compute_s(self, rank: int, steps: int) -> list[float]:
        """Training: the rank's compute time at each step (its own time, stretched by the seeded jitter)."""
        import numpy as np

        noise = np.random.default_rng([self.seed, len(self.compute_s), rank, 17]).random(steps)
        return [self.compute_s[rank] * (1 + self.compute_jitter * float(u)) for u in noise]


@dataclass
class DisturbedRun:
    """A collective under a :class:`Disturbance`: per rank the result (None if it crashed or the run
    stopped) and finish time (NaN likewise), and what happened."""

    results: list[Buffer | None]
    finish_s: list[float]
    network: DisturbedNetwork
    stopped: str | None = None  # why the collective could not finish
    crashed: list[tuple[int, float]] = field(default_factory=list)  # (rank, time) of each crash that hit a live rank
    dropped: list[list[int]] = field(default_factory=list)  # per server call: the ranks whose gradients were dropped

    @property
    def makespan_s(self) -> float:
        finished = [t for t in self.finish_s if t == t]
        return max(finished, default=0.0)


def algorithm_for(name: str, keep: int | None) -> Algorithm:
    """The algorithm a disturbed run executes: the parameter server taking the first ``keep`` gradients
    when it drops stragglers, else the registered one."""
    return first_arrivals(keep) if keep is not None and name == "parameter_server" else get(name)


def waits(net: DisturbedNetwork, ranks: list[int]) -> str:
    """Who each unfinished rank waits on: the sources of its pending receives."""
    waiting: dict[Hashable, list[Hashable]] = {}
    for (src, dst, _tag), entry in net._channels.items():
        if entry[0] is False:  # receives posted, nothing sent
            waiting.setdefault(dst, []).append(src)
    parts = []
    for node in [*ranks, *sorted((node for node in waiting if node not in ranks), key=str)]:
        sources = sorted(set(waiting.get(node, [])), key=str)
        if sources:
            parts.append(f"{node} on {', '.join(map(str, sources))}")
    shown = parts[:8] + ([f"and {len(parts) - 8} more"] if len(parts) > 8 else [])
    return "; ".join(shown) if shown else "none on a message"


def run_disturbed(name: str, graph: nx.Graph, buffers: list[Buffer], disturbance: Disturbance, gamma: float = 0.0,
                  keep_log: bool = True) -> DisturbedRun:
    """Run collective ``name`` with one SimPy process per worker (each computes, then joins the
    collective), the server's if any, and the disturbance's failures and crashes at their times."""
    spec = algorithm_for(name, disturbance.keep)
    n = len(buffers)
    servers = topologies.servers(graph) if spec.server is not None else ()
    if spec.server is not None and not servers:
        raise topologies.TopologyError(f"algorithm {spec.name!r} needs a parameter server, and the topology has none")
    env = simpy.Environment()
    net = DisturbedNetwork(env, graph, keep_log=keep_log, jitter_s=disturbance.jitter_s, seed=disturbance.seed,
                           participants=[*range(n), *servers])
    finish = [float("nan")] * n
    crashed: list[tuple[int, float]] = []

    def worker(rank: int) -> Any:
        try:
            yield env.timeout(disturbance.compute_s[rank])
            result = yield from spec.worker(Comm(net, rank, n, servers, gamma=gamma), buffers[rank])
        except simpy.Interrupt:
            crashed.append((rank, env.now))
            return None
        finish[rank] = env.now
        return result

    processes = [env.process(worker(rank)) for rank in range(n)]
    for server in servers:
        env.process(spec.server(Comm(net, server, n, servers, gamma=gamma)))
    schedule_crashes(net, processes, disturbance.crashes)
    schedule_failures(net, list(disturbance.link_failures))
    stopped = run_until_stuck(env, net, processes, crashed, spec.name)
    dropped = net.shared.get(DROPPED, [])
    if stopped is not None:
        return DisturbedRun([None] * n, [float("nan")] * n, net, stopped, crashed, dropped)
    down = {rank for rank, _ in crashed}
    results = [None if rank in down else process.value for rank, process in enumerate(processes)]
    return DisturbedRun(results, finish, net, None, crashed, dropped)


def schedule_crashes(net: DisturbedNetwork, processes: list[Any], crashes: tuple[tuple[int, float], ...]) -> None:
    """At each crash's time, if its worker is still at work: its node stops in the network (it sends and
    receives nothing more; its bytes not yet sent never leave), and its process is interrupted."""

    def crash(rank: int) -> None:
        if processes[rank].is_alive:
            net.crash(rank)
            processes[rank].interrupt("crash")

    for rank, at in crashes:
        net.env.timeout(at).callbacks.append(lambda _event, rank=rank: crash(rank))


def run_until_stuck(env: simpy.Environment, net: DisturbedNetwork, processes: list[Any],
                    crashed: list[tuple[int, float]], name: str) -> str | None:
    """Run until every worker has finished or crashed (what is due later never happens), or the event queue
    empties; why the run could not finish (a partition, live workers left waiting after crashes, and on
    whom, or every worker crashed), else None."""
    env.all_of(processes).callbacks.append(StopSimulation.callback)
    try:
        run_with_progress(env, None)
    except Partitioned as partition:
        return str(partition)
    down = {rank for rank, _ in crashed}
    what = ", ".join(f"worker {rank} crashed at t = {format_time(at)}" for rank, at in crashed) or "nothing crashed"
    if processes and len(down) == len(processes):
        return f"{name} cannot finish ({what}): every worker crashed"
    unfinished = [rank for rank, process in enumerate(processes) if rank not in down and not process.processed]
    if not unfinished:
        return None
    return f"{name} cannot finish ({what}): waiting: {waits(net, unfinished)}"


def _messages_of(log: MessageLog) -> list[tuple[Hashable, Hashable, float, float]]:
    return [(*log.endpoints(i), log.start[i], log.end[i]) for i in range(len(log))]


def _end_of(entry: tuple) -> float:
    return entry[0]


def _index_of(entry: tuple) -> int:
    return entry[1]


def idle_spans(log: MessageLog, compute: list[list[tuple[float, float]]],
               finish: list[float]) -> list[list[tuple[float, float]] | None]:
    """Per worker: the (start, end) gaps in [0, its finish] when it neither computes (``compute[rank]``: its
    (start, end) spans; none for a rank past the list's end) nor sends nor receives; None for a worker
    that never finished. What the report sums into idle time and the trace draws as idle slices."""
    busy: dict[Hashable, list[tuple[float, float]]] = {
        rank: list(compute[rank]) if rank < len(compute) else [] for rank in range(len(finish))}
    for src, dst, start, end in _messages_of(log):
        for node in (src, dst):
            if node in busy:
                busy[node].append((start, end))
    return [idle_gaps(busy[rank], end) if end == end else None for rank, end in enumerate(finish)]


def idle_s(log: MessageLog, compute: list[list[tuple[float, float]]], finish: list[float]) -> list[float | None]:
    """Per worker: the length of its :func:`idle_spans` (None for a worker that never finished)."""
    return [None if gaps is None else sum(b - a for a, b in gaps) for gaps in idle_spans(log, compute, finish)]


@dataclass(frozen=True)
class CriticalPath:
    """The chain that set the finish time: ``origin`` (the worker it starts at), its compute spans,
    messages and gaps (jitter, or waiting on nothing recorded) in seconds, and the workers it visits."""

    origin: Hashable
    compute_s: float
    computes: int
    message_s: float
    gap_s: float
    messages: int
    hops: list[Hashable]

    def describe(self, show: Callable[[float], str] = format_time) -> str:
        """The path in words, each time written by ``show`` (default: with its own unit)."""
        hops = "→".join(map(str, self.hops[:12])) + ("→…" if len(self.hops) > 12 else "")
        if self.computes == 1:
            start = f"compute of worker {self.origin} ({show(self.compute_s)}), then "
        elif self.computes:
            start = f"{self.computes} computes ({show(self.compute_s)}) and "
        else:
            start = ""
        return (f"{start}{self.messages} messages ({show(self.message_s)}) along {hops}"
                + (f", {show(self.gap_s)} waiting" if self.gap_s > 0 else ""))


def critical_path(log: MessageLog, compute: list[list[tuple[float, float]]], finish: list[float],
                  posted: dict[tuple[Hashable, Hashable, float], float] | None = None) -> CriticalPath | None:
    """Walk back from the last finisher to time 0: at each node and time, whichever ended last of its
    compute spans and the messages it sent or received released it; a compute hands the walk to its
    start, a message sent to when its sender sent it, a message received to its sender then. A message
    that started late (``posted``: (src, dst, start) → when it was sent) waited from its sending to its
    start, and only what ended by its sending can have released it. Only a message delivered before the
    one the walk came through can have released that one (the log is in delivery order), so the walk
    ends even through messages that take no time."""
    ends = [(t, rank) for rank, t in enumerate(finish) if t == t]
    if not ends:
        return None
    t, node = max(ends)
    touching: dict[Hashable, list[tuple[float, int, bool, float, Hashable, Hashable]]] = {}
    for index, (src, dst, start, end) in enumerate(_messages_of(log)):  # in delivery order, so by end too
        touching.setdefault(src, []).append((end, index, False, start, src, dst))
        touching.setdefault(dst, []).append((end, index, True, start, src, dst))
    posted = posted or {}
    compute_s = message_s = gap_s = 0.0
    computes = messages = 0
    hops = [node]
    before = len(log)  # the log index below which a message can have released the walk's node
    while t > 0:
        entries = touching.get(node, [])
        i = min(bisect.bisect_right(entries, t, key=_end_of), bisect.bisect_left(entries, before, key=_index_of)) - 1
        spans = compute[node] if isinstance(node, int) and node < len(compute) else []
        span = max((s for s in spans if s[1] <= t and s[1] > s[0]), key=lambda s: s[1], default=None)
        if span is not None and (i < 0 or span[1] >= entries[i][0]):
            gap_s += t - span[1]
            compute_s += span[1] - span[0]
            computes += 1
            t = span[0]
            continue
        if i < 0:
            gap_s += t
            break
        near = entries[i][0] * (1 - 1e-12)  # ends equal but for round-off: the message received released it
        j = i
        while j > 0 and not entries[j][2] and entries[j - 1][0] >= near:
            j -= 1
        end, index, received, start, src, dst = entries[j] if entries[j][2] else entries[i]
        sent = posted.get((src, dst, start), start)
        gap_s += (t - end) + (start - sent)
        message_s += end - start
        messages += 1
        t, before = sent, index
        if received:
            node = src
            hops.append(node)
    hops.reverse()
    return CriticalPath(hops[0], compute_s, computes, message_s, gap_s, messages, hops)
