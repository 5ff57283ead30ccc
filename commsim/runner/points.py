"""One point of a scenario, run: a collective simulated or answered by its closed form, a training run,
or a row saying why the point is not applicable."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
from threadpoolctl import threadpool_limits

from ..collectives import get
from ..collectives.schedule import schedule_for
from ..engines import analytic
from ..engines.analytic import closed_form
from ..engines.message import (
    bytes_per_link,
    link_bandwidths,
    make_buffers,
    mean_error,
    run_collective,
    with_busiest_link_bound,
)
from ..engines.results import NotApplicable, RunResult, TrainingResult
from ..engines.schedule import participant_nodes, run_schedule, worker_finish
from ..errors import ScenarioError, TopologyError
from ..network import topology as topologies
from ..scenario import OptimizerSpec, RunSpec, Scenario
from ..training.datasets import load_dataset
from ..training.loop import TrainingSetup, replicas_identical, train
from ..training.models import build_model
from ..training.wire import WIRE_FORMATS


def one_blas_thread(simulate: Callable[..., Any]) -> Callable[..., Any]:
    """``simulate`` with BLAS held to one thread (threadpoolctl): a simulation's matrices are small, a BLAS
    pool would fight a sweep's other worker processes for the cores, and one thread sums in one order
    whatever the machine's core count."""

    @functools.wraps(simulate)
    def pinned(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return simulate(*args, **kwargs)

    return pinned


def not_applicable(run: RunSpec, reason: str) -> NotApplicable:
    return NotApplicable(run.algorithm, run.topology.title, run.workers, run.params, run.dtype, reason)


def _total(sizes: dict[int, int]) -> int:
    """Bytes sent, from message size → count."""
    return sum(size * count for size, count in sizes.items())


@one_blas_thread
def simulate_run(scenario: Scenario, run: RunSpec, progress: Any = None,
                 keep_log: bool = False) -> RunResult | NotApplicable:
    """One (topology, algorithm, workers, dtype, params) point of a scenario: simulated, from the twin,
    or not applicable. ``keep_log`` keeps every message (for a trace, an export or a timeline)."""
    if run.unavailable is not None:
        return not_applicable(run, run.unavailable)
    if scenario.model == "nccl":
        return nccl_run(scenario, run, progress, keep_log)
    if scenario.disturbed:
        from .disturbed import disturbed_run

        return disturbed_run(scenario, run, keep_log)
    if scenario.engine == "analytic":
        return analytic_run(scenario, run)
    topo = run.topology
    try:
        graph = topo.build(run.workers, [run.algorithm])
    except (TopologyError, ValueError) as error:  # a size the load-time check left for run time
        return not_applicable(run, str(error))
    if scenario.engine == "schedule":
        return schedule_run(scenario, run, graph)
    buffers = make_buffers(run.workers, run.params, run.dtype, scenario.payload, scenario.seed)
    itemsize = np.dtype(run.dtype).itemsize
    twin = closed_form(run.algorithm, graph, run.workers, run.params, itemsize, scenario.gamma)
    collective = run_collective(run.algorithm, graph, buffers, gamma=scenario.gamma, progress=progress,
                                horizon=twin.makespan_s, keep_log=keep_log)
    net = collective.network
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
        messages=net.messages,
        bytes=_total(net.sizes),
        message_bytes=net.message_sizes(),
        makespan_s=collective.makespan_s,
        finish_s=collective.finish_s,
        bytes_per_link=bytes_per_link(net),
        link_bandwidth=link_bandwidths(net),
        expected=with_busiest_link_bound(twin, net),
        mean=mean,
        log=net.log,
    )


