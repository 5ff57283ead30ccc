"""Hierarchical ring, sharded parameter server and the primitives: exact results, counts and times."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives import REGISTRY, get, reference_results
from commsim.collectives.cost import LinkCost
from commsim.collectives.textbook.hierarchical import (
    default_gpus_per_node,
    hierarchical_ring_cost,
)
from commsim.collectives.textbook.primitives import reduce_time
from commsim.engines.analytic import expected
from commsim.engines.message import make_buffers, message_histogram, run_collective
from commsim.network import topology

B, ALPHA, GAMMA, W = 12.5e9, 5e-6, 2.5e-10, 4
PRIMITIVES = {"reduce_scatter": "reduce_scatter", "all_gather": "all_gather", "broadcast": "broadcast", "reduce": "reduce"}
REPLICATED = ("allreduce", "all_gather", "broadcast")
# (algorithm, servers, gpus_per_node) — gpus_per_node "all" means every divisor of n in turn
CASES = [
    *[(name, 0, None) for name in PRIMITIVES],
    ("hierarchical_ring", 0, None),
    ("hierarchical_ring", 0, "all"),
    *[("sharded_parameter_server", k, None) for k in (1, 2, 3)],
]
CASE_IDS = [f"{name}-k{k}-g{g}" for name, k, g in CASES]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def configurations(n: int, servers: int, gpus):
    """The (servers, gpus_per_node) settings one case stands for at n workers."""
    return [(servers, g) for g in (divisors(n) if gpus == "all" else [gpus])]


def graph_for(n: int, servers: int = 0, gpus: int | None = None):
    graph = topology.build("fully_connected", n, B, ALPHA, servers=servers)
    if gpus is not None:
        graph.graph["gpus_per_node"] = gpus
    return graph


def integer_buffers(n: int, p: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, n, p])
    return [rng.integers(-1000, 1000, p).astype(np.float64) for _ in range(n)]


def assert_exact(name: str, buffers, results):
    """Every specified part of every result equals the float64 reference bit for bit."""
    for rank, (result, reference) in enumerate(zip(results, reference_results(get(name).kind, buffers))):
        if reference is not None:
            part, value = reference
            np.testing.assert_array_equal(result[part], value, err_msg=f"{name}: rank {rank}")


def assert_matches_cost(name: str, n: int, p: int, gamma: float, servers: int, gpus):
    """Simulated histogram equals the cost's; simulated makespan equals its time to 1e-9."""
    run = run_collective(name, graph_for(n, servers, gpus), make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
    exp = expected(name, "fully_connected", n, p, W, ALPHA, B, gamma=gamma, servers=max(servers, 1), gpus_per_node=gpus)
    assert message_histogram(run.network.log) == exp.message_bytes
    assert len(run.network.log) == exp.messages
    assert exp.time_relation == "="
    assert run.makespan_s == pytest.approx(exp.makespan_s, rel=1e-9, abs=0)
    return run


def test_the_new_algorithms_are_registered_with_their_kinds():
    """Each new algorithm is registered under its name, with its kind and a cost; sharded PS has a server."""
    kinds = {**PRIMITIVES, "hierarchical_ring": "allreduce", "sharded_parameter_server": "allreduce"}
    for name, kind in kinds.items():
        assert name in REGISTRY
        assert get(name).kind == kind
        assert get(name).cost is not None
    assert get("sharded_parameter_server").server is not None
    assert all(get(name).server is None for name in [*PRIMITIVES, "hierarchical_ring"])


@pytest.mark.parametrize(("name", "servers", "gpus"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("n", range(1, 18))
def test_results_are_exact(name, servers, gpus, n):
    """On integer-valued float64 data every rank's specified result equals the reference bit for bit."""
    for k, g in configurations(n, servers, gpus):
        for p in (1001, 5):  # p = 5 < n gives empty chunks
            buffers = integer_buffers(n, p)
            run = run_collective(name, graph_for(n, k, g), buffers)
            assert_exact(name, buffers, run.results)


@pytest.mark.parametrize(("name", "servers", "gpus"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("n", [2, 3, 6, 12, 16])
def test_replicas_are_bit_identical_and_inputs_untouched(name, servers, gpus, n):
    """Kinds that leave the same on every rank do so bitwise (even with rounding); inputs stay as they were."""
    for k, g in configurations(n, servers, gpus):
        buffers = make_buffers(n, 1003, "float32", "data", 7)
        before = [buffer.copy() for buffer in buffers]
        run = run_collective(name, graph_for(n, k, g), buffers)
        if get(name).kind in REPLICATED:
            for result in run.results[1:]:
                np.testing.assert_array_equal(result, run.results[0])
        for buffer, original, result in zip(buffers, before, run.results):
            np.testing.assert_array_equal(buffer, original)
            assert result is not buffer


@pytest.mark.parametrize(("name", "servers", "gpus"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("n", range(2, 18))
@pytest.mark.parametrize("p", [1, 1000, 1_000_003])
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_histogram_and_makespan_equal_the_cost(name, servers, gpus, n, p, gamma):
    """On the contention-free fully connected network the simulation equals the closed form exactly."""
    for k, g in configurations(n, servers, gpus):
        assert_matches_cost(name, n, p, gamma, k, g)


def textbook(name: str, n: int, p: int, servers: int, g: int) -> tuple[int, int]:
    """(messages, total bytes) written out independently: rings n(n−1) chunks, trees n−1 buffers,
    sharded PS 2nk chunks, hierarchical ring 2n(g−1) + 2n(N−1) pieces."""
    size = p * W
    if name in ("reduce_scatter", "all_gather"):
        return n * (n - 1), (n - 1) * size
    if name in ("broadcast", "reduce"):
        return n - 1, (n - 1) * size
    if name == "sharded_parameter_server":
        return 2 * n * servers, 2 * n * size
    nodes = n // g
    return 2 * n * (g - 1) + 2 * n * (nodes - 1), 2 * (g - 1) * nodes * size + 2 * (nodes - 1) * size


@pytest.mark.parametrize(("name", "servers", "gpus"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("n", [2, 3, 4, 7, 8, 12, 16, 17])
@pytest.mark.parametrize("p", [1, 1000])
def test_message_counts_match_the_textbook(name, servers, gpus, n, p):
    """Messages and bytes equal the textbook counts (including zero-byte chunks when p < n)."""
    for k, g in configurations(n, servers, gpus):
        run = run_collective(name, graph_for(n, k, g), make_buffers(n, p, "float32", "size-only", 0))
        messages, total = textbook(name, n, p, k, g if g is not None else default_gpus_per_node(n))
        assert len(run.network.log) == messages
        assert sum(run.network.log.nbytes) == total


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_power_of_two_times_are_the_textbook_ones(n):
    """With n | p and n = 2^k: rings (n−1)(α + Pβ/n [+ Pγ/n]), trees lg n(α + Pβ [+ Pγ])."""
    p, gamma = 4096, GAMMA
    size, lg = p * W, n.bit_length() - 1
    textbook_times = {
        "reduce_scatter": (n - 1) * (ALPHA + size / n / B + size / n * gamma),
        "all_gather": (n - 1) * (ALPHA + size / n / B),
        "broadcast": lg * (ALPHA + size / B),
        "reduce": lg * (ALPHA + size / B + size * gamma),
    }
    for name, time in textbook_times.items():
        run = run_collective(name, graph_for(n), make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
        assert run.makespan_s == pytest.approx(time, rel=1e-9)


def test_binomial_reduce_overlaps_arrivals_when_n_is_not_a_power_of_two():
    """n = 5, γ = 0: rank 4's sum arrives while rank 2's is on its way, so reduce takes 2(α + Pβ), not 3."""
    p = 1000
    run = run_collective("reduce", graph_for(5), make_buffers(5, p, "float32", "size-only", 0))
    assert run.makespan_s == pytest.approx(2 * (ALPHA + p * W / B), rel=1e-9)
    assert reduce_time(5, p * W, LinkCost(ALPHA, 1 / B)) == pytest.approx(run.makespan_s, rel=1e-9)


@pytest.mark.parametrize(("n", "g"), [(1, 1), (2, 1), (4, 2), (6, 2), (9, 3), (12, 3), (13, 1), (16, 4), (17, 1)])
def test_default_gpus_per_node_is_the_largest_divisor_up_to_the_square_root(n, g):
    """Without gpus_per_node the node size is the largest divisor of n that is ≤ √n."""
    assert default_gpus_per_node(n) == g


@pytest.mark.parametrize("n", [2, 3, 5, 7, 11, 13, 17])
def test_hierarchical_ring_on_a_prime_is_the_flat_ring(n):
    """g = 1 for prime n: the same messages and time as ring_allreduce."""
    buffers = make_buffers(n, 1000, "float32", "size-only", 0)
    flat = run_collective("ring_allreduce", graph_for(n), buffers, gamma=GAMMA)
    hier = run_collective("hierarchical_ring", graph_for(n), buffers, gamma=GAMMA)
    assert message_histogram(hier.network.log) == message_histogram(flat.network.log)
    assert hier.makespan_s == pytest.approx(flat.makespan_s, rel=1e-12)


@pytest.mark.parametrize(("n", "g"), [(6, 2), (6, 3), (12, 4), (16, 4)])
def test_hierarchical_ring_talks_only_to_node_and_ring_neighbours(n, g):
    """Every message goes to the next local rank of the same node or to the same local rank of the next node."""
    run = run_collective("hierarchical_ring", graph_for(n, gpus=g), make_buffers(n, 100, "float32", "size-only", 0))
    log = run.network.log
    for i in range(len(log)):
        src, dst = log.endpoints(i)
        intra = dst // g == src // g and dst % g == (src % g + 1) % g
        inter = dst % g == src % g and dst // g == (src // g + 1) % (n // g)
        assert intra or inter


@pytest.mark.parametrize(("n", "g"), [(6, 4), (7, 2), (8, 0), (4, 5)])
def test_hierarchical_ring_refuses_nodes_that_do_not_divide_the_workers(n, g):
    """A gpus_per_node that does not divide n is a ValueError, in the simulation and in the cost."""
    with pytest.raises(ValueError, match="gpus_per_node"):
        run_collective("hierarchical_ring", graph_for(n, gpus=g), make_buffers(n, 10, "float32", "size-only", 0))
    with pytest.raises(ValueError, match="gpus_per_node"):
        hierarchical_ring_cost(n, 10, W, LinkCost(ALPHA, 1 / B, gpus_per_node=g))


@pytest.mark.parametrize("n", [1, 2, 5, 9])
@pytest.mark.parametrize("p", [1, 1000])
def test_sharded_ps_with_one_server_is_the_parameter_server(n, p):
    """k = 1: the same messages, time and results as the parameter server."""
    buffers = integer_buffers(n, p)
    one = run_collective("sharded_parameter_server", graph_for(n, 1), buffers, gamma=GAMMA)
    ps = run_collective("parameter_server", graph_for(n, 1), buffers, gamma=GAMMA)
    assert message_histogram(one.network.log) == message_histogram(ps.network.log)
    assert one.makespan_s == pytest.approx(ps.makespan_s, rel=1e-12)
    for a, b in zip(one.results, ps.results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_sharded_ps_server_s_carries_shard_s(k):
    """Server s receives and sends exactly chunk s of chunk_bounds(p, k), to and from every worker."""
    n, p = 4, 1001
    run = run_collective("sharded_parameter_server", graph_for(n, k), make_buffers(n, p, "float32", "size-only", 0))
    names = topology.server_names(k)
    bounds = [(i * p) // k for i in range(k + 1)]
    for s, name in enumerate(names):
        route_sizes = [
            run.network.log.nbytes[i] for i in range(len(run.network.log)) if name in run.network.log.endpoints(i)
        ]
        assert route_sizes == [(bounds[s + 1] - bounds[s]) * W] * (2 * n)


@pytest.mark.parametrize(("name", "servers", "gpus"), CASES, ids=CASE_IDS)
def test_one_worker_sends_nothing(name, servers, gpus):
    """n = 1: no message, zero time, and the result is a copy of the worker's own buffer."""
    buffers = integer_buffers(1, 50)
    run = run_collective(name, graph_for(1, servers, 1 if gpus == "all" else gpus), buffers)
    assert len(run.network.log) == 0 and run.makespan_s == 0.0
    np.testing.assert_array_equal(run.results[0], buffers[0])
    assert run.results[0] is not buffers[0]


@settings(max_examples=60, deadline=None)
@given(
    case=st.sampled_from(CASES),
    n=st.integers(1, 12),
    p=st.integers(0, 64),
    gamma=st.sampled_from([0.0, GAMMA]),
    data=st.data(),
)
def test_any_n_and_p_give_exact_results_and_the_closed_form(case, n, p, gamma, data):
    """For any n ≥ 1 and p ≥ 0: exact results on integer data, and counts and time equal the cost."""
    name, servers, gpus = case
    if gpus == "all":
        gpus = data.draw(st.sampled_from(divisors(n)))
    buffers = integer_buffers(n, p, seed=3)
    run = run_collective(name, graph_for(n, servers, gpus), buffers, gamma=gamma)
    assert_exact(name, buffers, run.results)
    if n > 1:
        assert_matches_cost(name, n, p, gamma, servers, gpus)
