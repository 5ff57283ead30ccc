"""NCCL's own cost model (its tuner), configured from a machine's spec-sheet rates, and the plan of one call.

NCCL predicts, per collective, algorithm a (ring, tree, PAT) and protocol p (LL, LL128, Simple),

    time = lat(a, p) + bytes / algBw(a, p)

with bytes the whole buffer (for reduce-scatter and all-gather n × the per-rank count, enqueue.cc:2127).

* **Channels.** NCCL's ring search (``src/graph/search.cc``) picks a channel speed s from a fixed list
  and as many channels C as the links carry: on one node each channel takes s of every GPU's NVLink
  (NCCL counts links × its per-link rate, ``topo.h``), across nodes s of one NIC's line rate, with s
  no more than a GPU reaches its NIC at (PCIe as NCCL counts it, 3/4 of the raw rate). It keeps the
  largest C·s, then doubles the channels at half the speed where ``ncclTopoDupChannels`` does.
  Emulated here in closed form (the search's graph walk, timeouts and NUMA/PCI-switch details are
  not): it reproduces NCCL's documented channel counts on A100, H800 and H100 nodes and the maintainers'
  ceilings (192 GB/s on 2 × DGX A100, 12 GB/s per 100G NIC, 46–48 per 400G NIC; tests/test_nccl_model.py).
  Whether every channel follows the same GPU order (``sameChannels``) is emulated too (``same_channels``).
* **Bandwidth.** busBw = C·s, then per protocol (``tuning.cc:327-337``): ring LL ×0.5 (≤ llMaxBw), ring
  LL128 ×0.92 (≤ C·36.7 on Hopper), tree ×0.92 (≤ C·perChMaxTreeBw) and LL ÷3.8, LL128 ×7/9 or 120/128,
  PAT ×0.75. algBw = busBw·n/nsteps for the ring (nsteps 2(n−1) all-reduce, n−1 reduce-scatter and
  all-gather, n broadcast and reduce; tuning.cc:289-291, 377-382), busBw/2 for the tree, times the tree
  correction by size; PAT's is its busBw.
* **Latency** (``tuning.cc:384-435``; intra the NVLink or PCI hop, inter the network's, the tree's row with
  one GPU per node). Ring all-reduce, reduce-scatter, all-gather: base + (nsteps − I)·max(intra, net
  overhead) + I·inter with I = 2(N−1) inter-node steps for all-reduce, N−1 for the others (N nodes),
  ×1.4 for all-reduce Simple on several nodes once bytes/(channels·n) ≥ 64; ring broadcast and reduce:
  base + one hop (the network's on several nodes) with ``sameChannels``, else nsteps hops (Simple taking
  the tree's hop latency); tree (all-reduce only): base + 2((n/N − 1)·intra + ⌊lg N⌋·inter); PAT
  (reduce-scatter and all-gather, one GPU per node, Simple): base + ⌊lg N⌋·inter/3.5 + 2.8·n.

* **NVLS and NVLS-tree** (sm90+ GPUs on an NVSwitch; NVLS on one node, NVLS-tree across nodes, Simple only):
  NCCL's NVLS search in closed form (``nvls_graph``: g channels of speed s, each taking s of every GPU's
  NVLink and 2s of its head's), then per channel min(s × efficiency (Hopper .85, Blackwell .74) × (C − 1)/C ×
  2 for all-reduce, the network speed (× 2 for NVLS-tree on ≤ 2 nodes), NVLS-tree's per-channel cap); latency
  25 µs, + 2·⌊lg N⌋·20.9 µs for NVLS-tree (``_nvls_latency_and_bandwidth``). CollNet is not modelled.

* **Kernel throughput** (``protocol_cap_gbps``): the per-channel maxima above (ring LL128, tree, tree LL128) and
  llMaxBw bound a channel's protocol throughput, not a link; ``plan`` carries them on the GPU's links of the rated
  graph, on the wire, so the schedule runs the ring's LL and LL128 and the tree no faster than NCCL's tuner says.

NCCL rates broadcast and reduce on the ring only and has no tree for reduce-scatter or all-gather
(tuning.cc:294-298). ``choose`` picks the smallest predicted time, as NCCL's ``topoGetAlgoInfo`` does,
and keeps every alternative's time (the "why"). PAT, NVLS-tree and NVLS's reduce-scatter and all-gather are
predicted but not simulated: ``plan`` runs what commsim schedules (``SCHEDULED``) where NCCL would pick them.
``launch`` gives the channels and threads NCCL runs a call on, fewer for small calls (enqueue.cc).

The personalized all-to-all is point-to-point sends (``ncclAlltoAll`` and nccl-tests' alltoall_perf,
enqueue.cc:3070-3078), which NCCL's tuner does not rate: no predicted time, no base latency. What NCCL's
code does give is its p2p setup (``p2p_channels``: channels per peer from paths.cc, parts and protocol
per send from enqueue.cc), which ``plan`` uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import networkx as nx
import numpy as np

from . import nvls, p2p, pipeline, ring, tree
from . import table as T


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


def nccl_rates(graph: nx.Graph, protocol: str | None = None, algorithm: str = "ring") -> nx.Graph:
    """A copy of a cluster graph as NCCL's model sees it. Rates: GPU links at what NCCL's topology model
    gives them, the rates its protocols reach (``topo.h``/``topo.cc``): NVLink links × NCCL's per-link
    rate instead of the spec (H100: 18 × 20.6 = 370.8 GB/s, not 450), PCIe 3/4 of raw (Gen5 x16: 48,
    not 63), each link scaled by that ratio (overridden links keep their relation to the rest); NIC and
    switch links at their line rate (NCCL counts a NIC at speed / 8). With ``protocol``, latencies: a
    hop inside a node (two links through the NVSwitch or PCIe switch) takes NCCL's intra-node hardware
    latency for ``algorithm`` and that protocol, for the ring at least its network overhead per step when
    there are several nodes (tuning.cc:404-411, rings only); a hop between nodes (GPU, NIC, switch, NIC,
    GPU) its network latency, the tree's for the tree and with one GPU per node (``tuning.cc:384-388``, the
    tree's 2·((ppn − 1)·intraLat + log2(nodes)·interLat) at tuning.cc:414-417)."""
    m = machine(graph)
    nvlink = nvlink_gbps(m) * 1e9 / m.nvlink_bandwidth if m.nvlink_bandwidth else 1.0
    pci = pci_gbps(m) * 1e9 / m.pcie_bandwidth
    rated = graph.copy()
    latency = None
    if protocol is not None:
        p = T.PROTOCOLS.index(protocol)
        hw = "nvlink" if m.nvlink else "pci"
        if algorithm == "tree":  # its own rows, and no network overhead per step (a ring's)
            intra = T.HW_LATENCY_US[hw]["tree"][p] * 1e-6
            inter = T.HW_LATENCY_US["net"]["tree"][p] * 1e-6
        else:
            overhead = 0.0 if m.nodes == 1 else T.NET_OVERHEAD_US[m.cpu] * (
                T.NET_OVERHEAD_SIMPLE_FACTOR if protocol == "simple" else 1.0)
            intra = max(T.HW_LATENCY_US[hw]["ring"][p], overhead) * 1e-6
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


