"""NCCL's cost model configured from presets: channel counts and ceilings against what NCCL's logs and
maintainers report, latencies and bandwidths against hand evaluations of tuning.cc's formulas."""

import pytest

from commsim.collectives.nccl import model as M
from commsim.network import topology

US = 1e-6


def _machine(preset: str, nodes: int = 1, **overrides) -> M.Machine:
    gpus = overrides.get("gpus_per_node", 1 if preset == "ethernet" else 8)
    return M.machine(topology.build("cluster", nodes * gpus, 1.0, 0.0, preset=preset, nodes=nodes, **overrides))


def test_channel_counts_are_those_nccl_logs_show():
    """A100 node: 24 channels ("Channel 23/24", nccl-tests #100); an H800 node (8 NVLink links, 200 GB/s
    each way): 16 ("16 coll channels", NVIDIA/nccl #892); H100: 12 search channels of 30 GB/s."""
    assert M.channels(_machine("dgx-a100")).comm == 24
    assert M.channels(_machine("hgx-h100", nvlink_bandwidth="200 GB/s")).comm == 16
    assert M.channels(_machine("hgx-h100")) == M.Channels(12, 30.0, 24)
    assert M.channels(_machine("hgx-b200")) == M.Channels(16, 45.0, 32)


@pytest.mark.parametrize(("preset", "nodes", "bus_gbps", "source"), [
    ("hgx-h100", 1, 360.0, "8×H100 ring ≈ 360–370 GB/s busbw (nccl-tests #212)"),
    ("dgx-a100", 2, 192.0, "DGX-A100, 8×200G: 192 GB/s busbw (NVIDIA/nccl #812)"),
    ("hgx-h100", 2, 8 * 48.0, "400G NDR: 46–48 GB/s busbw per NIC (nccl-tests #290)"),
    ("ethernet", 4, 12.0, "12 GB/s per 100G NIC (nccl-tests #119)"),
])
def test_ring_simple_bus_bandwidth_meets_the_maintainers_ceilings(preset, nodes, bus_gbps, source):
    """busBw = channels × speed, from line rates only."""
    m = _machine(preset, nodes)
    _, algbw = M.latency_and_bandwidth(m, "ring", "simple")
    assert algbw * 2 * (m.ranks - 1) / m.ranks == pytest.approx(bus_gbps, rel=1e-12), source


def test_one_node_latencies_and_bandwidths_by_hand():
    """8 × H100, 12 channels × 30 GB/s = 360 GB/s bus: ring LL 6.6 + 14·0.6 µs at min(141, 0.5·360)·8/14;
    LL128 14 + 14·1.9 at min(0.92·360, 12·36.7)·8/14; Simple 8.4 + 14·3.4 at 360·8/14; tree Simple
    8.4 + 2·7·4.0 at min(0.92·360, 12·38.7)/2."""
    m = _machine("hgx-h100")
    expect = {("ring", "ll"): (6.6 + 14 * 0.6, min(141.0, 180.0) * 8 / 14),
              ("ring", "ll128"): (14 + 14 * 1.9, min(0.92 * 360, 12 * 36.7) * 8 / 14),
              ("ring", "simple"): (8.4 + 14 * 3.4, 360 * 8 / 14),
              ("tree", "simple"): (8.4 + 2 * 7 * 4.0, min(0.92 * 360, 12 * 38.7) / 2),
              ("tree", "ll"): (6.8 + 2 * 7 * 0.6, min(0.92 * 360, 12 * 38.7) / 3.8 / 2)}
    for (a, p), (lat, bw) in expect.items():
        assert M.latency_and_bandwidth(m, a, p) == pytest.approx((lat, bw), rel=1e-12), (a, p)


