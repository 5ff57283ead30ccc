"""GPU clusters as they are built: nodes of GPUs joined by NVLink switches, one NIC per GPU, rails.

``topology: {kind: cluster, preset: hgx-h100, nodes: 2}`` builds ``nodes`` nodes of a preset; every
number of a preset is overridable (``gpus_per_node``, ``nics_per_node``, ``nvlink_bandwidth``,
``nic_bandwidth``, ``pcie_bandwidth`` and the three latencies). Bandwidths are per direction.

Two measured factors, 1 unless ``commsim calibrate`` derived them from the user's nccl-tests runs:
``nvlink_efficiency`` multiplies the GPU–NVSwitch links and ``network_efficiency`` the network path (the
GPU's PCIe link to its NIC, the NIC, rail and spine links). They scale the rate data moves at, not the
preset's numbers: NCCL's tuner (``commsim.collectives.nccl.model``) still counts the links it detects
(NVLink links × its per-link rate, the NIC's port speed), as NCCL does on the real machine, whatever a
link then achieves.

The graph, for node x and local GPU j (worker rank x·g + j):

* GPU — ``node{x}.nvswitch`` at the NVLink bandwidth (the NVSwitches of a node act as one
  non-blocking switch; a preset without NVLink joins its GPUs through ``node{x}.pcie``);
* GPU — ``node{x}.nic{i}`` over PCIe, i = j·nics // g (one NIC per GPU when nics = g);
* ``node{x}.nic{i}`` — the fabric at the NIC's line rate: ``fabric: rail`` (default) puts NIC i of
  every node on rail switch ``rail{i}``, the rails joined by ``spines`` spine switches, each rail–spine
  link carrying nodes·NIC rate / spines (non-blocking); ``fabric: switch`` puts every NIC on one
  ``switch``.

Routing (``cluster_route``): inside a node through its switch; between nodes through the NIC that the
destination GPU's local index uses, on both nodes, so traffic stays on one rail: if the source GPU
hangs off another NIC, it first moves over NVLink to the GPU of that index (NCCL's PXN, "PCI × NVLink").
A ring crossing between nodes on one pair of GPUs therefore uses one NIC pair; NCCL's channels, each
crossing at another local index, use them all.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, fields, replace
from typing import Any

import networkx as nx

from .. import units
from ..errors import TopologyError
from .graphs import SWITCH, _add_workers, _link


@dataclass(frozen=True)
class Preset:
    """One node type: its GPUs, NICs and link speeds (bytes/s per direction, seconds), and the sources."""

    gpus_per_node: int
    nics_per_node: int
    nvlink_bandwidth: float | None  # per GPU to its NVSwitches; None: no NVLink (GPUs meet over PCIe)
    nic_bandwidth: float
    pcie_bandwidth: float
    nvlink_latency: float
    pcie_latency: float
    nic_latency: float
    arch: str  # the GPU generation NCCL's tuning tables are keyed by: "sm80", "sm90", "sm100"
    cpu: str  # the host CPU vendor ("intel", "amd"): NCCL's network overhead and LL cap depend on it
    source: str
    nvlink_efficiency: float = 1.0  # measured: the rate the NVLink achieves over what the links give (calibrate)
    network_efficiency: float = 1.0  # measured: the same for the network path (GPU-NIC PCIe, NIC, fabric)


_US = 1e-6
# PCIe x16, per direction: lanes × GT/s × 128/130 (encoding) / 8 bits (PCI-SIG; Gen4 16 GT/s, Gen5 32 GT/s)
PCIE_GEN4_X16 = 16 * 16e9 * 128 / 130 / 8  # 31.5 GB/s
PCIE_GEN5_X16 = 16 * 32e9 * 128 / 130 / 8  # 63.0 GB/s
# Latencies: vendors publish none for NVLink, NVSwitch or the NIC path (helper survey of the public
# spec sheets, 2026-12). We use NCCL's hardware latencies for its low-latency protocol (NCCL 2.30.7
# src/graph/tuning.cc:157-176): NVLink 0.6 µs and PCI 1.0 µs (ring LL), the network 5.0 µs (tree LL,
# which NCCL takes when latency is fully exposed), split over the links of a route, so that a
# GPU-to-GPU route inside a node totals the NVLink figure (two NVLink links) and one between nodes
# (GPU, NIC, switch, NIC, GPU: two PCIe and two NIC links) the network figure.
_NVLINK_ROUTE_LATENCY = 0.6 * _US
_PCI_ROUTE_LATENCY = 1.0 * _US
_NET_ROUTE_LATENCY = 5.0 * _US

PRESETS: dict[str, Preset] = {
    # NVIDIA DGX A100: 8x A100 SXM4, 12 NVLink-3 links = 600 GB/s bidirectional per GPU (300 GB/s each way)
    # through 6 NVSwitches; 8x single-port ConnectX-6 200 Gb/s HDR InfiniBand, one per GPU; PCIe Gen4 x16
    # (16 GT/s x 16 lanes x 128/130 / 8 = 31.5 GB/s each way). Sources: NVIDIA HGX A100 blog,
    # https://devblogs.nvidia.com/introducing-hgx-a100-most-powerful-accelerated-server-platform-for-ai-hpc/ ;
    # DGX A100 datasheet ("8x Single-Port Mellanox ConnectX-6 VPI 200Gb/s HDR InfiniBand"; CPUs "Dual AMD Rome 7742").
    "dgx-a100": Preset(8, 8, 300e9, 200e9 / 8, PCIE_GEN4_X16, _NVLINK_ROUTE_LATENCY / 2, _PCI_ROUTE_LATENCY / 2,
                       (_NET_ROUTE_LATENCY - _PCI_ROUTE_LATENCY) / 2, "sm80", "amd",
                       "DGX A100: 8x A100, NVLink 3 600 GB/s bidir, 8x ConnectX-6 200 Gb/s HDR, PCIe Gen4"),
    # NVIDIA HGX/DGX H100: 8x H100 SXM5, 18 NVLink-4 links = 900 GB/s bidirectional per GPU (450 GB/s each way)
    # through 4 NVSwitches; 8x single-port ConnectX-7 400 Gb/s NDR; PCIe Gen5 x16 (63 GB/s each way). Sources:
    # https://developer.nvidia.com/blog/introducing-nvidia-hgx-h100-an-accelerated-server-platform-for-ai-and-high-performance-computing/ ;
    # https://docs.nvidia.com/dgx-basepod/reference-architecture-infrastructure-foundation-enterprise-ai/latest/core-components.html
    # ("Dual Intel Xeon Platinum 8480C processors")
    "hgx-h100": Preset(8, 8, 450e9, 400e9 / 8, PCIE_GEN5_X16, _NVLINK_ROUTE_LATENCY / 2, _PCI_ROUTE_LATENCY / 2,
                       (_NET_ROUTE_LATENCY - _PCI_ROUTE_LATENCY) / 2, "sm90", "intel",
                       "HGX H100: 8x H100, NVLink 4 900 GB/s bidir, 8x ConnectX-7 400 Gb/s NDR, PCIe Gen5"),
    # NVIDIA HGX/DGX B200: 8x B200, 18 NVLink-5 links x 100 GB/s = 1.8 TB/s bidirectional per GPU (900 GB/s each
    # way) through 2 NVLink switches; 8x single-port ConnectX-7 400 Gb/s; PCIe Gen5 x16; 2x Intel Xeon 8570. Source:
    # https://docs.nvidia.com/dgx/dgxb200-user-guide/introduction-to-dgxb200.html
    "hgx-b200": Preset(8, 8, 900e9, 400e9 / 8, PCIE_GEN5_X16, _NVLINK_ROUTE_LATENCY / 2, _PCI_ROUTE_LATENCY / 2,
                       (_NET_ROUTE_LATENCY - _PCI_ROUTE_LATENCY) / 2, "sm100", "intel",
                       "HGX B200: 8x B200, NVLink 5 1.8 TB/s bidir, 8x ConnectX-7 400 Gb/s, PCIe Gen5"),
    # A plain Ethernet node: one GPU and one 100 GbE NIC (12.5 GB/s each way) on PCIe Gen4 x16, no NVLink.
    # 100 Gbit/s: e.g. AWS G5 "up to 100 Gbps of network bandwidth",
    # https://docs.aws.amazon.com/AWSEC2/latest/WindowsGuide/accelerated-computing-instances.html ; set
    # gpus_per_node for several GPUs (they then meet over PCIe) and nic_bandwidth for another line rate.
    "ethernet": Preset(1, 1, None, 100e9 / 8, PCIE_GEN4_X16, _NVLINK_ROUTE_LATENCY / 2, _PCI_ROUTE_LATENCY / 2,
                       (_NET_ROUTE_LATENCY - _PCI_ROUTE_LATENCY) / 2, "sm80", "intel", "Ethernet node: 1 GPU, one 100 GbE NIC, PCIe Gen4"),
}


@dataclass(frozen=True)
class GPU:
    """A GPU's spec-sheet peaks: dense FLOP/s per compute dtype (no sparsity) and memory bandwidth (B/s)."""

    name: str
    peak_flops: dict[str, float]
    memory_bandwidth: float
    source: str


