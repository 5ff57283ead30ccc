"""``commsim calibrate``: what the spec sheets cannot know, derived from the user's own nccl-tests runs,
written as preset overrides.

Three numbers, each from one size of the runs, nothing else fitted:

* **NVLink** (from the tables of one node): the whole number of NVLink links per GPU whose simulated
  time at the table's largest size comes closest to the measured one. NCCL counts a GPU's NVLink as
  links × its per-link rate (``topo.h``; ``nccl_model.nvlink_gbps``), so a rate between two link counts
  changes nothing in its model; the calibrated ``nvlink_bandwidth`` is k × the spec rate of one link.
* **The network path** (from the tables of several nodes): a factor f on the preset's NIC rate and on
  the PCIe link that carries a GPU's traffic to its NIC, scaled together (the slower of the two limits
  what a GPU sends between nodes: NCCL's ring search takes min(NIC, PCIe), ``search.cc``; a faster NIC
  alone would leave the H100's PCIe, 48 GB/s as NCCL counts it, as the limit), at which the time at the
  largest size equals the measured one; found by the Illinois variant of regula falsi on 1/f (the time
  of a network-bound collective is close to linear in it), f bracketed between 1/100 and 4; refused if
  no f there reaches the measured time (the bottleneck is elsewhere). Written as ``nic_bandwidth`` and
  ``pcie_bandwidth``.
* **Launch overhead**: at the smallest size of at least 1 KiB of the runs, measured minus simulated
  with the calibrated rates (at least 0): what the process launch adds to every call beyond NCCL's
  latency model. Runs that start at 64 KiB or above give none (0): their smallest time is already
  bandwidth's, not the launch's. The rates above are solved with it added (it is a function of them), so that the
  largest size's time is the simulated one plus the overhead, as every predicted time is. It is kept with the launch mode it was measured in and added only to tables of that
  mode (``-g N`` runs pay CUDA's single-process overheads that one process per GPU does not,
  NVIDIA/nccl-tests#333).

The result is written as YAML: a ``topology:`` mapping a scenario can take as it is (``kind: cluster``,
the preset, the nodes, the calibrated rates) and the launch overhead beside it, which
``commsim validate --calibration`` adds; every prediction made with it says "calibrated".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import scenario_file, units
from ..collectives.nccl import table as nccl_table
from ..errors import CommsimError
from ..network import cluster
from . import validate

SPAN = (0.01, 4.0)
"""The NIC rates searched, as multiples of the preset's."""
TOLERANCE = 1e-9
"""The relative agreement of simulated and measured time at which the NIC search stops."""
MAX_STEPS = 200
RATES = ("nvlink_bandwidth", "nic_bandwidth", "pcie_bandwidth")
"""The preset's numbers a calibration overrides."""


@dataclass(frozen=True)
class Calibration:
    """Calibrated overrides of a preset: rates in bytes/s (None: the preset's), the launch overhead in
    seconds and the launch mode it was measured in (GPUs per process), and the runs it came from."""

    preset: str
    nodes: int
    nvlink_bandwidth: float | None = None
    nic_bandwidth: float | None = None
    pcie_bandwidth: float | None = None
    launch_overhead_s: float = 0.0
    launch_gpus_per_process: int | None = None
    sources: tuple[str, ...] = ()

    @property
    def overrides(self) -> dict[str, float]:
        """The rate overrides, as ``cluster.preset`` takes them."""
        rates = {"nvlink_bandwidth": self.nvlink_bandwidth, "nic_bandwidth": self.nic_bandwidth,
                 "pcie_bandwidth": self.pcie_bandwidth}
        return {key: value for key, value in rates.items() if value is not None}

    def overhead_for(self, gpus_per_process: int | None) -> float:
        """The launch overhead a table of this launch mode pays (0 for another mode)."""
        return self.launch_overhead_s if gpus_per_process == self.launch_gpus_per_process else 0.0


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


def overhead(entries: list[validate.Entry], overrides: dict[str, Any]) -> float:
    """The launch overhead with these rates: at the smallest compared size, measured minus simulated (≥ 0);
    0 when the runs start at 64 KiB or above, where the time is no longer the launch's."""
    entry, row = _smallest(entries)
    if row.size >= validate.SMALL_BELOW:
        return 0.0
    return max(0.0, row.time_s - _simulated(entry, overrides, row.size))


