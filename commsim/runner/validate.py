"""``commsim validate``: commsim's NCCL mode and NCCL's own cost model, configured from presets and line
rates only, against all-reduce times measured with nccl-tests on real clusters (``validation/``).

Each case names a measured table, the preset and node count of its machine, line-rate overrides where
the source states other hardware, and whether NCCL was forced to the ring (``algorithm: ring``) or
chose (``auto``). Per size: the simulated time of ``model: nccl`` (what NCCL's tuner picks — its ring,
or with ``auto`` possibly its tree — with its protocol on NCCL's channels, links at NCCL's rates, by
the schedule engine) — the one judged — and beside it NCCL's cost model's own time
(``commsim.collectives.nccl_model``). Nothing is
fitted to the table it is compared with.

Targets (issue 10): within 5 % from 1 MiB to 8 GiB, within 15 % below 64 KiB, on the cases that count.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import scenario_file
from ..collectives import nccl_model
from ..engines.schedule import participant_nodes, run_schedule, worker_finish
from ..errors import CommsimError, TopologyError
from ..network import cluster, topology

VALIDATION = Path(__file__).resolve().parents[2] / "validation"
"""The measured tables of a source checkout (``validation/`` beside the package)."""
CASES = VALIDATION / "cases.yaml"
LARGE = (1 << 20, 8 << 30)  # 1 MiB .. 8 GiB: within 5 %
SMALL_BELOW = 64 << 10  # below 64 KiB: within 15 %
LARGE_TOLERANCE, SMALL_TOLERANCE = 0.05, 0.15
_KEYS = {"file", "title", "preset", "nodes", "algorithm", "counts", "why", "gpus_per_node", "nics_per_node",
         "nvlink_bandwidth", "nic_bandwidth", "pcie_bandwidth"}
_COLUMNS = ("size_bytes", "time_us")


@dataclass(frozen=True)
class Point:
    """One size: the measured time, the simulated one (model nccl), NCCL's model's and its pick."""

    size: int
    measured_s: float
    simulated_s: float
    predicted_s: float
    pick: str

    @property
    def error(self) -> float:
        """(simulated − measured) / measured: the error held to the targets."""
        return (self.simulated_s - self.measured_s) / self.measured_s

    @property
    def model_error(self) -> float:
        """(NCCL's model − measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def tolerance(self) -> float | None:
        """The target this size is held to (None: between 64 KiB and 1 MiB, or above 8 GiB)."""
        if LARGE[0] <= self.size <= LARGE[1]:
            return LARGE_TOLERANCE
        return SMALL_TOLERANCE if self.size < SMALL_BELOW else None


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

    @property
    def misses(self) -> list[Point]:
        """The points outside their target."""
        return [p for p in self.points if p.tolerance is not None and abs(p.error) > p.tolerance]


def _fail(where: str, problem: str) -> CommsimError:
    return CommsimError(f"{where}: {problem}")


def load_cases(path: Path = CASES, only: str | None = None) -> list[Case]:
    """The cases of ``path`` (``only``: the one of that file) with their predictions (one-line errors
    naming the file and entry)."""
    document = scenario_file.read(path, str(path))  # safe YAML, one-line errors naming the file
    if not isinstance(document, list):
        raise _fail(str(path), "must be a list of cases")
    return [_case(path, i, entry) for i, entry in enumerate(document)
            if only is None or isinstance(entry, dict) and entry.get("file") == only]


def _case(path: Path, i: int, entry: Any) -> Case:
    where = f"{path}: [{i}]"
    if not isinstance(entry, dict):
        raise _fail(where, "must be a mapping with file, preset, nodes and algorithm")
    unknown = set(entry) - _KEYS
    if unknown:
        raise _fail(f"{where}.{min(unknown)}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
    for key in ("file", "preset", "nodes", "algorithm"):
        if key not in entry:
            raise _fail(where, f"missing {key}")
    if entry["algorithm"] not in ("ring", "auto"):
        raise _fail(f"{where}.algorithm", f"must be 'ring' (forced) or 'auto', got {entry['algorithm']!r:.40}")
    overrides = {key: entry[key] for key in entry if key.endswith(("bandwidth", "per_node"))}
    nodes = entry["nodes"]
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 4096:
        raise _fail(f"{where}.nodes", f"must be an integer from 1 to 4096, got {nodes!r:.40}")
    try:
        per_node = cluster.preset(entry["preset"], **overrides).gpus_per_node
        graph = topology.build("cluster", nodes * per_node, 1.0, 0.0, preset=entry["preset"], nodes=nodes, **overrides)
    except TopologyError as error:
        raise _fail(where, str(error)) from None
    machine = nccl_model.machine(graph)
    # NCCL's choice among what commsim schedules (ring, tree, NVLS; NVLS-tree is predicted, not scheduled)
    algorithms = ("ring",) if entry["algorithm"] == "ring" else nccl_model.SCHEDULED["allreduce"]
    points = []
    for size, measured_us in _measured(path.parent / str(entry["file"]), where):
        choice = nccl_model.choose(machine, size, algorithms)
        simulated = simulate(graph, size, algorithms)
        points.append(Point(size, measured_us * 1e-6, simulated, choice.time_s, f"{choice.algorithm}/{choice.protocol}"))
    return Case(str(entry["file"]), str(entry.get("title", entry["file"])), str(entry["preset"]), nodes,
                entry["algorithm"], bool(entry.get("counts", True)), str(entry.get("why", "")), overrides, tuple(points))


def simulate(graph: Any, nbytes: int, algorithms: tuple[str, ...]) -> float:
    """``model: nccl``'s time for an all-reduce of ``nbytes`` fp32 bytes: NCCL's base latency, then what
    NCCL's tuner picks among ``algorithms`` (its ring, tree or NVLS, with its protocol) on NCCL's channels,
    on the graph at NCCL's rates and hop latencies, by the schedule engine."""
    nccl = nccl_model.plan(graph, nbytes, algorithms)
    n = graph.graph["nodes"] * graph.graph["gpus_per_node"]
    schedule = nccl.make(n, nbytes // 4, 4, gpus_per_node=graph.graph["gpus_per_node"])
    run = run_schedule(schedule, nccl.graph, participant_nodes(schedule, n, nccl.servers))
    return nccl.base_latency_s + float(worker_finish(schedule, run.finish_s, n).max(initial=0.0))


def _measured(path: Path, where: str) -> list[tuple[int, float]]:
    """(size in bytes, time in µs) of a measured table, the rows of at least 1 KiB (nccl-tests prints
    sizes below its launch floor too, where one byte more or less is all noise)."""
    try:
        text = "".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if not line.startswith("#"))
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"{where}.file", f"{path}: {type(error).__name__}: {str(error)[:80]}") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or any(column not in rows[0] for column in _COLUMNS):
        raise _fail(f"{where}.file", f"{path}: needs the columns {', '.join(_COLUMNS)}")
    points = []
    for k, row in enumerate(rows):
        try:
            size, time_us = int(row["size_bytes"]), float(row["time_us"])
        except (TypeError, ValueError):
            raise _fail(f"{where}.file", f"{path}: row {k + 1}: size_bytes and time_us must be numbers") from None
        if size >= 1024 and time_us > 0:
            points.append((size, time_us))
    return points