GPUS: dict[str, GPU] = {
    # A100 SXM4 80 GB: FP32 19.5 TFLOPS, TF32 156, BF16 and FP16 312 (dense; twice with sparsity), HBM2e 2,039 GB/s.
    "a100": GPU("A100 SXM4 80GB", {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12}, 2039e9,
                "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
                "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    # H100 SXM5: FP32 67 TFLOPS, TF32 989 / BF16 and FP16 1,979 with sparsity (half dense), HBM3 3.35 TB/s.
    "h100": GPU("H100 SXM5", {"fp32": 67e12, "tf32": 494.5e12, "bf16": 989.5e12, "fp16": 989.5e12}, 3.35e12,
                "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"),
    # B200 (HGX B200, per GPU = the 8-GPU figures / 8): FP32 75 TFLOPS, TF32 18 PF / BF16 and FP16 36 PF with
    # sparsity for 8 (half dense), HBM3e 64 TB/s for 8.
    "b200": GPU("B200", {"fp32": 75e12, "tf32": 1.125e15, "bf16": 2.25e15, "fp16": 2.25e15}, 8e12,
                "https://www.nvidia.com/en-us/data-center/hgx/ (HGX B200 column)"),
    # A10: FP32 31.2 TFLOPS, TF32 62.5, BF16 and FP16 125 (dense), GDDR6 600 GB/s (the GPU of the AWS G5 example).
    "a10": GPU("A10", {"fp32": 31.2e12, "tf32": 62.5e12, "bf16": 125e12, "fp16": 125e12}, 600e9,
               "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a10/pdf/a10-datasheet.pdf"),
}
GPU_OF_PRESET = {"dgx-a100": "a100", "hgx-h100": "h100", "hgx-b200": "b200", "ethernet": "a10"}
"""The GPU of each preset's nodes (training's compute: FLOPs over the peak for the dtype)."""

FABRICS = ("rail", "switch")
ARCHS = ("sm70", "sm80", "sm90", "sm100")
CPUS = ("intel", "amd")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise TopologyError(f"topology 'cluster': {key} must be one of {', '.join(allowed)}, got {value!r:.40}")
    return value


MAXIMA = {"gpus_per_node": 72, "nics_per_node": 64, "nodes": 65536, "spines": 64, "workers": 1 << 22}
"""The largest counts a cluster takes (72 GPUs: an NVL72 rack; 64 NICs; 65,536 nodes)."""


def _count(key: str, value: Any, minimum: int = 1) -> int:
    try:
        count = units.parse_count(value)
    except Exception as error:  # noqa: BLE001 - any unreadable count is the same one-line error
        raise TopologyError(f"topology 'cluster': {key}: {error}") from None
    if not minimum <= count <= MAXIMA[key]:
        raise TopologyError(f"topology 'cluster': {key} must be from {minimum} to {MAXIMA[key]}, got {value!r:.40}")
    return count


def _rate(key: str, value: Any, parse: Any, positive: bool) -> float:
    try:
        x = parse(value)
    except Exception as error:  # noqa: BLE001
        raise TopologyError(f"topology 'cluster': {key}: {error}") from None
    if not (x > 0 if positive else x >= 0):
        raise TopologyError(f"topology 'cluster': {key} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _factor(value: Any) -> float:
    """A plain positive number (an efficiency): not a bool, not a string with units, finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, got {value!r:.40}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"must be a finite number, got {value!r:.40}")
    return number


def preset(name: Any, **overrides: Any) -> Preset:
    """A preset by name, with any of its numbers overridden (units accepted: "400 Gbit/s", "1 us")."""
    if name not in PRESETS:
        raise TopologyError(f"topology 'cluster': unknown preset {name!r}; known: {', '.join(PRESETS)}")
    values = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in ("gpus_per_node", "nics_per_node"):
            values[key] = _count(key, value)
        elif key in ("arch", "cpu"):
            values[key] = _choice(key, value, ARCHS if key == "arch" else CPUS)
        elif key.endswith("bandwidth"):
            values[key] = _rate(key, value, units.parse_bandwidth, True)
        elif key.endswith("efficiency"):
            values[key] = _rate(key, value, _factor, True)
        else:
            values[key] = _rate(key, value, units.parse_time, False)
    return replace(PRESETS[name], **values)


def nic_of(graph: nx.Graph, local: int) -> int:
    """The NIC index a GPU of local index ``local`` hangs off."""
    return local * graph.graph["nics_per_node"] // graph.graph["gpus_per_node"]


def cluster(n: int, bandwidth: float, latency: float, servers: int = 0, preset: Any = None, nodes: Any = None,
            gpus_per_node: Any = None, nics_per_node: Any = None, nvlink_bandwidth: Any = None,
            nic_bandwidth: Any = None, pcie_bandwidth: Any = None, nvlink_latency: Any = None,
            pcie_latency: Any = None, nic_latency: Any = None, arch: Any = None, cpu: Any = None, fabric: str = "rail",
            spines: Any = 1, nvlink_efficiency: Any = None, network_efficiency: Any = None) -> nx.Graph:
    """``nodes`` nodes of ``preset`` (see the module docstring); n = nodes × gpus_per_node workers. The
    topology's own bandwidth and latency are not used: every link is the preset's."""
    if preset is None:
        raise TopologyError(f"topology 'cluster' needs a preset; known: {', '.join(PRESETS)}")
    if servers:
        raise TopologyError("topology 'cluster' has no place for a parameter server")
    spec = globals()["preset"](preset, gpus_per_node=gpus_per_node, nics_per_node=nics_per_node,
                               nvlink_bandwidth=nvlink_bandwidth, nic_bandwidth=nic_bandwidth,
                               pcie_bandwidth=pcie_bandwidth, nvlink_latency=nvlink_latency,
                               pcie_latency=pcie_latency, nic_latency=nic_latency, arch=arch, cpu=cpu,
                               nvlink_efficiency=nvlink_efficiency, network_efficiency=network_efficiency)
    g = spec.gpus_per_node
    n = _count("workers", n)
    count = n // g if nodes is None else _count("nodes", nodes)
    if count * g != n:
        raise TopologyError(f"topology 'cluster': {count} nodes of {g} GPUs are {count * g} workers, but n={n}")
    if fabric not in FABRICS:
        raise TopologyError(f"topology 'cluster': fabric must be one of {', '.join(FABRICS)}, got {fabric!r}")
    spine_count = _count("spines", spines)
    nics = spec.nics_per_node
    graph = nx.Graph(kind="cluster", preset=str(preset), nodes=count, gpus_per_node=g, nics_per_node=nics,
                     fabric=fabric, router=cluster_route, min_hops=2 if g > 1 else 4,
                     **{f.name: getattr(spec, f.name) for f in fields(spec) if f.name not in ("gpus_per_node", "nics_per_node", "source")})
    _add_workers(graph, n)
    # nodes and links in the order of a node-by-node build (neighbour order fixes the hop-shortest paths and
    # the links' numbering), added in bulk: 8,192 nodes of 8 GPUs are 139 k nodes and 197 k links
    inside_rate, inside_latency = ((spec.nvlink_bandwidth * spec.nvlink_efficiency, spec.nvlink_latency)
                                   if spec.nvlink_bandwidth else (spec.pcie_bandwidth, spec.pcie_latency))
    net = spec.network_efficiency
    pcie = {"bandwidth": spec.pcie_bandwidth * net, "latency": spec.pcie_latency}
    nodes: list[tuple[Hashable, dict[str, Any]]] = []
    links: list[tuple[Hashable, Hashable, dict[str, float]]] = []
    for x in range(count):
        inside = f"node{x}.nvswitch" if spec.nvlink_bandwidth else f"node{x}.pcie"
        if g > 1:
            nodes.append((inside, {"role": SWITCH, "node": x}))
        for j in range(g):
            graph.nodes[x * g + j].update(node=x, local=j)
            if g > 1:
                links.append((x * g + j, inside, {"bandwidth": inside_rate, "latency": inside_latency}))
        nodes.extend((f"node{x}.nic{i}", {"role": "nic", "node": x}) for i in range(nics))
        links.extend((x * g + j, f"node{x}.nic{j * nics // g}", pcie.copy()) for j in range(g))
    graph.add_nodes_from(nodes)
    graph.add_edges_from(links)
    for i in range(nics):
        top = f"rail{i}" if fabric == "rail" else SWITCH
        graph.add_node(top, role=SWITCH)
        graph.add_edges_from((f"node{x}.nic{i}", top, {"bandwidth": spec.nic_bandwidth * net, "latency": spec.nic_latency})
                             for x in range(count))
    if fabric == "rail" and nics > 1:
        for s in range(spine_count):
            graph.add_node(f"spine{s}", role=SWITCH)
            for i in range(nics):
                _link(graph, f"rail{i}", f"spine{s}", count * spec.nic_bandwidth * net / spine_count, spec.nic_latency)
    return graph


def cluster_route(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """Inside a node through its switch; between nodes on the rail of the destination's NIC (PXN)."""
    g = graph.graph["gpus_per_node"]
    if not (isinstance(src, int) and isinstance(dst, int)):
        return nx.shortest_path(graph, src, dst)
    (x, a), (y, b) = divmod(src, g), divmod(dst, g)
    inside = f"node{x}.nvswitch" if graph.graph["nvlink_bandwidth"] else f"node{x}.pcie"
    if x == y:
        return [src, inside, dst]
    nic = nic_of(graph, b)
    top = f"rail{nic}" if graph.graph["fabric"] == "rail" else SWITCH
    start = [src] if nic_of(graph, a) == nic else [src, inside, x * g + b]
    return [*start, f"node{x}.nic{nic}", top, f"node{y}.nic{nic}", dst]
