"""Cluster presets: each builds, its numbers are its sources', overrides work, and routes keep traffic
on one rail (a ring crossing on one GPU pair uses one NIC pair)."""

import pytest

from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.errors import TopologyError
from commsim.network import topology
from commsim.network.cluster import PRESETS, cluster_route

GB = 1e9

# Per direction, from the spec sheets quoted in commsim/network/cluster.py: NVLink GB/s bidirectional / 2,
# NIC Gbit/s / 8, PCIe x16 lanes × GT/s × 128/130 / 8.
SPEC = {
    "dgx-a100": dict(gpus=8, nics=8, nvlink=600 * GB / 2, nic=200e9 / 8, pcie=16 * 16e9 * 128 / 130 / 8),
    "hgx-h100": dict(gpus=8, nics=8, nvlink=900 * GB / 2, nic=400e9 / 8, pcie=16 * 32e9 * 128 / 130 / 8),
    "hgx-b200": dict(gpus=8, nics=8, nvlink=1800 * GB / 2, nic=400e9 / 8, pcie=16 * 32e9 * 128 / 130 / 8),
    "ethernet": dict(gpus=1, nics=1, nvlink=None, nic=100e9 / 8, pcie=16 * 16e9 * 128 / 130 / 8),
}


def _bandwidth(graph, u, v):
    return graph.edges[u, v]["bandwidth"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_with_the_numbers_of_its_source(name):
    """Two nodes: g GPUs and NICs each, links at the spec-sheet rates (PCIe to 0.1 GB/s, as quoted)."""
    spec = SPEC[name]
    g = spec["gpus"]
    graph = topology.build("cluster", 2 * g, 1.0, 0.0, preset=name, nodes=2)
    assert sorted(n for n in graph if isinstance(n, int)) == list(range(2 * g))
    assert sum(1 for _, d in graph.nodes(data=True) if d.get("role") == "nic") == 2 * spec["nics"]
    if spec["nvlink"]:
        assert _bandwidth(graph, 0, "node0.nvswitch") == spec["nvlink"]
    assert _bandwidth(graph, "node1.nic0", "rail0") == spec["nic"]
    assert _bandwidth(graph, g, "node1.nic0") == pytest.approx(spec["pcie"], abs=0.1 * GB)


def test_overrides_take_units_and_change_the_shape():
    """gpus_per_node 4 and nics_per_node 2: 3 nodes of 4 GPUs, GPUs 0–1 on NIC 0, 2–3 on NIC 1, at the
    overridden rates."""
    graph = topology.build("cluster", 12, 1.0, 0.0, preset="hgx-h100", nodes=3, gpus_per_node=4, nics_per_node=2,
                           nic_bandwidth="200 Gbit/s", nvlink_bandwidth="100 GB/s", pcie_bandwidth="32 GB/s",
                           nic_latency="2 us")
    assert graph.edges["node2.nic1", "rail1"]["bandwidth"] == 25e9 and graph.edges["node2.nic1", "rail1"]["latency"] == 2e-6
    assert graph.edges[4, "node1.nvswitch"]["bandwidth"] == 100e9
    assert {gpu for gpu in range(4, 8) if graph.has_edge(gpu, "node1.nic1")} == {6, 7}
    assert graph.edges[6, "node1.nic1"]["bandwidth"] == 32e9


def test_efficiencies_scale_the_links_not_the_presets_numbers():
    """nvlink_efficiency 0.5 and network_efficiency 0.25 on 2 H100 nodes: GPU–NVSwitch links at 225 GB/s, GPU–NIC
    PCIe at 63 / 4, NIC–rail at 12.5 GB/s and rail–spine at 2 × 12.5 GB/s; the graph's numbers (what NCCL's tuner
    reads) stay the preset's, and latencies do not move."""
    graph = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2, nvlink_efficiency=0.5,
                           network_efficiency=0.25)
    h100 = PRESETS["hgx-h100"]
    assert graph.edges[9, "node1.nvswitch"]["bandwidth"] == 225e9
    assert graph.edges[9, "node1.nic1"]["bandwidth"] == h100.pcie_bandwidth / 4
    assert graph.edges["node1.nic1", "rail1"]["bandwidth"] == 12.5e9
    assert graph.edges["rail1", "spine0"]["bandwidth"] == 25e9
    assert graph.edges["node1.nic1", "rail1"]["latency"] == h100.nic_latency
    assert (graph.graph["nvlink_bandwidth"], graph.graph["nic_bandwidth"]) == (450e9, 50e9)
    assert (graph.graph["nvlink_efficiency"], graph.graph["network_efficiency"]) == (0.5, 0.25)


