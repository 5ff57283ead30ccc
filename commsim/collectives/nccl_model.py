"""NCCL's own cost model of all-reduce (its tuner), configured from a machine's spec-sheet rates.

NCCL predicts, per algorithm a (ring, tree) and protocol p (LL, LL128, Simple),

    time = lat(a, p) + bytes / algBw(a, p)

* **Channels.** NCCL's ring search (``src/graph/search.cc``) picks a channel speed s from a fixed list
  and as many channels C as the links carry: on one node each channel takes s of every GPU's NVLink
  (NCCL counts links × its per-link rate, ``topo.h``), across nodes s of one NIC's line rate, with s
  no more than a GPU reaches its NIC at (PCIe as NCCL counts it, 3/4 of the raw rate). It keeps the
  largest C·s, then doubles the channels at half the speed where ``ncclTopoDupChannels`` does.
  Emulated here in closed form (the search's graph walk, timeouts and NUMA/PCI-switch details are
  not): it reproduces NCCL's documented channel counts on A100, H800 and H100 nodes and the maintainers'
  ceilings (192 GB/s on 2 × DGX A100, 12 GB/s per 100G NIC, 46–48 per 400G NIC; tests/test_nccl_model.py).
* **Bandwidth.** busBw = C·s, then per protocol (``tuning.cc:327-337``): ring LL ×0.5 (≤ llMaxBw), ring
  LL128 ×0.92 (≤ C·36.7 on Hopper), tree ×0.92 (≤ C·perChMaxTreeBw) and LL ÷3.8, LL128 ×7/9 or 120/128.
  algBw = busBw·n/(2(n−1)) for the ring, busBw/2 for the tree, times the tree correction by size.
* **Latency.** ring: base + (2(n−1) − 2(N−1))·max(intra, net overhead) + 2(N−1)·inter (N nodes; the
  intra hop is NVLink's or PCI's, inter the network's, ``tuning.cc:384-435``), ×1.4 for Simple on
  several nodes once bytes/(channels·n) ≥ 64; tree: base + 2((n/N − 1)·intra + ⌊lg N⌋·inter).

``choose`` picks the smallest predicted time, as NCCL's ``topoGetAlgoInfo`` does, and keeps every
alternative's time (the "why"). NVLS, CollNet and PAT are not modelled: on an H100 node NCCL may pick
NVLS above what any ring reaches, so compare with ``NCCL_ALGO=Ring`` measurements there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import networkx as nx

from . import nccl_table as T


@dataclass(frozen=True)
class Machine:
    """What NCCL's tuner sees of a job: ranks on nodes, the GPU generation, the spec rates (bytes/s per
    direction; ``nvlink_bandwidth`` None: the GPUs of a node meet over PCIe) and the host CPU vendor."""

    ranks: int
    nodes: int
    arch: str
    nvlink_bandwidth: float | None
    nic_bandwidth: float
    nics_per_node: int
    pcie_bandwidth: float
    cpu: str = "intel"

    @property
    def gpus_per_node(self) -> int:
        return self.ranks // self.nodes

    @property
    def nvlink(self) -> bool:
        """Whether the GPUs of a node talk over NVLink (NCCL's intra hardware row)."""
        return self.nvlink_bandwidth is not None and self.gpus_per_node > 1


def machine(graph: nx.Graph) -> Machine:
    """The machine of a ``cluster`` topology (``commsim.network.cluster``)."""
    info = graph.graph
    if info.get("kind") != "cluster":
        raise ValueError(f"model 'nccl' needs a 'cluster' topology (a preset), got {info.get('kind')!r}")
    return Machine(info["nodes"] * info["gpus_per_node"], info["nodes"], info["arch"], info["nvlink_bandwidth"],
                   info["nic_bandwidth"], info["nics_per_node"], info["pcie_bandwidth"], info.get("cpu", "intel"))


def nvlink_gbps(m: Machine) -> float:
    """A GPU's NVLink bandwidth as NCCL counts it: links × its per-link rate (GB/s per direction)."""
    links = round(m.nvlink_bandwidth / T.NVLINK_SPEC_PER_LINK[m.arch])
    return links * T.NVLINK_BW_PER_LINK[m.arch]


def pci_gbps(m: Machine) -> float:
    """PCIe as NCCL counts it: 3/4 of the raw rate (spec rate is raw × 128/130)."""
    return T.PCI_FRACTION_OF_RAW * m.pcie_bandwidth * 130 / 128 / 1e9


def nccl_rates(graph: nx.Graph, protocol: str | None = None) -> nx.Graph:
    """A copy of a cluster graph as NCCL's model sees it. Rates: GPU links at what NCCL's topology model
    gives them, the rates its protocols reach (``topo.h``/``topo.cc``): NVLink links × NCCL's per-link
    rate instead of the spec (H100: 18 × 20.6 = 370.8 GB/s, not 450), PCIe 3/4 of raw (Gen5 x16: 48,
    not 63), each link scaled by that ratio (overridden links keep their relation to the rest); NIC and
    switch links at their line rate (NCCL counts a NIC at speed / 8). With ``protocol``, latencies: a
    hop inside a node (two links through the NVSwitch or PCIe switch) takes NCCL's intra-node hardware
    latency for the ring and that protocol, at least its network overhead per step when there are
    several nodes; a hop between nodes (GPU, NIC, switch, NIC, GPU) its network latency, the tree's
    with one GPU per node (``tuning.cc:384-420``)."""
    m = machine(graph)
    nvlink = nvlink_gbps(m) * 1e9 / m.nvlink_bandwidth if m.nvlink_bandwidth else 1.0
    pci = pci_gbps(m) * 1e9 / m.pcie_bandwidth
    rated = graph.copy()
    latency = None
    if protocol is not None:
        p = T.PROTOCOLS.index(protocol)
        overhead = 0.0 if m.nodes == 1 else T.NET_OVERHEAD_US[m.cpu] * (
            T.NET_OVERHEAD_SIMPLE_FACTOR if protocol == "simple" else 1.0)
        intra = max(T.HW_LATENCY_US["nvlink" if m.nvlink else "pci"]["ring"][p], overhead) * 1e-6
        inter = T.HW_LATENCY_US["net"]["tree" if m.gpus_per_node == 1 else "ring"][p] * 1e-6
        latency = {"inside": intra / 2, "gpu-nic": 0.0, "nic": inter / 2, "fabric": 0.0}
    for u, v, data in rated.edges(data=True):
        gpu, other = (u, v) if isinstance(u, int) else (v, u)
        if isinstance(gpu, int):
            inside = str(other).endswith((".nvswitch", ".pcie"))
            data["bandwidth"] = data["bandwidth"] * (nvlink if str(other).endswith(".nvswitch") else pci)
            kind = "inside" if inside else "gpu-nic"
        else:
            kind = "nic" if ".nic" in str(u) or ".nic" in str(v) else "fabric"
        if latency is not None:
            data["latency"] = latency[kind]
    return rated


@dataclass(frozen=True)
class Channels:
    """The ring search's result: ``search`` channels of ``speed`` GB/s each; NCCL runs ``comm`` channels."""

    search: int
    speed: float
    comm: int


def channels(m: Machine) -> Channels:
    """NCCL's ring search in closed form (see the module docstring)."""
    per_gpu = nvlink_gbps(m) if m.nvlink else pci_gbps(m)
    if m.nodes == 1:
        speeds, reach, total = T.SPEEDS_INTRA[m.arch], per_gpu, per_gpu

        def fit(s: float) -> int:
            return math.floor(per_gpu / s + 1e-9)
    else:
        nic = m.nic_bandwidth / 1e9
        # equivalent: (reach as max) a faster start only tries speeds that fit no channel (fit() is 0 above
        # the slower of NIC and PCIe) before the first that does
        speeds, reach, total = T.SPEEDS_INTER[m.arch], min(pci_gbps(m), nic), max(per_gpu, pci_gbps(m))

        pci = pci_gbps(m)

        def fit(s: float) -> int:  # a channel takes s of a NIC, and of the PCIe link of a GPU that reaches it
            return min(min(m.nics_per_node, m.gpus_per_node) * math.floor(nic / s + 1e-9),
                       m.gpus_per_node * math.floor(pci / s + 1e-9))
    # equivalent: reach ≤ total, so s ≤ total (search.cc:1170) holds whenever s ≤ reach; no listed speed is within
    # 1e-9 of either; starting above the first speed that fits (or one before the last) only adds speeds fitting none
    i = next((k for k, s in enumerate(speeds) if s <= reach + 1e-9 and s <= total + 1e-9), len(speeds) - 1)
    best = (0, 0.0)
    while True:
        s = speeds[i]
        count = min(fit(s), T.SEARCH_MAX_CHANNELS)
        if count * s > best[0] * best[1] + 1e-9:  # equivalent: (> as >=) distinct products differ by ≥ 0.01
            best = (count, s)
        if best[0] * best[1] >= total - 1e-9:  # equivalent: (>= as >) nothing lies exactly at total − 1e-9
            break
        # equivalent: best[1] is 0 exactly when best[0] is; no two listed speeds are exactly 0.49 apart
        if i + 1 < len(speeds) and (best[0] == 0 or speeds[i + 1] / best[1] > T.SEARCH_NEXT_SPEED_RATIO):
            i += 1
        else:
            break
    # nothing fits: NCCL's "simple order" fallback (equivalent: best[1] is 0 exactly when best[0] is)
    count, speed = best if best[0] else (1, T.FALLBACK_SPEED)
    hopper_or_later = T.ARCHS.index(m.arch) >= T.ARCHS.index("sm90")
    # equivalent: (>= as >) no listed speed is 25
    if speed >= T.DUP_MIN_SPEED and not (hopper_or_later and speed < T.DUP_MIN_SPEED_SM90
                                          and count > T.DUP_MAX_CHANNELS_SM90):
        doubled = min(2 * count, T.SEARCH_MAX_CHANNELS)
        speed /= -(-doubled // count)
        count = doubled
    comm = min(2 * count, T.MAX_CHANNELS)  # connect.cc:460 doubles them again
    # equivalent: (nodes ≥ 1) on one node no duplicated channel is faster than 45 GB/s (intra speeds ≤ 90, halved)
    if hopper_or_later and m.nodes > 1 and speed > T.MORE_CHANNELS_ABOVE and comm < T.MORE_CHANNELS_BELOW:
        comm *= 2  # connect.cc:480-483: "4 compute channels per search channel to reach peak BW on <8 PPN"
    return Channels(count, speed, comm)


def _scale(nodes: int) -> int:
    """NCCL's tuning-scale column: 1 node, 2 nodes, 4+ (tuning.cc:272)."""
    return nodes - 1 if nodes <= 2 else 2  # equivalent: (≤ 3) 3 − 1 is 2


def base_latency_s(algorithm: str, protocol: str) -> float:
    """NCCL's fixed latency of one collective (baseLat, tuning.cc:150-154), in seconds."""
    return T.BASE_LATENCY_US[algorithm][T.PROTOCOLS.index(protocol)] * 1e-6


def enabled(m: Machine, protocol: str) -> bool:
    """LL128 needs NVLink inside the node, or one GPU per node (tuning.cc:514-541: typeIntra ≤ NVB, and a
    lone GPU's is LOC); LL and Simple always run. (NCCL also checks the GPU-NIC path, not modelled.)"""
    return protocol != "ll128" or m.nvlink or m.gpus_per_node == 1


def latency_and_bandwidth(m: Machine, algorithm: str, protocol: str) -> tuple[float, float]:
    """(lat µs, algBw GB/s) of an all-reduce, as ``ncclTopoTuneModel`` stores them."""
    n, nodes, p = m.ranks, m.nodes, T.PROTOCOLS.index(protocol)
    ch = channels(m)
    col = _scale(nodes)
    ll_row = m.arch if nodes == 1 else ("sm80" if m.cpu == "amd" else "sm70")  # rows 1 / 0 by CPU vendor
    ll_max = T.LL_MAX_BW[ll_row][col]
    bus = ch.search * ch.speed
    if algorithm == "ring":
        if protocol == "ll":
            bus = min(ll_max, bus * T.RING_LL_FACTOR)
        elif protocol == "ll128":
            bus = min(bus * T.RING_LL128_FACTOR, ch.search * T.PER_CHANNEL_MAX_RING_LL128_BW[m.arch][col])
    else:
        bus = min(bus * T.TREE_FACTOR, ch.search * T.PER_CHANNEL_MAX_TREE_BW[m.arch][col])
        if protocol == "ll":
            bus = min(bus / T.TREE_LL_DIVISOR, ll_max)
        elif protocol == "ll128":
            factor = T.TREE_LL128_FACTOR_ONE_NODE if nodes == 1 else T.TREE_LL128_FACTOR_NODES
            bus = min(bus * factor, ch.search * T.PER_CHANNEL_MAX_TREE_LL128_BW[m.arch][col])
    nsteps = 2 * (n - 1)
    algbw = bus * (n / nsteps if algorithm == "ring" else 0.5)
    intra = T.HW_LATENCY_US["nvlink" if m.nvlink else "pci"][algorithm][p]
    inter = T.HW_LATENCY_US["net"]["tree" if m.gpus_per_node == 1 else algorithm][p]
    lat = T.BASE_LATENCY_US[algorithm][p]
    if algorithm == "ring":
        overhead = 0.0
        if nodes > 1:
            overhead = T.NET_OVERHEAD_US[m.cpu] * (T.NET_OVERHEAD_SIMPLE_FACTOR if protocol == "simple" else 1.0)
        inter_steps = 0 if nodes == 1 else 2 * (nodes - 1)
        lat += (nsteps - inter_steps) * max(intra, overhead) + inter_steps * inter
    else:
        lat += 2 * ((n // nodes - 1) * intra + (nodes.bit_length() - 1) * inter)  # equivalent: (/) nodes divide n
    return lat, algbw


def time_s(m: Machine, algorithm: str, protocol: str, nbytes: int) -> float | None:
    """NCCL's predicted all-reduce time in seconds (``ncclTopoGetAlgoTime``), None if the protocol is off."""
    if m.ranks <= 1:
        return 0.0
    if not enabled(m, protocol):
        return None
    lat, bw = latency_and_bandwidth(m, algorithm, protocol)
    size_index = (nbytes >> 6).bit_length() - 1
    if algorithm == "tree" and 0 <= size_index < T.TREE_CORRECTION_SIZES:
        bw *= T.TREE_CORRECTION[T.PROTOCOLS.index(protocol)][size_index]
    if (algorithm == "ring" and protocol == "simple" and m.nodes > 1
            and nbytes // (channels(m).comm * m.ranks) >= T.RING_PLATEAU_MIN_BYTES):  # equivalent: (/) ⌊x⌋≥64 iff x≥64
        lat *= T.RING_PLATEAU_FACTOR[m.arch]
    return (lat + nbytes / (1000 * bw)) * 1e-6


@dataclass(frozen=True)
class Choice:
    """What NCCL would run: the fastest (algorithm, protocol) and every alternative's predicted time."""

    algorithm: str
    protocol: str
    time_s: float
    alternatives: dict[tuple[str, str], float | None]

    def why(self) -> str:
        """One line: the pick and the others' predicted times."""
        others = ", ".join(f"{a}/{p} {'off' if t is None else f'{t * 1e6:.1f} us'}"
                           for (a, p), t in self.alternatives.items() if (a, p) != (self.algorithm, self.protocol))
        return f"{self.algorithm}/{self.protocol} {self.time_s * 1e6:.1f} us (others: {others})"


def choose(m: Machine, nbytes: int, algorithms: tuple[str, ...] = ("ring", "tree"),
           protocols: tuple[str, ...] = T.PROTOCOLS) -> Choice:
    """The smallest predicted time over ``algorithms`` × ``protocols`` (enqueue.cc:2028-2047)."""
    table = {(a, p): time_s(m, a, p, nbytes) for a in algorithms for p in protocols}
    runnable = {key: t for key, t in table.items() if t is not None}
    if not runnable:
        raise ValueError(f"no protocol of {', '.join(protocols)} runs on this machine")
    (a, p), best = min(runnable.items(), key=lambda item: item[1])
    return Choice(a, p, best, table)


@dataclass(frozen=True)
class Plan:
    """What NCCL runs for one all-reduce: its pick, on how many channels, the graph at NCCL's rates and
    hop latencies for that protocol, the schedule maker and NCCL's fixed latency before it."""

    choice: Choice
    channels: int
    graph: nx.Graph
    make: Any  # make(n, p, w, gpus_per_node=g): the NCCL ring's or tree's schedule
    message_sizes: Any  # message_sizes(n, p, w): wire size → count, by formula
    base_latency_s: float


def plan(graph: nx.Graph, nbytes: int, algorithms: tuple[str, ...] = T.ALGORITHMS,
         protocols: tuple[str, ...] = T.PROTOCOLS, channel_count: int | None = None) -> Plan:
    """NCCL's pick among ``algorithms`` × ``protocols`` for ``nbytes`` on a cluster ``graph`` (ValueError if
    no protocol runs), on NCCL's channels unless ``channel_count`` is given."""
    from . import nccl_ring, nccl_tree

    m = machine(graph)
    choice = choose(m, nbytes, algorithms, protocols)
    count = channels(m).comm if channel_count is None else channel_count
    module = nccl_tree if choice.algorithm == "tree" else nccl_ring
    make = getattr(module, f"nccl_{choice.algorithm}_schedule")
    return Plan(choice, count, nccl_rates(graph, choice.protocol), partial(make, channels=count, protocol=choice.protocol),
                partial(module.message_sizes, channels=count, protocol=choice.protocol),
                base_latency_s(choice.algorithm, choice.protocol))
