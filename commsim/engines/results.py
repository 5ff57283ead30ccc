"""What a run reports: counts, bytes, times and links beside their closed forms, and the checks between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..collectives import get
from ..network.fluid import MessageLog
from . import analytic

TIME_RTOL = 1e-9


def link_usage(name: str, nbytes: int, bandwidth: float, makespan: float) -> dict[str, Any]:
    """A link's bytes, busy time (the time its bytes take at full bandwidth) and utilisation
    (busy time over the run's makespan)."""
    busy = nbytes / bandwidth
    return {"link": name, "bytes": nbytes, "busy_s": busy, "utilisation": busy / makespan if makespan else 0.0}


def idle_gaps(busy: list[tuple[float, float]], finish: float) -> list[tuple[float, float]]:
    """The gaps in [0, finish] not covered by any busy interval."""
    gaps, covered = [], 0.0
    for start, end in sorted(busy):
        if start > covered:
            gaps.append((covered, start))
        covered = max(covered, end)
    if finish > covered:
        gaps.append((covered, finish))
    return gaps


BUSBW_FACTOR = {
    "allreduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
    "personalized_all_to_all": lambda n: (n - 1) / n,
}
"""nccl-tests' bus-bandwidth factors (NVIDIA/nccl-tests src/*.cu, ``*GetBw``: all_reduce.cu 2(n−1)/n,
reduce_scatter.cu and all_gather.cu (n−1)/n, broadcast.cu and reduce.cu 1, alltoall.cu (n−1)/n; its
doc/PERFORMANCE.md derives them). The algorithm ``all_to_all`` is an all-reduce (its kind's factor)."""


def count_and_time_checks(run: RunResult | TrainingResult) -> dict[str, bool]:
    """Messages and bytes exactly; time to a relative 1e-9, or on the stated side of a bound."""
    exp = run.expected
    checks = {
        "messages": run.messages == exp.messages,
        "bytes": run.bytes == exp.bytes and run.message_bytes == exp.message_bytes,
    }
    if exp.makespan_s is not None:
        slack = TIME_RTOL * max(exp.makespan_s, 1e-300)
        checks["time"] = {
            "=": abs(run.makespan_s - exp.makespan_s) <= slack,
            "≥": run.makespan_s >= exp.makespan_s - slack,
            "≤": run.makespan_s <= exp.makespan_s + slack,
        }[exp.time_relation]
    return checks


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
    link_bandwidth: dict[str, float]
    expected: analytic.Expected
    mean: dict[str, Any] | None = None
    log: MessageLog | None = field(default=None, repr=False)
    engine: str = "message"
    nccl: dict[str, Any] | None = None  # model nccl: protocol, channels, NCCL's own predicted time and why
    disturbance: dict[str, Any] | None = None  # stragglers and faults: what happened, against the uniform twin
    compute_spans: list[list[tuple[float, float]]] = field(default_factory=list, repr=False)  # [rank]: (start, end)

    @property
    def stopped(self) -> str | None:
        """Why the collective could not finish (a partition, a crash), else None."""
        return None if self.disturbance is None else self.disturbance.get("stopped")

    @property
    def kind(self) -> str:
        if self.nccl is not None:
            return self.nccl.get("collective", "allreduce")
        return get(self.algorithm).kind

    @property
    def algbw(self) -> float | None:
        """nccl-tests' algorithm bandwidth S/t (bytes/s), S the buffer size."""
        return self.params * self.bytes_per_param / self.makespan_s if self.makespan_s else None

    @property
    def busbw(self) -> float | None:
        """nccl-tests' bus bandwidth: algbw × the collective's factor (2(n−1)/n for all-reduce)."""
        return None if self.algbw is None else self.algbw * BUSBW_FACTOR[self.kind](self.workers)

    def hottest_links(self, count: int = 5) -> list[dict[str, Any]]:
        """The links busy longest (bytes/bandwidth; the bottleneck first, whatever its byte count):
        bytes, busy time, utilisation."""
        usage = [link_usage(name, nbytes, self.link_bandwidth[name], self.makespan_s)
                 for name, nbytes in self.bytes_per_link.items()]
        return sorted(usage, key=lambda link: (-link["busy_s"], link["link"]))[:count]

    @property
    def checks(self) -> dict[str, bool]:
        """Each measured value against its expectation (time: to 1e-9, or on the right side of its bound)."""
        if self.engine == "analytic" or self.stopped is not None:
            return {}
        checks = count_and_time_checks(self)
        if self.disturbance is not None and self.disturbance["crashed"]:  # a crashed worker sends less
            del checks["messages"], checks["bytes"]
        if self.mean is not None:
            checks["mean"] = self.mean["identical"] and self.mean["max_error"] <= self.mean["tolerance"]
        return checks

    @property
    def ok(self) -> bool | None:
        """All checks pass; None for the analytic engine, which has nothing to check its answer against, and
        for a run that stopped (its faults left nothing to check)."""
        return None if self.engine == "analytic" or self.stopped is not None else all(self.checks.values())


@dataclass
class NotApplicable:
    """A sweep point its topology or algorithm cannot take (a server on a ring, a hypercube of 6): kept
    as a row with the reason, never run, never checked."""

    algorithm: str
    topology: str
    workers: int
    params: int
    dtype: str
    reason: str
    engine: str = "n/a"
    ok: None = None


@dataclass
class TrainingResult:
    """One (algorithm, workers, optimizer) training run: curves, counts and their closed forms."""

    algorithm: str
    topology: str
    workers: int
    optimizer: str
    wire: str
    model: str
    dataset: str
    n_params: int
    steps: int
    loss: list[float]
    step_end_s: list[float]
    compute_s: list[float]
    comm_s: list[float]
    final_loss: float
    final_accuracy: float | None
    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float
    expected: analytic.Expected
    replicas_identical: bool | None  # None: sizes only, no replicas
    bytes_per_link: dict[str, int]
    log: MessageLog | None = field(default=None, repr=False)
    finish_s: list[float] = field(default_factory=list, repr=False)  # [rank]: end of its last step
    compute_spans: list[list[tuple[float, float]]] = field(default_factory=list, repr=False)  # [rank]: (start, end)
    disturbance: dict[str, Any] | None = None  # stragglers and faults: what happened, against the uniform twin
    engine: str = "message"

    @property
    def params(self) -> int:
        return self.n_params

    @property
    def stopped(self) -> str | None:
        """Why training could not finish (a partition, a crash), else None."""
        return None if self.disturbance is None else self.disturbance.get("stopped")

    @property
    def checks(self) -> dict[str, bool]:
        """Counts and time against steps × the collective's closed form; replicas identical."""
        if self.stopped is not None or self.engine == "analytic":
            return {}
        checks = count_and_time_checks(self)
        if self.disturbance is not None and self.disturbance["crashed"]:  # a crashed worker sends less
            del checks["messages"], checks["bytes"]
        if self.replicas_identical is not None:
            checks["replicas"] = self.replicas_identical
        return checks

    @property
    def ok(self) -> bool | None:
        return None if self.stopped is not None or self.engine == "analytic" else all(self.checks.values())


@dataclass
class StepResult:
    """One training step of a real model (a ``workload``) with one strategy: what it took and where the time went.

    ``step_s`` is the makespan; for the rank that ends last, ``compute_s`` its forward and backward, ``optimizer_s``
    its optimizer step, ``comm_s`` the time some call of its was under way (the union of its calls' spans),
    ``exposed_s`` = step − compute − optimizer (what communication, and waiting, added), ``overlap`` = the share
    of ``comm_s`` hidden behind compute, 1 − exposed/comm (in [0, 1]). ``one_gpu_s``: the same work on one GPU
    (no communication, the whole optimizer step); ``efficiency`` = one_gpu_s / step_s (per-GPU throughput against
    one GPU's); ``throughput`` = samples (or tokens) per second of all n GPUs. ``timeline``: per task its label,
    stream (compute, optimizer, comm) and per rank its start and end ([tasks, ranks]), for the trace."""

    strategy: str
    algorithm: str
    topology: str
    workers: int
    model: str
    params: int
    dtype: str
    wire: str
    batch_per_gpu: int
    accumulation: int
    bucket_cap: int
    buckets: int
    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float
    expected: analytic.Expected
    compute_s: float
    optimizer_s: float
    comm_s: float
    exposed_s: float
    overlap: float
    throughput: float
    unit: str  # samples/s or tokens/s
    one_gpu_s: float
    efficiency: float
    bytes_per_link: dict[str, int]
    engine: str = "schedule"
    nccl: dict[str, Any] | None = None
    disturbance: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = field(default=None, repr=False)
    log: MessageLog | None = field(default=None, repr=False)

    @property
    def stopped(self) -> str | None:
        return None if self.disturbance is None else self.disturbance.get("stopped")

    @property
    def checks(self) -> dict[str, bool]:
        """Counts exactly against the calls' closed forms (or NCCL's formulas); the time against the overlap
        recurrence where it is exact (uniform compute, calls that never share the network)."""
        if self.stopped is not None or self.engine == "analytic":
            return {}
        checks = count_and_time_checks(self)
        if self.disturbance is not None and self.disturbance.get("crashed"):
            del checks["messages"], checks["bytes"]
        return checks

    @property
    def ok(self) -> bool | None:
        return None if self.stopped is not None or self.engine == "analytic" else all(self.checks.values())