def test_two_node_latency_counts_network_steps_and_overheads_by_hand():
    """2 × 8 H100 (Intel hosts), ring Simple: 8.4 + (30 − 2)·max(3.4, 3·1.0) + 2·14 = 131.6 µs, ×1.4 once
    bytes/(16 channels · 16 ranks) ≥ 64; the DGX A100's AMD hosts: overhead 2.0 µs per step, ×3 for Simple."""
    m = _machine("hgx-h100", 2)
    assert M.latency_and_bandwidth(m, "ring", "simple")[0] == pytest.approx(131.6, rel=1e-12)
    bw = 384 * 16 / 30
    assert M.channels(m) == M.Channels(8, 48.0, 16)
    small, large = 64 * 16 * 16 - 1, 64 * 16 * 16
    assert M.time_s(m, "ring", "simple", small) == pytest.approx((131.6 + small / (1000 * bw)) * US, rel=1e-12)
    assert M.time_s(m, "ring", "simple", large) == pytest.approx((131.6 * 1.4 + large / (1000 * bw)) * US, rel=1e-12)
    a100 = _machine("dgx-a100", 2)
    assert M.latency_and_bandwidth(a100, "ring", "simple")[0] == pytest.approx(8.4 + 28 * 6.0 + 2 * 14, rel=1e-12)
    assert M.latency_and_bandwidth(a100, "ring", "ll")[0] == pytest.approx(6.6 + 28 * 2.0 + 2 * 2.7, rel=1e-12)


def test_tree_bandwidth_takes_the_correction_for_its_size():
    """Tree Simple at 1 MiB: index ⌊lg(2^20/64)⌋ = 14 of the Simple row, 0.5."""
    m = _machine("hgx-h100")
    lat, bw = M.latency_and_bandwidth(m, "tree", "simple")
    assert M.time_s(m, "tree", "simple", 1 << 20) == pytest.approx((lat + (1 << 20) / (1000 * bw * 0.5)) * US, rel=1e-12)


def test_auto_picks_the_fastest_and_says_why():
    """8 KiB on an H100 node: ring LL (15.0 µs + 8192 B at min(141, 360/2)·8/14 GB/s); 1 GiB: NVLS (25 µs + 1 GiB
    at 272 GB/s, tests/test_nccl_nvls.py) before ring Simple (56 µs + 1 GiB at 360·8/14); every alternative's time
    is kept (ring and tree × 3 protocols, NVLS and NVLS-tree in Simple only, NVLS-tree off on one node), and
    LL128 is off where the GPUs meet over PCIe."""
    m = _machine("hgx-h100")
    small, large = M.choose(m, 8192), M.choose(m, 1 << 30)
    assert (small.algorithm, small.protocol) == ("ring", "ll")
    assert small.time_s == pytest.approx((15.0 + 8192 / (1000 * 141 * 8 / 14)) * US, rel=1e-12)  # llMaxBw 141 < 180
    assert (large.algorithm, large.protocol) == ("nvls", "simple")
    assert large.time_s == pytest.approx((25 + (1 << 30) / 272000) * US, rel=1e-12)
    assert large.alternatives["ring", "simple"] == pytest.approx((56 + (1 << 30) / (1000 * 360 * 8 / 14)) * US)
    assert large.time_s == min(t for t in large.alternatives.values() if t is not None) and len(large.alternatives) == 8
    assert large.alternatives["nvls_tree", "simple"] is None
    assert "ring/simple" in large.why() and "tree/ll128" in large.why()
    pcie_only = _machine("ethernet", 1, gpus_per_node=4)
    assert M.time_s(pcie_only, "ring", "ll128", 1 << 20) is None
    assert M.choose(pcie_only, 1 << 20).protocol != "ll128"


def test_a_topology_that_is_not_a_cluster_is_refused():
    with pytest.raises(ValueError, match="needs a 'cluster' topology"):
        M.machine(topology.build("star", 4, 1e9, 1e-6))


def test_the_ll_cap_row_follows_the_cpu_on_several_nodes():
    """Across nodes llMaxBw is read by CPU vendor (tuning.cc:273-276): ring LL busBw min(39, 384/2) on Intel
    H100 hosts, min(22.5, 192/2) on the DGX A100's AMD ones; an override of cpu switches the row."""
    for machine, cap in ((_machine("hgx-h100", 2), 39.0), (_machine("dgx-a100", 2), 22.5),
                         (_machine("hgx-h100", 2, cpu="amd"), 22.5)):
        assert M.latency_and_bandwidth(machine, "ring", "ll")[1] == pytest.approx(cap * 16 / 30, rel=1e-12)
    assert _machine("dgx-a100", arch="sm90").arch == "sm90"


def test_channels_count_only_the_nics_gpus_reach_and_double_below_16_on_hopper():
    """2 GPUs per node with 8 NICs: two NIC paths of 48 GB/s, so 2 channels of 48, doubled at half the
    speed; 6 NICs on H100 nodes: 6 × 48, doubled twice when run (12 < 16 channels, connect.cc:480)."""
    assert M.channels(_machine("hgx-h100", 2, gpus_per_node=2)) == M.Channels(4, 24.0, 8)
    assert M.channels(_machine("hgx-h100", 2, nics_per_node=6)) == M.Channels(6, 48.0, 24)