def nvls_supported(m: Machine) -> bool:
    """Whether NCCL builds an NVLS graph: GPUs of sm90 or later on an NVSwitch (search.cc:1124), at least 2 of
    them in the node (nvls.cc:262). commsim's presets with NVLink join their GPUs through NVSwitches; NCCL also
    asks the driver for multicast support (nvls.cc:270-276), which these nodes have."""
    return T.ARCHS.index(m.arch) >= T.ARCHS.index(T.NVLS_MIN_ARCH) and m.nvlink


@dataclass(frozen=True)
class NvlsGraph:
    """NCCL's NVLS graph: ``channels`` search channels (one head GPU each), ``intra`` GB/s each takes of every
    GPU's NVLink (twice that of its head's), ``inter`` its network (and, on one node, unused) speed."""

    channels: int
    intra: float
    inter: float


def nvls_graph(m: Machine) -> NvlsGraph | None:
    """NCCL's NVLS search (search.cc:410-443, 1124-1136, 1146-1285) in closed form; None without NVLS.

    Channel c has head GPU c: it takes s of every GPU's link to the NVSwitch each way, 2s of its head's, so k
    channels fit while (k + 1)·s ≤ the GPU's NVLink (NCCL's count, ``nvlink_gbps``). On one node every GPU must be
    a head (k = g, at most 32); across nodes each channel is a NIC with its own local GPU (k ≤ min(NICs, g)), s
    at most what a GPU reaches its NIC at. Pass 1 walks the speed list down from the fastest, keeping the first
    speed of each larger channel count, until g channels fit. (NCCL's walk starts at the first speed s with s·g ≤
    total·g/(g − 1) and s ≤ the reach, and stops below .49 of the best speed: no speed it skips fits a channel,
    and the count grows before the speed halves — ⌊L/s⌋ − 1 at least doubles — so neither changes the result.)
    Pass 2 raises only the network speed, one listed speed at a time while it is under twice the intra speed
    and fits (search.cc:1274-1279)."""
    if not nvls_supported(m):
        return None
    g, link = m.gpus_per_node, nvlink_gbps(m)
    most = min(T.NVLS_MAX_ARITY, g)
    if m.nodes == 1:
        speeds, reach, heads, least = T.SPEEDS_INTRA[m.arch], link, most, most
    else:
        speeds, reach = T.SPEEDS_INTER[m.arch], min(pci_gbps(m), m.nic_bandwidth / 1e9)
        heads, least = min(most, m.nics_per_node), 1
    best = (0, 0.0)
    for s in speeds:
        # equivalent: (< for <=, ± the tolerance) no listed speed is within 1e-9 of a reach or a link share
        count = min(heads, math.floor(link / s + 1e-9) - 1) if s <= reach + 1e-9 else 0
        if count >= least and count > best[0]:
            best = (count, s)
            if count == most:
                break
    if best[0] == 0:  # equivalent: (best[1]) the speed is 0 exactly when the count is
        return None
    count, intra = best
    i = speeds.index(intra)
    inter = intra
    # equivalent: (< for <=) no listed speed is within 1e-9 of a reach
    while i > 0 and inter < 2 * intra and (m.nodes == 1 or speeds[i - 1] <= reach + 1e-9):
        i -= 1
        inter = speeds[i]
    return NvlsGraph(count, intra, inter)


