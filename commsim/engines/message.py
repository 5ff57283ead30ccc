"""The message engine: one SimPy process per rank, real messages through the fluid network."""

from __future__ import annotations

import copy
import dataclasses
import gc
from collections import Counter
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import simpy

from ..collectives import Algorithm, Comm, get, reference_results
from ..collectives.follow import DROPPED, follow_call, follow_server, new_call
from ..collectives.payload import Buffer, SizeOnly
from ..network import topology as topologies
from ..network.disturbances import DisturbedNetwork, Partitioned
from ..network.fluid import MessageLog, Network
from . import analytic
from .program import Collective, Compute, Faults, Program, partition_acts
from .record import Record
from .routes import first_partition, without_failed


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
    """``env.run()`` with the garbage collector off (a run allocates millions of short-lived, acyclic
    objects; refcounting frees them); with ``progress``, in 100 slices of ``horizon`` (the expected end),
    calling ``progress(fraction of simulated time done)`` after each (capped below 1 until the run ends)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
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
            except (simpy.core.EmptySchedule, simpy.core.StopSimulation):
                pass
    finally:
        if collecting:
            gc.enable()
    if progress is not None:
        progress(1.0)


def run_collective(
    algorithm: str | Algorithm, graph: nx.Graph, buffers: list[Buffer], gamma: float = 0.0, progress: Any = None,
    horizon: float | None = None, keep_log: bool = True,
) -> CollectiveRun:
    """Run one collective, one SimPy process per worker (and one for the server, if any); ``progress``
    hears the simulated-time fraction done against ``horizon`` (see :func:`run_with_progress`). Without
    ``keep_log`` messages are only counted (``network.sizes``, per route), not each recorded."""
    spec = algorithm if isinstance(algorithm, Algorithm) else get(algorithm)
    n = len(buffers)
    servers = topologies.servers(graph)
    if spec.server is not None and not servers:
        raise topologies.TopologyError(f"algorithm {spec.name!r} needs a parameter server, and the topology has none")
    env = simpy.Environment()
    net = Network(env, graph, keep_log=keep_log)
    finish = [float("nan")] * n
    processes = []
    for rank in range(n):
        process = env.process(spec.worker(Comm(net, rank, n, servers, gamma=gamma), buffers[rank]))
        process.callbacks.append(lambda _event, rank=rank: finish.__setitem__(rank, env.now))
        processes.append(process)
    for server in servers if spec.server is not None else ():
        env.process(spec.server(Comm(net, server, n, servers, gamma=gamma)))
    run_with_progress(env, horizon, progress)
    unfinished = [rank for rank, process in enumerate(processes) if not process.processed]
    if unfinished:
        raise RuntimeError(f"{spec.name}: ranks {unfinished[:8]} never finished (deadlock)")
    return CollectiveRun([process.value for process in processes], finish, net)


def make_buffers(n: int, p: int, dtype: str, payload: str, seed: int) -> list[Buffer]:
    """Each worker's gradient: seeded normal values, or size-only stand-ins. float32 and float64 are
    drawn in their own precision (no float64 draw to cast: half the memory traffic of a float32 run);
    float16 is drawn as float32 and rounded."""
    itemsize = np.dtype(dtype).itemsize
    if payload == "size-only":
        return [SizeOnly(p, itemsize) for _ in range(n)]
    rng = np.random.default_rng([seed, n, p])
    drawn = "float64" if dtype == "float64" else "float32"
    return [rng.standard_normal(p, dtype=drawn).astype(dtype, copy=False) for _ in range(n)]


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
    largest = max(float(np.max(np.abs(buffer), initial=0.0)) for buffer in buffers)  # buffer by buffer: no n-fold copy
    tolerance = len(buffers) * float(np.finfo(buffers[0].dtype).eps) * largest
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


def with_busiest_link_bound(expected: analytic.Expected, net: Network | float) -> analytic.Expected:
    """A lower bound ("≥") raised to the busiest link's (of ``net``, or given), where that is higher: a
    bound that says something."""
    if expected.time_relation != "≥" or expected.makespan_s is None:
        return expected
    bound = net if isinstance(net, float) else busiest_link_bound(net)
    if bound <= expected.makespan_s:
        return expected
    formula = f"busiest link: bytes/B + route latency (above {expected.time_formula})"
    return dataclasses.replace(expected, makespan_s=bound, time_formula=formula)


def link_bandwidths(net: Network) -> dict[str, float]:
    """Bandwidth of each directed link used, keyed ``"u->v"`` like ``bytes_per_link``."""
    return {f"{link.u}->{link.v}": link.bandwidth for route in net.routes for link in route.links}


def message_histogram(log: MessageLog) -> dict[int, int]:
    """Message size (bytes) -> count."""
    sizes, counts = np.unique(np.frombuffer(log.nbytes, dtype=np.int64), return_counts=True)
    return {int(size): int(count) for size, count in zip(sizes, counts)}


class Hooks:
    """What a program's ranks do with values: the buffer each worker brings to a collective, what it does
    with the result, what it computes when a compute task starts, and what a server makes of the mean it
    forms (an optimizer step, a sign vote). The default: size-only buffers of the schedule's size, results
    kept per worker (the last collective's)."""

    wire_bytes: Any = None  # the wire format's bytes of a buffer (None: its own)

    def __init__(self, buffers: list[Buffer] | None = None, itemsize: int = 4) -> None:
        self.buffers, self.itemsize = buffers, itemsize
        self.results: list[Any] = []

    def buffer(self, rank: int, task: int, call: Collective) -> Buffer:
        if self.buffers is not None:
            return self.buffers[rank]
        return SizeOnly(call.schedule.p, self.itemsize)

    def result(self, rank: int, task: int, value: Buffer) -> None:
        if len(self.results) <= rank:
            self.results.extend([None] * (rank + 1 - len(self.results)))
        self.results[rank] = value

    def compute(self, rank: int, task: int) -> None:
        """A compute task starts (training computes its gradient here)."""

    def respond(self, server: Any, task: int) -> Any:
        """What the server makes of the mean it formed (None: sends the mean back)."""
        return None


def run_program(program: Program, graph: nx.Graph, gamma: float = 0.0, faults: Faults | None = None,
                keep_log: bool = False, hooks: Hooks | None = None, progress: Any = None,
                horizon: float | None = None) -> Record:
    """Execute ``program`` with one SimPy process per worker and per server (and one per participant where
    a rank runs several): compute as timeouts, collectives followed round by round
    (:mod:`commsim.collectives.follow`) over the fluid network, under ``faults`` (see
    :mod:`commsim.engines.program`). The run ends once every worker has finished its tasks or crashed."""
    hooks = hooks or Hooks()
    env = simpy.Environment()
    n, servers, tasks = program.workers, tuple(program.servers), program.tasks
    owners = program.owners
    nodes = [*range(n), *servers]
    disturbed = faults is not None and not faults.none
    if disturbed and faults.link_failures:
        graph = copy.deepcopy(graph)  # failures take edges out of the network's graph (a deep copy keeps the paths)
    net: Network = (DisturbedNetwork(env, graph, keep_log=keep_log, jitter_s=faults.jitter_s, seed=faults.seed,
                                     participants=nodes) if disturbed else Network(env, graph, keep_log=keep_log))
    start = np.full((len(tasks), owners), np.nan)
    end = np.full((len(tasks), owners), np.nan)
    calls = {}
    for index, task in enumerate(tasks):
        if isinstance(task, Collective):
            sizes_only = hooks.buffers is None and hooks.wire_bytes is None
            calls[index] = new_call(env, task.schedule, list(task.nodes), hooks.itemsize, sizes_only, index)
    ended = [[env.event() for _ in range(owners)] for _ in tasks] if not _chain(program) else None

    def comm_of(node: Any) -> Comm:
        wire = {} if hooks.wire_bytes is None else {"wire_bytes": hooks.wire_bytes}
        return Comm(net, node, n, servers, gamma=gamma, **wire)

    def run_tasks(rank: int, indices: Any, comm: Comm) -> Any:
        """Worker ``rank`` through tasks ``indices``, one after the other."""
        for index in indices:
            task = tasks[index]
            start[index, rank] = env.now
            if isinstance(task, Compute):
                hooks.compute(rank, index)
                yield env.timeout(float(task.seconds[rank]))
            else:
                buffer = hooks.buffer(rank, index, task)
                if task.delay_s:
                    yield env.timeout(task.delay_s)
                hooks.result(rank, index, (yield from follow_call(comm, calls[index], buffer)))
            end[index, rank] = env.now

    def worker(rank: int) -> Any:
        comm = comm_of(rank)
        if len(tasks) == 1 and isinstance(tasks[0], Collective) and not tasks[0].delay_s:
            start[0, rank] = 0.0  # one collective (the common case): the process is the follower itself
            return follow_call(comm, calls[0], hooks.buffer(rank, 0, tasks[0]))
        if ended is None:  # every task waits for the one before: one process does them in turn
            return run_tasks(rank, range(len(tasks)), comm)
        return tasks_at_once(rank, comm)

    def tasks_at_once(rank: int, comm: Comm) -> Any:
        for index in range(len(tasks)):
            net.spawn(rank, one_task(rank, index, comm), quiet=disturbed)
        yield env.all_of([ended[index][rank] for index in range(len(tasks))])

    def one_task(rank: int, index: int, comm: Comm) -> Any:
        after = [ended[dep][rank] for dep in tasks[index].after]
        if after:
            yield env.all_of(after)
        yield from run_tasks(rank, (index,), comm)
        ended[index][rank].succeed()

    def server(position: int) -> Any:
        node, owner = servers[position], n + position
        comm = comm_of(node)
        for index, task in enumerate(tasks):
            if isinstance(task, Collective) and owner in program.owner_of(task):
                start[index, owner] = env.now
                if task.delay_s:
                    yield env.timeout(task.delay_s)
                yield from follow_server(comm, calls[index], hooks.respond(node, index))
                end[index, owner] = env.now

    crashed: list[tuple[int, float]] = []
    main: list[Any] = []
    if disturbed:  # a fault comes first among what happens at its instant (it is scheduled before, and urgent)
        crash = faults.crash_s if faults.crash_s is not None else ()
        for owner, at in enumerate(crash):
            if np.isfinite(at):
                _at(env, float(at), lambda owner=owner: _crash(owner))
        for u, v, at in faults.link_failures:
            _at(env, at, lambda u=u, v=v: net.fail_link(u, v))
        failures = sorted(faults.link_failures, key=lambda failure: failure[2])
        split = first_partition(nodes, failures, without_failed(graph, failures))
        if split is not None:  # it stops the run a hair before its time, as in the schedule engine
            _at(env, partition_acts(failures[split[0]][2]), lambda split=split: _split(failures[:split[0] + 1], split[1]))
    main += [net.spawn(rank, worker(rank), quiet=disturbed) for rank in range(n)]
    if len(tasks) == 1 and isinstance(tasks[0], Collective) and not tasks[0].delay_s:
        for rank, process in enumerate(main):
            process.callbacks.append(lambda event, rank=rank: _one_ended(rank, event))

    def _one_ended(rank: int, event: Any) -> None:
        if event.ok and not (disturbed and rank in {owner for owner, _ in crashed}):
            end[0, rank] = env.now
            hooks.result(rank, 0, event.value)
    for position in range(len(servers)):
        net.spawn(servers[position], server(position), quiet=disturbed)

    def _split(failed: list[tuple[Any, Any, float]], why: str) -> None:
        net.failed[:] = [(at, u, v) for u, v, at in failed]  # those at its instant too, as they are stated
        raise Partitioned(why, failed[-1][2])

    def _crash(owner: int) -> None:
        node = nodes[owner]
        if owner < n and not main[owner].is_alive:
            return  # it had finished
        crashed.append((owner, env.now))
        net.crash(node)
        for process in net.processes.get(node, []):
            if process.is_alive:
                process.interrupt("crash")

    env.all_of(main).callbacks.append(simpy.core.StopSimulation.callback)
    stopped = None
    try:
        run_with_progress(env, horizon, progress)
    except Partitioned as partition:
        stopped, stopped_at = str(partition), partition.at
    else:
        stopped_at = float("inf")
    down = {owner for owner, _ in crashed}
    for owner, at in crashed:  # a crash comes first at its instant: a task its owner reached then never began
        never = start[:, owner] >= at
        start[never, owner] = end[never, owner] = np.nan
    started = ~np.isnan(start)
    end = np.where(started & np.isnan(end), np.inf, end)  # started, never ended
    unfinished = [rank for rank in range(n) if rank not in down and not main[rank].processed]
    waiting: dict[Any, list[Any]] = {}
    if stopped is None:
        if n and len(down) >= n:
            stopped = "every worker crashed"
        elif unfinished:
            stopped = "stuck"
            for (src, dst, _tag), entry in net._channels.items():
                if entry[0] is False and dst not in down:  # receives posted, nothing sent
                    waiting.setdefault(dst, []).append(src)
    last = max(calls) if calls else None
    finish = np.full(0, np.nan)
    if last is not None:
        finish = end[last][program.owner_of(tasks[last])]
    dropped_calls = net.shared.get(DROPPED, {})
    return Record(
        finish, net.messages, net.message_sizes(), bytes_per_link(net), link_bandwidths(net), False,
        busiest_link_bound(net), start, end, stopped, crashed,
        [sorted(dropped_calls[call], key=str) for call in sorted(dropped_calls)],
        float(getattr(net, "rerouted_bytes", 0.0)), list(getattr(net, "failed", [])),
        {node: sorted(set(sources), key=str) for node, sources in waiting.items()}, net.log,
        list(getattr(net, "lost", [])), dict(getattr(net, "posted", {})),
        hooks.results if hooks.results else None, hooks, stopped_at,
    )


def execute(plan: Any, progress: Any = None) -> Record:
    """Run a :class:`~commsim.engines.plan.Plan` on the message engine (its values, if any, through its hooks)."""
    hooks = plan.hooks() if plan.hooks is not None else Hooks(itemsize=plan.itemsize)
    return run_program(plan.program, plan.graph, plan.gamma, plan.faults, keep_log=plan.keep_log or plan.disturbed,
                       hooks=hooks, progress=progress, horizon=plan.expected.makespan_s)


def _at(env: simpy.Environment, when: float, act: Any) -> None:
    """Call ``act()`` at time ``when``, before anything else that happens then."""
    event = simpy.events.Event(env)
    event._ok, event._value = True, None
    event.callbacks.append(lambda _event: act())
    env.schedule(event, simpy.events.URGENT, when)


def _chain(program: Program) -> bool:
    """Whether every task waits for the one before it and nothing else (one process per worker will do)."""
    return all(task.after == ((index - 1,) if index else ()) for index, task in enumerate(program.tasks))
