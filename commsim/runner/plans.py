"""A scenario's point as a plan (:class:`~commsim.engines.plan.Plan`): the network, the schedule of each
collective call (the textbook algorithm's, NCCL's, or the server that takes the first n − k), the program
each rank runs (compute, then the call; per step in training), the faults, and the closed form or NCCL's
prediction — ready for whichever engine runs it."""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx
import numpy as np

from ..collectives.textbook.parameter_server import dropping_server_schedule
from ..collectives.schedule import Schedule, schedule_for
from ..engines import analytic
from ..engines.analytic import Expected, closed_form
from ..engines.message import Hooks, make_buffers
from ..engines.plan import Plan
from ..engines.program import Faults, Program, one_call, steps
from ..engines.schedule import participant_nodes
from ..errors import ScenarioError, TopologyError
from ..network import topology as topologies
from ..scenario import ITEMSIZE, NCCL_COLLECTIVES, OptimizerSpec, RunSpec, Scenario, collective_kind
from ..training.datasets import load_dataset
from ..training.loop import TrainingHooks, TrainingSetup
from ..training.models import build_model
from ..training.wire import WIRE_FORMATS


class NotRunnable(Exception):
    """The point cannot run on this network (a size the load-time checks left for run time): why."""


def engine_for(scenario: Scenario) -> tuple[str, str]:
    """(engine, why) that runs the scenario's points (``Scenario.engine_picked``)."""
    return scenario.engine_picked


def slow_links(graph: nx.Graph, scenario: Scenario) -> nx.Graph:
    """``stragglers.links``: every edge at a listed worker takes its bandwidth and/or latency."""
    spec = scenario.stragglers
    for rank, speed in (spec.links.items() if spec is not None else ()):
        for _, _, data in graph.edges(rank, data=True):
            if speed.bandwidth is not None:
                data["bandwidth"] = speed.bandwidth
            if speed.latency is not None:
                data["latency"] = speed.latency
    return graph


def keep_of(scenario: Scenario, run: RunSpec) -> int | None:
    """How many gradients the parameter server takes (``drop_stragglers``), else None."""
    faults = scenario.faults
    if faults is None or faults.dropped is None or run.algorithm != "parameter_server":
        return None
    return run.workers - faults.dropped


def faults_of(scenario: Scenario, n: int, servers: int) -> Faults | None:
    """The scenario's crashes, message jitter and link failures, for n workers and ``servers`` servers."""
    spec, faults = scenario.stragglers, scenario.faults
    jitter = spec.jitter.message if spec is not None else 0.0
    crash = np.full(n + servers, np.inf)
    for item in faults.crash if faults is not None else ():
        crash[item.worker] = min(crash[item.worker], item.at)
    failures = tuple((*down.between, down.at) for down in faults.link_down) if faults is not None else ()
    if not jitter and not failures and not np.isfinite(crash).any():
        return None
    return Faults(crash, jitter, scenario.seed, failures)


def compute_of(scenario: Scenario, n: int, base: float | None = None, count: int = 1) -> np.ndarray | None:
    """Each worker's compute before each call: the stragglers' ``compute`` × slowdown × (1 + jitter) (drawn
    once, [n]); or, for training, ``base`` × slowdown × (1 + jitter drawn per step and rank) ([count, n])."""
    spec = scenario.stragglers
    if base is None:
        if spec is None or spec.compute is None:
            return None
        return np.asarray(spec.compute_s(n, scenario.seed, spec.compute), dtype=np.float64)
    factors = np.asarray(spec.factors(n, scenario.seed) if spec is not None else [1.0] * n)
    jitter = spec.jitter.compute if spec is not None else 0.0
    noise = np.array([np.random.default_rng([scenario.seed, n, rank, 17]).random(count) for rank in range(n)]).T
    return base * factors[None, :] * (1 + jitter * noise)


def _graphs(scenario: Scenario, run: RunSpec) -> tuple[nx.Graph, nx.Graph]:
    """(the network the run sees — the stragglers' slow links on it —, the scenario's own, for the twin)."""
    try:
        own = run.topology.build(run.workers, [run.algorithm])
    except (TopologyError, ValueError) as error:  # a size the load-time check left for run time
        raise NotRunnable(str(error)) from None
    if scenario.stragglers is None or not scenario.stragglers.links:
        return own, own
    return slow_links(run.topology.build(run.workers, [run.algorithm]), scenario), own


