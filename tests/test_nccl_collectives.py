"""NCCL's reduce-scatter, all-gather, broadcast, reduce and all-to-all in the NCCL mode: closed forms on
contention-free shapes (both engines), counts and bytes by hand formulas, the data each leaves where,
NCCL's cost model against hand evaluations of tuning.cc, NCCL's p2p setup, the plan, nccl-tests' busbw."""

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives import KINDS, reference_results
from commsim.collectives.follow import scheduled
from commsim.collectives.nccl import model as M
from commsim.collectives.nccl import p2p, pipeline, ring
from commsim.collectives.payload import chunk_bounds
from commsim.engines.message import bytes_per_link, make_buffers, mean_error, run_collective
from commsim.engines.results import BUSBW_FACTOR
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.network import topology

US = 1e-6
ALPHA_LINK, B = 1e-6, 400e9  # one NVLink hop of the test node: GPU → NVSwitch → GPU is 2 links, 2 µs
KIND = {"reduce_scatter": ring.nccl_reduce_scatter_schedule, "all_gather": ring.nccl_all_gather_schedule,
        "broadcast": pipeline.nccl_broadcast_schedule, "reduce": pipeline.nccl_reduce_schedule,
        "personalized_all_to_all": p2p.nccl_all_to_all_schedule}
SIZES = {"reduce_scatter": ring.block_message_sizes, "all_gather": ring.block_message_sizes,
         "broadcast": pipeline.message_sizes, "reduce": pipeline.message_sizes,
         "personalized_all_to_all": p2p.message_sizes}


def _node(n: int):
    """One H100 node of n GPUs whose NVLinks are all 400 GB/s and 1 µs (contention only where flows meet)."""
    return topology.build("cluster", n, 1.0, 0.0, preset="hgx-h100", nodes=1, gpus_per_node=n, nics_per_node=n,
                          nvlink_bandwidth="400 GB/s", nvlink_latency="1 us")


def _cluster(nodes: int, gpus: int):
    return topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes, gpus_per_node=gpus,
                          nics_per_node=gpus)


def _both(kind: str, graph, n: int, p: int, w: int, **options) -> tuple[list[float], object, object]:
    """(per-rank finish on the message engine, its run, the schedule engine's run) for one collective."""
    make = partial(KIND[kind], **options)
    message = run_collective(scheduled(f"test_{kind}", make, None, "test", kind=kind), graph,
                             make_buffers(n, p, {4: "float32", 8: "float64"}[w], "size-only", 0), keep_log=False)
    schedule = make(n, p, w, gpus_per_node=graph.graph.get("gpus_per_node"))
    fast = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert worker_finish(schedule, fast.finish_s, n).tolist() == pytest.approx(message.finish_s, rel=1e-9)
    assert (fast.messages, fast.sizes, fast.bytes_per_link) == (
        message.network.messages, message.network.message_sizes(), bytes_per_link(message.network))
    return message.finish_s, message, fast


