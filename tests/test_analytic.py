"""Simulated time against the topology-aware closed forms, and the analytic twin's counts."""

import pytest

from commsim.collectives import get
from commsim.engines import analytic
from commsim.engines.analytic import closed_form
from commsim.engines.message import make_buffers, message_histogram, run_collective
from commsim.network import topology

B, ALPHA, W = 12.5e9, 5e-6, 4


def issue_formula(algorithm: str, kind: str, n: int, p: int) -> float:
    """The times stated in the first issue, written out here independently of commsim."""
    size, chunk = p * W, -(-p // n) * W  # largest chunk per step when n does not divide p
    return {
        ("ring_allreduce", "star"): 2 * (n - 1) * (2 * ALPHA + chunk / B),
        ("parameter_server", "star"): 2 * (2 * ALPHA + n * size / B),
        ("all_to_all", "star"): 2 * ALPHA + (n - 1) * size / B,
        ("ring_allreduce", "ring"): 2 * (n - 1) * (ALPHA + chunk / B),
        ("ring_allreduce", "fully_connected"): 2 * (n - 1) * (ALPHA + chunk / B),
        ("all_to_all", "fully_connected"): ALPHA + size / B,
        ("parameter_server", "fully_connected"): 2 * (ALPHA + size / B),
    }[algorithm, kind]


CASES = [
    ("ring_allreduce", "star"),
    ("parameter_server", "star"),
    ("all_to_all", "star"),
    ("ring_allreduce", "ring"),
    ("ring_allreduce", "fully_connected"),
    ("all_to_all", "fully_connected"),
    ("parameter_server", "fully_connected"),
]


def _simulate(algorithm, kind, n, p, graph=None):
    graph = graph or topology.build(kind, n, B, ALPHA, servers=get(algorithm).server is not None)
    return run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0))


@pytest.mark.parametrize(("algorithm", "kind"), CASES)
@pytest.mark.parametrize("n", [2, 3, 5, 8, 16])
@pytest.mark.parametrize("p", [1_000_000, 1_000_003])
def test_simulated_time_equals_the_closed_form(algorithm, kind, n, p):
    """Makespan equals the topology-aware formula to a relative 1e-9, for even and uneven chunks."""
    run = _simulate(algorithm, kind, n, p)
    assert run.makespan_s == pytest.approx(issue_formula(algorithm, kind, n, p), rel=1e-9)
    twin = analytic.expected(algorithm, kind, n, p, W, ALPHA, B)
    assert twin.makespan_s == pytest.approx(issue_formula(algorithm, kind, n, p), rel=1e-12)
    assert twin.time_relation == "="


@pytest.mark.parametrize(("algorithm", "kind"), CASES + [("all_to_all", "ring")])
@pytest.mark.parametrize("n", [1, 2, 7])
def test_analytic_counts_equal_the_simulated_ones(algorithm, kind, n):
    """The twin's message histogram and totals are the simulation's."""
    run = _simulate(algorithm, kind, n, 1001)
    twin = analytic.expected(algorithm, kind, n, 1001, W, ALPHA, B)
    assert twin.message_bytes == message_histogram(run.network.log)
    assert (twin.messages, twin.bytes) == (len(run.network.log), sum(run.network.log.nbytes))


@pytest.mark.parametrize("n", [2, 3, 4, 6, 9])
def test_all_to_all_on_a_ring_is_above_its_lower_bound(n):
    """Shared multi-hop links make all-to-all on a ring slower than the bandwidth bound, never faster."""
    run = _simulate("all_to_all", "ring", n, 100_000)
    twin = analytic.expected("all_to_all", "ring", n, 100_000, W, ALPHA, B)
    assert twin.time_relation == "≥"
    assert run.makespan_s >= twin.makespan_s * (1 - 1e-12)
    if n == 2:  # one link each way: the bound is exact
        assert run.makespan_s == pytest.approx(ALPHA + 100_000 * W / B, rel=1e-12)