def nvls_channels(m: Machine) -> int:
    """The CTAs NCCL runs NVLS on (nvls.cc:202-214): 16 on Hopper, 24 on one Blackwell node, 32 on several."""
    if m.arch == "sm100" and m.nodes > 1:
        return T.NVLS_CHANNELS_SM100_NODES
    return T.NVLS_CHANNELS[m.arch]


def _scale(nodes: int) -> int:
    """NCCL's tuning-scale column: 1 node, 2 nodes, 4+ (tuning.cc:272)."""
    return nodes - 1 if nodes <= 2 else 2  # equivalent: (≤ 3) 3 − 1 is 2


ALLTOALL = "personalized_all_to_all"
NVLS = ("nvls", "nvls_tree")
RATED = {"allreduce": ("ring", "tree", "nvls", "nvls_tree"), "reduce_scatter": ("ring", "pat", "nvls"),
         "all_gather": ("ring", "pat", "nvls"), "broadcast": ("ring",), "reduce": ("ring",)}
"""The algorithms NCCL's tuner rates per collective, of those modelled (tuning.cc:294-298: broadcast and reduce
on the ring only, reduce-scatter and all-gather on the ring, PAT and NVLS; no tree but for all-reduce, NVLS-tree
for all-reduce only)."""
SCHEDULED = {"allreduce": (*T.ALGORITHMS, "nvls"), "reduce_scatter": ("ring",), "all_gather": ("ring",), "broadcast": ("ring",),
             "reduce": ("ring",)}
"""The algorithms commsim runs as schedules, per collective (PAT, NVLS-tree and NVLS reduce-scatter and all-gather
are predicted, not simulated)."""


def nsteps(n: int, collective: str) -> int:
    """NCCL's steps of a ring collective (tuning.cc:289-291): 2(n−1) all-reduce, n−1 reduce-scatter and
    all-gather, n broadcast and reduce."""
    return 2 * (n - 1) if collective == "allreduce" else n - 1 if collective in ("reduce_scatter", "all_gather") else n


def same_channels(m: Machine) -> bool:
    """Whether NCCL's ring search ends with ``sameChannels`` (every channel the same GPU order). The search
    tries it first and drops it only for a better result (search.cc:1102-1106, 1201-1209); a channel that
    replays the last one's GPUs must reach the same NIC (search.cc:775-779), so with several NICs per node,
    each near its own GPU, the channels that spread over them need other orders: 0. One node, or one NIC
    per node (or one GPU): 1. Emulated, as ``channels`` is."""
    return m.nodes == 1 or min(m.nics_per_node, m.gpus_per_node) == 1


def base_latency_s(algorithm: str, protocol: str) -> float:
    """NCCL's fixed latency of one collective (baseLat, tuning.cc:150-154), in seconds."""
    return T.BASE_LATENCY_US[algorithm][T.PROTOCOLS.index(protocol)] * 1e-6


def enabled(m: Machine, protocol: str, algorithm: str = "ring") -> bool:
    """LL128 needs NVLink inside the node, or one GPU per node (tuning.cc:514-541: typeIntra ≤ NVB, and a
    lone GPU's is LOC); LL and Simple always run. (NCCL also checks the GPU-NIC path, not modelled.) PAT
    runs Simple with one GPU per node only (tuning.cc:215-223, 302-304). NVLS and NVLS-tree run Simple where
    NCCL has an NVLS graph of 2+ channels: NVLS on one node (across nodes it needs CollNet, not modelled),
    NVLS-tree on several (tuning.cc:301, 308-309, 501-506)."""
    if algorithm == "pat":
        return protocol == "simple" and m.gpus_per_node == 1
    if algorithm in NVLS:  # tuning.cc:301, 308-309, 501-506: Simple, 2+ channels; NVLS on one node, NVLS-tree on several
        graph = nvls_graph(m)
        return (protocol == "simple" and graph is not None and graph.channels >= T.NVLS_MIN_GRAPH_CHANNELS
                and (m.nodes == 1) == (algorithm == "nvls"))
    return protocol != "ll128" or m.nvlink or m.gpus_per_node == 1


def _rated(algorithm: str, collective: str) -> None:
    if collective == ALLTOALL:
        raise ValueError("NCCL's all-to-all is point-to-point sends: no tuning table, no predicted time "
                         "(see p2p_channels)")
    if collective not in RATED:
        raise ValueError(f"unknown collective {collective!r}; known: {', '.join(RATED)}")
    if algorithm not in RATED[collective]:
        raise ValueError(f"NCCL rates no {algorithm} for {collective} (tuning.cc:294-298): {', '.join(RATED[collective])}")


