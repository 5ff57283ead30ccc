"""Budgets before work: each run's messages, events and memory estimated from the scenario alone, and a
run above the limits refused with one line, instead of running for hours or dying out of memory.

The estimates come from the closed forms (each algorithm's ``cost`` gives its message count; training
multiplies by the steps) and from what the engines hold:

* **messages**: what the message or schedule engine moves (the closed-form count; NCCL's channelled ring
  and tree by their formulas).
* **events**: the engine's work. The message engine takes about ``EVENTS_PER_MESSAGE`` SimPy events per
  message; the schedule engine moves a round's transfers as arrays, about ``TRANSFERS_PER_EVENT`` for the
  price of an event where no two share a link, ``SHARED_TRANSFERS_PER_EVENT`` where they do (its fluid way
  recomputes the rates of those in flight at each start and end), ``NCCL_TRANSFERS_PER_EVENT`` for NCCL's
  channels (they share NICs and NVLink, but each round moves channels × n transfers at once); on
  both, messages in flight together that share links cost ``CONTENTION`` events
  each per message (max-min rates recomputed; ~n² per message for an all-to-all on a torus; none on the schedule
  engine for ``PAIRED`` rounds on ``OWN_LINKS``, an all-to-all on a star); building the
  topology, about ``EVENTS_PER_GRAPH_ELEMENT`` per node or link; real data, an event per
  ``ELEMENTS_PER_EVENT`` elements drawn, added or checked. A loaded 2-core machine does about
  ``EVENTS_PER_SECOND`` (1 M ring messages in 6 s on the message engine), the time a refusal quotes.
* **memory**: the topology (graph, links and routes), the messages in flight, the message log when one is
  kept (``LOG_BYTES_PER_MESSAGE``) and, in a disturbed run, the walks of the critical path and the idle
  times over it (``ANALYSIS_BYTES_PER_MESSAGE``), real data (every worker's buffer, its result and the
  reference's copies: ``DATA_COPIES`` × n·p·w) and, in training, the dataset and each replica's state.

Limits: ``memory`` defaults to 80 % of the memory available when the scenario is loaded (less under a
``ulimit -v`` or a container's limit), ``events`` to
2e8 (~67 M messages on the message engine: 5 to 10 minutes), ``messages`` to 1e10 (a ring all-reduce of
65,536 ranks sends 8.6e9: messages the schedule engine only counts cost no memory); the environment variable ``COMMSIM_BUDGET`` (``"memory=8 GB,
events=1e9"``) and a scenario's ``budget:`` mapping override them, the scenario last. ``engine: analytic``
answers from the closed forms and is never refused (with ``model: nccl`` it still builds the cluster).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import units
from .errors import CommsimError, TopologyError, shown

ENV = "COMMSIM_BUDGET"
EVENTS_PER_MESSAGE = 3  # send, end of transmission, delivery
# The schedule engine, measured (benchmarks/bench_scale.py prints both beside these, 2 cores shared by 4 jobs):
# ring all-reduce on a star, n = 4096, 33.5 M transfers in 5.4 s (6.2 M a second: 12 per event at
# EVENTS_PER_SECOND); the algorithms that are not ring-like, 3 per event (all-to-all on a star, n = 256 to 2,048:
# 65,280 to 4,192,256 transfers at 1.3 to 2.6 M a second of CPU, 2.6 to 5.2 per event; where their transfers
# share links the CONTENTION term prices the rates recomputed).
# NCCL's channels share NICs and NVLink, but its rounds are wide (16 channels × n transfers): its ring all-reduce
# of 1 GiB on N × 8 H100, 16 channels, preset and fabric included, ``.venv/bin/python benchmarks/bench_scale.py``'s
# scenario, CPU (time.process_time) on 2 cores shared by 3 jobs: N = 64, 8,372,224 transfers in 1.62 s (5.2 M a
# second, 10 per event); N = 128, 33,521,664 in 4.60 s (7.3 M, 15 per event); N = 512, 536,739,840 in 36.6 s
# (14.7 M, 29 per event); N = 1,024, 2,147,221,504 in 184 s (11.7 M, 23 per event; 235 MB peak). 16 per event
# puts these at 0.66×, 0.92×, 1.8× and 1.5× their CPU time (32 × 8: 0.37×; below, under a second, the estimate is
# low: each round costs ~1.5 ms besides its transfers). NCCL's tree moves only 0.2-0.3 M a second; its CONTENTION
# term prices the rest (64 and 128 × 8 H100, Simple: estimate 1.2× and 1.8× the CPU time).
TRANSFERS_PER_EVENT = 12
SHARED_TRANSFERS_PER_EVENT = 3
NCCL_TRANSFERS_PER_EVENT = 16
EVENTS_PER_SECOND = 5e5
EVENTS_PER_GRAPH_ELEMENT = 3  # ~5 µs to build and validate a node or link, ~1.7 µs an event
ELEMENTS_PER_EVENT = 32
BYTES_PER_GRAPH_ELEMENT = 1000  # networkx node or edge with attributes, the network's links and routes
# A message in flight on the message engine: its flow (also its delivery event), timer slot, links' entries,
# the round's columns (all-to-all on a star, n = 512: 262 k in flight and as many routes, 250 MB peak RSS less
# 54 MB before the run = 749 B each with its route; tracemalloc at n = 256: about 500 B the message, 200 B
# its route); on the schedule engine, a transfer of the rounds in flight as columns of arrays (all-to-all,
# n = 1024: 1 M transfers, 360 MB peak)
BYTES_PER_MESSAGE_IN_FLIGHT = 600
BYTES_PER_TRANSFER_IN_FLIGHT = 400
BYTES_PER_ROUTE = 250
LOG_BYTES_PER_MESSAGE = 34  # route, bytes, start, end (8 each), phase (2)
# the schedule engine keeps 8 columns of 8 B a delivered transfer, then builds the message engine's log from them
SCHEDULE_LOG_BYTES_PER_MESSAGE = 64 + LOG_BYTES_PER_MESSAGE
# A disturbed run's critical path and idle times hold each logged message as Python tuples while they walk
# the log (tracemalloc: 290 B a message at 32,512 messages, the whole run's peak 300 B a message above its
# log at 130,560): 350 keeps the estimate above the peak at scale
ANALYSIS_BYTES_PER_MESSAGE = 350
DATA_COPIES = 3  # buffers, results, and a copy in flight or in the check (measured: 2.1-2.9)
DEFAULT_EVENTS = 2e8
DEFAULT_MESSAGES = 1e10
KEYS = ("memory", "messages", "events")
_REAL_DATASETS = {"digits": (1797, 64, 10), "breast_cancer": (569, 30, 2)}  # samples, features, classes


@dataclass(frozen=True)
class Limits:
    """What one run may take: bytes of memory, messages, events."""

    memory: float
    messages: float
    events: float


@dataclass(frozen=True)
class Estimate:
    """What one run is expected to take."""

    messages: int
    events: int
    memory: int


def _machine_memory() -> int:
    """MemAvailable from /proc/meminfo, else half the RAM, else 4 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _process_limits() -> list[int]:
    """What this process may still take under its own limits: ``ulimit -v`` (RLIMIT_AS) less what it has
    mapped, and a cgroup v2 ``memory.max`` less its ``memory.current``."""
    room = []
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as statm:
                mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            room.append(max(soft - mapped, 0))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            room.append(max(int(limit) - int((cgroup / "memory.current").read_text()), 0))
    except (OSError, ValueError):
        pass
    return room