@pytest.mark.parametrize(("options", "message"), [
    ({"preset": "dgx-z"}, "unknown preset 'dgx-z'; known: dgx-a100"),
    ({"preset": "hgx-h100", "nodes": 3}, "3 nodes of 8 GPUs are 24 workers, but n=16"),
    ({"preset": "hgx-h100", "fabric": "torus"}, "fabric must be one of rail, switch"),
    ({}, "needs a preset"),
    ({"preset": "hgx-h100", "nic_bandwidth": "-4 Gbit/s"}, "nic_bandwidth"),
    ({"preset": "hgx-h100", "nvlink_efficiency": -0.5}, "nvlink_efficiency must be > 0, got -0.5"),
    ({"preset": "hgx-h100", "network_efficiency": "90 %"}, "network_efficiency: could not convert string"),
    ({"preset": "hgx-h100", "network_efficiency": float("nan")}, "network_efficiency: must be a finite number"),
    ({"preset": "hgx-h100", "nvlink_efficiency": [1]}, r"nvlink_efficiency: must be a number, got \[1\]"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(TopologyError, match=message):
        topology.build("cluster", 16, 1.0, 0.0, **options)


def test_routes_stay_on_the_destination_rail():
    """Between nodes a GPU uses the NIC of the destination's local index (moving over NVLink first if
    its own is another), on both nodes; inside a node, the NVSwitch."""
    graph = topology.build("cluster", 16, 1.0, 0.0, preset="dgx-a100", nodes=2)
    assert cluster_route(graph, 3, 11) == [3, "node0.nic3", "rail3", "node1.nic3", 11]
    assert cluster_route(graph, 7, 8) == [7, "node0.nvswitch", 0, "node0.nic0", "rail0", "node1.nic0", 8]
    assert cluster_route(graph, 2, 5) == [2, "node0.nvswitch", 5]
    switched = topology.build("cluster", 16, 1.0, 0.0, preset="dgx-a100", nodes=2, fabric="switch")
    assert cluster_route(switched, 3, 11) == [3, "node0.nic3", "switch", "node1.nic3", 11]


def test_a_textbook_ring_crosses_between_nodes_on_one_nic_pair():
    """Ring all-reduce over ranks 0..15 on 2 × 8 H100: the two crossings (7 → 8, 15 → 0) both land on
    local index 0, so NIC 0 of each node carries all inter-node bytes — 2(n−1) chunks of P/16 each way —
    and the other NICs none."""
    n, p = 16, 16_000
    graph = topology.build("cluster", n, 1.0, 0.0, preset="hgx-h100", nodes=2)
    run = run_collective("ring_allreduce", graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    per_link = bytes_per_link(run.network)
    chunk = p // n * 4
    for x in (0, 1):
        assert per_link[f"node{x}.nic0->rail0"] == 2 * (n - 1) * chunk
        assert all(per_link.get(f"node{x}.nic{i}->rail{i}", 0) == 0 for i in range(1, 8))


@pytest.mark.parametrize(("options", "message"), [
    ({"preset": "hgx-h100", "gpus_per_node": "1e999"}, "gpus_per_node must be from 1 to 72"),
    ({"preset": "hgx-h100", "cpu": 3}, "cpu must be one of intel, amd, got 3"),
    ({"preset": "hgx-h100", "arch": "sm42"}, "arch must be one of sm70, sm80, sm90, sm100"),
])
def test_out_of_range_counts_and_unknown_choices_are_refused(options, message):
    with pytest.raises(TopologyError, match=message):
        topology.build("cluster", 16, 1.0, 0.0, **options)