def test_tree_correction_at_8_mib():
    """8 MiB: index ⌊lg(2^23/64)⌋ = 17 of the Simple row, 0.8 (its neighbours are 0.7)."""
    m = _machine("hgx-h100")
    lat, bw = M.latency_and_bandwidth(m, "tree", "simple")
    assert M.time_s(m, "tree", "simple", 8 << 20) == pytest.approx((lat + (8 << 20) / (1000 * bw * 0.8)) * US, rel=1e-12)


def test_tree_ll128_takes_seven_ninths_on_one_node_and_120_128_across_nodes_by_hand():
    """tuning.cc:333-335: tree busBw = min(0.92·C·s, C·perChMaxTreeBw), then LL128 × 7/9 on one node,
    × 120/128 on several, capped at C·perChMaxTreeLL128Bw; algBw = busBw/2.
    One H100 node (12 × 30 GB/s): min(0.92·360, 12·38.7) = 331.2, × 7/9 = 257.6 < 12·36.7 → 128.8 GB/s;
    latency 14.0 + 2·7·1.25 (NVLink tree LL128) = 31.5 µs.
    2 × 8 H100 with 200 Gbit/s NICs (8 × 24 GB/s, see below): min(0.92·192, 8·41.4) = 176.64, × 120/128 =
    165.6 < 8·36.7 → 82.8 GB/s; latency 14.0 + 2·(7·1.25 + 1·8.5) (network tree LL128) = 48.5 µs."""
    assert M.latency_and_bandwidth(_machine("hgx-h100"), "tree", "ll128") == pytest.approx((31.5, 128.8), rel=1e-12)
    slow_nics = _machine("hgx-h100", 2, nic_bandwidth="200 Gbit/s")
    assert M.latency_and_bandwidth(slow_nics, "tree", "ll128") == pytest.approx((48.5, 82.8), rel=1e-12)


def test_nics_of_25_gbps_give_8_channels_of_24_not_doubled():
    """2 × 8 H100 with 200 Gbit/s (25 GB/s) NICs: the search starts at 24 GB/s (the first speed ≤ min(PCIe
    48, NIC 25)), one channel per NIC: 8 × 24 = 192 < 370.8; 22, 20, 17.5, 15 fit 8 too (less), 12 fits
    2 per NIC = 16 × 12 = 192, not more; 6 < 0.49 · 24 stops it. 24 < 25: no duplication; run ×2 = 16."""
    assert M.channels(_machine("hgx-h100", 2, nic_bandwidth="200 Gbit/s")) == M.Channels(8, 24.0, 16)


def test_one_gpu_per_node_by_hand():
    """5 Ethernet nodes of one GPU (sm80, Intel, 100 GbE = 12.5 GB/s, PCIe Gen4 as NCCL counts it 24 GB/s).
    Channels: 1 of 12 GB/s (12 fits once in 12.5; 6 fits twice, 12 again, not more), run as 2.
    With one GPU per node NCCL uses the tree's network latency for both algorithms (tuning.cc:386-387,
    "latencies are fully exposed") and nothing inside a node; ⌊lg 5⌋ = 2 tree levels:
    tree LL 6.8 + 2·2·5.0 = 26.8, LL128 14.0 + 2·2·8.5 = 48.0, Simple 8.4 + 2·2·14 = 64.4 µs;
    ring (2(n−1) = 8 steps, all between nodes) LL 6.6 + 8·5.0 = 46.6, LL128 14.0 + 8·8.5 = 82.0,
    Simple 8.4 + 8·14 = 120.4 µs.
    LL128 runs (a lone GPU needs no NVLink inside its node, tuning.cc:538). Bandwidths (4+ nodes column):
    ring LL min(20.4, 0.5·12) = 6, LL128 min(0.92·12, 1·20.0) = 11.04, Simple 12, × 5/8; tree
    min(0.92·12, 17.8) = 11.04, LL ÷ 3.8, LL128 × 120/128 = 10.35 (< 20.0), all × 0.85 (one GPU per node: the tree
    graph's pattern is TREE, search.cc:1133, tuning.cc:336) and ÷ 2; 4 KiB by the tree LL128 is corrected by the
    LL128 row's index ⌊lg(4096/64)⌋ = 6, .8."""
    m = _machine("ethernet", 5)
    assert M.channels(m) == M.Channels(1, 12.0, 2)
    expect = {("tree", "ll"): (26.8, 11.04 / 3.8 * 0.85 / 2), ("tree", "ll128"): (48.0, 10.35 * 0.85 / 2),
              ("tree", "simple"): (64.4, 11.04 * 0.85 / 2), ("ring", "ll"): (46.6, 6 * 5 / 8),
              ("ring", "ll128"): (82.0, 11.04 * 5 / 8), ("ring", "simple"): (120.4, 12 * 5 / 8)}
    for (a, p), (lat, bw) in expect.items():
        assert M.latency_and_bandwidth(m, a, p) == pytest.approx((lat, bw), rel=1e-12), (a, p)
    assert M.time_s(m, "tree", "ll128", 4096) == pytest.approx((48.0 + 4096 / (1000 * 10.35 * 0.85 / 2 * 0.8)) * US,
                                                               rel=1e-12)
    two_over_pcie = _machine("ethernet", 5, gpus_per_node=2)
    assert M.enabled(m, "ll128") and not M.enabled(two_over_pcie, "ll128")
    lone_h100 = _machine("hgx-h100", 1, gpus_per_node=1)
    assert lone_h100.ranks == 1 and M.enabled(lone_h100, "ll128")