def _check_failures(graph: nx.Graph, faults: Faults | None, run: RunSpec) -> None:
    for u, v, _ in faults.link_failures if faults is not None else ():
        if not graph.has_edge(u, v):
            absent = [node for node in (u, v) if node not in graph]
            raise NotRunnable(f"faults.link_down: {absent[0]} is not in {run.algorithm}'s network" if absent
                              else f"faults.link_down: no link {u}–{v} in this topology")


@dataclasses.dataclass
class _Call:
    """What one collective call runs: its schedule and nodes, NCCL's fixed latency before it, its closed
    form (or NCCL's prediction), the servers it uses, and NCCL's choices."""

    schedule: Schedule | None
    nodes: list[Any]
    servers: tuple[Any, ...]
    delay_s: float
    expected: Expected
    graph: nx.Graph
    nccl: dict[str, Any] | None = None


def _call(scenario: Scenario, run: RunSpec, graph: nx.Graph, p: int, w: int, keep: int | None = None) -> _Call:
    """The schedule of one call of ``run``'s algorithm on p elements of w bytes, as the model runs it."""
    n = run.workers
    if scenario.model == "nccl":
        return _nccl_call(scenario, run, graph, p, w)
    servers = topologies.servers(graph)
    used = servers[:1] if run.algorithm == "parameter_server" else servers
    if keep is not None:
        schedule = dropping_server_schedule(n, p, w, keep)
    else:
        schedule = schedule_for(run.algorithm, n, p, w, len(used), graph.graph.get("gpus_per_node"))
    expected = closed_form(run.algorithm, graph, n, p, w, scenario.gamma)
    return _Call(schedule, participant_nodes(schedule, n, used), tuple(used), 0.0, expected, graph)


def _nccl_call(scenario: Scenario, run: RunSpec, graph: nx.Graph, p: int, w: int, build: bool = True) -> _Call:
    """What NCCL runs for ``run``'s collective of p·w bytes (its algorithm, protocol, channels; for the
    all-to-all its point-to-point parts) as a schedule on the cluster at NCCL's rates, after NCCL's fixed
    latency; NCCL's own predicted time beside it, where NCCL has one."""
    from ..collectives.nccl import model as nccl_model

    n, nbytes = run.workers, p * w
    collective, algorithms = NCCL_COLLECTIVES[run.algorithm]
    protocols = nccl_model.T.PROTOCOLS if scenario.protocol == "auto" else (scenario.protocol,)
    try:
        nccl = nccl_model.plan(graph, nbytes, algorithms, protocols,
                               None if scenario.channels == "auto" else scenario.channels, collective, w)
    except ValueError as error:  # e.g. protocol: ll128 on nodes whose GPUs meet over PCIe; NVLS on an A100 node
        raise NotRunnable(str(error) if str(error).startswith("algorithms:") else f"protocol: {error}") from None
    sizes = nccl.message_sizes(n, p, w)
    logical = ({"ring": 2 * n * (n - 1), "tree": 4 * (n - 1), "nvls": n * (2 * n + 2)}[nccl.algorithm]
               if n > 1 and collective == "allreduce" else None)
    machine = nccl_model.machine(graph)
    info = {"collective": collective, "algorithm": nccl.algorithm, "protocol": nccl.protocol, "channels": nccl.channels,
            "threads": nccl.threads,
            "predicted_s": nccl.predicted_s, "why": nccl.choice.why() if nccl.choice is not None else
            f"point-to-point sends in {nccl.channels} part(s) each, {nccl.protocol} (NCCL rates no all-to-all)",
            "base_latency_s": nccl.base_latency_s, "logical_messages": logical,
            "wire_messages_per_channel": sum(sizes.values()) // nccl.channels if nccl.channels else 0,
            "nccl_would_pick": (nccl_model.choose(machine, nbytes, collective=collective).why()
                                if nccl.choice is not None else None)}
    expected = Expected(sum(sizes.values()), sum(size * count for size, count in sizes.items()), sizes, None, "=",
                        f"NCCL's {nccl.algorithm}: no closed form")
    if not build:  # what NCCL would run, for its prediction alone (the analytic engine)
        return _Call(None, [], (), nccl.base_latency_s, expected, nccl.graph, info)
    schedule = nccl.make(n, p, w, gpus_per_node=graph.graph["gpus_per_node"])
    return _Call(schedule, participant_nodes(schedule, n, nccl.servers), nccl.servers, nccl.base_latency_s, expected,
                 nccl.graph, info)


