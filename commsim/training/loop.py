"""Data-parallel training inside the simulation: gradient → collective → optimizer update.

Every worker holds a shard of the data and a replica of the parameters. Each step it computes
its gradient on a batch (the compute time advances the simulated clock), runs the collective on
the gradient in the chosen wire format, and applies the ``optim`` update. With all-to-all and
ring all-reduce every worker applies the same update to its own replica; with the parameter
server the server applies it and the workers pull the parameters (with the ``sign`` wire format
the server returns the majority vote instead, and the workers apply it). Replicas stay identical.

A run is a program (``commsim.engines.program``: per step, compute, then the collective) that the message
engine executes with :class:`TrainingHooks` doing the numpy work; crashes, failing links and stragglers
are the program's faults, as for any collective.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import optim

from ..engines.message import Hooks
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
    finish_s: list[float] = field(default_factory=list)  # [rank]: when the worker finished its last step
    compute_spans: list[list[tuple[float, float]]] = field(default_factory=list)  # [rank]: (start, end) per step
    network: Any = None  # the engine's record (messages, the log)


def train(setup: TrainingSetup, algorithm: str, graph: Any, n: int, keep_log: bool = True) -> TrainingTrace:
    """``setup.steps`` synchronous data-parallel steps of ``algorithm`` on ``graph`` on the message engine,
    every worker computing its model's time per step (a shorthand; a scenario's points go through plans)."""
    from ..collectives.schedule import schedule_for
    from ..engines.message import run_program
    from ..engines.program import steps
    from ..engines.schedule import participant_nodes
    from ..network import topology as topologies

    servers = topologies.servers(graph)
    used = servers[:1] if algorithm == "parameter_server" else servers
    hooks = TrainingHooks(setup, algorithm, n)
    p, w = hooks.buffer_elements()
    schedule = schedule_for(algorithm, n, p, w, len(used), graph.graph.get("gpus_per_node"))
    compute = setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second
    program = steps(schedule, participant_nodes(schedule, n, used), n, np.full(n, compute), setup.steps, used)
    record = run_program(program, graph, keep_log=keep_log, hooks=hooks)
    trace = trace_of(record, hooks, setup.steps, n, np.full((setup.steps, n), compute))
    trace.network = record
    return trace


def _copy(params: Params) -> Params:
    return {key: value.copy() for key, value in params.items()}


def _apply(optimizer: optim.GradientTransformation, gradient: Params, state: Any, params: Params) -> tuple[Params, Any]:
    updates, state = optimizer.update(gradient, state, params)
    return optim.apply_updates(params, updates), state


def server_applies(setup: TrainingSetup, algorithm: str, n: int) -> bool:
    """Only the single parameter server applies the update itself (and sends parameters back); sharded
    servers, and any server voting signs, return the mean."""
    return algorithm == "parameter_server" and n > 1 and not setup.wire.is_sign


class TrainingHooks(Hooks):
    """Every worker training, driven by the message engine's program (:func:`training_program`): at its
    compute task it computes its gradient on its batch, the collective carries that gradient in the wire
    format, and the result updates its replica with the ``optim`` update (or, where the parameter server
    applies the step, is its new parameters); the server keeps parameters and optimizer state of its own."""

    def __init__(self, setup: TrainingSetup, algorithm: str, n: int) -> None:
        super().__init__(buffers=[], itemsize=np.dtype(setup.wire.dtype).itemsize)
        self.setup, self.n = setup, n
        self.wire_bytes = setup.wire.nbytes
        self.initial = setup.model.init(np.random.default_rng(setup.seed))
        self.layout = ParamLayout(self.initial)
        shards = shard(setup.dataset, n, setup.seed)
        self.batches = [Batches(shards[rank], setup.batch_per_worker, setup.seed, rank) for rank in range(n)]
        self.params = [_copy(self.initial) for _ in range(n)]
        self.optimizers = [setup.optimizer() for _ in range(n)]
        self.states = [opt.init(params) for opt, params in zip(self.optimizers, self.params)]
        self.gradients: list[Any] = [None] * n
        self.losses = np.full((setup.steps, n), np.nan)
        self.applies = server_applies(setup, algorithm, n)

    def compute(self, rank: int, task: int) -> None:
        X, y = self.batches[rank].batch(task // 2)
        self.losses[task // 2, rank], self.gradients[rank] = self.setup.model.loss_and_grad(self.params[rank], X, y)

    def buffer(self, rank: int, task: int, call: Any) -> np.ndarray:
        return self.setup.wire.encode(self.layout.flatten(self.gradients[rank]))

    def result(self, rank: int, task: int, value: Any) -> None:
        if self.applies:
            self.params[rank] = self.layout.unflatten(value)
        else:
            gradient = self.layout.unflatten(self.setup.wire.decode(value))
            self.params[rank], self.states[rank] = _apply(self.optimizers[rank], gradient, self.states[rank],
                                                          self.params[rank])

    def respond(self, server: Any, task: int) -> Any:
        wire = self.setup.wire
        if wire.is_sign:
            return wire.vote
        if not self.applies:
            return None
        if not hasattr(self, "server_state"):
            self.server_params, self.server_optimizer = _copy(self.initial), self.setup.optimizer()
            self.server_state = self.server_optimizer.init(self.server_params)

        def step_and_send_params(mean: np.ndarray) -> np.ndarray:
            gradient = self.layout.unflatten(wire.decode(mean))
            self.server_params, self.server_state = _apply(self.server_optimizer, gradient, self.server_state,
                                                           self.server_params)
            return self.layout.flatten(self.server_params).astype(wire.dtype)

        return step_and_send_params

    def buffer_elements(self) -> tuple[int, int]:
        """(elements, bytes per element) of the buffer a worker brings to each collective."""
        return self.layout.size + (1 if self.setup.wire.is_sign else 0), np.dtype(self.setup.wire.dtype).itemsize


def trace_of(record: Any, hooks: TrainingHooks | None, steps: int, n: int, compute: np.ndarray) -> TrainingTrace:
    """The training curves from a program's record: per step the loss (mean over the workers still
    running), when its last worker ended it, its longest compute (``compute[step, rank]``) and communication;
    the final replicas (none if the run stopped)."""
    start, end = record.task_start, record.task_end
    crashed = {rank for rank, _ in record.crashed}
    live = [rank for rank in range(n) if rank not in crashed]
    compute_start, compute_end = start[0::2, :n], end[0::2, :n]
    call_end = end[1::2, :n]
    ended = np.isfinite(call_end[:, live]).all(axis=1) if live else np.zeros(steps, dtype=bool)
    done = int(np.argmin(ended)) if not ended.all() else steps
    losses = hooks.losses[:done, live].mean(axis=1).tolist() if hooks is not None and live else []
    crash_at = dict(record.crashed)
    spans = [[(float(compute_start[step, rank]), float(min(compute_end[step, rank], crash_at.get(rank, np.inf),
                                                           record.stopped_at)))
              for step in range(steps) if np.isfinite(compute_start[step, rank])] for rank in range(n)]
    finish = [float(call_end[-1, rank]) if steps and np.isfinite(call_end[-1, rank]) else float("nan")
              for rank in range(n)]
    return TrainingTrace(
        loss=losses,
        step_end_s=call_end[:done, live].max(axis=1).tolist() if live else [],
        compute_s=np.asarray(compute)[:done, live].max(axis=1).tolist() if live else [],
        comm_s=(call_end[:done, live] - compute_end[:done, live]).max(axis=1).tolist() if live else [],
        replicas=[hooks.params[rank] for rank in live] if hooks is not None and record.stopped is None else [],
        finish_s=finish,
        compute_spans=spans,
    )


def replicas_identical(replicas: list[Params]) -> bool:
    """True when every worker ends with bit-identical parameters."""
    first = replicas[0]
    return all(all(np.array_equal(first[key], other[key], equal_nan=True) for key in first) for other in replicas[1:])