def nccl_run(scenario: Scenario, run: RunSpec, progress: Any = None, keep_log: bool = False) -> RunResult | NotApplicable:
    """A point of ``model: nccl``: NCCL's ring (``ring_allreduce``) or tree (``double_binary_tree``) with its
    channels and protocol (NCCL's choices unless the scenario fixes them) as real messages through the
    cluster, on the message or the schedule engine, after NCCL's base latency; the analytic engine
    answers NCCL's own cost model. NCCL's predicted time, and what its tuner would pick among ring and
    tree, travel beside the result."""
    from ..collectives import nccl_model
    from ..collectives.follow import scheduled

    topo = run.topology
    try:
        graph = topo.build(run.workers, [run.algorithm])
    except (TopologyError, ValueError) as error:
        return not_applicable(run, str(error))
    itemsize = np.dtype(run.dtype).itemsize
    nbytes = run.params * itemsize
    algorithms = {"double_binary_tree": ("tree",), "ring_allreduce": ("ring",)}.get(run.algorithm, ("ring", "tree"))
    protocols = nccl_model.T.PROTOCOLS if scenario.protocol == "auto" else (scenario.protocol,)
    try:  # auto: NCCL's tuner picks the algorithm too
        nccl = nccl_model.plan(graph, nbytes, algorithms, protocols, None if scenario.channels == "auto" else scenario.channels)
    except ValueError as error:  # e.g. protocol: ll128 on nodes whose GPUs meet over PCIe
        return not_applicable(run, f"protocol: {error}")
    choice, channels, base, kind = nccl.choice, nccl.channels, nccl.base_latency_s, nccl.choice.algorithm
    sizes = nccl.message_sizes(run.workers, run.params, itemsize)
    n = run.workers
    logical = (2 * n * (n - 1) if kind == "ring" else 4 * (n - 1)) if n > 1 else 0  # the textbook algorithm's
    info = {"algorithm": kind, "protocol": choice.protocol, "channels": channels, "predicted_s": choice.time_s,
            "why": choice.why(), "base_latency_s": base, "logical_messages": logical,
            "wire_messages_per_channel": sum(sizes.values()) // channels if channels else 0,
            "nccl_would_pick": nccl_model.choose(nccl_model.machine(graph), nbytes).why()}
    expected = analytic.Expected(sum(sizes.values()), _total(sizes), sizes, None, "=", f"NCCL's {kind}: no closed form")
    common = dict(algorithm=run.algorithm, topology=topo.title, workers=run.workers, params=run.params, dtype=run.dtype,
                  bytes_per_param=itemsize, payload=scenario.payload, nccl=info)
    if scenario.engine == "analytic":
        return RunResult(**common, messages=expected.messages, bytes=expected.bytes, message_bytes=sizes,
                         makespan_s=choice.time_s, finish_s=[], bytes_per_link={}, link_bandwidth={},
                         expected=expected, engine="analytic")
    make, graph = nccl.make, nccl.graph
    if scenario.engine == "schedule":
        schedule = make(run.workers, run.params, itemsize, gpus_per_node=graph.graph["gpus_per_node"])
        simulated = run_schedule(schedule, graph, participant_nodes(schedule, run.workers, ()), scenario.gamma)
        finish = base + worker_finish(schedule, simulated.finish_s, run.workers)
        return RunResult(**common, messages=simulated.messages, bytes=_total(simulated.sizes),
                         message_bytes=simulated.sizes, makespan_s=float(finish.max(initial=0.0)),
                         finish_s=finish.tolist(), bytes_per_link=simulated.bytes_per_link,
                         link_bandwidth=simulated.link_bandwidth, expected=expected, engine="schedule")
    algorithm = scheduled(run.algorithm, make, None, f"NCCL's {kind}")
    buffers = make_buffers(run.workers, run.params, run.dtype, scenario.payload, scenario.seed)
    collective = run_collective(algorithm, graph, buffers, gamma=scenario.gamma, progress=progress,
                                horizon=choice.time_s, keep_log=keep_log)
    net = collective.network
    mean = None
    if scenario.payload == "data":
        error, tolerance, identical = mean_error(buffers, collective.results, "allreduce")
        mean = {"max_error": error, "tolerance": tolerance, "identical": identical}
    return RunResult(**common, messages=net.messages, bytes=_total(net.sizes), message_bytes=net.message_sizes(),
                     makespan_s=base + collective.makespan_s, finish_s=[base + t for t in collective.finish_s],
                     bytes_per_link=bytes_per_link(net), link_bandwidth=link_bandwidths(net), expected=expected,
                     mean=mean, log=net.log)