def ll_max_gbps(m: Machine) -> float:
    """NCCL's llMaxBw (GB/s): the LL protocol's bus-bandwidth ceiling, by GPU generation on one node and by host CPU
    vendor on several (tuning.cc:178-183, 273-276: rows 0 Intel/other, 1 AMD), by the nodes' column."""
    row = m.arch if m.nodes == 1 else ("sm80" if m.cpu == "amd" else "sm70")
    return T.LL_MAX_BW[row][_scale(m.nodes)]


def protocol_cap_gbps(m: Machine, algorithm: str, protocol: str) -> float | None:
    """The most a GPU's traffic moves per direction on NCCL's ring or tree in a protocol (GB/s of data), as NCCL's
    tuner bounds a channel's throughput (tuning.cc:327-335, the per-channel maxima of tuning.cc:184-204 times the
    graph's channels): ring LL at llMaxBw, ring LL128 at channels × perChMaxRingLL128Bw, Simple unbounded; the tree
    (all-reduce) at channels × perChMaxTreeBw, LL also at llMaxBw, LL128 also at channels × perChMaxTreeLL128Bw.
    These are the kernels' own throughput (LL and LL128 store a flag with every 8 or 128 bytes and the receiver polls
    it; a tree channel reduces and broadcasts in one thread block), not a link's. The bus bandwidth they bound is
    each GPU's send rate: on the ring busBw = algBw · nsteps / n and a GPU sends nsteps / n of the buffer; on the
    tree algBw = busBw / 2 and a GPU of a node's chain sends the buffer up and down. None: no bound."""
    col, search = _scale(m.nodes), channels(m).search
    if algorithm == "tree":
        cap = search * T.PER_CHANNEL_MAX_TREE_BW[m.arch][col]
        if protocol == "ll":
            return min(cap, ll_max_gbps(m))
        if protocol == "ll128":
            return min(cap, search * T.PER_CHANNEL_MAX_TREE_LL128_BW[m.arch][col])
        return cap
    if algorithm != "ring":
        return None
    if protocol == "ll":
        return ll_max_gbps(m)
    if protocol == "ll128":
        return search * T.PER_CHANNEL_MAX_RING_LL128_BW[m.arch][col]
    return None


def capped_gpu_links(graph: nx.Graph, rate: float) -> nx.Graph:
    """A copy of ``graph`` with every link of a GPU (an integer node) at most ``rate`` bytes/s."""
    capped = graph.copy()
    for u, v, data in capped.edges(data=True):
        if isinstance(u, int) or isinstance(v, int):
            data["bandwidth"] = min(data["bandwidth"], rate)
    return capped


