"""A workload's point as a plan — one training step of a real model with one data-parallel strategy, as a program
of compute and collective calls (:mod:`commsim.training.strategies`) — and its result: step time, compute,
communication, exposed communication and overlap, throughput, scaling efficiency against one GPU.

Compute of a layer for one micro-batch: FLOPs ÷ (the GPU's spec-sheet peak for the dtype × utilisation), the
backward twice the forward; or the layer's measured seconds; or, given a measured one-GPU ``step_time``, that
time spread over the layers by FLOPs (a third forward, two thirds backward; the optimizer inside it). The
optimizer step of one GPU: the bytes its elementwise pass moves per parameter (Adam's 28, the named optimizer's:
:func:`~commsim.scenario.workload.optimizer_bytes_per_param`) over the GPU's memory bandwidth, unless measured.

Each call is the scenario's model's: the textbook ring (``ring_allreduce``, ``reduce_scatter``, ``all_gather``)
with ``alpha-beta``, NCCL's with ``model: nccl`` (its protocol fixed for the whole step, the one NCCL picks for
the largest call, since all calls run on one network). Expected counts: the sum of the calls' closed forms (NCCL's
formulas). Expected time: the overlap recurrence (:func:`~commsim.training.strategies.uniform_times`) with each
call's closed form, where that is exact: every closed form exact, compute the same on every rank, and no two calls
under way at once; else none (NCCL's times have no closed form either). The analytic engine answers with that
recurrence (NCCL's own predicted times for model nccl), ignoring calls that share links.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..engines.analytic import Expected
from ..engines.plan import Plan
from ..engines.program import Collective, Compute
from ..engines.record import Record
from ..engines.results import StepResult
from ..scenario import RunSpec, Scenario
from ..scenario.workload import WIRE_BYTES, optimizer_bytes_per_param
from ..training.architectures import Architecture
from ..training.strategies import SHARDED, StepProgram, StepShape, buckets, step_program, uniform_times
from .plans import _call, _check_failures, _graphs, _nccl_call, analytic_expected, compute_of, faults_of

CALL_ALGORITHMS = {"reduce_scatter": "reduce_scatter", "all_gather": "all_gather"}


def _gpu(scenario: Scenario, run: RunSpec) -> Any:
    """The GPU of ``run``'s cluster preset, or None on other topologies."""
    from ..network.cluster import GPU_OF_PRESET, GPUS

    preset = run.topology.options.get("preset") if run.topology.kind == "cluster" else None
    return GPUS[GPU_OF_PRESET[preset]] if preset in GPU_OF_PRESET else None


def layer_seconds(scenario: Scenario, run: RunSpec, arch: Architecture) -> tuple[np.ndarray, np.ndarray, float]:
    """(forward, backward seconds of one micro-batch per layer, one GPU's optimizer step)."""
    spec = scenario.workload
    tokens = arch.tokens_per_sample if arch.per == "token" else 1
    flops = np.array([layer.flops for layer in arch.layers]) * spec.batch_per_gpu * tokens
    gpu = _gpu(scenario, run)
    if spec.optimizer_time is not None:
        optimizer = spec.optimizer_time
    else:
        optimizer = (optimizer_bytes_per_param(spec.optimizer) * arch.params / gpu.memory_bandwidth
                     if gpu is not None else 0.0)
    if spec.step_time is not None:
        share = flops / flops.sum() if flops.sum() else np.full(len(flops), 1 / len(flops))
        forward = spec.step_time / spec.accumulation * share / 3
        return forward, 2 * forward, 0.0
    peak = spec.peak_flops if spec.peak_flops is not None else gpu.peak_flops[spec.dtype] if gpu is not None else None
    forward = flops / (peak * spec.utilization) if peak is not None else np.zeros(len(flops))  # else: all measured
    measured_forward = [layer.forward_s for layer in arch.layers]
    forward = np.array([f if m is None else m for f, m in zip(forward, measured_forward)])
    backward = np.array([2 * f if layer.backward_s is None else layer.backward_s
                         for f, layer in zip(forward, arch.layers)])
    return forward, backward, optimizer


def _shape(scenario: Scenario, run: RunSpec, arch: Architecture, factors: np.ndarray) -> StepShape:
    spec = scenario.workload
    forward, backward, optimizer = layer_seconds(scenario, run, arch)
    return StepShape([layer.params for layer in arch.layers], forward[:, None] * factors[None, :],
                     backward[:, None] * factors[None, :], np.full(run.workers, optimizer) * factors,
                     WIRE_BYTES[spec.dtype], run.bucket_cap, spec.first_bucket, spec.accumulation, spec.overlap,
                     tuple(layer.name for layer in arch.layers))