def _wire(data: int, protocol: str) -> int:
    """NCCL's line formats by hand: LL 8 bytes per 4, LL128 128 per 120, Simple the data."""
    return {"ll": -(-data // 4) * 8, "ll128": -(-data // 120) * 128, "simple": data}[protocol]


# -- closed forms on one node, both engines --------------------------------------------------------

@pytest.mark.parametrize("protocol", ["simple", "ll", "ll128"])
@pytest.mark.parametrize("kind", ["reduce_scatter", "all_gather"])
def test_ring_collectives_take_n_minus_1_shared_steps(kind, protocol):
    """n = 4 GPUs on one node, C = 3 channels: every channel's ring is 0 → 1 → 2 → 3 → 0 (a node's rings
    differ only in where they start), so each GPU's NVLink carries C parts at once, B/C each. With
    p = n·C·m fp32 every part is m·4 bytes: (n − 1) eager steps of 2α + C·wire(4m)/B; C·n(n − 1) messages."""
    n, channels, m = 4, 3, 1000
    finish, message, _ = _both(kind, _node(n), n, n * channels * m, 4, channels=channels, protocol=protocol)
    step = 2 * ALPHA_LINK + channels * _wire(4 * m, protocol) / B
    assert max(finish) == pytest.approx((n - 1) * step, rel=1e-9)
    assert message.network.message_sizes() == {_wire(4 * m, protocol): channels * n * (n - 1)}


@pytest.mark.parametrize("protocol", ["simple", "ll", "ll128"])
@pytest.mark.parametrize("kind", ["broadcast", "reduce"])
def test_pipelines_take_k_plus_n_minus_2_rounds_of_a_chunk(kind, protocol):
    """n = 4, C = 2 channels, K = 3 of NCCL's chunks per channel (one step: 512 KiB Simple, 32 KiB LL,
    576,000 B LL128): the chain from the root (to it) is the same on both channels, so each hop carries
    2 chunks at once, each taking s = C·wire(chunk)/B; sends are buffered (the next chunk leaves once the last
    has left), so the last rank has its last chunk after K + n − 2 transmissions and n − 1 hop latencies of
    2α: (K + n − 2)·s + (n − 1)·2α (the fluid way: the links are shared); C·K·(n − 1) messages."""
    n, channels, k = 4, 2, 3
    chunk = {"simple": 512 * 1024, "ll": 32 * 1024, "ll128": 576_000}[protocol]
    finish, message, _ = _both(kind, _node(n), n, channels * k * chunk // 4, 4, channels=channels, protocol=protocol)
    s = channels * _wire(chunk, protocol) / B
    assert max(finish) == pytest.approx((k + n - 2) * s + (n - 1) * 2 * ALPHA_LINK, rel=1e-9)
    assert message.network.message_sizes() == {_wire(chunk, protocol): channels * k * (n - 1)}


@pytest.mark.parametrize("protocol", ["simple", "ll"])
def test_all_to_all_sends_every_block_at_once(protocol):
    """n = 4 GPUs, blocks of 8 KiB in P = 2 parts of 4 KiB: all n(n − 1)·P parts at once, each GPU's NVLink
    carrying (n − 1)·P of them, so 2α + (n − 1)·P·wire(4096)/B; on a fully connected graph (a link per
    pair, 1 µs, 400 GB/s) each pair's link carries its P parts: α + P·wire(4096)/B."""
    n, parts = 4, 2
    p = n * 8192 // 4
    finish, message, _ = _both("personalized_all_to_all", _node(n), n, p, 4, channels=parts, protocol=protocol)
    assert max(finish) == pytest.approx(2 * ALPHA_LINK + (n - 1) * parts * _wire(4096, protocol) / B, rel=1e-9)
    assert message.network.message_sizes() == {_wire(4096, protocol): n * (n - 1) * parts}
    mesh = topology.build("fully_connected", n, B, ALPHA_LINK)
    finish, _, _ = _both("personalized_all_to_all", mesh, n, p, 4, channels=parts, protocol=protocol)
    assert max(finish) == pytest.approx(ALPHA_LINK + parts * _wire(4096, protocol) / B, rel=1e-9)


# -- counts by formula, data, both engines across nodes ------------------------------------------------

def _parts_by_hand(kind: str, n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """Wire size → count from each collective's definition, loop by loop."""
    counted: dict[int, int] = {}

    def add(data: int, times: int) -> None:
        size = _wire(data, protocol)
        counted[size] = counted.get(size, 0) + times

    if kind in ("reduce_scatter", "all_gather"):  # part c of block b, n − 1 hops
        for b in range(n):
            length = chunk_bounds(p, n)[b + 1] - chunk_bounds(p, n)[b]
            for c in range(channels):
                add(((c + 1) * length // channels - c * length // channels) * w, n - 1)
    elif kind in ("broadcast", "reduce"):  # NCCL's chunks of each channel's range, n − 1 hops
        size = {"simple": 1 << 19, "ll": 1 << 15, "ll128": 576_000}[protocol] // w
        for c in range(channels):
            left = (c + 1) * p // channels - c * p // channels
            if left == 0:
                add(0, n - 1)
            while left > 0:
                add(min(size, left) * w, n - 1)
                left -= size
    else:  # parts of ⌈B/P⌉ rounded up to 4 KiB, every ordered pair
        block = p // n * w
        share = -(-block // channels)
        size = -(-share // 4096) * 4096
        for c in range(channels):
            if c * size < block or (block == 0 and c == 0):
                add(min(size, block - c * size), n * (n - 1))
    return dict(sorted(counted.items()))


@pytest.mark.parametrize("kind", list(KIND))
def test_counts_bytes_and_data_across_two_nodes(kind):
    """2 nodes × 4 GPUs, 3 channels (parts), uneven p = 100,003 fp64 (several NCCL chunks per channel in
    LL): each rank holds exactly what the collective specifies (integer data, so means are exact), message
    sizes equal the hand formula and the module's, and the schedule engine agrees on times and bytes."""
    n, p, w, channels = 8, 100_003, 8, 3
    protocol = "simple" if kind == "personalized_all_to_all" else "ll"
    graph = _cluster(2, 4)
    rng = np.random.default_rng(7)
    x = [rng.integers(-1000, 1000, p).astype(np.float64) for _ in range(n)]
    make = partial(KIND[kind], channels=channels, protocol=protocol)
    run = run_collective(scheduled(f"test_{kind}", make, None, "test", kind=kind), graph, x)
    for result, reference in zip(run.results, reference_results(kind, x)):
        if reference is not None:
            np.testing.assert_array_equal(result[reference[0]], reference[1])
    expected = _parts_by_hand(kind, n, p, w, channels, protocol)
    assert run.network.message_sizes() == expected == SIZES[kind](n, p, w, channels, protocol)
    assert run.network.messages == sum(expected.values())
    _both(kind, graph, n, p, w, channels=channels, protocol=protocol)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(list(KIND)), nodes=st.integers(1, 3), gpus=st.integers(1, 3), p=st.integers(0, 200),
       channels=st.integers(1, 4), protocol=st.sampled_from(["simple", "ll", "ll128"]))
def test_every_collective_leaves_what_it_specifies(kind, nodes, gpus, p, channels, protocol):
    """Any nodes × GPUs, p (blocks and parts empty or not), channels and protocol: the message engine with
    real numbers leaves exactly the reference result, and counts match the formula."""
    if kind == "personalized_all_to_all" and protocol == "ll128":
        protocol = "ll"  # NCCL's p2p runs LL or Simple
    n = nodes * gpus
    graph = _cluster(nodes, gpus)
    x = [np.arange(p, dtype=np.float64) * (r + 1) + 3 * r for r in range(n)]
    make = partial(KIND[kind], channels=channels, protocol=protocol)
    run = run_collective(scheduled(f"test_{kind}", make, None, "test", kind=kind), graph, x)
    error, _, identical = mean_error(x, run.results, kind)
    assert error == 0.0 and identical
    assert run.network.message_sizes() == (_parts_by_hand(kind, n, p, 8, channels, protocol) if n > 1 else {})


def test_personalized_all_to_all_reference_by_hand():
    """n = 3, p = 7: blocks of 2, the last element unspecified; rank r's block j is rank j's block r."""
    x = [np.array([10, 11, 12, 13, 14, 15, 16]) + 100 * r for r in range(3)]
    (part, value), *_ = reference_results("personalized_all_to_all", x)
    assert part == slice(0, 6) and value.tolist() == [10, 11, 110, 111, 210, 211]
    assert reference_results("personalized_all_to_all", x)[2][1].tolist() == [14, 15, 114, 115, 214, 215]
    assert "personalized_all_to_all" in KINDS


def test_broadcast_chain_starts_at_the_root_and_reduce_ends_there():
    """2 nodes × 2 GPUs, channel 1 (ring 1 0 | 3 2): broadcast 0 → 3 → 2 → 1, reduce 3 → 2 → 1 → 0."""
    assert pipeline.chains(4, 2, 2, to_root=False).tolist() == [[0, 1, 2, 3], [0, 3, 2, 1]]
    assert pipeline.chains(4, 2, 2, to_root=True).tolist() == [[1, 2, 3, 0], [3, 2, 1, 0]]


def test_p2p_parts_are_4_kib_aligned_and_skip_empty_ones():
    """ncclP2pPartBounds: ⌈12000/4⌉ = 3000 → 4096 per part: 4096, 4096, 3808 and no fourth; nothing to send is
    still one (empty) send."""
    assert p2p.part_bounds(12000, 4) == [(0, 4096), (4096, 8192), (8192, 12000)]
    assert p2p.part_bounds(0, 4) == [(0, 0)]


# -- NCCL's cost model, by hand from tuning.cc -------------------------------------------------------

def _machine(preset: str, nodes: int = 1, **overrides) -> M.Machine:
    gpus = overrides.get("gpus_per_node", 1 if preset == "ethernet" else 8)
    return M.machine(topology.build("cluster", nodes * gpus, 1.0, 0.0, preset=preset, nodes=nodes, **overrides))


def test_one_h100_node_by_hand():
    """8 × H100: 12 channels × 30 GB/s = 360 bus. Reduce-scatter and all-gather: n − 1 = 7 steps, algBw =
    bus·8/7, lat = base + 7·NVLink ring latency (LL 6.6 + 7·0.6, LL128 14 + 7·1.9 at min(0.92·360,
    12·36.7), Simple 8.4 + 7·3.4). Broadcast and reduce: 8 steps (algBw = bus), one node so sameChannels:
    base + one hop's latency (7.2, 15.9, 11.8 µs). NCCL picks LL at 8 KiB, LL128 at 16 MiB (reduce-scatter;
    broadcast goes straight to Simple, its LL128 slower on both counts) and Simple at 1 GiB."""
    m = _machine("hgx-h100")
    buses = {"ll": min(141.0, 0.5 * 360), "ll128": min(0.92 * 360, 12 * 36.7), "simple": 360.0}
    hop = {"ll": 0.6, "ll128": 1.9, "simple": 3.4}
    base = {"ll": 6.6, "ll128": 14.0, "simple": 8.4}
    for protocol, bus in buses.items():
        for collective in ("reduce_scatter", "all_gather"):
            assert M.latency_and_bandwidth(m, "ring", protocol, collective) == pytest.approx(
                (base[protocol] + 7 * hop[protocol], bus * 8 / 7), rel=1e-12)
        for collective in ("broadcast", "reduce"):
            assert M.latency_and_bandwidth(m, "ring", protocol, collective) == pytest.approx(
                (base[protocol] + hop[protocol], bus), rel=1e-12)
    picks = [M.choose(m, size, collective="reduce_scatter") for size in (8 << 10, 16 << 20, 1 << 30)]
    assert [c.protocol for c in picks] == ["ll", "ll128", "simple"]
    assert picks[0].time_s == pytest.approx((10.8 + 8192 / (1000 * 141 * 8 / 7)) * US, rel=1e-12)
    assert [M.choose(m, size, collective="broadcast").protocol for size in (8 << 10, 16 << 20)] == ["ll", "simple"]
    assert M.time_s(m, "pat", "simple", 1 << 20, "all_gather") is None  # PAT: one GPU per node only


def test_two_h100_nodes_by_hand():
    """2 × 8 H100 (Intel hosts): 8 search channels × 48 GB/s = 384 bus, llMaxBw 39. Reduce-scatter: 15 steps,
    one between the nodes: Simple 8.4 + 14·max(3.4, 3·1.0) + 14 = 70 µs at 384·16/15 (no ×1.4 plateau, which
    is all-reduce's), LL 6.6 + 14·max(0.6, 1.0) + 2.7 at 39·16/15, LL128 14 + 14·1.9 + 4 at min(353.28,
    8·36.7)·16/15. Broadcast: 8 NICs, so not sameChannels: 16 steps of the network's latency — Simple's
    from the tree row (8.4 + 16·14), LL 6.6 + 16·2.7, LL128 14 + 16·4 — at bus; NCCL picks LL at 64 KiB,
    LL128 at 64 MiB, Simple at 1 GiB."""
    m = _machine("hgx-h100", 2)
    assert not M.same_channels(m) and M.same_channels(_machine("hgx-h100"))
    assert M.same_channels(_machine("hgx-h100", 2, nics_per_node=1))  # one NIC: every channel can replay the first
    single = _machine("ethernet", 4)  # one GPU and NIC per node: sameChannels, one network hop (the ring's row)
    assert M.latency_and_bandwidth(single, "ring", "ll", "broadcast")[0] == pytest.approx(6.6 + 2.7, rel=1e-12)
    expect = {"simple": (70.0, 384 * 16 / 15), "ll": (23.3, 39 * 16 / 15), "ll128": (44.6, 8 * 36.7 * 16 / 15)}
    for protocol, pair in expect.items():
        assert M.latency_and_bandwidth(m, "ring", protocol, "all_gather") == pytest.approx(pair, rel=1e-12)
    size = 256 << 20
    assert M.time_s(m, "ring", "simple", size, "reduce_scatter") == pytest.approx(
        (70.0 + size / (1000 * 384 * 16 / 15)) * US, rel=1e-12)
    expect = {"simple": (232.4, 384.0), "ll": (49.8, 39.0), "ll128": (78.0, 8 * 36.7)}
    for protocol, pair in expect.items():
        assert M.latency_and_bandwidth(m, "ring", protocol, "reduce") == pytest.approx(pair, rel=1e-12)
    assert [M.choose(m, size, collective="broadcast").protocol for size in (64 << 10, 64 << 20, 1 << 30)] == [
        "ll", "ll128", "simple"]


def test_pat_on_one_gpu_per_node_by_hand():
    """32 single-GPU nodes (ethernet preset, sm80): PAT Simple 8 + log2(32)·14/3.5 + 32·2.8 = 117.6 µs at
    12·0.75 GB/s against the ring's LL 6.6 + 31·5.0 (the tree's network latency, one GPU per node) at
    min(20.4, 6)·32/31: NCCL would pick PAT for a 64 KiB all-gather; commsim's plan runs its ring."""
    m = _machine("ethernet", 32)
    assert M.latency_and_bandwidth(m, "pat", "simple", "all_gather") == pytest.approx((117.6, 9.0), rel=1e-12)
    assert M.latency_and_bandwidth(m, "ring", "ll", "all_gather") == pytest.approx((161.6, 6 * 32 / 31), rel=1e-12)
    pick = M.choose(m, 64 << 10, collective="all_gather")
    assert (pick.algorithm, pick.protocol) == ("pat", "simple")
    assert pick.time_s == pytest.approx((117.6 + 65536 / 9000) * US, rel=1e-12)
    graph = topology.build("cluster", 32, 1.0, 0.0, preset="ethernet", nodes=32)
    assert M.plan(graph, 64 << 10, collective="all_gather").algorithm == "ring"


def test_nccl_rates_no_tree_for_the_other_collectives_and_no_all_to_all():
    with pytest.raises(ValueError, match="NCCL rates no tree for broadcast"):
        M.time_s(_machine("hgx-h100"), "tree", "simple", 1 << 20, "broadcast")
    with pytest.raises(ValueError, match="no tuning table, no predicted time"):
        M.choose(_machine("hgx-h100"), 1 << 20, collective="personalized_all_to_all")


def test_p2p_channels_from_nccls_setup():
    """H100 node: per peer 2 × 18 NVLink links = 36 → 64, at most the 32 p2p channels (pow2Up of 24); a send
    takes ≥ 4 (4 × 8 ranks = 32): 1 MiB in 4 parts, Simple; 8 KiB in 1 part, LL (≤ 16 KiB per part).
    2 × 8 H100: per peer ⌈48/14⌉ = 4 over the network (each GPU reaches its 400G NIC at PCIe's 48), 16 p2p
    channels, 4·⌈16/8⌉ ≤ 16 so it stays; a send starts at 1 part (4·16 > 16), doubled while a part is above
    128 KiB: 1 MiB in 4 parts of 256 KiB."""
    one = M.p2p_channels(_machine("hgx-h100"))
    assert one == M.P2pChannels(32, 32, 4, 512 << 10, 1)
    assert one.send(1 << 20) == (4, "simple") and one.send(8 << 10) == (1, "ll")
    two = M.p2p_channels(_machine("hgx-h100", 2))
    assert two == M.P2pChannels(16, 4, 1, 128 << 10, 2)
    assert two.send(1 << 20) == (4, "simple") and two.send(16 << 10) == (1, "ll") and two.send(64 << 10) == (1, "simple")



def test_p2p_send_parts_at_the_edges_of_nccls_rules_by_hand():
    """enqueue.cc:912-933 on the two machines above. One node (chunk 512 KiB, a part ≥ 512/8 = 64 KiB and
    ≤ 32 × 512 KiB = 16 MiB, at least 4 parts): 120,000 B → min(4, ⌈120000/65536⌉ = 2) = 2 parts; 66 MiB →
    4 parts of 16.5 MiB > 16 MiB, doubled to 8. Two nodes (chunk 128 KiB, parts of 64..128 KiB, at least 1,
    at most 4): 300 KiB → 1 part of 300 > 128 KiB, 2 of 150 > 128, 4 of 75; 16,385 B is one byte past the
    16 KiB LL bound, Simple. With at least 4 parts across nodes (few ranks): 150,000 B → ⌈150000/65536⌉ = 3."""
    one, two = M.P2pChannels(32, 32, 4, 512 << 10, 1), M.P2pChannels(16, 4, 1, 128 << 10, 2)
    assert one.send(120_000) == (2, "simple") and one.send(66 << 20) == (8, "simple")
    assert two.send(300 << 10) == (4, "simple") and two.send(16385) == (1, "simple")
    assert M.P2pChannels(16, 8, 4, 128 << 10, 2).send(150_000) == (3, "simple")


def test_p2p_channels_of_a_pcie_node():
    """8 GPUs meeting over PCIe (no NVLink): 2 channels per peer (paths.cc: P2P over PCI), the 128 KiB PCIe
    chunk (init.cc p2pChunkSize), whatever the p2p channels (at least 2: comm channels are doubled)."""
    pcie = M.p2p_channels(_machine("ethernet", gpus_per_node=8))
    assert pcie.per_peer == 2 and pcie.chunk == 128 << 10


def test_p2p_channels_per_peer_across_nodes_by_hand():
    """paths.cc:941-953 and 990-1001 across nodes. 9 × 8 H100 (16 p2p channels, as on 2 nodes: the same node's
    search): ⌈48/14⌉ = 4 per peer, halved while 4·⌈72/8⌉ = 36, then 18, exceed 16: 1. 2 × 8 H100 with
    232 Gbit/s NICs (29 GB/s, under PCIe's 48, so one NIC): ⌈29/14⌉ = 3 → 4 per peer, 4·⌈16/8⌉ = 8 ≤ 16.
    2 × 8 H100 with one NVLink link a GPU (25 GB/s): its peers inside the node take 2 × 1 = 2, fewer than the
    network's 4, so 2 per peer."""
    assert M.p2p_channels(_machine("hgx-h100", 9)) == M.P2pChannels(16, 1, 1, 128 << 10, 9)
    slow = M.p2p_channels(_machine("hgx-h100", 2, nic_bandwidth=29e9))
    assert (slow.channels, slow.per_peer) == (16, 4)
    one_link = M.p2p_channels(_machine("hgx-h100", 2, nvlink_bandwidth=25e9))
    assert (one_link.channels, one_link.per_peer) == (16, 2)

# -- the plan the runner wires in ---------------------------------------------------------------------

@pytest.mark.parametrize("collective", ["reduce_scatter", "all_gather", "broadcast", "reduce"])
def test_plan_runs_nccls_pick_after_its_base_latency(collective):
    """2 × 8 H100, 4 MiB: the plan's schedule on its graph, plus NCCL's base latency, is what runs; it carries
    NCCL's pick, channels (16) and message sizes by formula equal to the schedule's."""
    graph = _cluster(2, 8)
    plan = M.plan(graph, 4 << 20, collective=collective)
    pick = M.choose(M.machine(graph), 4 << 20, ("ring",), collective=collective)
    assert (plan.algorithm, plan.protocol, plan.channels, plan.predicted_s) == ("ring", pick.protocol, 16, pick.time_s)
    assert plan.base_latency_s == M.base_latency_s("ring", pick.protocol)
    n, p = 16, (4 << 20) // 4
    schedule = plan.make(n, p, 4, gpus_per_node=8)
    run = run_schedule(schedule, plan.graph, participant_nodes(schedule, n, ()))
    assert run.sizes == plan.message_sizes(n, p, 4)


def test_plan_of_the_all_to_all_carries_no_prediction():
    """2 × 8 H100, 16 MiB: blocks of 1 MiB, 4 parts each, Simple; no choice, no base latency, rates only."""
    graph = _cluster(2, 8)
    plan = M.plan(graph, 16 << 20, collective="personalized_all_to_all")
    assert (plan.choice, plan.predicted_s, plan.algorithm, plan.protocol, plan.channels, plan.base_latency_s) == (
        None, None, "p2p", "simple", 4, 0.0)
    assert plan.message_sizes(16, (16 << 20) // 4, 4) == {256 << 10: 16 * 15 * 4}
    with pytest.raises(ValueError, match="as simple"):
        M.plan(graph, 16 << 20, protocols=("ll",), collective="personalized_all_to_all")


def test_busbw_factors_are_nccl_tests():
    """nccl-tests src/*.cu GetBw: all-reduce 2(n−1)/n, reduce-scatter, all-gather, alltoall (n−1)/n,
    broadcast and reduce 1 (n = 8)."""
    expect = {"allreduce": 14 / 8, "reduce_scatter": 7 / 8, "all_gather": 7 / 8, "broadcast": 1.0, "reduce": 1.0,
              "personalized_all_to_all": 7 / 8}
    assert {kind: BUSBW_FACTOR[kind](8) for kind in KINDS} == expect


def test_a_pipeline_runs_as_many_rounds_as_its_longest_channel_needs():
    """Broadcast of 262,145 fp32 on 3 ranks and 2 channels (Simple, 512 KiB chunks): channel 0 holds 131,073
    elements (524,292 B: a 524,288 B chunk and a 4 B one), channel 1 131,072 (one 524,288 B chunk). Rounds: the
    longest channel's K + n − 2 = 2 + 1 = 3; every chunk crosses both hops: 4 messages of 524,288 B and 2 of 4 B."""
    made = pipeline.nccl_broadcast_schedule(3, 262_145, 4, channels=2)
    sizes = {}
    for k in range(made.rounds):
        for nbytes in made.round(k).nbytes.tolist():
            sizes[nbytes] = sizes.get(nbytes, 0) + 1
    assert made.rounds == 3 and sizes == {524_288: 4, 4: 2}