def test_one_worker_takes_no_time():
    """n = 1: nothing is sent, and the closed form is zero."""
    for algorithm in ("all_to_all", "parameter_server", "ring_allreduce"):
        assert _simulate(algorithm, "star", 1, 10).makespan_s == 0.0
        assert analytic.expected(algorithm, "star", 1, 10, W, ALPHA, B).makespan_s == 0.0


def test_links_that_differ_make_the_time_a_lower_bound():
    """With links that differ the twin gives exact counts and a lower bound from the fastest link."""
    twin = analytic.expected("ring_allreduce", "star", 4, 100, W, ALPHA, B, uniform_links=False)
    assert twin.messages == 24 and twin.time_relation == "≥"
    assert twin.makespan_s == pytest.approx(2 * 3 * (2 * ALPHA + 25 * W / B), rel=1e-12)


def test_a_slow_link_slows_the_ring_by_what_it_costs():
    """One uplink at B/2 stretches every ring step to that link's chunk time."""
    n, p = 4, 1_000_000
    graph = topology.build("star", n, B, ALPHA, overrides=[{"between": [2, "switch"], "bandwidth": B / 2}])
    run = _simulate("ring_allreduce", "star", n, p, graph=graph)
    assert run.makespan_s == pytest.approx(2 * (n - 1) * (2 * ALPHA + (p // n) * W / (B / 2)), rel=1e-9)


# -- each algorithm's cost, by hand ------------------------------------------------------------

GAMMA = 3e-10
LINK = analytic.LinkCost(ALPHA, 1 / B, GAMMA)


def test_ring_cost_by_hand():
    """n = 3, p = 1000: chunks 333, 333, 334 elements, each sent 2(n−1) = 4 times; every step lasts as
    long as the largest chunk (1336 B), and n − 1 = 2 steps combine one."""
    cost = get("ring_allreduce").cost(3, 1000, W, LINK)
    assert cost.message_bytes == {1332: 8, 1336: 4}
    assert cost.time == pytest.approx(4 * (ALPHA + 1336 / B) + 2 * 1336 * GAMMA, rel=1e-15)


def test_parameter_server_cost_by_hand():
    """n = 5: 10 messages of P = 4000 B; one push and one pull in sequence; the server adds 4 buffers."""
    cost = get("parameter_server").cost(5, 1000, W, LINK)
    assert cost.message_bytes == {4000: 10}
    assert cost.time == pytest.approx(2 * (ALPHA + 4000 / B) + 4 * 4000 * GAMMA, rel=1e-15)


def test_all_to_all_cost_by_hand():
    """n = 5: 20 messages of P = 4000 B, all in parallel on their own links; each worker adds 4 buffers."""
    cost = get("all_to_all").cost(5, 1000, W, LINK)
    assert cost.message_bytes == {4000: 20}
    assert cost.time == pytest.approx(ALPHA + 4000 / B + 4 * 4000 * GAMMA, rel=1e-15)


# -- where the contention-free form is exact, and where it is only a bound ---------------------

EXACT_PAIRS = [(kind, name, False) for kind, names in sorted(analytic.EXACT_ON.items()) for name in sorted(names)]
EXACT_PAIRS += [(kind, name, True) for kind, names in sorted(analytic.EXACT_ON_POWERS_OF_TWO.items()) for name in sorted(names)]


def _servers(name):
    spec = get(name)
    return 0 if spec.server is None else 2 if name == "sharded_parameter_server" else 1


@pytest.mark.parametrize(("kind", "algorithm", "powers_of_two"), EXACT_PAIRS)
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_declared_exact_pairs_match_the_simulation(kind, algorithm, powers_of_two, gamma):
    """Every (topology, algorithm) pair declared contention-free equals its twin to 1e-9 over n and p."""
    two = powers_of_two or kind == "hypercube" or get(algorithm).power_of_two
    workers = [2, 4, 8, 16] if two else [2, 3, 5, 8, 13]
    for n in workers:
        for p in (1, 1000, 1_000_003):
            graph = topology.build(kind, n, B, ALPHA, servers=_servers(algorithm))
            run = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
            twin = closed_form(algorithm, graph, n, p, W, gamma)
            assert twin.time_relation == "="
            assert run.makespan_s == pytest.approx(twin.makespan_s, rel=1e-9), (n, p)


CONTENDED = [
    ("star", "recursive_doubling", 6),  # the two extra ranks fold onto partners that are busy
    ("star", "rabenseifner", 6),
    ("star", "binomial_tree", 6),
    ("star", "double_binary_tree", 8),
    ("ring", "recursive_doubling", 8),  # partners 2 and 4 apart: multi-hop routes that overlap
    ("ring", "binomial_tree", 8),
    ("tree", "ring_allreduce", 9),  # ring neighbours in different leaf switches share the uplinks
    ("torus", "ring_allreduce", 8),
    ("hypercube", "ring_allreduce", 8),
    ("hypercube", "double_binary_tree", 8),
    ("fat_tree", "ring_allreduce", 8),
    ("hierarchical", "ring_allreduce", 8),
]


@pytest.mark.parametrize(("kind", "algorithm", "n"), CONTENDED)
def test_contended_pairs_are_bounds_and_strictly_below_the_simulation(kind, algorithm, n):
    """Outside the exact pairs the twin is a lower bound ("≥"), and here the simulation is strictly slower."""
    options = {"gpus_per_node": 4, "nic_bandwidth": B / 8} if kind == "hierarchical" else {}
    graph = topology.build(kind, n, B, ALPHA, servers=_servers(algorithm), **options)
    run = run_collective(algorithm, graph, make_buffers(n, 1_000_000, "float32", "size-only", 0))
    twin = closed_form(algorithm, graph, n, 1_000_000, W)
    assert twin.time_relation == "≥"
    assert run.makespan_s > twin.makespan_s * (1 + 1e-6)


@pytest.mark.parametrize(("kind", "hops"), [("fat_tree", 2), ("tree", 2), ("hypercube", 1), ("torus", 1)])
def test_bounds_charge_the_fewest_hops_of_the_topology(kind, hops):
    """A lower bound sends every message over the topology's fewest worker-to-worker links, each α."""
    n, p = 8, 1001
    graph = topology.build(kind, n, B, ALPHA)
    twin = closed_form("ring_allreduce", graph, n, p, W)
    chunk = -(-p // n) * W
    assert twin.makespan_s == pytest.approx(2 * (n - 1) * (hops * ALPHA + chunk / B), rel=1e-12)
    analytic_twin = analytic.expected("ring_allreduce", kind, n, p, W, ALPHA, B, min_hops=hops)
    assert analytic_twin.makespan_s == pytest.approx(twin.makespan_s, rel=1e-15)


def test_all_to_all_bound_on_a_ring_of_two_is_one_link_each_way():
    """Two workers on a ring share one edge: the byte·hops bound is α + P/B, and exact."""
    twin = analytic.expected("all_to_all", "ring", 2, 100_000, W, ALPHA, B)
    assert twin.makespan_s == pytest.approx(ALPHA + 100_000 * W / B, rel=1e-15)
    assert twin.makespan_s == pytest.approx(_simulate("all_to_all", "ring", 2, 100_000).makespan_s, rel=1e-12)


def test_a_bound_is_raised_to_the_busiest_links_load():
    """Ring all-reduce on a star with worker 2's link at B/2: links differ, so the twin only bounds the time
    from the fastest link; the busiest link (2's uplink: 6 chunks of P/4 at B/2, plus a route's 2α) bounds it
    higher, and the simulation (6 steps of 2α + (P/4)/(B/2)) is above both."""
    from commsim.engines.analytic import closed_form
    from commsim.engines.message import with_busiest_link_bound

    n, p = 4, 1_000_000
    chunk = p // n * W
    graph = topology.build("star", n, B, ALPHA, overrides=[{"between": [2, "switch"], "bandwidth": B / 2}])
    run = _simulate("ring_allreduce", "star", n, p, graph=graph)
    twin = closed_form("ring_allreduce", graph, n, p, W)
    assert twin.time_relation == "≥" and twin.makespan_s == pytest.approx(6 * (2 * ALPHA + chunk / B), rel=1e-12)
    raised = with_busiest_link_bound(twin, run.network)
    assert raised.time_relation == "≥" and raised.makespan_s == pytest.approx(6 * chunk / (B / 2) + 2 * ALPHA, rel=1e-12)
    assert run.makespan_s == pytest.approx(6 * (2 * ALPHA + chunk / (B / 2)), rel=1e-12) and run.makespan_s > raised.makespan_s


@pytest.mark.parametrize(("algorithm", "n", "servers"), [("parameter_server", 8, 1), ("sharded_parameter_server", 8, 2),
                                                         ("sharded_parameter_server", 2, 4)])
def test_parameter_servers_are_bounded_by_their_server_link(algorithm, n, servers):
    """A server's one link carries n pushes of its shard C = ⌈p/k⌉w, then n pulls: T ≥ 2(hα + nC/B); on a
    star (h = 2) exactly that when n ≥ k; with n < k the workers' links are slower still."""
    p = 1_000_003
    k = servers if algorithm == "sharded_parameter_server" else 1
    shard = -(-p // k) * W
    run = run_collective(algorithm, topology.build("star", n, B, ALPHA, servers=servers),
                         make_buffers(n, p, "float32", "size-only", 0))
    twin = analytic.expected(algorithm, "star", n, p, W, ALPHA, B, servers=servers)
    assert twin.makespan_s == pytest.approx(2 * (2 * ALPHA + n * shard / B), rel=1e-12)
    if n >= k:
        assert twin.time_relation == "=" and run.makespan_s == pytest.approx(twin.makespan_s, rel=1e-9)
    else:
        assert twin.time_relation == "≥" and run.makespan_s > twin.makespan_s * (1 + 1e-6)
    tree = analytic.expected(algorithm, "tree", n, p, W, ALPHA, B, servers=servers, min_hops=2)
    assert tree.time_relation == "≥" and tree.makespan_s == twin.makespan_s


@pytest.mark.parametrize("algorithm", ["rabenseifner", "hierarchical_ring"])
@pytest.mark.parametrize("n", [4, 8, 16])
def test_staggered_forms_need_latency_to_be_exact(algorithm, n):
    """On a star with α = 0 and p not a multiple of n, ranks with smaller blocks drift ahead and the run
    is longer than every-step-at-the-largest-block: the form is then a "≥" bound (and holds as one);
    from hα ≥ n·w·β on it is exact to 1e-9 again."""
    from commsim.network import topology

    p = 1_000_003
    threshold = n * 4 / 12.5e9 / 2  # per link: a star's routes have 2 hops
    for alpha, relation in ((0.0, "≥"), (threshold * 0.5, "≥"), (threshold * 1.01, "="), (1e-6, "=")):
        graph = topology.build("star", n, 12.5e9, alpha)
        run = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
        twin = closed_form(algorithm, graph, n, p, 4)
        assert twin.time_relation == relation
        if relation == "=":
            assert run.makespan_s == pytest.approx(twin.makespan_s, rel=1e-9)
        else:  # a bound that holds; at α = 0 and n ≥ 8 it is not reached (at n = 4 the drift costs nothing)
            assert run.makespan_s >= twin.makespan_s * (1 - 1e-12)
            assert n == 4 or alpha > 0 or run.makespan_s > twin.makespan_s * (1 + 1e-9)
