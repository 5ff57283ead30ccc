"""What every rank does in one run, as data both engines execute: a program of tasks.

A program is the same list of tasks for every worker (SPMD), in an order where each task comes after
the tasks it waits for (``after``). A task is either

* a :class:`Compute`: the worker is busy for ``seconds[rank]`` (its gradient, a bucket of its backward
  pass, an optimizer step), or
* a :class:`Collective`: the worker's participants join one call of a schedule
  (:mod:`commsim.collectives.schedule`) and leave it when they have passed its last round; servers join
  every collective whose schedule has server participants, in program order.

A worker starts a task once every task it waits for has ended *for that worker* (a collective ends for a
worker when all its participants have left it); a task that waits for nothing starts at 0. A collective's
participants wait ``delay_s`` (NCCL's fixed latency of a call) after joining, before their first round.
Two tasks that wait for each other only through the worker's own tasks may overlap in time: a bucket's
all-reduce while the backward pass goes on.

The simplest program is one collective; a training run is steps × (compute, then the all-reduce).

What can go wrong during a program (:class:`Faults`), the same on every engine:

* **crash** of a worker at t: from t it does nothing — no task starts, a compute under way never ends, no
  transfer of its leaves (a transfer whose first byte would leave at or after t never starts; one still
  transmitting at t is cut: its bytes never arrive); a transfer whose last byte left before t is
  delivered. Messages to it are still delivered (the network does not know).
* **jitter**: each transfer's first byte leaves ``jitter_s · u`` after its sender is ready to send it, u in
  [0, 1) drawn from (seed, call, round, transfer) by :func:`commsim.network.disturbances.jitter_fraction`,
  so both engines draw the same delay for the same transfer whatever order they meet it in.
* **link failures** at t: the link is gone for every transfer that starts at or after t; a transfer still
  transmitting on it at t sends its remaining bytes on a new route (found on the surviving network: the
  topology's router where its path survives, else a hop-shortest path); if the failure splits the
  participants while some live participant has not finished, the run stops there.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..collectives.schedule import Schedule


@dataclass(frozen=True)
class Compute:
    """Worker r is busy ``seconds[r]`` seconds, after the tasks ``after``."""

    seconds: np.ndarray
    after: tuple[int, ...] = ()
    label: str = "compute"


@dataclass(frozen=True)
class Collective:
    """One call of ``schedule``; participant i runs on graph node ``nodes[i]`` (workers' ranks, then the
    servers). ``delay_s``: the time each participant waits after joining before its first round."""

    schedule: Schedule
    nodes: tuple[Hashable, ...]
    after: tuple[int, ...] = ()
    label: str = ""
    delay_s: float = 0.0


Task = Compute | Collective


@dataclass(frozen=True)
class Program:
    """``tasks`` of ``workers`` workers (and ``servers``, the graph's server nodes used by any call)."""

    workers: int
    tasks: tuple[Task, ...]
    servers: tuple[Hashable, ...] = ()

    def __post_init__(self) -> None:
        for index, task in enumerate(self.tasks):
            if any(not 0 <= dep < index for dep in task.after):
                raise ValueError(f"task {index} waits for a task that does not come before it: {task.after}")

    @property
    def owners(self) -> int:
        """Workers, then servers: who can crash and who a participant runs for."""
        return self.workers + len(self.servers)

    def owner_of(self, call: Collective) -> np.ndarray:
        """Each participant's owner: its worker's rank, or workers + the server's index."""
        schedule = call.schedule
        if schedule.workers is not None:
            return np.asarray(schedule.workers, dtype=np.int64)
        index = {node: self.workers + i for i, node in enumerate(self.servers)}
        return np.asarray([node if isinstance(node, (int, np.integer)) and i < self.workers else index[node]
                           for i, node in enumerate(call.nodes)], dtype=np.int64)


def one_call(schedule: Schedule, nodes: Sequence[Hashable], workers: int, servers: Sequence[Hashable] = (),
             compute_s: np.ndarray | None = None, delay_s: float = 0.0, label: str = "") -> Program:
    """One collective, after each worker's ``compute_s`` (if given)."""
    tasks: list[Task] = []
    if compute_s is not None:
        tasks.append(Compute(np.asarray(compute_s, dtype=np.float64)))
    tasks.append(Collective(schedule, tuple(nodes), (0,) if tasks else (), label, delay_s))
    return Program(workers, tuple(tasks), tuple(servers))


def steps(schedule: Schedule, nodes: Sequence[Hashable], workers: int, compute_s: np.ndarray, count: int,
          servers: Sequence[Hashable] = (), delay_s: float = 0.0, label: str = "step") -> Program:
    """``count`` training steps: compute (``compute_s[step, rank]``, or one row for every step), then the
    collective, each step after the last."""
    compute = np.asarray(compute_s, dtype=np.float64)
    tasks: list[Task] = []
    for step in range(count):
        row = compute[step] if compute.ndim == 2 else compute
        tasks.append(Compute(row, (len(tasks) - 1,) if tasks else (), f"compute {step}"))
        tasks.append(Collective(schedule, tuple(nodes), (len(tasks) - 1,), f"{label} {step}", delay_s))
    return Program(workers, tuple(tasks), tuple(servers))


PARTITION_LEAD = 1e-12  # relative: how far ahead of its stated time a partition stops a run


def partition_acts(at: float) -> float:
    """When a link failure stated at ``at`` that splits the participants stops the run: at
    ``at·(1 − 1e-12)``. What the engines compute at that instant, rounded differently by each (a delivery
    summed as 19.999999999999998 us against a partition at 20 us), then comes after the stop in both,
    as any event at a fault's instant does. The stop is reported at ``at``."""
    return at * (1.0 - PARTITION_LEAD)


@dataclass(frozen=True)
class Faults:
    """What goes wrong: ``crash_s[owner]`` (inf: never), jitter of at most ``jitter_s`` per transfer drawn
    from ``seed``, and ``link_failures`` (u, v, time)."""

    crash_s: np.ndarray | None = None
    jitter_s: float = 0.0
    seed: int = 0
    link_failures: tuple[tuple[Hashable, Hashable, float], ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def none(self) -> bool:
        return (self.crash_s is None or not np.isfinite(self.crash_s).any()) and not self.jitter_s \
            and not self.link_failures
