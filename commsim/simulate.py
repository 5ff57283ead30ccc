"""Wire topology, network and collective together: ``simulate(scenario) -> list[RunResult]``."""

from __future__ import annotations

import dataclasses
import gc
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import simpy

from . import topology as topologies
from .collectives import Comm, analytic, get, reference_results
from .datasets import load_dataset
from .errors import ScenarioError, TopologyError
from .models import build_model
from .network import MessageLog, Network
from .payload import Buffer, SizeOnly
from .scenario import OptimizerSpec, RunSpec, Scenario
from .training import TrainingSetup, replicas_identical, train
from .wire import WIRE_FORMATS

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


def run_with_progress(env: simpy.Environment, horizon: float | None, progress: Any = None) -> None:
    """``env.run()``; with ``progress``, in 100 slices of ``horizon`` (the expected end), calling
    ``progress(fraction of simulated time done)`` after each (capped below 1 until the run ends)."""
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
    if progress is not None:
        progress(1.0)


def run_collective(
    algorithm: str, graph: nx.Graph, buffers: list[Buffer], gamma: float = 0.0, progress: Any = None,
    horizon: float | None = None,
) -> CollectiveRun:
    """Run one collective, one SimPy process per worker (and one for the server, if any); ``progress``
    hears the simulated-time fraction done against ``horizon`` (see :func:`run_with_progress`)."""
    spec = get(algorithm)
    n = len(buffers)
    servers = topologies.servers(graph)
    if spec.server is not None and not servers:
        raise topologies.TopologyError(f"algorithm {algorithm!r} needs a parameter server, and the topology has none")
    env = simpy.Environment()
    net = Network(env, graph)
    finish = [float("nan")] * n
    processes = []
    for rank in range(n):
        process = env.process(spec.worker(Comm(net, rank, n, servers, gamma=gamma), buffers[rank]))
        process.callbacks.append(lambda _event, rank=rank: finish.__setitem__(rank, env.now))
        processes.append(process)
    for server in servers if spec.server is not None else ():
        env.process(spec.server(Comm(net, server, n, servers, gamma=gamma)))
    collecting = gc.isenabled()
    gc.disable()  # a run allocates millions of short-lived, acyclic objects; refcounting frees them
    try:
        run_with_progress(env, horizon, progress)
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
    tolerance = len(buffers) * float(np.finfo(buffers[0].dtype).eps) * float(np.max(np.abs(np.stack(buffers))))
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


def with_busiest_link_bound(expected: analytic.Expected, net: Network) -> analytic.Expected:
    """A lower bound ("≥") raised to the busiest link's, where that is higher: a bound that says something."""
    if expected.time_relation != "≥" or expected.makespan_s is None:
        return expected
    bound = busiest_link_bound(net)
    if bound <= expected.makespan_s:
        return expected
    formula = f"busiest link: bytes/B + route latency (above {expected.time_formula})"
    return dataclasses.replace(expected, makespan_s=bound, time_formula=formula)


def link_bandwidths(net: Network) -> dict[str, float]:
    """Bandwidth of each directed link used, keyed ``"u->v"`` like ``bytes_per_link``."""
    return {f"{link.u}->{link.v}": link.bandwidth for route in net.routes for link in route.links}


def link_usage(name: str, nbytes: int, bandwidth: float, makespan: float) -> dict[str, Any]:
    """A link's bytes, busy time (the time its bytes take at full bandwidth) and utilisation
    (busy time over the run's makespan)."""
    busy = nbytes / bandwidth
    return {"link": name, "bytes": nbytes, "busy_s": busy, "utilisation": busy / makespan if makespan else 0.0}