class _Calls:
    """Each distinct call (algorithm, elements, bytes each) made once: its schedule (unless ``build`` is off) and
    closed form or NCCL's prediction."""

    def __init__(self, scenario: Scenario, run: RunSpec, graph: Any, build: bool) -> None:
        self.scenario, self.run, self.graph, self.build = scenario, run, graph, build
        self.made: dict[tuple[str, int, int], Any] = {}

    def algorithm(self, kind: str) -> str:
        return CALL_ALGORITHMS.get(kind, self.run.algorithm)

    def get(self, kind: str, elements: int) -> Any:
        p, w = self.scenario.workload.on_wire(kind, elements)
        key = (self.algorithm(kind), p, w)
        if key not in self.made:
            run = self.run._replace(algorithm=key[0])
            if self.scenario.model == "nccl":
                self.made[key] = _nccl_call(self.scenario, run, self.graph, p, w, self.build)
            elif self.build:
                self.made[key] = _call(self.scenario, run, self.graph, p, w)
            else:
                self.made[key] = _Analytic(analytic_expected(self.scenario, run, p, w))
        return self.made[key]

    def make(self, kind: str, elements: int, after: tuple[int, ...], label: str) -> Collective:
        """The call as a program's task (without a schedule when nothing is built: the analytic engine)."""
        call = self.get(kind, elements)
        return Collective(call.schedule, tuple(call.nodes), after, label, call.delay_s)


@dataclasses.dataclass
class _Analytic:
    expected: Expected
    delay_s: float = 0.0
    nccl: dict[str, Any] | None = None
    schedule: Any = None
    nodes: tuple[Any, ...] = ()


