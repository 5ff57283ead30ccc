"""Data-parallel strategies as programs (:mod:`commsim.engines.program`): one training step of a real model
as Compute and Collective tasks with their dependencies, so every engine, model and disturbance runs it.

Per rank, two streams: compute (forward, backward layer by layer in reverse, the optimizer step) and
communication (NCCL calls in the order they are issued, one after the other). A task waits for the tasks it
names (``after``); tasks of the two streams overlap.

* ``ddp`` (PyTorch DistributedDataParallel): gradients go into buckets in reverse layer order; a bucket is
  closed once it holds at least its cap (the first 1 MiB, the rest ``bucket_cap``: PyTorch's
  ``compute_bucket_assignment_by_size`` with ``_DEFAULT_FIRST_BUCKET_BYTES`` and ``bucket_cap_mb = 25``). A
  bucket's all-reduce is launched when the backward of its last layer (the lowest) ends and the previous
  bucket's all-reduce has ended; the optimizer step follows the last all-reduce. Here a layer (or block) is
  bucketed whole, PyTorch buckets tensors.
* ``zero1`` / ``zero2`` (ZeRO stages 1 and 2, Rajbhandari et al. 2020, https://arxiv.org/abs/1910.02054): the same
  buckets, each reduce-scattered when ready; the optimizer step on this rank's shard (1/n of the model);
  then each bucket's parameters all-gathered. The two stages differ in memory only, not in traffic.
* ``zero3`` / ``fsdp``: per unit (a layer or block) its parameters all-gathered before its forward and again
  before its backward, its gradients reduce-scattered after its backward. The all-gather of the next unit is
  issued as the current one starts computing (FSDP's prefetch, ``BACKWARD_PRE``), at most two units gathered
  at once (FSDP's ``limit_all_gathers``): the all-gather for use j waits for the call issued before it and for
  the end of use j − 2. A unit's elements are padded to a multiple of n (FSDP's flat parameter). The sharded
  optimizer step follows the last reduce-scatter.

All of a rank's calls go on one communication stream, each after the call issued before it. (FSDP issues its
all-gathers and reduce-scatters on two streams, which NCCL may run at once; here they queue — no two calls
share the network, so the step's time is the overlap recurrence of the calls' own times.)

Communication per rank for a model of Ψ elements on a ring (the ZeRO paper's accounting): DDP's all-reduce
2Ψ(n−1)/n, ZeRO-1/2's reduce-scatter and all-gather the same, ZeRO-3/FSDP's two all-gathers and a
reduce-scatter 3Ψ(n−1)/n.

Gradient accumulation over k micro-steps: each micro-step computes; gradients are communicated once, during
the last micro-step's backward (PyTorch's ``no_sync``); ZeRO-3/FSDP still gathers parameters every micro-step.
``overlap=False``: the all-reduces start after the last backward, one after the other (NVIDIA's BERT recipe,
``allreduce_post_accumulation``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..engines.program import Collective, Compute, Program, Task

STRATEGIES = ("ddp", "zero1", "zero2", "zero3", "fsdp")
SHARDED = ("zero1", "zero2", "zero3", "fsdp")
FIRST_BUCKET_BYTES = 1024 * 1024  # torch.distributed._DEFAULT_FIRST_BUCKET_BYTES (torch/distributed/constants.py)
BUCKET_CAP_BYTES = 25 * 1024 * 1024  # DistributedDataParallel(bucket_cap_mb=25) (torch/nn/parallel/distributed.py)

MakeCall = Callable[[str, int, tuple[int, ...], str], Collective]
"""make(kind, elements, after, label) → the Collective task of one call on a buffer of that many elements (kind:
``allreduce`` and ``reduce_scatter`` carry gradients, in the wire format; ``all_gather`` parameters)."""


def buckets(params: list[int], element_bytes: int, cap: int = BUCKET_CAP_BYTES,
            first: int = FIRST_BUCKET_BYTES) -> list[list[int]]:
    """Layer indices per bucket, in reverse layer order: a bucket takes layers until it holds at least its cap
    (``first`` for the first bucket, ``cap`` after); layers without parameters make no gradient."""
    out: list[list[int]] = []
    current: list[int] = []
    size, limit = 0, first
    for index in reversed(range(len(params))):
        if not params[index]:
            continue
        current.append(index)
        size += params[index] * element_bytes
        if size >= limit:
            out.append(current)
            current, size, limit = [], 0, cap
    if current:
        out.append(current)
    return out


def padded(elements: int, n: int) -> int:
    """``elements`` rounded up to a multiple of n (a flat parameter sharded evenly)."""
    return -(-elements // n) * n


@dataclass(frozen=True)
class StepShape:
    """What one rank computes in a step: per layer (forward order) its parameters and the forward and backward
    seconds of one micro-batch ([layers, ranks]); the optimizer step of the whole model ([ranks]); the bytes of
    a gradient element as the framework buckets it (its dtype's, before any compression on the wire)."""

    params: list[int]
    forward_s: np.ndarray
    backward_s: np.ndarray
    optimizer_s: np.ndarray
    grad_bytes: int
    bucket_cap: int = BUCKET_CAP_BYTES
    first_bucket: int = FIRST_BUCKET_BYTES
    accumulation: int = 1
    overlap: bool = True
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepProgram:
    """A step's program and, per task, its stream (``compute``, ``optimizer`` or ``comm``)."""

    program: Program
    streams: tuple[str, ...]


class _Builder:
    def __init__(self, workers: int, make: MakeCall) -> None:
        self.workers, self.make = workers, make
        self.tasks: list[Task] = []
        self.streams: list[str] = []

    def add(self, task: Task, stream: str) -> int:
        self.tasks.append(task)
        self.streams.append(stream)
        return len(self.tasks) - 1

    def compute(self, seconds: np.ndarray, after: list[int | None], label: str, stream: str = "compute") -> int:
        return self.add(Compute(np.asarray(seconds, dtype=np.float64), _deps(after), label), stream)

    def call(self, kind: str, elements: int, after: list[int | None], label: str) -> int:
        return self.add(self.make(kind, elements, _deps(after), label), "comm")

    def done(self) -> StepProgram:
        """The program, its servers the non-worker participants of its calls (NCCL's NVSwitch under NVLS)."""
        servers = dict.fromkeys(node for task in self.tasks if isinstance(task, Collective) for node in task.nodes
                                if not isinstance(node, (int, np.integer)))
        return StepProgram(Program(self.workers, tuple(self.tasks), tuple(servers)), tuple(self.streams))


def _deps(after: list[int | None]) -> tuple[int, ...]:
    return tuple(sorted({index for index in after if index is not None}))


def _name(shape: StepShape, index: int) -> str:
    return shape.names[index] if shape.names else f"layer {index}"


def step_program(strategy: str, shape: StepShape, workers: int, make: MakeCall) -> StepProgram:
    """One training step of ``strategy`` as a program (the module docstring says what each does)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    if strategy in ("zero3", "fsdp"):
        return _fully_sharded(shape, workers, make)
    return _bucketed(strategy, shape, workers, make)


def _bucketed(strategy: str, shape: StepShape, workers: int, make: MakeCall) -> StepProgram:
    """DDP (all-reduce per bucket) or ZeRO-1/2 (reduce-scatter per bucket, sharded step, all-gather)."""
    b = _Builder(workers, make)
    groups = buckets(shape.params, shape.grad_bytes, shape.bucket_cap, shape.first_bucket)
    closing = {group[-1]: number for number, group in enumerate(groups)}  # the layer whose gradient completes it
    sharded = strategy != "ddp"
    kind = "reduce_scatter" if sharded else "allreduce"
    what = "reduce-scatter" if sharded else "all-reduce"
    previous: int | None = None  # the compute stream's last task
    last_call: int | None = None
    ready: list[int] = []  # per bucket, the backward task that completes it
    for micro in range(shape.accumulation):
        label = f" (micro-step {micro})" if shape.accumulation > 1 else ""
        previous = b.compute(shape.forward_s.sum(axis=0), [previous], "forward" + label)
        talking = micro == shape.accumulation - 1
        for index in reversed(range(len(shape.params))):
            previous = b.compute(shape.backward_s[index], [previous], f"backward {_name(shape, index)}{label}")
            if talking and index in closing:
                ready.append(previous)
                if shape.overlap:
                    last_call = _bucket_call(b, kind, what, groups, closing[index], shape, workers,
                                             [previous, last_call])
    if not shape.overlap:
        for number in range(len(groups)):
            last_call = _bucket_call(b, kind, what, groups, number, shape, workers, [previous, last_call])
    optimizer_s = shape.optimizer_s / workers if sharded else shape.optimizer_s
    step = b.compute(optimizer_s, [previous, last_call], "optimizer step" + (" (shard)" if sharded else ""),
                     "optimizer")
    if sharded:
        last_call = None
        for number, group in enumerate(groups):
            elements = padded(sum(shape.params[i] for i in group), workers)
            last_call = b.call("all_gather", elements, [step, last_call],
                               f"bucket {number} all-gather")
    return b.done()


def _bucket_call(b: _Builder, kind: str, what: str, groups: list[list[int]], number: int, shape: StepShape,
                 workers: int, after: list[int | None]) -> int:
    elements = sum(shape.params[i] for i in groups[number])
    if kind == "reduce_scatter":
        elements = padded(elements, workers)
    return b.call(kind, elements, after, f"bucket {number} {what}")


def _fully_sharded(shape: StepShape, workers: int, make: MakeCall) -> StepProgram:
    """ZeRO-3 / FSDP: per use of a unit (its forward, its backward) an all-gather first, issued as the use
    before it starts (prefetch); after each backward of the last micro-step a reduce-scatter of its
    gradients. One communication stream: each call after the one issued before it."""
    b = _Builder(workers, make)
    uses: list[tuple[int, str, int]] = []  # (layer, phase, micro-step) in compute order
    for micro in range(shape.accumulation):
        uses += [(index, "forward", micro) for index in range(len(shape.params))]
        uses += [(index, "backward", micro) for index in reversed(range(len(shape.params)))]
    computes: list[int] = []
    gathered: dict[int, int] = {}  # use → its all-gather task
    stream: int | None = None  # the last call issued

    def gather(j: int) -> None:
        nonlocal stream
        index, phase, micro = uses[j]
        if shape.params[index]:
            label = f" (micro-step {micro})" if shape.accumulation > 1 else ""
            two_back = computes[j - 2] if j >= 2 else None  # at most two units gathered at once
            stream = gathered[j] = b.call("all_gather", padded(shape.params[index], workers), [stream, two_back],
                                          f"all-gather {_name(shape, index)} ({phase[:3]}){label}")

    gather(0)
    for j, (index, phase, micro) in enumerate(uses):
        if j + 1 < len(uses):
            gather(j + 1)  # prefetch: issued as use j starts
        label = f" (micro-step {micro})" if shape.accumulation > 1 else ""
        seconds = (shape.forward_s if phase == "forward" else shape.backward_s)[index]
        computes.append(b.compute(seconds, [computes[-1] if computes else None, gathered.get(j)],
                                  f"{phase} {_name(shape, index)}{label}"))
        if phase == "backward" and micro == shape.accumulation - 1 and shape.params[index]:
            stream = b.call("reduce_scatter", padded(shape.params[index], workers), [computes[-1], stream],
                            f"reduce-scatter {_name(shape, index)}")
    b.compute(shape.optimizer_s / workers, [computes[-1], stream], "optimizer step (shard)", "optimizer")
    return b.done()


def call_sizes(strategy: str, params: list[int], workers: int, grad_bytes: int, bucket_cap: int = BUCKET_CAP_BYTES,
               first_bucket: int = FIRST_BUCKET_BYTES, accumulation: int = 1, overlap: bool = True) -> list[tuple[str, int]]:
    """(kind, elements) of every call of one step, in program order: the program without compute or network."""
    made: list[tuple[str, int]] = []

    def make(kind: str, elements: int, after: tuple[int, ...], label: str) -> Collective:
        made.append((kind, elements))
        return Collective(None, (), after, label)  # type: ignore[arg-type]

    zeros = np.zeros((len(params), workers))
    shape = StepShape(params, zeros, zeros, np.zeros(workers), grad_bytes, bucket_cap, first_bucket, accumulation,
                      overlap)
    step_program(strategy, shape, workers, make)
    return made


def uniform_times(program: Program, call_s: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of every task [tasks, ranks] when each collective takes ``call_s[task]`` from the moment its
    last participant joins and every rank leaves it then: start = max over the tasks it waits for of their
    end; a compute ends ``seconds`` later, a collective ``call_s`` after its latest start."""
    tasks, n = len(program.tasks), program.workers
    start, end = np.zeros((tasks, n)), np.zeros((tasks, n))
    for index, task in enumerate(program.tasks):
        ready = np.max(end[list(task.after)], axis=0) if task.after else np.zeros(n)
        start[index] = ready
        if isinstance(task, Compute):
            end[index] = ready + task.seconds
        else:
            end[index] = ready.max() + call_s[index]
    return start, end