def latency_and_bandwidth(m: Machine, algorithm: str, protocol: str, collective: str = "allreduce") -> tuple[float, float]:
    """(lat µs, algBw GB/s) of a collective, as ``ncclTopoTuneModel`` stores them (see the module docstring)."""
    _rated(algorithm, collective)
    if algorithm in NVLS:
        return _nvls_latency_and_bandwidth(m, algorithm, protocol, collective)
    if algorithm == "pat" and not enabled(m, protocol, "pat"):
        raise ValueError("PAT runs Simple with one GPU per node only (tuning.cc:215-223, 302-304)")
    n, nodes, p = m.ranks, m.nodes, T.PROTOCOLS.index(protocol)
    ch = channels(m)
    col = _scale(nodes)
    ll_max = ll_max_gbps(m)
    bus = ch.search * ch.speed
    steps = nsteps(n, collective)
    inter = T.HW_LATENCY_US["net"]["tree" if m.gpus_per_node == 1 else algorithm][p]
    lat = T.BASE_LATENCY_US[algorithm][p]
    if algorithm == "pat":  # tuning.cc:337, 377-382, 429-433: no protocol refinement, no algBw ratio
        return (lat + (nodes.bit_length() - 1) * inter / T.PAT_INTER_DIVISOR + n * T.PAT_PER_RANK_US,
                bus * T.PAT_BANDWIDTH_FACTOR)
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
        if m.gpus_per_node == 1:  # tuning.cc:336, search.cc:1133: one GPU per node makes the tree's pattern TREE
            bus *= T.TREE_PATTERN_FACTOR
    algbw = bus * (n / steps if algorithm == "ring" else 0.5)
    intra = T.HW_LATENCY_US["nvlink" if m.nvlink else "pci"][algorithm][p]
    if algorithm == "ring" and collective in ("broadcast", "reduce"):  # tuning.cc:394-402
        hw = ("nvlink" if m.nvlink else "pci") if nodes == 1 else "net"
        if same_channels(m):
            lat += T.HW_LATENCY_US[hw]["ring"][p]
        else:  # "some chunk latency, waiting for proper chunk modeling": the tree's for Simple
            lat += steps * T.HW_LATENCY_US[hw]["tree" if protocol == "simple" else "ring"][p]
    elif algorithm == "ring":  # tuning.cc:403-413
        overhead = 0.0
        if nodes > 1:
            overhead = T.NET_OVERHEAD_US[m.cpu] * (T.NET_OVERHEAD_SIMPLE_FACTOR if protocol == "simple" else 1.0)
        inter_steps = 0 if nodes == 1 else 2 * (nodes - 1) if collective == "allreduce" else nodes - 1
        lat += (steps - inter_steps) * max(intra, overhead) + inter_steps * inter
    else:
        lat += 2 * ((n // nodes - 1) * intra + (nodes.bit_length() - 1) * inter)  # equivalent: (/) nodes divide n
    return lat, algbw


def _nvls_latency_and_bandwidth(m: Machine, algorithm: str, protocol: str, collective: str) -> tuple[float, float]:
    """NVLS and NVLS-tree (tuning.cc:307-323, 377-382, 424-428): per channel of the NVLS graph, intra = speed ×
    efficiency × (C − 1)/C, × 2 for all-reduce ("pipelines two operations"), × (g − 1)/g otherwise; inter = the
    network speed (× 2 for NVLS-tree on ≤ 2 nodes); bw = min(intra, inter, NVLS-tree's per-channel cap); busBw =
    C·bw; algBw = busBw·n/nsteps for all-reduce, busBw for reduce-scatter and all-gather. Latency: NVLS the
    NVLink hop's 25 µs (no base latency); NVLS-tree 25 + 2·⌊lg N⌋·20.9 µs."""
    if not enabled(m, protocol, algorithm):
        raise ValueError(f"NCCL runs no {algorithm} here: it needs Simple, sm90+ GPUs on an NVSwitch, "
                         f"{'one node' if algorithm == 'nvls' else 'several nodes'} (tuning.cc:301-309, 501-506)")
    graph = nvls_graph(m)
    ppn = m.gpus_per_node
    c = graph.channels
    intra = graph.intra * T.NVLS_EFFICIENCY[m.arch] * (c - 1) / c
    intra *= 2.0 if collective == "allreduce" else (ppn - 1) / ppn
    # equivalent: (2 → 3) the network speed is at least the intra speed after pass 2, so 2 × it never binds
    inter = graph.inter * (2 if m.nodes <= 2 and algorithm == "nvls_tree" else 1)
    cap = T.PER_CHANNEL_MAX_NVLS_TREE_BW[m.arch][_scale(m.nodes)] if algorithm == "nvls_tree" else math.inf
    bus = c * min(intra, inter, cap)
    algbw = bus * m.ranks / nsteps(m.ranks, collective) if collective == "allreduce" else bus
    lat = T.NVLS_HW_LATENCY_US["nvlink"][algorithm]
    if algorithm == "nvls_tree":
        lat += 2 * (m.nodes.bit_length() - 1) * T.NVLS_HW_LATENCY_US["net"][algorithm]
    return lat, algbw


def time_s(m: Machine, algorithm: str, protocol: str, nbytes: int, collective: str = "allreduce") -> float | None:
    """NCCL's predicted time in seconds of a collective of ``nbytes`` (``ncclTopoGetAlgoTime``; for
    reduce-scatter and all-gather the whole buffer, n × the per-rank count, enqueue.cc:2127), None if the
    protocol (or PAT) is off on this machine."""
    _rated(algorithm, collective)
    if m.ranks <= 1:
        return 0.0
    if not enabled(m, protocol, algorithm):
        return None
    if algorithm == "nvls" and collective != "allreduce" and m.gpus_per_node > T.NVLS_MAX_ARITY:
        return None  # enqueue.cc:2004-2005
    lat, bw = latency_and_bandwidth(m, algorithm, protocol, collective)
    size_index = (nbytes >> 6).bit_length() - 1
    if algorithm == "tree" and 0 <= size_index < T.TREE_CORRECTION_SIZES:
        bw *= T.TREE_CORRECTION[T.PROTOCOLS.index(protocol)][size_index]
    # tuning.cc:643-646: NVLS-tree takes the tree's correction on Blackwell x86 hosts (both of commsim's CPU vendors)
    if algorithm == "nvls_tree" and m.arch == "sm100" and 0 <= size_index < T.NVLS_TREE_CORRECTION_SIZES:
        bw *= T.TREE_CORRECTION[T.PROTOCOLS.index(protocol)][size_index]
    if (algorithm == "ring" and protocol == "simple" and m.nodes > 1 and collective == "allreduce"
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


def choose(m: Machine, nbytes: int, algorithms: tuple[str, ...] | None = None,
           protocols: tuple[str, ...] = T.PROTOCOLS, collective: str = "allreduce") -> Choice:
    """The smallest predicted time over ``algorithms`` (default: those NCCL rates for ``collective``) ×
    ``protocols`` (enqueue.cc:2028-2047)."""
    if collective not in RATED:
        _rated("ring", collective)  # says why
    algorithms = RATED[collective] if algorithms is None else algorithms
    table = {(a, p): time_s(m, a, p, nbytes, collective) for a in algorithms for p in protocols
             if a not in NVLS or p == "simple"}  # tuning.cc:301: NCCL rates NVLS in Simple only
    runnable = {key: t for key, t in table.items() if t is not None}
    if not runnable and set(algorithms) <= set(NVLS):
        raise ValueError(f"algorithms: {'/'.join(algorithms)} needs sm90+ GPUs on an NVSwitch, one node (NCCL "
                         "search.cc:1124)")
    if not runnable:
        raise ValueError(f"no protocol of {', '.join(protocols)} runs on this machine")
    (a, p), best = min(runnable.items(), key=lambda item: item[1])
    return Choice(a, p, best, table)


def max_threads(m: Machine, algorithm: str, protocol: str) -> int:
    """NCCL's threads per channel before the small-message cut (tuning.cc:244-256): NVLS 640; ring Simple 512, or
    256 where the ring graph's channels × speed ≤ PCI_BW (12 GB/s); LL 512, LL128 640, tree Simple 512."""
    if algorithm in NVLS:
        return T.NVLS_THREADS
    if algorithm == "ring" and protocol == "simple":
        ch = channels(m)
        return T.RING_SIMPLE_FEW_THREADS if ch.search * ch.speed <= T.PCI_BW else T.MAX_THREADS["simple"]
    return T.MAX_THREADS[protocol]


def _traffic_per_byte(m: Machine, protocol: str, collective: str) -> int:
    """enqueue.cc:91-102, 461, 658: 2 for all-reduce, n for reduce-scatter and all-gather, 1 otherwise; × 4 for LL."""
    per_byte = 2 if collective == "allreduce" else m.ranks if collective in ("reduce_scatter", "all_gather") else 1
    return per_byte * (T.LL_TRAFFIC_FACTOR if protocol == "ll" else 1)


@dataclass(frozen=True)
class Launch:
    """How NCCL launches one call: ``channels`` it runs on, ``threads`` per channel, and the channel limit
    ``most`` the small-message cut started from (enqueue.cc:2070-2116, 585-720)."""

    channels: int
    threads: int
    most: int


def launch(m: Machine, algorithm: str, protocol: str, nbytes: int, collective: str, itemsize: int) -> Launch:
    """The channels and threads NCCL runs a call of ``nbytes`` (the whole buffer, as the tuner's) on.

    topoGetAlgoInfo (enqueue.cc:2070-2116): NVLS takes NCCL's NVLS CTAs; ring and tree start from the
    communicator's channels C and the protocol's threads t, drop a channel while bytes < C·t·threshold (threshold
    64 Simple, 8 LL128, 8 LL × n on the ring; to 1 channel), then halve t while that still holds and t is a
    multiple of 128; + 1 warp ring Simple, + 4 tree Simple, at least 3 warps, tree 640. scheduleCollTasksToPlan
    (enqueue.cc:585-720) then deals the call's count out in cells of ⌈32 KiB / traffic per byte⌉ (to 16 B) bytes,
    ⌈traffic per channel / traffic per cell⌉ cells per channel (traffic per channel: max(32 KiB, traffic)/C
    rounded up to 16 B), so a small call may use fewer channels still."""
    if algorithm in NVLS:
        most = nc = nvls_channels(m)
        nt = T.NVLS_THREADS
    else:
        most = nc = channels(m).comm
        nt = max_threads(m, algorithm, protocol)
        threshold = T.THREAD_THRESHOLD[protocol] * (m.ranks if algorithm == "ring" and protocol == "ll" else 1)
        while nbytes < nc * nt * threshold and nc >= 2:
            nc -= 1
        while nbytes < nc * nt * threshold and nt % 128 == 0:
            nt //= 2
        if protocol == "simple" and algorithm == "ring":
            nt += T.WARP_SIZE  # (the tree's 4 more warps, enqueue.cc:2110, are overruled by its 640 below)
        nt = max(nt, 3 * T.WARP_SIZE)
        if algorithm in ("tree", "pat"):
            nt = T.MAX_NTHREADS
    per_byte = _traffic_per_byte(m, protocol, collective)
    # equivalent: (/ for //) the count is floored to whole items next
    count_bytes = nbytes // m.ranks if collective in ("reduce_scatter", "all_gather") else nbytes  # the task's count
    count_bytes = count_bytes // itemsize * itemsize
    traffic = max(T.MIN_TRAFFIC_PER_CHANNEL, count_bytes * per_byte)
    per_channel = -(-(traffic // nc) // 16) * 16
    cell = -(-(-(-T.MIN_TRAFFIC_PER_CHANNEL // per_byte)) // 16) * 16
    cells = -(-count_bytes // cell)
    if cells == 0:  # nothing to send: one channel
        return Launch(1, nt, most)
    # each channel ⌈traffic per channel / traffic per cell⌉ cells, the last the rest (at most ``most`` channels)
    per = min(cells, -(-per_channel // (cell * per_byte)))
    return Launch(min(-(-cells // per), most), nt, most)


@dataclass(frozen=True)
class P2pChannels:
    """NCCL's point-to-point setup (src/graph/paths.cc:961-1005, src/init.cc:830-843): ``channels`` p2p channels,
    at most ``per_peer`` of them for one send, at least ``min_parts`` where the send is large enough, and the
    Simple chunk ``chunk`` bytes; ``nodes`` > 1 sets the part sizes."""

    channels: int
    per_peer: int
    min_parts: int
    chunk: int
    nodes: int

    def send(self, nbytes: int) -> tuple[int, str]:
        """(parts, protocol) of one send of ``nbytes`` (enqueue.cc:912-933): parts = min(min_parts,
        ⌈B/min part⌉), doubled while a part is above the max part and parts ≤ per_peer/2; LL if B ≤
        parts × 16 KiB (NCCL_P2P_LL_THRESHOLD), else Simple."""
        if nbytes == 0:
            return 1, "ll"
        spread = "nodes" if self.nodes > 1 else "node"
        smallest = self.chunk // T.P2P_MIN_PART_DIVISOR[spread]
        largest = self.chunk * T.P2P_MAX_PART_CHUNKS[spread]
        parts = min(self.min_parts, -(-nbytes // smallest))
        # equivalent: (/ for //) ⌈x⌉ > L iff x > L for a whole L, and a size is only compared so
        size = max(smallest, -(-nbytes // parts))
        while size > largest and parts <= self.per_peer // 2:  # equivalent: (/ for //) per peer is a power of 2
            parts *= 2
            size = -(-nbytes // parts)  # equivalent: (/) as above
        return parts, "ll" if nbytes <= parts * T.P2P_LL_THRESHOLD else "simple"


def _pow2_up(x: int) -> int:
    return 1 << max(x - 1, 0).bit_length()


def p2p_channels(m: Machine) -> P2pChannels:
    """NCCL's p2p channels for this machine. Per peer (paths.cc:920-953): inside an NVLink node 2 × the
    NVLink links (path bandwidth over NCCL's per-link rate), over PCIe 2; across nodes max(local NICs,
    ⌈GB/s of those NICs as the GPU reaches them / 14⌉) — one NIC per GPU share here, reached at
    min(PCIe, NIC), counting NICs until they match the GPU's PCIe (topo.cc:1974-1998). The fewest over the
    peers, then (paths.cc:977-1005) p2p channels = pow2Up(comm channels), per peer pow2Up(·), across nodes
    halved while per peer × ⌈n/8⌉ > p2p channels, else at most p2p channels. A send takes at least
    per peer halved while × n > p2p channels (enqueue.cc:1143-1146)."""
    counts = []
    if m.gpus_per_node > 1:
        counts.append(T.P2P_CHANNELS_PER_LINK * max(1, round(m.nvlink_bandwidth / T.NVLINK_SPEC_PER_LINK[m.arch]))
                      if m.nvlink else T.P2P_PCI_CHANNELS)
    if m.nodes > 1:
        pci, nic = pci_gbps(m), m.nic_bandwidth / 1e9
        count, total = 0, 0.0
        for _ in range(max(1, m.nics_per_node // m.gpus_per_node)):
            count, total = count + 1, total + min(pci, nic)
            if total >= pci:
                break
        counts.append(max(count, -(-int(total) // T.P2P_PER_CHANNEL_NET_BW)))
    total_channels = min(_pow2_up(min(channels(m).comm, T.MAX_CHANNELS)), T.MAX_CHANNELS)
    per_peer = _pow2_up(min(counts, default=1))
    if m.nodes > 1:
        while per_peer * -(-m.ranks // T.P2P_PER_BATCH) > total_channels and per_peer > 1:
            per_peer //= 2
    else:
        per_peer = min(total_channels, per_peer)
    least = per_peer
    while least * m.ranks > total_channels and least > 1:
        least //= 2
    chunk = T.P2P_NET_CHUNK if m.nodes > 1 else T.P2P_NVL_CHUNK if m.nvlink else T.P2P_PCI_CHUNK
    # equivalent: (/) 2^22 / 8 is whole, and no p2p chunk is above it (min keeps the chunk)
    return P2pChannels(total_channels, per_peer, least, min(chunk, T.BUFFER_BYTES["simple"] // T.NCCL_STEPS), m.nodes)


@dataclass(frozen=True)
class Plan:
    """What NCCL runs for one collective: its pick (``choice``, None for the all-to-all, which NCCL does not
    rate), on how many channels (the all-to-all: parts per send), the graph at NCCL's rates (and, for the
    rated collectives, NCCL's hop latencies for the protocol), the schedule maker and NCCL's fixed latency
    before it."""

    choice: Choice | None
    channels: int
    graph: nx.Graph
    make: Any  # make(n, p, w, gpus_per_node=g): the schedule
    message_sizes: Any  # message_sizes(n, p, w): wire size → count, by formula
    base_latency_s: float
    collective: str
    algorithm: str  # ring, tree, nvls, or p2p
    protocol: str
    threads: int | None = None  # NCCL's threads per channel (None: the all-to-all)
    servers: tuple[Any, ...] = ()  # graph nodes of the schedule's participants after the ranks (NVLS: the NVSwitch)

    @property
    def predicted_s(self) -> float | None:
        """NCCL's own predicted time, None where NCCL predicts none (the all-to-all)."""
        return None if self.choice is None else self.choice.time_s


MAKERS = {
    ("allreduce", "ring"): (ring.nccl_ring_schedule, ring.message_sizes),
    ("allreduce", "tree"): (tree.nccl_tree_schedule, tree.message_sizes),
    ("allreduce", "nvls"): (nvls.nccl_nvls_schedule, nvls.message_sizes),
    ("reduce_scatter", "ring"): (ring.nccl_reduce_scatter_schedule, ring.block_message_sizes),
    ("all_gather", "ring"): (ring.nccl_all_gather_schedule, ring.block_message_sizes),
    ("broadcast", "ring"): (pipeline.nccl_broadcast_schedule, pipeline.message_sizes),
    ("reduce", "ring"): (pipeline.nccl_reduce_schedule, pipeline.message_sizes),
    (ALLTOALL, "p2p"): (p2p.nccl_all_to_all_schedule, p2p.message_sizes),
}
"""(collective, algorithm) → (schedule maker, message sizes by formula)."""


def plan(graph: nx.Graph, nbytes: int, algorithms: tuple[str, ...] | None = None,
         protocols: tuple[str, ...] = T.PROTOCOLS, channel_count: int | None = None, collective: str = "allreduce",
         itemsize: int = 4) -> Plan:
    """What NCCL runs for a ``collective`` of ``nbytes`` (the whole buffer) on a cluster ``graph``: its pick among
    ``algorithms`` (default: those commsim schedules, ``SCHEDULED``) × ``protocols``, on NCCL's channels unless
    ``channel_count`` is given; ValueError if nothing runs. The all-to-all takes NCCL's p2p parts and
    protocol for its sends of ⌊p/n⌋ elements of ``itemsize`` bytes (``channel_count`` fixes the parts)."""
    m = machine(graph)
    if collective == ALLTOALL:
        block = nbytes // itemsize // m.ranks * itemsize
        parts, protocol = p2p_channels(m).send(block)
        if protocol not in protocols:
            raise ValueError(f"NCCL sends {block} B to each peer as {protocol} (enqueue.cc:932), not "
                             f"{', '.join(protocols)}")
        count = parts if channel_count is None else channel_count
        make, sizes = MAKERS[ALLTOALL, "p2p"]
        return Plan(None, count, nccl_rates(graph), partial(make, channels=count, protocol=protocol),
                    partial(sizes, channels=count, protocol=protocol), 0.0, collective, "p2p", protocol)
    choice = choose(m, nbytes, SCHEDULED.get(collective) if algorithms is None else algorithms, protocols, collective)
    if (collective, choice.algorithm) not in MAKERS:
        raise ValueError(f"commsim has no schedule of NCCL's {choice.algorithm} for {collective}")
    run = launch(m, choice.algorithm, choice.protocol, nbytes, collective, itemsize)
    count = run.channels if channel_count is None else channel_count
    make, sizes = MAKERS[collective, choice.algorithm]
    size_options = {"gpus_per_node": m.gpus_per_node} if choice.algorithm in ("tree", "nvls") else {}
    if choice.algorithm == "nvls":
        lat, _ = latency_and_bandwidth(m, "nvls", "simple", collective)
        rated, delay, servers = nvls_rates(graph), lat * 1e-6, ("node0.nvswitch",)
    else:
        rated, delay = nccl_rates(graph, choice.protocol, choice.algorithm), base_latency_s(choice.algorithm, choice.protocol)
        servers = ()
        cap = protocol_cap_gbps(m, choice.algorithm, choice.protocol)
        if cap is not None:  # the kernel's throughput, on the wire: LL 8 bytes per 4, LL128 128 per 120
            rated = capped_gpu_links(rated, cap * 1e9 * float(ring.wire_bytes(np.int64(120), choice.protocol)) / 120)
    return Plan(choice, count, rated, partial(make, channels=count, protocol=choice.protocol),
                partial(sizes, channels=count, protocol=choice.protocol, **size_options), delay,
                collective, choice.algorithm, choice.protocol, run.threads, servers)


def nvls_link_gbps(m: Machine, collective: str = "allreduce") -> float:
    """A GPU's link to the NVSwitch as NVLS traffic takes it in the schedule (GB/s each way): NCCL's NVLS
    algBw × (n + 1)/n, so that the (n + 1)/n of the buffer each link carries takes NCCL's S/algBw."""
    _, algbw = latency_and_bandwidth(m, "nvls", "simple", collective)
    return algbw * (m.ranks + 1) / m.ranks


def nvls_rates(graph: nx.Graph) -> nx.Graph:
    """A one-node cluster graph for NVLS: ``nccl_rates`` (Simple), the GPU–NVSwitch links at ``nvls_link_gbps``
    times the graph's measured ``nvlink_efficiency`` (1 but for a calibration) and no latency (NCCL's 25 µs is
    the call's fixed latency)."""
    rated = nccl_rates(graph, "simple")
    rate = nvls_link_gbps(machine(graph)) * 1e9 * graph.graph.get("nvlink_efficiency", 1.0)
    for u, v, data in rated.edges(data=True):
        if str(u).endswith(".nvswitch") or str(v).endswith(".nvswitch"):
            data["bandwidth"], data["latency"] = rate, 0.0
    return rated