def nvlink_links(entries: list[validate.Entry]) -> int:
    """The NVLink links per GPU whose time at the largest size of the one-node ``entries`` (simulated,
    plus the launch overhead with those links) is closest to the measured one (it does not grow with more
    links: bisection, then the closer of the two neighbours)."""
    entry, row = _largest(entries)
    arch = cluster.preset(entry.preset).arch
    spec = nccl_table.NVLINK_SPEC_PER_LINK[arch]
    most = 2 * round(cluster.preset(entry.preset).nvlink_bandwidth / spec)

    def time(links: int) -> float:
        rates = {"nvlink_bandwidth": links * spec}
        return _simulated(entry, rates, row.size) + overhead(entries, rates)

    low, high = 1, most  # the fewest links at which the simulation is at least as fast as measured
    if time(high) > row.time_s:
        return high
    while low < high:
        middle = (low + high) // 2
        if time(middle) <= row.time_s:
            high = middle
        else:
            low = middle + 1
    if low > 1 and abs(time(low - 1) - row.time_s) < abs(time(low) - row.time_s):
        return low - 1
    return low


def network_factor(entries: list[validate.Entry], overrides: dict[str, Any], every: list[validate.Entry]) -> float:
    """The factor f on the preset's NIC and PCIe rates at which the time at the largest size of the
    several-node ``entries`` (simulated, plus the launch overhead of ``every`` run at that f) equals the
    measured one (Illinois regula falsi on x = 1/f; see the module docstring)."""
    entry, row = _largest(entries)

    def gap(x: float) -> float:
        rates = {**overrides, **network_rates(entry, 1 / x)}
        return _simulated(entry, rates, row.size) + overhead(every, rates) - row.time_s

    fast, slow = 1 / SPAN[1], 1 / SPAN[0]  # x of the fastest and slowest network tried
    x, g = 1.0, gap(1.0)  # bracket from the preset's rate outwards, doubling: most runs lie within 2×
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
        raise CommsimError(f"{entry.table.path}: {row.size} bytes took {row.time_s * 1e6:.6g} us, faster than the "
                           f"simulation with the network path at {SPAN[1]:g} × the preset's rates: the network is "
                           "not what limits this run, so its rate cannot be calibrated")
    if g_slow < 0:
        raise CommsimError(f"{entry.table.path}: {row.size} bytes took {row.time_s * 1e6:.6g} us, slower than the "
                           f"simulation with the network path at {SPAN[0]:g} × the preset's rates: not a "
                           "network-bound run")
    side = 0
    for _ in range(MAX_STEPS):
        x = (fast * g_slow - slow * g_fast) / (g_slow - g_fast)
        g = gap(x)
        if abs(g) <= TOLERANCE * row.time_s:
            return 1 / x
        if g < 0:  # too fast: the root lies at a larger x (a slower network)
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


def network_rates(entry: validate.Entry, factor: float) -> dict[str, float]:
    """The NIC and PCIe rates of ``entry``'s machine (its overrides on the preset), times ``factor``."""
    spec = cluster.preset(entry.preset, **entry.overrides)
    return {"nic_bandwidth": factor * spec.nic_bandwidth, "pcie_bandwidth": factor * spec.pcie_bandwidth}


def calibrate(entries: list[validate.Entry]) -> Calibration:
    """The calibration of one machine from its runs ``entries`` (all of one preset): NVLink from the
    one-node runs, the NIC from the others, then the launch overhead (see the module docstring)."""
    if not entries:
        raise CommsimError("calibrate: no runs given")
    overrides: dict[str, Any] = {}
    single = [entry for entry in entries if entry.nodes == 1]
    several = [entry for entry in entries if entry.nodes > 1]
    spec = cluster.preset(entries[0].preset)
    nvlink = None
    if single and spec.nvlink_bandwidth is not None:
        nvlink = nvlink_links(single) * nccl_table.NVLINK_SPEC_PER_LINK[spec.arch]
        overrides["nvlink_bandwidth"] = nvlink
    if several:
        overrides.update(network_rates(several[0], network_factor(several, overrides, entries)))
    entry, _ = _smallest(entries)
    return Calibration(entries[0].preset, entries[0].nodes, nvlink, overrides.get("nic_bandwidth"),
                       overrides.get("pcie_bandwidth"), overhead(entries, overrides),
                       entry.table.gpus_per_process, tuple(e.table.path for e in entries))