def _rated(call: _Call, scenario: Scenario) -> nx.Graph:
    """The call's network with the stragglers' slow links (on NCCL's rated graph, for model nccl)."""
    if scenario.model != "nccl" or scenario.stragglers is None or not scenario.stragglers.links:
        return call.graph
    return slow_links(call.graph.copy(), scenario)


def collective_plan(scenario: Scenario, run: RunSpec, engine: str, keep_log: bool = False) -> Plan:
    """One collective (after each worker's compute, under stragglers) on ``run``'s network."""
    n, w = run.workers, ITEMSIZE[run.dtype]
    kind = collective_kind(run.algorithm)
    if engine == "analytic":
        return _analytic_plan(scenario, run)
    seen, own = _graphs(scenario, run)
    keep = keep_of(scenario, run)
    call = _call(scenario, run, seen, run.params, w, keep)
    twin_call = call if own is seen and keep is None else _call(scenario, run, own, run.params, w)  # waits for all
    faults = faults_of(scenario, n, len(call.servers))
    _check_failures(seen, faults, run)
    compute = compute_of(scenario, n)
    base = scenario.stragglers.compute if scenario.stragglers is not None and scenario.stragglers.compute else None
    hooks = None
    if scenario.payload == "data":
        def hooks() -> Hooks:
            return Hooks(make_buffers(n, run.params, run.dtype, "data", scenario.seed), w)
    plan = Plan(run.algorithm, run.topology.title, n, run.params, run.dtype, w, scenario.payload, _rated(call, scenario),
                one_call(call.schedule, call.nodes, n, call.servers, compute, call.delay_s), faults, scenario.gamma,
                kind, call.expected, nccl=call.nccl, hooks=hooks,
                needs_ranks="real buffers, their mean checked" if scenario.payload == "data" else None,
                keep_log=keep_log, compute_s=None if compute is None else compute[None, :],
                extra={"keep": keep})
    if scenario.disturbed:
        uniform = None if base is None else np.full(n, base)
        plan.twin = dataclasses.replace(
            plan, graph=twin_call.graph, faults=None, twin=None, keep_log=False, hooks=None, needs_ranks=None,
            program=one_call(twin_call.schedule, twin_call.nodes, n, twin_call.servers, uniform, twin_call.delay_s),
            compute_s=None if uniform is None else uniform[None, :], payload="size-only")
    return plan


def _server_bandwidth(topo: Any) -> float | None:
    """The bandwidth of a scenario topology's server links, without building it: the NICs' on
    ``hierarchical``, the topology's own elsewhere; None (unknown) when link overrides may change it."""
    if topo.links:
        return None
    return topo.options.get("nic_bandwidth") or topo.bandwidth if topo.kind == "hierarchical" else topo.bandwidth


