"""Data-parallel training inside the simulation: gradient → collective → optimizer update.

Every worker holds a shard of the data and a replica of the parameters. Each step it computes
its gradient on a batch (the compute time advances the simulated clock), runs the collective on
the gradient in the chosen wire format, and applies the ``optim`` update. With all-to-all and
ring all-reduce every worker applies the same update to its own replica; with the parameter
server the server applies it and the workers pull the parameters (with the ``sign`` wire format
the server returns the majority vote instead, and the workers apply it). Replicas stay identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

import optim

from ..collectives import Comm, get
from ..collectives.parameter_server import DROPPED
from ..engines.disturbed import Disturbance, algorithm_for, run_until_stuck, schedule_crashes
from ..network import topology as topologies
from ..network.disturbances import DisturbedNetwork, schedule_failures
from ..network.fluid import Network
from .datasets import Batches, Dataset, shard
from .models import Model
from .wire import WireFormat

Params = dict[str, np.ndarray]


class ParamLayout:
    """Flatten a dict of arrays into one vector (the collective's buffer) and back."""

    def __init__(self, params: Params) -> None:
        self.keys = list(params)
        self.shapes = [params[key].shape for key in self.keys]
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.offsets = np.cumsum([0, *sizes]).tolist()

    @property
    def size(self) -> int:
        return self.offsets[-1]

    def flatten(self, tree: Params) -> np.ndarray:
        return np.concatenate([np.ravel(tree[key]) for key in self.keys]) if self.keys else np.zeros(0)

    def unflatten(self, vector: np.ndarray) -> Params:
        return {
            key: np.asarray(vector[lo:hi], dtype=np.float64).reshape(shape)
            for key, shape, lo, hi in zip(self.keys, self.shapes, self.offsets, self.offsets[1:])
        }


@dataclass(frozen=True)
class TrainingSetup:
    """Everything one training run needs besides the network."""

    model: Model
    dataset: Dataset
    optimizer: Callable[[], optim.GradientTransformation]
    wire: WireFormat
    steps: int
    batch_per_worker: int
    flops_per_second: float
    seed: int


@dataclass
class TrainingTrace:
    """What a training run recorded: per step, and the final replicas."""

    loss: list[float]  # mean of the workers' batch losses at the step's parameters
    step_end_s: list[float]  # simulated time at which the last worker finished the step
    compute_s: list[float]  # simulated compute time of the step
    comm_s: list[float]  # simulated time from end of compute to end of the step (slowest worker)
    replicas: list[Params]
    network: Network
    compute_start_s: list[list[float]] = field(default_factory=list)  # [rank][step]: when the worker began computing
    finish_s: list[float] = field(default_factory=list)  # [rank]: when the worker finished its last step
    compute_spans: list[list[tuple[float, float]]] = field(default_factory=list)  # [rank]: (start, end) per step
    stopped: str | None = None  # a disturbance left the run unable to finish: why
    crashed: list[tuple[int, float]] = field(default_factory=list)
    dropped: list[list[int]] = field(default_factory=list)  # per server step: the ranks whose gradients it dropped


def _copy(params: Params) -> Params:
    return {key: value.copy() for key, value in params.items()}


def _apply(optimizer: optim.GradientTransformation, gradient: Params, state: Any, params: Params) -> tuple[Params, Any]:
    updates, state = optimizer.update(gradient, state, params)
    return optim.apply_updates(params, updates), state


def train(setup: TrainingSetup, algorithm: str, graph: Any, n: int,
          progress: Callable[[float], None] | None = None, keep_log: bool = True,
          disturbance: Disturbance | None = None) -> TrainingTrace:
    """Run ``setup.steps`` synchronous data-parallel steps of ``algorithm`` on ``graph``; ``progress``
    hears the fraction of steps worker 0 has finished after each of its steps. A ``disturbance`` gives
    each rank its own compute time per step (``compute_s`` is then each rank's, jitter drawn per step),
    jittered sends, failing links, crashing workers and a parameter server that drops stragglers."""
    spec = get(algorithm) if disturbance is None else algorithm_for(algorithm, disturbance.keep)
    # Only the single parameter server applies the update itself; sharded servers return the mean.
    server_applies = algorithm == "parameter_server" and n > 1 and not setup.wire.is_sign
    servers = topologies.servers(graph) if spec.server is not None else ()
    env = simpy.Environment()
    if disturbance is None:
        net: Network = Network(env, graph, keep_log=keep_log)
    else:
        net = DisturbedNetwork(env, graph, keep_log=keep_log, jitter_s=disturbance.jitter_s, seed=disturbance.seed,
                               participants=[*range(n), *servers])
        schedule_failures(net, list(disturbance.link_failures))
    initial = setup.model.init(np.random.default_rng(setup.seed))
    layout = ParamLayout(initial)
    shards = shard(setup.dataset, n, setup.seed)
    compute_s = setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second
    computing = [[compute_s] * setup.steps] * n if disturbance is None else [
        disturbance.step_compute_s(rank, setup.steps) for rank in range(n)]
    wire = setup.wire
    losses = np.full((setup.steps, n), np.nan)
    ends = np.full((setup.steps, n), np.nan)
    comms = np.zeros((setup.steps, n))
    starts = np.zeros((setup.steps, n))
    replicas: list[Params] = [{}] * n
    crashed: list[tuple[int, float]] = []

    def worker(rank: int):
        try:
            yield from steps(rank)
        except simpy.Interrupt:
            crashed.append((rank, env.now))

    def steps(rank: int):
        comm = Comm(net, rank, n, servers, wire_bytes=wire.nbytes)
        batches = Batches(shards[rank], setup.batch_per_worker, setup.seed, rank)
        params, optimizer = _copy(initial), setup.optimizer()
        state = optimizer.init(params)
        for step in range(setup.steps):
            X, y = batches.batch(step)
            losses[step, rank], gradient = setup.model.loss_and_grad(params, X, y)
            starts[step, rank] = env.now
            yield env.timeout(computing[rank][step])
            computed = env.now
            received = yield from spec.worker(comm, wire.encode(layout.flatten(gradient)))
            if server_applies:
                params = layout.unflatten(received)
            else:
                params, state = _apply(optimizer, layout.unflatten(wire.decode(received)), state, params)
            ends[step, rank], comms[step, rank] = env.now, env.now - computed
            if progress is not None and rank == 0:
                progress((step + 1) / setup.steps)
        replicas[rank] = params

    def parameter_server(server: Any):
        comm = Comm(net, server, n, servers, wire_bytes=wire.nbytes)
        params, optimizer = _copy(initial), setup.optimizer()
        state = optimizer.init(params)

        def step_and_send_params(mean: np.ndarray) -> np.ndarray:
            nonlocal params, state
            params, state = _apply(optimizer, layout.unflatten(wire.decode(mean)), state, params)
            return layout.flatten(params).astype(wire.dtype)

        respond = wire.vote if wire.is_sign else step_and_send_params if server_applies else None
        for _ in range(setup.steps):
            yield from spec.server(comm, respond)

    processes = [env.process(worker(rank)) for rank in range(n)]
    for server in servers:
        env.process(parameter_server(server))
    if disturbance is None:
        env.run()
        stopped = None
    else:
        schedule_crashes(net, processes, disturbance.crashes)
        stopped = run_until_stuck(env, net, processes, crashed, spec.name)
    down = {rank for rank, _ in crashed}
    live = [rank for rank in range(n) if rank not in down]
    done = int(np.sum(np.all(np.isfinite(ends[:, live]), axis=1))) if live else 0  # steps every live rank finished
    return TrainingTrace(
        loss=losses[:done, live].mean(axis=1).tolist(),
        step_end_s=ends[:done, live].max(axis=1).tolist(),
        compute_s=[max(computing[rank][step] for rank in live) for step in range(done)],
        comm_s=comms[:done, live].max(axis=1).tolist(),
        replicas=[replicas[rank] for rank in live] if stopped is None else [],
        network=net,
        compute_start_s=starts.T.tolist(),
        finish_s=[float(ends[-1, rank]) if setup.steps else 0.0 for rank in range(n)],
        compute_spans=[[(float(starts[step, rank]), float(starts[step, rank]) + computing[rank][step])
                        for step in range(setup.steps) if np.isfinite(losses[step, rank])] for rank in range(n)],
        stopped=stopped,
        crashed=crashed,
        dropped=net.shared.get(DROPPED, []),
    )


def replicas_identical(replicas: list[Params]) -> bool:
    """True when every worker ends with bit-identical parameters."""
    first = replicas[0]
    return all(all(np.array_equal(first[key], other[key], equal_nan=True) for key in first) for other in replicas[1:])