def schedule_run(scenario: Scenario, run: RunSpec, graph: nx.Graph) -> RunResult:
    """A point simulated by the schedule engine on ``graph``: the algorithm's rounds of transfers, a
    round at a time."""
    topo = run.topology
    itemsize = np.dtype(run.dtype).itemsize
    servers = topologies.servers(graph)
    used = servers[:1] if run.algorithm == "parameter_server" else servers
    schedule = schedule_for(run.algorithm, run.workers, run.params, itemsize, len(used), graph.graph.get("gpus_per_node"))
    simulated = run_schedule(schedule, graph, participant_nodes(schedule, run.workers, used), scenario.gamma)
    finish = worker_finish(schedule, simulated.finish_s, run.workers)
    twin = closed_form(run.algorithm, graph, run.workers, run.params, itemsize, scenario.gamma)
    return RunResult(
        algorithm=run.algorithm, topology=topo.title, workers=run.workers, params=run.params, dtype=run.dtype,
        bytes_per_param=itemsize, payload=scenario.payload, messages=simulated.messages,
        bytes=_total(simulated.sizes), message_bytes=simulated.sizes,
        makespan_s=float(finish.max(initial=0.0)), finish_s=finish.tolist(), bytes_per_link=simulated.bytes_per_link,
        link_bandwidth=simulated.link_bandwidth, expected=with_busiest_link_bound(twin, simulated.busiest_link_bound),
        engine="schedule",
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


@one_blas_thread
def simulate_training(scenario: Scenario, run: RunSpec, progress: Any = None, keep_log: bool = False) -> TrainingResult:
    """Train with one (algorithm, workers, optimizer) point of a training scenario; ``progress`` hears
    the fraction of steps done; ``keep_log`` keeps every message (for a trace or an export)."""
    topo = run.topology
    setup = _training_setup(scenario, run.optimizer)
    if run.workers > setup.dataset.n_samples:
        raise ScenarioError(f"workers: {run.workers} workers but dataset {setup.dataset.name!r} has {setup.dataset.n_samples} examples")
    graph = topo.build(run.workers, [run.algorithm])
    expected = _expected_training(run, setup, graph)
    disturbance = report = None
    if scenario.disturbed:
        from .disturbed import slow_links, training_disturbance

        disturbance = training_disturbance(scenario, run, setup)
        graph = slow_links(graph, scenario)
        expected = _expected_training(run, setup, graph)
    dataset = setup.dataset
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a run that diverges says so by its loss
        trace = train(setup, run.algorithm, graph, run.workers, progress=progress,
                      keep_log=keep_log or scenario.disturbed, disturbance=disturbance)
        final = trace.replicas[0] if trace.replicas else None
        final_loss = setup.model.loss(final, dataset.X, dataset.y) if final is not None else (trace.loss or [0.0])[-1]
        final_accuracy = setup.model.accuracy(final, dataset.X, dataset.y) if final is not None else None
        if disturbance is not None:
            from .disturbed import training_expected, training_report

            uniform = train(setup, run.algorithm, topo.build(run.workers, [run.algorithm]), run.workers, keep_log=False)
            report = training_report(trace, uniform, disturbance, setup, run)
            expected = training_expected(expected, disturbance, trace, setup)
    net = trace.network
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
        final_loss=final_loss,
        final_accuracy=final_accuracy,
        messages=net.messages,
        bytes=_total(net.sizes),
        message_bytes=net.message_sizes(),
        makespan_s=trace.step_end_s[-1] if trace.step_end_s else 0.0,
        expected=expected,
        replicas_identical=replicas_identical(trace.replicas) if trace.replicas else False,
        bytes_per_link=bytes_per_link(net),
        log=net.log if keep_log else None,
        finish_s=trace.finish_s,
        compute_spans=trace.compute_spans,
        disturbance=report,
    )


def simulate(scenario: Scenario) -> list[RunResult] | list[TrainingResult]:
    """Every run of a scenario, in the order the scenario lists them."""
    one = simulate_training if scenario.training is not None else simulate_run
    return [one(scenario, run) for run in scenario.runs()]