def available_memory() -> int:
    """Bytes of memory a run can have now: the machine's available memory, or less under this process's
    ``ulimit -v`` or its container's memory limit."""
    return min([_machine_memory(), *_process_limits()])


def parse_limit(key: str, value: Any) -> float:
    """One limit: ``memory`` a size ("8 GB", 8e9), ``messages``/``events`` a count ("1e9"); > 0
    (ValueError otherwise)."""
    if key not in KEYS:
        raise ValueError(f"unknown budget key; known: {', '.join(KEYS)}")
    try:
        limit = units.parse_bytes(value) if key == "memory" else float(units.parse_count(value))
    except OverflowError:
        raise ValueError(f"{shown(value)} is too large") from None
    if not 0 < limit < math.inf:  # equivalent: (<= inf) units refuse infinities first
        raise ValueError("must be > 0")
    return limit


def from_environment(text: str | None = None) -> dict[str, float]:
    """The limits ``COMMSIM_BUDGET`` sets (``"memory=8 GB, events=1e9"``); {} when unset."""
    text = os.environ.get(ENV, "") if text is None else text
    limits = {}
    for item in filter(None, (part.strip() for part in text.replace(";", ",").split(","))):
        key, equals, value = item.partition("=")
        if not equals:
            raise CommsimError(f"{ENV}: expected key=value items like 'memory=8 GB', got {shown(item)}")
        try:
            limits[key.strip()] = parse_limit(key.strip(), value.strip())
        except ValueError as error:
            raise CommsimError(f"{ENV}: {shown(key.strip(), 20, quote=False)}: {error}") from None
    return limits


