"""Sensitivity: results move when topology, worker count or size change where theory says they
must, and stay put where theory says they must not (a common complaint about other simulators)."""

import pytest

from commsim.collectives import get
from commsim.engines.message import make_buffers, run_collective
from commsim.network import topology

B, ALPHA, W = 12.5e9, 5e-6, 4


def _time(algorithm, kind, n, p, bandwidth=B, latency=ALPHA, **options):
    graph = topology.build(kind, n, bandwidth, latency, servers=int(get(algorithm).server is not None), **options)
    return run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0)).makespan_s


def test_topology_changes_time_by_the_extra_hop():
    """Ring all-reduce on a star pays one more α per step than on a direct-link network: 2(n−1)α."""
    n, p = 8, 1_000_000
    assert _time("ring_allreduce", "star", n, p) - _time("ring_allreduce", "fully_connected", n, p) == pytest.approx(
        2 * (n - 1) * ALPHA, rel=1e-9)


def test_ring_topology_and_direct_links_are_alike_for_a_ring_algorithm():
    """Ring all-reduce only talks to neighbours, so a ring network is as good as full connectivity."""
    assert _time("ring_allreduce", "ring", 8, 999_999) == pytest.approx(_time("ring_allreduce", "fully_connected", 8, 999_999), rel=1e-12)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_worker_count_moves_ring_time_as_2_n_minus_1_over_n(n):
    """Ring all-reduce time is 2(n−1)(2α + P/(nB)): it grows with n, towards 2P/B for bandwidth."""
    p = 1_600_000
    assert _time("ring_allreduce", "star", n, p) == pytest.approx(2 * (n - 1) * (2 * ALPHA + p * W / (n * B)), rel=1e-9)


@pytest.mark.parametrize("n", [2, 5, 9])
def test_worker_count_does_not_move_all_to_all_on_direct_links(n):
    """All-to-all on direct links: every send has its own link, so time is α + P/B whatever n."""
    assert _time("all_to_all", "fully_connected", n, 50_000) == pytest.approx(ALPHA + 50_000 * W / B, rel=1e-12)


def test_worker_count_moves_the_parameter_server_linearly_on_a_star():
    """The server's one link carries n buffers each way: doubling n adds 2nP/B."""
    p = 100_000
    difference = _time("parameter_server", "star", 8, p) - _time("parameter_server", "star", 4, p)
    assert difference == pytest.approx(2 * 4 * p * W / B, rel=1e-9)


def test_size_moves_time_by_its_bandwidth_term_only():
    """Doubling p on a star adds exactly the bandwidth term of ring all-reduce; latency terms stay."""
    n = 4
    difference = _time("ring_allreduce", "star", n, 2_000_000) - _time("ring_allreduce", "star", n, 1_000_000)
    assert difference == pytest.approx(2 * (n - 1) * (1_000_000 // n) * W / B, rel=1e-9)


def test_sizes_with_the_same_largest_chunk_take_the_same_time():
    """Only the largest ring chunk sets the step: p = 1000 and p = 997 over 4 workers both have 250."""
    assert _time("ring_allreduce", "star", 4, 1000) == pytest.approx(_time("ring_allreduce", "star", 4, 997), rel=1e-12)


def test_latency_only_matters_per_message():
    """With tiny messages the time is latency-bound: halving the latency halves the time (almost)."""
    slow = _time("ring_allreduce", "star", 8, 8, latency=2e-6)
    fast = _time("ring_allreduce", "star", 8, 8, latency=1e-6)
    assert slow - fast == pytest.approx(2 * 7 * 2 * 1e-6, rel=1e-9)


def test_bandwidth_scales_the_bandwidth_term():
    """Doubling every link's bandwidth halves the bandwidth term of the parameter server."""
    p, n = 1_000_000, 4
    slow = _time("parameter_server", "star", n, p, bandwidth=B)
    fast = _time("parameter_server", "star", n, p, bandwidth=2 * B)
    assert slow - fast == pytest.approx(2 * n * p * W / (2 * B), rel=1e-9)


def _recursive_doubling_rounds_on(graph, n, size):
    """Predicted time of recursive doubling (n a power of two) from the routes' shared links:
    per round, every flow starts together, equal-sized, so the round lasts as long as the slowest
    flow: its route latency + size × (most flows on any of its links) / B."""
    import simpy

    from commsim.network.fluid import Network

    net = Network(simpy.Environment(), graph)
    total = 0.0
    distance = 1
    while distance < n:
        routes = [net.route(r, r ^ distance) for r in range(n)]
        load = {}
        for route in routes:
            for link in route.links:
                load[link] = load.get(link, 0) + 1
        total += max(route.latency + size * max(load[link] for link in route.links) / B for route in routes)
        distance *= 2
    return total


@pytest.mark.parametrize("n", [4, 8])
def test_recursive_doubling_on_a_ring_pays_for_its_shared_links(n):
    """On a ring network the far partners' flows share links: slower than direct links by exactly
    what the link loads predict; on direct links it is lg n·(α + P/B)."""
    p = 250_000
    direct = _time("recursive_doubling", "fully_connected", n, p)
    on_ring = _time("recursive_doubling", "ring", n, p)
    assert direct == pytest.approx((n.bit_length() - 1) * (ALPHA + p * W / B), rel=1e-9)
    predicted = _recursive_doubling_rounds_on(topology.build("ring", n, B, ALPHA), n, p * W)
    assert on_ring == pytest.approx(predicted, rel=1e-9)
    assert on_ring > direct * 1.2


@pytest.mark.parametrize("nics", [1, 4])
def test_hierarchical_ring_beats_a_flat_ring_when_nics_are_slow(nics):
    """2 nodes × 4 GPUs, intra-node links 10× faster than the NICs. Flat ring: 14 steps of P/8 each
    crossing a NIC (4 hops). Hierarchical: 6 intra steps of P/4 on fast links, then 2 inter steps of
    P/8 per GPU, the node's 4 GPUs sharing its NICs (4/nics flows per NIC)."""
    p, n = 4_000_000, 8
    size = p * W
    options = {"nodes": 2, "gpus_per_node": 4, "intra_bandwidth": 10 * B, "nic_bandwidth": B, "nics_per_node": nics}
    flat = _time("ring_allreduce", "hierarchical", n, p, bandwidth=10 * B, **options)
    hierarchical = _time("hierarchical_ring", "hierarchical", n, p, bandwidth=10 * B, **options)
    assert flat == pytest.approx(14 * (4 * ALPHA + size / 8 / B), rel=1e-9)
    per_nic = 4 // nics
    assert hierarchical == pytest.approx(6 * (ALPHA + size / 4 / (10 * B)) + 2 * (4 * ALPHA + per_nic * size / 8 / B), rel=1e-9)
    assert hierarchical < flat
