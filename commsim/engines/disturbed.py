"""A collective under stragglers and faults on the message engine, in one call: the shorthand the tests
and a reader use (``run_disturbed(name, graph, buffers, Disturbance(...))``). A scenario's points go through
plans instead (``commsim.runner.plans``); both build the same program (each worker computes, then joins the
collective) and the same faults (``commsim.engines.program``).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..collectives import get
from ..collectives.textbook.parameter_server import dropping_server_schedule
from ..collectives.payload import Buffer
from ..collectives.schedule import schedule_for
from ..network import topology as topologies
from .message import Hooks, run_program
from .program import Faults, one_call
from .record import Record, stop_text
from .schedule import participant_nodes


@dataclass(frozen=True)
class Disturbance:
    """What goes wrong in one run. ``compute_s[rank]``: how long the rank computes before the collective;
    ``jitter_s``: the largest delay before a message starts; ``link_failures``: (u, v, time); ``crashes``:
    (rank, time); ``keep``: a parameter server proceeds with the first ``keep`` gradients."""

    compute_s: tuple[float, ...]
    jitter_s: float = 0.0
    link_failures: tuple[tuple[Hashable, Hashable, float], ...] = ()
    crashes: tuple[tuple[int, float], ...] = ()
    keep: int | None = None
    seed: int = 0

    def faults(self, owners: int) -> Faults:
        crash = np.full(owners, np.inf)
        for rank, at in self.crashes:
            crash[rank] = min(crash[rank], at)
        return Faults(crash, self.jitter_s, self.seed, tuple(self.link_failures))


@dataclass
class DisturbedRun:
    """A collective under a :class:`Disturbance`: per rank the result (None if it crashed or the run
    stopped) and finish time (NaN likewise), what the network recorded, and what happened."""

    results: list[Buffer | None]
    finish_s: list[float]
    network: Record
    stopped: str | None = None
    crashed: list[tuple[int, float]] | None = None
    dropped: list[list[Any]] | None = None

    @property
    def makespan_s(self) -> float:
        finished = [t for t in self.finish_s if t == t]
        return max(finished, default=0.0)


def run_disturbed(name: str, graph: nx.Graph, buffers: list[Buffer], disturbance: Disturbance, gamma: float = 0.0,
                  keep_log: bool = True) -> DisturbedRun:
    """Run collective ``name`` on the message engine: each worker computes, then joins it; the
    disturbance's jitter, failures and crashes at their times."""
    n = len(buffers)
    spec = get(name)
    servers = topologies.servers(graph) if spec.server is not None else ()
    if spec.server is not None and not servers:
        raise topologies.TopologyError(f"algorithm {name!r} needs a parameter server, and the topology has none")
    used = servers[:1] if name == "parameter_server" else servers
    p, w = len(buffers[0]), buffers[0].itemsize
    if disturbance.keep is not None and name == "parameter_server":
        schedule = dropping_server_schedule(n, p, w, disturbance.keep)
    else:
        schedule = schedule_for(name, n, p, w, len(used), graph.graph.get("gpus_per_node"))
    program = one_call(schedule, participant_nodes(schedule, n, used), n, used, np.asarray(disturbance.compute_s))
    hooks = Hooks(list(buffers) if isinstance(buffers[0], np.ndarray) else None, w)
    record = run_program(program, graph, gamma, disturbance.faults(n + len(used)), keep_log=keep_log, hooks=hooks)
    finish = record.owner_finish(n)
    stopped = stop_text(record, name, n)
    down = {rank for rank, _ in record.crashed}
    if stopped is not None:
        return DisturbedRun([None] * n, [float("nan")] * n, record, stopped, record.crashed, record.dropped)
    results = [None if rank in down else record.results[rank] for rank in range(n)]  # not stopped: a rank finished
    return DisturbedRun(results, [float(t) for t in finish], record, None, record.crashed, record.dropped)
