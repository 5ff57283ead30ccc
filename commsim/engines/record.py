"""What an engine reports of one program: times per task and owner, counts, bytes per link, what went
wrong — the same record from the message engine and the schedule engine."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..network.fluid import MessageLog


@dataclass
class Record:
    """What a program did on a network. Per participant of the last collective ``finish_s`` (workers
    first; a single collective's per-participant times); per task and owner (workers, then servers) when
    it started and ended (NaN: never started; inf: started and never ended); counts and bytes per link;
    and what went wrong: why the run stopped ("stuck": live workers left waiting, on ``waiting``), crashes
    that hit a running owner (owner, time), per call that waited for a quorum the nodes it dropped, bytes
    rerouted, failures that happened (time, u, v), messages a crash cut off (src, dst, bytes never sent),
    and the jittered messages' sending times ((src, dst, start) → sent). ``results``: each worker's buffer
    after the last collective (values, on the message engine)."""

    finish_s: np.ndarray
    messages: int
    sizes: dict[int, int]
    bytes_per_link: dict[str, int]
    link_bandwidth: dict[str, float]
    fluid: bool = False  # the schedule engine's fluid way was needed (links shared, or one failed under a transfer)
    busiest_link_bound: float = 0.0  # max over links of bytes/bandwidth + the shortest route latency through it
    task_start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    task_end: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    stopped: str | None = None
    crashed: list[tuple[int, float]] = field(default_factory=list)
    dropped: list[list[Hashable]] = field(default_factory=list)
    rerouted_bytes: float = 0.0
    failed: list[tuple[float, Hashable, Hashable]] = field(default_factory=list)
    waiting: dict[Hashable, list[Hashable]] = field(default_factory=dict)
    log_source: Any = None  # the message log, or what makes it when first asked for (the schedule engine's)
    lost: list[tuple[Hashable, Hashable, float]] = field(default_factory=list)
    posted: dict[tuple[Hashable, Hashable, float], float] = field(default_factory=dict)
    results: list[Any] | None = None
    hooks: Any = None  # what the ranks did with values (the message engine's; training reads its replicas)
    stopped_at: float = float("inf")  # when a partition stopped the run

    @property
    def log(self) -> MessageLog | None:
        """Every delivered message (None: not kept), made on first use."""
        if callable(self.log_source):
            self.log_source = self.log_source()
        return self.log_source

    def message_sizes(self) -> dict[int, int]:
        """Message size (bytes) → count, smallest first."""
        return dict(sorted(self.sizes.items()))

    def makespan(self, workers: int) -> float:
        return float(np.nanmax(self.finish_s[:workers], initial=0.0)) if len(self.finish_s) else 0.0

    def owner_finish(self, workers: int) -> np.ndarray:
        """Each worker's end of its last task (NaN where it never finished)."""
        if not len(self.task_end):
            return np.zeros(workers)
        last = self.task_end[:, :workers]
        ended = np.where(np.isnan(last), -np.inf, last).max(axis=0)
        return np.where(np.isfinite(ended) & ~np.isnan(last).any(axis=0), ended, np.nan)


def waiting_text(waiting: dict[Hashable, list[Hashable]], ranks: list[Hashable]) -> str:
    """Who waits on whom, unfinished ``ranks`` first, then the other nodes by name: "0 on 7; 1 on 0; …"."""
    parts = []
    for node in [*ranks, *sorted((node for node in waiting if node not in ranks), key=str)]:
        sources = sorted(set(waiting.get(node, [])), key=str)
        if sources:
            parts.append(f"{node} on {', '.join(map(str, sources))}")
    shown = parts[:8] + ([f"and {len(parts) - 8} more"] if len(parts) > 8 else [])
    return "; ".join(shown) if shown else "none on a message"


def stop_text(record: Record, algorithm: str, workers: int) -> str | None:
    """Why the run could not finish, in words: the partition as the network said it, or who waits on whom
    after the crashes, or that every worker crashed; None if it finished."""
    from ..units import format_time

    if record.stopped is None or record.stopped.startswith("network partitioned"):
        return record.stopped
    what = ", ".join(f"worker {rank} crashed at t = {format_time(at)}" for rank, at in record.crashed) or "nothing crashed"
    if record.stopped == "every worker crashed":
        return f"{algorithm} cannot finish ({what}): every worker crashed"
    down = {rank for rank, _ in record.crashed}
    finish = record.owner_finish(workers)
    unfinished = [rank for rank in range(workers) if rank not in down and not np.isfinite(finish[rank])]
    return f"{algorithm} cannot finish ({what}): waiting: {waiting_text(record.waiting, unfinished)}"
