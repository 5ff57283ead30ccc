"""One point of a scenario, ready for any engine: the network as the run sees it, what every rank does
(a :class:`~commsim.engines.program.Program`), what goes wrong, and what to expect.

The runner makes a plan from a scenario's point (``commsim.runner.plans``); an engine executes it
(``message.execute``, ``schedule.execute``, ``analytic.execute``) into one
:class:`~commsim.engines.record.Record`; one function makes the result from the plan and its record
(``commsim.runner.results``). A disturbed plan carries its uniform twin: the same program on the
scenario's own network, every worker computing the base time, nothing failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .analytic import Expected
from .program import Faults, Program

ENGINES = ("message", "schedule", "analytic")


@dataclass
class Plan:
    """What one point executes. ``params``: elements of the collective's buffer (training: the model's);
    ``kind``: what the collective leaves where (the mean check, busbw); ``expected``: the closed form (or
    NCCL's prediction) of the uniform run; ``hooks()``: fresh values for an execution (data, training),
    None for sizes alone; ``needs_ranks``: why only per-rank processes can run it (values to follow), None
    if any engine can; ``analytic``: what the analytic engine answers (a ready :class:`Record`) or why it
    cannot (a string)."""

    algorithm: str
    topology: str
    workers: int
    params: int
    dtype: str
    itemsize: int
    payload: str
    graph: nx.Graph | None
    program: Program | None
    faults: Faults | None
    gamma: float
    kind: str
    expected: Expected
    twin: Plan | None = None
    nccl: dict[str, Any] | None = None
    hooks: Callable[[], Any] | None = None
    needs_ranks: str | None = None
    keep_log: bool = False
    compute_s: Any = None  # per worker and compute task, the plan's compute (for the report)
    extra: dict[str, Any] = field(default_factory=dict)  # what the result builder needs besides (training)

    @property
    def disturbed(self) -> bool:
        return self.twin is not None
