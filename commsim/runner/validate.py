"""``commsim validate``: commsim's NCCL mode and NCCL's own cost model, configured from presets and line
rates only, against collective times measured with nccl-tests on real clusters (``validation/``) or on
the user's own (``commsim validate RUN.out …``).

Each case names a measured table, the preset and node count of its machine, line-rate overrides where
the source states other hardware, and whether NCCL was forced to the ring (``algorithm: ring``) or
chose (``auto``). Per size: the simulated time of ``model: nccl`` (what NCCL's tuner picks — its ring,
or with ``auto`` possibly its tree — with its protocol on NCCL's channels, links at NCCL's rates, by
the schedule engine) — the one judged — and beside it NCCL's cost model's own time
(``commsim.collectives.nccl.model``). Nothing is fitted to the table it is compared with, unless a
calibration is given, and then every output says "calibrated".

Targets (issue 10): within 5 % from 1 MiB to 8 GiB, within 15 % below 1 MiB (issue 20), on the points held.

**Held points** (issue 20). A point is held to its target when its table counts, its size has a target,
and its table's launch mode allows it. nccl-tests' ``-g N`` runs one process driving N GPUs; NCCL's
maintainers say small collectives are slower that way than with one process per GPU, as training jobs
run: the higher latency is "due to using multiple GPUs per node (``-g 8``) instead of one GPU per
process … CUDA latency overheads of single process jobs" (NVIDIA/nccl-tests#333, 2025-07-21). commsim does
not model that overhead, so a table of one process per GPU is held at every size, and a ``-g N`` table
(or one whose launch mode is not stated) only where its launch floor is under 5 % of the measured time.
The **launch floor** is the table's own smallest measured time (its small-size plateau, about 35 µs on
an H100 node with ``-g 8``; over every size it printed, below 1 KiB too), a property of the measurement,
not of the model: a table that starts above the plateau gets a floor too high, which only holds fewer
of its points.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import scenario_file, units
from ..collectives.nccl import model as nccl_model
from ..engines.schedule import participant_nodes, run_schedule, worker_finish
from ..errors import CommsimError, TopologyError, UnitError
from ..network import cluster, topology
from . import nccltests

VALIDATION = Path(__file__).resolve().parents[2] / "validation"
"""The measured tables of a source checkout (``validation/`` beside the package)."""
CASES = VALIDATION / "cases.yaml"
LARGE = (1 << 20, 8 << 30)  # 1 MiB .. 8 GiB: within 5 %; below 1 MiB: within 15 % (issue 20's targets)
LARGE_TOLERANCE, SMALL_TOLERANCE = 0.05, 0.15
FLOOR_SHARE = 0.05
"""A ``-g N`` table's point is held where its launch floor is under this share of the measured time."""
SMALLEST = 1024
"""Sizes below 1 KiB are not compared (nccl-tests prints them below its launch floor, where one byte more
or less is all noise); they still set the launch floor."""
_KEYS = {"file", "title", "preset", "nodes", "algorithm", "counts", "why", "gpus_per_node", "nics_per_node",
         "nvlink_bandwidth", "nic_bandwidth", "pcie_bandwidth", "collective", "machine", "nccl_version", "causes"}
_CAUSE_KEYS = {"from", "to", "cause"}
COLLECTIVES = {"all_reduce": "allreduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
               "broadcast": "broadcast", "reduce": "reduce", "alltoall": nccl_model.ALLTOALL}
"""nccl-tests' collectives, by their name in commsim's NCCL model: those NCCL's tuner rates, and the
all-to-all (grouped point-to-point sends, which NCCL predicts no time for: simulated only)."""
GPU_NAMES = {"dgx-a100": "A100", "hgx-h100": "H100", "hgx-b200": "B200"}
"""The GPU a preset's nodes hold, as it appears in nccl-tests' Rank lines (``NVIDIA H100 80GB HBM3``)."""