@pytest.mark.parametrize(("nbytes", "factor"), [(63, 1.0), (64, 0.9), (127, 0.9), (128, 0.9), ((1 << 29) - 1, 0.9),
                                                (1 << 29, 1.0)])
def test_tree_correction_applies_from_64_bytes_to_just_under_512_mib(nbytes, factor):
    """ncclTopoGetAlgoTime: logSize = log2i(bytes >> 6), corrected while 0 ≤ logSize < 23 (tuning.cc:640):
    63 B → log2i(0) = −1, none; 64 B → index 0 (Simple .9); 2^29 − 1 → index 22 (.9); 2^29 = 512 MiB →
    index 23, none (Simple's row is .9 at both ends, so each boundary shows)."""
    m = _machine("hgx-h100")
    lat, bw = M.latency_and_bandwidth(m, "tree", "simple")
    assert M.time_s(m, "tree", "simple", nbytes) == pytest.approx((lat + nbytes / (1000 * bw * factor)) * US, rel=1e-12)


def test_channels_are_not_doubled_again_at_exactly_45_gbps():
    """connect.cc:480: on sm90 across nodes the run channels double once more only when the speed is
    *above* 45 GB/s. 6 NICs of 360 Gbit/s (45 GB/s) per H100 node: the search starts at 45 (the first speed
    ≤ min(PCIe 48, NIC 45)), one channel per NIC: 6 × 45 = 270 < 370.8; 42, 40, 30 and 24 fit once per NIC
    too (less), 22 < 0.49 · 45 stops it; no duplication (sm90, 45 < 50 with 6 > 4 channels); run ×2 = 12,
    and 45 is not above 45: 12. At 48 GB/s (400 Gbit/s NICs) the same search runs 24."""
    assert M.channels(_machine("hgx-h100", 2, nics_per_node=6, nic_bandwidth="360 Gbit/s")) == M.Channels(6, 45.0, 12)
    assert M.channels(_machine("hgx-h100", 2, nics_per_node=6)) == M.Channels(6, 48.0, 24)


def test_the_tree_runs_after_its_own_base_latency():
    """model: nccl with double_binary_tree, protocol ll, on 2 Ethernet nodes: NCCL's tree LL base latency
    is 6.8 µs (tuning.cc:151; the ring's is 6.6), and the run ends that long after its network time on
    NCCL's rated graph, on both engines."""
    import yaml

    from commsim import scenario
    from commsim.collectives.nccl.tree import nccl_tree_schedule
    from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
    from commsim.runner import points

    assert M.base_latency_s("tree", "ll") == 6.8 * US and M.base_latency_s("ring", "ll") == 6.6 * US
    text = ("name: s\nworkers: 2\nsize: 4 KiB\npayload: size-only\nalgorithms: [double_binary_tree]\nmodel: nccl\n"
            "protocol: ll\nchannels: 1\ntopology: {kind: cluster, preset: ethernet, nodes: 2}\n")
    graph = M.nccl_rates(topology.build("cluster", 2, 1.0, 0.0, preset="ethernet", nodes=2), "ll")
    schedule = nccl_tree_schedule(2, 1024, 4, channels=1, protocol="ll", gpus_per_node=1)
    network = max(worker_finish(schedule, run_schedule(schedule, graph, [0, 1]).finish_s, 2))
    for engine in ("simulate", "schedule"):
        (run,) = points.simulate(scenario.parse(yaml.safe_load(text + f"engine: {engine}\n"), "s.yaml"))
        assert run.nccl["algorithm"] == "tree" and run.nccl["base_latency_s"] == 6.8 * US
        assert run.makespan_s == pytest.approx(6.8 * US + network, rel=1e-12)


