"""``commsim calibrate``: what the spec sheets cannot know, derived from the user's own nccl-tests runs,
written as preset overrides.

Three numbers, each from one size of the runs, nothing else fitted:

* **NVLink efficiency** e (from the tables of one node): the factor on the rate the GPU–NVSwitch links
  carry data at (NCCL's count, links × its per-link rate, ``topo.h``; ``nccl_model.nvlink_gbps``) at which
  the simulated time at the largest size of the runs equals the measured one. It is what a node's NVLink
  achieves beyond what NCCL's topology detection counts; NCCL's tuner still counts the links it detects
  (its channels and its pick of algorithm and protocol do not move), as it does on the real machine. One
  factor for every collective of the node (ring, NVLS, point-to-point): they move their bytes on the same
  links.
* **Network efficiency** f (from the tables of several nodes): the same factor on the network path, the
  NIC and fabric links and the PCIe link that carries a GPU's traffic to its NIC, together (the slower of
  the two limits what a GPU sends between nodes: NCCL's ring search takes min(NIC, PCIe), ``search.cc``;
  the NIC alone would leave the H100's PCIe, 48 GB/s as NCCL counts it, as the limit). NCCL's tuner sees
  the NIC's port speed, not what the fabric achieves (congestion, queue pairs, routing), so f scales the
  data's rate and leaves the tuner's choice as it is. If no f up to 4 brings the simulated time down to
  the measured one, the network is not what limits the largest size in the simulation; without a table
  of one node, the factor is then the NVLink's (the ring's NVLink share and NCCL's PXN hop to the NIC),
  found the same way, and the runs are refused only if that cannot reach the time either.
* **Launch floor** F: the median measured time of the sizes from 1 KiB to below 64 KiB of the run that
  starts smallest, and every predicted time is max(F, simulated). nccl-tests times ``iters`` calls issued
  back to back on the host clock and divides by ``iters`` (NVIDIA/nccl-tests src/common.cu,
  ``BenchTime``): the host's cost of issuing a call and the GPUs' time for it overlap, so a call takes the
  longer of the two, and small calls take the host's, a plateau the same for every collective whatever
  NCCL's latency (about 35 µs with ``-g 8``, which launches on 8 GPUs from one thread). The median holds
  against one noisy size of the plateau. Runs that start at 64 KiB or above give none (0): their smallest
  time is bandwidth's, not the launch's. The floor is kept with the launch mode it was measured in and
  applied only to tables of that mode (``-g N`` runs pay CUDA's single-process overheads that one process
  per GPU does not, NVIDIA/nccl-tests#333).

Each factor is found by the Illinois variant of regula falsi on x = 1/factor (the time of a collective
bound by those links is close to linear in it), bracketed between 1/100 and 4.

The result is written as YAML: a ``topology:`` mapping a scenario can take as it is (``kind: cluster``,
the preset, the nodes, the calibrated factors, ``commsim.network.cluster``) and the launch floor beside it,
which ``commsim validate --calibration`` applies; every prediction made with it says "calibrated".
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import scenario_file, units
from ..errors import CommsimError
from ..network import cluster
from . import validate

SPAN = (0.01, 4.0)
"""The factors searched."""
TOLERANCE = 1e-9
"""The relative agreement of simulated and measured time at which the search stops."""
MAX_STEPS = 200
LAUNCH_BELOW = 64 << 10
"""The launch floor is the plateau of the sizes below this; runs that start here or above give none."""
FACTORS = ("nvlink_efficiency", "network_efficiency")
"""The cluster's measured factors a calibration writes (``commsim.network.cluster``)."""
LINKS = {"nvlink_efficiency": "the NVLink", "network_efficiency": "the network path"}


class NotLimiting(CommsimError):
    """The measured time is below the simulation's with the links at the largest factor searched."""


@dataclass(frozen=True)
class Calibration:
    """Calibrated overrides of a preset: the factors on its NVLink and network rates (None: not calibrated,
    1), the launch floor in seconds and the launch mode it was measured in (GPUs per process), and the runs
    it came from."""

    preset: str
    nodes: int
    nvlink_efficiency: float | None = None
    network_efficiency: float | None = None
    launch_floor_s: float = 0.0
    launch_gpus_per_process: int | None = None
    sources: tuple[str, ...] = ()

    @property
    def overrides(self) -> dict[str, float]:
        """The factors, as ``cluster.preset`` takes them."""
        factors = {"nvlink_efficiency": self.nvlink_efficiency, "network_efficiency": self.network_efficiency}
        return {key: value for key, value in factors.items() if value is not None}

    def floor_for(self, gpus_per_process: int | None) -> float:
        """The launch floor of a table of this launch mode (0 for another mode)."""
        return self.launch_floor_s if gpus_per_process == self.launch_gpus_per_process else 0.0