def held(size: int, measured_s: float, gpus_per_process: int | None, floor_s: float,
         counts: bool = True) -> tuple[bool, str]:
    """Whether a point is held to its target, and why in a few words: "1/GPU" (a table of one process
    per GPU), "floor 3%" (the launch floor's share of the measured time, for a ``-g N`` table or one whose
    launch mode is not stated), "no target" (its size has none), "not counted" (its table does not
    count). See the module docstring."""
    if not counts:
        return False, "not counted"
    if tolerance_of(size) is None:
        return False, "no target"
    if gpus_per_process == 1:
        return True, "1/GPU"
    share = floor_s / measured_s
    return share < FLOOR_SHARE, f"floor {share:.0%}" if share >= 0.095 else f"floor {share:.1%}"


def tolerance_of(size: int) -> float | None:
    """The target a size is held to (None: above 8 GiB)."""
    if LARGE[0] <= size <= LARGE[1]:
        return LARGE_TOLERANCE
    return SMALL_TOLERANCE if size < LARGE[0] else None


@dataclass(frozen=True)
class Point:
    """One size: the measured time, the simulated one (model nccl), NCCL's model's and its pick, and
    whether it is held to its target (and why)."""

    size: int
    measured_s: float
    simulated_s: float
    predicted_s: float | None
    pick: str
    held: bool = True
    reason: str = ""
    cause: str = ""
    """Why a held point misses its target, where the cases file says (``causes``); empty otherwise."""

    @property
    def error(self) -> float:
        """(simulated − measured) / measured: the error held to the targets."""
        return (self.simulated_s - self.measured_s) / self.measured_s

    @property
    def model_error(self) -> float | None:
        """(NCCL's model − measured) / measured."""
        return None if self.predicted_s is None else (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def tolerance(self) -> float | None:
        """The target this size is held to (None: above 8 GiB)."""
        return tolerance_of(self.size)

    @property
    def within(self) -> bool | None:
        """Within its target (None: no target)."""
        return None if self.tolerance is None else abs(self.error) <= self.tolerance


@dataclass(frozen=True)
class Cause:
    """A cases file's stated cause of the misses of its table from ``low`` to ``high`` bytes (inclusive)."""

    low: int
    high: int
    text: str


def cause_of(causes: tuple[Cause, ...], size: int) -> str:
    """The first stated cause whose sizes hold ``size`` ("" if none does)."""
    return next((c.text for c in causes if c.low <= size <= c.high), "")


@dataclass(frozen=True)
class Case:
    """A measured table and the machine that configures its prediction."""

    file: str
    title: str
    preset: str
    nodes: int
    algorithm: str
    counts: bool = True
    why: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    points: tuple[Point, ...] = ()
    collective: str = "all_reduce"
    machine: str = ""
    launch: str = ""
    floor_s: float = 0.0
    calibrated: bool = False
    causes: tuple[Cause, ...] = ()

    @property
    def misses(self) -> list[Point]:
        """The held points outside their target."""
        return [p for p in self.points if p.held and not p.within]


def _fail(where: str, problem: str) -> CommsimError:
    return CommsimError(f"{where}: {problem}")


def load_cases(path: Path = CASES, only: str | None = None) -> list[Case]:
    """The cases of ``path`` (``only``: the one of that file) with their predictions (one-line errors
    naming the file and entry)."""
    return [predict(entry) for entry in read_cases(path, only)]


@dataclass(frozen=True)
class Entry:
    """One case of a cases file, checked, before its prediction: the table read, the machine built."""

    file: str
    title: str
    preset: str
    nodes: int
    algorithm: str
    counts: bool
    why: str
    overrides: dict[str, Any]
    collective: str
    machine: str
    table: nccltests.Table
    graph: Any
    causes: tuple[Cause, ...] = ()


def read_cases(path: Path = CASES, only: str | None = None) -> list[Entry]:
    """The cases of ``path`` checked and their tables read, not yet predicted."""
    document = scenario_file.read(path, str(path))  # safe YAML, one-line errors naming the file
    if not isinstance(document, list):
        raise _fail(str(path), "must be a list of cases")
    return [_entry(path, i, entry) for i, entry in enumerate(document)
            if only is None or isinstance(entry, dict) and entry.get("file") == only]


def _entry(path: Path, i: int, entry: Any) -> Entry:
    where = f"{path}: [{i}]"
    if not isinstance(entry, dict):
        raise _fail(where, "must be a mapping with file, preset, nodes and algorithm")
    unknown = set(entry) - _KEYS
    if unknown:
        raise _fail(f"{where}.{min(unknown)}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
    for key in ("file", "preset", "nodes", "algorithm"):
        if key not in entry:
            raise _fail(where, f"missing {key}")
    overrides = {key: entry[key] for key in entry if key.endswith(("bandwidth", "per_node"))}
    collective = entry.get("collective", "all_reduce")
    graph = machine_graph(entry["preset"], entry["nodes"], overrides, entry["algorithm"], collective, where)
    try:
        table = nccltests.read(path.parent / str(entry["file"]))
    except CommsimError as error:
        raise _fail(f"{where}.file", str(error)) from None
    return Entry(str(entry["file"]), str(entry.get("title", entry["file"])), str(entry["preset"]), entry["nodes"],
                 entry["algorithm"], bool(entry.get("counts", True)), str(entry.get("why", "")), overrides, collective,
                 str(entry.get("machine", entry["file"])), table, graph, _causes(entry.get("causes", []), f"{where}.causes"))


def _causes(items: Any, where: str) -> tuple[Cause, ...]:
    """A case's ``causes``: a list of ``{cause: TEXT}`` with optional ``from``/``to`` sizes ("1 MiB"; default: every
    size), each the cause of the table's misses in that range (the first that holds a size is its cause)."""
    if not isinstance(items, list):
        raise _fail(where, "must be a list of {from, to, cause}")
    causes = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("cause"), str) or not item["cause"].strip():
            raise _fail(here, "must be a mapping with a non-empty 'cause' text (and optional 'from', 'to' sizes)")
        unknown = set(item) - _CAUSE_KEYS
        if unknown:
            raise _fail(f"{here}.{min(unknown)}", f"unknown key (known: {', '.join(sorted(_CAUSE_KEYS))})")
        bounds = []
        for key, default in (("from", 0), ("to", 1 << 62)):
            try:
                bounds.append(int(units.parse_bytes(item[key])) if key in item else default)
            except (UnitError, TypeError, ValueError) as error:
                raise _fail(f"{here}.{key}", str(error)) from None
        if bounds[0] > bounds[1]:
            raise _fail(here, f"'from' ({item['from']}) is above 'to' ({item['to']})")
        causes.append(Cause(bounds[0], bounds[1], " ".join(item["cause"].split())))
    return tuple(causes)


def machine_graph(preset: Any, nodes: Any, overrides: dict[str, Any], algorithm: Any, collective: Any,
                  where: str) -> Any:
    """The cluster graph of ``nodes`` nodes of ``preset`` with ``overrides``, after checking the algorithm
    and the collective (one-line errors naming ``where``)."""
    if algorithm not in ("ring", "auto"):
        raise _fail(f"{where}.algorithm", f"must be 'ring' (forced) or 'auto', got {algorithm!r:.40}")
    if collective not in COLLECTIVES:
        raise _fail(f"{where}.collective", f"must be one of {', '.join(COLLECTIVES)} (the collectives NCCL's "
                                           f"tuner rates), got {collective!r:.40}")
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 4096:
        raise _fail(f"{where}.nodes", f"must be an integer from 1 to 4096, got {nodes!r:.40}")
    try:
        per_node = cluster.preset(preset, **overrides).gpus_per_node
        return topology.build("cluster", nodes * per_node, 1.0, 0.0, preset=preset, nodes=nodes, **overrides)
    except TopologyError as error:
        raise _fail(where, str(error)) from None


def check_machine(table: nccltests.Table, preset: str, graph: Any) -> None:
    """Refuse a table taken on another machine: a GPU the preset does not hold, or another rank count."""
    ranks = graph.graph["nodes"] * graph.graph["gpus_per_node"]
    if table.ranks is not None and table.ranks != ranks:
        raise CommsimError(f"{table.path}: {table.ranks} ranks in its Rank lines, but {preset} × "
                           f"{graph.graph['nodes']} has {ranks} GPUs: a table of another machine (check --nodes)")
    expected = GPU_NAMES.get(preset)
    if table.gpu is not None and expected is not None and expected not in table.gpu:
        raise CommsimError(f"{table.path}: its Rank lines name {table.gpu!r}, not an {expected}: a table of another "
                           f"machine than {preset} (check --preset)")


def launch_floor(table: nccltests.Table) -> float:
    """The table's launch floor: its smallest measured time, in seconds (see the module docstring)."""
    return min(row.time_s for row in table.rows)


def algorithms_of(entry: Entry) -> tuple[str, ...] | None:
    """What NCCL may choose from for ``entry``, among what commsim schedules: the ring alone where the table
    forced it; all-reduce: ring, tree, NVLS (NVLS-tree is predicted, not scheduled); another collective:
    its own (None: all-to-all's p2p, which has no choice)."""
    collective = COLLECTIVES[entry.collective]
    if entry.algorithm == "ring":
        return ("ring",)
    return nccl_model.SCHEDULED.get(collective)


def predict(entry: Entry, floor_s: float = 0.0, calibrated: bool = False) -> Case:
    """The case of ``entry``: per size of at least 1 KiB, the simulated and NCCL's predicted time (each at
    least ``floor_s``, a calibrated launch floor: ``commsim.runner.calibrate``), the error, whether it is
    held and why."""
    table, graph = entry.table, entry.graph
    collective = COLLECTIVES[entry.collective]
    algorithms = algorithms_of(entry)
    machine = nccl_model.machine(graph)
    floor = launch_floor(table)
    points = []
    for row in table.rows:
        if row.size < SMALLEST:
            continue
        simulated = max(floor_s, simulate(graph, row.size, algorithms, collective))
        keep, why = held(row.size, row.time_s, table.gpus_per_process, floor, entry.counts)
        if collective == nccl_model.ALLTOALL:  # no tuner: NCCL's p2p parts and protocol, no predicted time
            sent = nccl_model.plan(graph, row.size, collective=collective)
            point = Point(row.size, row.time_s, simulated, None, f"p2p/{sent.protocol}", keep, why)
        else:
            choice = nccl_model.choose(machine, row.size, algorithms, collective=collective)
            point = Point(row.size, row.time_s, simulated, max(floor_s, choice.time_s),
                          f"{choice.algorithm}/{choice.protocol}", keep, why)
        if point.held and not point.within:
            point = replace(point, cause=cause_of(entry.causes, row.size))
        points.append(point)
    return Case(entry.file, entry.title, entry.preset, entry.nodes, entry.algorithm, entry.counts, entry.why,
                entry.overrides, tuple(points), entry.collective, entry.machine, table.launch, floor, calibrated,
                entry.causes)


def simulate(graph: Any, nbytes: int, algorithms: tuple[str, ...] | None, collective: str = "allreduce") -> float:
    """``model: nccl``'s time for a ``collective`` of ``nbytes`` fp32 bytes (the whole buffer, as nccl-tests
    prints it): NCCL's base latency, then what NCCL's tuner picks among ``algorithms`` (its ring, tree or
    NVLS, with its protocol) on NCCL's channels, on the graph at NCCL's rates and hop latencies, by the
    schedule engine."""
    nccl = nccl_model.plan(graph, nbytes, algorithms, collective=collective)
    n = graph.graph["nodes"] * graph.graph["gpus_per_node"]
    schedule = nccl.make(n, nbytes // 4, 4, gpus_per_node=graph.graph["gpus_per_node"])
    run = run_schedule(schedule, nccl.graph, participant_nodes(schedule, n, nccl.servers))
    return nccl.base_latency_s + float(worker_finish(schedule, run.finish_s, n).max(initial=0.0))


def user_entries(paths: list[Path], preset: str, nodes: int, algorithm: str, collective: str | None,
                 overrides: dict[str, Any] | None = None) -> list[Entry]:
    """The user's nccl-tests outputs (text or ``-J`` JSON) as cases of ``nodes`` nodes of ``preset``; each
    refused if it was taken on another machine."""
    entries = []
    for path in paths:
        table = nccltests.read(path, collective)
        if table.collective is None:
            raise CommsimError(f"{path}: the file does not say which collective it measured; give --collective")
        graph = machine_graph(preset, nodes, overrides or {}, algorithm, table.collective, "--preset/--nodes")
        check_machine(table, preset, graph)
        title = f"{path.name}: {table.ranks or '?'} ranks, {table.gpu or 'GPU not stated'}"
        entries.append(Entry(str(path), title, preset, nodes, algorithm, True, "", dict(overrides or {}),
                             table.collective, preset, table, graph))
    return entries