def test_gpu_links_as_nccl_counts_them():
    """topo.h SMxx_NVLINK_BW × links: H100 18 × 20.6 = 370.8 GB/s, A100 12 × 20 = 240, B200 18 × 40.1 =
    721.8; topo.cc's PCIe, width × per-lane speed / 80: Gen5 x16 16 · 240 / 80 = 48, Gen4 16 · 120 / 80 = 24."""
    assert M.nvlink_gbps(_machine("hgx-h100")) == pytest.approx(370.8, rel=1e-12)
    assert M.nvlink_gbps(_machine("dgx-a100")) == pytest.approx(240.0, rel=1e-12)
    assert M.nvlink_gbps(_machine("hgx-b200")) == pytest.approx(721.8, rel=1e-12)
    assert M.pci_gbps(_machine("hgx-h100")) == pytest.approx(48.0, rel=1e-12)
    assert M.pci_gbps(_machine("dgx-a100")) == pytest.approx(24.0, rel=1e-12)


@pytest.mark.parametrize(("nodes", "protocol", "inside_us", "nic_us"), [
    (2, "simple", 3.4 / 2, 14.0 / 2),  # intra max(3.4, 3 × 1.0 net overhead), ring network latency
    (2, "ll", 1.0 / 2, 2.7 / 2),  # intra max(0.6, 1.0): the per-step network overhead wins
    (1, "ll128", 1.9 / 2, 4.0 / 2),  # one node: no network overhead
])
def test_nccl_rates_by_hand(nodes, protocol, inside_us, nic_us):
    """H100 nodes at NCCL's rates: NVLink 450 → 370.8 GB/s, PCIe 63.0 → 48, NIC and fabric links at their
    line rate (50 GB/s, and nodes × 50 from a rail to the spine); each link of an intra-node hop (GPU–NVSwitch) half NCCL's ring latency
    for the protocol, each NIC–rail link half its network latency, GPU–NIC and rail–spine links none."""
    graph = topology.build("cluster", nodes * 8, 1.0, 0.0, preset="hgx-h100", nodes=nodes)
    rated = M.nccl_rates(graph, protocol)
    expect = {(0, "node0.nvswitch"): (370.8e9, inside_us), (0, "node0.nic0"): (48e9, 0.0),
              ("node0.nic0", "rail0"): (50e9, nic_us), ("rail0", "spine0"): (nodes * 50e9, 0.0)}
    for edge, (bandwidth, latency_us) in expect.items():
        assert (rated.edges[edge]["bandwidth"], rated.edges[edge]["latency"]) == pytest.approx(
            (bandwidth, latency_us * US), rel=1e-12), edge
    assert graph.edges[0, "node0.nvswitch"]["bandwidth"] == 450e9  # the original is left as it was


@pytest.mark.parametrize(("preset", "protocol", "inside_us", "nic_us"), [
    ("hgx-h100", "ll128", 1.25 / 2, 8.5 / 2),  # the tree's NVLink and network rows, not the ring's 1.9 and 4.0
    ("hgx-h100", "ll", 0.6 / 2, 5.0 / 2),  # no network overhead per step: 0.6, not max(0.6, 1.0)
    ("dgx-a100", "simple", 4.0 / 2, 14.0 / 2),  # AMD hosts: 4.0, not the ring's max(3.4, 3 × 2.0) = 6.0
])
def test_the_tree_takes_its_own_hardware_latencies(preset, protocol, inside_us, nic_us):
    """2 nodes of 8 under the tree (tuning.cc:385-388: intraLat and interLat from the tree's rows of hwLatencies,
    tuning.cc:157-176; tuning.cc:414-417: the tree adds them with no network overhead, a ring's alone,
    tuning.cc:404-411): each link of an NVLink hop half the tree's NVLink latency for the protocol, each NIC–rail
    link half its network latency; the plan of a tree runs on that graph."""
    graph = topology.build("cluster", 16, 1.0, 0.0, preset=preset, nodes=2)
    for rated in (M.nccl_rates(graph, protocol, "tree"),
                  M.plan(graph, 1 << 20, algorithms=("tree",), protocols=(protocol,)).graph):
        assert rated.edges[0, "node0.nvswitch"]["latency"] == pytest.approx(inside_us * US, rel=1e-12)
        assert rated.edges["node0.nic0", "rail0"]["latency"] == pytest.approx(nic_us * US, rel=1e-12)