def _largest(entries: list[validate.Entry]) -> tuple[validate.Entry, Any]:
    """The entry with the largest measured size, and that row."""
    return max(((entry, row) for entry in entries for row in entry.table.rows), key=lambda pair: pair[1].size)


def _simulated(entry: validate.Entry, overrides: dict[str, Any], size: int) -> float:
    """The simulated time of ``entry``'s collective of ``size`` bytes on its machine with ``overrides``."""
    graph = validate.machine_graph(entry.preset, entry.nodes, {**entry.overrides, **overrides}, entry.algorithm,
                                   entry.collective, "calibration")
    return validate.simulate(graph, size, validate.algorithms_of(entry), validate.COLLECTIVES[entry.collective])


def _smallest(entries: list[validate.Entry]) -> tuple[validate.Entry, Any]:
    """The entry with the smallest compared size (at least 1 KiB), and that row."""
    return min(((entry, row) for entry in entries for row in entry.table.rows if row.size >= validate.SMALLEST),
               key=lambda pair: pair[1].size)


def floor(entries: list[validate.Entry]) -> float:
    """The launch floor: the median measured time of the run that starts smallest, over its sizes from 1 KiB
    to below 64 KiB; 0 when the runs start at 64 KiB or above, where the time is no longer the launch's."""
    entry, _ = _smallest(entries)
    return float(statistics.median([row.time_s for row in entry.table.rows
                                    if validate.SMALLEST <= row.size < LAUNCH_BELOW] or [0.0]))


def _faster(entries: list[validate.Entry], keys: list[str]) -> str:
    """The refusal of runs measured faster than the simulation with the links of ``keys`` at the largest factor."""
    entry, row = _largest(entries)
    links = " or ".join(LINKS[key] for key in keys)
    return (f"{entry.table.path}: {row.size} bytes took {row.time_s * 1e6:.6g} us, faster than the simulation with "
            f"{links} at {SPAN[1]:g} × its rate: not what limits this run, so no rate can be calibrated from it")


def efficiency(key: str, entries: list[validate.Entry], overrides: dict[str, Any], floor_s: float) -> float:
    """The factor ``key`` (one of ``FACTORS``) at which the time at the largest size of ``entries``
    (simulated with ``overrides`` and the factor, at least the launch floor) equals the measured one
    (Illinois regula falsi on x = 1/factor; see the module docstring). ``NotLimiting`` if even the largest
    factor leaves the simulation slower than measured."""
    entry, row = _largest(entries)

    def gap(x: float) -> float:
        return max(floor_s, _simulated(entry, {**overrides, key: 1 / x}, row.size)) - row.time_s

    fast, slow = 1 / SPAN[1], 1 / SPAN[0]  # x of the fastest and slowest links tried
    x, g = 1.0, gap(1.0)  # bracket from the links' own rate outwards, doubling: most runs lie within 2×
    while fast < x < slow:
        step = min(max(x / 2, fast), slow) if g > 0 else max(min(x * 2, slow), fast)
        g_step = gap(step)
        if (g_step > 0) != (g > 0):
            (fast, g_fast), (slow, g_slow) = sorted([(x, g), (step, g_step)])
            break
        x, g = step, g_step
    else:
        g_fast, g_slow = (g, 1.0) if x <= fast else (-1.0, g)
    if g_fast > 0:
        raise NotLimiting(_faster(entries, [key]))
    if g_slow < 0:
        raise CommsimError(f"{entry.table.path}: {row.size} bytes took {row.time_s * 1e6:.6g} us, slower than the "
                           f"simulation with {LINKS[key]} at {SPAN[0]:g} × its rate: not a run {LINKS[key]} limits")
    side = 0
    for _ in range(MAX_STEPS):
        x = (fast * g_slow - slow * g_fast) / (g_slow - g_fast)
        g = gap(x)
        if abs(g) <= TOLERANCE * row.time_s:
            return 1 / x
        if g < 0:  # too fast: the root lies at a larger x (slower links)
            fast, g_fast = x, g
            if side == -1:
                g_slow /= 2
            side = -1
        else:
            slow, g_slow = x, g
            if side == 1:
                g_fast /= 2
            side = 1
    return 2 / (fast + slow)