def calibrated_cases(entries: list[validate.Entry], calibration: Calibration) -> list[validate.Case]:
    """``entries`` predicted with the calibration: its rates on their machines, its launch overhead on the
    tables of its launch mode; every case marked calibrated."""
    cases = []
    for entry in entries:
        overrides = {**entry.overrides, **calibration.overrides}
        graph = validate.machine_graph(entry.preset, entry.nodes, overrides, entry.algorithm, entry.collective,
                                       "calibration")
        moved = replace(entry, graph=graph, overrides=overrides)
        cases.append(validate.predict(moved, calibration.overhead_for(entry.table.gpus_per_process), calibrated=True))
    return cases


def _rate_text(rate: float) -> str:
    return f"{rate / 1e9:.12g} GB/s"


def text(calibration: Calibration) -> str:
    """The calibration as YAML (see the module docstring)."""
    lines = ["# commsim calibrate: CALIBRATED overrides (measured, not spec), from " + ", ".join(
        Path(source).name for source in calibration.sources),
             "# topology: a scenario's topology as it is; launch_overhead: added by commsim validate --calibration",
             "calibrated: true",
             f"launch_overhead: {calibration.launch_overhead_s * 1e6:.12g} us",
             f"launch_gpus_per_process: {calibration.launch_gpus_per_process or 'null'}",
             "topology:", "  kind: cluster", f"  preset: {calibration.preset}", f"  nodes: {calibration.nodes}"]
    if calibration.nvlink_bandwidth is not None:
        lines.append(f"  nvlink_bandwidth: {_rate_text(calibration.nvlink_bandwidth)}")
    for key in ("nic_bandwidth", "pcie_bandwidth"):
        if getattr(calibration, key) is not None:
            lines.append(f"  {key}: {_rate_text(getattr(calibration, key))}")
    return "\n".join(lines) + "\n"


def load(path: Path) -> Calibration:
    """A calibration file ``commsim calibrate`` wrote (one-line errors naming the file and key)."""
    document = scenario_file.read(path, str(path))
    where = str(path)
    if not isinstance(document, dict) or document.get("calibrated") is not True:
        raise CommsimError(f"{where}: not a calibration file (commsim calibrate writes one, with 'calibrated: true')")
    known = {"calibrated", "launch_overhead", "launch_gpus_per_process", "topology"}
    unknown = set(document) - known
    if unknown:
        raise CommsimError(f"{where}: {min(unknown)}: unknown key (known: {', '.join(sorted(known))})")
    topo = document.get("topology")
    if not isinstance(topo, dict) or topo.get("kind") != "cluster" or "preset" not in topo:
        raise CommsimError(f"{where}: topology: must be a mapping with kind: cluster and a preset")
    unknown = set(topo) - {"kind", "preset", "nodes", *RATES}
    if unknown:
        raise CommsimError(f"{where}: topology.{min(unknown)}: not a calibrated key ({', '.join(RATES)})")
    try:
        cluster.preset(topo["preset"])
    except CommsimError as error:
        raise CommsimError(f"{where}: topology.preset: {error}") from None
    rates = {}
    for key, parse, value in [*((f"topology.{key}", units.parse_bandwidth, topo[key]) for key in RATES if key in topo),
                              ("launch_overhead", units.parse_time, document.get("launch_overhead", 0))]:
        try:
            rates[key.removeprefix("topology.")] = parse(value)
        except CommsimError as error:
            raise CommsimError(f"{where}: {key}: {error}") from None
    overhead = rates.pop("launch_overhead")
    if any(not rate > 0 for rate in rates.values()) or not overhead >= 0:
        raise CommsimError(f"{where}: rates must be > 0 and launch_overhead >= 0")
    per_process = document.get("launch_gpus_per_process")
    if per_process is not None and (isinstance(per_process, bool) or not isinstance(per_process, int) or per_process < 1):
        raise CommsimError(f"{where}: launch_gpus_per_process: must be a whole number >= 1 or null")
    nodes = topo.get("nodes", 1)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise CommsimError(f"{where}: topology.nodes: must be a whole number >= 1")
    return Calibration(str(topo["preset"]), nodes, rates.get("nvlink_bandwidth"), rates.get("nic_bandwidth"),
                       rates.get("pcie_bandwidth"), overhead, per_process, (str(path),))