def test_nccl_rates_of_one_gpu_nodes_take_the_trees_network_latency():
    """One Ethernet GPU per node, LL: each NIC–switch link half the tree's network latency, 5.0 / 2 µs
    (with latencies fully exposed NCCL takes the tree's, tuning.cc:386), not the ring's 2.7 / 2."""
    rated = M.nccl_rates(topology.build("cluster", 2, 1.0, 0.0, preset="ethernet", nodes=2), "ll")
    assert rated.edges["node0.nic0", "rail0"]["latency"] == pytest.approx(2.5 * US, rel=1e-12)


def test_two_nvlink_gpus_per_node_run_ll128_at_nvlink_latency():
    """2 × 2 H100: the GPUs of a node meet over NVLink, so LL128 runs; ring LL128 latency 14.0 + (6 − 2) ·
    max(1.9 NVLink, 1.0 overhead) + 2 · 4.0 = 29.6 µs; 4 channels of 24 GB/s: busBw min(0.92 · 96, 4 ·
    36.7) = 88.32, algBw × 4/6 = 58.88."""
    m = _machine("hgx-h100", 2, gpus_per_node=2)
    assert M.enabled(m, "ll128")
    assert M.latency_and_bandwidth(m, "ring", "ll128") == pytest.approx((29.6, 58.88), rel=1e-12)


def test_a_gpus_pcie_caps_its_channels_when_its_nic_has_room_for_two():
    """2 × 8 H100 with 800 Gbit/s (100 GB/s) NICs: at 48 GB/s a NIC fits ⌊100/48⌋ = 2 channels but a GPU's
    PCIe (48) only 1: min(8 · 2, 8 · 1) = 8 channels, 384 ≥ 370.8 ends the search; no duplication (sm90,
    48 < 50 with 8 > 4), run ×2 = 16, not doubled again (16 is not below 16). Channel counts are whole
    numbers (results.json prints 16, not 16.0)."""
    found = M.channels(_machine("hgx-h100", 2, nic_bandwidth="800 Gbit/s"))
    assert found == M.Channels(8, 48.0, 16)
    two_per_node = M.channels(_machine("hgx-h100", 2, gpus_per_node=2))
    assert all(type(count) is int for count in (found.search, found.comm, two_per_node.search, two_per_node.comm))


def test_the_search_goes_on_while_the_gpus_have_room():
    """2 × 8 H100 with one 480 Gbit/s (60 GB/s) NIC a node: 48 fits once (48 < 370.8, the GPU's NVLink, so
    the search goes on), 45, 42, 40 once; 30 twice: 60, the best; 24 → 48, 22 → 44, 20 → 60 (not more),
    17.5 → 52.5, 15 → 60, 12 → 60, then 6 < 0.49 · 30 stops it. (2, 30) doubles (30 ≥ 25; only 2 ≤ 4
    channels) to 4 of 15, run ×2 = 8."""
    assert M.channels(_machine("hgx-h100", 2, nics_per_node=1, nic_bandwidth="480 Gbit/s")) == M.Channels(4, 15.0, 8)


def test_a_nic_slower_than_every_search_speed_falls_back_to_one_channel():
    """Two Ethernet nodes with 0.5 Gbit/s NICs (0.0625 GB/s, below NCCL's slowest search speed 0.12):
    NCCL's search finds nothing and falls back to one channel of 0.1 GB/s (search.cc:1289-1310), not
    duplicated (< 25), run ×2; ring Simple then moves 1 MiB at busBw 0.1 (algBw × 2/2) after (8.4 + 2 · 14) ×
    1.4 µs (the plateau: 1 MiB / (2 channels · 2 ranks) ≥ 64 B). It used to divide by zero."""
    m = _machine("ethernet", 2, nic_bandwidth="0.5 Gbit/s")
    assert M.channels(m) == M.Channels(1, 0.1, 2)
    assert M.time_s(m, "ring", "simple", 1 << 20) == pytest.approx(((8.4 + 2 * 14) * 1.4 + (1 << 20) / (1000 * 0.1)) * US,
                                                                    rel=1e-12)


