"""Simulated time against the topology-aware closed forms, and the analytic twin's counts."""

import pytest

from commsim import topology
from commsim.collectives import analytic, get
from commsim.simulate import make_buffers, message_histogram, run_collective

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