def calibrate(entries: list[validate.Entry]) -> Calibration:
    """The calibration of one machine from its runs ``entries`` (all of one preset): the NVLink efficiency
    from the one-node runs, the network's from the others (or their NVLink's, where the network does not
    limit them and no one-node run was given), and the launch floor (see the module docstring)."""
    if not entries:
        raise CommsimError("calibrate: no runs given")
    overrides: dict[str, Any] = {}
    single = [entry for entry in entries if entry.nodes == 1]
    several = [entry for entry in entries if entry.nodes > 1]
    nvlink = cluster.preset(entries[0].preset, **entries[0].overrides).nvlink_bandwidth is not None
    floor_s, mode = floor(entries), _smallest(entries)[0].table.gpus_per_process
    calibration = Calibration(entries[0].preset, entries[0].nodes, launch_floor_s=floor_s,
                              launch_gpus_per_process=mode, sources=tuple(e.table.path for e in entries))

    def solved(key: str, runs: list[validate.Entry]) -> float:
        """The factor ``key`` from ``runs``, their largest size held to the floor of its table's mode."""
        return efficiency(key, runs, overrides, calibration.floor_for(_largest(runs)[0].table.gpus_per_process))

    if single and nvlink:
        overrides["nvlink_efficiency"] = solved("nvlink_efficiency", single)
    if several:
        try:
            overrides["network_efficiency"] = solved("network_efficiency", several)
        except NotLimiting:
            if not nvlink or "nvlink_efficiency" in overrides:
                raise
            try:
                overrides["nvlink_efficiency"] = solved("nvlink_efficiency", several)
            except NotLimiting:
                raise NotLimiting(_faster(several, list(FACTORS[::-1]))) from None
    return replace(calibration, **overrides)


def calibrated_cases(entries: list[validate.Entry], calibration: Calibration) -> list[validate.Case]:
    """``entries`` predicted with the calibration: its factors on their machines, its launch floor on the
    tables of its launch mode; every case marked calibrated."""
    cases = []
    for entry in entries:
        overrides = {**entry.overrides, **calibration.overrides}
        graph = validate.machine_graph(entry.preset, entry.nodes, overrides, entry.algorithm, entry.collective,
                                       "calibration")
        moved = replace(entry, graph=graph, overrides=overrides)
        cases.append(validate.predict(moved, calibration.floor_for(entry.table.gpus_per_process), calibrated=True))
    return cases


def text(calibration: Calibration) -> str:
    """The calibration as YAML (see the module docstring)."""
    lines = ["# commsim calibrate: CALIBRATED overrides (measured, not spec), from " + ", ".join(
        Path(source).name for source in calibration.sources),
             "# topology: a scenario's topology as it is; launch_floor: applied by commsim validate --calibration",
             "calibrated: true",
             f"launch_floor: {calibration.launch_floor_s * 1e6:.12g} us",
             f"launch_gpus_per_process: {calibration.launch_gpus_per_process or 'null'}",
             "topology:", "  kind: cluster", f"  preset: {calibration.preset}", f"  nodes: {calibration.nodes}"]
    lines += [f"  {key}: {value:.12g}" for key, value in calibration.overrides.items()]
    return "\n".join(lines) + "\n"


def load(path: Path) -> Calibration:
    """A calibration file ``commsim calibrate`` wrote (one-line errors naming the file and key)."""
    document = scenario_file.read(path, str(path))
    where = str(path)
    if not isinstance(document, dict) or document.get("calibrated") is not True:
        raise CommsimError(f"{where}: not a calibration file (commsim calibrate writes one, with 'calibrated: true')")
    known = {"calibrated", "launch_floor", "launch_gpus_per_process", "topology"}
    unknown = set(document) - known
    if unknown:
        raise CommsimError(f"{where}: {min(unknown)}: unknown key (known: {', '.join(sorted(known))})")
    topo = document.get("topology")
    if not isinstance(topo, dict) or topo.get("kind") != "cluster" or "preset" not in topo:
        raise CommsimError(f"{where}: topology: must be a mapping with kind: cluster and a preset")
    unknown = set(topo) - {"kind", "preset", "nodes", *FACTORS}
    if unknown:
        raise CommsimError(f"{where}: topology.{min(unknown)}: not a calibrated key ({', '.join(FACTORS)})")
    try:
        cluster.preset(topo["preset"], **{key: topo[key] for key in FACTORS if key in topo})
    except CommsimError as error:
        raise CommsimError(f"{where}: topology: {error}") from None
    try:
        floor_s = units.parse_time(document.get("launch_floor", 0))
    except CommsimError as error:
        raise CommsimError(f"{where}: launch_floor: {error}") from None
    if not floor_s >= 0:
        raise CommsimError(f"{where}: launch_floor must be >= 0, got {document.get('launch_floor')!r:.40}")
    per_process = document.get("launch_gpus_per_process")
    if per_process is not None and (isinstance(per_process, bool) or not isinstance(per_process, int) or per_process < 1):
        raise CommsimError(f"{where}: launch_gpus_per_process: must be a whole number >= 1 or null")
    nodes = topo.get("nodes", 1)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise CommsimError(f"{where}: topology.nodes: must be a whole number >= 1")
    factors = {key: float(topo[key]) for key in FACTORS if key in topo}
    return Calibration(str(topo["preset"]), nodes, factors.get("nvlink_efficiency"), factors.get("network_efficiency"),
                       floor_s, per_process, (str(path),))