BUSBW_FACTOR = {
    "allreduce": lambda n: 2 * (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
}
"""nccl-tests' bus-bandwidth factors (all-to-all exchange here is an all-reduce)."""


def message_histogram(log: MessageLog) -> dict[int, int]:
    """Message size (bytes) -> count."""
    sizes, counts = np.unique(np.frombuffer(log.nbytes, dtype=np.int64), return_counts=True)
    return {int(size): int(count) for size, count in zip(sizes, counts)}


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


def closed_form(algorithm: str, graph: nx.Graph, n: int, p: int, w: int, gamma: float = 0.0) -> analytic.Expected:
    """The analytic twin of one run on ``graph`` (a lower bound from its fastest link if links differ)."""
    latency, bandwidth = topologies.link_extremes(graph)
    servers = topologies.servers(graph)
    server_bandwidth = max((b for s in servers for _, _, b in graph.edges(s, data="bandwidth")), default=None)
    return analytic.expected(
        algorithm, graph.graph["kind"], n, p, w, latency, bandwidth, uniform_links=topologies.is_uniform(graph),
        gamma=gamma, servers=len(servers), gpus_per_node=graph.graph.get("gpus_per_node"),
        min_hops=topologies.min_worker_hops(graph), server_bandwidth=server_bandwidth,
    )


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
    engine: str = "simulate"

    @property
    def kind(self) -> str:
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
        if self.engine == "analytic":
            return {}
        checks = count_and_time_checks(self)
        if self.mean is not None:
            checks["mean"] = self.mean["identical"] and self.mean["max_error"] <= self.mean["tolerance"]
        return checks

    @property
    def ok(self) -> bool | None:
        """All checks pass; None for the analytic engine, which has nothing to check its answer against."""
        return None if self.engine == "analytic" else all(self.checks.values())


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


def not_applicable(run: RunSpec, reason: str) -> NotApplicable:
    return NotApplicable(run.algorithm, run.topology.title, run.workers, run.params, run.dtype, reason)


def simulate_run(scenario: Scenario, run: RunSpec, progress: Any = None) -> RunResult | NotApplicable:
    """One (topology, algorithm, workers, dtype, params) point of a scenario: simulated, from the twin,
    or not applicable."""
    if run.unavailable is not None:
        return not_applicable(run, run.unavailable)
    if scenario.engine == "analytic":
        return analytic_run(scenario, run)
    topo = run.topology
    try:
        graph = topo.build(run.workers, [run.algorithm])
    except (TopologyError, ValueError) as error:  # a size the load-time check left for run time
        return not_applicable(run, str(error))
    buffers = make_buffers(run.workers, run.params, run.dtype, scenario.payload, scenario.seed)
    itemsize = np.dtype(run.dtype).itemsize
    twin = closed_form(run.algorithm, graph, run.workers, run.params, itemsize, scenario.gamma)
    collective = run_collective(run.algorithm, graph, buffers, gamma=scenario.gamma, progress=progress,
                                horizon=twin.makespan_s)
    log = collective.network.log
    mean = None
    if scenario.payload == "data":
        error, tolerance, identical = mean_error(buffers, collective.results, get(run.algorithm).kind)
        mean = {"max_error": error, "tolerance": tolerance, "identical": identical}
    return RunResult(
        algorithm=run.algorithm,
        topology=topo.title,
        workers=run.workers,
        params=run.params,
        dtype=run.dtype,
        bytes_per_param=itemsize,
        payload=scenario.payload,
        messages=len(log),
        bytes=int(sum(log.nbytes)),
        message_bytes=message_histogram(log),
        makespan_s=collective.makespan_s,
        finish_s=collective.finish_s,
        bytes_per_link=bytes_per_link(collective.network),
        link_bandwidth=link_bandwidths(collective.network),
        expected=with_busiest_link_bound(twin, collective.network),
        mean=mean,
        log=log,
    )


def _server_bandwidth(topo: Any) -> float | None:
    """The bandwidth of a scenario topology's server links, without building it: the NICs' on
    ``hierarchical``, the topology's own elsewhere; None (unknown) when link overrides may change it."""
    if topo.links:
        return None
    return topo.options.get("nic_bandwidth") or topo.bandwidth if topo.kind == "hierarchical" else topo.bandwidth


def analytic_run(scenario: Scenario, run: RunSpec) -> RunResult:
    """A run answered from the closed forms alone: nothing is built or simulated (any n)."""
    topo = run.topology
    itemsize = np.dtype(run.dtype).itemsize
    options = topo.options
    speeds = {value for key, value in options.items() if key.endswith(("bandwidth", "latency"))}
    uniform = not topo.links and not speeds - {topo.bandwidth, topo.latency}
    latency = min([topo.latency, *(v for k, v in options.items() if k.endswith("latency"))])
    bandwidth = max([topo.bandwidth, *(v for k, v in options.items() if k.endswith("bandwidth"))])
    twin = analytic.expected(
        run.algorithm, topo.kind, run.workers, run.params, itemsize, latency, bandwidth, uniform_links=uniform,
        gamma=scenario.gamma, servers=topo.server_count([run.algorithm]), gpus_per_node=options.get("gpus_per_node") or (run.workers // options["nodes"] if options.get("nodes") else None),
        min_hops=topologies.MIN_WORKER_HOPS.get(topo.kind, 1), server_bandwidth=_server_bandwidth(topo),
    )
    return RunResult(
        algorithm=run.algorithm, topology=topo.title, workers=run.workers, params=run.params, dtype=run.dtype,
        bytes_per_param=itemsize, payload=scenario.payload, messages=twin.messages, bytes=twin.bytes,
        message_bytes=twin.message_bytes, makespan_s=twin.makespan_s, finish_s=[], bytes_per_link={},
        link_bandwidth={}, expected=twin, engine="analytic",
    )


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
    replicas_identical: bool
    bytes_per_link: dict[str, int]

    @property
    def checks(self) -> dict[str, bool]:
        """Counts and time against steps × the collective's closed form; replicas identical."""
        checks = count_and_time_checks(self)
        checks["replicas"] = self.replicas_identical
        return checks

    @property
    def ok(self) -> bool:
        return all(self.checks.values())


def _training_setup(scenario: Scenario, optimizer: OptimizerSpec) -> TrainingSetup:
    """Dataset, model and optimizer of a training scenario (bad combinations → ScenarioError)."""
    spec = scenario.training
    regression = spec.model == "linear_regression"
    options: dict[str, Any] = {}
    if spec.dataset == "synthetic":
        options = {"n_samples": spec.samples, "n_features": spec.features}
        if not regression:
            options["n_classes"] = spec.classes
    try:
        dataset = load_dataset(
            spec.dataset, task="regression" if regression else "classification", seed=scenario.seed, **options
        )
        model = build_model(spec.model, dataset.n_features, dataset.n_classes, **({"hidden": spec.hidden} if spec.model == "mlp" else {}))
    except ValueError as error:
        raise ScenarioError(f"training: {error}") from None
    return TrainingSetup(
        model=model,
        dataset=dataset,
        optimizer=optimizer.build,
        wire=WIRE_FORMATS[optimizer.wire],
        steps=spec.steps,
        batch_per_worker=spec.batch_per_worker,
        flops_per_second=spec.compute.flops_per_second,
        seed=scenario.seed,
    )


def _expected_training(run: RunSpec, setup: TrainingSetup, graph: nx.Graph) -> analytic.Expected:
    """steps × the collective's closed form on the wire's message sizes, plus compute time."""
    p, wire = setup.model.n_params, setup.wire
    p_on_wire, w_on_wire = (wire.message_bytes(p), 1) if wire.is_sign else (p, np.dtype(wire.dtype).itemsize)
    one = closed_form(run.algorithm, graph, run.workers, p_on_wire, w_on_wire)
    compute = setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second
    steps = setup.steps
    return analytic.Expected(
        messages=one.messages * steps,
        bytes=one.bytes * steps,
        message_bytes={size: count * steps for size, count in one.message_bytes.items()},
        makespan_s=None if one.makespan_s is None else steps * (compute + one.makespan_s),
        time_relation=_training_time_relation(one.time_relation, run, setup.model.n_params, steps),
        time_formula=f"steps·(compute + {one.time_formula})",
    )


def _training_time_relation(collective: str, run: RunSpec, p: int, steps: int) -> str:
    """With uneven ring chunks ranks leave a step at slightly different times and the early ones
    start computing the next step early, so steps × (compute + T) becomes an upper bound."""
    uneven_ring = run.algorithm == "ring_allreduce" and p % run.workers != 0 and steps > 1
    return "≤" if collective == "=" and uneven_ring else collective


def simulate_training(scenario: Scenario, run: RunSpec) -> TrainingResult:
    """Train with one (algorithm, workers, optimizer) point of a training scenario."""
    topo = run.topology
    setup = _training_setup(scenario, run.optimizer)
    if run.workers > setup.dataset.n_samples:
        raise ScenarioError(f"workers: {run.workers} workers but dataset {setup.dataset.name!r} has {setup.dataset.n_samples} examples")
    graph = topo.build(run.workers, [run.algorithm])
    trace = train(setup, run.algorithm, graph, run.workers)
    log = trace.network.log
    final = trace.replicas[0]
    dataset = setup.dataset
    return TrainingResult(
        algorithm=run.algorithm,
        topology=topo.title,
        workers=run.workers,
        optimizer=run.optimizer.title,
        wire=run.optimizer.wire,
        model=setup.model.name,
        dataset=dataset.name,
        n_params=setup.model.n_params,
        steps=setup.steps,
        loss=trace.loss,
        step_end_s=trace.step_end_s,
        compute_s=trace.compute_s,
        comm_s=trace.comm_s,
        final_loss=setup.model.loss(final, dataset.X, dataset.y),
        final_accuracy=setup.model.accuracy(final, dataset.X, dataset.y),
        messages=len(log),
        bytes=int(sum(log.nbytes)),
        message_bytes=message_histogram(log),
        makespan_s=trace.step_end_s[-1],
        expected=_expected_training(run, setup, graph),
        replicas_identical=replicas_identical(trace.replicas),
        bytes_per_link=bytes_per_link(trace.network),
    )


def simulate(scenario: Scenario) -> list[RunResult] | list[TrainingResult]:
    """Every run of a scenario, in the order the scenario lists them."""
    one = simulate_training if scenario.training is not None else simulate_run
    return [one(scenario, run) for run in scenario.runs()]