def test_channels_of_exactly_50_gbps_are_doubled_on_hopper():
    """One H100 node with 13 NVLink links (325 GB/s each way: 13 × 20.6 = 267.8 as NCCL counts them): 60 fits
    4 (240), 50 fits 5 (250, the best), 40 → 240, 30 → 240, then 24 < 0.49 · 50 stops it. Hopper keeps
    more than 4 channels undoubled only *below* 50 GB/s (search.cc:1039): 5 of 50 double to 10 of 25, run
    ×2 = 20."""
    assert M.channels(_machine("hgx-h100", nvlink_bandwidth="325 GB/s")) == M.Channels(10, 25.0, 20)


def test_the_search_tries_down_to_nccls_slowest_speed():
    """Two Ethernet nodes with 2.88 Gbit/s (0.36 GB/s) NICs: the first speed at most 0.36 is 0.24 (fits
    once), then the last, 0.12 (0.12 / 0.24 = 0.5 > 0.49), fits three times: 0.36, the best; no
    duplication below 25; run ×2 = 6."""
    assert M.channels(_machine("ethernet", 2, nic_bandwidth="2.88 Gbit/s")) == M.Channels(3, 0.12, 6)


def test_duplicated_channels_are_capped_at_32_and_slowed_by_the_rounded_up_ratio():
    """2 nodes of 20 A100s, 20 NICs of 400 Gbit/s, PCIe at 63 GB/s (NCCL counts 63 · 130/128 · 3/4 = 47.99):
    the first speed at most 47.99 is 30, one channel per NIC: 20 × 30 = 600 ≥ 240 (the GPU's NVLink, 12 ×
    20) ends the search; 30 ≥ 25 doubles them, to at most 32, at 30 / ⌈32 / 20⌉ = 15 GB/s
    (ncclTopoDupChannels' DIVUP); run ×2 = 64, NCCL's most."""
    m = _machine("dgx-a100", 2, gpus_per_node=20, nics_per_node=20, nic_bandwidth="400 Gbit/s", pcie_bandwidth="63 GB/s")
    assert M.channels(m) == M.Channels(32, 15.0, 64)


def test_five_channels_below_50_gbps_are_not_duplicated_on_hopper():
    """2 × 8 H100 with 5 NICs: 5 channels of 48 GB/s (240 < 370.8; 24 fits 2 per NIC, 10 × 24 = 240, not
    more); Hopper duplicates channels below 50 GB/s only up to 4 (search.cc:1039): 5 stay, run ×2 = 10, then
    doubled again across nodes (48 > 45, 10 < 16): 20."""
    assert M.channels(_machine("hgx-h100", 2, nics_per_node=5)) == M.Channels(5, 48.0, 20)


def test_nccl_rates_take_the_network_overhead_per_step_where_it_is_larger():
    """2 DGX A100 (AMD hosts: 2.0 µs of network overhead a step, ×3 for Simple = 6.0 > NVLink's 3.4): each
    NVLink link of a hop takes half of 6.0 µs under Simple; under LL max(0.6, 2.0) / 2 = 1.0 µs."""
    graph = topology.build("cluster", 16, 1.0, 0.0, preset="dgx-a100", nodes=2)
    for protocol, half_hop_us in (("simple", 3.0), ("ll", 1.0)):
        rated = M.nccl_rates(graph, protocol)
        assert rated.edges[0, "node0.nvswitch"]["latency"] == pytest.approx(half_hop_us * US, rel=1e-12), protocol


def test_a_lone_gpu_searches_its_pcie():
    """One H100 alone has no NVLink peer: NCCL's search sees its PCIe, 48 GB/s: 40 fits once, 30 once,
    24 twice (48, all of it): 2 channels of 24 (below 25: not duplicated), run ×2 = 4; it sends nothing, in
    no time."""
    lone = _machine("hgx-h100", 1, gpus_per_node=1)
    assert not lone.nvlink and M.channels(lone) == M.Channels(2, 24.0, 4)
    assert M.time_s(lone, "ring", "simple", 1 << 20) == M.time_s(lone, "tree", "ll", 1 << 20) == 0.0  # nothing to send