def limits(scenario_budget: Mapping[str, float] | None = None) -> Limits:
    """The machine's defaults, overridden by ``COMMSIM_BUDGET``, then by the scenario's ``budget:``."""
    chosen = {"memory": 0.8 * available_memory(), "messages": DEFAULT_MESSAGES, "events": DEFAULT_EVENTS}
    chosen.update(from_environment())
    chosen.update({key: value for key, value in (scenario_budget or {}).items() if value is not None})
    return Limits(**chosen)


# -- estimates --------------------------------------------------------------------------------------------


def _collective_messages(algorithm: str, n: int, p: int, w: int, servers: int, gpus_per_node: int | None) -> int:
    """Messages of one collective, from its closed form."""
    from .collectives import get
    from .collectives.cost import LinkCost

    if n <= 1:
        return 0
    cost = get(algorithm).cost
    if cost is None:  # an algorithm without a closed form: n² messages of every kind is the most any sends
        # equivalent: every algorithm a scenario can name has a closed form (built in, or an imported
        # schedule's); this bound is for ones registered from code
        return 2 * n * n
    return sum(cost(n, p, w, LinkCost(0.0, 0.0, 0.0, max(servers, 1), gpus_per_node)).message_bytes.values())


def _nccl_messages(algorithm: str, n: int, p: int, w: int, channels: int, protocol: str = "auto",
                   one_node: bool = True) -> int:
    """NCCL's ring (n·2(n−1) per channel), pipelined tree (2(n−1) per tree chunk, chunks no smaller than the
    protocol's smallest) or NVLS on one node (2n + 2 per piece, n pieces a loop of a channel, pieces ≥ 16 KiB),
    the largest for auto."""
    from .collectives.nccl.table import NVLS_CHUNK_STEPS
    from .collectives.nccl.tree import MIN_CHUNK_BYTES, chunk_bytes

    if n <= 1:  # equivalent: (< 1) both formulas give 0 for one rank
        return 0
    # equivalent: (0, 1, 1 as 1 or 2) a channel under one chunk halves to the floors whatever its nodes and ppn
    smallest = MIN_CHUNK_BYTES if protocol == "auto" else chunk_bytes(protocol, 0, 1, 1)
    ring = channels * n * 2 * (n - 1)
    chunks = channels + p * w // smallest
    tree = chunks * 2 * (n - 1)
    nvls = (channels * n + p * w // NVLS_CHUNK_STEPS[-1][1]) * (2 * n + 2) if one_node else 0
    blocks = channels * n * (n - 1)  # NCCL's ring reduce-scatter and all-gather, its all-to-all's parts
    pipelined = (channels + p * w // smallest) * (n - 1)  # broadcast, reduce: chunks down a chain
    return {"ring_allreduce": ring, "double_binary_tree": tree, "nvls": nvls, "reduce_scatter": blocks,
            "all_gather": blocks, "alltoall": blocks, "broadcast": pipelined, "reduce": pipelined}.get(
                algorithm, max(ring, tree, nvls))


_MACHINES: dict[tuple[str, int, str], Any] = {}


def _nccl_machine(run: Any, n: int) -> Any:
    """NCCL's view of the run's cluster (``collectives.nccl.model.Machine``), None where it cannot be built;
    built once per topology, size and algorithm (a sweep's runs share them)."""
    from .collectives.nccl import model

    key = (run.topology.model_dump_json(), n, run.algorithm)
    if key not in _MACHINES:
        # equivalent: (256 as 257, >= as >) the cache's bound changes what is kept, not an estimate
        if len(_MACHINES) >= 256:  # bounded: a long sweep's clusters come and go
            _MACHINES.clear()
        try:
            _MACHINES[key] = model.machine(run.topology.build(n, [run.algorithm]))
        except (TopologyError, ValueError, KeyError):
            _MACHINES[key] = None
    return _MACHINES[key]


def _nccl_channels(scenario: Any, machine: Any) -> int:
    """The channels NCCL's calls run on: the scenario's, or with ``auto`` the most NCCL's search gives this
    cluster (its ring and tree channels, its NVLS channels on one node); 64 (NCCL's MAXCHANNELS) where the
    cluster cannot be read."""
    if scenario.channels != "auto":
        return int(scenario.channels)
    if machine is None:
        return 64
    from .collectives.nccl import model

    nvls = model.nvls_graph(machine)
    # equivalent: (else 0 as 1) NCCL's search gives at least one ring channel
    return max(model.channels(machine).comm, nvls.channels if nvls is not None else 0)


def _one_node(topology: Any, n: int) -> bool:
    """Whether a cluster's n workers fit in one node (where NCCL may run NVLS): ``nodes: 1``, or n within
    ``gpus_per_node`` (the preset's when not given: 8, or 1 for ``ethernet``)."""
    from .network.options import PRESETS

    options = topology.options
    if options.get("nodes"):
        return units.parse_count(options["nodes"]) == 1
    return n <= units.parse_count(options.get("gpus_per_node") or PRESETS[options["preset"]].gpus_per_node)


def _in_one_round(algorithm: str, n: int, servers: int) -> int:
    """Messages that may be in flight at once: every pair for all-to-all, a push per worker and server
    for the parameter servers, two per rank for the others."""
    if algorithm == "all_to_all":
        return n * (n - 1)
    if "parameter_server" in algorithm:
        return n * max(servers, 1)
    return 2 * n


RING_LIKE = frozenset({"ring_allreduce", "reduce_scatter", "all_gather", "hierarchical_ring"})
"""Algorithms whose messages go to a neighbour each round: no two share a link, nothing to recompute."""

CONTENTION = {"star": 0.0005, "fully_connected": 0.001, "hierarchical": 0.001, "cluster": 0.002, "tree": 0.005,
              "ring": 0.02, "hypercube": 0.02, "fat_tree": 0.05, "torus": 0.1, "from_file": 0.1}
"""Events per message for each other message in flight that may share its links (measured, rounded up):
every start and end of a transfer recomputes the max-min rates of the transfers it shares links with, so
an all-to-all costs ~n² per message where routes cross (torus: 1.5 ms a message at n = 128, on both
engines) and next to nothing where one switch joins everything (star: 16 µs at n = 256)."""


PAIRED = frozenset({"all_to_all", "recursive_doubling", "rabenseifner"})
"""Algorithms each of whose rounds sends at most one message from and to each rank (shifts, pairwise exchanges)."""
OWN_LINKS = frozenset({"star", "fully_connected"})
"""Topologies where no two messages of such a round share a link: each rank has its own links. The schedule engine
moves those rounds whole, nothing recomputed (measured, CPU: all-to-all on a star, n = 1,024 and 2,048, 1,047,552
and 4,192,256 transfers in 0.77 and 2.7 s; on a fully connected 512, 261,632 in 1.2 s with the graph built:
without ``CONTENTION`` the estimates are 0.93×, 1.03× and 0.83× those times, with it 1,400×, 6,400× and 120×)."""


def _contending(algorithm: str, n: int, servers: int, kind: str, engine: str) -> int:
    """Messages in flight at once that may share links: none for ring-like algorithms, nor on the schedule engine
    for those whose rounds pair ranks on topologies that give each rank its own links."""
    if algorithm in RING_LIKE or (engine == "schedule" and algorithm in PAIRED and kind in OWN_LINKS):
        return 0
    return _in_one_round(algorithm, n, servers)


def _transfers_per_event(scenario: Any, algorithm: str) -> int:
    """The schedule engine's transfers for the price of an event: NCCL's (channels sharing links, in wide
    rounds); fewer where textbook transfers in flight share links (every algorithm that is not ring-like)."""
    if scenario.model == "nccl":
        return NCCL_TRANSFERS_PER_EVENT
    return TRANSFERS_PER_EVENT if algorithm in RING_LIKE else SHARED_TRANSFERS_PER_EVENT


def _moving_events(scenario: Any, algorithm: str, messages: int, engine: str) -> int:
    """The events that move ``messages``: the schedule engine's transfers a batch per event, else
    ``EVENTS_PER_MESSAGE`` each."""
    if engine == "schedule":
        return messages // _transfers_per_event(scenario, algorithm)
    return EVENTS_PER_MESSAGE * messages


def _contention_events(kind: str, algorithm: str, messages: int, n: int, servers: int, engine: str) -> int:
    """The rate recomputations of ``messages`` that may share links: ``CONTENTION`` of the topology for each
    against every other in flight at once."""
    return int(messages * CONTENTION.get(kind, 0.1) * min(messages, _contending(algorithm, n, servers, kind, engine)))


def _graph_elements(topology: Any, n: int, servers: int) -> int:
    from .network.options import size

    return size(topology.kind, n, servers, topology.options)


def estimate(scenario: Any, run: Any, keep_log: bool = False) -> Estimate:
    """Messages, events and peak bytes of one run (``run``: a point of ``scenario.runs()``). With stragglers
    or faults a run is simulated twice, its uniform twin (no log) and then itself (its log kept for the
    idle times and the critical path): twice the messages and events, the memory of the second with the
    walks over its log."""
    if getattr(scenario, "disturbed", False):
        once = _estimate(scenario, run, keep_log=True)
        return Estimate(2 * once.messages, 2 * once.events, once.memory + ANALYSIS_BYTES_PER_MESSAGE * once.messages)
    return _estimate(scenario, run, keep_log)


def _estimate(scenario: Any, run: Any, keep_log: bool = False) -> Estimate:
    """:func:`estimate` of one simulation."""
    if scenario.training is not None:
        return _training_estimate(scenario, run, keep_log)
    if getattr(scenario, "workload", None) is not None:
        return _workload_estimate(scenario, run, keep_log)
    n, p, w = run.workers, run.params, units.ITEMSIZE[run.dtype]
    topology = run.topology
    servers = topology.server_count([run.algorithm])  # 0 unless the algorithm needs a server
    elements = _graph_elements(topology, n, servers)
    engine = _engine(scenario)
    if engine == "analytic":  # only model nccl gets here: it builds the cluster, then answers
        return Estimate(0, EVENTS_PER_GRAPH_ELEMENT * elements, BYTES_PER_GRAPH_ELEMENT * elements)
    if scenario.model == "nccl":
        channels = _nccl_channels(scenario, _nccl_machine(run, n))
        messages = _nccl_messages(run.algorithm, n, p, w, channels, scenario.protocol, _one_node(topology, n))
    else:
        options = topology.options
        g = options.get("gpus_per_node")
        messages = _collective_messages(run.algorithm, n, p, w, servers, units.parse_count(g) if g else None)
    events = EVENTS_PER_GRAPH_ELEMENT * elements
    memory = BYTES_PER_GRAPH_ELEMENT * elements
    in_flight = min(messages, _in_one_round(run.algorithm, n, servers))
    events += _contention_events(topology.kind, run.algorithm, messages, n, servers, engine)
    events += _moving_events(scenario, run.algorithm, messages, engine)
    if engine == "schedule":
        memory += BYTES_PER_TRANSFER_IN_FLIGHT * in_flight
    else:
        events += 2 * n
        memory += BYTES_PER_MESSAGE_IN_FLIGHT * in_flight + BYTES_PER_ROUTE * min(messages, in_flight * 8)
        memory += LOG_BYTES_PER_MESSAGE * messages if keep_log else 0
    if keep_log and engine == "schedule":
        memory += SCHEDULE_LOG_BYTES_PER_MESSAGE * messages
    if scenario.payload == "data":
        events += (2 * n * p + messages * p // n) // ELEMENTS_PER_EVENT
        memory += DATA_COPIES * n * p * w + 3 * 8 * p
    return Estimate(messages, events, memory)




def _training_estimate(scenario: Any, run: Any, keep_log: bool) -> Estimate:
    """A training run: its collective's messages each step, the workers' gradient work (a forward and
    backward pass over each batch, ``ELEMENTS_PER_EVENT × 8`` multiply-adds an event: BLAS is fast), and
    memory for the dataset, each replica's state and the per-step curves."""
    from .training.models import build_model

    spec = scenario.training
    samples, features, classes = _REAL_DATASETS.get(spec.dataset, (spec.samples, spec.features, spec.classes))
    if spec.model == "linear_regression":
        classes = 0
    options = {"hidden": spec.hidden} if spec.model == "mlp" else {}
    params = build_model(spec.model, features, classes, **options).n_params
    n, steps = run.workers, spec.steps
    wire = run.optimizer.wire
    w = {"fp64": 8, "fp32": 4, "fp16": 2, "sign": 1}[wire]  # equivalent: no message count depends on it
    p_on_wire = -(-params // 8) + 4 if wire == "sign" else params
    servers = run.topology.server_count([run.algorithm])
    per_step = _collective_messages(run.algorithm, n, p_on_wire, w, servers, None)
    elements = _graph_elements(run.topology, n, servers)
    data = scenario.payload == "data"
    work_per_step = n * (spec.batch_per_worker * params + 2 * params) if data else 0  # each worker: batch, update
    engine = _engine(scenario)
    contention = _contention_events(run.topology.kind, run.algorithm, per_step, n, servers, engine)
    moving = _moving_events(scenario, run.algorithm, per_step, engine) + (100 * n if engine != "schedule" else 0)
    events = (EVENTS_PER_GRAPH_ELEMENT * elements + steps * (moving + contention)
              + steps * work_per_step // (ELEMENTS_PER_EVENT * 8))
    in_flight = min(per_step, _in_one_round(run.algorithm, n, servers))
    memory = (BYTES_PER_GRAPH_ELEMENT * elements + 8 * samples * (features + 1) + 8 * samples * (spec.hidden + classes)
              + (8 * params * DATA_COPIES * 3 * n if data else 0) + 4 * 8 * steps * n
              + (BYTES_PER_MESSAGE_IN_FLIGHT + 8 * p_on_wire) * in_flight
              + (LOG_BYTES_PER_MESSAGE * steps * per_step if keep_log else 0))
    return Estimate(steps * per_step, events, memory)


def _workload_estimate(scenario: Any, run: Any, keep_log: bool) -> Estimate:
    """A training step of a workload: the messages of each of its calls (reduce-scatters, all-gathers and
    all-reduces of its buckets or units), moved as a collective's are; on the schedule engine, with nothing
    going wrong and no log kept (a disturbed run keeps its log), of each distinct call once (the engine's chain of
    calls)."""
    n = run.workers
    servers = run.topology.server_count([run.algorithm])  # 0 unless the algorithm needs a server
    elements = _graph_elements(run.topology, n, servers)
    engine = _engine(scenario)
    events, memory, messages = EVENTS_PER_GRAPH_ELEMENT * elements, BYTES_PER_GRAPH_ELEMENT * elements, 0
    if engine == "analytic":
        return Estimate(0, events, memory)
    spec = scenario.workload
    calls = spec.calls(run.strategy, n, run.bucket_cap)
    if engine == "schedule" and not keep_log:
        calls = list(dict.fromkeys(calls))  # a chain of calls: each distinct call simulated once (run_program)
    machine = _nccl_machine(run, n) if scenario.model == "nccl" else None
    # equivalent: (else 1 as 2) the channels are read only under model nccl
    channels = _nccl_channels(scenario, machine) if scenario.model == "nccl" else 1
    protocol = scenario.protocol
    if protocol == "auto" and machine is not None and calls:  # one protocol for the step: NCCL's for its largest call
        from .collectives.nccl import model

        protocol = model.choose(machine, max(p * w for p, w in (spec.on_wire(kind, count) for kind, count in calls))).protocol
    for kind, count in calls:
        p, w = spec.on_wire(kind, count)
        algorithm = run.algorithm if kind == "allreduce" else kind
        one = (_nccl_messages(algorithm, n, p, w, channels, protocol, _one_node(run.topology, n)) if scenario.model == "nccl"
               else _collective_messages(algorithm, n, p, w, servers, None))
        messages += one
        events += _contention_events(run.topology.kind, algorithm, one, n, servers, engine)
    events += _moving_events(scenario, run.algorithm, messages, engine)
    memory += 2 * n * (BYTES_PER_TRANSFER_IN_FLIGHT if engine == "schedule" else 8 * BYTES_PER_MESSAGE_IN_FLIGHT)
    memory += (SCHEDULE_LOG_BYTES_PER_MESSAGE if engine == "schedule" else LOG_BYTES_PER_MESSAGE) * messages if keep_log else 0
    return Estimate(messages, events, memory)


# -- the check --------------------------------------------------------------------------------------------

MAX_RUNS = 100_000


def run_count(scenario: Any) -> int:
    """How many runs the scenario's sweep expands to, without expanding it."""
    if scenario.training is not None:
        sizes = len(scenario.training.optimizer)
    elif getattr(scenario, "workload", None) is not None:
        sizes = len(scenario.workload.strategy) * len(scenario.workload.bucket_cap)
    else:
        sizes = len(scenario.dtype) * len(scenario.size if scenario.size is not None else scenario.params or ())
    return len(scenario.networks) * len(scenario.algorithms) * len(scenario.workers) * sizes



def _count(x: float) -> str:
    """1234567 → "1.2e6"; small counts as they are."""
    if x < 10_000:
        return f"{x:.0f}"
    exponent = int(math.floor(math.log10(x)))
    return f"{x / 10**exponent:.1f}e{exponent}"


def _minutes(events: float) -> str:
    """The time ``events`` take at ``EVENTS_PER_SECOND``: "~9 min"; under a minute "~40 s", "~0.24 s"."""
    seconds = events / EVENTS_PER_SECOND
    return f"~{seconds:.2g} s" if seconds < 60 else f"~{seconds / 60:,.0f} min"


def _suggestion(scenario: Any, key: str) -> str:
    if scenario.training is not None:
        return "fewer workers, steps or a smaller model"
    tries = []
    if key == "memory" and scenario.payload == "data":
        tries.append("payload: size-only")
    tries.append("fewer workers")
    if _engine(scenario) == "message" and scenario.payload == "size-only" and key != "memory":
        tries.append("engine: schedule")
    tries.append("engine: analytic")
    return ", ".join(tries[:-1]) + " or " + tries[-1]


def _engine(scenario: Any) -> str:
    """The engine that runs the scenario's points (``auto`` resolved)."""
    picked = getattr(scenario, "engine_picked", None)
    return picked[0] if picked is not None else scenario.engine


def check(scenario: Any, keep_log: bool = False) -> None:
    """Refuse the scenario's first run that needs more than the limits, or the runs whose events together
    exceed the events limit: a ``CommsimError`` line naming the budget key, the run(s), the estimate, the
    limit and what to try instead."""
    if scenario.engine == "analytic" and scenario.model != "nccl":
        return
    budget = scenario.budget.model_dump() if getattr(scenario, "budget", None) is not None else None
    limit = limits(budget)
    count = run_count(scenario)
    if count > MAX_RUNS:
        raise CommsimError(f"the sweep is {count:,} runs (topologies × algorithms × workers × sizes); at most "
                           f"{MAX_RUNS:,} in one scenario")
    logs = 0  # the message logs of earlier runs, kept until the results are written
    total = 0  # the events of every run so far: the scenario as a whole is held to the limit too
    for index, run in enumerate(scenario.runs(), start=1):
        if run.unavailable is not None:
            continue
        guess = estimate(scenario, run, keep_log)
        total += guess.events
        logs += LOG_BYTES_PER_MESSAGE * guess.messages if keep_log else 0  # equivalent: (else 1) read only if kept
        memory = guess.memory + (logs - LOG_BYTES_PER_MESSAGE * guess.messages if keep_log else 0)
        for key, amount, allowed in (("memory", memory, limit.memory), ("events", guess.events, limit.events),
                                     ("messages", guess.messages, limit.messages)):
            if amount > allowed:
                shown_amount, shown_limit = ((units.format_bytes(amount), units.format_bytes(allowed)) if key == "memory"
                                             else (f"{_count(amount)} {key}", _count(allowed)))
                shown_amount += f" ({_minutes(amount)})" if key == "events" else ""
                what = f"{run.algorithm} on {shown(run.topology.title, 30, quote=False)}, n={run.workers}"
                what += f", p={_count(run.params)}" if run.params is not None else ""
                raise CommsimError(f"budget.{key}: run {index} ({what}) needs ~{shown_amount}, over the limit of "
                                   f"{shown_limit}; try {_suggestion(scenario, key)}")
        if total > limit.events:
            raise CommsimError(f"budget.events: runs 1 to {index} together need ~{_count(total)} events "
                               f"({_minutes(total)}), over the limit "
                               f"of {_count(limit.events)}; try fewer runs, {_suggestion(scenario, 'events')}")