def analytic_expected(scenario: Scenario, run: RunSpec, p: int, w: int) -> Expected:
    """The closed form of one call from the topology's description alone: nothing is built (any n)."""
    topo = run.topology
    options = topo.options
    speeds = {value for key, value in options.items() if key.endswith(("bandwidth", "latency"))}
    uniform = not topo.links and not speeds - {topo.bandwidth, topo.latency} and not (
        scenario.stragglers is not None and scenario.stragglers.links)
    latency = min([topo.latency, *(v for k, v in options.items() if k.endswith("latency"))])
    bandwidth = max([topo.bandwidth, *(v for k, v in options.items() if k.endswith("bandwidth"))])
    gpus = options.get("gpus_per_node") or (run.workers // options["nodes"] if options.get("nodes") else None)
    return analytic.expected(
        run.algorithm, topo.kind, run.workers, p, w, latency, bandwidth, uniform_links=uniform, gamma=scenario.gamma,
        servers=topo.server_count([run.algorithm]), gpus_per_node=gpus,
        min_hops=topologies.MIN_WORKER_HOPS.get(topo.kind, 1), server_bandwidth=_server_bandwidth(topo))


def _analytic_plan(scenario: Scenario, run: RunSpec) -> Plan:
    """What the analytic engine answers: the closed form (NCCL's own model for model nccl), nothing built
    but a cluster's few nodes."""
    n, w = run.workers, ITEMSIZE[run.dtype]
    kind = collective_kind(run.algorithm)
    nccl = None
    if scenario.model == "nccl":
        seen, _ = _graphs(scenario, run)
        call = _nccl_call(scenario, run, seen, run.params, w)
        expected = dataclasses.replace(call.expected, makespan_s=call.nccl["predicted_s"])
        nccl = call.nccl
    else:
        expected = analytic_expected(scenario, run, run.params, w)
    compute = compute_of(scenario, n)
    return Plan(run.algorithm, run.topology.title, n, run.params, run.dtype, w, scenario.payload, None, None, None,
                scenario.gamma, kind, straggling_bound(expected, compute), nccl=nccl, compute_s=compute)


def straggling_bound(one: Expected, compute: np.ndarray | None, steps_: int = 1) -> Expected:
    """What the closed form says under stragglers: a lower bound. A collective ends no sooner than the fastest
    worker's compute plus the uniform time, nor before the slowest worker's compute ends (``steps_`` such
    steps: each as long)."""
    if compute is None or one.makespan_s is None:
        return one
    compute = np.atleast_2d(compute)
    per_step = np.maximum(compute.min(axis=1) + one.makespan_s, compute.max(axis=1))
    return dataclasses.replace(one, makespan_s=float(per_step.sum() if steps_ > 1 else per_step[0]),
                               time_relation="≥",
                               time_formula=f"max(fastest compute + {one.time_formula}, slowest compute)"
                               + (" per step" if steps_ > 1 else ""))


# -- training --------------------------------------------------------------------------------------
def training_setup(scenario: Scenario, optimizer: OptimizerSpec) -> TrainingSetup:
    """Dataset, model and optimizer of a training scenario (bad combinations → ScenarioError)."""
    spec = scenario.training
    regression = spec.model == "linear_regression"
    options: dict[str, Any] = {}
    if spec.dataset == "synthetic":
        options = {"n_samples": spec.samples, "n_features": spec.features}
        if not regression:
            options["n_classes"] = spec.classes
    try:
        dataset = load_dataset(spec.dataset, task="regression" if regression else "classification", seed=scenario.seed,
                               **options)
        model = build_model(spec.model, dataset.n_features, dataset.n_classes,
                            **({"hidden": spec.hidden} if spec.model == "mlp" else {}))
    except ValueError as error:
        raise ScenarioError(f"training: {error}") from None
    return TrainingSetup(model=model, dataset=dataset, optimizer=optimizer.build, wire=WIRE_FORMATS[optimizer.wire],
                         steps=spec.steps, batch_per_worker=spec.batch_per_worker,
                         flops_per_second=spec.compute.flops_per_second, seed=scenario.seed)


def step_compute_s(setup: TrainingSetup) -> float:
    """One step's compute: the model's FLOPs for a batch over the rate."""
    return setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second


def wire_elements(setup: TrainingSetup, data: bool) -> tuple[int, int]:
    """(elements, bytes each) of the buffer each collective carries: the encoded gradient with values, or
    for sizes alone its wire bytes (a sign message is ⌈p/8⌉ + 4 bytes)."""
    p, wire = setup.model.n_params, setup.wire
    if data:
        return p + (1 if wire.is_sign else 0), np.dtype(wire.dtype).itemsize
    return (wire.message_bytes(p), 1) if wire.is_sign else (p, np.dtype(wire.dtype).itemsize)


def training_expected(run: RunSpec, setup: TrainingSetup, one: Expected) -> Expected:
    """steps × (compute + the collective's closed form) on the wire's message sizes."""
    steps_ = setup.steps
    relation = one.time_relation
    if relation == "=" and run.algorithm == "ring_allreduce" and setup.model.n_params % run.workers and steps_ > 1:
        relation = "≤"  # uneven chunks: ranks leave a step at different times and start the next early
    return Expected(
        messages=one.messages * steps_, bytes=one.bytes * steps_,
        message_bytes={size: count * steps_ for size, count in one.message_bytes.items()},
        makespan_s=None if one.makespan_s is None else steps_ * (step_compute_s(setup) + one.makespan_s),
        time_relation=relation, time_formula=f"steps·(compute + {one.time_formula})")


def training_plan(scenario: Scenario, run: RunSpec, engine: str, keep_log: bool = False) -> Plan:
    """``steps`` training steps of ``run``'s algorithm: per step each worker computes (its model's time ×
    its slowdown), then the collective carries its gradient."""
    setup = training_setup(scenario, run.optimizer)
    n = run.workers
    if n > setup.dataset.n_samples:
        raise ScenarioError(f"workers: {n} workers but dataset {setup.dataset.name!r} has {setup.dataset.n_samples} examples")
    data = scenario.payload == "data"
    p_wire, w_wire = wire_elements(setup, data=False)
    base = step_compute_s(setup)
    extra = {"setup": setup}
    if engine == "analytic":
        one = analytic_expected(scenario, run, p_wire, w_wire)
        compute = compute_of(scenario, n, base, setup.steps) if scenario.stragglers is not None else None
        expected = training_expected(run, setup, one)
        if compute is not None:
            expected = straggling_bound(one, compute, setup.steps)
            expected = dataclasses.replace(expected, messages=one.messages * setup.steps, bytes=one.bytes * setup.steps,
                                           message_bytes={size: count * setup.steps
                                                          for size, count in one.message_bytes.items()})
        return Plan(run.algorithm, run.topology.title, n, setup.model.n_params, run.dtype, w_wire, scenario.payload, None,
                    None, None, scenario.gamma, "allreduce", expected, extra=extra, compute_s=compute)
    seen, own = _graphs(scenario, run)
    keep = keep_of(scenario, run)
    p, w = wire_elements(setup, data)
    call = _call(scenario, run, seen, p, w, keep)
    twin_call = call if own is seen and keep is None else _call(scenario, run, own, p, w)  # its server waits for all
    expected_call = call if not data else _call(scenario, run, seen, p_wire, w_wire)
    faults = faults_of(scenario, n, len(call.servers))
    _check_failures(seen, faults, run)
    compute = compute_of(scenario, n, base, setup.steps)
    hooks = (lambda: TrainingHooks(setup, run.algorithm, n)) if data else None
    plan = Plan(run.algorithm, run.topology.title, n, setup.model.n_params, run.dtype, w, scenario.payload,
                _rated(call, scenario), steps(call.schedule, call.nodes, n, compute, setup.steps, call.servers, call.delay_s),
                faults, scenario.gamma, "allreduce", training_expected(run, setup, expected_call.expected),
                nccl=call.nccl, hooks=hooks, needs_ranks="a real model trains, per rank" if data else None,
                keep_log=keep_log, compute_s=compute, extra=extra | {"keep": keep})
    if scenario.disturbed:
        uniform = np.full((setup.steps, n), base)
        plan.twin = dataclasses.replace(
            plan, graph=twin_call.graph, faults=None, twin=None, keep_log=False,
            program=steps(twin_call.schedule, twin_call.nodes, n, uniform, setup.steps, twin_call.servers,
                          twin_call.delay_s), compute_s=uniform,
            hooks=hooks, extra=extra | {"keep": None})
    return plan


def plan_of(scenario: Scenario, run: RunSpec, engine: str, keep_log: bool = False) -> Plan:
    """The plan of one point of ``scenario`` for ``engine``."""
    if scenario.workload is not None:
        from .workloads import workload_plan

        return workload_plan(scenario, run, engine, keep_log)
    make = training_plan if scenario.training is not None else collective_plan
    return make(scenario, run, engine, keep_log)


__all__ = ["NotRunnable", "Plan", "Program", "engine_for", "plan_of"]