def test_the_ring_plateau_is_only_across_nodes():
    """One H100 node, ring Simple, 1 MiB (1 MiB / (24 channels · 8 ranks) ≥ 64 B, but one node): no ×1.4,
    8.4 + 14 · 3.4 = 56 µs and 1 MiB at 360 · 8/14 GB/s."""
    m = _machine("hgx-h100")
    expected = (56.0 + (1 << 20) / (1000 * 360 * 8 / 14)) * US
    assert M.time_s(m, "ring", "simple", 1 << 20) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("preset", "nodes", "algorithm", "protocol", "cap"), [
    ("hgx-h100", 1, "ring", "ll", 141.0),  # llMaxBws Hopper N1 (tuning.cc:181)
    ("hgx-h100", 2, "ring", "ll", 39.0),  # across nodes the Intel row, N2 (tuning.cc:179, 273-276)
    ("hgx-h100", 4, "ring", "ll", 20.4),  # ... N4
    ("dgx-a100", 2, "ring", "ll", 22.5),  # the AMD row, N2 (tuning.cc:180)
    ("hgx-h100", 1, "ring", "ll128", 12 * 36.7),  # 12 search channels × perChMaxRingLL128Bw Hopper (tuning.cc:188)
    ("hgx-h100", 2, "ring", "ll128", 8 * 36.7),  # 8 search channels across nodes
    ("dgx-a100", 1, "ring", "ll128", 12 * 20.0),  # Ampere's 20 GB/s per channel (tuning.cc:187)
    ("hgx-h100", 2, "ring", "simple", None),  # ring Simple: no kernel bound
    ("hgx-h100", 4, "tree", "simple", 8 * 36.0),  # perChMaxTreeBws Hopper N4 (tuning.cc:201)
    ("hgx-h100", 2, "tree", "simple", 8 * 41.4),  # ... N2
    ("hgx-h100", 4, "tree", "ll", 20.4),  # min(8 × 36.0, llMaxBw 20.4)
    ("hgx-h100", 4, "tree", "ll128", 8 * 29.0),  # min(8 × 36.0, 8 × perChMaxTreeLL128Bws Hopper N4 29.0, tuning.cc:195)
    ("dgx-a100", 2, "tree", "ll128", 8 * 20.0),  # min(8 × 23.6, 8 × 20.0)
    ("hgx-h100", 1, "pat", "simple", None),  # nothing else is bounded
])
def test_the_kernels_throughput_bounds_by_hand(preset, nodes, algorithm, protocol, cap):
    """A GPU's traffic in a protocol at NCCL's tuner bounds: ring LL at llMaxBw, ring LL128 at the graph's
    channels × perChMaxRingLL128Bw; the tree at channels × perChMaxTreeBw, and for LL and LL128 also at their
    ring-like bounds (tuning.cc:327-335)."""
    assert M.channels(_machine(preset, nodes)).search == (12 if nodes == 1 else 8)
    got = M.protocol_cap_gbps(_machine(preset, nodes), algorithm, protocol)
    assert got == (None if cap is None else pytest.approx(cap, rel=1e-12))


def test_plans_carry_the_kernels_throughput_bound_on_the_wire_on_gpu_links_only():
    """2 × 8 H100: a ring LL128 plan's GPU links (to the NVSwitch and the NIC) at most 8 × 36.7 GB/s × 128/120
    (313.17 GB/s, below NVLink's 370.8), NIC-to-switch links untouched; LL at 39 × 2 (8 wire bytes per 4); a
    tree LL128 plan's at min(8 × 41.4, 8 × 36.7) × 128/120; a ring Simple plan keeps NCCL's link rates."""
    graph = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2)
    base = M.nccl_rates(graph, "simple")
    for algorithm, protocol, wire in (("ring", "ll128", 8 * 36.7e9 * 128 / 120), ("ring", "ll", 39.0e9 * 2),
                                      ("tree", "ll128", 8 * 36.7e9 * 128 / 120), ("ring", "simple", 18 * 20.6e9)):
        rated = M.plan(graph, 1 << 20, (algorithm,), (protocol,)).graph
        assert rated.edges[0, "node0.nvswitch"]["bandwidth"] == pytest.approx(wire, rel=1e-12)
        assert rated.edges[0, "node0.nic0"]["bandwidth"] == pytest.approx(min(wire, base.edges[0, "node0.nic0"]["bandwidth"]))
        assert rated.edges["node0.nic0", "rail0"]["bandwidth"] == base.edges["node0.nic0", "rail0"]["bandwidth"]