def _protocol(scenario: Scenario, run: RunSpec, graph: Any, arch: Architecture) -> Scenario:
    """``scenario`` with NCCL's protocol fixed for every call: the scenario's, or NCCL's pick for the largest."""
    if scenario.model != "nccl" or scenario.protocol != "auto":
        return scenario
    largest = max(layer.params for layer in arch.layers)
    kind = "allreduce" if run.strategy == "ddp" else "reduce_scatter"
    p, w = scenario.workload.on_wire(kind, max(largest, run.bucket_cap // WIRE_BYTES[scenario.workload.dtype]))
    algorithm = run.algorithm if kind == "allreduce" else "reduce_scatter"
    picked = _nccl_call(scenario, run._replace(algorithm=algorithm), graph, p, w, build=False).nccl["protocol"]
    return scenario.model_copy(update={"protocol": picked})


def _build(scenario: Scenario, run: RunSpec, graph: Any, build: bool, factors: np.ndarray) -> tuple[StepProgram, list[Any], Scenario]:
    """The step's program on ``graph`` and, per collective task, its call."""
    arch = scenario.workload.architecture()
    scenario = _protocol(scenario, run, graph, arch)
    calls = _Calls(scenario, run, graph, build)
    order: list[tuple[str, int]] = []

    def make(kind: str, elements: int, after: tuple[int, ...], label: str) -> Collective:
        order.append((kind, elements))
        return calls.make(kind, elements, after, label)

    step = step_program(run.strategy, _shape(scenario, run, arch, factors), run.workers, make)
    return step, [calls.get(kind, elements) for kind, elements in order], scenario


def _expected(step: StepProgram, per_call: list[Any], uniform: bool) -> tuple[Expected, np.ndarray, np.ndarray]:
    """Counts: the calls' sums; time: the overlap recurrence where exact (module docstring). Also the
    recurrence's (start, end) per task and rank, with each call's closed form or NCCL's prediction."""
    program = step.program
    indices = [i for i, task in enumerate(program.tasks) if not isinstance(task, Compute)]
    sizes: dict[int, int] = {}
    for call in per_call:
        for size, count in call.expected.message_bytes.items():
            sizes[size] = sizes.get(size, 0) + count
    times = [(call.nccl or {}).get("predicted_s") if call.nccl is not None else call.expected.makespan_s
             for call in per_call]
    known = all(t is not None for t in times)
    start, end = uniform_times(program, dict(zip(indices, times))) if known else (None, None)
    exact = known and uniform and all(call.nccl is None and call.expected.time_relation == "=" for call in per_call)
    if exact:
        spans = sorted((start[i].max(), end[i].max()) for i in indices)
        exact = all(b[0] >= a[1] - 1e-15 * max(a[1], 1.0) for a, b in zip(spans, spans[1:]))
    makespan = float(end.max()) if exact and len(end) else None
    expected = Expected(sum(sizes.values()), sum(size * count for size, count in sizes.items()), dict(sorted(sizes.items())),
                        makespan, "=", "overlap recurrence of the calls' closed forms" if makespan is not None else "")
    return expected, start, end


def workload_plan(scenario: Scenario, run: RunSpec, engine: str, keep_log: bool = False) -> Plan:
    """One training step of ``run.strategy`` on ``run``'s network (module docstring)."""
    n = run.workers
    spec = scenario.workload
    arch = spec.architecture()
    base = compute_of(scenario, n, 1.0, 1)
    factors = base[0] if base is not None else np.ones(n)
    uniform = bool(np.all(factors == 1.0))
    if engine == "analytic":
        graph = _graphs(scenario, run)[0] if scenario.model == "nccl" else None
        step, per_call, used = _build(scenario, run, graph, False, factors)
        faults, own = None, graph
    else:
        seen, own = _graphs(scenario, run)
        step, per_call, used = _build(scenario, run, seen, True, factors)
        graph = per_call[0].graph if per_call else seen
        if scenario.model == "nccl" and scenario.stragglers is not None and scenario.stragglers.links:
            from .plans import slow_links

            graph = slow_links(graph.copy(), scenario)
        faults = faults_of(scenario, n, len(step.program.servers))
        _check_failures(seen, faults, run)
    expected, start, end = _expected(step, per_call, uniform)
    nccl = next((call.nccl for call in reversed(per_call) if call.nccl is not None), None)
    compute = np.array([task.seconds for task in step.program.tasks if isinstance(task, Compute)])
    plan = Plan(run.algorithm, run.topology.title, n, arch.params, spec.dtype, WIRE_BYTES[spec.dtype], "size-only",
                graph, step.program if engine != "analytic" else None, faults, scenario.gamma, "allreduce", expected,
                nccl=nccl, keep_log=keep_log, compute_s=compute,
                extra={"step": step, "arch": arch, "recurrence": (start, end), "scenario": used,
                       "buckets": len(buckets([layer.params for layer in arch.layers], WIRE_BYTES[spec.dtype],
                                              run.bucket_cap, spec.first_bucket))})
    if scenario.disturbed and engine != "analytic":
        twin_step, twin_calls, _ = _build(scenario, run, own, True, np.ones(n))
        plan.twin = dataclasses.replace(plan, graph=twin_calls[0].graph if twin_calls else own, faults=None, twin=None,
                                        keep_log=False, program=twin_step.program)
    return plan


def _union(spans: list[tuple[float, float]]) -> float:
    """The length of the union of intervals."""
    total, reach = 0.0, -np.inf
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def one_gpu_s(plan: Plan) -> float:
    """The step's work on one GPU: every compute task (rank 0's base time, no stragglers) plus the whole optimizer."""
    step: StepProgram = plan.extra["step"]
    total = 0.0
    for task, stream in zip(step.program.tasks, step.streams):
        if isinstance(task, Compute):
            seconds = float(np.min(task.seconds))
            total += seconds * plan.workers if stream == "optimizer" and task.label.endswith("(shard)") else seconds
    return total


def step_result(plan: Plan, record: Record | None, twin: Record | None, engine: str, run: RunSpec) -> StepResult:
    """The step's result from what the engine recorded (the analytic engine: the recurrence)."""
    step: StepProgram = plan.extra["step"]
    scenario: Scenario = plan.extra["scenario"]
    spec = scenario.workload
    arch: Architecture = plan.extra["arch"]
    if engine == "analytic":
        start, end = plan.extra["recurrence"]
        if start is None:
            start = end = np.full((len(step.program.tasks), plan.workers), np.nan)
        messages, nbytes, sizes, links = plan.expected.messages, plan.expected.bytes, plan.expected.message_bytes, {}
    else:
        start, end = record.task_start[:, :plan.workers], record.task_end[:, :plan.workers]
        messages, sizes, links = record.messages, dict(sorted(record.sizes.items())), record.bytes_per_link
        nbytes = sum(size * count for size, count in sizes.items())
    finish = np.nanmax(end, axis=0) if len(end) else np.zeros(plan.workers)
    last = int(np.nanargmax(finish)) if np.isfinite(finish).any() else 0
    makespan = float(finish[last]) if np.isfinite(finish).any() else float("nan")
    of = {"compute": 0.0, "optimizer": 0.0}
    comm: list[tuple[float, float]] = []
    for index, stream in enumerate(step.streams):
        a, b = float(start[index, last]), float(end[index, last])
        if stream == "comm":
            comm.append((a, b))
        else:
            of[stream] += b - a
    comm_s = _union(comm)
    exposed = makespan - of["compute"] - of["optimizer"]
    overlap = min(max(1 - exposed / comm_s, 0.0), 1.0) if comm_s > 0 else 1.0
    work = plan.workers * spec.batch_per_gpu * spec.accumulation * (arch.tokens_per_sample if arch.per == "token" else 1)
    single = one_gpu_s(plan)
    timeline = {"labels": [task.label for task in step.program.tasks], "streams": list(step.streams),
                "start": start, "end": end}
    return StepResult(
        strategy=run.strategy, algorithm=run.algorithm, topology=plan.topology, workers=plan.workers, model=arch.name,
        params=arch.params, dtype=spec.dtype, wire=spec.wire_format, batch_per_gpu=spec.batch_per_gpu,
        accumulation=spec.accumulation, bucket_cap=run.bucket_cap, buckets=plan.extra["buckets"], messages=messages,
        bytes=nbytes, message_bytes=sizes, makespan_s=makespan, expected=plan.expected, compute_s=of["compute"],
        optimizer_s=of["optimizer"], comm_s=comm_s, exposed_s=exposed, overlap=overlap,
        throughput=work / makespan if makespan > 0 else float("nan"),
        unit="tokens/s" if arch.per == "token" else "samples/s", one_gpu_s=single,
        efficiency=single / makespan if makespan > 0 else float("nan"), bytes_per_link=links, engine=engine,
        nccl=plan.nccl, timeline=timeline, log=record.log if record is not None and plan.keep_log else None)
